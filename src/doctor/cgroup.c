/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup version and the device policy GPUs will meet. Information only:
 * capsa never edits device rules or BPF programs (gpu.md §3.6), so the
 * policy is whoever owns the cgroup's (Slurm, systemd, the outer runtime). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

enum cg_version { CG_UNKNOWN, CG_V1, CG_HYBRID, CG_V2 };

static enum cg_version cg_detect(const struct doctor_env *env)
{
	_cleanup_free_ char *v2 = doctor_path(env->sys_root, "fs/cgroup/cgroup.controllers");
	_cleanup_free_ char *hy = doctor_path(env->sys_root, "fs/cgroup/unified/cgroup.controllers");
	_cleanup_free_ char *v1 = doctor_path(env->sys_root, "fs/cgroup/devices");

	if (access(v2, F_OK) == 0)
		return CG_V2;
	if (access(v1, F_OK) == 0)
		return access(hy, F_OK) == 0 ? CG_HYBRID : CG_V1;
	return CG_UNKNOWN;
}

/* This process's path in the hierarchy whose /proc/self/cgroup line has
 * controller field ctl ("" for v2's 0:: line); NULL if none. */
static char *cg_path(const struct doctor_env *env, const char *ctl)
{
	_cleanup_free_ char *text = NULL;
	size_t n = strlen(ctl);

	if (doctor_read(env->proc_root, "self/cgroup", 65536, &text) < 0)
		return NULL;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f = strchr(line, ':');

		if (f && !strncmp(f + 1, ctl, n) && f[1 + n] == ':')
			return xstrdup(f + 2 + n);
	}
	return NULL;
}

/* v1: devices.list is readable without privileges. */
static void check_v1_devices(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *path = cg_path(env, "devices"), *rel = NULL, *list = NULL;
	unsigned rules = 0;
	bool gpu = false;

	rel = xasprintf("fs/cgroup/devices/%s/devices.list", path ? path : "");
	if (path == NULL || doctor_read(env->sys_root, rel, 1u << 20, &list) < 0) {
		doctor_add(r, "device-policy", DOCTOR_OK, "capsa opens each GPU at start and names a denial",
			   "device cgroup (v1): devices.list unreadable");
		return;
	}
	if (!strncmp(list, "a *:* rwm", 9)) {
		doctor_add(r, "device-policy", DOCTOR_OK, "no device restriction: every device node's mode decides",
			   "device cgroup (v1) %s: all devices allowed (a *:* rwm)", path);
		return;
	}
	for (char *save = NULL, *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		rules++;
		gpu |= !strncmp(line, "c 195:", 6) || !strncmp(line, "c *:", 4);
	}
	doctor_add(r, "device-policy", DOCTOR_OK,
		   "capsa never edits device rules: a GPU outside them fails to open with EPERM (Slurm: request it "
		   "with --gres=gpu:N)",
		   "device cgroup (v1) %s: %u allow rules, NVIDIA GPUs (c 195:*) %s", path, rules,
		   gpu ? "among them" : "not allowed");
}

void doctor_check_cgroup(const struct doctor_env *env, struct doctor_report *r)
{
	static const char *const names[] = {"unknown", "v1", "hybrid (v1 controllers, v2 unified)", "v2"};
	enum cg_version v = cg_detect(env);
	_cleanup_free_ char *own = cg_path(env, v == CG_V2 ? "" : "devices");

	doctor_add(r, "cgroup", DOCTOR_OK, "information only", "cgroup %s, this process in %s", names[v],
		   own ? own : "(unknown)");
	if (v == CG_V2)
		doctor_add(r, "device-policy", DOCTOR_OK,
			   "capsa loads no BPF: each GPU is opened at start and a denial names the device and cgroup",
			   "device cgroup (v2): BPF programs decide, unreadable without privileges");
	else if (v != CG_UNKNOWN)
		check_v1_devices(env, r);
}
