/* SPDX-License-Identifier: Apache-2.0 */
/* Entering the container's namespaces: user (single-id map), mount, and the
 * optional pid/net/ipc/uts ones. */
#ifndef CAPSA_RUNTIME_NAMESPACES_H
#define CAPSA_RUNTIME_NAMESPACES_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

struct ns_opts {
	bool userns;     /* false only in superuser mode */
	bool remap_root; /* map 0 -> euid instead of euid -> euid */
	bool pid, net, ipc, uts;
};

/* unshare and write the maps. Afterwards / is MS_REC|MS_SLAVE so nothing
 * mounted inside can propagate back to the host. With pid, the process
 * forks: the caller continues as PID 1's child (see ns_pid_init). */
int ns_enter(const struct ns_opts *o, struct error *err);

/* With a PID namespace: fork twice so that the caller returns in a worker
 * whose parent is a minimal init (PID 1) that forwards signals and reaps;
 * the original process waits outside and exits with the container's status.
 * Returns only in the worker. */
int ns_fork_pid_init(struct error *err);

uid_t ns_outer_uid(void);
gid_t ns_outer_gid(void);

#endif
