/* SPDX-License-Identifier: Apache-2.0 */
/* The shipped mounts.d and environ.d content, compiled in for when the
 * system configuration directory has none (an uninstalled capsa). */
#ifndef CAPSA_RUNTIME_DEFAULTS_H
#define CAPSA_RUNTIME_DEFAULTS_H

extern const char *const rt_builtin_mounts;
extern const char *const rt_builtin_environ;

#endif
