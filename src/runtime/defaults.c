/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/defaults.h"

#include "builtin_conf.h"

const char *const rt_builtin_mounts = builtin_mounts;
const char *const rt_builtin_environ = builtin_environ;
