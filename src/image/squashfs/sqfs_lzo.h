/* SPDX-License-Identifier: Apache-2.0 */
/* A libsquashfs compressor object for lzo images, backed by liblzo2 loaded
 * on first use. */
#ifndef CAPSA_IMAGE_SQFS_LZO_H
#define CAPSA_IMAGE_SQFS_LZO_H

#include <stdbool.h>

#include <sqfs/predef.h>

#include "util/error.h"

/* An sqfs_compressor_t that decompresses, or with compress compresses
 * (lzo1x_999 level 8, as mksquashfs); destroy with sqfs_destroy().  Fails
 * with a message naming the package when liblzo2 cannot be loaded. */
int sqfs_lzo_new(sqfs_u32 block_size, bool compress, sqfs_compressor_t **ret, struct error *err);

#endif
