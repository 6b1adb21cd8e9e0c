/* SPDX-License-Identifier: Apache-2.0 */
/* The last steps before a container command runs, the same for start and
 * exec: capabilities, no_new_privs, the compatibility filter, host fds. */
#ifndef CAPSA_RUNTIME_PRIVILEGES_H
#define CAPSA_RUNTIME_PRIVILEGES_H

#include <stdbool.h>

#include "util/error.h"

/* Install the enroot compatibility filter: chown and set*id calls succeed
 * without effect, so package managers work with a single-id map. */
int seccomp_install_compat(struct error *err);

/* Capabilities: drop all, the bounding set and ambient ones. */
int caps_drop_all(struct error *err);

/* Drop capabilities unless inner_root, set no_new_privs, install the
 * compatibility filter in a user namespace, then close every host fd (3 and
 * up: CVE-2024-21626). */
int container_lockdown(bool userns, bool inner_root, struct error *err);

#endif
