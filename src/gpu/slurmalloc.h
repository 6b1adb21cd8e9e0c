/* SPDX-License-Identifier: Apache-2.0 */
/* The GPUs a Slurm job or step was given (gpu.md §3.6: under Slurm, `all`
 * means the GPUs of this job). Slurm exports them as SLURM_STEP_GPUS (a
 * step) or SLURM_JOB_GPUS (the batch script): comma-separated numbers that
 * slurmd takes from the digits of each gres.conf File= name (/dev/nvidiaN:
 * N, the device minor), not NVML indices. Pure. */
#ifndef CAPSA_GPU_SLURMALLOC_H
#define CAPSA_GPU_SLURMALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "gpu/inventory.h"
#include "gpu/plan.h"
#include "util/error.h"

/* Minors are 0..255 for nvidiaN (255 is nvidiactl). */
#define GPU_SLURM_MAX_MINOR 254

struct gpu_slurm_alloc {
	bool active;         /* under Slurm, and Slurm named the GPUs */
	const char *var;     /* "SLURM_STEP_GPUS" or "SLURM_JOB_GPUS" */
	const char *value;   /* its value, as given (points into env) */
	bool minor[GPU_SLURM_MAX_MINOR + 1];
};

/* Read env (KEY=VALUE, NULL-terminated; the caller's environment). Not
 * active without SLURM_JOB_ID or when neither GPU variable is set and not
 * empty. Accepts "0,2" and ranges "0-3"; anything else is an error naming
 * the variable. */
int gpu_slurm_alloc_parse(char *const *env, struct gpu_slurm_alloc *ret, struct error *err);

static inline bool gpu_slurm_alloc_has(const struct gpu_slurm_alloc *a, unsigned minor)
{
	return !a->active || (minor <= GPU_SLURM_MAX_MINOR && a->minor[minor]);
}

/* `all` under Slurm: the job's GPUs even where every node is openable (no
 * ConstrainDevices); the others are dropped from inv. */
void gpu_slurm_keep_allocated(const struct gpu_slurm_alloc *alloc, struct gpu_inventory *inv);

/* Explicit ids name host GPUs (NVML sees them all without ConstrainDevices):
 * one outside the allocation is an error naming it, not a silently shared
 * GPU of another job. */
int gpu_slurm_check_plan(const struct gpu_slurm_alloc *alloc, const struct gpu_inventory *inv,
			 const struct gpu_plan *plan, struct error *err);

#endif
