/* SPDX-License-Identifier: Apache-2.0 */
/* Drives src/image/registry/registry.c against a live registry for
 * tests/integration/registry_client.bats (built by hand there):
 *
 *   registry_driver resolve URI [ARCH [VARIANT]]  manifest digest, config, layers
 *   registry_driver digest URI [ARCH]             the platform manifest digest
 *   registry_driver pull URI DIR [SLEEP]          config + layers into DIR/<hex>,
 *                                                 sleeping SLEEP s between blobs
 *   registry_driver blob URI DIGEST SIZE FILE     one blob
 *
 * Settings come from the environment (CAPSA_ALLOW_HTTP, CAPSA_CONFIG_PATH,
 * SSL_CERT_FILE...). Errors go to stderr as "error: ..." with exit 1. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "image/registry/reference.h"
#include "image/registry/registry.h"
#include "util/xalloc.h"

static const char *compression_name(enum layer_compression c)
{
	return c == LAYER_GZIP ? "gzip" : c == LAYER_ZSTD ? "zstd" : "tar";
}

static int cmd_resolve(struct registry *r, int argc, char **argv, struct error *err)
{
	struct manifest m;
	char *digest = NULL;

	if (registry_resolve(r, argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL, &m, &digest, err) < 0)
		return -1;
	printf("manifest %s %s\n", digest, m.media_type);
	printf("config %s %" PRIu64 "\n", m.config.digest, m.config.size);
	for (size_t i = 0; i < m.n_layers; i++)
		printf("layer %s %" PRIu64 " %s%s\n", m.layers[i].d.digest, m.layers[i].d.size,
		       compression_name(m.layers[i].compression), m.layers[i].foreign ? " foreign" : "");
	free(digest);
	manifest_done(&m);
	return 0;
}

static int fetch_to(struct registry *r, const char *dir, const struct descriptor *d, struct error *err)
{
	char *path = xasprintf("%s/%s", dir, d->digest + 7);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n;

	if (fd < 0) {
		free(path);
		return error_errno(err, "open");
	}
	n = registry_fetch_blob(r, d->digest, d->size, fd, err);
	close(fd);
	if (n == 0)
		printf("fetched %s\n", d->digest);
	else
		unlink(path);
	free(path);
	return n;
}

static int cmd_pull(struct registry *r, int argc, char **argv, struct error *err)
{
	unsigned pause = argc > 4 ? (unsigned)atoi(argv[4]) : 0;
	struct manifest m;
	char *cfg = NULL;
	size_t len;
	int n;

	if (argc < 4)
		return error_set(err, 0, "usage: pull URI DIR [SLEEP]");
	if (registry_resolve(r, NULL, NULL, &m, NULL, err) < 0)
		return -1;
	n = registry_fetch_blob_mem(r, m.config.digest, m.config.size, &cfg, &len, err);
	if (n == 0)
		printf("config %zu bytes\n", len);
	free(cfg);
	for (size_t i = 0; n == 0 && i < m.n_layers; i++) {
		sleep(pause);
		fflush(stdout);
		n = fetch_to(r, argv[3], &m.layers[i].d, err);
	}
	manifest_done(&m);
	return n;
}

static int cmd_blob(struct registry *r, int argc, char **argv, struct error *err)
{
	int fd, n;

	if (argc < 6)
		return error_set(err, 0, "usage: blob URI DIGEST SIZE FILE");
	fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_errno(err, "open");
	n = registry_fetch_blob(r, argv[3], strtoull(argv[4], NULL, 10), fd, err);
	close(fd);
	return n;
}

static int run(struct registry *r, int argc, char **argv, struct error *err)
{
	char *d = NULL;

	if (!strcmp(argv[1], "resolve"))
		return cmd_resolve(r, argc, argv, err);
	if (!strcmp(argv[1], "pull"))
		return cmd_pull(r, argc, argv, err);
	if (!strcmp(argv[1], "blob"))
		return cmd_blob(r, argc, argv, err);
	if (!strcmp(argv[1], "digest")) {
		if (registry_digest(r, argc > 3 ? argv[3] : NULL, NULL, &d, err) < 0)
			return -1;
		printf("%s\n", d);
		free(d);
		return 0;
	}
	return error_set(err, 0, "unknown command %s", argv[1]);
}

int main(int argc, char **argv)
{
	struct config cfg = {0};
	struct image_ref ref;
	struct error err = ERROR_INIT;
	struct registry *r = NULL;
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: registry_driver resolve|digest|pull|blob URI ...\n");
		return 2;
	}
	if (config_load(&cfg, &err) < 0 || image_ref_parse(argv[2], &ref, &err) < 0) {
		fprintf(stderr, "error: %s\n", err.msg);
		return 1;
	}
	n = registry_open(&r, &cfg, &ref, &err);
	if (n == 0) {
		fprintf(stderr, "user: %s\n", registry_user(r) ? registry_user(r) : "<anonymous>");
		n = run(r, argc, argv, &err);
	}
	if (n < 0)
		fprintf(stderr, "error: %s\n", err.msg);
	registry_close(r);
	image_ref_done(&ref);
	config_free(&cfg);
	return n < 0 ? 1 : 0;
}
