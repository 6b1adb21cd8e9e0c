/* SPDX-License-Identifier: Apache-2.0 */
/* capsa: command table, configuration loading and exit-code policy. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"

static const char usage[] =
	"Usage: capsa COMMAND [ARG...]\n"
	"\n"
	"Command line utility for manipulating container sandboxes (drop-in for enroot).\n"
	"\n"
	" Commands:\n"
	"   batch  [options] [--] CONFIG [COMMAND] [ARG...]\n"
	"   bundle [options] [--] IMAGE\n"
	"   cache  list|verify|prune\n"
	"   create [options] [--] IMAGE\n"
	"   digest [options] [--] URI\n"
	"   exec   [options] [--] PID COMMAND [ARG...]\n"
	"   export [options] [--] NAME\n"
	"   import [options] [--] URI\n"
	"   info\n"
	"   list   [options]\n"
	"   load   [options] [--] URI\n"
	"   remove [options] [--] NAME...\n"
	"   start  [options] [--] NAME|IMAGE [COMMAND] [ARG...]\n"
	"   version\n"
	"   help\n"
	"\n"
	"Run 'capsa COMMAND --help' for the options of a command; see capsa(1).\n";

static int cmd_version(struct config *cfg, int argc, char **argv)
{
	(void)cfg, (void)argc, (void)argv;
	printf("%s\n", CAPSA_VERSION);
	return 0;
}

static int cmd_help(struct config *cfg, int argc, char **argv)
{
	(void)cfg, (void)argc, (void)argv;
	return cli_usage(usage, 0);
}

static const struct cli_command commands[] = {
	{"batch", cmd_batch, true},   {"bundle", cmd_bundle, true}, {"__bundle-run", cmd_bundle_run, false},   {"cache", cmd_cache, true},   {"create", cmd_create, true}, {"exec", cmd_exec, false},
	{"export", cmd_export, true}, {"import", cmd_import, true},   {"digest", cmd_digest, true}, {"load", cmd_load, true}, {"info", cmd_info, true},	    {"list", cmd_list, true},
	{"remove", cmd_remove, true}, {"start", cmd_start, true},   {"version", cmd_version, false},
	{"help", cmd_help, false},    {"--help", cmd_help, false},  {"-h", cmd_help, false},
	{"--version", cmd_version, false},
};

int main(int argc, char **argv)
{
	struct config cfg;
	struct error err = ERROR_INIT;
	int code;

	if (argc < 2)
		return cli_usage(usage, 1);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		memset(&cfg, 0, sizeof(cfg));
		if (commands[i].needs_config && config_load(&cfg, &err) < 0) {
			config_free(&cfg);
			return cli_fail(&err);
		}
		code = commands[i].run(&cfg, argc - 1, argv + 1);
		config_free(&cfg);
		return code;
	}
	fprintf(stderr, "[ERROR] unknown command: %s\n", argv[1]);
	return cli_usage(usage, 1);
}
