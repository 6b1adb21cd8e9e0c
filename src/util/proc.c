/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/proc.h"
#include "util/strbuf.h"

static bool close_fds_proc(unsigned from)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self;

	if (d == NULL)
		return false;
	self = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end == '\0' && e->d_name[0] != '\0' && fd >= (long)from && fd != self)
			close((int)fd);
	}
	closedir(d);
	return true;
}

void close_fds_from(unsigned from)
{
	struct rlimit rl;

	if (syscall(SYS_close_range, from, ~0U, 0U) == 0 || close_fds_proc(from))
		return;
	/* No /proc either (e.g. a container without it): every possible fd. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	for (unsigned fd = from; fd < rl.rlim_cur; fd++)
		close((int)fd);
}

static void child_fds(const struct proc_opts *o)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int in = o->stdin_fd >= 0 ? o->stdin_fd : devnull;

	if (in >= 0 && in != 0)
		dup2(in, 0);
	if (o->stdout_fd >= 0 && o->stdout_fd != 1)
		dup2(o->stdout_fd, 1);
	if (o->stderr_fd >= 0 && o->stderr_fd != 2)
		dup2(o->stderr_fd, 2);
	/* Never leak a host fd into a hook or a container (CVE-2024-21626). */
	close_fds_from(3);
}

static bool helper_env_dropped(const char *kv)
{
	static const char *const names[] = {"BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS"};
	size_t n = strcspn(kv, "=");

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (n == strlen(names[i]) && !strncmp(kv, names[i], n))
			return true;
	}
	/* Exported bash functions can replace `echo` or `eval` in our script. */
	return !strncmp(kv, "LD_", STRLEN("LD_")) || !strncmp(kv, "BASH_FUNC_", STRLEN("BASH_FUNC_"));
}

void proc_helper_env(char *const base[], struct strv *ret)
{
	bool path = false;

	for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
		if (helper_env_dropped(base[i]))
			continue;
		strv_push(ret, base[i]);
		path = path || !strncmp(base[i], "PATH=", 5);
	}
	if (!path)
		strv_push(ret, "PATH=" PROC_HELPER_PATH);
}

int proc_spawn(char *const argv[], char *const envp[], const struct proc_opts *opts, pid_t *ret_pid,
	       struct error *err)
{
	static const struct proc_opts defaults = PROC_OPTS_INIT;
	const struct proc_opts *o = opts ? opts : &defaults;
	pid_t pid = fork();

	if (pid < 0)
		return error_errno(err, "failed to fork");
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		child_fds(o);
		if (o->cwd && chdir(o->cwd) < 0)
			_exit(126);
		if (o->child_setup)
			o->child_setup(o->child_arg);
		if (strchr(argv[0], '/'))
			execve(argv[0], argv, envp);
		else
			execvpe(argv[0], argv, envp);
		dprintf(2, "[ERROR] failed to execute '%s': %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	*ret_pid = pid;
	return 0;
}

int proc_wait(pid_t pid, int *ret_status, struct error *err)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return error_errno(err, "failed to wait for child");
	}
	*ret_status = status;
	return 0;
}

/* Read the pipe to its end: at most max bytes are kept, the rest is read
 * and dropped so the child never blocks on a full pipe. */
static void read_bounded(int fd, size_t max, struct strbuf *sb, bool *ret_truncated)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		size_t room = max - sb->len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((size_t)n > room)
			*ret_truncated = true;
		strbuf_add(sb, buf, (size_t)n > room ? room : (size_t)n);
	}
}

int proc_capture(char *const argv[], char *const envp[], const struct proc_opts *opts, size_t max,
		 struct proc_output *ret, struct error *err)
{
	struct proc_opts o = opts ? *opts : (struct proc_opts)PROC_OPTS_INIT;
	struct strbuf sb = STRBUF_INIT;
	bool truncated = false;
	int pfd[2], status = 0;
	pid_t pid;
	int r;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return error_errno(err, "failed to create pipe");
	o.stdout_fd = pfd[1];
	r = proc_spawn(argv, envp, &o, &pid, err);
	close(pfd[1]);
	if (r < 0) {
		close(pfd[0]);
		return r;
	}
	read_bounded(pfd[0], max, &sb, &truncated);
	close(pfd[0]);
	r = proc_wait(pid, &status, err);
	if (r < 0) {
		if (sb.buf != NULL)
			explicit_bzero(sb.buf, sb.len);
		strbuf_release(&sb);
		return r;
	}
	ret->len = sb.len;
	ret->out = strbuf_detach(&sb);
	ret->truncated = truncated;
	ret->status = status;
	return 0;
}

void proc_output_done(struct proc_output *o)
{
	if (o->out != NULL)
		explicit_bzero(o->out, o->len);
	free(o->out);
	*o = (struct proc_output)PROC_OUTPUT_INIT;
}

const char *proc_status_str(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exited with return code %d", WEXITSTATUS(status));
	return buf;
}

int proc_exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
