/* SPDX-License-Identifier: Apache-2.0 */
/* create and export: the store verbs that read or write squashfs images,
 * in the image binary (they need libsquashfs). */
#include <stdio.h>

#include "cli/cli.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

static const char create_usage[] = "Usage: capsa create [options] [--] IMAGE\n"
				   "\n"
				   "Create a container root filesystem from a squashfs image.\n"
				   "\n"
				   " Options:\n"
				   "   -n, --name   Name of the container (defaults to \"IMAGE\")\n"
				   "   -f, --force  Overwrite an existing container root filesystem\n";

int cmd_create(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'n', "name", ARG_VALUE, STORE_NAME}, {'f', "force", ARG_FLAG, STORE_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *name = NULL;
	int i = cli_parse(argc, argv, opts, store_option, &a);

	if (i == -2)
		return cli_usage(create_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(create_usage, 1);
	name = a.name ? xstrdup(a.name) : store_default_name(argv[i]);
	log_info("Extracting squashfs filesystem...");
	if (store_create(cfg, argv[i], name, a.force || config_bool(cfg, "FORCE_OVERRIDE"), &err) < 0)
		return cli_fail(&err);
	return 0;
}

static const char export_usage[] = "Usage: capsa export [options] [--] NAME\n"
				   "\n"
				   "Create a squashfs image from a container root filesystem.\n"
				   "\n"
				   " Options:\n"
				   "   -o, --output  Name of the output image file (defaults to \"NAME.sqsh\")\n"
				   "   -f, --force   Overwrite an existing image\n";

int cmd_export(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'o', "output", ARG_VALUE, STORE_OUTPUT}, {'f', "force", ARG_FLAG, STORE_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *out = NULL, *abs = NULL;
	int i = cli_parse(argc, argv, opts, store_option, &a);

	if (i == -2)
		return cli_usage(export_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(export_usage, 1);
	out = a.output ? xstrdup(a.output) : xasprintf("%s.sqsh", argv[i]);
	abs = path_absolute(out);
	if (abs == NULL)
		return log_error("invalid output path: '%s' (its directory must exist)", out), 1;
	log_info("Creating squashfs filesystem...");
	if (store_export(cfg, argv[i], abs, a.force || config_bool(cfg, "FORCE_OVERRIDE"), &err) < 0)
		return cli_fail(&err);
	return 0;
}
