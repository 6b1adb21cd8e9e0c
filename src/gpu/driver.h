/* SPDX-License-Identifier: Apache-2.0 */
/* Host discovery (gpu.md §2.1): every host lookup is resolved under the
 * driver root as if it were "/", then the pure planner is fed the facts. */
#ifndef CAPSA_GPU_DRIVER_H
#define CAPSA_GPU_DRIVER_H

#include <stdint.h>

#include "config/config.h"
#include "gpu/plan.h"

/* Where the driver lives; settings CAPSA_NVIDIA_* (tests point them at a
 * fake driver tree). */
struct gpu_host {
	const char *driver_root; /* libs, bins, firmware, IPC sockets */
	const char *ldcache;     /* default <driver_root>/etc/ld.so.cache */
	const char *proc_root;   /* driver/nvidia/... */
	const char *dev_root;    /* device nodes */
	bool cuda_compat;        /* the image's newer libcuda first (gpu.md §2.9) */
};

/* The settings NVIDIA_DRIVER_ROOT, NVIDIA_LDCACHE, NVIDIA_PROC_ROOT and
 * NVIDIA_DEV_ROOT, NVIDIA_CUDA_COMPAT; *owned (free it) backs a computed default. */
void gpu_host_from_config(const struct config *cfg, struct gpu_host *h, char **owned);

/* Every library of the plan's table that the ld cache lists for arch,
 * resolved under the driver root, in cache order, of any version (doctor
 * names the mismatches); *owned backs the strings (strv_free it, free *ret). */
int gpu_host_libs(const struct gpu_host *host, int32_t arch, struct gpu_lib_candidate **ret, size_t *ret_n,
		  struct strv *owned, struct error *err);

/* The whole plan but the devices' probe: GPUs, requirements, libraries,
 * binaries, firmware, IPC, device nodes. rootfd: the container root, for
 * its distribution's library directory (-1: unknown, Debian's layout).
 * NVML's facts are added to inv when a requirement's outcome needs them. */
int gpu_make_plan(const struct gpu_host *host, const struct gpu_request *req, struct gpu_inventory *inv,
		  int rootfd, struct gpu_plan *ret, struct error *err);

#endif
