/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

int mkdir_p(const char *path, mode_t mode, struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);

	for (char *p = copy + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return error_set(err, errno, "failed to create directory '%s'", copy);
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (!path_is_dir(path))
		return error_set(err, ENOTDIR, "failed to create directory '%s'", path);
	return 0;
}

static int check_private_stat(const struct stat *st, const char *path, unsigned flags, struct error *err)
{
	bool sticky = (st->st_mode & S_ISVTX) != 0;
	bool others_write = (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;

	if (!S_ISDIR(st->st_mode))
		return error_set(err, ENOTDIR, "'%s' is not a directory", path);
	if ((flags & PRIVATE_DIR_SHARED_TMP) && st->st_uid == 0 && (sticky || !others_write))
		return 0;
	if (st->st_uid != geteuid() && geteuid() != 0)
		return error_set(err, 0, "'%s' is owned by uid %u, not by you: remove it or use another directory",
				 path, (unsigned)st->st_uid);
	if (others_write && !((flags & PRIVATE_DIR_SHARED_TMP) && sticky))
		return error_set(err, 0,
				 "'%s' is writable by group or others (mode %04o): run chmod go-w '%s' or use another "
				 "directory",
				 path, (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/* The path is not a directory: a symbolic link of our own (a user's
 * ~/.cache/capsa -> /scratch/...) is followed; anybody else's is refused,
 * in a sticky directory like /tmp nobody else can have replaced ours. */
static int open_own_link(int dirfd, const char *path, struct error *err)
{
	struct stat lst;
	int fd;

	if (fstatat(dirfd, path, &lst, AT_SYMLINK_NOFOLLOW) < 0)
		return error_set(err, errno, "failed to open directory '%s'", path);
	if (!S_ISLNK(lst.st_mode))
		return error_set(err, ENOTDIR, "'%s' is not a directory", path);
	if (lst.st_uid != geteuid())
		return error_set(err, 0,
				 "'%s' is a symbolic link owned by uid %u, not by you: remove it or use another directory",
				 path, (unsigned)lst.st_uid);
	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "failed to open directory '%s'", path);
	return fd;
}

/* Another user's 0700 directory cannot be opened at all: say whose it is
 * rather than "permission denied". */
static int open_failed(int dirfd, const char *path, unsigned flags, struct error *err)
{
	int saved = errno;
	struct stat st;

	if (saved == EACCES && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    check_private_stat(&st, path, flags, err) < 0)
		return -1;
	return error_set(err, saved, "failed to open directory '%s'", path);
}

int open_private_dir(int dirfd, const char *path, unsigned flags, struct error *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	_cleanup_close_ int fd = -1;
	size_t n = strlen(p);
	struct stat st;

	/* "dir/" would make the kernel follow a final symlink despite O_NOFOLLOW. */
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	if ((flags & PRIVATE_DIR_CREATE) && mkdirat(dirfd, p, 0700) < 0 && errno != EEXIST)
		return error_set(err, errno, "failed to create directory '%s'", p);
	fd = openat(dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		fd = open_own_link(dirfd, p, err);
	else if (fd < 0)
		return open_failed(dirfd, p, flags, err);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat '%s'", p);
	if (check_private_stat(&st, p, flags, err) < 0)
		return -1;
	return TAKE_FD(fd);
}

int read_fd(int fd, size_t max, char **ret, size_t *ret_len, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;

	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= max)
				return error_set(err, E2BIG, "file larger than %zu bytes", max);
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(err, "failed to read");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len != NULL)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

int read_fd_exact(int fd, size_t n, char **ret, size_t *ret_len, struct error *err)
{
	_cleanup_free_ char *buf = xmalloc(n + 1);
	size_t len = 0;

	while (len < n) {
		ssize_t k = read(fd, buf + len, n - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return error_errno(err, "failed to read");
		if (k == 0)
			return error_set(err, EIO, "unexpected end of file after %zu of %zu bytes", len, n);
		len += (size_t)k;
	}
	buf[n] = '\0';
	if (ret_len != NULL)
		*ret_len = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, struct error *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", path);
	if (read_fd(fd, max, ret, ret_len, err) < 0)
		return error_prefix(err, "'%s'", path);
	return 0;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int writeback_advance(struct writeback *wb, uint64_t end)
{
	const unsigned wait = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;

	while (end >= wb->next + WRITEBACK_WINDOW) {
		off64_t at = (off64_t)(wb->base + wb->next);

		if (sync_file_range(wb->fd, at, WRITEBACK_WINDOW, SYNC_FILE_RANGE_WRITE) < 0 && errno == EIO)
			return -1;
		if (wb->drop && wb->next >= WRITEBACK_WINDOW) {
			at -= WRITEBACK_WINDOW;
			if (sync_file_range(wb->fd, at, WRITEBACK_WINDOW, wait) < 0 && errno == EIO)
				return -1;
			posix_fadvise(wb->fd, at, WRITEBACK_WINDOW, POSIX_FADV_DONTNEED);
		}
		wb->next += WRITEBACK_WINDOW;
	}
	return 0;
}

void writeback_rewind(struct writeback *wb, uint64_t end)
{
	if (wb->next > end)
		wb->next = end - end % WRITEBACK_WINDOW;
}

void cache_drop_behind(int fd, uint64_t base, uint64_t *next, uint64_t end)
{
	if (end < *next + 2 * (uint64_t)WRITEBACK_WINDOW)
		return;
	posix_fadvise(fd, (off_t)(base + *next), (off_t)(end - WRITEBACK_WINDOW - *next), POSIX_FADV_DONTNEED);
	*next = end - WRITEBACK_WINDOW;
}

int copy_fd_range(int in, uint64_t in_off, int out, uint64_t out_off, uint64_t len)
{
	loff_t ioff = (loff_t)in_off, ooff = (loff_t)out_off;
	bool plain = false;

	while (len > 0) {
		ssize_t n;

		if (!plain) {
			n = copy_file_range(in, &ioff, out, &ooff, len, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
				plain = true;
				if (lseek(out, ooff, SEEK_SET) < 0)
					return -1;
				continue;
			}
		} else {
			n = sendfile(out, in, &ioff, len > (1u << 30) ? (1u << 30) : len);
			ooff += n > 0 ? n : 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : EIO;
			return -1;
		}
		len -= (uint64_t)n;
	}
	return 0;
}

int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	/* NFS lacks RENAME_NOREPLACE; link(2) fails on EEXIST atomically there. */
	if (errno != EINVAL || link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.capsa-%d", name, (int)getpid());
	_cleanup_close_ int fd = -1;

	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return error_set(err, errno, "failed to create '%s'", tmp);
	if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0) {
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		return error_set(err, e, "failed to write '%s'", tmp);
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		return error_set(err, e, "failed to replace '%s'", name);
	}
	return 0;
}

static int rm_rf_children(int dfd, dev_t dev, struct error *err);

static int rm_rf_entry(int dirfd, const char *name, dev_t dev, struct error *err)
{
	struct stat st;
	_cleanup_close_ int fd = -1;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : error_set(err, errno, "failed to stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return error_set(err, errno, "failed to remove '%s'", name);
		return 0;
	}
	if (st.st_dev != dev)
		return error_set(err, EXDEV, "refusing to remove '%s' on another filesystem", name);
	/* Images often carry 0555 or 0000 directories (enroot#42). */
	if ((st.st_mode & 0700) != 0700 && fchmodat(dirfd, name, (st.st_mode & 07777) | 0700, 0) < 0)
		return error_set(err, errno, "failed to make '%s' writable", name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", name);
	if (rm_rf_children(fd, dev, err) < 0)
		return error_prefix(err, "%s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return error_set(err, errno, "failed to remove '%s'", name);
	return 0;
}

DIR *opendir_dup(int dirfd)
{
	/* A dup, not openat("."): that would need search permission. */
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	/* A dup shares the file offset: start from the top whatever read it before. */
	rewinddir(d);
	return d;
}

static int rm_rf_children(int dfd, dev_t dev, struct error *err)
{
	_cleanup_closedir_ DIR *d = opendir_dup(dfd);
	struct dirent *de;

	if (d == NULL)
		return error_errno(err, "failed to read directory");
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rm_rf_entry(dfd, de->d_name, dev, err) < 0)
			return -1;
	}
	return 0;
}

int rm_rf_at(int dirfd, const char *name, struct error *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : error_set(err, errno, "failed to stat '%s'", name);
	return rm_rf_entry(dirfd, name, st.st_dev, err);
}

int list_dir_sorted(const char *dir, const char *suffix, struct strv *out, struct error *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t slen = suffix ? strlen(suffix) : 0;

	if (d == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return error_set(err, errno, "failed to open directory '%s'", dir);
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (suffix && (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0))
			continue;
		strv_push(out, de->d_name);
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), strv_sort_cmp);
	return 0;
}

int for_each_dir_file(const char *dir, const char *suffix, size_t max,
		      int (*fn)(const char *path, const char *text, void *arg, struct error *err), void *arg,
		      struct error *err)
{
	struct strv files = STRV_INIT;
	int r = list_dir_sorted(dir, suffix, &files, err);

	for (size_t i = 0; r == 0 && i < files.n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, files.v[i]);
		_cleanup_free_ char *buf = NULL;

		r = read_file_at(AT_FDCWD, path, max, &buf, NULL, err);
		if (r == 0)
			r = fn(path, buf, arg, err);
	}
	strv_free(&files);
	return r;
}

bool path_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool path_is_reg(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *path_absolute(const char *path)
{
	char buf[PATH_MAX];
	_cleanup_free_ char *dir = NULL;
	const char *slash;

	if (realpath(path, buf) != NULL)
		return xstrdup(buf);
	/* readlink -f semantics: the last component may not exist yet. */
	slash = strrchr(path, '/');
	if (slash == NULL)
		dir = xstrdup(".");
	else
		dir = xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (realpath(dir, buf) == NULL)
		return NULL;
	return xasprintf("%s/%s", strcmp(buf, "/") ? buf : "", slash ? slash + 1 : path);
}
