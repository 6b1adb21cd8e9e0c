/* SPDX-License-Identifier: Apache-2.0 */
/* Every task joins the container the first one started (task_init, as the
 * user): its namespaces, cwd and environment, then the seccomp filter. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurm/seccomp.h"
#include "slurm/step.h"
#include "util/cleanup.h"

static int ns_open(pid_t pid, const char *ns, int *ret, bool only_if_different, bool optional)
{
	char path[64];
	struct stat mine, theirs;
	int fd;

	*ret = -1;
	snprintf(path, sizeof(path), "/proc/%ld/ns/%s", (long)pid, ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return optional && errno == ENOENT ? 0 : -1;
	if (only_if_different) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
		if (stat(path, &mine) == 0 && fstat(fd, &theirs) == 0 && mine.st_dev == theirs.st_dev &&
		    mine.st_ino == theirs.st_ino) {
			close(fd);
			return 0;
		}
	}
	*ret = fd;
	return 0;
}

static char *read_environ(pid_t pid, size_t *len)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	return child_log_read(fd, len);
}

struct env_import {
	spank_t sp;
};

static bool in_container_env(const char *name)
{
	for (size_t i = 0; i < step.args->env_len; i++)
		if (strcmp(step.args->env[i], name) == 0)
			return true;
	return false;
}

/* Per-task values of Slurm and its MPI plugins (and its GPU binding): the
 * container has the first task's, so the task's own win (pyxis lets the
 * first task's through: its #73, #47). */
static bool task_owned(const char *name)
{
	static const char *const exact[] = {"CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"};

	if (strncmp(name, "SLURM_", 6) == 0 || strncmp(name, "PMI_", 4) == 0 || strncmp(name, "PMIX_", 5) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return false;
}

static int import_entry(const char *name, const char *value, void *data)
{
	struct env_import *imp = data;
	spank_err_t rc = spank_setenv(imp->sp, name, value, in_container_env(name) || task_owned(name) ? 0 : 1);

	if (rc != ESPANK_SUCCESS && rc != ESPANK_ENV_EXISTS) {
		slurm_error("capsa: failed to set %s: %s", name, spank_strerror(rc));
		return -1;
	}
	return 0;
}

/* pyxis.md §7: the container's environment wins, except --container-env. */
static int import_environ(spank_t sp, char *environ_buf, size_t len)
{
	static const char *const locale[] = {"LANG", "LANGUAGE", "LC_ALL"};
	struct env_import imp = {sp};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(locale); i++)
		if (!in_container_env(locale[i]))
			spank_unsetenv(sp, locale[i]);
	if (environ_foreach(environ_buf, len, import_entry, &imp) < 0)
		return -1;
	if (spank_getenv(sp, "PYTORCH_VERSION", buf, sizeof(buf)) == ESPANK_SUCCESS) {
		if (spank_getenv(sp, "SLURM_PROCID", buf, sizeof(buf)) == ESPANK_SUCCESS)
			spank_setenv(sp, "RANK", buf, 1);
		if (spank_getenv(sp, "SLURM_LOCALID", buf, sizeof(buf)) == ESPANK_SUCCESS)
			spank_setenv(sp, "LOCAL_RANK", buf, 1);
	}
	return 0;
}

enum { NS_USER, NS_CGROUP, NS_MNT, NS_IPC, NS_UTS, NS_NET, NS_COUNT };

int join_container(spank_t sp)
{
	static const struct {
		const char *name, *what;
		int type;
		bool if_different, optional;
		unsigned unshare;
	} nss[NS_COUNT] = {
		{"user", "user", CLONE_NEWUSER, false, false, 0},
		{"cgroup", "cgroup", CLONE_NEWCGROUP, false, true, 0},
		{"mnt", "mount", CLONE_NEWNS, false, false, 0},
		{"ipc", "IPC", CLONE_NEWIPC, true, false, SPANK_UNSHARE_IPC},
		{"uts", "UTS", CLONE_NEWUTS, true, false, SPANK_UNSHARE_UTS},
		{"net", "network", CLONE_NEWNET, true, false, SPANK_UNSHARE_NET},
	};
	int fds[NS_COUNT];
	pid_t pid = step.shm->pid, ns_pid = step.shm->ns_pid;
	char cwd[PATH_MAX], path[64];
	_cleanup_free_ char *environ_buf = NULL;
	size_t environ_len = 0;
	ssize_t n;
	int ret = -1;

	for (int i = 0; i < NS_COUNT; i++)
		fds[i] = -1;
	for (int i = 0; i < NS_COUNT; i++) {
		if (ns_open(ns_pid, nss[i].name, &fds[i], nss[i].if_different, nss[i].optional) < 0) {
			slurm_error("capsa: couldn't get container namespaces: %s", strerror(errno));
			goto out;
		}
		if ((step.args->unshare & nss[i].unshare) && fds[i] < 0) {
			slurm_error("capsa: --container-unshare=%s requested but the container is not in a separate %s "
				    "namespace",
				    nss[i].name, nss[i].what);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n < 0) {
		slurm_error("capsa: couldn't get the container's working directory: %s", strerror(errno));
		goto out;
	}
	cwd[n] = '\0';
	environ_buf = read_environ(pid, &environ_len);
	if (environ_buf == NULL) {
		slurm_error("capsa: couldn't read container environment: %s", strerror(errno));
		goto out;
	}
	if (import_environ(sp, environ_buf, environ_len) < 0)
		goto out;
	for (int i = 0; i < NS_COUNT; i++) {
		if (fds[i] < 0 || (i == NS_USER && step.privileged))
			continue;
		if (setns(fds[i], nss[i].type) < 0) {
			slurm_error("capsa: couldn't join %s namespace: %s", nss[i].what, strerror(errno));
			goto out;
		}
	}
	if (chdir(step.args->workdir ? step.args->workdir : cwd) < 0) {
		slurm_error("capsa: couldn't chdir to %s: %s", step.args->workdir ? step.args->workdir : cwd,
			    strerror(errno));
		goto out;
	}
	if (!step.privileged && seccomp_install_tasks() < 0) {
		slurm_error("capsa: seccomp filter failed: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	for (int i = 0; i < NS_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}
