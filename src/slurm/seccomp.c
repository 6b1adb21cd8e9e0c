/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp compatibility filter of every task that joined a container
 * (pyxis.md §10, the same rules as capsa's own seccomp_install_compat):
 * chown and set*id calls return 0 without effect, so package managers work
 * in a single-uid user namespace; setfsuid/setfsgid(-1) (a query) run.
 * Raw BPF rather than libseccomp: the plugin is loaded into srun and
 * slurmstepd and links nothing, and this fixed filter is a few lines. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "slurm/seccomp.h"

#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FILTER_ARCH AUDIT_ARCH_PPC64LE
#endif

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define FAKE(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0)
/* setfs[ug]id: faked unless the (32-bit) argument is -1. */
#define FAKE_UNLESS_QUERY(nr)                                                                                \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4),                                                      \
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),                   \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 1, 0),                                       \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int seccomp_install_tasks(void)
{
#ifdef FILTER_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LOAD_NR,
#ifdef SYS_chown
		FAKE(SYS_chown),
#endif
#ifdef SYS_lchown
		FAKE(SYS_lchown),
#endif
		FAKE(SYS_fchown),
		FAKE(SYS_fchownat),
		FAKE(SYS_setuid),
		FAKE(SYS_setgid),
		FAKE(SYS_setreuid),
		FAKE(SYS_setregid),
		FAKE(SYS_setresuid),
		FAKE(SYS_setresgid),
		FAKE(SYS_setgroups),
		FAKE_UNLESS_QUERY(SYS_setfsuid),
		LOAD_NR,
		FAKE_UNLESS_QUERY(SYS_setfsgid),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	/* The task holds CAP_SYS_ADMIN in the container's user namespace, so
	 * no_new_privs is only needed where it does not (remapped joins). */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) == 0)
			return 0;
		if (errno == EINVAL && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
			return 0;
		if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return -1;
	}
	return -1;
#else
	return 0; /* other architectures: unfiltered, as in pyxis */
#endif
}
