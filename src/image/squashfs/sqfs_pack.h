/* SPDX-License-Identifier: Apache-2.0 */
/* Write a directory tree to a squashfs image in-process with libsquashfs,
 * as `mksquashfs DIR OUT -all-root` would. */
#ifndef CAPSA_IMAGE_SQFS_PACK_H
#define CAPSA_IMAGE_SQFS_PACK_H

#include <stdbool.h>
#include <sys/stat.h>

#include "util/error.h"

struct sqfs_pack_opts {
	/* "zstd" (default), "gzip", "xz", "lz4"; "lzo" only if libsquashfs has it. */
	const char *compressor;
	/* 0: the compressor's default (3 for zstd, 9 for gzip, 6 for xz). */
	int level;
	/* 0: 128 KiB. A power of two from 4 KiB to 1 MiB. */
	unsigned block_size;
	/* -noD: file data stored uncompressed (metadata still compressed). */
	bool no_data_compression;
	/* Return true to leave out an entry (and, for a directory, all below it).
	 * relpath has no leading slash ("etc/passwd"); st is from lstat. */
	bool (*exclude)(const char *relpath, const struct stat *st, void *arg);
	void *exclude_arg;
};

/* Pack the tree at src_dirfd into out_path. Every inode is owned by 0:0;
 * modes, mtimes, symlinks, hard links (shared inodes), FIFOs, sockets,
 * device nodes and user.* xattrs are kept. SOURCE_DATE_EPOCH, when set,
 * replaces every mtime and the superblock time. opts may be NULL.
 * The image is written to a 0600 temporary file next to out_path and renamed
 * over it only when complete; on error the temporary file is removed, out_path
 * is untouched, and -1 is returned with err set. */
int sqfs_pack_dir(int src_dirfd, const char *out_path, const struct sqfs_pack_opts *opts, struct error *err);

#endif
