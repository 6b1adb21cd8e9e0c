/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa cache list|verify|prune`: enroot's cache grows forever (#134). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/registry/blobcache.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/xalloc.h"

static int entries(int dirfd, struct strv *out, struct error *err)
{
	_cleanup_closedir_ DIR *d = opendir_dup(dirfd);
	struct dirent *de;

	if (d == NULL)
		return error_errno(err, "failed to read the cache");
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			strv_push(out, de->d_name);
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), strv_sort_cmp);
	return 0;
}

int blobcache_list(struct blobcache *bc, FILE *out, struct error *err)
{
	struct strv names = STRV_INIT;

	if (entries(bc->blobsfd, &names, err) < 0)
		return -1;
	for (size_t i = 0; i < names.n; i++) {
		struct stat st;

		if (fstatat(bc->blobsfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			fprintf(out, "sha256:%s %jd\n", names.v[i], (intmax_t)st.st_size);
	}
	strv_free(&names);
	return 0;
}

/* A temporary file is stale when nobody holds its digest's lock. */
static bool writer_gone(struct blobcache *bc, const char *tmpname)
{
	_cleanup_free_ char *lock = xasprintf("%.64s.lock", tmpname);
	_cleanup_close_ int fd = openat(bc->locksfd, lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0;
}

static int prune_dir(struct blobcache *bc, int dirfd, bool only_stale, uint64_t *freed, struct error *err)
{
	struct strv names = STRV_INIT;

	if (entries(dirfd, &names, err) < 0)
		return -1;
	for (size_t i = 0; i < names.n; i++) {
		struct stat st;

		if (only_stale && !writer_gone(bc, names.v[i]))
			continue;
		if (fstatat(dirfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && unlinkat(dirfd, names.v[i], 0) == 0)
			*freed += (uint64_t)st.st_size;
	}
	strv_free(&names);
	return 0;
}

int blobcache_prune(struct blobcache *bc, uint64_t *ret_freed, struct error *err)
{
	*ret_freed = 0;
	if (prune_dir(bc, bc->tmpfd, true, ret_freed, err) < 0)
		return -1;
	return prune_dir(bc, bc->blobsfd, false, ret_freed, err);
}
