/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation that cannot fail: out of memory aborts (there is no sane
 * recovery for a runtime mid-setup, and the error path must not allocate). */
#ifndef CAPSA_UTIL_XALLOC_H
#define CAPSA_UTIL_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
