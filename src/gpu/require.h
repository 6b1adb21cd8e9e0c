/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA_REQUIRE_* constraints (gpu.md §1.3): OR-terms separated by spaces,
 * AND-conditions by commas, each `name op value`. Pure. */
#ifndef CAPSA_GPU_REQUIRE_H
#define CAPSA_GPU_REQUIRE_H

#include "util/error.h"

/* What the expression is checked against; NULL means unknown, and an
 * unknown value satisfies every condition on it. */
struct gpu_require_ctx {
	const char *cuda;   /* "12.4" */
	const char *driver; /* "550.54.14" */
	const char *arch;   /* "8.0", per GPU */
	const char *brand;  /* "Tesla", per GPU */
};

/* 1: satisfied; 0: not, err says "unsatisfied condition: <first OR-term>";
 * -1: malformed, err says "invalid expression '<expr>': <why>". */
int gpu_require_check(const char *expr, const struct gpu_require_ctx *c, struct error *err);

/* Numeric, component-wise; "12.4" == "12.4.0". Only [0-9.] is valid. */
int gpu_version_cmp(const char *a, const char *b, int *ret);

#endif
