/* SPDX-License-Identifier: Apache-2.0 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/sources/archive_source.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_ENTRIES 100000
#define MAX_DEPTH 3

/* Layout and `docker save` archives only hold names like "index.json",
 * "blobs/sha256/<hex>" or "<hex>/layer.tar": anything else is refused, so
 * no entry can reach outside the directory. */
static bool name_ok(const char *n)
{
	int depth = 1;

	if (*n == '\0' || *n == '/')
		return false;
	for (const char *p = n; *p; p++) {
		if (*p == '/')
			depth++;
		else if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:", *p))
			return false;
	}
	return depth <= MAX_DEPTH && strstr(n, "..") == NULL && strstr(n, "//") == NULL;
}

static int parent_fd(int dirfd, char *name, char **ret_base, struct error *err)
{
	char *slash = strchr(name, '/');
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);

	while (fd >= 0 && slash) {
		int next;

		*slash = '\0';
		if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST) {
			close(fd);
			return error_set(err, errno, "failed to create '%s'", name);
		}
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		name = slash + 1;
		slash = strchr(name, '/');
	}
	if (fd < 0)
		return error_errno(err, "failed to open a directory of the archive");
	*ret_base = name;
	return fd;
}

static int extract_file(struct archive *a, int dirfd, const char *path, struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	_cleanup_close_ int parent = -1, fd = -1;
	char *base = NULL;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	parent = parent_fd(dirfd, copy, &base, err);
	if (parent < 0)
		return -1;
	fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, errno, "failed to create '%s' (duplicate entry?)", path);
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
			return error_set(err, errno, "failed to write '%s'", path);
	}
	if (r != ARCHIVE_EOF)
		return error_set(err, 0, "failed to read '%s' from the archive: %s", path, archive_error_string(a));
	return 0;
}

/* 1 with *ret_name (without "./") for a file to take, 0 for an entry to
 * skip, -1 for one these formats never hold. */
static int entry_name(struct archive_entry *e, const char **ret_name, struct error *err)
{
	const char *name = archive_entry_pathname(e);

	while (name && !strncmp(name, "./", 2))
		name += 2;
	/* Legacy `docker save` trees link <id>/layer.tar to the blobs that
	 * manifest.json names: the links are not needed. */
	if (name == NULL || *name == '\0' || archive_entry_filetype(e) == AE_IFDIR ||
	    archive_entry_filetype(e) == AE_IFLNK)
		return 0;
	if (archive_entry_filetype(e) != AE_IFREG || !name_ok(name) || archive_entry_size(e) < 0)
		return error_set(err, 0, "unexpected entry '%s' in the archive", name);
	*ret_name = name;
	return 1;
}

static struct archive *open_tar(const char *file, size_t block, struct error *err)
{
	struct archive *a = archive_read_new();

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, file, block) != ARCHIVE_OK) {
		error_set(err, 0, "failed to open archive '%s': %s", file, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int extract_all(struct archive *a, int dirfd, struct error *err)
{
	struct archive_entry *e;
	const char *name;
	size_t n = 0;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (++n > MAX_ENTRIES)
			return error_set(err, 0, "too many entries in the archive");
		r = entry_name(e, &name, err);
		if (r < 0 || (r > 0 && extract_file(a, dirfd, name, err) < 0))
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return error_set(err, 0, "failed to read the archive: %s", archive_error_string(a));
	return 0;
}

/* The data of an entry ends where the next header starts, less the padding
 * to 512 bytes: libarchive reports header positions, not data offsets. */
static void place_previous(struct archive_index *idx, int64_t next_header)
{
	struct archive_member *m = idx->n ? &idx->v[idx->n - 1] : NULL;
	uint64_t padded;

	if (m == NULL || m->offset != UINT64_MAX)
		return;
	padded = (m->size + 511) / 512 * 512;
	m->offset = (uint64_t)next_header >= padded ? (uint64_t)next_header - padded : 0;
}

static int index_entry(struct archive_index *idx, struct archive_entry *e, struct error *err)
{
	const char *name;
	int r = entry_name(e, &name, err);

	if (r <= 0)
		return r;
	if (idx->n >= MAX_ENTRIES)
		return error_set(err, 0, "too many entries in the archive");
	idx->v = xrealloc(idx->v, (idx->n + 1) * sizeof(*idx->v));
	idx->v[idx->n++] = (struct archive_member){xstrdup(name), UINT64_MAX, (uint64_t)archive_entry_size(e)};
	return 0;
}

static int index_entries(struct archive *a, struct archive_index *idx, struct error *err)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE) {
			error_set(err, 0, "compressed archive");
			err->code = ENOTSUP;
			return -1;
		}
		place_previous(idx, archive_read_header_position(a));
		if (index_entry(idx, e, err) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return error_set(err, 0, "failed to read the archive: %s", archive_error_string(a));
	place_previous(idx, archive_read_header_position(a));
	return 0;
}

int archive_index_open(const char *file, struct archive_index *ret, struct error *err)
{
	struct archive *a;
	int r;

	memset(ret, 0, sizeof(*ret));
	a = open_tar(file, 1 << 16, err);
	if (a == NULL)
		return -1;
	ret->file = xstrdup(file);
	r = index_entries(a, ret, err);
	archive_read_free(a);
	if (r < 0) {
		archive_index_done(ret);
		return err->code == ENOTSUP ? -1 : error_prefix(err, "%s", file);
	}
	return 0;
}

void archive_index_done(struct archive_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free(idx->v[i].name);
	free(idx->v);
	free(idx->file);
	memset(idx, 0, sizeof(*idx));
}

/* As tar extraction would leave it: the last entry of a name wins. */
const struct archive_member *archive_index_find(const struct archive_index *idx, const char *name)
{
	for (size_t i = idx->n; i-- > 0;) {
		if (!strcmp(idx->v[i].name, name))
			return &idx->v[i];
	}
	return NULL;
}

int archive_source_open(const struct archive_index *idx, const char *dir, const char *name, uint64_t *ret_offset,
			uint64_t *ret_size, struct error *err)
{
	const struct archive_member *m = idx ? archive_index_find(idx, name) : NULL;
	_cleanup_free_ char *path = idx ? xstrdup(idx->file) : xasprintf("%s/%s", dir, name);
	int fd = idx && m == NULL ? -1 : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return error_set(err, m || !idx ? errno : ENOENT, "missing '%s' in '%s'", name, idx ? idx->file : dir);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, 0, "'%s' is not a regular file", path);
	}
	*ret_offset = m ? m->offset : 0;
	*ret_size = m ? m->size : (uint64_t)st.st_size;
	if (m && (m->offset > (uint64_t)st.st_size || m->size > (uint64_t)st.st_size - m->offset ||
		  lseek(fd, (off_t)m->offset, SEEK_SET) < 0)) {
		close(fd);
		return error_set(err, 0, "'%s' lies outside the archive '%s'", name, idx->file);
	}
	return fd;
}

