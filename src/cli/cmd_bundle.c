/* SPDX-License-Identifier: Apache-2.0 */
/* bundle, and __bundle-run: the command a bundle's header hands over to. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "image/bundle.h"
#include "runtime/bundle_run.h"
#include "doctor/doctor.h"
#include "runtime/image_mount.h"
#include "runtime/start.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

enum { OPT_ALL = 100, OPT_CHECKSUM, OPT_DESC, OPT_OUTPUT, OPT_TARGET, OPT_FORCE };

static const char bundle_usage[] =
	"Usage: capsa bundle [options] [--] IMAGE\n"
	"\n"
	"Create a self-extracting bundle from a container image.\n"
	"\n"
	" Options:\n"
	"   -a, --all            Include user configuration files in the bundle\n"
	"   -c, --checksum       Generate an embedded checksum\n"
	"   -d, --desc TEXT      Provide a description of the bundle\n"
	"   -o, --output BUNDLE  Name of the output bundle file (defaults to \"IMAGE.run\")\n"
	"   -t, --target DIR     Target directory used by --keep (defaults to \"$PWD/BUNDLE\")\n"
	"   -f, --force          Overwrite an existing bundle\n";

static int bundle_opt(int id, const char *value, void *arg)
{
	struct bundle_opts *o = arg;

	switch (id) {
	case OPT_ALL:
		o->all = true;
		break;
	case OPT_CHECKSUM:
		o->checksum = true;
		break;
	case OPT_DESC:
		o->description = value;
		break;
	case OPT_OUTPUT:
		o->output = value;
		break;
	case OPT_TARGET:
		o->target = value;
		break;
	default:
		o->force = true;
		break;
	}
	return 0;
}

int cmd_bundle(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'a', "all", ARG_FLAG, OPT_ALL},	 {'c', "checksum", ARG_FLAG, OPT_CHECKSUM},
		{'d', "desc", ARG_VALUE, OPT_DESC},	 {'o', "output", ARG_VALUE, OPT_OUTPUT},
		{'t', "target", ARG_VALUE, OPT_TARGET}, {'f', "force", ARG_FLAG, OPT_FORCE},
		{0, NULL, ARG_FLAG, 0},
	};
	struct bundle_opts o = {.launcher = cli_launcher};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *output = NULL;
	int i = cli_parse(argc, argv, opts, bundle_opt, &o);

	if (i == -2)
		return cli_usage(bundle_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(bundle_usage, 1);
	o.image = argv[i];
	o.force = o.force || config_bool(cfg, "FORCE_OVERRIDE");
	o.all = o.all || config_bool(cfg, "BUNDLE_ALL");
	o.checksum = o.checksum || config_bool(cfg, "BUNDLE_CHECKSUM");
	log_info("Generating bundle...");
	if (bundle_build(cfg, &o, &output, &err) < 0)
		return cli_fail(&err);
	log_info("Bundle written to %s", output);
	return 0;
}

/* ---- running a bundle ---- */

enum { OPT_INFO = 200, OPT_KEEP, OPT_QUIET, OPT_VERIFY, OPT_EXTRACT };

struct run_args {
	struct start_args start;
	bool info, keep, quiet, verify, extract;
};

static int run_opt(int id, const char *value, void *arg)
{
	struct run_args *a = arg;

	switch (id) {
	case OPT_INFO:
		a->info = true;
		return 0;
	case OPT_KEEP:
		a->keep = true;
		return 0;
	case OPT_QUIET:
		a->quiet = true;
		return 0;
	case OPT_VERIFY:
		a->verify = true;
		return 0;
	case OPT_EXTRACT:
		a->extract = a->keep = true;
		return 0;
	default:
		return start_option(id, value, &a->start);
	}
}

