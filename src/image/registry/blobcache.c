/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/registry/blobcache.h"
#include "image/registry/manifest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define HASH_BUF (1024 * 1024)

int sha256_fd(int fd, uint64_t len, char ret_hex[65], struct error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	_cleanup_free_ unsigned char *buf = xmalloc(HASH_BUF);
	unsigned char md[32];
	unsigned int mdlen = 0;
	ssize_t n;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return error_set(err, ENOMEM, "failed to initialise sha256");
	}
	while (len > 0 && (n = read(fd, buf, len < HASH_BUF ? len : HASH_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			EVP_MD_CTX_free(ctx);
			return error_errno(err, "failed to read for hashing");
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		len -= (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* blobs/, tmp/ and locks/ are ours and private (K09): another user must not
 * be able to plant a blob or hold a lock. */
static int open_cache_dir(int dirfd, const char *cache_path, const char *name, struct error *err)
{
	int fd = open_private_dir(dirfd, name, PRIVATE_DIR_CREATE, err);

	return fd < 0 ? error_prefix(err, "cache '%s'", cache_path) : fd;
}

int blobcache_open(const char *cache_path, struct blobcache *ret, struct error *err)
{
	_cleanup_close_ int blobs = -1;

	memset(ret, 0, sizeof(*ret));
	ret->blobsfd = ret->tmpfd = ret->locksfd = -1;
	ret->dirfd = open_private_dir(AT_FDCWD, cache_path, 0, err);
	if (ret->dirfd < 0)
		return error_prefix(err, "cache");
	ret->path = xstrdup(cache_path);
	blobs = open_cache_dir(ret->dirfd, cache_path, "blobs", err);
	if (blobs < 0 || (ret->blobsfd = open_cache_dir(blobs, cache_path, "sha256", err)) < 0 ||
	    (ret->tmpfd = open_cache_dir(ret->dirfd, cache_path, "tmp", err)) < 0 ||
	    (ret->locksfd = open_cache_dir(ret->dirfd, cache_path, "locks", err)) < 0) {
		blobcache_close(ret);
		return -1;
	}
	return 0;
}

void blobcache_close(struct blobcache *bc)
{
	int *fds[] = {&bc->dirfd, &bc->blobsfd, &bc->tmpfd, &bc->locksfd};

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	free(bc->path);
	bc->path = NULL;
}

int blobcache_lookup(struct blobcache *bc, const char *digest, int *ret_fd, enum blob_format *ret_format,
		     struct error *err)
{
	const char *hex = digest + 7;
	int fd;

	if (!digest_valid(digest))
		return error_set(err, 0, "invalid digest '%s'", digest);
	fd = openat(bc->blobsfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	*ret_format = BLOB_VERBATIM;
	if (fd < 0 && errno == ENOENT) {
		fd = openat(bc->dirfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		*ret_format = BLOB_ENROOT_ZSTD;
	}
	if (fd < 0)
		return errno == ENOENT ? 0 : error_set(err, errno, "failed to open cached blob %s", hex);
	*ret_fd = fd;
	return 1;
}

static int lock_digest(struct blobcache *bc, const char *hex, long timeout, struct error *err)
{
	_cleanup_free_ char *name = xasprintf("%s.lock", hex);
	int fd = openat(bc->locksfd, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	time_t start = time(NULL);

	if (fd < 0)
		return error_set(err, errno, "failed to open cache lock for %s", hex);
	/* Lock files are never removed: unlinking one while another process
	 * waits on it would let two writers in (security.md §5). */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return error_set(err, errno, "failed to lock cache entry %s", hex);
		}
		if (time(NULL) - start >= timeout) {
			close(fd);
			return error_set(err, 0, "timed out waiting for another import to download %s", hex);
		}
		usleep(20000);
	}
	return fd;
}

int blobcache_begin(struct blobcache *bc, const char *digest, long timeout, struct blob_writer *w,
		    struct error *err)
{
	struct stat st;

	if (!digest_valid(digest))
		return error_set(err, 0, "invalid digest '%s'", digest);
	memset(w, 0, sizeof(*w));
	w->bc = bc;
	w->fd = -1;
	snprintf(w->hex, sizeof(w->hex), "%s", digest + 7);
	w->lockfd = lock_digest(bc, w->hex, timeout, err);
	if (w->lockfd < 0)
		return -1;
	if (fstatat(bc->blobsfd, w->hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		blobcache_abort(w);
		return 1;
	}
	snprintf(w->tmpname, sizeof(w->tmpname), "%s.%d", w->hex, (int)getpid());
	unlinkat(bc->tmpfd, w->tmpname, 0);
	w->fd = openat(bc->tmpfd, w->tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;

		blobcache_abort(w);
		return error_set(err, e, "failed to create a temporary cache file");
	}
	return 0;
}

int blobcache_commit(struct blob_writer *w, const char *written_hex, struct error *err)
{
	char hex[65];

	if (written_hex) {
		snprintf(hex, sizeof(hex), "%s", written_hex);
	} else if (lseek(w->fd, 0, SEEK_SET) < 0 || sha256_fd(w->fd, UINT64_MAX, hex, err) < 0) {
		blobcache_abort(w);
		return -1;
	}
	if (strcmp(hex, w->hex)) {
		blobcache_abort(w);
		return error_set(err, 0, "checksum mismatch: sha256:%s (got sha256:%s): nothing was cached", w->hex, hex);
	}
	if (fsync(w->fd) < 0 || fchmod(w->fd, 0640) < 0 ||
	    renameat(w->bc->tmpfd, w->tmpname, w->bc->blobsfd, w->hex) < 0) {
		int e = errno;

		blobcache_abort(w);
		return error_set(err, e, "failed to publish cache entry %s", hex);
	}
	fsync(w->bc->blobsfd);
	w->tmpname[0] = '\0';
	blobcache_abort(w);
	return 0;
}

void blobcache_abort(struct blob_writer *w)
{
	if (w->tmpname[0])
		unlinkat(w->bc->tmpfd, w->tmpname, 0);
	w->tmpname[0] = '\0';
	if (w->fd >= 0)
		close(w->fd);
	if (w->lockfd >= 0)
		close(w->lockfd);
	w->fd = w->lockfd = -1;
}

int blobcache_verify(struct blobcache *bc, const char *hex, struct error *err)
{
	_cleanup_close_ int fd = openat(bc->blobsfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char got[65];

	if (fd < 0)
		return error_set(err, errno, "failed to open cache entry %s", hex);
	if (sha256_fd(fd, UINT64_MAX, got, err) < 0)
		return -1;
	if (strcmp(got, hex)) {
		unlinkat(bc->blobsfd, hex, 0);
		return error_set(err, 0, "cache entry %s was corrupt and has been removed", hex);
	}
	return 0;
}
