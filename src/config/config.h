/* SPDX-License-Identifier: Apache-2.0 */
/* enroot-compatible configuration: every setting X is read as CAPSA_X and as
 * ENROOT_X, with enroot's precedence (environment > user capsa.conf >
 * capsa.conf > earlier drop-in > later drop-in > default) and falsy rule. */
#ifndef CAPSA_CONFIG_CONFIG_H
#define CAPSA_CONFIG_CONFIG_H

#include <stdbool.h>

#include "util/error.h"
#include "util/strv.h"

enum config_source {
	SRC_DEFAULT = 0,
	SRC_DROPIN,
	SRC_SYSCONF,
	SRC_USER,
	SRC_ENV,
	SRC_DIRECTIVE, /* -c CONFIG "#ENROOT_X" lines and CLI flags: overwrite */
};

struct config_entry {
	char *name;  /* suffix after CAPSA_/ENROOT_, e.g. "DATA_PATH" */
	char *value; /* NULL when unset or falsy */
	enum config_source source;
	int dropin_rank; /* for SRC_DROPIN: lower (earlier file) wins */
};

/* Where the configuration is loaded. In a root context (the Slurm plugin in
 * slurmstepd) the environment and the user's files are the user's input, and
 * running what they name would be code execution as root. */
enum config_mode {
	CONFIG_USER = 0, /* the CLI: enroot's rules */
	/* Only the system files and the defaults: no CAPSA_/ENROOT_ variables,
	 * no user capsa.conf, HOME and XDG_* from the passwd entry of the euid
	 * instead of the environment, no process environment changes, no
	 * directories created, and no shell: a value that needs bash fails. */
	CONFIG_ROOT,
};

struct config {
	struct config_entry *entries;
	size_t n, cap;
	struct strv extra_env; /* NVIDIA_*, MELLANOX_*, SSL_CERT_*, *_proxy from files */
	char *sysconf_file;    /* the main configuration file that was read */
	enum config_mode mode;
	struct strv root_env; /* CONFIG_ROOT: HOME and XDG_* that replace the environment */
};

/* config_load_mode(cfg, CONFIG_USER, err). */
int config_load(struct config *cfg, struct error *err);
/* Load everything, apply defaults and the falsy rule. In CONFIG_USER mode,
 * also create the cache, data and runtime directories, private to the euid
 */
int config_load_mode(struct config *cfg, enum config_mode mode, struct error *err);
/* The same with the system configuration directory given (NULL: the
 * built-in one), e.g. from the plugin's arguments. */
int config_load_sysconf(struct config *cfg, enum config_mode mode, const char *sysconf_dir, struct error *err);

/* The variable NAME as configuration values see it: the process environment
 * in CONFIG_USER mode, root_env in CONFIG_ROOT mode. cfg may be NULL. */
const char *config_getenv(const struct config *cfg, const char *name);
void config_free(struct config *cfg);

/* The value of setting NAME, or NULL when unset/falsy. */
const char *config_get(const struct config *cfg, const char *name);
bool config_bool(const struct config *cfg, const char *name);
long config_long(const struct config *cfg, const char *name, long fallback);
/* Set with overwrite semantics (CLI flags, -c directives); value may be NULL. */
void config_set(struct config *cfg, const char *name, const char *value);

/* Apply "#ENROOT_X value" / "#CAPSA_X value" directives of a -c file. */
int config_apply_directives(struct config *cfg, const char *path, struct error *err);

/* Parse one configuration line: key and raw value (not expanded). Returns
 * false for comments, blank lines and keys that are not accepted. */
bool config_parse_line(const char *line, char **ret_key, char **ret_value);
/* The falsy rule: n, no, N, No, NO, f, F, false, False, FALSE. */
bool config_is_falsy(const char *value);

/* Expand a value as enroot's `eval echo` would for the common cases: quotes,
 * $VAR, ${VAR}, ${VAR:-w}, ${VAR-w}, $(id -u), $(id -g), $(id -un), $(nproc),
 * $(whoami), ~. Other command substitutions are handed to /bin/bash (fixed
 * PATH, see proc_helper_env()); in CONFIG_ROOT mode they are an error. */
int config_expand(const struct config *cfg, const char *raw, char **ret, struct error *err);

/* KEY=VALUE strings for every set setting, under both prefixes, for hooks. */
void config_export(const struct config *cfg, struct strv *env);

#endif
