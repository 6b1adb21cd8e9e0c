/* SPDX-License-Identifier: Apache-2.0 */
/* The driver's application profile for graphics containers (gpu.md §2.5):
 * EGL only sees the selected GPUs (EGLVisibleDGPUDevices, a bitmask of
 * 1 << minor), through a generated file on a tmpfs over the image's
 * /etc/nvidia/nvidia-application-profiles-rc.d. */
#ifndef CAPSA_GPU_APPPROFILE_H
#define CAPSA_GPU_APPPROFILE_H

#include "gpu/inject.h"
#include "gpu/inventory.h"

#define GPU_PROFILE_DIR "/etc/nvidia/nvidia-application-profiles-rc.d"

/* The profile text for a bitmask (pure); free it. */
char *gpu_app_profile(unsigned long long mask);

/* With graphics or display only; nothing otherwise. */
int gpu_write_app_profile(const struct gpu_inject_ctx *ctx, const struct gpu_inventory *inv,
			  const struct gpu_plan *plan, unsigned caps, struct error *err);

#endif
