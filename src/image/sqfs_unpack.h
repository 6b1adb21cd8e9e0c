/* SPDX-License-Identifier: Apache-2.0 */
/* Squashfs images: a cheap probe, and in-process extraction with libsquashfs
 * that never writes outside the destination directory. */
#ifndef CAPSA_IMAGE_SQFS_UNPACK_H
#define CAPSA_IMAGE_SQFS_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include <sqfs/predef.h>

#include "util/error.h"

/* 0 if path is a regular file holding a squashfs 4.0 superblock whose
 * bytes_used fits in the file and whose compressor libsquashfs can decode.
 * Reads the superblock (and compressor options) only. Otherwise -1 with
 * "invalid image format: ..." in err; err->code is ENOTSUP when only the
 * compressor is the problem (lzo: Debian's libsquashfs lacks it). */
int sqfs_image_probe(const char *path, struct error *err);

/* Extract the whole image into the existing, empty directory dst_dirfd (not
 * O_PATH: its mode and mtime become the image root's at the end).
 * Files are owned by the caller; modes (with setuid/setgid/sticky where the
 * kernel allows), mtimes, symlinks, hard links, FIFOs, sockets and user.*
 * xattrs are restored; device nodes are skipped. Directories stay 0700 while
 * they are filled and get their final mode last, deepest first.
 * On error -1 and err is set; what was already extracted is left in place
 * for the caller to remove. */
int sqfs_unpack(const char *image, int dst_dirfd, struct error *err);

/* Shared with sqfs_pack.c. A sqfs_file_t over fd, which it owns (closed by
 * sqfs_destroy()). Reads past size fail with SQFS_ERROR_OUT_OF_BOUNDS, so an
 * offset taken from a corrupt image can never read stale or unrelated data. */
sqfs_file_t *sqfs_image_file_new(int fd, bool writable, uint64_t size);

/* A short lowercase description of a negative SQFS_ERROR code. */
const char *sqfs_image_strerror(int code);

#endif
