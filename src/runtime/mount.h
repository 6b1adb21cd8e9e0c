/* SPDX-License-Identifier: Apache-2.0 */
/* Apply enroot-style mount entries inside a container root (enroot-mount). */
#ifndef CAPSA_RUNTIME_MOUNT_H
#define CAPSA_RUNTIME_MOUNT_H

#include <stdbool.h>

#include "config/fstab.h"
#include "util/error.h"

struct mount_ctx {
	int rootfd;   /* the container root (host side, before pivot_root) */
	bool in_userns; /* copy locked flags on bind remounts */
};

/* Mount every entry whose pass equals pass, in order. */
int mount_apply_list(const struct mount_ctx *ctx, const struct mount_list *list, int pass, struct error *err);
int mount_apply_entry(const struct mount_ctx *ctx, const struct mount_entry *e, struct error *err);

/* Read-only (or not) bind remount of a mount point, keeping locked flags. */
int mount_remount_bind(const char *path, unsigned long flags, bool in_userns, struct error *err);

#endif
