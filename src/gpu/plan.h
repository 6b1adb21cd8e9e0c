/* SPDX-License-Identifier: Apache-2.0 */
/* The injection plan (gpu.md §2, §6): which GPUs, which host files go where
 * in the container, which links. Everything here is pure: host discovery
 * (driver.c) feeds it facts, the executor (inject.c) applies the result. */
#ifndef CAPSA_GPU_PLAN_H
#define CAPSA_GPU_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "gpu/inventory.h"
#include "gpu/request.h"
#include "util/error.h"
#include "util/strv.h"

/* GPU_ITEM_CAP: a capability node (MIG, IMEX), opened read-only as the
 * driver's user space opens it (they are 0444 or root-only 0400). */
/* GPU_ITEM_DEVDIR: a directory of device nodes (/dev/nvidia-caps for MIG
 * config, whose instances' nodes appear as they are created). */
enum gpu_item_kind {
	GPU_ITEM_DEV,
	GPU_ITEM_LIB,
	GPU_ITEM_BIN,
	GPU_ITEM_FW,
	GPU_ITEM_IPC,
	GPU_ITEM_CONF,
	GPU_ITEM_CAP,
	GPU_ITEM_DEVDIR
};

struct gpu_item {
	enum gpu_item_kind kind;
	char *src; /* host path */
	char *dst; /* container path */
	bool optional; /* missing or failing: a warning, not an error */
	int major;     /* devices: the expected major, -1 when unknown */
	/* The variable that asked for a root-only capability node (MIG
	 * config/monitor): a denied open says so. NULL for the others. */
	const char *need;
};

struct gpu_link {
	char *dir, *name, *target; /* symlinkat(target, <dir in the rootfs>, name) */
};

/* A selected MIG device: inventory index of its GPU, and the device. */
struct gpu_plan_mig {
	size_t gpu;
	struct gpu_mig mig;
};

struct gpu_plan {
	struct gpu_item *items;
	size_t n_items, cap_items;
	struct gpu_link *links;
	size_t n_links, cap_links;
	char *libdir;            /* container library directory */
	char *libdir32;          /* its 32-bit twin, with compat32 only (else NULL) */
	char rm[32];             /* the driver (kernel module) version */
	bool cuda_compat;        /* use the image's newer CUDA compat libraries */
	size_t *gpus;            /* selected inventory indices (MIG devices' parents too) */
	size_t n_gpus;
	struct gpu_plan_mig *migs; /* selected MIG devices */
	size_t n_migs;
	/* Files or directories under /proc/driver/nvidia bound read-only into
	 * the container's masked copy ("capabilities/gpu0/mig/gi1/access"). */
	struct strv proc_binds;
	struct strv warnings;
};

/* A library found through the ld cache: its SONAME and resolved host file. */
struct gpu_lib_candidate {
	const char *soname;
	const char *path;
};

/* A MIG device id: "MIG-<uuid>" or "<gpu index>:<mig index>". */
bool gpu_is_mig_id(const char *id);

/* The selected GPUs and MIG devices of the request into p->gpus and
 * p->migs (ids by UUID, PCI bus id, index, MIG UUID, "g:m"); `all` takes
 * every GPU and every MIG device of the inventory. */
int gpu_select(const struct gpu_request *req, const struct gpu_inventory *inv, struct gpu_plan *p,
	       struct error *err);

/* Check every requirement against every selected GPU (once without one).
 * cuda: the driver's CUDA version ("12.4"), NULL when unknown. */
int gpu_check_requires(const struct gpu_request *req, const struct gpu_inventory *inv, const char *cuda,
		       const size_t *gpus, size_t n_gpus, struct error *err);
/* The first requirement that needs the selected GPUs' arch or brand from
 * NVML (none is known yet) to decide, or NULL. */
const char *gpu_requires_need_nvml(const struct gpu_request *req, const struct gpu_inventory *inv, const char *cuda,
				   size_t n_gpus);

/* Does soname belong to a library stem wanted for caps? */
bool gpu_lib_wanted(const char *soname, unsigned caps);
/* Does the resolved library file name end in ".<rm>"? */
bool gpu_lib_of_version(const char *path, const char *rm);
/* Binaries wanted for caps, NULL-terminated list in *ret (static). */
size_t gpu_bins_wanted(unsigned caps, const char **ret, size_t max);

/* "/usr/lib/x86_64-linux-gnu" with /etc/debian_version, else "/usr/lib64". */
const char *gpu_libdir(bool debian);
/* The 32-bit directory (gpu.md §2.6): Debian's multiarch one, else
 * /usr/lib32 if it exists, else /usr/lib if it exists and is not /usr/lib64,
 * else /usr/lib32 (created). */
const char *gpu_libdir32(bool debian, bool has_lib32, bool has_distinct_lib);

/* Libraries whose resolved name ends in ".<rm>", one per stem, the later
 * candidate winning; adds their mounts into libdir, SONAME and extra .so
 * links. */
void gpu_plan_libs(struct gpu_plan *p, const struct gpu_lib_candidate *c, size_t n, const char *rm,
		   unsigned caps, const char *libdir);
/* Device nodes for the request's capabilities and the selected GPUs. */
void gpu_plan_devices(struct gpu_plan *p, const struct gpu_inventory *inv, unsigned caps, const char *dev_root);

void gpu_plan_add(struct gpu_plan *p, enum gpu_item_kind kind, const char *src, const char *dst, bool optional);
void gpu_plan_link(struct gpu_plan *p, const char *dir, const char *name, const char *target);
void gpu_plan_done(struct gpu_plan *p);

#endif
