/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa exec PID CMD`: run a command in a running container's namespaces. */
#ifndef CAPSA_RUNTIME_EXEC_H
#define CAPSA_RUNTIME_EXEC_H

#include <sys/types.h>

#include "util/error.h"
#include "util/strv.h"

/* Returns only on error. */
int rt_exec(pid_t pid, const struct strv *env_args, char **argv, struct error *err);

#endif