static const char run_usage[] =
	"Usage: %s [options] [--] [COMMAND] [ARG...]\n"
	"\n"
	" Options:\n"
	"   -i, --info           Display the information about this bundle\n"
	"   -k, --keep           Keep the bundle extracted in the target directory\n"
	"   -q, --quiet          Supress the progress bar output\n"
	"   -v, --verify         Verify that the host configuration is compatible with the bundle\n"
	"   -x, --extract        Extract the bundle in the target directory and exit (implies --keep)\n"
	"\n"
	"   -c, --conf CONFIG    Specify a configuration script to run before the container starts\n"
	"   -e, --env KEY[=VAL]  Export an environment variable inside the container\n"
	"       --rc SCRIPT      Override the command script inside the container\n"
	"   -r, --root           Ask to be remapped to root inside the container\n"
	"   -w, --rw             Make the container root filesystem writable\n"
	"   -m, --mount FSTAB    Perform a mount from the host inside the container (colon-separated)\n";

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end || !*s ? -1 : 0;
}

/* The header's own arguments, up to "--"; returns the index of "--". */
static int parse_header_args(int argc, char **argv, struct bundle_info *b)
{
	const char **strs[] = {&b->path, &b->runtime_dir, &b->target, &b->description,
			       &b->compression, &b->runtime_version, &b->image_sha256};
	static const char *const str_names[] = {"--bundle", "--runtime-dir", "--target", "--description",
						"--compression", "--runtime-version", "--image-sha256"};
	uint64_t *nums[] = {&b->uncompressed_kb, &b->image_offset, &b->image_size};
	static const char *const num_names[] = {"--uncompressed-kb", "--image-offset", "--image-size"};
	int i;

	for (i = 1; i + 1 < argc && strcmp(argv[i], "--"); i += 2) {
		bool known = false;

		for (size_t k = 0; k < ARRAY_SIZE(strs); k++)
			if (!strcmp(argv[i], str_names[k]))
				*strs[k] = argv[i + 1], known = true;
		for (size_t k = 0; k < ARRAY_SIZE(nums); k++)
			if (!strcmp(argv[i], num_names[k]))
				known = parse_u64(argv[i + 1], nums[k]) == 0;
		if (!known)
			return -1;
	}
	for (size_t k = 0; k < ARRAY_SIZE(strs); k++)
		if (*strs[k] == NULL)
			return -1;
	return i < argc && !strcmp(argv[i], "--") ? i : -1;
}

static void print_info(const struct bundle_info *b)
{
	if (strcmp(b->image_sha256, "0"))
		printf("Checksum: sha256:%s\n", b->image_sha256);
	printf("Compression: %s\n", b->compression);
	printf("Description: %s\n", b->description);
	printf("Runtime version: %s\n", b->runtime_version);
	printf("Target directory: %s\n", b->target);
	if (b->uncompressed_kb)
		printf("Uncompressed size: %ju KB\n", (uintmax_t)b->uncompressed_kb);
	else
		printf("Uncompressed size: unknown\n");
}

/* enroot's bundle -v checks the host: doctor's host checks (no Slurm,
 * no configuration: the bundle may run anywhere). */
static void verify_host(void)
{
	struct doctor_env env = {.host_only = true};
	struct doctor_report r = DOCTOR_REPORT_INIT;

	doctor_run(&env, &r);
	if (doctor_find(&r, "kernel"))
		printf("Kernel version:\n%s\n\n", doctor_find(&r, "kernel")->summary);
	doctor_print(&r);
	doctor_report_free(&r);
}

static void show_progress(uint64_t done, uint64_t total, void *arg)
{
	progress_set(arg, 0, done, total);
}

static int extract(const struct bundle_info *b, const char *target, bool quiet, struct error *err)
{
	struct progress p;
	struct sqfs_unpack_opts o = {.progress = show_progress};
	int r;

	progress_init(&p, quiet);
	progress_add(&p, "Extracting", b->image_size);
	o.progress_arg = &p;
	r = bundle_extract(b, target, &o, err);
	if (r == 0)
		progress_set(&p, 0, b->image_size, b->image_size);
	progress_end(&p);
	return r;
}

/* Run from DIR/NAME as a named container, its runtime beside it; target
 * must outlive the start. */
static void use_extracted(struct config *cfg, const char *target, struct start_opts *o)
{
	_cleanup_free_ char *rundir = bundle_runtime_dir(target);
	_cleanup_free_ char *parent = xstrndup(target, (size_t)(strrchr(target, '/') - target));

	config_set(cfg, "DATA_PATH", *parent ? parent : "/");
	config_set(cfg, "RUNTIME_PATH", rundir);
	o->rootfs_arg = strrchr(target, '/') + 1;
}

