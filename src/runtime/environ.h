/* SPDX-License-Identifier: Apache-2.0 */
/* The container environment, assembled as enroot does (enroot.md §5.4). */
#ifndef CAPSA_RUNTIME_ENVIRON_H
#define CAPSA_RUNTIME_ENVIRON_H

#include "runtime/start.h"

/* Host environment plus settings plus ENROOT_PID/ROOTFS/ENVIRON/MOUNTS:
 * what hooks, config functions and ${NAME} substitution see. */
void environ_build_host(struct start_ctx *ctx);

/* image /etc/environment, environ.d, environ(), -e; normalised. */
int environ_assemble(struct start_ctx *ctx, struct error *err);

/* Write ctx->env to path / read it back normalised (for hook scripts). */
int environ_write(const struct start_ctx *ctx, const char *path, struct error *err);
int environ_reload(struct start_ctx *ctx, const char *path, struct error *err);

#endif
