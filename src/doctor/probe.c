/* SPDX-License-Identifier: Apache-2.0 */
/* The functional probe: what the kernel lets this user do, tried in a
 * throw-away child, one errno per step. The sysctls only explain it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doctor/probe.h"
#include "util/fs.h"

static int write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno;
	r = write_all(fd, text, strlen(text)) < 0 ? errno : 0;
	close(fd);
	return r;
}

static int map_ids(uid_t uid, gid_t gid)
{
	char map[64];
	int e;

	if ((e = write_proc("/proc/self/setgroups", "deny")) != 0 && e != ENOENT)
		return e;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if ((e = write_proc("/proc/self/uid_map", map)) != 0)
		return e;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_proc("/proc/self/gid_map", map);
}

/* The options capsa's own image mount uses. */
static int try_overlay(void)
{
	static const char opts[] = "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w,xino=off,userxattr";

	if (mkdir("/tmp/l", 0700) < 0 || mkdir("/tmp/u", 0700) < 0 || mkdir("/tmp/w", 0700) < 0 ||
	    mkdir("/tmp/o", 0700) < 0)
		return errno;
	return mount("overlay", "/tmp/o", "overlay", 0, opts) < 0 ? errno : 0;
}

/* A new procfs needs a PID namespace of our own, hence a grandchild; its
 * exit code is the errno. */
static int try_procfs(void)
{
	int status;
	pid_t pid;

	if (unshare(CLONE_NEWPID) < 0)
		return errno;
	if (mkdir("/tmp/p", 0700) < 0)
		return errno;
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(mount("proc", "/tmp/p", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? errno : 0);
	if (waitpid(pid, &status, 0) < 0)
		return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* In the child: each step needs the previous one. */
static void probe_child(struct doctor_probe *p, uid_t uid, gid_t gid)
{
	p->overlay = p->procfs = p->tmpfs = p->idmap = ECANCELED;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		p->userns = errno;
		return;
	}
	if ((p->idmap = map_ids(uid, gid)) != 0)
		return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0) {
		p->tmpfs = errno;
		return;
	}
	p->tmpfs = 0;
	p->overlay = try_overlay();
	p->procfs = try_procfs();
}

int doctor_probe_run(struct doctor_probe *p)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]), close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		probe_child(p, uid, gid);
		_exit(write_all(fds[1], p, sizeof(*p)) < 0);
	}
	close(fds[1]);
	do
		n = read(fds[0], p, sizeof(*p));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return n == (ssize_t)sizeof(*p) ? 0 : -1;
}
