/* SPDX-License-Identifier: Apache-2.0 */
/* The container shell's keeper.  The first task starts the shell, but the
 * task becomes the user's command, which never reaps it: the shell and its
 * squashfs server ended as orphans, zombies of pid 1 until it reaped them,
 * and an init that reaps once a second (a VM's, a pod's) made Slurm's
 * process tracking sleep a second at the end of the step.  The keeper is
 * forked with CLONE_PARENT, so it is slurmstepd's child, and is the
 * subreaper of the shell and everything under it: it reaps them, then
 * exits, and the plugin (in slurmstepd) reaps the keeper.  It tells the
 * task the shell's pid and whether it stopped or exited over a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm/keeper.h"

enum { REPORT_PID = 1, REPORT_STATE };

struct report {
	int32_t kind;
	int32_t status;
	int32_t pid;
};

static void send_report(int fd, int kind, int status, pid_t pid)
{
	struct report r = {kind, status, (int32_t)pid};

	/* A pipe write of this size is atomic; a gone reader is no matter. */
	if (write(fd, &r, sizeof(r)) < 0) {
		/* the task ended meanwhile */
	}
}

/* a and b (>= 3, may be equal) stay open. */
static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		syscall(SYS_close_range, 3U, (unsigned)lo - 1, 0U);
	if (hi > lo + 1)
		syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0U);
	syscall(SYS_close_range, (unsigned)hi + 1, ~0U, 0U);
}

/* System calls and child_spawn() only, as in child.c. */
static _Noreturn void keeper_main(const struct identity *id, int log_fd, child_fn fn, void *data, int wfd)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), status = 0;
	pid_t shell;

	/* Nothing of the task (srun's pipes, slurmstepd's sockets) may stay
	 * open for the container's life: srun waits for their end. */
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		_exit(127);
	close_all_but(log_fd >= 0 ? log_fd : wfd, wfd);
	prctl(PR_SET_NAME, "capsa-keeper");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (child_spawn(id, log_fd, fn, data, &shell) < 0) {
		send_report(wfd, REPORT_STATE, 127 << 8, -1);
		_exit(1);
	}
	send_report(wfd, REPORT_PID, 0, shell);
	while (waitpid(shell, &status, WUNTRACED) < 0 && errno == EINTR)
		;
	send_report(wfd, REPORT_STATE, status, shell);
	close(wfd);
	if (WIFSTOPPED(status)) {
		while (waitpid(shell, &status, 0) < 0 && errno == EINTR)
			;
	}
	/* The shell's orphans (its squashfs server) come to us. */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	_exit(0);
}

int keeper_start(const struct identity *id, int log_fd, child_fn fn, void *data, pid_t *ret_keeper, int *ret_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		keeper_main(id, log_fd, fn, data, p[1]);
	}
	close(p[1]);
	*ret_keeper = pid;
	*ret_fd = p[0];
	return 0;
}

/* One report; a SIGTERM meanwhile (scancel) goes on to the shell once its
 * pid is known, as child_wait() does for a child. */
static int read_report(int fd, pid_t shell, bool *forwarded, struct report *r)
{
	ssize_t n;

	while ((n = read(fd, r, sizeof(*r))) < 0 && errno == EINTR) {
		if (child_sigterm_caught() && shell > 0 && !*forwarded) {
			kill(shell, SIGTERM);
			*forwarded = true;
		}
	}
	if (n != (ssize_t)sizeof(*r)) {
		errno = n < 0 ? errno : EPIPE;
		return -1;
	}
	return 0;
}

int keeper_wait(int fd, pid_t *ret_shell, int *ret_status)
{
	struct sigaction old;
	bool forwarded = false;
	struct report r;
	pid_t shell = -1;
	int ret = -1;

	child_sigterm_catch(&old);
	while (read_report(fd, shell, &forwarded, &r) == 0) {
		if (r.kind == REPORT_PID) {
			shell = (pid_t)r.pid;
			continue;
		}
		*ret_shell = shell;
		*ret_status = r.status;
		ret = forwarded ? 1 : 0;
		break;
	}
	sigaction(SIGTERM, &old, NULL);
	return ret;
}

void keeper_reap(pid_t keeper, int timeout_ms)
{
	struct timespec tick = {0, 2000000};

	if (keeper <= 0)
		return;
	/* Not 0: reaped now, or already by slurmstepd (the shell ended
	 * earlier), and then the pid may be another process's. */
	for (int waited = 0; waited < timeout_ms; waited += 2) {
		if (waitpid(keeper, NULL, WNOHANG) != 0)
			return;
		nanosleep(&tick, NULL);
	}
	/* Not done in time (a server in D state): the rest goes to pid 1. */
	if (waitpid(keeper, NULL, WNOHANG) == 0) {
		kill(keeper, SIGKILL);
		while (waitpid(keeper, NULL, 0) < 0 && errno == EINTR)
			;
	}
}
