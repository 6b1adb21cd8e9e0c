/* SPDX-License-Identifier: Apache-2.0 */
/* import, digest and load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "image/import.h"
#include "image/registry/reference.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

enum { OPT_ARCH = 1, OPT_OUTPUT, OPT_NAME, OPT_FORCE, OPT_STORE, OPT_DIGEST, OPT_ADOPT };

struct import_args {
	const char *arch;
	const char *output;
	bool store;
	const char *digest, *adopt;
};

static int import_opt(int id, const char *value, void *arg)
{
	struct import_args *a = arg;

	if (id == OPT_ARCH)
		a->arch = value;
	else if (id == OPT_OUTPUT)
		a->output = value;
	else if (id == OPT_STORE)
		a->store = true;
	else if (id == OPT_DIGEST)
		a->digest = value;
	else if (id == OPT_ADOPT)
		a->adopt = value;
	else
		return -1;
	return 0;
}

/* Per-layer download bars and one for the merge, as enroot shows. */
struct display {
	struct progress bars;
	bool started;
	size_t merge_row;
};

static void print_info(const char *msg, void *arg)
{
	struct display *d = arg;

	if (d)
		progress_clear(&d->bars);
	if (!strncmp(msg, "[WARN] ", 7))
		log_warn("%s", msg + 7);
	else
		log_info("%s", msg);
}

static void show_progress(const struct import_progress *p, void *arg)
{
	struct display *d = arg;
	uint64_t merged = 0, total = 0;

	if (!d->started) {
		for (size_t i = 0; i < p->n_layers; i++) {
			const char *hex = strchr(p->layers[i].digest, ':');
			_cleanup_free_ char *label = xasprintf("%.12s", hex ? hex + 1 : p->layers[i].digest);

			progress_add(&d->bars, label, p->layers[i].size);
		}
		d->merge_row = progress_add(&d->bars, "squashfs", 0);
		d->started = true;
	}
	for (size_t i = 0; i < p->n_layers; i++) {
		progress_set(&d->bars, i, p->layers[i].downloaded, p->layers[i].size);
		merged += p->layers[i].merged < p->layers[i].size ? p->layers[i].merged : p->layers[i].size;
		total += p->layers[i].size;
	}
	progress_set(&d->bars, d->merge_row, merged, total);
}

static void display_init(struct display *d, struct import_opts *o)
{
	memset(d, 0, sizeof(*d));
	progress_init(&d->bars, false);
	o->info = print_info;
	o->info_arg = d;
	if (d->bars.enabled) {
		o->progress = show_progress;
		o->progress_arg = d;
	}
}

/* The merge ends short of the last bytes (tar padding): show it complete. */
static void display_end(struct display *d, bool ok)
{
	if (ok && d->started)
		d->bars.rows[d->merge_row].done = d->bars.rows[d->merge_row].total;
	progress_end(&d->bars);
}

static const char import_usage[] =
	"Usage: capsa import [options] [--] URI\n"
	"\n"
	"Import a container image from a registry into a squashfs file.\n"
	"\n"
	" Schemes:\n"
	"   docker://[USER@][REGISTRY#]IMAGE[:TAG|@DIGEST]\n"
	"   oci://DIR[:NAME]                   an OCI image layout on disk\n"
	"   oci-archive://FILE[:NAME]          a tar of an OCI image layout\n"
	"   docker-archive://FILE[:NAME:TAG]   a `docker save` tarball\n"
	"   dockerd://IMAGE, podman://IMAGE    an image of the local Docker daemon or podman\n"
	"\n"
	" Options:\n"
	"   -a, --arch    Architecture of the image (defaults to host architecture)\n"
	"   -o, --output  Name of the output image file (defaults to \"URI.sqsh\")\n"
	"   -s, --store   Keep the image in the image store ($CAPSA_CACHE_PATH/images) by\n"
	"                 manifest digest, import it only if it is not there yet, and print\n"
	"                 its path (docker:// only)\n"
	"\n"
	" Image store options (used by the Slurm plugin to pull once per job):\n"
	"       --digest DIGEST  The manifest digest is known (sha256:HEX): the registry is\n"
	"                        not asked; the image must be in the store or given with\n"
	"       --adopt FILE     FILE, that digest's image made on another node (e.g. sent\n"
	"                        by sbcast): moved or copied into the store\n";

