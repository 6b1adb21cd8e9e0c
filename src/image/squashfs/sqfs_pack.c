/* SPDX-License-Identifier: Apache-2.0 */
/* Pack a directory into a squashfs image with libsquashfs. One fd-relative
 * walk builds a sqfs_tree_writer tree and streams file data to it as it goes;
 * the tree writer then writes the tables and renames the image into place. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "image/squashfs/sqfs_pack.h"
#include "image/squashfs/sqfs_tree_writer.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define READ_CHUNK (1024 * 1024)
/* Each level of the walk keeps one directory fd open. */
#define MAX_DEPTH 512

/* (st_dev, st_ino) -> the inode of the first entry seen, for hard links. */
struct hlmap {
	struct hlent {
		dev_t dev;
		ino_t ino;
		struct sqfs_tree_inode *node;
	} *v;
	size_t n, cap;
};

/* The user.* xattrs of one inode, in listing order. */
struct xattr_set {
	const char **keys;
	void **vals;
	size_t *sizes;
	size_t n;
};

struct pack {
	struct error *err;
	const struct sqfs_pack_opts *opts;
	struct sqfs_tree_writer *w;
	struct sqfs_tree_node *root;
	struct hlmap hl;
	bool fixed_time;
	uint32_t epoch;
	uint8_t *buf;
	struct strbuf path; /* relative path of the current entry */
};

/* ---- errors and paths ---- */

static const char *cur_path(struct pack *p)
{
	return p->path.len ? p->path.buf : ".";
}

static int fail_errno(struct pack *p, const char *what)
{
	return error_set(p->err, errno, "failed to %s '%s'", what, cur_path(p));
}

static void path_push(struct pack *p, const char *name)
{
	if (p->path.len > 0)
		strbuf_addch(&p->path, '/');
	strbuf_addstr(&p->path, name);
}

static void path_pop(struct pack *p, size_t mark)
{
	p->path.len = mark;
	if (p->path.buf != NULL)
		p->path.buf[mark] = '\0';
}

/* ---- tree nodes ---- */

static uint32_t clamp_time(const struct pack *p, time_t t)
{
	if (p->fixed_time)
		return p->epoch;
	if (t < 0)
		return 0;
	return (uint64_t)t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Every inode is owned by 0:0, as with mksquashfs -all-root. */
static struct sqfs_tree_inode *inode_new(struct pack *p, const struct stat *st)
{
	struct sqfs_tree_inode *ino = sqfs_tree_inode_new(p->w, (uint16_t)st->st_mode);

	ino->mtime = clamp_time(p, st->st_mtime);
	return ino;
}

/* Children stay unordered: the tree writer sorts them by name. */
static struct sqfs_tree_node *node_new(struct sqfs_tree_node *parent, const char *name,
				       struct sqfs_tree_inode *ino)
{
	struct sqfs_tree_node *n = xcalloc(1, sizeof(*n));

	n->parent = parent;
	n->name = xstrdup(name);
	n->ino = ino;
	if (parent == NULL)
		return n;
	n->next = parent->child;
	if (n->next != NULL)
		n->next->prev = n;
	parent->child = n;
	return n;
}

static void node_free(struct sqfs_tree_node *n)
{
	while (n != NULL) {
		struct sqfs_tree_node *next = n->next;

		node_free(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

static struct hlent *hlmap_find(struct hlmap *m, dev_t dev, ino_t ino, bool insert);

static void hlmap_grow(struct hlmap *m)
{
	struct hlmap old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.v[i].node != NULL)
			hlmap_find(m, old.v[i].dev, old.v[i].ino, true)->node = old.v[i].node;
	free(old.v);
}

static struct hlent *hlmap_find(struct hlmap *m, dev_t dev, ino_t ino, bool insert)
{
	size_t mask, i;

	if (insert && (m->n + 1) * 2 > m->cap)
		hlmap_grow(m);
	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = (size_t)((ino ^ (dev << 17)) * 0x9E3779B97F4A7C15ull >> 20) & mask;; i = (i + 1) & mask) {
		struct hlent *e = &m->v[i];

		if (e->node != NULL && e->dev == dev && e->ino == ino)
			return e;
		if (e->node != NULL)
			continue;
		if (!insert)
			return NULL;
		e->dev = dev;
		e->ino = ino;
		m->n++;
		return e;
	}
}

/* ---- scanning ---- */

static void xattr_set_free(struct xattr_set *xs)
{
	for (size_t i = 0; i < xs->n; i++)
		free(xs->vals[i]);
	free(xs->keys);
	free(xs->vals);
	free(xs->sizes);
}

static int read_xattr(struct pack *p, int fd, const char *key, struct xattr_set *xs)
{
	ssize_t vlen = fgetxattr(fd, key, NULL, 0);
	void *val = xmalloc(vlen > 0 ? (size_t)vlen : 1);

	if (vlen >= 0)
		vlen = fgetxattr(fd, key, val, (size_t)vlen);
	if (vlen < 0) {
		error_set(p->err, errno, "failed to read xattr '%s' of '%s'", key, cur_path(p));
		free(val);
		return -1;
	}
	xs->keys[xs->n] = key;
	xs->vals[xs->n] = val;
	xs->sizes[xs->n++] = (size_t)vlen;
	return 0;
}

static int read_xattrs(struct pack *p, int fd, struct sqfs_tree_inode *ino)
{
	_cleanup_free_ char *names = NULL;
	struct xattr_set xs = {0};
	ssize_t len;
	int r = 0;

	len = flistxattr(fd, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENOSYS))
		return 0;
	if (len <= 0)
		return len < 0 ? fail_errno(p, "list the xattrs of") : 0;
	names = xmalloc((size_t)len);
	len = flistxattr(fd, names, (size_t)len);
	if (len < 0)
		return fail_errno(p, "list the xattrs of");
	/* Every name takes at least two bytes, with its NUL. */
	xs.keys = xcalloc((size_t)len / 2 + 1, sizeof(*xs.keys));
	xs.vals = xcalloc((size_t)len / 2 + 1, sizeof(*xs.vals));
	xs.sizes = xcalloc((size_t)len / 2 + 1, sizeof(*xs.sizes));
	/* Only user.* survives an unprivileged create, see sqfs_unpack(). */
	for (char *k = names; r == 0 && k < names + len; k += strlen(k) + 1)
		if (strncmp(k, "user.", STRLEN("user.")) == 0)
			r = read_xattr(p, fd, k, &xs);
	if (r == 0)
		r = sqfs_tree_set_xattrs(p->w, ino, xs.keys, (const void *const *)xs.vals, xs.sizes, xs.n, p->err);
	xattr_set_free(&xs);
	return r;
}

static int list_names(struct pack *p, int dirfd, struct strv *out)
{
	_cleanup_closedir_ DIR *d = opendir_dup(dirfd);
	struct dirent *de;

	if (d == NULL)
		return fail_errno(p, "read directory");
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			strv_push(out, de->d_name);
	}
	if (errno != 0)
		return fail_errno(p, "read directory");
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), strv_sort_cmp);
	return 0;
}

