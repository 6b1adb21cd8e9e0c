/* SPDX-License-Identifier: Apache-2.0 */
#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu/cudaver.h"
#include "util/cleanup.h"

#define CUDAVER_TIMEOUT_MS 5000

void gpu_cuda_version_str(int v, char *out, size_t len)
{
	snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

static void child(const char *libcuda, int fd)
{
	void *h = dlopen(libcuda, RTLD_NOW | RTLD_LOCAL);
	int (*get)(int *) = h ? (int (*)(int *))dlsym(h, "cuDriverGetVersion") : NULL;
	int v = 0;

	if (get == NULL || get(&v) != 0 || write(fd, &v, sizeof(v)) != sizeof(v))
		_exit(1);
	_exit(0);
}

static int reap(pid_t pid, bool kill_it)
{
	int status;

	if (kill_it)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int gpu_cuda_version(const char *libcuda, char *out, size_t len, struct error *err)
{
	int p[2], v = 0, r;
	struct pollfd pfd;
	ssize_t n = -1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return error_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return error_set(err, errno, "fork");
	}
	if (pid == 0)
		child(libcuda, p[1]);
	close(p[1]);
	pfd = (struct pollfd){p[0], POLLIN, 0};
	r = poll(&pfd, 1, CUDAVER_TIMEOUT_MS);
	if (r > 0)
		n = read(p[0], &v, sizeof(v));
	close(p[0]);
	if (reap(pid, r <= 0) < 0 || n != sizeof(v) || v <= 0)
		return error_set(err, 0, "cannot get the CUDA version from %s (cuDriverGetVersion)", libcuda);
	gpu_cuda_version_str(v, out, len);
	return 0;
}
