/* SPDX-License-Identifier: Apache-2.0 */
/* capsa-image: the commands that read or write images (registry client,
 * layer merge, squashfs). capsa runs it for them; argv[0] is then the path
 * of that capsa. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"

const char *cli_launcher;

static const struct cli_command commands[] = {
	{"bundle", cmd_bundle, true}, {"__bundle-run", cmd_bundle_run, false}, {"cache", cmd_cache, true},
	{"create", cmd_create, true}, {"digest", cmd_digest, true},	     {"export", cmd_export, true},
	{"import", cmd_import, true}, {"load", cmd_load, true},		     {"version", cmd_version, false},
};

int main(int argc, char **argv)
{
	const struct cli_command *cmd = argc > 1 ? cli_find(commands, ARRAY_SIZE(commands), argv[1]) : NULL;

	if (cmd == NULL) {
		fprintf(stderr, "[ERROR] %s runs capsa's image commands: use capsa\n", CAPSA_IMAGE_HELPER);
		return 1;
	}
	cli_launcher = argv[0];
	return cli_run(cmd, argc - 1, argv + 1);
}
