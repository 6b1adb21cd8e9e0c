/* SPDX-License-Identifier: Apache-2.0 */
/* Registry JSON: OCI indexes / Docker manifest lists, OCI image manifests /
 * Docker schema 2 manifests and token responses. This is the only place that
 * parses JSON coming from a registry, so every bound lives here. */
#ifndef CAPSA_IMAGE_MANIFEST_H
#define CAPSA_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Bounds on what a registry may send (security.md §2, containers/image
 * iolimits): bodies are read at most this long, sizes are checked before use. */
#define MANIFEST_MAX_BYTES (4u << 20)
#define CONFIG_MAX_BYTES (8u << 20)
#define TOKEN_MAX_BYTES (64u << 10)
#define MANIFEST_MAX_LAYERS 1000
#define MANIFEST_MAX_ENTRIES 1000
#define LAYER_MAX_BYTES (1ull << 40)
#define INDEX_MAX_DEPTH 4

/* "sha256:" + 64 hex + NUL */
#define DIGEST_BUF 72

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

enum manifest_kind {
	MANIFEST_KIND_INDEX, /* OCI index or Docker manifest list */
	MANIFEST_KIND_IMAGE, /* OCI image manifest or Docker schema 2 */
};

enum layer_compression {
	LAYER_TAR,
	LAYER_GZIP,
	LAYER_ZSTD,
};

struct descriptor {
	char *media_type;
	char digest[DIGEST_BUF]; /* validated "sha256:<64 lowercase hex>" */
	uint64_t size;
};

struct layer {
	struct descriptor d;
	enum layer_compression compression;
	bool foreign; /* non-distributable; its `urls` are never used */
};

struct manifest {
	char *media_type;
	struct descriptor config;
	struct layer *layers; /* manifest order: the base layer first */
	size_t n_layers;
};

/* True for "sha256:" followed by exactly 64 lowercase hex digits; digests
 * go into URLs and cache paths, so nothing else is ever accepted. */
bool digest_valid(const char *s);

/* Tell an index from an image manifest, from the body's mediaType, else
 * from content_type (may be NULL), else from the body's shape. Rejects schema 1,
 * unknown types and a mediaType that contradicts a specific Content-Type. */
int manifest_kind(const char *body, size_t len, const char *content_type, enum manifest_kind *ret,
		  struct error *err);

/* Parse an image manifest; layers are checked for count, size, digest and
 * media type. */
int manifest_parse(const char *body, size_t len, struct manifest *ret, struct error *err);
void manifest_done(struct manifest *m);

/* Select the first index entry whose platform matches os/arch and variant.
 * variant NULL accepts any variant; arm64's default variant "v8" also accepts
 * entries without one. On no match, the error lists the available platforms. */
int index_select(const char *body, size_t len, const char *os, const char *arch, const char *variant,
		 struct descriptor *ret, struct error *err);
void descriptor_done(struct descriptor *d);

/* An OCI layout's index.json: the entry annotated with ref (ref.name), or
 * the only entry when ref is NULL. */
int index_find_ref(const char *body, size_t len, const char *ref, struct descriptor *ret, struct error *err);

/* Token endpoint answer: .token, else .access_token; expires_in defaults to
 * 60 s as the distribution token spec says. */
int token_response_parse(const char *body, size_t len, char **ret_token, long *ret_expires_in,
			 struct error *err);

#endif