/* The data is streamed: at most READ_CHUNK bytes of it are held at a time.
 * On error the file stays open; sqfs_tree_writer_free() closes it. */
static int stream_file(struct pack *p, int fd, struct sqfs_tree_inode *ino)
{
	if (sqfs_tree_file_begin(p->w, ino, p->err) < 0)
		return -1;
	for (;;) {
		ssize_t len = read(fd, p->buf, READ_CHUNK);

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return fail_errno(p, "read");
		if (len == 0)
			break;
		if (sqfs_tree_file_append(p->w, p->buf, (size_t)len, p->err) < 0)
			return -1;
	}
	return sqfs_tree_file_end(p->w, p->err);
}

static int pack_file(struct pack *p, int dirfd, struct sqfs_tree_node *n, const struct stat *lst)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* O_NONBLOCK: the entry may have been swapped for a FIFO since lstat. */
	fd = openat(dirfd, n->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(p, "open");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != lst->st_ino || st.st_dev != lst->st_dev)
		return error_set(p->err, 0, "'%s' changed while it was being packed", cur_path(p));
	if (read_xattrs(p, fd, n->ino) < 0)
		return -1;
	return stream_file(p, fd, n->ino);
}

static int read_symlink(struct pack *p, int dirfd, struct sqfs_tree_node *n, const struct stat *st)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;

	for (;;) {
		char *buf = xmalloc(cap);
		ssize_t len = readlinkat(dirfd, n->name, buf, cap);

		if (len < 0) {
			free(buf);
			return fail_errno(p, "read symlink");
		}
		if ((size_t)len < cap) {
			buf[len] = '\0';
			n->ino->target = buf;
			return 0;
		}
		free(buf);
		cap *= 2;
	}
}

static int set_devno(struct pack *p, struct sqfs_tree_inode *ino, const struct stat *st)
{
	uint64_t maj = major(st->st_rdev), min = minor(st->st_rdev);

	/* Squashfs stores the kernel's 32-bit new_encode_dev() format. */
	if (maj >= (1u << 12) || min >= (1u << 20))
		return error_set(p->err, 0, "device number of '%s' does not fit in squashfs", cur_path(p));
	ino->devno = (uint32_t)((min & 0xff) | (maj << 8) | ((min & ~0xffull) << 12));
	return 0;
}

