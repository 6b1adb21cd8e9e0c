/* SPDX-License-Identifier: Apache-2.0 */
/* Pack a directory into a squashfs image with libsquashfs. One fd-relative
 * walk reads the tree and streams file data to the block processor; then the
 * inode, directory, fragment, id and xattr tables are written, and the
 * finished image is renamed into place. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "image/sqfs_pack.h"
#include "image/sqfs_unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define READ_CHUNK (1024 * 1024)
/* Each level of the walk keeps one directory fd open. */
#define MAX_DEPTH 512
#define MAX_WORKERS 16
#define NO_INDEX 0xFFFFFFFFu

struct pnode {
	struct pnode *parent;
	struct pnode **children; /* sorted by name, as squashfs requires */
	size_t n_children, cap_children;
	struct pnode *link;      /* for a hard link: the entry holding the inode */
	char *name;
	char *target;            /* symlink target */
	sqfs_inode_generic_t *inode; /* regular files: kept up to date by the block processor */
	uint64_t inode_ref;
	uint32_t inode_num;
	uint32_t nlink;
	uint32_t xattr_idx;
	uint32_t mtime;
	uint32_t devno;
	uint16_t mode;
};

/* (st_dev, st_ino) -> first entry seen, for hard link detection. */
struct hlmap {
	struct hlent {
		dev_t dev;
		ino_t ino;
		struct pnode *node;
	} *v;
	size_t n, cap;
};

struct pack {
	struct error *err;
	const struct sqfs_pack_opts *opts;
	sqfs_file_t *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp, *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frag;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_xattr_writer_t *xw;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dw;
	sqfs_u16 root_id;
	SQFS_COMPRESSOR comp_id;
	struct pnode *root;
	struct hlmap hl;
	bool fixed_time;
	bool finished; /* the block processor has been drained */
	uint32_t epoch;
	uint32_t next_ino;
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

static int fail_sqfs(struct pack *p, int code, const char *what)
{
	return error_set(p->err, 0, "failed to %s: %s", what, sqfs_image_strerror(code));
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

static struct pnode *node_new(struct pack *p, struct pnode *parent, const char *name, const struct stat *st)
{
	struct pnode *n = xcalloc(1, sizeof(*n));

	n->parent = parent;
	n->name = xstrdup(name);
	n->mode = (uint16_t)st->st_mode;
	n->mtime = clamp_time(p, st->st_mtime);
	n->nlink = 1;
	n->xattr_idx = NO_INDEX;
	if (parent == NULL)
		return n;
	if (parent->n_children == parent->cap_children) {
		parent->cap_children = parent->cap_children ? parent->cap_children * 2 : 8;
		parent->children = xrealloc(parent->children, parent->cap_children * sizeof(n));
	}
	parent->children[parent->n_children++] = n;
	return n;
}

static void node_free(struct pnode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_children; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->name);
	free(n->target);
	sqfs_free(n->inode);
	free(n);
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

static int read_xattrs(struct pack *p, int fd, struct pnode *n)
{
	_cleanup_free_ char *names = NULL;
	ssize_t len;
	bool begun = false;
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
	for (char *k = names; r == 0 && k < names + len; k += strlen(k) + 1) {
		_cleanup_free_ char *val = NULL;
		ssize_t vlen;

		/* Only user.* survives an unprivileged create, see sqfs_unpack(). */
		if (strncmp(k, "user.", STRLEN("user.")) != 0)
			continue;
		vlen = fgetxattr(fd, k, NULL, 0);
		val = xmalloc(vlen > 0 ? (size_t)vlen : 1);
		if (vlen >= 0)
			vlen = fgetxattr(fd, k, val, (size_t)vlen);
		if (vlen < 0)
			return error_set(p->err, errno, "failed to read xattr '%s' of '%s'", k, cur_path(p));
		if (!begun)
			r = sqfs_xattr_writer_begin(p->xw, 0);
		begun = true;
		if (r == 0)
			r = sqfs_xattr_writer_add(p->xw, k, val, (size_t)vlen);
	}
	if (r == 0 && begun)
		r = sqfs_xattr_writer_end(p->xw, &n->xattr_idx);
	return r != 0 ? fail_sqfs(p, r, "record xattrs") : 0;
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

static int pack_file(struct pack *p, int dirfd, struct pnode *n, const struct stat *lst)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	/* O_NONBLOCK: the entry may have been swapped for a FIFO since lstat. */
	fd = openat(dirfd, n->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(p, "open");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != lst->st_ino || st.st_dev != lst->st_dev)
		return error_set(p->err, 0, "'%s' changed while it was being packed", cur_path(p));
	if (read_xattrs(p, fd, n) < 0)
		return -1;
	r = sqfs_block_processor_begin_file(p->proc, &n->inode, NULL, 0);
	while (r == 0) {
		ssize_t len = read(fd, p->buf, READ_CHUNK);

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			fail_errno(p, "read");
			/* Close the file so that pack_release() can drain the queue. */
			sqfs_block_processor_end_file(p->proc);
			return -1;
		}
		if (len == 0)
			break;
		r = sqfs_block_processor_append(p->proc, p->buf, (size_t)len);
	}
	if (r == 0)
		r = sqfs_block_processor_end_file(p->proc);
	return r != 0 ? fail_sqfs(p, r, "compress file data") : 0;
}

static int read_symlink(struct pack *p, int dirfd, struct pnode *n, const struct stat *st)
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
			n->target = buf;
			return 0;
		}
		free(buf);
		cap *= 2;
	}
}

