/* SPDX-License-Identifier: Apache-2.0 */
/* User namespaces: the functional probe first, then the sysctls and the
 * AppArmor switch that explain a failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"
#include "doctor/probe.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

const char *doctor_userns_cause(int err)
{
	switch (err) {
	case 0:
		return "user namespaces work for this user";
	case EPERM:
	case EACCES:
		return "forbidden: check kernel.unprivileged_userns_clone, the AppArmor restriction below, the "
		       "seccomp/AppArmor profile of an outer container, or a chroot around capsa";
	case ENOSPC:
		return "namespace limit reached: raise user.max_user_namespaces / user.max_mnt_namespaces "
		       "(sysctl -w, persist in /etc/sysctl.d/)";
	case EINVAL:
		return "the kernel was built without user namespaces (CONFIG_USER_NS): a kernel with it is needed";
	case EUSERS:
		return "too deeply nested user namespaces (32 levels): run capsa from a shallower namespace";
	case ENOMEM:
		return "out of memory or PID limit: try again, then check the cgroup's memory and pids limits";
	default:
		return "unexpected error: report it with the output of capsa doctor";
	}
}

const char *doctor_idmap_cause(int err)
{
	if (err == EPERM || err == EACCES)
		return "the new namespace has no capabilities: most likely AppArmor's "
		       "kernel.apparmor_restrict_unprivileged_userns=1 (install a profile for capsa or set it to 0)";
	return "unexpected error writing /proc/self/uid_map: report it with the output of capsa doctor";
}

static void add_probe(struct doctor_report *r, const struct doctor_probe *p)
{
	if (p->userns != 0)
		doctor_add(r, "userns", DOCTOR_FAIL, doctor_userns_cause(p->userns),
			   "User and mount namespaces for this user: unshare failed: %s", strerror(p->userns));
	else if (p->idmap != 0)
		doctor_add(r, "userns", DOCTOR_FAIL, doctor_idmap_cause(p->idmap),
			   "User and mount namespaces for this user: mapping the ids failed: %s", strerror(p->idmap));
	else if (p->tmpfs != 0)
		doctor_add(r, "userns", DOCTOR_FAIL,
			   "an LSM or an outer container forbids mounts in user namespaces: allow them",
			   "User and mount namespaces for this user: mounting a tmpfs failed: %s", strerror(p->tmpfs));
	else
		doctor_add(r, "userns", DOCTOR_OK, "containers can start",
			   "User and mount namespaces for this user: unshare, id maps and mounts work");
}

static void add_mounts(struct doctor_report *r, const struct doctor_probe *p)
{
	if (p->overlay == ECANCELED)
		return;
	if (p->overlay == 0)
		doctor_add(r, "overlayfs", DOCTOR_OK, "images start in place (squashfuse + overlay)",
			   "overlayfs mounts in a user namespace");
	else
		doctor_add(r, "overlayfs", DOCTOR_WARN,
			   "needs Linux >= 5.11 with CONFIG_OVERLAY_FS: until then use 'capsa create' and start by name",
			   "overlayfs in a user namespace failed: %s", strerror(p->overlay));
	if (p->procfs == 0)
		doctor_add(r, "procfs", DOCTOR_OK, "an image's fstab or a hook may mount its own proc",
			   "a new procfs mounts in a user and PID namespace");
	else
		doctor_add(r, "procfs", DOCTOR_WARN,
			   "an outer container masks /proc (Kubernetes: securityContext.procMount: Unmasked): capsa's "
			   "default bind of the host /proc works, a proc mount in an image's fstab or hook fails",
			   "a new procfs in a user namespace failed: %s", strerror(p->procfs));
}

/* The value of a sysctl under proc_root, or -1 (errno ENOENT: missing). */
static long read_sysctl(const struct doctor_env *env, const char *name)
{
	_cleanup_free_ char *rel = NULL, *text = NULL;
	char *end;
	long v;

	rel = xasprintf("sys/%s", name);
	for (char *c = rel + 4; *c; c++)
		*c = *c == '.' ? '/' : *c;
	if (doctor_read(env->proc_root, rel, 64, &text) < 0)
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || v < 0) {
		errno = EINVAL;
		return -1;
	}
	return v;
}

