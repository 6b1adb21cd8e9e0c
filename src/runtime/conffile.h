/* SPDX-License-Identifier: Apache-2.0 */
/* The -c CONFIG file is bash (pyxis writes mounts(), environ(), hooks() and
 * rc() functions), so it is evaluated by bash, and only when given. */
#ifndef CAPSA_RUNTIME_CONFFILE_H
#define CAPSA_RUNTIME_CONFFILE_H

#include "runtime/start.h"

/* bash -n CONFIG: a syntax error is reported with bash's message. */
int conffile_check(const char *path, struct error *err);

/* One bash run collecting environ(), mounts() and the body of rc(). */
int conffile_collect(struct start_ctx *ctx, struct error *err);

/* Run hooks() inside the namespaces (stdout discarded). */
int conffile_run_hooks(struct start_ctx *ctx, struct error *err);

/* Give a child the capabilities it had before exec (ambient set), as
 * enroot does for hooks, so a non-root hook can still mount. */
void caps_raise_ambient(void *unused);

#endif