static int set_devno(struct pack *p, struct pnode *n, const struct stat *st)
{
	uint64_t maj = major(st->st_rdev), min = minor(st->st_rdev);

	/* Squashfs stores the kernel's 32-bit new_encode_dev() format. */
	if (maj >= (1u << 12) || min >= (1u << 20))
		return error_set(p->err, 0, "device number of '%s' does not fit in squashfs", cur_path(p));
	n->devno = (uint32_t)((min & 0xff) | (maj << 8) | ((min & ~0xffull) << 12));
	return 0;
}

static int scan_dir(struct pack *p, int dirfd, struct pnode *dir, unsigned depth);

static int scan_subdir(struct pack *p, int dirfd, struct pnode *n, unsigned depth)
{
	_cleanup_close_ int fd = -1;

	if (depth > MAX_DEPTH)
		return error_set(p->err, 0, "'%s' is nested too deeply", cur_path(p));
	fd = openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(p, "open directory");
	if (read_xattrs(p, fd, n) < 0)
		return -1;
	return scan_dir(p, fd, n, depth);
}

/* The first entry of a (dev, ino) pair holds the inode, later ones point to it. */
static bool link_existing(struct pack *p, struct pnode *n, const struct stat *st)
{
	struct hlent *e;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return false;
	e = hlmap_find(&p->hl, st->st_dev, st->st_ino, true);
	if (e->node == NULL) {
		e->node = n;
		return false;
	}
	n->link = e->node;
	e->node->nlink++;
	return true;
}

static int add_entry(struct pack *p, int dirfd, struct pnode *dir, const char *name, const struct stat *st,
		     unsigned depth)
{
	struct pnode *n = node_new(p, dir, name, st);

	if (link_existing(p, n, st))
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
		return set_devno(p, n, st);
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	default:
		return error_set(p->err, 0, "'%s' has an unsupported file type", cur_path(p));
	}
}

static int scan_entry(struct pack *p, int dirfd, struct pnode *dir, const char *name, unsigned depth)
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

static int scan_dir(struct pack *p, int dirfd, struct pnode *dir, unsigned depth)
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
	p->root = node_new(p, NULL, "", &st);
	if (read_xattrs(p, fd, p->root) < 0)
		return -1;
	return scan_dir(p, fd, p->root, 0);
}

/* ---- inode and directory tables ---- */

/* Non-directories first, in walk order, then directories children first:
 * every directory entry then points to an inode already written. */
static void number_files(struct pack *p, struct pnode *dir)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct pnode *c = dir->children[i];

		if (S_ISDIR(c->mode))
			number_files(p, c);
		else if (c->link == NULL)
			c->inode_num = p->next_ino++;
	}
}

static void number_dirs(struct pack *p, struct pnode *dir)
{
	for (size_t i = 0; i < dir->n_children; i++)
		if (S_ISDIR(dir->children[i]->mode))
			number_dirs(p, dir->children[i]);
	dir->inode_num = p->next_ino++;
}

static int write_inode(struct pack *p, struct pnode *n, sqfs_inode_generic_t *inode)
{
	sqfs_u64 block = 0;
	sqfs_u32 offset = 0;
	int r;

	inode->base.mode = n->mode;
	inode->base.mod_time = n->mtime;
	inode->base.inode_number = n->inode_num;
	inode->base.uid_idx = p->root_id;
	inode->base.gid_idx = p->root_id;
	sqfs_meta_writer_get_position(p->im, &block, &offset);
	n->inode_ref = (block << 16) | offset;
	r = sqfs_meta_writer_write_inode(p->im, inode);
	return r != 0 ? fail_sqfs(p, r, "write the inode table") : 0;
}

