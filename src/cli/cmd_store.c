/* SPDX-License-Identifier: Apache-2.0 */
/* create, export, list, remove, info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

enum { OPT_NAME = 1, OPT_FORCE, OPT_OUTPUT, OPT_FANCY };

struct store_args {
	const char *name;
	const char *output;
	bool force;
	bool fancy;
};

static int store_opt(int id, const char *value, void *arg)
{
	struct store_args *a = arg;

	switch (id) {
	case OPT_NAME:
		a->name = value;
		break;
	case OPT_OUTPUT:
		a->output = value;
		break;
	case OPT_FORCE:
		a->force = true;
		break;
	case OPT_FANCY:
		a->fancy = true;
		break;
	default:
		return -1;
	}
	return 0;
}

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
		{'n', "name", ARG_VALUE, OPT_NAME}, {'f', "force", ARG_FLAG, OPT_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *name = NULL;
	int i = cli_parse(argc, argv, opts, store_opt, &a);

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
		{'o', "output", ARG_VALUE, OPT_OUTPUT}, {'f', "force", ARG_FLAG, OPT_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *out = NULL, *abs = NULL;
	int i = cli_parse(argc, argv, opts, store_opt, &a);

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

static const char list_usage[] = "Usage: capsa list [options]\n"
				 "\n"
				 "List all the container root filesystems on the system.\n"
				 "\n"
				 " Options:\n"
				 "   -f, --fancy  Display more information in tabular format\n";

int cmd_list(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'f', "fancy", ARG_FLAG, OPT_FANCY}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, opts, store_opt, &a);

	if (i == -2)
		return cli_usage(list_usage, 0);
	if (i < 0 || i != argc)
		return cli_usage(list_usage, 1);
	if (store_list(cfg, a.fancy, stdout, &err) < 0)
		return cli_fail(&err);
	return 0;
}

static const char remove_usage[] = "Usage: capsa remove [options] [--] NAME...\n"
				   "\n"
				   "Delete one or multiple container root filesystems.\n"
				   "\n"
				   " Options:\n"
				   "   -f, --force  Do not prompt for confirmation\n";

/*
 * enroot's `read -r -e -p PROMPT`: the prompt goes to stderr only when stdin
 * is a terminal, and the answer is one whole line of stdin, terminal or not
 * (`echo y | capsa remove NAME`).  1: delete (exactly "y" or "Y"), 0: keep
 * (any other line), -1: end of input, where bash's read fails (a last line
 * without its newline included).
 */
static int confirm(const char *path)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool tty = isatty(STDIN_FILENO);

	if (tty)
		fprintf(stderr, "Do you really want to delete %s? [y/N] ", path);
	n = getline(&line, &cap, stdin);
	if (n <= 0 || line[n - 1] != '\n') {
		if (tty)
			fputc('\n', stderr);
		return -1;
	}
	return n == 2 && (line[0] == 'y' || line[0] == 'Y');
}

int cmd_remove(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'f', "force", ARG_FLAG, OPT_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, opts, store_opt, &a);

	if (i == -2)
		return cli_usage(remove_usage, 0);
	if (i < 0 || i == argc)
		return cli_usage(remove_usage, 1);
	for (; i < argc; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", config_get(cfg, "DATA_PATH"), argv[i]);

		if (store_check_name(argv[i], &err) < 0)
			return cli_fail(&err);
		if (!path_is_dir(path))
			return log_error("no such container: '%s'", argv[i]), 1;
		if (!a.force && !config_bool(cfg, "FORCE_OVERRIDE")) {
			int answer = confirm(path);

			/* enroot exits 1 silently here (set -e); say why. */
			if (answer < 0) {
				log_error("no answer on standard input: %s not deleted (-f deletes without asking)",
					  path);
				return 1;
			}
			if (answer == 0)
				continue;
		}
		if (store_remove(cfg, argv[i], &err) < 0)
			return cli_fail(&err);
	}
	return 0;
}

int cmd_info(struct config *cfg, int argc, char **argv)
{
	struct strv env = STRV_INIT;

	(void)argv;
	if (argc > 1)
		return cli_usage("Usage: capsa info\n", 1);
	printf("Capsa version: %s\nConfig file: %s\n\nEnvironment variables:\n", CAPSA_VERSION,
	       cfg->sysconf_file ? cfg->sysconf_file : "");
	config_export(cfg, &env);
	if (env.n > 1)
		qsort(env.v, env.n, sizeof(char *), strv_sort_cmp);
	for (size_t i = 0; i < env.n; i++)
		printf("  %s\n", env.v[i]);
	strv_free(&env);
	return 0;
}
