/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* One line per area, each in its own file. host: also
 * run by a bundle's -v, which knows no Slurm or capsa configuration. */
static const struct {
	void (*check)(const struct doctor_env *env, struct doctor_report *r);
	bool host;
} areas[] = {
	{doctor_check_userns, true},
	{doctor_check_kernel, true},
	{doctor_check_lsm, true},
	{doctor_check_fuse, true},
	{doctor_check_nested, true},
	{doctor_check_cgroup, true},
	{doctor_check_nvidia, true},
	{doctor_check_rdma, true},
	{doctor_check_toolkit, true},
	{doctor_check_paths, false},
	{doctor_check_cdi, false},
	{doctor_check_slurm_plugin, false},
	{doctor_check_slurm_conf, false},
	{doctor_check_slurm_job, false},
};

void doctor_add(struct doctor_report *r, const char *id, enum doctor_verdict verdict, const char *advice,
		const char *fmt, ...)
{
	struct doctor_result *res;
	va_list ap;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	res = &r->v[r->n++];
	memset(res, 0, sizeof(*res));
	snprintf(res->id, sizeof(res->id), "%s", id);
	res->verdict = verdict;
	snprintf(res->advice, sizeof(res->advice), "%s", advice);
	va_start(ap, fmt);
	vsnprintf(res->summary, sizeof(res->summary), fmt, ap);
	va_end(ap);
}

const struct doctor_result *doctor_find(const struct doctor_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->v[i].id, id))
			return &r->v[i];
	}
	return NULL;
}

void doctor_report_free(struct doctor_report *r)
{
	free(r->v);
	*r = (struct doctor_report)DOCTOR_REPORT_INIT;
}

enum doctor_verdict doctor_worst(const struct doctor_report *r)
{
	enum doctor_verdict worst = DOCTOR_OK;

	for (size_t i = 0; i < r->n; i++)
		worst = r->v[i].verdict > worst ? r->v[i].verdict : worst;
	return worst;
}

const char *doctor_verdict_name(enum doctor_verdict v)
{
	return v == DOCTOR_FAIL ? "FAIL" : v == DOCTOR_WARN ? "WARN" : "OK";
}

char *doctor_path(const char *root, const char *rel)
{
	return xasprintf("%s/%s", root, rel[0] == '/' ? rel + 1 : rel);
}

int doctor_read(const char *root, const char *rel, size_t max, char **ret)
{
	_cleanup_free_ char *path = doctor_path(root, rel);
	struct error err = ERROR_INIT;
	size_t len;

	if (read_file_at(AT_FDCWD, path, max, ret, &len, &err) < 0) {
		errno = err.code ? err.code : EIO;
		return -1;
	}
	return 0;
}

char *doctor_which(const char *root, const char *name)
{
	_cleanup_free_ char *dirs = xstrdup(PROC_HELPER_PATH);

	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *path = xasprintf("%s%s/%s", root, d, name);

		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

char *doctor_output(char *const argv[], size_t max)
{
	char *const envp[] = {(char *)"PATH=" PROC_HELPER_PATH, NULL};
	struct proc_output out = PROC_OUTPUT_INIT;
	struct proc_opts o = PROC_OPTS_INIT;
	struct error err = ERROR_INIT;
	_cleanup_close_ int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	o.stderr_fd = devnull;
	if (proc_capture(argv, envp, &o, max, &out, &err) < 0)
		return NULL;
	if (out.truncated || !WIFEXITED(out.status) || WEXITSTATUS(out.status) != 0) {
		proc_output_done(&out);
		return NULL;
	}
	return out.out;
}

void doctor_run(const struct doctor_env *in, struct doctor_report *r)
{
	struct doctor_env env = *in;

	env.root = env.root ? env.root : "";
	env.proc_root = env.proc_root ? env.proc_root : "/proc";
	env.sys_root = env.sys_root ? env.sys_root : "/sys";
	env.dev_root = env.dev_root ? env.dev_root : "/dev";
	env.slurm_dir = env.slurm_dir ? env.slurm_dir : "/etc/slurm";
	for (size_t i = 0; i < ARRAY_SIZE(areas); i++) {
		if (areas[i].host || !env.host_only)
			areas[i].check(&env, r);
	}
}
