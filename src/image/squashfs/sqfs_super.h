/* SPDX-License-Identifier: Apache-2.0 */
/* The squashfs superblock checked without libsquashfs: what `start` needs
 * to accept an image for squashfuse, on a path that maps no image library. */
#ifndef CAPSA_IMAGE_SQFS_SUPER_H
#define CAPSA_IMAGE_SQFS_SUPER_H

#include <stdint.h>

#include "util/error.h"

/* A regular file holding, at offset, a squashfs 4.0 superblock with a known
 * compressor, a valid block size and a bytes_used that fits the file.
 * Otherwise -1 with "invalid image format: ..." in err, as sqfs_image_open()
 * words it. */
int sqfs_super_check(const char *path, uint64_t offset, struct error *err);

#endif