int archive_source_read(const struct archive_index *idx, const char *dir, const char *name, size_t max, char **ret,
			size_t *ret_len, struct error *err)
{
	uint64_t offset, size;
	_cleanup_close_ int fd = archive_source_open(idx, dir, name, &offset, &size, err);

	if (fd < 0)
		return -1;
	if (size > max)
		return error_set(err, E2BIG, "'%s' is too large (%ju bytes)", name, (uintmax_t)size);
	return read_fd_exact(fd, (size_t)size, ret, ret_len, err);
}

int archive_unpack(const char *file, const char *dir, struct error *err)
{
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct archive *a;
	int r;

	if (dirfd < 0)
		return error_set(err, errno, "failed to open '%s'", dir);
	a = open_tar(file, 1 << 20, err);
	if (a == NULL)
		return -1;
	r = extract_all(a, dirfd, err);
	archive_read_free(a);
	return r < 0 ? error_prefix(err, "%s", file) : 0;
}

static bool tagged(json_object *entry, const char *name)
{
	json_object *tags;

	if (name == NULL)
		return true;
	if (!json_object_object_get_ex(entry, "RepoTags", &tags) || !json_object_is_type(tags, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(tags); i++) {
		static const char *const prefixes[] = {"", "docker.io/library/", "docker.io/", "localhost/"};
		const char *t = json_object_get_string(json_object_array_get_idx(tags, i));

		/* Docker writes "ubuntu:22.04", podman "docker.io/library/ubuntu:22.04". */
		for (size_t k = 0; t && k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
			size_t pl = strlen(prefixes[k]);

			if (!strncmp(t, prefixes[k], pl) && !strcmp(t + pl, name))
				return true;
		}
	}
	return false;
}

static int entry_files(json_object *e, char **ret_config, struct strv *ret_layers, struct error *err)
{
	json_object *config, *layers;

	if (!json_object_object_get_ex(e, "Config", &config) || !json_object_is_type(config, json_type_string) ||
	    !json_object_object_get_ex(e, "Layers", &layers) || !json_object_is_type(layers, json_type_array))
		return error_set(err, 0, "manifest.json entry lacks Config or Layers");
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		const char *l = json_object_get_string(json_object_array_get_idx(layers, i));

		if (l == NULL || !name_ok(l) || i >= 1000)
			return error_set(err, 0, "manifest.json names an invalid layer");
		strv_push(ret_layers, l);
	}
	if (!name_ok(json_object_get_string(config)))
		return error_set(err, 0, "manifest.json names an invalid config");
	*ret_config = xstrdup(json_object_get_string(config));
	return 0;
}

int docker_archive_select(const char *json, size_t len, const char *name, char **ret_config, struct strv *ret_layers,
			  struct error *err)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *root = json_tokener_parse_ex(tok, json, (int)len);
	json_object *found = NULL;
	size_t n = 0;
	int r;

	json_tokener_free(tok);
	if (root == NULL || !json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return error_set(err, 0, "manifest.json is not a JSON array");
	}
	for (size_t i = 0; i < json_object_array_length(root); i++) {
		json_object *e = json_object_array_get_idx(root, i);

		if (json_object_is_type(e, json_type_object) && tagged(e, name) && n++ == 0)
			found = e;
	}
	if (found == NULL && name)
		r = error_set(err, 0, "no image tagged '%s' in the archive", name);
	else if (found == NULL || n > 1)
		r = error_set(err, 0, "the archive holds %zu images: name one as docker-archive://FILE:NAME:TAG", n);
	else
		r = entry_files(found, ret_config, ret_layers, err);
	json_object_put(root);
	return r;
}
