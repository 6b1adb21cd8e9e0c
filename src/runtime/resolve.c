/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_DEPTH 256
#define MAX_LINKS 40

struct walker {
	int root;
	int fds[MAX_DEPTH]; /* fds[0] is a dup of root */
	int depth;
	int links;
	char *rest; /* remaining path, owned */
};

static void walker_close(struct walker *w)
{
	for (int i = 0; i <= w->depth; i++)
		close(w->fds[i]);
	free(w->rest);
}

static int pop_component(struct walker *w, char **ret)
{
	char *p = w->rest;
	size_t len;

	while (*p == '/')
		p++;
	if (*p == '\0')
		return 0;
	len = strcspn(p, "/");
	*ret = xstrndup(p, len);
	memmove(w->rest, p + len, strlen(p + len) + 1);
	return 1;
}

static int follow_link(struct walker *w, const char *name, struct error *err)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(w->fds[w->depth], name, target, sizeof(target) - 1);
	char *joined;

	if (n < 0)
		return error_set(err, errno, "failed to read link '%s'", name);
	if (++w->links > MAX_LINKS)
		return error_set(err, ELOOP, "failed to resolve '%s'", name);
	target[n] = '\0';
	joined = xasprintf("%s/%s", target, w->rest);
	free(w->rest);
	w->rest = joined;
	if (target[0] == '/') {
		/* An absolute link restarts at the container root, not the host's. */
		while (w->depth > 0)
			close(w->fds[w->depth--]);
	}
	return 0;
}

static int create_component(int dirfd, const char *name, bool last, enum resolve_create create,
			    struct error *err)
{
	int r;

	/* Mount points are mode 0, enroot's convention: export leaves them out. */
	if (!last || create == RESOLVE_MKDIR_P)
		r = mkdirat(dirfd, name, 0755);
	else if (create == RESOLVE_CREATE_DIR)
		r = mkdirat(dirfd, name, 0);
	else
		r = mknodat(dirfd, name, S_IFREG | 0, 0);
	if (r < 0 && errno != EEXIST)
		return error_set(err, errno, "failed to create %s: '%s'",
				 last && create == RESOLVE_CREATE_FILE ? "file" : "directory", name);
	return 0;
}

