/* SPDX-License-Identifier: Apache-2.0 */
/* NULL-terminated, growable string vectors. */
#ifndef CAPSA_UTIL_STRV_H
#define CAPSA_UTIL_STRV_H

#include <stddef.h>

struct strv {
	char **v; /* always NULL-terminated once anything was pushed */
	size_t n;
	size_t cap;
};

#define STRV_INIT {NULL, 0, 0}

void strv_push(struct strv *sv, const char *s);
void strv_push_take(struct strv *sv, char *s);
void strv_pushf(struct strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_free(struct strv *sv);
/* A NULL-terminated view that is valid even when empty. */
char **strv_argv(struct strv *sv);
int strv_sort_cmp(const void *a, const void *b);

#endif
