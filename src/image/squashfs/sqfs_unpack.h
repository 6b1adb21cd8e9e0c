/* SPDX-License-Identifier: Apache-2.0 */
/* In-process squashfs extraction with libsquashfs that never writes outside
 * the destination directory. */
#ifndef CAPSA_IMAGE_SQFS_UNPACK_H
#define CAPSA_IMAGE_SQFS_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include "image/squashfs/sqfs_image.h"
#include "util/error.h"

struct sqfs_unpack_opts {
	uint64_t offset; /* where the image starts in the file */
	/* Called now and then with the image bytes read so far (of bytes_used). */
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *progress_arg;
	bool keep_setid; /* keep setuid/setgid bits of files (directories keep theirs) */
};

/* Extract the whole image (opts may be NULL) into the existing, empty
 * directory dst_dirfd (not O_PATH: its mode and mtime become the image
 * root's at the end).
 * Files are owned by the caller; modes (setuid/setgid of files only with
 * keep_setid), mtimes, symlinks, hard links, FIFOs, sockets and user.*
 * xattrs are restored; device nodes are skipped. Directories stay 0700 while
 * they are filled and get their final mode last, deepest first.
 * On error -1 and err is set; what was already extracted is left in place
 * for the caller to remove. */
int sqfs_unpack(const char *image, const struct sqfs_unpack_opts *opts, int dst_dirfd, struct error *err);

#endif
