/* SPDX-License-Identifier: Apache-2.0 */
/* Children of slurmstepd or of a task that run as the job user (pyxis.md
 * §6.5): stdin /dev/null, stdout and stderr into a memfd log, oom_score_adj
 * 0, no inherited fds, the job's groups and ids, then a function (usually
 * execve of capsa).  Everything the child needs is prepared before fork:
 * slurmstepd is multi-threaded, so the child only makes system calls. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurm/child.h"
#include "util/cleanup.h"

#define LOG_MAX (1024 * 1024)

int child_log_open(void)
{
	return memfd_create("capsa-log", MFD_CLOEXEC);
}

static void child_close_fds(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
}

static int child_become(const struct identity *id)
{
	if (getuid() != 0 && geteuid() != 0)
		return getuid() == id->uid && geteuid() == id->uid ? 0 : -1;
	/* user_init runs with euid = user, ruid = 0: regain root to drop all. */
	if (geteuid() != 0 && seteuid(0) < 0)
		return -1;
	if (setgroups((size_t)id->ngids, id->gids) < 0)
		return -1;
	if (setresgid(id->gid, id->gid, id->gid) < 0 || setresuid(id->uid, id->uid, id->uid) < 0)
		return -1;
	if (getuid() != id->uid || geteuid() != id->uid || getegid() != id->gid)
		return -1;
	return 0;
}

/* A memfd at 0-2 would be overwritten by the dup2 calls: move it up. */
static int child_fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		_exit(127);
	return fd;
}

static void child_setup(int out_fd, int err_fd)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
	sigset_t all;
	int fd;

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	out_fd = child_fd_above_stdio(out_fd);
	err_fd = child_fd_above_stdio(err_fd);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(127);
	if (dup2(out_fd >= 0 ? out_fd : fd, 1) < 0 || dup2(err_fd >= 0 ? err_fd : fd, 2) < 0)
		_exit(127);
	/* slurmstepd runs with -1000; the children are ordinary processes. */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "0", 1) < 0) {
			/* not fatal */
		}
		close(fd);
	}
	child_close_fds();
}

int child_spawn(const struct identity *id, int log_fd, child_fn fn, void *data, pid_t *ret_pid)
{
	return child_spawn2(id, log_fd, log_fd, fn, data, ret_pid);
}

int child_spawn2(const struct identity *id, int out_fd, int err_fd, child_fn fn, void *data, pid_t *ret_pid)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_setup(out_fd, err_fd);
		if (child_become(id) < 0) {
			static const char msg[] = "capsa: could not switch to the job user\n";
			if (write(2, msg, sizeof(msg) - 1) < 0) {
				/* nothing more to do */
			}
			_exit(126);
		}
		_exit(fn(data));
	}
	*ret_pid = pid;
	return 0;
}

int child_exec_fn(void *data)
{
	const struct child_exec *e = data;

	static const char msg[] = "capsa: could not execute the capsa binary: ";
	const char *why;

	execve(e->path, e->argv, e->envp);
	/* Only system calls after fork: slurmstepd is multi-threaded. */
	why = strerrordesc_np(errno);
	if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, e->path, strlen(e->path)) < 0 || write(2, ": ", 2) < 0 ||
	    write(2, why ? why : "?", strlen(why ? why : "?")) < 0 || write(2, "\n", 1) < 0)
		return 127;
	return 127;
}

static volatile sig_atomic_t got_sigterm;

static void on_sigterm(int sig)
{
	(void)sig;
	got_sigterm = 1;
}

void child_sigterm_catch(struct sigaction *old)
{
	/* No SA_RESTART: the wait returns EINTR and the signal is passed on. */
	struct sigaction sa = {.sa_handler = on_sigterm};

	sigemptyset(&sa.sa_mask);
	got_sigterm = 0;
	sigaction(SIGTERM, &sa, old);
}

bool child_sigterm_caught(void)
{
	return got_sigterm;
}

int child_unlink_fn(void *data)
{
	return unlink(data) == 0 || errno == ENOENT ? 0 : 1;
}

int child_wait(pid_t pid, bool untraced, int *status)
{
	struct sigaction old;
	bool forwarded = false;
	pid_t r;

	child_sigterm_catch(&old);
	do {
		r = waitpid(pid, status, untraced ? WUNTRACED : 0);
		if (r < 0 && errno == EINTR && got_sigterm && !forwarded) {
			kill(pid, SIGTERM);
			forwarded = true;
		}
	} while (r < 0 && errno == EINTR);
	sigaction(SIGTERM, &old, NULL);
	return r < 0 ? -1 : forwarded ? 1 : 0;
}

char *child_log_read(int log_fd, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *p;
	ssize_t n;

	if (buf == NULL || lseek(log_fd, 0, SEEK_SET) < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= LOG_MAX)
				break;
			p = realloc(buf, cap * 2);
			if (p == NULL)
				break;
			buf = p;
			cap *= 2;
		}
		n = read(log_fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len != NULL)
		*ret_len = len;
	return buf;
}
