/* SPDX-License-Identifier: Apache-2.0 */
/* The container shell's keeper (keeper.c): slurmstepd's child and the
 * subreaper of the shell and its squashfs server. */
#ifndef CAPSA_SLURM_KEEPER_H
#define CAPSA_SLURM_KEEPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "slurm/child.h"

/* From a task: fork the keeper as a sibling (a child of slurmstepd), which
 * runs child_spawn(id, log_fd, fn, data).  *ret_fd: where keeper_wait()
 * reads its reports.  -1 (errno) on failure. */
int keeper_start(const struct identity *id, int log_fd, child_fn fn, void *data, pid_t *ret_keeper, int *ret_fd);
/* Wait until the shell stops or exits: its pid and waitpid status.  A
 * SIGTERM meanwhile is passed on to the shell: then 1.  -1 if the keeper
 * ended without a word. */
int keeper_wait(int fd, pid_t *ret_shell, int *ret_status);
/* From slurmstepd, once the shell was told to end: reap the keeper (it
 * exits when everything under it is reaped), killed after timeout_ms. */
void keeper_reap(pid_t keeper, int timeout_ms);

#endif
