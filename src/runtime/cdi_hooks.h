/* SPDX-License-Identifier: Apache-2.0 */
/* The NVIDIA CDI hooks, done natively (hooks/cdi_nvidia.c). */
#ifndef CAPSA_RUNTIME_CDI_HOOKS_H
#define CAPSA_RUNTIME_CDI_HOOKS_H

#include "runtime/cdi.h"
#include "runtime/start.h"

/* Do what the spec's hook asks, or refuse it with an error naming it. */
int cdi_hook_native(struct start_ctx *ctx, const struct cdi_hook *h, struct error *err);

#endif
