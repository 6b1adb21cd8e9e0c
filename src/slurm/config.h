/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin's arguments on its plugstack.conf line (pyxis.md §3):
 * "required /path/spank_capsa.so key=value ...".  Pure, unit-tested. */
#ifndef CAPSA_SLURM_CONFIG_H
#define CAPSA_SLURM_CONFIG_H

#include <stdbool.h>

#include "util/error.h"

enum spank_scope { SPANK_SCOPE_GLOBAL, SPANK_SCOPE_JOB };

struct spank_config {
	char runtime_path[4096]; /* PATH_MAX */
	bool execute_entrypoint;
	enum spank_scope container_scope;
	bool sbatch_support;
	bool use_enroot_load;
	char importer[4096]; /* empty: none */
	bool use_squashfuse;
	/* capsa extensions: the capsa CLI run for the user (capsa-image
	 * beside it) and the CAPSA_SYSCONF_PATH given to it (empty: capsa's
	 * built-in one). */
	char capsa_path[4096];
	char sysconf_path[4096];
	/* Registry images go to the user's image store (capsa import --store)
	 * and, in steps over several nodes, are pulled once by the first node
	 * and sent to the others with sbcast_path (empty: every node pulls). */
	bool image_store;
	char sbcast_path[4096];
};

/* The defaults, then each "key=value" word of argv.  Any unknown key or bad
 * value fails (-1, err names the word), as in pyxis. */
int spank_config_parse(struct spank_config *c, int argc, char **argv, struct error *err);

#endif
