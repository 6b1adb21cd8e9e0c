/* SPDX-License-Identifier: Apache-2.0 */
/* Driver code (libcuda, NVML) runs in a forked child, never in capsa: a
 * crash or a hang there costs an error message, not the caller (the start
 * path, doctor). The child answers over a pipe within a time limit. It
 * keeps capsa's uid, which is already the caller's (libnvidia-container
 * drops from root to the caller or nobody; capsa never runs setuid). */
#ifndef CAPSA_GPU_HELPER_H
#define CAPSA_GPU_HELPER_H

#include <stddef.h>

#include "util/error.h"

/* Runs in the child: write the answer to fd, then return (the child then
 * _exits; the return value is its exit status). */
typedef int (*gpu_helper_fn)(void *arg, int fd);

/* Run fn in a child with stdin and stdout on /dev/null; read at most len
 * bytes of its answer into buf until it closes the pipe, for at most
 * timeout_ms in all, then reap it (killed on timeout). what names the
 * helper in errors ("NVML (/usr/lib/.../libnvidia-ml.so.550.54.14)").
 * *ret_n: the bytes read; an exit status other than 0 is an error. */
int gpu_helper_run(gpu_helper_fn fn, void *arg, void *buf, size_t len, size_t *ret_n, int timeout_ms,
		   const char *what, struct error *err);

#endif
