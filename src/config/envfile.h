/* SPDX-License-Identifier: Apache-2.0 */
/* Environment files (image /etc/environment, environ.d files) and the
 * ${NAME} substitution enroot applies to them and to fstab files. */
#ifndef CAPSA_CONFIG_ENVFILE_H
#define CAPSA_CONFIG_ENVFILE_H

#include <stdbool.h>

#include "util/strv.h"

/* Replace ${NAME} by its value from envp (NULL: the process environment);
 * unset names become empty (enroot#237). */
char *env_subst(const char *text, char *const envp[]);

/* env_subst, but a name for which allowed(name) is false expands to empty,
 * as if unset, and is appended once to ret_denied (when not NULL). */
char *env_subst_filtered(const char *text, char *const envp[], bool (*allowed)(const char *name),
			 struct strv *ret_denied);

/* enroot's envfmt: keep only KEY=VALUE lines, drop comments, `export X=1`,
 * ENROOT_* and CAPSA_*, strip one pair of surrounding quotes. Appends to out. */
void env_normalize(const char *text, struct strv *out);

/* The value of NAME in a KEY=VALUE vector (last one wins), or NULL. */
const char *env_lookup(char *const envp[], const char *name);

/* Is s a valid -e argument: NAME or NAME=...? */
int env_valid_arg(const char *s);

#endif
