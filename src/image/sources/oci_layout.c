/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/sources/archive_source.h"
#include "image/registry/blobcache.h"
#include "image/sources/oci_layout.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

int oci_ref_parse(const char *uri, struct oci_ref *ret, struct error *err)
{
	_cleanup_free_ char *path = NULL;
	const char *colon;

	memset(ret, 0, sizeof(*ret));
	if (strncmp(uri, "oci://", 6) || uri[6] == '\0')
		return error_set(err, 0, "invalid image reference: %s (expected oci://DIR[:NAME])", uri);
	path = xstrdup(uri + 6);
	colon = strrchr(path, ':');
	if (colon && !strchr(colon, '/') && colon[1] != '\0') {
		ret->name = xstrdup(colon + 1);
		path[colon - path] = '\0';
	}
	ret->dir = path_absolute(path);
	if (ret->dir == NULL || !path_is_dir(ret->dir)) {
		oci_ref_done(ret);
		return error_set(err, ENOENT, "no OCI image layout at '%s'", path);
	}
	return 0;
}

void oci_ref_done(struct oci_ref *r)
{
	free(r->dir);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

/* The fd is at the blob's data, whose size was checked. */
static int open_blob(const struct oci_ref *ref, const struct descriptor *d, uint64_t *ret_offset, struct error *err)
{
	_cleanup_free_ char *name = xasprintf("blobs/sha256/%s", d->digest + 7);
	uint64_t size;
	int fd = archive_source_open(ref->archive, ref->dir, name, ret_offset, &size, err);

	if (fd < 0)
		return error_set(err, err->code, "missing blob %s in the layout", d->digest);
	if (size != d->size) {
		close(fd);
		return error_set(err, 0, "blob %s has the wrong size in the layout", d->digest);
	}
	return fd;
}

static int verify_fd(int fd, uint64_t offset, const struct descriptor *d, struct error *err)
{
	char hex[65];

	if (sha256_fd(fd, d->size, hex, err) < 0)
		return -1;
	if (strcmp(hex, d->digest + 7))
		return error_set(err, 0, "Checksum mismatch: %s", d->digest);
	return lseek(fd, (off_t)offset, SEEK_SET) < 0 ? error_errno(err, "failed to rewind") : 0;
}

int oci_layout_blob(const struct oci_ref *ref, const struct descriptor *d, char **ret_path, uint64_t *ret_offset,
		    struct error *err)
{
	_cleanup_close_ int fd = open_blob(ref, d, ret_offset, err);

	if (fd < 0 || verify_fd(fd, *ret_offset, d, err) < 0)
		return -1;
	*ret_path = ref->archive ? xstrdup(ref->archive->file) : xasprintf("%s/blobs/sha256/%s", ref->dir, d->digest + 7);
	return TAKE_FD(fd);
}

/* A small verified blob (manifest, index, config) read into memory. */
static int read_blob(const struct oci_ref *ref, const struct descriptor *d, size_t max, char **ret, size_t *len,
		     struct error *err)
{
	_cleanup_close_ int fd = -1;
	uint64_t offset;

	if (d->size > max)
		return error_set(err, 0, "blob %s is too large (%ju bytes)", d->digest, (uintmax_t)d->size);
	fd = open_blob(ref, d, &offset, err);
	if (fd < 0 || verify_fd(fd, offset, d, err) < 0)
		return -1;
	return read_fd_exact(fd, d->size, ret, len, err);
}

static int resolve_manifest(const struct oci_ref *ref, const char *arch, const char *variant, char **ret,
			    size_t *ret_len, struct error *err)
{
	_cleanup_free_ char *index = NULL;
	_cleanup_close_ int fd = -1;
	struct descriptor d = {0};
	enum manifest_kind kind;
	uint64_t offset, size;
	size_t len;
	int r;

	fd = archive_source_open(ref->archive, ref->dir, "index.json", &offset, &size, err);
	if (fd < 0 || size > MANIFEST_MAX_BYTES || read_fd_exact(fd, size, &index, &len, err) < 0)
		return error_prefix(err, "'%s' is not an OCI image layout", ref->dir);
	r = index_find_ref(index, len, ref->name, &d, err);
	for (int depth = 0; r == 0; depth++) {
		free(*ret);
		*ret = NULL;
		r = read_blob(ref, &d, MANIFEST_MAX_BYTES, ret, ret_len, err);
		if (r == 0)
			r = manifest_kind(*ret, *ret_len, NULL, &kind, err);
		if (r < 0 || kind == MANIFEST_KIND_IMAGE)
			break;
		if (depth >= INDEX_MAX_DEPTH) {
			r = error_set(err, 0, "image indexes nested too deeply");
			break;
		}
		descriptor_done(&d);
		r = index_select(*ret, *ret_len, "linux", arch, variant, &d, err);
	}
	descriptor_done(&d);
	return r;
}

int oci_layout_resolve(const struct oci_ref *ref, const char *arch, const char *variant, struct manifest *ret,
		       char **ret_config, size_t *ret_config_len, struct error *err)
{
	_cleanup_free_ char *body = NULL;
	size_t len = 0;

	if (resolve_manifest(ref, arch, variant, &body, &len, err) < 0 || manifest_parse(body, len, ret, err) < 0)
		return -1;
	if (read_blob(ref, &ret->config, CONFIG_MAX_BYTES, ret_config, ret_config_len, err) < 0) {
		manifest_done(ret);
		return error_prefix(err, "image config");
	}
	return 0;
}
