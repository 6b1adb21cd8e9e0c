/* SPDX-License-Identifier: Apache-2.0 */
/* Running a command of a table: shared by the lean capsa binary and the
 * image binary. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const struct cli_command *cli_find(const struct cli_command *cmds, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(name, cmds[i].name))
			return &cmds[i];
	}
	return NULL;
}

int cli_run(const struct cli_command *cmd, int argc, char **argv)
{
	struct config cfg;
	struct error err = ERROR_INIT;
	int code;

	memset(&cfg, 0, sizeof(cfg));
	if (cmd->needs_config && config_load(&cfg, &err) < 0) {
		config_free(&cfg);
		return cli_fail(&err);
	}
	code = cmd->run(&cfg, argc, argv);
	config_free(&cfg);
	return code;
}

int cmd_version(struct config *cfg, int argc, char **argv)
{
	(void)cfg, (void)argc, (void)argv;
	printf("%s\n", CAPSA_VERSION);
	return 0;
}