static int scan_dir(struct pack *p, int dirfd, struct sqfs_tree_node *dir, unsigned depth);

static int scan_subdir(struct pack *p, int dirfd, struct sqfs_tree_node *n, unsigned depth)
{
	_cleanup_close_ int fd = -1;

	if (depth > MAX_DEPTH)
		return error_set(p->err, 0, "'%s' is nested too deeply", cur_path(p));
	fd = openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(p, "open directory");
	if (read_xattrs(p, fd, n->ino) < 0)
		return -1;
	return scan_dir(p, fd, n, depth);
}

/* The first entry of a (dev, ino) pair gets a new inode, later ones share it. */
static struct sqfs_tree_inode *entry_inode(struct pack *p, const struct stat *st, bool *linked)
{
	struct hlent *e;

	*linked = false;
	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return inode_new(p, st);
	e = hlmap_find(&p->hl, st->st_dev, st->st_ino, true);
	*linked = e->node != NULL;
	if (e->node == NULL)
		e->node = inode_new(p, st);
	return e->node;
}

static int add_entry(struct pack *p, int dirfd, struct sqfs_tree_node *dir, const char *name, const struct stat *st,
		     unsigned depth)
{
	bool linked;
	struct sqfs_tree_node *n = node_new(dir, name, entry_inode(p, st, &linked));

	if (linked)
		return 0;
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		return scan_subdir(p, dirfd, n, depth + 1);
	case S_IFREG:
		return pack_file(p, dirfd, n, st);
	case S_IFLNK:
		return read_symlink(p, dirfd, n, st);
	case S_IFCHR:
	case S_IFBLK:
		return set_devno(p, n->ino, st);
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	default:
		return error_set(p->err, 0, "'%s' has an unsupported file type", cur_path(p));
	}
}

static int scan_entry(struct pack *p, int dirfd, struct sqfs_tree_node *dir, const char *name, unsigned depth)
{
	size_t mark = p->path.len;
	struct stat st;
	int r = 0;

	path_push(p, name);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = fail_errno(p, "stat");
	else if (p->opts->exclude == NULL || !p->opts->exclude(p->path.buf, &st, p->opts->exclude_arg))
		r = add_entry(p, dirfd, dir, name, &st, depth);
	if (r == 0)
		path_pop(p, mark);
	return r;
}

static int scan_dir(struct pack *p, int dirfd, struct sqfs_tree_node *dir, unsigned depth)
{
	struct strv names = STRV_INIT;
	int r;

	r = list_names(p, dirfd, &names);
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = scan_entry(p, dirfd, dir, names.v[i], depth);
	strv_free(&names);
	return r;
}

static int scan_root(struct pack *p, int src_dirfd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* Reopen: src_dirfd may be O_PATH, which cannot list xattrs. */
	fd = openat(src_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail_errno(p, "open directory");
	p->root = node_new(NULL, "", inode_new(p, &st));
	if (read_xattrs(p, fd, p->root->ino) < 0)
		return -1;
	return scan_dir(p, fd, p->root, 0);
}

/* ---- setup ---- */

static int parse_epoch(struct pack *p)
{
	const char *s = secure_getenv("SOURCE_DATE_EPOCH");
	unsigned long long v;
	char *end = NULL;

	p->fixed_time = false;
	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || errno != 0 || *end != '\0' || v > UINT32_MAX)
		return error_set(p->err, 0, "invalid SOURCE_DATE_EPOCH '%s'", s);
	p->fixed_time = true;
	p->epoch = (uint32_t)v;
	return 0;
}

int sqfs_pack_dir(int src_dirfd, const char *out_path, const struct sqfs_pack_opts *opts, struct error *err)
{
	static const struct sqfs_pack_opts defaults;
	struct pack p;
	int r;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.opts = opts != NULL ? opts : &defaults;
	if (parse_epoch(&p) < 0)
		return -1;
	/* The writer owns the temporary file: it is renamed into place only
	 * by a successful finish and removed by free otherwise. */
	r = sqfs_tree_writer_new(&p.w, out_path, p.opts, p.fixed_time ? p.epoch : (uint32_t)time(NULL), err);
	if (r < 0)
		return -1;
	p.buf = xmalloc(READ_CHUNK);
	r = scan_root(&p, src_dirfd);
	if (r == 0)
		r = sqfs_tree_writer_finish(p.w, p.root, err);
	sqfs_tree_writer_free(p.w);
	node_free(p.root);
	free(p.hl.v);
	free(p.buf);
	strbuf_release(&p.path);
	return r;
}
