/* SPDX-License-Identifier: Apache-2.0 */
/* One error model for all of capsa: fallible functions return a negative
 * value (or NULL) and fill a caller-owned struct error; only src/cli prints. */
#ifndef CAPSA_UTIL_ERROR_H
#define CAPSA_UTIL_ERROR_H

#include <stddef.h>

struct error {
	int code;       /* errno value, 0 when the error has no system cause */
	char msg[1024]; /* one line, without a trailing newline */
};

#define ERROR_INIT {0, {0}}

/* Set the error once, at the failing call. When code > 0, ": strerror(code)"
 * is appended. Always returns -1 so callers can `return error_set(...)`. */
int error_set(struct error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend context ("context: old message"). Returns -1. */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the error from errno, without a format. Returns -1. */
int error_errno(struct error *err, const char *what);

void error_clear(struct error *err);

#endif
