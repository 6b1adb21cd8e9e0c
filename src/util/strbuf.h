/* SPDX-License-Identifier: Apache-2.0 */
/* Growable NUL-terminated byte buffer. */
#ifndef CAPSA_UTIL_STRBUF_H
#define CAPSA_UTIL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the buffer (never NULL) and resets sb; the caller frees it. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
const char *strbuf_str(struct strbuf *sb);

#endif