static int step(struct walker *w, const char *name, enum resolve_create create, struct error *err)
{
	bool last = w->rest[strspn(w->rest, "/")] == '\0';
	struct stat st;
	int fd;

	if (!strcmp(name, "."))
		return 0;
	if (!strcmp(name, "..")) {
		/* Clamped: ".." at the root stays at the root. */
		if (w->depth > 0)
			close(w->fds[w->depth--]);
		return 0;
	}
	fd = openat(w->fds[w->depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create != RESOLVE_NOCREATE) {
		if (create_component(w->fds[w->depth], name, last, create, err) < 0)
			return -1;
		fd = openat(w->fds[w->depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return error_set(err, errno, "failed to resolve '%s'", name);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return error_set(err, errno, "failed to stat '%s'", name);
	}
	if (S_ISLNK(st.st_mode)) {
		close(fd);
		return follow_link(w, name, err);
	}
	if (!last && !S_ISDIR(st.st_mode)) {
		close(fd);
		return error_set(err, ENOTDIR, "failed to resolve '%s'", name);
	}
	if (w->depth + 1 >= MAX_DEPTH) {
		close(fd);
		return error_set(err, ENAMETOOLONG, "failed to resolve '%s'", name);
	}
	w->fds[++w->depth] = fd;
	return 0;
}

int rootfs_resolve(int rootfd, const char *path, enum resolve_create create, int *ret_fd, struct error *err)
{
	struct walker w = {.root = rootfd, .depth = 0, .links = 0};
	int r = 0;

	w.fds[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (w.fds[0] < 0)
		return error_errno(err, "failed to duplicate root fd");
	w.rest = xstrdup(path);
	for (;;) {
		_cleanup_free_ char *name = NULL;

		if (pop_component(&w, &name) == 0)
			break;
		r = step(&w, name, create, err);
		if (r < 0)
			break;
	}
	if (r == 0) {
		*ret_fd = w.fds[w.depth];
		w.fds[w.depth] = -1;
		if (w.depth > 0)
			w.depth--;
		else
			w.fds[0] = -1;
	}
	walker_close(&w);
	if (r < 0)
		return error_prefix(err, "failed to resolve path '%s'", path);
	return 0;
}

int rootfs_resolve_parent(int rootfd, const char *path, bool create_parents, int *ret_fd, char **ret_name,
			  struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *slash, *name;
	size_t len = strlen(copy);

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	name = slash ? slash + 1 : copy;
	if (*name == '\0' || !strcmp(name, ".") || !strcmp(name, ".."))
		return error_set(err, EINVAL, "invalid path '%s'", path);
	if (slash)
		*slash = '\0';
	if (rootfs_resolve(rootfd, slash ? (*copy ? copy : "/") : ".",
			   create_parents ? RESOLVE_MKDIR_P : RESOLVE_NOCREATE, ret_fd, err) < 0)
		return -1;
	*ret_name = xstrdup(name);
	return 0;
}

int rootfs_open(int rootfd, const char *path, int flags, mode_t mode, int *ret_fd, struct error *err)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *name = NULL;
	int fd;

	if (rootfs_resolve_parent(rootfd, path, (flags & O_CREAT) != 0, &dfd, &name, err) < 0)
		return -1;
	fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", path);
	*ret_fd = fd;
	return 0;
}

const char *file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	return S_ISREG(mode) ? "a regular file" : "a special file";
}

static void set_empty(char **ret, size_t *ret_len)
{
	*ret = xstrdup("");
	if (ret_len != NULL)
		*ret_len = 0;
}

/* A symlinked image file (/etc/login.defs -> ../usr/etc/login.defs): its
 * target resolved clamped inside the root, reopened through /proc only when
 * it is a regular file. -1 with errno set otherwise (ELOOP: unusable). */
static int open_symlinked(int rootfd, const char *path)
{
	_cleanup_close_ int target = -1;
	struct error ignored = ERROR_INIT;
	char proc[64];
	struct stat st;

	if (rootfs_resolve(rootfd, path, RESOLVE_NOCREATE, &target, &ignored) < 0) {
		errno = ignored.code == ENOENT || ignored.code == ENOTDIR ? ignored.code : ELOOP;
		return -1;
	}
	if (fstat(target, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = ELOOP;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", target);
	return open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

int rootfs_read_file(int rootfd, const char *path, size_t max, char **ret, size_t *ret_len, struct error *err)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	_cleanup_free_ char *name = NULL;
	struct error e2 = ERROR_INIT;
	struct stat st;

	if (rootfs_resolve_parent(rootfd, path, false, &dfd, &name, &e2) < 0) {
		if (e2.code != ENOENT && e2.code != ENOTDIR) {
			*err = e2;
			return -1;
		}
		set_empty(ret, ret_len);
		return 0;
	}
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer
	 * forever. O_NOFOLLOW: the last component is never a way out. */
	fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		fd = open_symlinked(rootfd, path);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		set_empty(ret, ret_len);
		return 0;
	}
	if (fd < 0 && errno == ELOOP)
		return error_set(err, 0, "image file '%s' is a symbolic link leading nowhere usable", path);
	if (fd < 0)
		return error_set(err, errno, "failed to open image file '%s'", path);
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat image file '%s'", path);
	if (!S_ISREG(st.st_mode))
		return error_set(err, 0, "image file '%s' is %s, not a regular file", path, file_kind(st.st_mode));
	if ((unsigned long long)st.st_size > max)
		return error_set(err, 0, "image file '%s' is larger than the limit of %zu bytes", path, max);
	if (read_fd(fd, max, ret, ret_len, err) < 0)
		return error_prefix(err, "image file '%s'", path);
	return 0;
}
