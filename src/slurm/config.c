/* SPDX-License-Identifier: Apache-2.0 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "slurm/config.h"
#include "slurm/options.h"
#include "util/cleanup.h"

#ifndef CAPSA_BINDIR
#define CAPSA_BINDIR "/usr/local/bin"
#endif

enum kind { KIND_BOOL, KIND_PATH, KIND_SCOPE };

static const struct key {
	const char *name;
	enum kind kind;
	size_t offset;
	bool optional; /* a PATH that may be empty */
} keys[] = {
	{"runtime_path", KIND_PATH, offsetof(struct spank_config, runtime_path), false},
	{"execute_entrypoint", KIND_BOOL, offsetof(struct spank_config, execute_entrypoint), false},
	{"container_scope", KIND_SCOPE, offsetof(struct spank_config, container_scope), false},
	{"sbatch_support", KIND_BOOL, offsetof(struct spank_config, sbatch_support), false},
	{"use_enroot_load", KIND_BOOL, offsetof(struct spank_config, use_enroot_load), false},
	{"importer", KIND_PATH, offsetof(struct spank_config, importer), true},
	{"use_squashfuse", KIND_BOOL, offsetof(struct spank_config, use_squashfuse), false},
	{"capsa_path", KIND_PATH, offsetof(struct spank_config, capsa_path), false},
	{"sysconf_path", KIND_PATH, offsetof(struct spank_config, sysconf_path), true},
	{"image_store", KIND_BOOL, offsetof(struct spank_config, image_store), false},
	{"sbcast_path", KIND_PATH, offsetof(struct spank_config, sbcast_path), true},
};

static void config_defaults(struct spank_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->runtime_path, sizeof(c->runtime_path), "%s", "/run/pyxis");
	c->container_scope = SPANK_SCOPE_GLOBAL;
	c->sbatch_support = true;
	snprintf(c->capsa_path, sizeof(c->capsa_path), "%s/capsa", CAPSA_BINDIR);
	c->image_store = true;
	snprintf(c->sbcast_path, sizeof(c->sbcast_path), "%s", "/usr/bin/sbcast");
}

static int set_path(char *slot, const struct key *k, const char *v, struct error *err)
{
	if (*v == '\0' && k->optional) {
		*slot = '\0';
		return 0;
	}
	/* Used by root in slurmstepd and slurmd: never relative to their cwd. */
	if (*v != '/')
		return error_set(err, 0, "%s: must be an absolute path: '%s'", k->name, v);
	if (strlen(v) >= sizeof(((struct spank_config *)0)->runtime_path))
		return error_set(err, 0, "%s: path too long", k->name);
	snprintf(slot, sizeof(((struct spank_config *)0)->runtime_path), "%s", v);
	return 0;
}

static int set_key(struct spank_config *c, const struct key *k, const char *v, struct error *err)
{
	char *slot = (char *)c + k->offset;
	int b;

	switch (k->kind) {
	case KIND_PATH:
		return set_path(slot, k, v, err);
	case KIND_BOOL:
		b = spank_parse_bool(v);
		if (b < 0)
			return error_set(err, 0, "%s: invalid boolean value '%s' (1, true, yes, y, 0, false, no or n)",
					 k->name, v);
		*(bool *)slot = b;
		return 0;
	case KIND_SCOPE:
		if (strcmp(v, "job") == 0)
			c->container_scope = SPANK_SCOPE_JOB;
		else if (strcmp(v, "global") == 0)
			c->container_scope = SPANK_SCOPE_GLOBAL;
		else
			return error_set(err, 0, "%s: must be \"job\" or \"global\", not '%s'", k->name, v);
		return 0;
	}
	return error_set(err, 0, "%s: unhandled key", k->name);
}

static int parse_word(struct spank_config *c, const char *word, struct error *err)
{
	const char *eq = strchr(word, '=');

	for (size_t i = 0; eq != NULL && i < ARRAY_SIZE(keys); i++) {
		size_t n = strlen(keys[i].name);
		if ((size_t)(eq - word) == n && strncmp(word, keys[i].name, n) == 0)
			return set_key(c, &keys[i], eq + 1, err);
	}
	return error_set(err, 0, "unknown configuration option: %.200s", word);
}

int spank_config_parse(struct spank_config *c, int argc, char **argv, struct error *err)
{
	int r;

	config_defaults(c);
	for (int i = 0; i < argc; i++) {
		r = parse_word(c, argv[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}
