/* SPDX-License-Identifier: Apache-2.0 */
/* capsa: the lean binary. It runs the container verbs itself and hands the
 * image verbs to the image binary. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	"   doctor [options]\n"
	"   exec   [options] [--] PID COMMAND [ARG...]\n"
	"   export [options] [--] NAME\n"
	"   gpu    plan [--json] [--] [ROOTFS]\n"
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

static int cmd_help(struct config *cfg, int argc, char **argv)
{
	(void)cfg, (void)argc, (void)argv;
	return cli_usage(usage, 0);
}

static const struct cli_command commands[] = {
	{"batch", cmd_batch, true},     {"doctor", cmd_doctor, false},  {"exec", cmd_exec, false},      {"info", cmd_info, true},
	{"list", cmd_list, true},       {"remove", cmd_remove, true},   {"start", cmd_start, true},
	{"version", cmd_version, false}, {"--version", cmd_version, false}, {"help", cmd_help, false},
	{"--help", cmd_help, false},    {"-h", cmd_help, false},	{"gpu", cmd_gpu, true},
};

/* Run by the image binary. */
static const char *const image_commands[] = {"bundle", "__bundle-run", "cache", "create", "digest",
					     "export", "import", "load"};

/* The image binary sits beside this one (build tree, bundles) or where
 * `make install` puts it. argv[0] tells it which capsa launched it. */
static int exec_image_binary(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + sizeof(CAPSA_IMAGE_HELPER)];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - self), self, CAPSA_IMAGE_HELPER);
		argv[0] = self;
		execv(path, argv);
	}
	execv(CAPSA_LIBEXECDIR "/" CAPSA_IMAGE_HELPER, argv);
	log_error("cannot run '%s' (%s): capsa is not installed completely (see 'make install')",
		  CAPSA_LIBEXECDIR "/" CAPSA_IMAGE_HELPER, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2)
		return cli_usage(usage, 1);
	for (size_t i = 0; i < ARRAY_SIZE(image_commands); i++) {
		if (!strcmp(argv[1], image_commands[i]))
			return exec_image_binary(argv);
	}
	cmd = cli_find(commands, ARRAY_SIZE(commands), argv[1]);
	if (cmd != NULL)
		return cli_run(cmd, argc - 1, argv + 1);
	fprintf(stderr, "[ERROR] unknown command: %s\n", argv[1]);
	return cli_usage(usage, 1);
}
