/* SPDX-License-Identifier: Apache-2.0 */
/* The driver version and the GPUs, from /proc/driver/nvidia (no NVML in
 * this slice, so no arch, brand or MIG). Parsers are pure; the loader
 * reads under a proc root that tests point at a fixture. */
#ifndef CAPSA_GPU_INVENTORY_H
#define CAPSA_GPU_INVENTORY_H

#include <stddef.h>

#include "util/error.h"

#define GPU_MAX_GPUS 64
#define GPU_PROC_MAX_FILE (64 * 1024)

struct gpu_info {
	char dir[32];   /* the directory name under gpus/, as the driver wrote it */
	char busid[32]; /* normalised "%08x:%02x:%02x.%x", NVML's form */
	char uuid[96];  /* "GPU-..." */
	char model[96];
	unsigned minor; /* /dev/nvidia<minor>: not the index */
};

struct gpu_inventory {
	char rm[32]; /* kernel module version, e.g. "550.54.14" */
	struct gpu_info *gpus; /* in PCI order: index i is NVML's index i */
	size_t n;
	int major_nvidia; /* char major of nvidiactl, nvidiaN, modeset; -1: unknown */
	int major_uvm;    /* of nvidia-uvm(-tools), dynamic; -1: unknown */
};

/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  <date>". */
int gpu_parse_version(const char *buf, char *rm, size_t len, struct error *err);
/* One gpus/<busid>/information file. */
int gpu_parse_information(const char *buf, const char *dir, struct gpu_info *ret, struct error *err);
/* Normalise a PCI bus id ("3b:00.0", "0000:3b:00.0") to NVML's form. */
int gpu_normalise_busid(const char *in, char *out, size_t len);

/* The majors of "nvidia-frontend" (or "nvidia") and "nvidia-uvm" in the
 * character devices of /proc/devices; -1 when not listed. */
void gpu_parse_devices(const char *buf, int *ret_nvidia, int *ret_uvm);

/* Read proc_root/driver/nvidia/{version,gpus/} and proc_root/devices. */
int gpu_inventory_load(const char *proc_root, struct gpu_inventory *ret, struct error *err);
void gpu_inventory_done(struct gpu_inventory *inv);

#endif
