/* SPDX-License-Identifier: Apache-2.0 */
/* docker:// image references with enroot's grammar (enroot.md §4.1). */
#ifndef CAPSA_IMAGE_REFERENCE_H
#define CAPSA_IMAGE_REFERENCE_H

#include <stdbool.h>

#include "util/error.h"

#define DOCKER_HUB "registry-1.docker.io"

struct image_ref {
	char *user;     /* NULL when absent */
	char *registry; /* host[:port]; Docker Hub is registry-1.docker.io */
	char *image;    /* repository path, "library/" added for Docker Hub */
	char *tag;      /* "latest" when absent; NULL when a digest is given */
	char *digest;   /* "sha256:<hex>" or NULL */
};

/* Parse docker://[USER@][REGISTRY#]IMAGE[:TAG|@DIGEST] and the Docker-style
 * docker://[USER@]REGISTRY/IMAGE forms. */
int image_ref_parse(const char *uri, struct image_ref *ret, struct error *err);
void image_ref_done(struct image_ref *r);

/* enroot's default output name: "nvidia+cuda+12.4.0-base.sqsh" (with_sqsh) or
 * "ubuntu+latest". */
char *image_ref_default_name(const struct image_ref *r, bool with_sqsh);

/* "docker://REGISTRY#IMAGE:TAG" or "...@DIGEST", for provenance lines. */
char *image_ref_canonical(const struct image_ref *r);

/* The tag or digest to put in a manifest URL. */
const char *image_ref_reference(const struct image_ref *r);

/* Map -a/--arch to the OCI platform: x86_64/amd64 -> amd64, aarch64/arm64 ->
 * arm64 (variant v8), ppc64le. Returns NULL for an unknown name. */
const char *image_arch_normalize(const char *arch, const char **ret_variant);

#endif