static sqfs_inode_generic_t *special_inode(const struct pnode *n)
{
	size_t extra = n->target != NULL ? strlen(n->target) : 0;
	sqfs_inode_generic_t *inode = xcalloc(1, sizeof(*inode) + extra);

	switch (n->mode & S_IFMT) {
	case S_IFLNK:
		inode->base.type = SQFS_INODE_SLINK;
		inode->data.slink.nlink = n->nlink;
		inode->data.slink.target_size = (sqfs_u32)extra;
		inode->payload_bytes_available = inode->payload_bytes_used = (sqfs_u32)extra;
		memcpy(inode->extra, n->target, extra);
		break;
	case S_IFBLK:
	case S_IFCHR:
		inode->base.type = S_ISBLK(n->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
		inode->data.dev.nlink = n->nlink;
		inode->data.dev.devno = n->devno;
		break;
	default:
		inode->base.type = S_ISFIFO(n->mode) ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
		inode->data.ipc.nlink = n->nlink;
		break;
	}
	return inode;
}

static int write_file_inode(struct pack *p, struct pnode *n)
{
	sqfs_inode_generic_t *inode = n->inode;
	int r;

	if (inode == NULL)
		return error_set(p->err, 0, "no data recorded for '%s'", n->name);
	r = sqfs_inode_set_xattr_index(inode, n->xattr_idx);
	if (r == 0 && n->nlink > 1) {
		r = sqfs_inode_make_extended(inode);
		inode->data.file_ext.nlink = n->nlink;
	}
	if (r != 0)
		return fail_sqfs(p, r, "build a file inode");
	return write_inode(p, n, inode);
}

static int write_files(struct pack *p, struct pnode *dir)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct pnode *c = dir->children[i];
		sqfs_inode_generic_t *inode;
		int r;

		if (S_ISDIR(c->mode))
			r = write_files(p, c);
		else if (c->link != NULL)
			r = 0;
		else if (S_ISREG(c->mode))
			r = write_file_inode(p, c);
		else {
			inode = special_inode(c);
			r = write_inode(p, c, inode);
			free(inode);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_dir_entries(struct pack *p, struct pnode *dir, uint32_t *ret_subdirs)
{
	uint32_t subdirs = 0;
	int r;

	r = sqfs_dir_writer_begin(p->dw, 0);
	for (size_t i = 0; r == 0 && i < dir->n_children; i++) {
		struct pnode *c = dir->children[i];
		struct pnode *t = c->link != NULL ? c->link : c;

		subdirs += S_ISDIR(c->mode);
		r = sqfs_dir_writer_add_entry(p->dw, c->name, t->inode_num, t->inode_ref, t->mode);
	}
	if (r == 0)
		r = sqfs_dir_writer_end(p->dw);
	if (r != 0)
		return fail_sqfs(p, r, "write the directory table");
	*ret_subdirs = subdirs;
	return 0;
}

static int write_dirs(struct pack *p, struct pnode *dir)
{
	sqfs_inode_generic_t *inode;
	uint32_t subdirs = 0, parent;
	int r;

	for (size_t i = 0; i < dir->n_children; i++)
		if (S_ISDIR(dir->children[i]->mode) && write_dirs(p, dir->children[i]) < 0)
			return -1;
	if (write_dir_entries(p, dir, &subdirs) < 0)
		return -1;
	/* As mksquashfs: the root's parent is one past the last inode. */
	parent = dir->parent != NULL ? dir->parent->inode_num : p->next_ino;
	inode = sqfs_dir_writer_create_inode(p->dw, 2 + subdirs, dir->xattr_idx, parent);
	if (inode == NULL)
		return error_set(p->err, ENOMEM, "failed to build a directory inode");
	if (inode->base.type == SQFS_INODE_DIR)
		inode->data.dir.nlink = 2 + subdirs;
	else
		inode->data.dir_ext.nlink = 2 + subdirs;
	r = write_inode(p, dir, inode);
	sqfs_free(inode);
	return r;
}

static int write_tree(struct pack *p)
{
	int r;

	p->next_ino = 1;
	number_files(p, p->root);
	number_dirs(p, p->root);
	p->super.inode_count = p->next_ino - 1;
	p->super.inode_table_start = p->file->get_size(p->file);
	if (write_files(p, p->root) < 0 || write_dirs(p, p->root) < 0)
		return -1;
	r = sqfs_meta_writer_flush(p->im);
	if (r == 0)
		r = sqfs_meta_writer_flush(p->dm);
	p->super.root_inode_ref = p->root->inode_ref;
	p->super.directory_table_start = p->file->get_size(p->file);
	if (r == 0)
		r = sqfs_meta_write_write_to_file(p->dm);
	return r != 0 ? fail_sqfs(p, r, "write the directory table") : 0;
}

static int write_tables(struct pack *p)
{
	static const uint8_t zeros[SQFS_DEVBLK_SIZE];
	sqfs_u64 size;
	int r;

	r = sqfs_frag_table_write(p->frag, p->file, &p->super, p->cmp);
	if (r == 0)
		r = sqfs_id_table_write(p->ids, p->file, &p->super, p->cmp);
	if (r == 0)
		r = sqfs_xattr_writer_flush(p->xw, p->file, &p->super, p->cmp);
	if (r != 0)
		return fail_sqfs(p, r, "write the image tables");
	size = p->file->get_size(p->file);
	p->super.bytes_used = size;
	r = sqfs_super_write(&p->super, p->file);
	/* Pad to 4 KiB as mksquashfs does, for loop devices. */
	if (r == 0 && size % SQFS_DEVBLK_SIZE != 0)
		r = p->file->write_at(p->file, size, zeros, SQFS_DEVBLK_SIZE - size % SQFS_DEVBLK_SIZE);
	return r != 0 ? fail_sqfs(p, r, "write the superblock") : 0;
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

static int open_compressors(struct pack *p, size_t block_size)
{
	const char *name = p->opts->compressor != NULL ? p->opts->compressor : "zstd";
	sqfs_compressor_config_t cfg;
	int id = sqfs_compressor_id_from_name(name), r;

	if (id < 0)
		return error_set(p->err, 0, "unknown compressor '%s'", name);
	if (p->opts->level < 0 || (p->opts->level != 0 && id == SQFS_COMP_LZ4))
		return error_set(p->err, 0, "invalid level %d for compressor '%s'", p->opts->level, name);
	r = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)id, block_size, 0);
	if (r == 0 && p->opts->level != 0)
		cfg.level = (sqfs_u32)p->opts->level;
	else if (r == 0 && id == SQFS_COMP_ZSTD)
		cfg.level = 3;
	if (r == 0)
		r = sqfs_compressor_create(&cfg, &p->cmp);
	cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
	if (r == 0)
		r = sqfs_compressor_create(&cfg, &p->uncmp);
	if (r == SQFS_ERROR_UNSUPPORTED)
		return error_set(p->err, 0, "compressor '%s' is not supported by libsquashfs", name);
	if (r != 0)
		return error_set(p->err, 0, "invalid settings for compressor '%s' (level %d)", name,
				 p->opts->level);
	p->comp_id = (SQFS_COMPRESSOR)id;
	return 0;
}

static unsigned worker_count(void)
{
	cpu_set_t set;
	int n;

	/* Affinity, not the online count: Slurm confines jobs to their cores. */
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static int open_data_writer(struct pack *p, size_t block_size)
{
	sqfs_block_processor_desc_t desc;
	unsigned workers = worker_count();
	int r;

	p->bw = sqfs_block_writer_create(p->file, SQFS_DEVBLK_SIZE, 0);
	p->frag = sqfs_frag_table_create(0);
	if (p->bw == NULL || p->frag == NULL)
		return error_set(p->err, ENOMEM, "failed to set up the block writer");
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.max_block_size = (sqfs_u32)block_size;
	desc.num_workers = workers;
	desc.max_backlog = 10 * workers;
	desc.cmp = p->cmp;
	desc.wr = p->bw;
	desc.tbl = p->frag;
	desc.file = p->file;
	desc.uncmp = p->uncmp;
	r = sqfs_block_processor_create_ex(&desc, &p->proc);
	return r != 0 ? fail_sqfs(p, r, "start the block processor") : 0;
}

static int open_meta_writers(struct pack *p)
{
	int r;

	p->ids = sqfs_id_table_create(0);
	p->xw = sqfs_xattr_writer_create(0);
	p->im = sqfs_meta_writer_create(p->file, p->cmp, 0);
	p->dm = sqfs_meta_writer_create(p->file, p->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (p->ids == NULL || p->xw == NULL || p->im == NULL || p->dm == NULL)
		return error_set(p->err, ENOMEM, "failed to set up the table writers");
	p->dw = sqfs_dir_writer_create(p->dm, 0);
	if (p->dw == NULL)
		return error_set(p->err, ENOMEM, "failed to set up the table writers");
	/* -all-root: a single id, 0, for every owner and group. */
	r = sqfs_id_table_id_to_index(p->ids, 0, &p->root_id);
	return r != 0 ? fail_sqfs(p, r, "set up the id table") : 0;
}

static int pack_setup(struct pack *p)
{
	size_t bs = p->opts->block_size ? p->opts->block_size : SQFS_DEFAULT_BLOCK_SIZE;
	uint32_t now = p->fixed_time ? p->epoch : (uint32_t)time(NULL);
	int r;

	if (bs < SQFS_MIN_BLOCK_SIZE || bs > SQFS_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0)
		return error_set(p->err, 0, "invalid block size %zu", bs);
	if (open_compressors(p, bs) < 0)
		return -1;
	r = sqfs_super_init(&p->super, bs, now, p->comp_id);
	if (r == 0)
		r = sqfs_super_write(&p->super, p->file);
	if (r != 0)
		return fail_sqfs(p, r, "write the superblock");
	r = p->cmp->write_options(p->cmp, p->file);
	if (r < 0)
		return fail_sqfs(p, r, "write the compressor options");
	if (r > 0)
		p->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
	p->buf = xmalloc(READ_CHUNK);
	if (open_data_writer(p, bs) < 0)
		return -1;
	return open_meta_writers(p);
}

/* The block processor goes first: its threads write into the file inodes.
 * libsquashfs 1.2 leaks the blocks still queued when it is destroyed early,
 * so an aborted run drains the queue first (the output is discarded). */
static void pack_release(struct pack *p)
{
	if (p->proc != NULL && !p->finished)
		sqfs_block_processor_finish(p->proc);
	sqfs_destroy(p->proc);
	node_free(p->root);
	free(p->hl.v);
	free(p->buf);
	strbuf_release(&p->path);
	sqfs_destroy(p->dw);
	sqfs_destroy(p->dm);
	sqfs_destroy(p->im);
	sqfs_destroy(p->xw);
	sqfs_destroy(p->ids);
	sqfs_destroy(p->frag);
	sqfs_destroy(p->bw);
	sqfs_destroy(p->uncmp);
	sqfs_destroy(p->cmp);
	sqfs_destroy(p->file);
}

static int pack_run(struct pack *p, int src_dirfd)
{
	int r;

	if (pack_setup(p) < 0 || scan_root(p, src_dirfd) < 0)
		return -1;
	r = sqfs_block_processor_finish(p->proc);
	p->finished = true;
	if (r != 0)
		return fail_sqfs(p, r, "compress file data");
	if (write_tree(p) < 0)
		return -1;
	return write_tables(p);
}

/* ---- output file ---- */

static int open_temp(const char *out_path, char **ret_tmp, int *ret_fd, struct error *err)
{
	const char *slash = strrchr(out_path, '/');
	char *tmp;
	int fd;

	if (slash == NULL)
		tmp = xasprintf(".%s.XXXXXX", out_path);
	else
		tmp = xasprintf("%.*s/.%s.XXXXXX", (int)(slash - out_path), out_path, slash + 1);
	/* mkostemp: O_CREAT|O_EXCL, mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		error_set(err, errno, "failed to create a temporary file next to '%s'", out_path);
		free(tmp);
		return -1;
	}
	*ret_tmp = tmp;
	*ret_fd = fd;
	return 0;
}

/* The image gets the mode a plain creat() would have given it. */
static int publish(int fd, const char *tmp, const char *out_path, struct error *err)
{
	mode_t mask = umask(0);

	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0)
		return error_set(err, errno, "failed to set the mode of '%s'", tmp);
	if (rename(tmp, out_path) < 0)
		return error_set(err, errno, "failed to rename '%s' to '%s'", tmp, out_path);
	return 0;
}

int sqfs_pack_dir(int src_dirfd, const char *out_path, const struct sqfs_pack_opts *opts, struct error *err)
{
	static const struct sqfs_pack_opts defaults;
	_cleanup_free_ char *tmp = NULL;
	struct pack p;
	int fd = -1, r;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.opts = opts != NULL ? opts : &defaults;
	if (parse_epoch(&p) < 0)
		return -1;
	if (open_temp(out_path, &tmp, &fd, err) < 0)
		return -1;
	/* p.file owns fd; it stays valid until pack_release(). */
	p.file = sqfs_image_file_new(fd, true, 0);
	r = pack_run(&p, src_dirfd);
	if (r == 0)
		r = publish(fd, tmp, out_path, err);
	pack_release(&p);
	if (r < 0)
		unlink(tmp);
	return r;
}
