/* SPDX-License-Identifier: Apache-2.0 */
/* Reading archives in place (archive_index) and gzip layers through ISA-L
 * (gunzip + layer_reader), on files written here with libarchive and gzip. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>

#include "image/sources/archive_source.h"
#include "image/layers/gunzip.h"
#include "image/layers/layer_reader.h"
#include "tap.h"
#include "util/fs.h"
#include "util/xalloc.h"

static char dir[] = "/tmp/capsa-archive-XXXXXX";

static void cleanup(void)
{
	ASSERT_TRUE(system(xasprintf("rm -rf '%s'", dir)) == 0);
}

static char *content(const char *name, size_t size)
{
	char *data = xmalloc(size + 1);

	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + (i * 7 + strlen(name)) % 26);
	data[size] = '\0';
	return data;
}

/* A pax tar (long names get extended headers) of the given entries. */
static char *write_tar(const char *const *names, const size_t *sizes, size_t n)
{
	char *path = xasprintf("%s/t.tar", dir);
	struct archive *a = archive_write_new();

	ASSERT_EQ(archive_write_set_format_pax(a), ARCHIVE_OK);
	ASSERT_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		char *data = content(names[i], sizes[i]);

		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)sizes[i]);
		ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
		ASSERT_EQ(archive_write_data(a, data, sizes[i]), (la_ssize_t)sizes[i]);
		archive_entry_free(e);
		free(data);
	}
	ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

TEST(index_finds_every_member_in_place)
{
	static const char *const names[] = {"./index.json", "blobs/sha256/aaaa", "oci-layout",
					    "blobs/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					    "empty"};
	static const size_t sizes[] = {10, 5000, 511, 70000, 0};
	struct archive_index idx;
	struct error err = ERROR_INIT;
	char *tar;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	tar = write_tar(names, sizes, 5);
	ASSERT_OK(archive_index_open(tar, &idx, &err), &err);
	for (size_t i = 0; i < 5; i++) {
		const char *name = !strncmp(names[i], "./", 2) ? names[i] + 2 : names[i];
		uint64_t off, size;
		char *got = NULL, *want = content(names[i], sizes[i]);
		size_t len;
		int fd = archive_source_open(&idx, NULL, name, &off, &size, &err);

		ASSERT_TRUE(fd >= 0);
		ASSERT_EQ(size, sizes[i]);
		ASSERT_OK(read_fd_exact(fd, size, &got, &len, &err), &err);
		ASSERT_TRUE(memcmp(got, want, sizes[i]) == 0);
		close(fd);
		free(got);
		free(want);
	}
	ASSERT_TRUE(archive_index_find(&idx, "missing") == NULL);
	archive_index_done(&idx);
	cleanup();
}

TEST(index_refuses_unexpected_names_and_defers_compressed)
{
	static const char *const evil[] = {"../escape"};
	static const size_t one[] = {3};
	struct archive_index idx;
	struct error err = ERROR_INIT;
	char *tar;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	tar = write_tar(evil, one, 1);
	ASSERT_FAILS(archive_index_open(tar, &idx, &err));
	ASSERT_TRUE(strstr(err.msg, "unexpected entry") != NULL);
	ASSERT_EQ(system(xasprintf("gzip -k '%s'", tar)), 0);
	err = (struct error)ERROR_INIT;
	ASSERT_FAILS(archive_index_open(xasprintf("%s.gz", tar), &idx, &err));
	ASSERT_EQ(err.code, ENOTSUP);
	cleanup();
}

/* Read a whole stream of gzip members through gunzip into memory. */
static int gunzip_all(const char *path, uint64_t offset, uint64_t length, char **ret, size_t *ret_len,
		      struct error *err)
{
	struct archive *a = archive_read_new();
	struct layer_reader r = {.index = 0, .err = err, .left = length ? length : UINT64_MAX};
	struct archive_entry *e;
	char buf[65536];
	la_ssize_t n;
	int rc;

	r.fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(r.fd >= 0);
	ASSERT_TRUE(lseek(r.fd, (off_t)offset, SEEK_SET) == (off_t)offset);
	archive_read_support_format_raw(a);
	*ret = NULL;
	*ret_len = 0;
	rc = gunzip_archive_open(a, &r) == ARCHIVE_OK && archive_read_next_header(a, &e) == ARCHIVE_OK ? 0 : -1;
	while (rc == 0 && (n = archive_read_data(a, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			rc = error_set(err, 0, "%s", archive_error_string(a));
			break;
		}
		*ret = xrealloc(*ret, *ret_len + (size_t)n + 1);
		memcpy(*ret + *ret_len, buf, (size_t)n);
		*ret_len += (size_t)n;
	}
	if (rc < 0 && !err->msg[0])
		error_set(err, 0, "%s", archive_error_string(a));
	archive_read_free(a);
	close(r.fd);
	return rc;
}

TEST(gunzip_members_padding_ranges_and_truncation)
{
	struct error err = ERROR_INIT;
	char *got;
	size_t len;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	/* Two members (as pigz or cat of two gzips makes), then zero padding. */
	ASSERT_EQ(system(xasprintf("cd '%s' && seq 1 100000 > plain && head -c 300000 plain | gzip > g && "
				   "tail -c +300001 plain | gzip -1 >> g && head -c 1024 /dev/zero >> g",
				   dir)),
		  0);
	ASSERT_OK(gunzip_all(xasprintf("%s/g", dir), 0, 0, &got, &len, &err), &err);
	ASSERT_OK(system(xasprintf("cd '%s' && test $(stat -c %%s plain) = %zu", dir, len)) == 0 ? 0 : -1, &err);
	ASSERT_TRUE(!strncmp(got, "1\n2\n3\n", 6) && !strncmp(got + len - 7, "100000\n", 7));
	free(got);
	/* The same stream inside a bigger file, read as a range. */
	ASSERT_EQ(system(xasprintf("cd '%s' && (head -c 777 /dev/urandom; cat g; echo trailer) > big", dir)), 0);
	ASSERT_OK(gunzip_all(xasprintf("%s/big", dir), 777, 0, &got, &len, &err), &err);
	ASSERT_TRUE(!strncmp(got + len - 7, "100000\n", 7));
	free(got);
	/* Cut inside the second member: an error, not a short layer. */
	ASSERT_EQ(system(xasprintf("cd '%s' && head -c $(( $(stat -c %%s g) - 1200 )) g > cut", dir)), 0);
	ASSERT_FAILS(gunzip_all(xasprintf("%s/cut", dir), 0, 0, &got, &len, &err));
	free(got);
	/* A flipped byte in the data fails the CRC (or the inflate). */
	ASSERT_EQ(system(xasprintf("cd '%s' && cp g bad && printf '\\377' | dd of=bad bs=1 seek=5000 conv=notrunc "
				   "status=none",
				   dir)),
		  0);
	err = (struct error)ERROR_INIT;
	ASSERT_FAILS(gunzip_all(xasprintf("%s/bad", dir), 0, 0, &got, &len, &err));
	free(got);
	cleanup();
}

TAP_MAIN(T(index_finds_every_member_in_place), T(index_refuses_unexpected_names_and_defers_compressed),
	 T(gunzip_members_padding_ranges_and_truncation))
