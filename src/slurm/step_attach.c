/* SPDX-License-Identifier: Apache-2.0 */
/* A later step attaches to a running unnamed container by
 * --container-name=JOBID.STEPID (pyxis.md §6.2). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurm/step.h"
#include "util/cleanup.h"

/* Started directly, an unnamed container has no rootfs for `capsa list` to
 * find: runtime_path/<uid>/<its name>.pid holds its shell's pid while it
 * runs.  Written and read as the user, in children (only system calls). */
struct marker {
	char path[PATH_MAX];
	char text[32];
};

static int marker_write_fn(void *data)
{
	const struct marker *m = data;
	int fd = open(m->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t n = strlen(m->text);

	return fd < 0 || write(fd, m->text, n) != (ssize_t)n || close(fd) < 0 ? 1 : 0;
}

static int marker_read_fn(void *data)
{
	const struct marker *m = data;
	char buf[32];
	int fd = open(m->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	return n > 0 && write(1, buf, (size_t)n) == n ? 0 : 1;
}

static void marker_path(struct marker *m)
{
	snprintf(m->path, sizeof(m->path), "%s/%s.pid", step.user_dir, step.name);
}

void attach_publish(void)
{
	struct marker m;
	pid_t pid;
	int status;

	marker_path(&m);
	snprintf(m.text, sizeof(m.text), "%ld\n", (long)step.shm->pid);
	if (child_spawn(&step.id, -1, marker_write_fn, &m, &pid) == 0)
		child_wait(pid, false, &status);
}

void attach_withdraw(void)
{
	struct marker m;
	pid_t pid;
	int status;

	marker_path(&m);
	if (child_spawn(&step.id, -1, child_unlink_fn, m.path, &pid) == 0)
		child_wait(pid, false, &status);
}

/* The running unnamed container's shell, or -1. */
long attach_lookup(void)
{
	_cleanup_close_ int log_fd = child_log_open();
	_cleanup_free_ char *text = NULL;
	struct marker m;
	char proc[32];
	struct stat st;
	pid_t pid;
	int status;
	long v;

	marker_path(&m);
	if (log_fd < 0 || child_spawn2(&step.id, log_fd, -1, marker_read_fn, &m, &pid) < 0 ||
	    child_wait(pid, false, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	text = child_log_read(log_fd, NULL);
	v = text != NULL ? strtol(text, NULL, 10) : 0;
	snprintf(proc, sizeof(proc), "/proc/%ld", v);
	/* A stale pid reused by another process is not the container. */
	if (v <= 1 || stat(proc, &st) < 0 || st.st_uid != step.id.uid)
		return -1;
	return v;
}

bool attach_is_step_name(const char *name)
{
	const char *p = name;

	if (name == NULL || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0' || *p == ':';
}
