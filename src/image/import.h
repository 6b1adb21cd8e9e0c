/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa import docker://...`: registry -> verified layer cache -> one
 * squashfs, with enroot's image format files on top. */
#ifndef CAPSA_IMAGE_IMPORT_H
#define CAPSA_IMAGE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/error.h"

/* Where an import stands, for a progress display. */
struct import_progress {
	size_t n_layers;
	const struct layer_progress {
		const char *digest;
		uint64_t size;
		uint64_t downloaded; /* == size once cached */
		uint64_t merged;     /* compressed bytes read by the merge */
	} *layers;
};

struct import_opts {
	const char *uri;
	const char *output; /* NULL: enroot's default name in the cwd */
	const char *arch;   /* NULL: this machine's */
	bool store;         /* into the image store (see image_store.h), not output */
	/* With store: the manifest digest is known (from the step's first node),
	 * so the registry is not asked; the image is taken from adopt (a file
	 * received from that node) or must be stored already. */
	const char *digest;
	const char *adopt;
	/* Progress lines ("Fetching image manifest"), printed by the CLI. */
	void (*info)(const char *msg, void *arg);
	void *info_arg;
	/* Optional: called often while layers download and merge. */
	void (*progress)(const struct import_progress *p, void *arg);
	void *progress_arg;
};

/* On success *ret_output is the absolute path of the new image. With
 * o->store, the stored image of the reference's manifest digest: imported
 * only when missing; when the registry is unreachable (and STORE_OFFLINE),
 * the image last stored for that tag, with a warning. */
int image_import(const struct config *cfg, const struct import_opts *o, char **ret_output, struct error *err);

/* `capsa digest`. */
int image_digest(const struct config *cfg, const char *uri, const char *arch, char **ret, struct error *err);

#endif
