/* SPDX-License-Identifier: Apache-2.0 */
/* ld.so.cache parsing on synthetic caches (new-only, libc5+new, truncated,
 * offsets past the end) and on this host's own cache. */
#include <fcntl.h>
#include <stdint.h>

#include "gpu/ldcache.h"
#include "tap.h"
#include "util/cleanup.h"
#include "util/fs.h"

struct lib {
	int32_t flags;
	const char *key, *value;
};

static void put32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A cache in the new format, after an old libc5 table when old_n >= 0.
 * Returns its length; *buf is malloc'ed. */
static size_t write_cache(const struct lib *libs, size_t n, int old_n, char **buf)
{
	size_t off = 0, strings, len;
	char *b;

	if (old_n >= 0)
		off = (16 + (size_t)old_n * 12 + 7) & ~(size_t)7;
	strings = 48 + n * 24;
	len = off + strings;
	for (size_t i = 0; i < n; i++)
		len += strlen(libs[i].key) + strlen(libs[i].value) + 2;
	b = calloc(1, len);
	if (old_n >= 0) {
		memcpy(b, "ld.so-1.7.0", 11);
		put32(b + 12, (uint32_t)old_n);
	}
	memcpy(b + off, "glibc-ld.so.cache1.1", 20);
	put32(b + off + 20, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		char *e = b + off + 48 + i * 24;

		put32(e, (uint32_t)libs[i].flags);
		put32(e + 4, (uint32_t)strings);
		strcpy(b + off + strings, libs[i].key);
		strings += strlen(libs[i].key) + 1;
		put32(e + 8, (uint32_t)strings);
		strcpy(b + off + strings, libs[i].value);
		strings += strlen(libs[i].value) + 1;
	}
	*buf = b;
	return len;
}

static const struct lib libs[] = {
	{0x0303, "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
	{0x0a03, "libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"},
	{0x0003, "libcuda.so.1", "/usr/lib/i386-linux-gnu/libcuda.so.1"},
};

static void check_libs(const struct ldcache *c)
{
	ASSERT_EQ(c->n, ARRAY_SIZE(libs));
	for (size_t i = 0; i < c->n; i++) {
		ASSERT_EQ(c->v[i].flags, libs[i].flags);
		ASSERT_STREQ(c->v[i].key, libs[i].key);
		ASSERT_STREQ(c->v[i].value, libs[i].value);
	}
}

TEST(new_format)
{
	struct ldcache c;
	struct error err = ERROR_INIT;
	char *buf;
	size_t len = write_cache(libs, ARRAY_SIZE(libs), -1, &buf);

	ASSERT_OK(ldcache_parse(buf, len, &c, &err), &err);
	check_libs(&c);
	ASSERT_EQ(c.v[0].flags & LDCACHE_ARCH_MASK, LDCACHE_ARCH_X8664);
	ldcache_done(&c);
	free(buf);
}

TEST(combined_old_and_new)
{
	struct ldcache c;
	struct error err = ERROR_INIT;
	char *buf;
	size_t len = write_cache(libs, ARRAY_SIZE(libs), 3, &buf);

	ASSERT_OK(ldcache_parse(buf, len, &c, &err), &err);
	check_libs(&c);
	ldcache_done(&c);
	free(buf);
}

TEST(truncated_files_fail_cleanly)
{
	struct ldcache c;
	char *buf;
	size_t len = write_cache(libs, ARRAY_SIZE(libs), 2, &buf);

	/* Every prefix fails (the last string loses its NUL) without reading past it. */
	for (size_t cut = 0; cut < len; cut++) {
		struct error err = ERROR_INIT;
		char *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		if (ldcache_parse(copy, cut, &c, &err) == 0)
			TAP_FAIL("a cache cut at %zu of %zu bytes parsed", cut, len);
		free(copy);
	}
	free(buf);
}

TEST(offsets_and_counts_past_eof)
{
	struct ldcache c;
	struct error err = ERROR_INIT;
	char *buf;
	size_t len = write_cache(libs, ARRAY_SIZE(libs), -1, &buf);

	put32(buf + 48 + 24 + 8, (uint32_t)len + 100); /* second value */
	ASSERT_FAILS(ldcache_parse(buf, len, &c, &err));
	ASSERT_TRUE(strstr(err.msg, "corrupted entry 1") != NULL);
	put32(buf + 48 + 24 + 8, 0xffffffffu);
	ASSERT_FAILS(ldcache_parse(buf, len, &c, &err));
	put32(buf + 20, 0x7fffffffu); /* nlibs */
	ASSERT_FAILS(ldcache_parse(buf, len, &c, &err));
	ASSERT_TRUE(strstr(err.msg, "do not fit") != NULL);
	memcpy(buf, "garbage", 7);
	ASSERT_FAILS(ldcache_parse(buf, len, &c, &err));
	free(buf);
	/* An old table whose count points the new header past the end. */
	len = write_cache(libs, ARRAY_SIZE(libs), 1, &buf);
	put32(buf + 12, 0x40000000u);
	ASSERT_FAILS(ldcache_parse(buf, len, &c, &err));
	free(buf);
}

/* A small fuzz run: random byte and word mutations of a valid cache either
 * parse (every string then lies inside the buffer) or fail, never crash
 * (ASan build). Deterministic seed. */
TEST(random_mutations)
{
	char *buf;
	size_t len = write_cache(libs, ARRAY_SIZE(libs), 2, &buf);
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		char *copy = malloc(len);
		struct error err = ERROR_INIT;
		struct ldcache c;

		memcpy(copy, buf, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			size_t at = (size_t)rand_r(&seed) % len;

			if (rand_r(&seed) % 2 && at + 4 <= len)
				put32(copy + at, (uint32_t)rand_r(&seed) * 2654435761u);
			else
				copy[at] = (char)rand_r(&seed);
		}
		if (ldcache_parse(copy, len, &c, &err) == 0) {
			for (size_t i = 0; i < c.n; i++) {
				ASSERT_TRUE(c.v[i].key >= copy && c.v[i].key + strlen(c.v[i].key) < copy + len);
				ASSERT_TRUE(c.v[i].value >= copy && c.v[i].value + strlen(c.v[i].value) < copy + len);
			}
			ldcache_done(&c);
		}
		free(copy);
	}
	free(buf);
}

TEST(host_cache)
{
	struct ldcache c;
	struct error err = ERROR_INIT;
	char *buf = NULL;
	size_t len;
	bool libc = false;

	if (read_file_at(AT_FDCWD, "/etc/ld.so.cache", LDCACHE_MAX_SIZE, &buf, &len, &err) < 0)
		SKIP("no /etc/ld.so.cache");
	ASSERT_OK(ldcache_parse(buf, len, &c, &err), &err);
	for (size_t i = 0; i < c.n; i++) {
		if (!strcmp(c.v[i].key, "libc.so.6") && (c.v[i].flags & LDCACHE_ARCH_MASK) == ldcache_native_arch())
			libc = true;
	}
	ASSERT_TRUE(libc);
	ldcache_done(&c);
	free(buf);
}

TAP_MAIN(T(new_format), T(combined_old_and_new), T(truncated_files_fail_cleanly), T(offsets_and_counts_past_eof), T(random_mutations),
	 T(host_cache))
