/* SPDX-License-Identifier: Apache-2.0 */
/* CAPSA_SQUASH_OPTIONS: the mksquashfs options enroot sites set, mapped to
 * the in-process writer. Pure parser. */
#ifndef CAPSA_IMAGE_SQFS_OPTIONS_H
#define CAPSA_IMAGE_SQFS_OPTIONS_H

#include "image/squashfs/sqfs_pack.h"
#include "util/error.h"

/* Understands -comp NAME, -Xcompression-level N, -b SIZE[K|M] and -noD
 * (data blocks stored uncompressed, enroot's default "-comp lzo -noD");
 * options that only tune mksquashfs itself (-exit-on-error, -no-xattrs...)
 * are accepted and ignored. opts->compressor points into *ret_storage. */
int sqfs_parse_options(const char *text, struct sqfs_pack_opts *opts, char **ret_storage, struct error *err);

#endif
