/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image_store.h"
#include "image/registry/manifest.h"
#include "image/squashfs/sqfs_super.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define REF_FILE_MAX 4096

int image_store_open(const char *cache_path, struct image_store *st, struct error *err)
{
	memset(st, 0, sizeof(*st));
	st->dirfd = st->imagesfd = st->refsfd = -1;
	st->path = xasprintf("%s/images", cache_path);
	st->dirfd = open_private_dir(AT_FDCWD, st->path, PRIVATE_DIR_CREATE, err);
	if (st->dirfd >= 0)
		st->imagesfd = open_private_dir(st->dirfd, "sha256", PRIVATE_DIR_CREATE, err);
	if (st->imagesfd >= 0)
		st->refsfd = open_private_dir(st->dirfd, "refs", PRIVATE_DIR_CREATE, err);
	if (st->refsfd < 0) {
		image_store_close(st);
		return error_prefix(err, "image store");
	}
	return 0;
}

void image_store_close(struct image_store *st)
{
	int fds[] = {st->dirfd, st->imagesfd, st->refsfd};

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(st->path);
	memset(st, 0, sizeof(*st));
	st->dirfd = st->imagesfd = st->refsfd = -1;
}

char *image_store_path(const struct image_store *st, const char *digest)
{
	return xasprintf("%s/sha256/%s.sqsh", st->path, digest + 7);
}

bool image_store_has(const struct image_store *st, const char *digest)
{
	_cleanup_free_ char *path = NULL;
	struct error ignored = ERROR_INIT;

	if (!digest_valid(digest))
		return false;
	path = image_store_path(st, digest);
	/* A truncated or foreign file is not an image: it is imported again. */
	return sqfs_super_check(path, 0, &ignored) == 0;
}

static int copy_into_store(const struct image_store *st, const char *digest, int in, uint64_t size,
			   struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf(".%s.adopt-%d", digest + 7, (int)getpid());
	_cleanup_free_ char *name = xasprintf("%s.sqsh", digest + 7);
	_cleanup_close_ int out = -1;

	unlinkat(st->imagesfd, tmp, 0);
	out = openat(st->imagesfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return error_set(err, errno, "failed to create an image in the store");
	if (copy_fd_range(in, 0, out, 0, size) < 0 || fsync(out) < 0) {
		int e = errno;

		unlinkat(st->imagesfd, tmp, 0);
		return error_set(err, e, "failed to copy the image into the store");
	}
	/* Another node's copy of the same digest may have won: same bytes. */
	if (renameat2(st->imagesfd, tmp, st->imagesfd, name, RENAME_NOREPLACE) < 0 && errno != EEXIST) {
		int e = errno;

		unlinkat(st->imagesfd, tmp, 0);
		return error_set(err, e, "failed to add the image to the store");
	}
	unlinkat(st->imagesfd, tmp, 0);
	return 0;
}

int image_store_adopt(const struct image_store *st, const char *digest, const char *path, struct error *err)
{
	_cleanup_free_ char *dest = NULL;
	_cleanup_close_ int in = -1;
	struct stat sb;

	if (!digest_valid(digest))
		return error_set(err, EINVAL, "invalid image digest '%s'", digest);
	in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return error_set(err, errno, "failed to open '%s'", path);
	if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode))
		return error_set(err, EINVAL, "'%s' is not a regular file", path);
	if (sqfs_super_check(path, 0, err) < 0)
		return error_prefix(err, "%s", path);
	dest = image_store_path(st, digest);
	if (!image_store_has(st, digest) && rename_noreplace(path, dest) < 0 && errno != EEXIST) {
		if (errno != EXDEV)
			return error_set(err, errno, "failed to move '%s' into the image store", path);
		if (copy_into_store(st, digest, in, (uint64_t)sb.st_size, err) < 0)
			return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(err, errno, "failed to remove '%s'", path);
	return 0;
}

/* Refs are named by a hash: a reference may hold any character. */
static void ref_key(const char *ref, char out[65])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(ref, strlen(ref), h, &n, EVP_sha256(), NULL) != 1)
		abort();
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int image_store_ref_get(const struct image_store *st, const char *ref, char **ret, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	char key[65];

	*ret = NULL;
	ref_key(ref, key);
	if (read_file_at(st->refsfd, key, REF_FILE_MAX, &text, NULL, err) < 0)
		return err->code == ENOENT ? (error_clear(err), 0) : -1;
	text[strcspn(text, " \n")] = '\0';
	if (!digest_valid(text))
		return 0;
	*ret = TAKE_PTR(text);
	return 0;
}

int image_store_ref_set(const struct image_store *st, const char *ref, const char *digest, struct error *err)
{
	_cleanup_free_ char *text = xasprintf("%s %s\n", digest, ref);
	char key[65];

	ref_key(ref, key);
	return write_file_atomic_at(st->refsfd, key, text, strlen(text), 0600, err);
}

/* Calls fn for every regular file in dirfd whose name ends with suffix. */
static int for_each_file(int dirfd, const char *suffix, int (*fn)(int dirfd, const char *name, const struct stat *st,
								 void *arg),
			 void *arg, struct error *err)
{
	_cleanup_closedir_ DIR *d = opendir_dup(dirfd);
	struct dirent *de;
	size_t k = strlen(suffix);

	if (d == NULL)
		return error_errno(err, "failed to read the image store");
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct stat st;

		if (de->d_name[0] == '.' || n < k || strcmp(de->d_name + n - k, suffix) ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (fn(dirfd, de->d_name, &st, arg) < 0)
			return error_errno(err, "failed to update the image store");
	}
	return 0;
}

static int list_one(int dirfd, const char *name, const struct stat *st, void *arg)
{
	(void)dirfd;
	fprintf(arg, "sha256:%.*s %jd image\n", (int)(strlen(name) - 5), name, (intmax_t)st->st_size);
	return 0;
}

int image_store_list(const struct image_store *st, FILE *out, struct error *err)
{
	return for_each_file(st->imagesfd, ".sqsh", list_one, out, err);
}

static int remove_one(int dirfd, const char *name, const struct stat *st, void *arg)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -1;
	*(uint64_t *)arg += (uint64_t)st->st_size;
	return 0;
}

/* A running container keeps its image open: unlinking it is safe. */
int image_store_prune(const struct image_store *st, uint64_t *freed, struct error *err)
{
	if (for_each_file(st->imagesfd, "", remove_one, freed, err) < 0)
		return -1;
	return for_each_file(st->refsfd, "", remove_one, freed, err);
}
