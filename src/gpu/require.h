/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA_REQUIRE_* constraints (gpu.md §1.3): OR-terms separated by spaces,
 * AND-conditions by commas, each `name op value`. Pure. */
#ifndef CAPSA_GPU_REQUIRE_H
#define CAPSA_GPU_REQUIRE_H

#include <stdbool.h>

#include "util/error.h"

#define GPU_REQUIRE_MAX_LEN 4096

/* What the expression is checked against; NULL means unknown, and an
 * unknown value satisfies every condition on it. */
struct gpu_require_ctx {
	const char *cuda;   /* "12.4" */
	const char *driver; /* "550.54.14" */
	const char *arch;   /* "8.0", per GPU */
	const char *brand;  /* "Tesla", per GPU */
	/* Unknown arch and brand fail instead (to see whether they matter). */
	bool unknown_device_fails;
};

/* 1: satisfied; 0: not, err says "unsatisfied condition: <first OR-term>";
 * -1: malformed, err says "invalid expression '<expr>': <why>". */
int gpu_require_check(const char *expr, const struct gpu_require_ctx *c, struct error *err);

/* Does the outcome of expr hang on the GPU's arch or brand, which c does
 * not know? Then NVML must say (CUDA images' "cuda>=12.4 brand=tesla,..."
 * need it only on a driver too old for the first term). Pure; a malformed
 * expr is left to gpu_require_check() (false). */
bool gpu_require_needs_device(const char *expr, const struct gpu_require_ctx *c);

/* Numeric, component-wise; "12.4" == "12.4.0". Only [0-9.] is valid. */
int gpu_version_cmp(const char *a, const char *b, int *ret);

#endif
