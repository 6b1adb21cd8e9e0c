/* SPDX-License-Identifier: Apache-2.0 */
/* Squashfs images as libsquashfs sees them: opened at an offset (0 for a
 * plain .sqsh, past the header for a bundle) with every read bounded. */
#ifndef CAPSA_IMAGE_SQFS_IMAGE_H
#define CAPSA_IMAGE_SQFS_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqfs/predef.h>
#include <sqfs/super.h>

#include "util/error.h"

struct sqfs_image {
	sqfs_file_t *file;
	sqfs_compressor_t *cmp;
	sqfs_super_t super;
	uint64_t size; /* bytes from the offset to the end of the file */
};

/* Open the image that starts at byte offset of path: a regular file holding
 * a squashfs 4.0 superblock whose bytes_used fits, and a compressor
 * libsquashfs can decode (lzo through sqfs_lzo.c). Otherwise -1 with
 * "invalid image format: ..." in err. */
int sqfs_image_open(const char *path, uint64_t offset, struct sqfs_image *img, struct error *err);
void sqfs_image_close(struct sqfs_image *img);

/* sqfs_image_open() and close: reads the superblock and compressor options. */
int sqfs_image_probe(const char *path, uint64_t offset, struct error *err);

/* The total size of the regular files in the image (hard links counted
 * once per name), from the inode tables only. */
int sqfs_image_data_size(const char *path, uint64_t offset, uint64_t *ret_bytes, struct error *err);

/* A sqfs_file_t over fd, which it owns (closed by sqfs_destroy()), for the
 * size bytes from offset. Reads past size fail with SQFS_ERROR_OUT_OF_BOUNDS,
 * so an offset taken from a corrupt image can never read unrelated data. */
sqfs_file_t *sqfs_image_file_new(int fd, bool writable, uint64_t offset, uint64_t size);

/* A short lowercase description of a negative SQFS_ERROR code. */
const char *sqfs_image_strerror(int code);

#endif