/* Without /dev/fuse the image is extracted to a private temporary directory
 * that goes away with the container, as enroot's bundles always do. */
static int extract_temporary(struct config *cfg, const struct bundle_info *b, bool quiet, char **ret_target,
			     struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(b->target);
	_cleanup_free_ char *dir = xasprintf("%s/%s.XXXXXXXXXX", config_get(cfg, "TEMP_PATH"), basename(copy));
	struct strv paths = STRV_INIT;
	int r;

	if (mkdtemp(dir) == NULL)
		return error_set(err, errno, "failed to create a directory in %s", config_get(cfg, "TEMP_PATH"));
	strv_push(&paths, dir);
	r = bundle_spawn_reaper(&paths, err);
	strv_free(&paths);
	*ret_target = xasprintf("%s/rootfs", dir);
	return r == 0 ? extract(b, *ret_target, quiet, err) : -1;
}

static int run_bundle(struct config *cfg, const struct bundle_info *b, struct run_args *a, int argc, char **argv)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *target = bundle_target_path(b);

	if (bundle_check_image(b, &err) < 0 || bundle_apply_environment(b, &err) < 0 || config_load(cfg, &err) < 0)
		return cli_fail(&err);
	a->start.o->argv = argv;
	a->start.o->argc = argc;
	if (a->keep) {
		if (target == NULL)
			return log_error("cannot extract to '%s': its parent directory does not exist", b->target), 1;
		if (extract(b, target, a->quiet, &err) < 0)
			return cli_fail(&err);
		if (a->extract)
			return log_info("Bundle extracted to %s", target), 0;
		use_extracted(cfg, target, a->start.o);
	} else if (image_mount_check(&err) == 0) {
		a->start.o->rootfs_arg = b->path;
		a->start.o->image_offset = b->image_offset;
	} else {
		free(target);
		target = NULL;
		if (extract_temporary(cfg, b, a->quiet, &target, &err) < 0)
			return cli_fail(&err);
		use_extracted(cfg, target, a->start.o);
	}
	return start_run(cfg, a->start.o, a->start.flags);
}

int cmd_bundle_run(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'i', "info", ARG_FLAG, OPT_INFO},	 {'k', "keep", ARG_FLAG, OPT_KEEP},
		{'q', "quiet", ARG_FLAG, OPT_QUIET},	 {'v', "verify", ARG_FLAG, OPT_VERIFY},
		{'x', "extract", ARG_FLAG, OPT_EXTRACT}, {'c', "conf", ARG_VALUE, OPT_CONF},
		{'e', "env", ARG_VALUE, OPT_ENV},	 {0, "rc", ARG_VALUE, OPT_RC},
		{'r', "root", ARG_FLAG, OPT_ROOT},	 {'w', "rw", ARG_FLAG, OPT_RW},
		{'m', "mount", ARG_VALUE, OPT_MOUNT},	 {0, NULL, ARG_FLAG, 0},
	};
	struct bundle_info b = {0};
	struct start_opts o = {0};
	struct run_args a = {.start = {&o, 0}};
	struct error err = ERROR_INIT;
	struct strv cleanup = STRV_INIT;
	int sep = parse_header_args(argc, argv, &b), i, r;

	if (sep < 0)
		return log_error("__bundle-run is run by a bundle's header, not by hand"), 1;
	/* Whatever happens next, the unpacked runtime goes away with us. */
	strv_push(&cleanup, b.runtime_dir);
	r = bundle_spawn_reaper(&cleanup, &err);
	strv_free(&cleanup);
	if (r < 0)
		return cli_fail(&err);
	i = cli_parse(argc - sep, argv + sep, opts, run_opt, &a);
	/* enroot's bundles print their usage and succeed on any bad option. */
	if (i < 0) {
		start_opts_free(&o);
		printf(run_usage, b.path);
		return 0;
	}
	if (a.info || a.verify) {
		if (a.info)
			print_info(&b);
		else
			verify_host();
		start_opts_free(&o);
		return 0;
	}
	r = run_bundle(cfg, &b, &a, argc - sep - i, argv + sep + i);
	start_opts_free(&o);
	return r;
}
