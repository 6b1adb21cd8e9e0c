/* SPDX-License-Identifier: Apache-2.0 */
/* The driver's CUDA version for `cuda` requirements, without NVML: the
 * driver's libcuda answers cuDriverGetVersion() without touching a GPU. */
#ifndef CAPSA_GPU_CUDAVER_H
#define CAPSA_GPU_CUDAVER_H

#include <stddef.h>

#include "util/error.h"

/* "12.4" from 12040 (pure). */
void gpu_cuda_version_str(int v, char *out, size_t len);

/* dlopen() libcuda (a host path) in a child process, so that its code never
 * runs in capsa itself, with a time limit. */
int gpu_cuda_version(const char *libcuda, char *out, size_t len, struct error *err);

#endif
