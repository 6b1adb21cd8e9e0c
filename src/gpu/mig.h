/* SPDX-License-Identifier: Apache-2.0 */
/* MIG (gpu.md §1.1, §2.2, §2.5): a MIG device is reached through its
 * parent's /dev/nvidia<minor> plus two capability nodes,
 * /dev/nvidia-caps/nvidia-cap<m> of its GPU instance's and its compute
 * instance's `access` capability. The driver lists their minors in
 * /proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<G>[/ci<C>]/access
 * ("DeviceFileMinor: m") and in /proc/driver/nvidia-caps/mig-minors
 * ("gpu<minor>/gi<G>/ci<C>/access m"); the global `config` and `monitor`
 * capabilities (capabilities/mig/{config,monitor}) let nvidia-smi create or
 * watch instances. Parsers are pure; the rest reads under a proc root. */
#ifndef CAPSA_GPU_MIG_H
#define CAPSA_GPU_MIG_H

#include <stdbool.h>
#include <stddef.h>

#include "gpu/inventory.h"
#include "gpu/plan.h"
#include "gpu/request.h"
#include "util/error.h"

/* Capability minors are below 2^20 (MINORBITS). */
#define GPU_MAX_CAP_MINOR ((1u << 20) - 1)

/* "DeviceFileMinor: N" of an access file; -1 without a valid one. */
int gpu_parse_cap_access(const char *buf, unsigned *ret_minor);
/* The minor of key ("config", "gpu0/gi1/ci0/access") in mig-minors; -1 if
 * not listed. */
int gpu_parse_mig_minors(const char *buf, const char *key, unsigned *ret_minor);

/* The minor of a capability: capabilities/<capfile> (under
 * driver/nvidia), else the mig-minors line of key. */
int gpu_mig_cap_minor(const char *proc_root, const char *capfile, const char *key, unsigned *ret_minor,
		      struct error *err);

/* The names of a MIG device's GPU-instance (ci false) or compute-instance
 * access capability: its file under capabilities/ and its mig-minors key. */
void gpu_mig_cap_names(unsigned gpu_minor, const struct gpu_mig *m, bool ci, char capfile[96], char key[96]);

/* The MIG devices the driver lists for the GPU of this minor (its gi/ci
 * directories under capabilities/), in gi, ci order: what `all` selects
 * when NVML is not loaded (no UUIDs then). Returns their number. */
unsigned gpu_mig_scan(const char *proc_root, unsigned gpu_minor, struct gpu_mig *ret, unsigned max);

/* The caps nodes and the /proc files of the plan's MIG devices, and with
 * NVIDIA_MIG_CONFIG/MONITOR_DEVICES the global caps (error if specific MIG
 * devices were asked for). */
int gpu_plan_mig(struct gpu_plan *p, const struct gpu_request *req, const struct gpu_inventory *inv,
		 const char *proc_root, const char *dev_root, struct error *err);

#endif
