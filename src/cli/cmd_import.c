/* SPDX-License-Identifier: Apache-2.0 */
/* import and digest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "image/import.h"

enum { OPT_ARCH = 1, OPT_OUTPUT };

struct import_args {
	const char *arch;
	const char *output;
};

static int import_opt(int id, const char *value, void *arg)
{
	struct import_args *a = arg;

	if (id == OPT_ARCH)
		a->arch = value;
	else if (id == OPT_OUTPUT)
		a->output = value;
	else
		return -1;
	return 0;
}

static void print_info(const char *msg, void *arg)
{
	(void)arg;
	if (!strncmp(msg, "[WARN] ", 7))
		log_warn("%s", msg + 7);
	else
		log_info("%s", msg);
}

static const char import_usage[] =
	"Usage: capsa import [options] [--] URI\n"
	"\n"
	"Import a container image from a registry into a squashfs file.\n"
	"\n"
	" Schemes:\n"
	"   docker://[USER@][REGISTRY#]IMAGE[:TAG|@DIGEST]\n"
	"\n"
	" Options:\n"
	"   -a, --arch    Architecture of the image (defaults to host architecture)\n"
	"   -o, --output  Name of the output image file (defaults to \"URI.sqsh\")\n";

int cmd_import(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{'a', "arch", ARG_VALUE, OPT_ARCH}, {'o', "output", ARG_VALUE, OPT_OUTPUT}, {0, NULL, ARG_FLAG, 0}};
	struct import_args a = {0};
	struct error err = ERROR_INIT;
	char *out = NULL;
	struct import_opts o = {0};
	int i = cli_parse(argc, argv, opts, import_opt, &a);

	if (i == -2)
		return cli_usage(import_usage, 0);
	if (i < 0 || argc - i != 1)
		return cli_usage(import_usage, 1);
	o = (struct import_opts){argv[i], a.output, a.arch, print_info, NULL};
	if (image_import(cfg, &o, &out, &err) < 0)
		return cli_fail(&err);
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
