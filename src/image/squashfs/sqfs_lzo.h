/* SPDX-License-Identifier: Apache-2.0 */
/* A libsquashfs decompressor for lzo images, backed by liblzo2 loaded on
 * first use. */
#ifndef CAPSA_IMAGE_SQFS_LZO_H
#define CAPSA_IMAGE_SQFS_LZO_H

#include <sqfs/predef.h>

#include "util/error.h"

/* A decompress-only sqfs_compressor_t (destroy with sqfs_destroy()). Fails
 * with a message naming the package when liblzo2 cannot be loaded. */
int sqfs_lzo_reader_new(sqfs_u32 block_size, sqfs_compressor_t **ret, struct error *err);

#endif
