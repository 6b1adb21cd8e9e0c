/* SPDX-License-Identifier: Apache-2.0 */
/* What a container asks of the GPU driver, read from its environment with
 * the NVIDIA container toolkit's semantics (gpu.md §1). Pure. */
#ifndef CAPSA_GPU_REQUEST_H
#define CAPSA_GPU_REQUEST_H

#include <stdbool.h>

#include "util/error.h"
#include "util/strv.h"

enum gpu_cap {
	GPU_CAP_COMPUTE = 1u << 0,
	GPU_CAP_COMPAT32 = 1u << 1,
	GPU_CAP_GRAPHICS = 1u << 2,
	GPU_CAP_UTILITY = 1u << 3,
	GPU_CAP_VIDEO = 1u << 4,
	GPU_CAP_DISPLAY = 1u << 5,
	GPU_CAP_NGX = 1u << 6,
	GPU_CAP_ALL = (1u << 7) - 1,
};

/* Upper bounds on what an image may ask for. */
#define GPU_MAX_IDS 256
#define GPU_MAX_REQUIRES 64

struct gpu_request {
	bool active;          /* false: unset, empty or void: no GPU work at all */
	bool all;             /* every GPU this process can open */
	struct strv ids;      /* explicit ids, deduplicated; empty with !all: "none" */
	unsigned caps;        /* GPU_CAP_* */
	struct strv requires; /* NVIDIA_REQUIRE_* expressions (+ legacy cuda>=) */
	bool disable_require;
	/* NVIDIA_MIG_CONFIG_DEVICES / NVIDIA_MIG_MONITOR_DEVICES=all: the
	 * global MIG config / monitor capability (gpu.md §1.6). */
	bool mig_config, mig_monitor;
	/* NVIDIA_IMEX_CHANNELS: channel numbers, or every channel. */
	struct strv imex;
	bool imex_all;
};

/* IMEX channel numbers are below this (the driver's default count, 2048,
 * with room to grow). */
#define GPU_MAX_IMEX_CHANNEL 65535

/* Look NAME up in two KEY=VALUE vectors: the last entry in first wins over
 * any in second (the host's NVIDIA_* win over the image's, as in enroot). */
const char *gpu_env_get(char *const *first, char *const *second, const char *name);

/* The gate of the start path, as enroot's hook: NVIDIA_VISIBLE_DEVICES set
 * and not empty (a legacy CUDA image without it gets no GPU work at start,
 * although gpu_request_parse() alone would give it every GPU). Cheap: two
 * scans of the environments. */
bool gpu_requested(char *const *host_env, char *const *image_env);

/* Parse the request. Errors name the variable and the valid words. */
int gpu_request_parse(char *const *host_env, char *const *image_env, struct gpu_request *ret, struct error *err);
void gpu_request_done(struct gpu_request *r);

/* "compute,utility" for messages and plans; buf of at least 64 bytes. */
const char *gpu_caps_str(unsigned caps, char *buf, size_t len);

#endif
