/* SPDX-License-Identifier: Apache-2.0 */
/* Starting a squashfs image without `create`: squashfuse for the image and a
 * kernel overlayfs with a tmpfs upper, all inside the user namespace. */
#ifndef CAPSA_RUNTIME_IMAGE_MOUNT_H
#define CAPSA_RUNTIME_IMAGE_MOUNT_H

#include "util/error.h"

/* Mount image under runtime_dir; *ret_root is the overlay mount point. The
 * squashfuse daemon is our child with PDEATHSIG, so it dies with the container. */
int image_mount(const char *image, const char *runtime_dir, char **ret_root, struct error *err);

#endif
