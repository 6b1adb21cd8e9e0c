/* SPDX-License-Identifier: Apache-2.0 */
/* glibc's /etc/ld.so.cache: the new format alone (glibc >= 2.32) or after
 * the old libc5 table. Pure and bounds-checked: every count and offset is
 * checked against the buffer, so a truncated or hostile cache fails cleanly. */
#ifndef CAPSA_GPU_LDCACHE_H
#define CAPSA_GPU_LDCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define LDCACHE_MAX_SIZE (64u << 20)
#define LDCACHE_MAX_ENTRIES (1u << 20)

/* flags & LDCACHE_ARCH_MASK, with the ELF bit (flags & 1) set. */
#define LDCACHE_ARCH_MASK 0xff00
#define LDCACHE_ARCH_I386 0x0000
#define LDCACHE_ARCH_X8664 0x0300
#define LDCACHE_ARCH_AARCH64 0x0a00
#define LDCACHE_ARCH_PPC64LE 0x0500

struct ldcache_entry {
	int32_t flags;
	const char *key;   /* SONAME, points into the buffer */
	const char *value; /* the library's path */
	uint64_t hwcap;
};

struct ldcache {
	struct ldcache_entry *v;
	size_t n;
};

/* buf must outlive ret (keys and values point into it). */
int ldcache_parse(const char *buf, size_t len, struct ldcache *ret, struct error *err);
void ldcache_done(struct ldcache *c);

/* The native architecture's flag value for this build. */
int32_t ldcache_native_arch(void);

#endif
