/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a squashfs image without `create`: squashfuse for the image and a
 * kernel overlayfs with a tmpfs upper, all inside the user namespace. */
#ifndef CAPSA_RUNTIME_IMAGE_MOUNT_H
#define CAPSA_RUNTIME_IMAGE_MOUNT_H

#include <stdint.h>

#include "util/error.h"

/* 0 if images can be mounted here (a usable /dev/fuse and squashfuse in the
 * PATH image_mount() uses), else -1 with the fix in err. */
int image_mount_check(struct error *err);
/* The squashfuse image_mount() runs (fixed paths, not PATH), or NULL. */
const char *image_mount_squashfuse(void);

/* Mount the image at offset of file image under runtime_dir; *ret_root is
 * the overlay mount point. The squashfuse daemon is our child with
 * PDEATHSIG, so it dies with the container. */
int image_mount(const char *image, uint64_t offset, const char *runtime_dir, char **ret_root, struct error *err);

#endif