/* A sysctl that must be > 0 (or is absent on this kernel). */
static void check_positive(const struct doctor_env *env, struct doctor_report *r, const char *name,
			   const char *fix)
{
	long v = read_sysctl(env, name);

	if (v < 0 && errno == ENOENT)
		doctor_add(r, name, DOCTOR_OK, "this kernel has no such switch", "%s: not present", name);
	else if (v < 0)
		doctor_add(r, name, DOCTOR_WARN, "check /proc/sys by hand", "%s: unreadable: %s", name, strerror(errno));
	else if (v == 0)
		doctor_add(r, name, DOCTOR_FAIL, fix, "%s = 0: unprivileged user namespaces are disabled", name);
	else
		doctor_add(r, name, DOCTOR_OK, "user namespaces allowed", "%s = %ld", name, v);
}

/* Ubuntu >= 23.10 restricts unprivileged user namespaces to profiles that
 * grant `userns`; if the probe still worked, a profile covers capsa. */
static void check_apparmor(const struct doctor_env *env, struct doctor_report *r, const char *name, bool works)
{
	long v = read_sysctl(env, name);
	char fix[256];

	snprintf(fix, sizeof(fix),
		 "install an AppArmor profile granting 'userns,' to capsa (/etc/apparmor.d/capsa), or sysctl -w %s=0",
		 name);
	if (v < 0)
		doctor_add(r, name, DOCTOR_OK, "no AppArmor user-namespace restriction on this kernel",
			   "%s: not present", name);
	else if (v == 0)
		doctor_add(r, name, DOCTOR_OK, "AppArmor does not restrict user namespaces", "%s = 0", name);
	else
		doctor_add(r, name, works ? DOCTOR_WARN : DOCTOR_FAIL, fix,
			   "%s = %ld: AppArmor restricts unprivileged user namespaces%s", name, v,
			   works ? " (the probe still worked: a profile allows it)" : "");
}

static void check_bpf(const struct doctor_env *env, struct doctor_report *r)
{
	long v = read_sysctl(env, "kernel.unprivileged_bpf_disabled");

	if (v >= 0)
		doctor_add(r, "kernel.unprivileged_bpf_disabled", DOCTOR_OK,
			   "irrelevant for GPU access: capsa loads no BPF and never edits device cgroups",
			   "kernel.unprivileged_bpf_disabled = %ld", v);
}

void doctor_check_userns(const struct doctor_env *env, struct doctor_report *r)
{
	struct doctor_probe p;
	bool works;

	if (doctor_probe_run(&p) < 0) {
		doctor_add(r, "userns", DOCTOR_FAIL,
			   "a seccomp filter of an outer container may kill unshare: allow it (docker: --security-opt "
			   "seccomp=unconfined); else check the pids limit of this cgroup",
			   "User and mount namespaces for this user: the probe child did not report");
		p.userns = EIO;
	} else {
		add_probe(r, &p);
		add_mounts(r, &p);
	}
	works = p.userns == 0 && p.idmap == 0;
	check_positive(env, r, "user.max_user_namespaces",
		       "sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)");
	check_positive(env, r, "user.max_mnt_namespaces",
		       "sysctl -w user.max_mnt_namespaces=15000 (persist it in /etc/sysctl.d/)");
	check_positive(env, r, "kernel.unprivileged_userns_clone",
		       "sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)");
	check_apparmor(env, r, "kernel.apparmor_restrict_unprivileged_userns", works);
	check_apparmor(env, r, "kernel.apparmor_restrict_unprivileged_unconfined", works);
	check_bpf(env, r);
}
