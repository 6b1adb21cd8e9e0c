/* SPDX-License-Identifier: Apache-2.0 */
/* A distribution-spec registry client on libcurl: authentication (Basic,
 * Bearer with refresh), manifest resolution with digest verification, and
 * digest-verified blob streaming (enroot.md §4.2-4.4, security.md §2). */
#ifndef CAPSA_IMAGE_REGISTRY_H
#define CAPSA_IMAGE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "image/registry/manifest.h"
#include "image/registry/reference.h"
#include "util/error.h"

struct registry;

/* Settings read from cfg: ALLOW_HTTP, CONNECT_TIMEOUT, TRANSFER_TIMEOUT,
 * TRANSFER_RETRIES, CONFIG_PATH (.credentials); SSL_CERT_FILE/SSL_CERT_DIR
 * from the environment or the configuration files. cfg and ref must outlive
 * the registry. When ref has no user, one is inferred from .credentials. */
int registry_open(struct registry **ret, const struct config *cfg, const struct image_ref *ref,
		  struct error *err);
void registry_close(struct registry *r);

/* The login used (NULL: anonymous), for "[INFO] Authenticating with user". */
const char *registry_user(const struct registry *r);

/* Resolve the reference: tag or digest -> (index -> platform) -> image
 * manifest. arch is an OCI name ("amd64", "arm64"; NULL: this machine's),
 * variant NULL accepts any (arm64 defaults to v8). Every manifest body is
 * hashed: it must match the digest it was fetched by and any
 * Docker-Content-Digest header. *ret_manifest_digest is the digest of the
 * platform image manifest. */
int registry_resolve(struct registry *r, const char *arch, const char *variant, struct manifest *ret_manifest,
		     char **ret_manifest_digest, struct error *err);

/* `capsa digest`: the digest of the platform image manifest. */
int registry_digest(struct registry *r, const char *arch, const char *variant, char **ret, struct error *err);

/* Receives blob bytes in order. A failure (<0, err filled) aborts the fetch. */
typedef int (*registry_sink_fn)(const void *data, size_t len, void *arg, struct error *err);

/* Stream blob digest (exactly size bytes) to sink while hashing it. The
 * digest and size are verified at the end, so on any error the consumer must
 * discard what it received. Interrupted transfers resume with a Range
 * request when the server answers 206 with the right Content-Range. */
int registry_fetch_blob_cb(struct registry *r, const char *digest, uint64_t size, registry_sink_fn sink,
			   void *arg, struct error *err);

/* The same, written to out_fd (partial writes and EINTR handled). */
int registry_fetch_blob(struct registry *r, const char *digest, uint64_t size, int out_fd, struct error *err);

/* Fetch a small blob (the image config, at most CONFIG_MAX_BYTES) into
 * memory, verified; *ret is NUL-terminated. */
int registry_fetch_blob_mem(struct registry *r, const char *digest, uint64_t size, char **ret, size_t *ret_len,
			    struct error *err);

#endif
