/* SPDX-License-Identifier: Apache-2.0 */
/* Child processes: spawn with a clean fd table, wait, capture output. */
#ifndef CAPSA_UTIL_PROC_H
#define CAPSA_UTIL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strv.h"

struct proc_opts {
	int stdin_fd;  /* -1: /dev/null */
	int stdout_fd; /* -1: inherit */
	int stderr_fd; /* -1: inherit */
	const char *cwd;
	/* Runs in the child after the fds are set up, before exec. */
	void (*child_setup)(void *arg);
	void *child_arg;
};

#define PROC_OPTS_INIT {-1, -1, -1, NULL, NULL, NULL}

/* Close every fd from `from` up: close_range, or /proc/self/fd where the
 * kernel lacks it (before 5.9, e.g. RHEL 8), or every possible fd. */
void close_fds_from(unsigned from);

/* The PATH of host helpers when the caller has none. */
#define PROC_HELPER_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Append base to ret without the variables that make a shell run code or
 * the loader map libraries before the helper's own script (BASH_ENV, ENV,
 * SHELLOPTS, BASHOPTS, PS4, BASH_FUNC_*, IFS, LD_*); PATH=PROC_HELPER_PATH
 * when base has no PATH. The helpers themselves (/bin/bash, /bin/sh) are
 * named by absolute path. Only user-mode configuration runs them: their
 * command substitutions (`$(aws ecr get-login-password)`) find the user's
 * tools on the user's PATH, as in enroot; root mode runs no shell. */
void proc_helper_env(char *const base[], struct strv *ret);

/* fork + execve (execvpe when argv[0] has no '/'); fds >= 3 are closed. */
int proc_spawn(char *const argv[], char *const envp[], const struct proc_opts *opts, pid_t *ret_pid,
	       struct error *err);
/* Wait for pid, retrying on EINTR; returns the wait status. */
int proc_wait(pid_t pid, int *ret_status, struct error *err);
/* What proc_capture collected. out holds the first len (<= max) bytes of
 * stdout plus a NUL; it may contain NUL bytes, so use len, not strlen. When
 * the child wrote more than max bytes the rest was read and dropped, and
 * truncated is set: callers that parse out must treat that as an error. */
struct proc_output {
	char *out;
	size_t len;
	bool truncated;
	int status; /* wait status */
};

#define PROC_OUTPUT_INIT {NULL, 0, false, 0}

/* Run and collect stdout (see struct proc_output). */
int proc_capture(char *const argv[], char *const envp[], const struct proc_opts *opts, size_t max,
		 struct proc_output *ret, struct error *err);
/* Free out (wiped first: it may hold a password). */
void proc_output_done(struct proc_output *o);
/* "exited with return code N" / "was killed by signal N" for messages. */
const char *proc_status_str(int status, char *buf, size_t len);
/* Exit code as a shell reports it: code, or 128+signal. */
int proc_exit_code(int status);

#endif
