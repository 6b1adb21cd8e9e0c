/* SPDX-License-Identifier: Apache-2.0 */
/* Running a bundle (see image/bundle.h): what `capsa __bundle-run` does
 * once the sh header has unpacked the runtime payload. */
#ifndef CAPSA_RUNTIME_BUNDLE_RUN_H
#define CAPSA_RUNTIME_BUNDLE_RUN_H

#include <stdint.h>

#include "image/squashfs/sqfs_unpack.h"
#include "util/error.h"
#include "util/strv.h"

/* The header's settings, passed on by the header itself. */
struct bundle_info {
	const char *path;        /* the .run file, absolute */
	const char *runtime_dir; /* the unpacked runtime payload */
	const char *target, *description, *compression, *runtime_version;
	const char *image_sha256; /* "0": not recorded */
	uint64_t uncompressed_kb, image_offset, image_size;
};

/* The image payload is complete and, when recorded, has its sha256. */
int bundle_check_image(const struct bundle_info *b, struct error *err);

/* Point the configuration at the bundle's (the host's /etc/capsa and user
 * configuration are not used) and apply its -a settings. Call before
 * config_load(). */
int bundle_apply_environment(const struct bundle_info *b, struct error *err);

/* The target resolved against the working directory. */
char *bundle_target_path(const struct bundle_info *b);

/* The sibling runtime directory of an absolute target: DIR/.NAME. */
char *bundle_runtime_dir(const char *target);

/* -k/-x: create target (it must not exist) 0700 with a sibling .NAME
 * runtime directory and extract the image into it; removed on failure. */
int bundle_extract(const struct bundle_info *b, const char *target, const struct sqfs_unpack_opts *progress,
		   struct error *err);

/* Fork a process that removes paths once the caller (which goes on to
 * become the container) has exited. */
int bundle_spawn_reaper(const struct strv *paths, struct error *err);

#endif
