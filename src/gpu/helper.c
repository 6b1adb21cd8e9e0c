/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpu/helper.h"
#include "util/proc.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void child(gpu_helper_fn fn, void *arg, int fd, int timeout_ms)
{
	struct rlimit cpu = {(rlim_t)timeout_ms / 1000 + 1, (rlim_t)timeout_ms / 1000 + 1};
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* The library's chatter must not reach capsa's output (gpu plan
	 * --json); nothing it runs may gain privileges; a spinning library
	 * dies of its CPU limit even if the parent cannot kill it. */
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    setrlimit(RLIMIT_CPU, &cpu) < 0)
		_exit(125);
	_exit(fn(arg, fd));
}

/* Read into buf (*n bytes so far) until EOF or the deadline; false on
 * timeout. Beyond len the answer is drained and dropped: the caller sees
 * a short answer and refuses it. */
static bool collect(int fd, char *buf, size_t len, size_t *n, long deadline)
{
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long left = deadline - now_ms();
		int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		char sink[512];
		ssize_t r;

		if (ready == 0)
			return false;
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return true; /* the reaper then tells what became of the child */
		r = *n < len ? read(fd, buf + *n, len - *n) : read(fd, sink, sizeof(sink));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return true;
		if (*n < len)
			*n += (size_t)r;
	}
}

int gpu_helper_run(gpu_helper_fn fn, void *arg, void *buf, size_t len, size_t *ret_n, int timeout_ms,
		   const char *what, struct error *err)
{
	struct error ignore = ERROR_INIT;
	char how[64];
	bool in_time;
	int p[2], status = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return error_set(err, errno, "%s: pipe", what);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return error_set(err, errno, "%s: fork", what);
	}
	if (pid == 0) {
		close(p[0]);
		child(fn, arg, p[1], timeout_ms);
	}
	close(p[1]);
	*ret_n = 0;
	in_time = collect(p[0], buf, len, ret_n, now_ms() + timeout_ms);
	close(p[0]);
	if (!in_time)
		kill(pid, SIGKILL);
	if (proc_wait(pid, &status, &ignore) < 0)
		return error_set(err, ignore.code, "%s: wait", what);
	if (!in_time)
		return error_set(err, 0, "%s did not answer within %d s (killed)", what, timeout_ms / 1000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return error_set(err, 0, "%s failed: the helper process %s", what,
				 proc_status_str(status, how, sizeof(how)));
	return 0;
}
