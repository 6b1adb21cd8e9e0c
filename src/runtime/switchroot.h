/* SPDX-License-Identifier: Apache-2.0 */
/* The last step of start: pivot_root into the rootfs, drop privileges and
 * exec the command through the image's /etc/rc, as enroot-switchroot does. */
#ifndef CAPSA_RUNTIME_SWITCHROOT_H
#define CAPSA_RUNTIME_SWITCHROOT_H

#include "runtime/start.h"

int switchroot_pivot(const char *rootfs, struct error *err);
/* Returns only on error. */
int switchroot_exec(struct start_ctx *ctx, struct error *err);

#endif
