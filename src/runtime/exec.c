/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/envfile.h"
#include "runtime/exec.h"
#include "runtime/namespaces.h"
#include "runtime/privileges.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

static const struct {
	const char *name;
	int type;
} namespaces[] = {
	{"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},	  {"net", CLONE_NEWNET},
	{"ipc", CLONE_NEWIPC},	 {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
};

#define NNS (sizeof(namespaces) / sizeof(namespaces[0]))

/* Open every namespace first (joining user or mnt changes what we may open),
 * and skip those we are already in. */
static int open_namespaces(pid_t pid, int fds[NNS], struct error *err)
{
	for (size_t i = 0; i < NNS; i++) {
		char theirs[64], ours[64];
		struct stat a, b;

		fds[i] = -1;
		snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, namespaces[i].name);
		snprintf(ours, sizeof(ours), "/proc/self/ns/%s", namespaces[i].name);
		if (stat(theirs, &a) < 0) {
			if (errno == ENOENT && namespaces[i].type == CLONE_NEWCGROUP)
				continue;
			return error_set(err, errno, "failed to open '%s'", theirs);
		}
		if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return error_set(err, errno, "failed to open '%s'", theirs);
	}
	return 0;
}

/* Whether the namespaces to join include a user namespace: as in start,
 * the compatibility filter goes with it, whatever uid we get inside. */
static bool joins_userns(const int fds[NNS])
{
	return fds[0] >= 0; /* namespaces[0] is "user" */
}

static int join(int fds[NNS], struct error *err)
{
	for (size_t i = 0; i < NNS; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], namespaces[i].type) < 0)
			return error_set(err, errno, "failed to join the %s namespace", namespaces[i].name);
		close(fds[i]);
		fds[i] = -1;
		if (namespaces[i].type == CLONE_NEWPID && ns_fork_pid_init(err) < 0)
			return -1;
	}
	return 0;
}

static int build_env(pid_t pid, const struct strv *env_args, struct strv *env, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/environ", (int)pid);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (read_file_at(AT_FDCWD, path, 4 * 1024 * 1024, &buf, &len, err) < 0)
		return -1;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
		strv_push(env, buf + off);
	for (size_t i = 0; i < env_args->n; i++) {
		const char *a = env_args->v[i];
		const char *v = strchr(a, '=') ? NULL : getenv(a);

		if (!env_valid_arg(a))
			return error_set(err, 0, "invalid argument: '%s'", a);
		if (strchr(a, '='))
			strv_push(env, a);
		else
			strv_pushf(env, "%s=%s", a, v ? v : "");
	}
	strv_argv(env);
	return 0;
}

int rt_exec(pid_t pid, const struct strv *env_args, char **argv, struct error *err)
{
	int fds[NNS];
	struct strv env = STRV_INIT;
	_cleanup_close_ int cwd = -1;
	_cleanup_free_ char *cwdpath = xasprintf("/proc/%d/cwd", (int)pid);
	extern char **environ;
	bool userns;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return error_set(err, 0, "process not found: %d", (int)pid);
	if (build_env(pid, env_args, &env, err) < 0 || open_namespaces(pid, fds, err) < 0)
		return -1;
	cwd = open(cwdpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	userns = joins_userns(fds);
	if (join(fds, err) < 0)
		return -1;
	if (cwd >= 0 && fchdir(cwd) < 0)
		return error_errno(err, "failed to change directory");
	if (container_lockdown(userns, geteuid() == 0, err) < 0)
		return -1;
	environ = env.v;
	execvp(argv[0], argv);
	return error_set(err, errno, "failed to execute '%s'", argv[0]);
}
