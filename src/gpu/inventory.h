/* SPDX-License-Identifier: Apache-2.0 */
/* The driver version and the GPUs, from /proc/driver/nvidia; NVML (nvml.c)
 * adds arch, brand and MIG when a request needs them. Parsers are pure;
 * the loader reads under a proc root that tests point at a fixture. */
#ifndef CAPSA_GPU_INVENTORY_H
#define CAPSA_GPU_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define GPU_MAX_GPUS 64
#define GPU_PROC_MAX_FILE (64 * 1024)
/* NVML allows 7 MIG devices per GPU (A100, H100); room for one more. */
#define GPU_MAX_MIG 8

/* A MIG device: a compute instance (ci) of a GPU instance (gi). */
struct gpu_mig {
	char uuid[96];  /* "MIG-..." */
	unsigned index; /* nvmlDeviceGetMigDeviceHandleByIndex's: "<gpu>:<index>" */
	unsigned gi, ci;
};

struct gpu_info {
	char dir[32];   /* the directory name under gpus/, as the driver wrote it */
	char busid[32]; /* normalised "%08x:%02x:%02x.%x", NVML's form */
	char uuid[96];  /* "GPU-..." */
	char model[96];
	unsigned minor; /* /dev/nvidia<minor>: not the index */
	/* From NVML, when it was loaded and saw this GPU (nvml set). */
	bool nvml;
	char arch[16];  /* CUDA compute capability, "8.0" */
	char brand[32]; /* the toolkit's name of nvmlBrandType, "Tesla" */
	bool mig_capable, mig_enabled;
	struct gpu_mig mig[GPU_MAX_MIG];
	unsigned n_mig;
};

struct gpu_inventory {
	char rm[32]; /* kernel module version, e.g. "550.54.14" */
	struct gpu_info *gpus; /* in PCI order: index i is NVML's index i */
	size_t n;
	int major_nvidia; /* char major of nvidiactl, nvidiaN, modeset; -1: unknown */
	int major_uvm;    /* of nvidia-uvm(-tools), dynamic; -1: unknown */
	int major_caps;   /* of /dev/nvidia-caps/nvidia-cap<m> (MIG), -1: unknown */
	int major_imex;   /* of /dev/nvidia-caps-imex-channels/channel<n> */
	bool nvml;        /* NVML was loaded: the GPUs' NVML fields are known */
	char nvml_driver[32]; /* NVML's driver version, "" without NVML */
};

#define GPU_INVENTORY_INIT {{0}, NULL, 0, -1, -1, -1, -1, false, {0}}

/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  <date>". */
int gpu_parse_version(const char *buf, char *rm, size_t len, struct error *err);
/* One gpus/<busid>/information file. */
int gpu_parse_information(const char *buf, const char *dir, struct gpu_info *ret, struct error *err);
/* Normalise a PCI bus id ("3b:00.0", "0000:3b:00.0") to NVML's form. */
int gpu_normalise_busid(const char *in, char *out, size_t len);

/* The majors of "nvidia-frontend" (or "nvidia") and "nvidia-uvm" in the
 * character devices of /proc/devices; -1 when not listed. */
void gpu_parse_devices(const char *buf, int *ret_nvidia, int *ret_uvm);
/* The major of one character device name of /proc/devices, -1 if absent. */
int gpu_parse_device_major(const char *buf, const char *name);

/* Read proc_root/driver/nvidia/{version,gpus/} and proc_root/devices. */
int gpu_inventory_load(const char *proc_root, struct gpu_inventory *ret, struct error *err);
void gpu_inventory_done(struct gpu_inventory *inv);

#endif
