/* SPDX-License-Identifier: Apache-2.0 */
/* list, remove, info: the store verbs of the lean binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

static const char list_usage[] = "Usage: capsa list [options]\n"
				 "\n"
				 "List all the container root filesystems on the system.\n"
				 "\n"
				 " Options:\n"
				 "   -f, --fancy  Display more information in tabular format\n";

int cmd_list(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'f', "fancy", ARG_FLAG, STORE_FANCY}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, opts, store_option, &a);

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
	static const struct cli_option opts[] = {{'f', "force", ARG_FLAG, STORE_FORCE}, {0, NULL, ARG_FLAG, 0}};
	struct store_args a = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, opts, store_option, &a);

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
