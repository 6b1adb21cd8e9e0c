/* SPDX-License-Identifier: Apache-2.0 */
/* Squashfs writer over a builder-owned tree (see sqfs_tree_writer.h), used
 * by both sqfs_pack.c and layers.c. Tables are written as mksquashfs does:
 * non-directory inodes first, then directories children first, so that every
 * directory entry points to an inode that is already written. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#include "image/squashfs/sqfs_lzo.h"
#include "image/squashfs/sqfs_tree_writer.h"
#include "image/squashfs/sqfs_image.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_WORKERS 16

struct sqfs_tree_writer {
	const struct sqfs_pack_opts *opts;
	char *out_path, *tmp_path;
	int fd; /* owned by file */
	bool published, finished, in_file;
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
	SQFS_COMPRESSOR comp_id;
	struct sqfs_tree_inode *inodes;
	uint32_t next_ino;
};

static int fail_sqfs(struct error *err, int code, const char *what)
{
	return error_set(err, 0, "failed to %s: %s", what, sqfs_image_strerror(code));
}

/* ---- setup ---- */

static int open_compressors(struct sqfs_tree_writer *w, size_t block_size, struct error *err)
{
	const char *name = w->opts->compressor != NULL ? w->opts->compressor : "zstd";
	sqfs_compressor_config_t cfg;
	int id = sqfs_compressor_id_from_name(name), r;

	if (id < 0)
		return error_set(err, 0, "unknown compressor '%s'", name);
	if (w->opts->level < 0 || (w->opts->level != 0 && id == SQFS_COMP_LZ4))
		return error_set(err, 0, "invalid level %d for compressor '%s'", w->opts->level, name);
	r = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)id, block_size, 0);
	if (r == 0 && w->opts->level != 0)
		cfg.level = (sqfs_u32)w->opts->level;
	else if (r == 0 && id == SQFS_COMP_ZSTD)
		cfg.level = 3;
	if (r == 0)
		r = sqfs_compressor_create(&cfg, &w->cmp);
	cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
	if (r == 0)
		r = sqfs_compressor_create(&cfg, &w->uncmp);
	/* Debian's libsquashfs has no lzo: liblzo2 does it (enroot's default). */
	if (r == SQFS_ERROR_UNSUPPORTED && id == SQFS_COMP_LZO && w->opts->level == 0) {
		if (w->cmp != NULL)
			sqfs_destroy(w->cmp);
		w->cmp = NULL;
		if (sqfs_lzo_new((sqfs_u32)block_size, true, &w->cmp, err) < 0 ||
		    sqfs_lzo_new((sqfs_u32)block_size, false, &w->uncmp, err) < 0)
			return -1;
		r = 0;
	}
	if (r == SQFS_ERROR_UNSUPPORTED)
		return error_set(err, 0, "compressor '%s' is not supported by libsquashfs", name);
	if (r != 0)
		return error_set(err, 0, "invalid settings for compressor '%s' (level %d)", name, w->opts->level);
	w->comp_id = (SQFS_COMPRESSOR)id;
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

static int open_data_writer(struct sqfs_tree_writer *w, size_t block_size, struct error *err)
{
	sqfs_block_processor_desc_t desc;
	unsigned workers = worker_count();
	int r;

	w->bw = sqfs_block_writer_create(w->file, SQFS_DEVBLK_SIZE, 0);
	w->frag = sqfs_frag_table_create(0);
	if (w->bw == NULL || w->frag == NULL)
		return error_set(err, ENOMEM, "failed to set up the block writer");
	memset(&desc, 0, sizeof(desc));
	desc.size = sizeof(desc);
	desc.max_block_size = (sqfs_u32)block_size;
	desc.num_workers = workers;
	/* Bounded queue: memory stays at a few MiB whatever the image size. */
	desc.max_backlog = 10 * workers;
	desc.cmp = w->cmp;
	desc.wr = w->bw;
	desc.tbl = w->frag;
	desc.file = w->file;
	desc.uncmp = w->uncmp;
	r = sqfs_block_processor_create_ex(&desc, &w->proc);
	return r != 0 ? fail_sqfs(err, r, "start the block processor") : 0;
}