int cmd_import(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'a', "arch", ARG_VALUE, OPT_ARCH}, {'o', "output", ARG_VALUE, OPT_OUTPUT},
		{'s', "store", ARG_FLAG, OPT_STORE}, {0, "digest", ARG_VALUE, OPT_DIGEST},
		{0, "adopt", ARG_VALUE, OPT_ADOPT}, {0, NULL, ARG_FLAG, 0}};
	struct import_args a = {0};
	struct error err = ERROR_INIT;
	char *out = NULL;
	struct import_opts o = {0};
	struct display d;
	int i = cli_parse(argc, argv, opts, import_opt, &a), r;

	if (i == -2)
		return cli_usage(import_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(import_usage, 1);
	if (a.store && a.output)
		return log_error("--store and --output exclude each other"), 1;
	if ((a.digest && !a.store) || (a.adopt && !a.digest))
		return log_error("--digest needs --store, --adopt needs --digest"), 1;
	o.uri = argv[i];
	o.output = a.output;
	o.arch = a.arch;
	o.store = a.store;
	o.digest = a.digest;
	o.adopt = a.adopt;
	display_init(&d, &o);
	r = image_import(cfg, &o, &out, &err);
	display_end(&d, r == 0);
	if (r < 0)
		return cli_fail(&err);
	if (a.store)
		printf("%s\n", out);
	free(out);
	return 0;
}

static const char digest_usage[] = "Usage: capsa digest [options] [--] URI\n"
				   "\n"
				   "Print the digest of the image manifest for the platform.\n"
				   "\n"
				   " Options:\n"
				   "   -a, --arch  Architecture of the image (defaults to host architecture)\n";

int cmd_digest(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'a', "arch", ARG_VALUE, OPT_ARCH}, {0, NULL, ARG_FLAG, 0}};
	struct import_args a = {0};
	struct error err = ERROR_INIT;
	char *digest = NULL;
	int i = cli_parse(argc, argv, opts, import_opt, &a);

	if (i == -2)
		return cli_usage(digest_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(digest_usage, 1);
	if (image_digest(cfg, argv[i], a.arch, &digest, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", digest);
	free(digest);
	return 0;
}

static const char load_usage[] = "Usage: capsa load [options] [--] URI\n"
				 "\n"
				 "Import a container image and create a container root filesystem from it.\n"
				 "\n"
				 " Options:\n"
				 "   -a, --arch   Architecture of the image (defaults to host architecture)\n"
				 "   -n, --name   Name of the container (defaults to \"URI\")\n"
				 "   -f, --force  Overwrite an existing container root filesystem\n";

struct load_args {
	const char *arch;
	const char *name;
	bool force;
};

static int load_opt(int id, const char *value, void *arg)
{
	struct load_args *a = arg;

	if (id == OPT_ARCH)
		a->arch = value;
	else if (id == OPT_NAME)
		a->name = value;
	else
		a->force = true;
	return 0;
}

/* The squashfs is only a stream format between the two steps here: fast
 * compression, in a private temporary directory removed afterwards. */
static int load(struct config *cfg, const struct load_args *a, const char *uri, struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/capsa-load.XXXXXX", config_get(cfg, "TEMP_PATH"));
	_cleanup_free_ char *tmp = NULL, *out = NULL, *name = NULL;
	struct import_opts o = {.uri = uri, .arch = a->arch};
	struct display d;
	struct image_ref ref;
	int r;

	if (image_ref_parse(uri, &ref, err) < 0)
		return -1;
	name = a->name ? xstrdup(a->name) : image_ref_default_name(&ref, false);
	image_ref_done(&ref);
	if (store_check_name(name, err) < 0)
		return -1;
	if (mkdtemp(dir) == NULL)
		return error_set(err, errno, "failed to create a temporary directory in '%s'",
				 config_get(cfg, "TEMP_PATH"));
	tmp = xasprintf("%s/image.sqsh", dir);
	o.output = tmp;
	config_set(cfg, "SQUASH_OPTIONS", "-comp zstd -Xcompression-level 1");
	display_init(&d, &o);
	r = image_import(cfg, &o, &out, err);
	display_end(&d, r == 0);
	if (r == 0) {
		log_info("Loading container root filesystem...");
		r = store_create(cfg, tmp, name, a->force || config_bool(cfg, "FORCE_OVERRIDE"), err);
	}
	unlink(tmp);
	rmdir(dir);
	return r;
}

int cmd_load(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'a', "arch", ARG_VALUE, OPT_ARCH},
						 {'n', "name", ARG_VALUE, OPT_NAME},
						 {'f', "force", ARG_FLAG, OPT_FORCE},
						 {0, NULL, ARG_FLAG, 0}};
	struct load_args a = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, opts, load_opt, &a);

	if (i == -2)
		return cli_usage(load_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(load_usage, 1);
	if (load(cfg, &a, argv[i], &err) < 0)
		return cli_fail(&err);
	return 0;
}
