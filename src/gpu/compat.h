/* SPDX-License-Identifier: Apache-2.0 */
/* CUDA forward compatibility, the toolkit's "ldconfig" mode (gpu.md §2.9):
 * when the image's /usr/local/cuda/compat has a libcuda newer than the
 * host driver (by major version), its directory goes first in the
 * container's ld cache. Nothing is mounted from the image. */
#ifndef CAPSA_GPU_COMPAT_H
#define CAPSA_GPU_COMPAT_H

#include <stdbool.h>

#include "util/error.h"

#define GPU_COMPAT_DIR "/usr/local/cuda/compat"
#define GPU_COMPAT_CONF "/etc/ld.so.conf.d/000-capsa-cuda-compat.conf"

/* Is name a libcuda.so.<ver> whose major is greater than rm's? (pure) */
bool gpu_compat_newer(const char *name, const char *rm);

/* Does the image's compat directory hold a libcuda newer than rm (a
 * driver version such as 550.54.14)? */
bool gpu_compat_available(int rootfd, const char *rm);

/* 1 when the image's compat directory is to be used (the drop-in file
 * listing it was written), 0 when not or !enabled (a drop-in left by an
 * earlier start is removed), -1 on error. */
int gpu_cuda_compat(int rootfd, const char *rm, bool enabled, struct error *err);

#endif
