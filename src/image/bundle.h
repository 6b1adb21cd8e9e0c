/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa bundle`: a squashfs image made into a self-running .run file.
 *
 * Layout (every part starts on a 4 KiB boundary):
 *   a POSIX sh header: the settings below, then src/image/bundle_header.sh;
 *   the runtime payload: a gzip tar of bin/capsa, etc/system/{hooks.d,
 *     mounts.d,environ.d} (the building host's system configuration) and,
 *     with -a, etc/user/... and etc/config (its CAPSA_/ENROOT_ settings);
 *   the squashfs image, byte for byte, so that it can be started in place
 *     (squashfuse -o offset=) instead of being extracted on every run. */
#ifndef CAPSA_IMAGE_BUNDLE_H
#define CAPSA_IMAGE_BUNDLE_H

#include <stdbool.h>

#include "config/config.h"
#include "util/error.h"

struct bundle_opts {
	const char *image;       /* IMAGE.sqsh */
	const char *output;      /* NULL: basename(IMAGE .sqsh).run */
	const char *target;      /* NULL: basename(OUTPUT .run) */
	const char *description; /* NULL: "none" */
	bool all;                /* -a: user configuration and settings too */
	bool checksum;           /* -c: sha256 of each payload, checked on every run */
	bool force;              /* -f: replace an existing output */
	const char *launcher;    /* the capsa binary to carry, an absolute path */
};

/* Write the bundle to a temporary name beside the output and rename it into
 * place; *ret_output is the path written. */
int bundle_build(const struct config *cfg, const struct bundle_opts *o, char **ret_output, struct error *err);

#endif
