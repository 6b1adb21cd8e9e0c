/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/privileges.h"
#include "util/cleanup.h"
#include "util/proc.h"

int caps_drop_all(struct error *err)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return error_errno(err, "failed to drop the capability bounding set");
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return error_errno(err, "failed to drop capabilities");
	return 0;
}

int seccomp_install_compat(struct error *err)
{
	static const int faked[] = {
		SCMP_SYS(chown),    SCMP_SYS(lchown),	 SCMP_SYS(fchown),    SCMP_SYS(fchownat),
		SCMP_SYS(setuid),   SCMP_SYS(setgid),	 SCMP_SYS(setreuid),  SCMP_SYS(setregid),
		SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups),
	};
	scmp_filter_ctx sc = seccomp_init(SCMP_ACT_ALLOW);
	int r = 0;

	if (sc == NULL)
		return error_set(err, ENOMEM, "failed to initialise seccomp");
	for (size_t i = 0; i < ARRAY_SIZE(faked) && r == 0; i++)
		r = seccomp_rule_add(sc, SCMP_ACT_ERRNO(0), faked[i], 0);
	/* setfsuid(-1) is the query form and must keep working. */
	if (r == 0)
		r = seccomp_rule_add(sc, SCMP_ACT_ERRNO(0), SCMP_SYS(setfsuid), 1,
				     SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)(uint32_t)-1));
	if (r == 0)
		r = seccomp_rule_add(sc, SCMP_ACT_ERRNO(0), SCMP_SYS(setfsgid), 1,
				     SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)(uint32_t)-1));
	if (r == 0)
		r = seccomp_load(sc);
	seccomp_release(sc);
	if (r < 0)
		return error_set(err, -r, "failed to install the seccomp filter");
	return 0;
}

int container_lockdown(bool userns, bool inner_root, struct error *err)
{
	if (!inner_root && caps_drop_all(err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return error_errno(err, "failed to set no_new_privs");
	if (userns && seccomp_install_compat(err) < 0)
		return -1;
	close_fds_from(3);
	return 0;
}
