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

struct config {
	struct config_entry *entries;
	size_t n, cap;
	struct strv extra_env; /* NVIDIA_*, MELLANOX_*, SSL_CERT_*, *_proxy from files */
	char *sysconf_file;    /* the main configuration file that was read */
};

/* Load everything, apply defaults and the falsy rule, create the cache, data
 * and runtime directories (umask 077). */
int config_load(struct config *cfg, struct error *err);
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
 * $(whoami), ~. Other command substitutions are handed to bash. */
int config_expand(const struct config *cfg, const char *raw, char **ret, struct error *err);

/* KEY=VALUE strings for every set setting, under both prefixes, for hooks. */
void config_export(const struct config *cfg, struct strv *env);

#endif
