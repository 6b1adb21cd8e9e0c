/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "gpu/ldcache.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define OLD_MAGIC "ld.so-1.7.0"
#define NEW_MAGIC "glibc-ld.so.cache"
#define NEW_VERSION "1.1"
#define OLD_HEADER 16 /* magic[11], pad, uint32 nlibs */
#define OLD_ENTRY 12  /* int32 flags, uint32 key, uint32 value */
#define NEW_HEADER 48 /* magic[17], version[3], nlibs, len_strings, flags, pad, ext, unused[3] */
#define NEW_ENTRY 24  /* int32 flags, uint32 key, value, osversion, uint64 hwcap */

static uint32_t rd32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Where the new header starts: 0, or after the old table, 8-aligned. */
static int new_header_offset(const char *buf, size_t len, size_t *ret, struct error *err)
{
	uint64_t end;

	if (len >= STRLEN(NEW_MAGIC) && !memcmp(buf, NEW_MAGIC, STRLEN(NEW_MAGIC))) {
		*ret = 0;
		return 0;
	}
	if (len < OLD_HEADER || memcmp(buf, OLD_MAGIC, STRLEN(OLD_MAGIC)))
		return error_set(err, 0, "not an ld.so.cache (unknown magic)");
	end = OLD_HEADER + (uint64_t)rd32(buf + 12) * OLD_ENTRY;
	end = (end + 7) & ~(uint64_t)7;
	if (end + NEW_HEADER > len || memcmp(buf + end, NEW_MAGIC, STRLEN(NEW_MAGIC)))
		return error_set(err, 0, "ld.so.cache has only the old libc5 format (glibc's new table is missing)");
	*ret = (size_t)end;
	return 0;
}

/* A NUL-terminated string at off in the data that starts at base. */
static const char *string_at(const char *base, size_t size, uint32_t off)
{
	if (off >= size || memchr(base + off, '\0', size - off) == NULL)
		return NULL;
	return base + off;
}

int ldcache_parse(const char *buf, size_t len, struct ldcache *ret, struct error *err)
{
	size_t off = 0, size;
	const char *base;
	uint32_t nlibs;

	if (len > LDCACHE_MAX_SIZE)
		return error_set(err, 0, "ld.so.cache larger than %u bytes", LDCACHE_MAX_SIZE);
	if (new_header_offset(buf, len, &off, err) < 0)
		return -1;
	if (len - off < NEW_HEADER || memcmp(buf + off + STRLEN(NEW_MAGIC), NEW_VERSION, STRLEN(NEW_VERSION)))
		return error_set(err, 0, "ld.so.cache: truncated header or unknown version");
	/* Offsets in the new table are relative to its header. */
	base = buf + off;
	size = len - off;
	nlibs = rd32(base + 20);
	if (nlibs > LDCACHE_MAX_ENTRIES || NEW_HEADER + (uint64_t)nlibs * NEW_ENTRY > size)
		return error_set(err, 0, "ld.so.cache: %u entries do not fit in the file (truncated)", nlibs);
	ret->v = xcalloc(nlibs ? nlibs : 1, sizeof(*ret->v));
	ret->n = 0;
	for (uint32_t i = 0; i < nlibs; i++) {
		const char *e = base + NEW_HEADER + (size_t)i * NEW_ENTRY;
		struct ldcache_entry *d = &ret->v[ret->n++];

		d->flags = (int32_t)rd32(e);
		d->key = string_at(base, size, rd32(e + 4));
		d->value = string_at(base, size, rd32(e + 8));
		d->hwcap = rd64(e + 16);
		if (d->key == NULL || d->value == NULL) {
			ldcache_done(ret);
			return error_set(err, 0, "ld.so.cache: corrupted entry %u (string offset past the end)", i);
		}
	}
	return 0;
}

void ldcache_done(struct ldcache *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int32_t ldcache_native_arch(void)
{
#if defined(__x86_64__)
	return LDCACHE_ARCH_X8664;
#elif defined(__aarch64__)
	return LDCACHE_ARCH_AARCH64;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return LDCACHE_ARCH_PPC64LE;
#else
	return LDCACHE_ARCH_I386;
#endif
}
