/* SPDX-License-Identifier: Apache-2.0 */
/* The NVIDIA CDI hooks, done natively (hooks/cdi_nvidia.c). */
#ifndef CAPSA_RUNTIME_CDI_HOOKS_H
#define CAPSA_RUNTIME_CDI_HOOKS_H

#include "gpu/cdi.h"
#include "runtime/start.h"

/* Apply the container edits of the CDI devices named (fully-qualified, see
 * cdi_is_qualified_name, or VENDOR/CLASS=all): for --device, and for the
 * GPU hook's NVIDIA_VISIBLE_DEVICES entries such as nvidia.com/gpu=0. Runs
 * as a built-in hook does: in the container's mount namespace, before
 * pivot_root. Errors name the spec file and the device. */
int cdi_apply(struct start_ctx *ctx, const struct strv *devices, struct error *err);

/* Do what the spec's hook asks, or refuse it with an error naming it. */
int cdi_hook_native(struct start_ctx *ctx, const struct cdi_hook *h, struct error *err);

#endif
