/* SPDX-License-Identifier: Apache-2.0 */
/* Hooks: enroot's standard hooks are built in (no shell in a default start);
 * site and user hooks.d scripts and the config's hooks() still run. */
#ifndef CAPSA_RUNTIME_HOOKS_H
#define CAPSA_RUNTIME_HOOKS_H

#include "runtime/start.h"

int hooks_run(struct start_ctx *ctx, struct error *err);

/* Built-in hooks, one file each in src/runtime/hooks/. */
int hook_shadow(struct start_ctx *ctx, struct error *err);
int hook_cgroups(struct start_ctx *ctx, struct error *err);
int hook_devices(struct start_ctx *ctx, struct error *err);
int hook_home(struct start_ctx *ctx, struct error *err);
int hook_localtime(struct start_ctx *ctx, struct error *err);
int hook_aptfix(struct start_ctx *ctx, struct error *err);
/* CDI devices (--device), hooks/cdi.c. */
int hook_cdi(struct start_ctx *ctx, struct error *err);
/* NVIDIA GPUs (NVIDIA_VISIBLE_DEVICES), hooks/nvidia.c. */
int hook_nvidia(struct start_ctx *ctx, struct error *err);
/* RDMA devices (MELLANOX_VISIBLE_DEVICES), hooks/mellanox.c. */
int hook_mellanox(struct start_ctx *ctx, struct error *err);

/* Mount one fstab-style line now (used by built-in hooks). */
int hook_mount(struct start_ctx *ctx, const char *line, struct error *err);

#endif
