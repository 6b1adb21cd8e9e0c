/* SPDX-License-Identifier: Apache-2.0 */
/* The executor: applies a plan inside a container root before pivot_root.
 * Bind mounts only (read-only, nosuid), fd-relative and confined to the
 * root; never mknod, never a device cgroup or BPF (gpu.md §3.6). */
#ifndef CAPSA_GPU_INJECT_H
#define CAPSA_GPU_INJECT_H

#include <stdbool.h>
#include <sys/stat.h>

#include "gpu/plan.h"

struct gpu_inject_ctx {
	int rootfd;     /* O_PATH fd of the container root */
	bool in_userns; /* keep locked mount flags */
	void (*warn)(const char *msg);
};

/* Open a device node once, as the workload will (O_RDWR): a denial becomes
 * one message naming the node, the errno and the likely cause. *ret_fd is
 * an O_PATH fd of the validated character device (of that major unless -1). */
int gpu_open_device(const char *path, int major, int *ret_fd, struct error *err);
/* The same with the probe's open flags (O_RDONLY for capability nodes). */
int gpu_open_device_as(const char *path, int major, int oflags, int *ret_fd, struct error *err);

/* Explain errno for path (st may be NULL) in err (err->code = errnum);
 * returns -1. */
int gpu_device_error(const char *path, const struct stat *st, int errnum, struct error *err);

/* A device node missing from the container's /dev when that /dev is the
 * host's: an error advising CAPSA_RESTRICT_DEV=y or the dev root setting
 * (never a file created in the host's /dev). */
int gpu_check_dev_target(int rootfd, const char *dst, const char *setting, struct error *err);

int gpu_inject(const struct gpu_inject_ctx *ctx, const struct gpu_plan *plan, struct error *err);

/* Run the image's own ldconfig (none: nothing to do) on dirs (NULL-ended, at
 * most GPU_LDCONFIG_MAX_DIRS; the first come first in the cache), chrooted
 * into rootfd, with an empty environment (never the workload's LD_PRELOAD,
 * CVE-2025-23266), no capability and a CPU limit. */
#define GPU_LDCONFIG_MAX_DIRS 64
int gpu_ldconfig(int rootfd, char *const dirs[], struct error *err);

#endif
