/* SPDX-License-Identifier: Apache-2.0 */
/* The NVML inventory provider (gpu.md §2.1): what /proc does not say (CUDA
 * compute capability, brand, MIG mode and MIG devices) from the driver
 * root's libnvidia-ml.so.1, found through its ld cache. Loaded only for a
 * request that needs it, in a helper process (gpu/helper.h) that answers
 * with a fixed-size record, so that NVML's code never runs in capsa. */
#ifndef CAPSA_GPU_NVML_H
#define CAPSA_GPU_NVML_H

#include <stddef.h>

#include "gpu/driver.h"
#include "gpu/inventory.h"
#include "gpu/request.h"
#include "util/error.h"

#define GPU_NVML_TIMEOUT_MS 5000

/* Why req needs NVML to select its devices, written into buf ("the MIG
 * device 'MIG-...' (NVIDIA_VISIBLE_DEVICES)"); NULL when it does not.
 * Requirements ask for it later, only when their outcome hangs on it. */
const char *gpu_nvml_needed(const struct gpu_request *req, char *buf, size_t len);

/* The toolkit's name of an nvmlBrandType value ("Tesla"; "Unknown" for
 * values it does not know). Pure. */
const char *gpu_nvml_brand_name(int brand);

/* Load NVML and add its facts to the GPUs of inv, matched by PCI bus id. */
int gpu_nvml_load(const struct gpu_host *host, struct gpu_inventory *inv, struct error *err);
/* The same once for need (what needs it, for the error: "the requirement
 * 'arch>=8.0' (NVIDIA_REQUIRE_*)"); a no-op when inv has NVML's facts. */
int gpu_nvml_load_for(const struct gpu_host *host, struct gpu_inventory *inv, const char *need, struct error *err);

/* The /proc inventory, and NVML's facts when req needs them; an NVML that
 * cannot be loaded is then an error saying which part of req needed it. */
int gpu_inventory_for(const struct gpu_host *host, const struct gpu_request *req, struct gpu_inventory *inv,
		      struct error *err);

#endif
