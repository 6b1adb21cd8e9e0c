/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa cache list|verify|prune`. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "image/image_store.h"
#include "image/registry/blobcache.h"

static const char cache_usage[] = "Usage: capsa cache list|verify|prune\n"
				  "\n"
				  "Inspect or clean the layer cache and the image store ($CAPSA_CACHE_PATH).\n"
				  "\n"
				  "   list    Print every cached blob and stored image with its size\n"
				  "   verify  Hash every cached blob again; corrupt ones are removed\n"
				  "   prune   Remove every cached blob, every stored image and leftovers of\n"
				  "           interrupted imports\n";

static int verify_all(struct blobcache *bc, struct error *err)
{
	char line[128];
	int bad = 0;
	FILE *list = tmpfile();

	if (list == NULL || blobcache_list(bc, list, err) < 0) {
		if (list)
			fclose(list);
		return list ? -1 : error_errno(err, "failed to create a temporary file");
	}
	rewind(list);
	while (fgets(line, sizeof(line), list)) {
		struct error e = ERROR_INIT;
		char hex[65];

		if (sscanf(line, "sha256:%64s", hex) != 1)
			continue;
		if (blobcache_verify(bc, hex, &e) < 0) {
			log_warn("%s", e.msg);
			bad++;
		}
	}
	fclose(list);
	if (bad)
		return error_set(err, 0, "%d corrupt cache entries were removed", bad);
	return 0;
}

static int store_list_or_prune(const struct config *cfg, bool list, uint64_t *freed, struct error *err)
{
	struct image_store st;
	int r;

	if (image_store_open(config_get(cfg, "CACHE_PATH"), &st, err) < 0)
		return -1;
	r = list ? image_store_list(&st, stdout, err) : image_store_prune(&st, freed, err);
	image_store_close(&st);
	return r;
}

int cmd_cache(struct config *cfg, int argc, char **argv)
{
	struct blobcache bc;
	struct error err = ERROR_INIT;
	uint64_t freed = 0;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cli_usage(cache_usage, 0);
	if (argc != 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "verify") && strcmp(argv[1], "prune")))
		return cli_usage(cache_usage, 1);
	if (blobcache_open(config_get(cfg, "CACHE_PATH"), &bc, &err) < 0)
		return cli_fail(&err);
	if (!strcmp(argv[1], "list"))
		r = blobcache_list(&bc, stdout, &err);
	else if (!strcmp(argv[1], "verify"))
		r = verify_all(&bc, &err);
	else
		r = blobcache_prune(&bc, &freed, &err);
	blobcache_close(&bc);
	if (r == 0 && strcmp(argv[1], "verify") != 0)
		r = store_list_or_prune(cfg, !strcmp(argv[1], "list"), &freed, &err);
	if (r < 0)
		return cli_fail(&err);
	if (!strcmp(argv[1], "prune"))
		log_info("Freed %ju bytes", (uintmax_t)freed);
	return 0;
}