static int open_meta_writers(struct sqfs_tree_writer *w, struct error *err)
{
	w->ids = sqfs_id_table_create(0);
	w->xw = sqfs_xattr_writer_create(0);
	w->im = sqfs_meta_writer_create(w->file, w->cmp, 0);
	w->dm = sqfs_meta_writer_create(w->file, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (w->ids == NULL || w->xw == NULL || w->im == NULL || w->dm == NULL)
		return error_set(err, ENOMEM, "failed to set up the table writers");
	w->dw = sqfs_dir_writer_create(w->dm, 0);
	if (w->dw == NULL)
		return error_set(err, ENOMEM, "failed to set up the table writers");
	return 0;
}

static int writer_setup(struct sqfs_tree_writer *w, uint32_t mkfs_time, struct error *err)
{
	size_t bs = w->opts->block_size ? w->opts->block_size : SQFS_DEFAULT_BLOCK_SIZE;
	int r;

	if (bs < SQFS_MIN_BLOCK_SIZE || bs > SQFS_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0)
		return error_set(err, 0, "invalid block size %zu", bs);
	if (open_compressors(w, bs, err) < 0)
		return -1;
	r = sqfs_super_init(&w->super, bs, mkfs_time, w->comp_id);
	if (r == 0)
		r = sqfs_super_write(&w->super, w->file);
	if (r != 0)
		return fail_sqfs(err, r, "write the superblock");
	r = w->cmp->write_options(w->cmp, w->file);
	if (r < 0)
		return fail_sqfs(err, r, "write the compressor options");
	if (r > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
	if (open_data_writer(w, bs, err) < 0)
		return -1;
	return open_meta_writers(w, err);
}

/* An unnamed file (O_TMPFILE) vanishes with us whatever kills us; where
 * the filesystem lacks it (NFS), a hidden name next to the output. */
static int open_temp(struct sqfs_tree_writer *w, struct error *err)
{
	const char *slash = strrchr(w->out_path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(w->out_path, (size_t)(slash - w->out_path)) : xstrdup(".");

	w->fd = open(*dir ? dir : "/", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd >= 0)
		return 0;
	if (slash == NULL)
		w->tmp_path = xasprintf(".%s.XXXXXX", w->out_path);
	else
		w->tmp_path = xasprintf("%.*s/.%s.XXXXXX", (int)(slash - w->out_path), w->out_path, slash + 1);
	/* mkostemp: O_CREAT|O_EXCL, mode 0600. */
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		free(w->tmp_path);
		w->tmp_path = NULL;
		return error_set(err, errno, "failed to create a temporary file next to '%s'", w->out_path);
	}
	return 0;
}

int sqfs_tree_writer_new(struct sqfs_tree_writer **ret, const char *out_path, const struct sqfs_pack_opts *opts,
			 uint32_t mkfs_time, struct error *err)
{
	static const struct sqfs_pack_opts defaults;
	struct sqfs_tree_writer *w = xcalloc(1, sizeof(*w));

	w->opts = opts != NULL ? opts : &defaults;
	w->out_path = xstrdup(out_path);
	w->fd = -1;
	if (open_temp(w, err) < 0) {
		sqfs_tree_writer_free(w);
		return -1;
	}
	/* w->file owns the fd from here on. */
	w->file = sqfs_image_file_new(w->fd, true, 0, 0);
	if (writer_setup(w, mkfs_time, err) < 0) {
		sqfs_tree_writer_free(w);
		return -1;
	}
	*ret = w;
	return 0;
}

/* ---- building ---- */

struct sqfs_tree_inode *sqfs_tree_inode_new(struct sqfs_tree_writer *w, uint16_t mode)
{
	struct sqfs_tree_inode *ino = xcalloc(1, sizeof(*ino));

	ino->mode = mode;
	ino->xattr_idx = SQFS_TREE_NO_XATTR;
	ino->all_next = w->inodes;
	w->inodes = ino;
	return ino;
}

struct sqfs_tree_inode *sqfs_tree_inode_resolve(struct sqfs_tree_inode *ino)
{
	for (int i = 0; ino != NULL && i < SQFS_TREE_MAX_FWD; i++) {
		if (ino->fwd == NULL)
			return ino->mode != 0 ? ino : NULL;
		ino = ino->fwd;
	}
	return NULL;
}

int sqfs_tree_file_begin(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, struct error *err)
{
	/* The processor keeps &ino->file and updates the inode from its
	 * threads until finish; inodes never move or get freed before that. */
	int r = sqfs_block_processor_begin_file(w->proc, &ino->file, NULL,
						w->opts->no_data_compression ? SQFS_BLK_DONT_COMPRESS : 0);

	if (r != 0)
		return fail_sqfs(err, r, "compress file data");
	w->in_file = true;
	return 0;
}

int sqfs_tree_file_append(struct sqfs_tree_writer *w, const void *data, size_t len, struct error *err)
{
	int r = sqfs_block_processor_append(w->proc, data, len);

	return r != 0 ? fail_sqfs(err, r, "compress file data") : 0;
}

int sqfs_tree_file_end(struct sqfs_tree_writer *w, struct error *err)
{
	int r = sqfs_block_processor_end_file(w->proc);

	w->in_file = false;
	return r != 0 ? fail_sqfs(err, r, "compress file data") : 0;
}

int sqfs_tree_set_xattrs(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, const char *const *keys,
			 const void *const *values, const size_t *sizes, size_t n, struct error *err)
{
	sqfs_u32 idx = SQFS_TREE_NO_XATTR;
	int r;

	if (n == 0) {
		ino->xattr_idx = SQFS_TREE_NO_XATTR;
		return 0;
	}
	r = sqfs_xattr_writer_begin(w->xw, 0);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = sqfs_xattr_writer_add(w->xw, keys[i], values[i], sizes[i]);
	if (r == 0)
		r = sqfs_xattr_writer_end(w->xw, &idx);
	if (r != 0)
		return fail_sqfs(err, r, "record xattrs");
	ino->xattr_idx = idx;
	return 0;
}

/* ---- the tree at the end ---- */

static bool node_live(const struct sqfs_tree_node *n)
{
	return !n->omit && sqfs_tree_inode_resolve(n->ino) != NULL;
}

static int cmp_node(const void *a, const void *b)
{
	const struct sqfs_tree_node *x = *(struct sqfs_tree_node *const *)a;
	const struct sqfs_tree_node *y = *(struct sqfs_tree_node *const *)b;

	return strcmp(x->name, y->name);
}

/* Sort the live children of every directory; count the hard links. */
static void sort_tree(struct sqfs_tree_node *dir)
{
	size_t n = 0;

	for (struct sqfs_tree_node *c = dir->child; c != NULL; c = c->next)
		n += node_live(c);
	free(dir->sorted);
	dir->sorted = xcalloc(n ? n : 1, sizeof(*dir->sorted));
	dir->n_sorted = 0;
	for (struct sqfs_tree_node *c = dir->child; c != NULL; c = c->next) {
		if (!node_live(c))
			continue;
		dir->sorted[dir->n_sorted++] = c;
		if (S_ISDIR(c->ino->mode))
			sort_tree(c);
		else
			sqfs_tree_inode_resolve(c->ino)->nlink++;
	}
	qsort(dir->sorted, dir->n_sorted, sizeof(*dir->sorted), cmp_node);
}

static void free_sorted(struct sqfs_tree_node *dir)
{
	for (uint32_t i = 0; i < dir->n_sorted; i++)
		if (S_ISDIR(dir->sorted[i]->ino->mode))
			free_sorted(dir->sorted[i]);
	free(dir->sorted);
	dir->sorted = NULL;
	dir->n_sorted = 0;
}

static void number_files(struct sqfs_tree_writer *w, struct sqfs_tree_node *dir)
{
	for (uint32_t i = 0; i < dir->n_sorted; i++) {
		struct sqfs_tree_node *c = dir->sorted[i];
		struct sqfs_tree_inode *ino = sqfs_tree_inode_resolve(c->ino);

		if (S_ISDIR(ino->mode))
			number_files(w, c);
		else if (ino->num == 0)
			ino->num = w->next_ino++;
	}
}

static void number_dirs(struct sqfs_tree_writer *w, struct sqfs_tree_node *dir)
{
	for (uint32_t i = 0; i < dir->n_sorted; i++)
		if (S_ISDIR(dir->sorted[i]->ino->mode))
			number_dirs(w, dir->sorted[i]);
	dir->ino->num = w->next_ino++;
}

static int write_inode(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, sqfs_inode_generic_t *inode,
		       struct error *err)
{
	sqfs_u64 block = 0;
	sqfs_u32 offset = 0;
	sqfs_u16 uid_idx, gid_idx;
	int r;

	r = sqfs_id_table_id_to_index(w->ids, ino->uid, &uid_idx);
	if (r == 0)
		r = sqfs_id_table_id_to_index(w->ids, ino->gid, &gid_idx);
	if (r != 0)
		return fail_sqfs(err, r, "record an owner in the id table");
	inode->base.mode = ino->mode;
	inode->base.mod_time = ino->mtime;
	inode->base.inode_number = ino->num;
	inode->base.uid_idx = uid_idx;
	inode->base.gid_idx = gid_idx;
	sqfs_meta_writer_get_position(w->im, &block, &offset);
	ino->ref = (block << 16) | offset;
	r = sqfs_meta_writer_write_inode(w->im, inode);
	ino->written = true;
	return r != 0 ? fail_sqfs(err, r, "write the inode table") : 0;
}

static sqfs_inode_generic_t *special_inode(const struct sqfs_tree_inode *ino)
{
	size_t extra = ino->target != NULL ? strlen(ino->target) : 0;
	sqfs_inode_generic_t *inode = xcalloc(1, sizeof(*inode) + extra);

	switch (ino->mode & S_IFMT) {
	case S_IFLNK:
		inode->base.type = SQFS_INODE_SLINK;
		inode->data.slink.nlink = ino->nlink;
		inode->data.slink.target_size = (sqfs_u32)extra;
		inode->payload_bytes_available = inode->payload_bytes_used = (sqfs_u32)extra;
		memcpy(inode->extra, ino->target, extra);
		break;
	case S_IFBLK:
	case S_IFCHR:
		inode->base.type = S_ISBLK(ino->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
		inode->data.dev.nlink = ino->nlink;
		inode->data.dev.devno = ino->devno;
		break;
	default:
		inode->base.type = S_ISFIFO(ino->mode) ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
		inode->data.ipc.nlink = ino->nlink;
		break;
	}
	return inode;
}

static int write_file_inode(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, struct error *err)
{
	sqfs_inode_generic_t *inode = ino->file;
	int r;

	if (inode == NULL)
		return error_set(err, 0, "internal error: a file inode has no data record");
	r = sqfs_inode_set_xattr_index(inode, ino->xattr_idx);
	if (r == 0 && ino->nlink > 1) {
		r = sqfs_inode_make_extended(inode);
		inode->data.file_ext.nlink = ino->nlink;
	}
	if (r != 0)
		return fail_sqfs(err, r, "build a file inode");
	return write_inode(w, ino, inode, err);
}

static int write_other_inode(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, struct error *err)
{
	sqfs_inode_generic_t *inode = special_inode(ino);
	int r = sqfs_inode_set_xattr_index(inode, ino->xattr_idx);

	if (r != 0) {
		free(inode);
		return fail_sqfs(err, r, "build an inode");
	}
	r = write_inode(w, ino, inode, err);
	free(inode);
	return r;
}

static int write_files(struct sqfs_tree_writer *w, struct sqfs_tree_node *dir, struct error *err)
{
	for (uint32_t i = 0; i < dir->n_sorted; i++) {
		struct sqfs_tree_inode *ino = sqfs_tree_inode_resolve(dir->sorted[i]->ino);
		int r = 0;

		if (S_ISDIR(ino->mode))
			r = write_files(w, dir->sorted[i], err);
		else if (ino->written)
			r = 0;
		else if (S_ISREG(ino->mode))
			r = write_file_inode(w, ino, err);
		else
			r = write_other_inode(w, ino, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_dir_entries(struct sqfs_tree_writer *w, struct sqfs_tree_node *dir, uint32_t *ret_subdirs,
			     struct error *err)
{
	uint32_t subdirs = 0;
	int r;

	r = sqfs_dir_writer_begin(w->dw, 0);
	for (uint32_t i = 0; r == 0 && i < dir->n_sorted; i++) {
		struct sqfs_tree_node *c = dir->sorted[i];
		struct sqfs_tree_inode *t = sqfs_tree_inode_resolve(c->ino);

		subdirs += S_ISDIR(t->mode);
		r = sqfs_dir_writer_add_entry(w->dw, c->name, t->num, t->ref, t->mode);
	}
	if (r == 0)
		r = sqfs_dir_writer_end(w->dw);
	if (r != 0)
		return fail_sqfs(err, r, "write the directory table");
	*ret_subdirs = subdirs;
	return 0;
}

static int write_dirs(struct sqfs_tree_writer *w, struct sqfs_tree_node *dir, struct error *err)
{
	sqfs_inode_generic_t *inode;
	uint32_t subdirs = 0, parent;
	int r;

	for (uint32_t i = 0; i < dir->n_sorted; i++)
		if (S_ISDIR(dir->sorted[i]->ino->mode) && write_dirs(w, dir->sorted[i], err) < 0)
			return -1;
	if (write_dir_entries(w, dir, &subdirs, err) < 0)
		return -1;
	/* As mksquashfs: the root's parent is one past the last inode. */
	parent = dir->parent != NULL ? dir->parent->ino->num : w->next_ino;
	inode = sqfs_dir_writer_create_inode(w->dw, 2 + subdirs, dir->ino->xattr_idx, parent);
	if (inode == NULL)
		return error_set(err, ENOMEM, "failed to build a directory inode");
	if (inode->base.type == SQFS_INODE_DIR)
		inode->data.dir.nlink = 2 + subdirs;
	else
		inode->data.dir_ext.nlink = 2 + subdirs;
	r = write_inode(w, dir->ino, inode, err);
	sqfs_free(inode);
	return r;
}

static int write_tree(struct sqfs_tree_writer *w, struct sqfs_tree_node *root, struct error *err)
{
	int r;

	w->next_ino = 1;
	number_files(w, root);
	number_dirs(w, root);
	w->super.inode_count = w->next_ino - 1;
	w->super.inode_table_start = w->file->get_size(w->file);
	if (write_files(w, root, err) < 0 || write_dirs(w, root, err) < 0)
		return -1;
	r = sqfs_meta_writer_flush(w->im);
	if (r == 0)
		r = sqfs_meta_writer_flush(w->dm);
	w->super.root_inode_ref = root->ino->ref;
	w->super.directory_table_start = w->file->get_size(w->file);
	if (r == 0)
		r = sqfs_meta_write_write_to_file(w->dm);
	return r != 0 ? fail_sqfs(err, r, "write the directory table") : 0;
}

static int write_tables(struct sqfs_tree_writer *w, struct error *err)
{
	static const uint8_t zeros[SQFS_DEVBLK_SIZE];
	sqfs_u64 size;
	int r;

	r = sqfs_frag_table_write(w->frag, w->file, &w->super, w->cmp);
	if (r == 0)
		r = sqfs_id_table_write(w->ids, w->file, &w->super, w->cmp);
	if (r == 0)
		r = sqfs_xattr_writer_flush(w->xw, w->file, &w->super, w->cmp);
	if (r != 0)
		return fail_sqfs(err, r, "write the image tables");
	size = w->file->get_size(w->file);
	w->super.bytes_used = size;
	r = sqfs_super_write(&w->super, w->file);
	/* Pad to 4 KiB as mksquashfs does, for loop devices. */
	if (r == 0 && size % SQFS_DEVBLK_SIZE != 0)
		r = w->file->write_at(w->file, size, zeros, SQFS_DEVBLK_SIZE - size % SQFS_DEVBLK_SIZE);
	return r != 0 ? fail_sqfs(err, r, "write the superblock") : 0;
}

/* Give the unnamed file a hidden name next to the output (linkat through
 * /proc needs no capability, unlike AT_EMPTY_PATH), renamed over it next. */
static int link_unnamed(struct sqfs_tree_writer *w, struct error *err)
{
	char proc[64];
	const char *slash = strrchr(w->out_path, '/');

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	for (unsigned i = 0; i < 100; i++) {
		free(w->tmp_path);
		w->tmp_path = slash ? xasprintf("%.*s/.%s.%d.%u", (int)(slash - w->out_path), w->out_path, slash + 1,
						(int)getpid(), i)
				    : xasprintf(".%s.%d.%u", w->out_path, (int)getpid(), i);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, w->tmp_path, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	error_set(err, errno, "failed to name the new image '%s'", w->out_path);
	free(w->tmp_path);
	w->tmp_path = NULL;
	return -1;
}

/* The image gets the mode a plain creat() would have given it. */
static int publish(struct sqfs_tree_writer *w, struct error *err)
{
	mode_t mask = umask(0);

	umask(mask);
	if (fchmod(w->fd, 0666 & ~mask) < 0)
		return error_set(err, errno, "failed to set the mode of '%s'", w->out_path);
	if (w->tmp_path == NULL && link_unnamed(w, err) < 0)
		return -1;
	if (rename(w->tmp_path, w->out_path) < 0)
		return error_set(err, errno, "failed to rename '%s' to '%s'", w->tmp_path, w->out_path);
	w->published = true;
	return 0;
}

int sqfs_tree_writer_finish(struct sqfs_tree_writer *w, struct sqfs_tree_node *root, struct error *err)
{
	int r;

	if (w->in_file)
		return error_set(err, 0, "internal error: a file is still open");
	r = sqfs_block_processor_finish(w->proc);
	w->finished = true;
	if (r != 0)
		return fail_sqfs(err, r, "compress file data");
	for (struct sqfs_tree_inode *ino = w->inodes; ino != NULL; ino = ino->all_next)
		ino->nlink = 0;
	sort_tree(root);
	r = write_tree(w, root, err);
	free_sorted(root);
	if (r == 0)
		r = write_tables(w, err);
	if (r == 0)
		r = publish(w, err);
	return r;
}

/* The block processor goes first: its threads write into the file inodes.
 * libsquashfs 1.2 leaks the blocks still queued when it is destroyed early,
 * so an aborted run drains the queue first (the output is discarded). */
void sqfs_tree_writer_free(struct sqfs_tree_writer *w)
{
	if (w == NULL)
		return;
	if (w->proc != NULL && w->in_file)
		sqfs_block_processor_end_file(w->proc);
	if (w->proc != NULL && !w->finished)
		sqfs_block_processor_finish(w->proc);
	sqfs_destroy(w->proc);
	while (w->inodes != NULL) {
		struct sqfs_tree_inode *ino = w->inodes;

		w->inodes = ino->all_next;
		sqfs_free(ino->file);
		free(ino->target);
		free(ino);
	}
	sqfs_destroy(w->dw);
	sqfs_destroy(w->dm);
	sqfs_destroy(w->im);
	sqfs_destroy(w->xw);
	sqfs_destroy(w->ids);
	sqfs_destroy(w->frag);
	sqfs_destroy(w->bw);
	sqfs_destroy(w->uncmp);
	sqfs_destroy(w->cmp);
	if (w->file != NULL)
		sqfs_destroy(w->file);
	else if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path != NULL && !w->published)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->out_path);
	free(w);
}
