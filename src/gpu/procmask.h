/* SPDX-License-Identifier: Apache-2.0 */
/* /proc/driver/nvidia as the container sees it (gpu.md §2.5): a fresh
 * tmpfs with copies of version, params (ModifyDeviceFiles: 0, so user space
 * never tries to create or chmod nodes) and registry, and read-only binds
 * of the selected GPUs' directories only. */
#ifndef CAPSA_GPU_PROCMASK_H
#define CAPSA_GPU_PROCMASK_H

#include "gpu/inject.h"
#include "gpu/inventory.h"

/* Rewrite "ModifyDeviceFiles: 1" to 0 in a copy of params (pure). */
char *gpu_params_rewrite(const char *params);

/* Nothing to do when the container has no /proc/driver/nvidia. */
int gpu_mask_proc(const struct gpu_inject_ctx *ctx, const char *proc_root, const struct gpu_inventory *inv,
		  const struct gpu_plan *plan, struct error *err);

#endif
