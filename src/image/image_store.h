/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: imported images kept once per manifest digest under
 * $CAPSA_CACHE_PATH/images, so a repeated start of the same image costs one
 * manifest request and no import (`capsa import --store`, the Slurm plugin).
 *   images/sha256/HEX.sqsh   the squashfs of platform manifest sha256:HEX
 *   images/refs/KEY          "sha256:HEX REFERENCE", KEY = sha256 of the
 *                            reference and platform: the last digest seen
 *                            for a tag, for when the registry is unreachable */
#ifndef CAPSA_IMAGE_IMAGE_STORE_H
#define CAPSA_IMAGE_IMAGE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

struct image_store {
	char *path; /* .../images */
	int dirfd, imagesfd, refsfd;
};

int image_store_open(const char *cache_path, struct image_store *st, struct error *err);
void image_store_close(struct image_store *st);

/* The path of digest's image (which may not exist yet). */
char *image_store_path(const struct image_store *st, const char *digest);
/* Whether digest's image is stored (a regular file with a valid superblock). */
bool image_store_has(const struct image_store *st, const char *digest);

/* Takes the image file at path (digest's image received from another node,
 * e.g. by sbcast) into the store: renamed when on the same filesystem, else
 * copied; path is gone afterwards.  A digest already stored keeps its file. */
int image_store_adopt(const struct image_store *st, const char *digest, const char *path, struct error *err);

/* The digest last stored for ref ("docker://...", with the platform), or 0
 * with *ret NULL. */
int image_store_ref_get(const struct image_store *st, const char *ref, char **ret, struct error *err);
int image_store_ref_set(const struct image_store *st, const char *ref, const char *digest, struct error *err);

/* `cache list`: "sha256:HEX SIZE image" lines; `cache prune`: remove all
 * images and refs, adding the bytes to *freed. */
int image_store_list(const struct image_store *st, FILE *out, struct error *err);
int image_store_prune(const struct image_store *st, uint64_t *freed, struct error *err);

#endif
