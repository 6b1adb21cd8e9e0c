/* SPDX-License-Identifier: Apache-2.0 */
/* Processes the plugin runs as the job user (child.c). */
#ifndef CAPSA_SLURM_CHILD_H
#define CAPSA_SLURM_CHILD_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct identity {
	uid_t uid;
	gid_t gid;
	gid_t *gids; /* supplementary groups, set when started as root */
	int ngids;
};

/* A fresh memfd for a child's output (close-on-exec); -1 on error. */
int child_log_open(void);
/* The whole log (at most 1 MiB), NUL-terminated; NULL on error. */
char *child_log_read(int log_fd, size_t *ret_len);

typedef int (*child_fn)(void *data);
struct child_exec {
	const char *path;
	char **argv;
	char **envp;
};
/* For child_spawn: execve(path, argv, envp); 127 if that fails. */
int child_exec_fn(void *data);
/* For child_spawn: unlink(data); 0 if gone. */
int child_unlink_fn(void *data);

/* Forks a child that becomes id (fully: real, effective and saved ids),
 * with stdio as described in child.c, and exits with fn(data).  log_fd < 0
 * sends the output to /dev/null.  -1 (errno) if fork fails. */
int child_spawn(const struct identity *id, int log_fd, child_fn fn, void *data, pid_t *ret_pid);
/* The same with stdout and stderr apart. */
int child_spawn2(const struct identity *id, int out_fd, int err_fd, child_fn fn, void *data, pid_t *ret_pid);
/* waitpid with EINTR retry; untraced: also return when it stops.  A
 * SIGTERM received meanwhile (scancel, the step's end) is passed on to the
 * child, as pyxis does: then 1. */
int child_wait(pid_t pid, bool untraced, int *status);
/* For other waits: catch SIGTERM without SA_RESTART (the wait returns
 * EINTR; child_sigterm_caught() then says to pass it on) until the old
 * action is put back with sigaction(SIGTERM, old, NULL). */
void child_sigterm_catch(struct sigaction *old);
bool child_sigterm_caught(void);

#endif
