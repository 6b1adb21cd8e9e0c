/* SPDX-License-Identifier: Apache-2.0 */
/* The last step of start: pivot_root into the rootfs, drop privileges and
 * exec the command through the image's /etc/rc, as enroot-switchroot does. */
#ifndef CAPSA_RUNTIME_SWITCHROOT_H
#define CAPSA_RUNTIME_SWITCHROOT_H

#include "runtime/start.h"

int switchroot_pivot(const char *rootfs, struct error *err);
/* Returns only on error. */
int switchroot_exec(struct start_ctx *ctx, struct error *err);

/* Install the enroot compatibility filter: chown and set*id calls succeed
 * without effect, so package managers work with a single-id map. */
int seccomp_install_compat(struct error *err);

/* Capabilities: drop all (and the bounding set) unless root inside. */
int caps_drop_all(struct error *err);

#endif
