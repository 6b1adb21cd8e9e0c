/* SPDX-License-Identifier: Apache-2.0 */
/* In-process squashfs extraction. Every entry is created with an *at() call
 * relative to a directory fd we opened with O_NOFOLLOW, never by path. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>

#include "image/squashfs/sqfs_unpack.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Blocks read with one pread and written with one pwritev. */
#define RUN_BLOCKS 16
/* Each level keeps one directory fd open; real images stay far below. */
#define MAX_DEPTH 512
#define NO_INDEX 0xFFFFFFFFu

/* ---- inode number maps ---- */

/* Open addressing, keyed by inode number (never 0 once validated). */
struct inomap {
	struct inoent {
		uint32_t key;
		char *val;
	} *v;
	size_t n, cap;
};

static void inomap_free(struct inomap *m, bool free_vals)
{
	for (size_t i = 0; free_vals && i < m->cap; i++)
		free(m->v[i].val);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static struct inoent *inomap_find(struct inomap *m, uint32_t key, bool insert);

static void inomap_grow(struct inomap *m)
{
	struct inomap old = *m;

	m->cap = old.cap ? old.cap * 2 : 256;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.v[i].key != 0)
			inomap_find(m, old.v[i].key, true)->val = old.v[i].val;
	free(old.v);
}

static struct inoent *inomap_find(struct inomap *m, uint32_t key, bool insert)
{
	size_t mask, i;

	if (insert && (m->n + 1) * 2 > m->cap)
		inomap_grow(m);
	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = (key * 2654435761u) & mask;; i = (i + 1) & mask) {
		if (m->v[i].key == key)
			return &m->v[i];
		if (m->v[i].key != 0)
			continue;
		if (!insert)
			return NULL;
		m->v[i].key = key;
		m->n++;
		return &m->v[i];
	}
}

/* ---- extraction state ---- */

struct deferred {
	char *relpath;
	uint16_t mode;
};

struct unpack {
	const char *image;
	int dst;
	struct sqfs_image img;
	const struct sqfs_unpack_opts *opts;
	uint64_t done; /* image bytes read, for progress */
	sqfs_dir_reader_t *dr;
	sqfs_data_reader_t *data;
	sqfs_xattr_reader_t *xr;
	size_t block_size;
	uint8_t *rbuf, *obuf;
	struct inomap links; /* inode number -> relpath of the first extracted link */
	struct inomap dirs;  /* directory inode numbers already entered */
	struct deferred *deferred;
	size_t n_deferred, cap_deferred;
	struct strbuf path; /* relative path of the current entry */
	struct error *err;
};

struct entry {
	char *name;
	sqfs_inode_generic_t *inode;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static const char *cur_path(struct unpack *u)
{
	return u->path.len ? u->path.buf : "/";
}

static int fail_sqfs(struct unpack *u, int code, const char *what)
{
	return error_set(u->err, 0, "failed to %s '%s' in image '%s': %s", what, cur_path(u), u->image,
			 sqfs_image_strerror(code));
}

static int fail_table(struct unpack *u, int code, const char *what)
{
	return error_set(u->err, 0, "failed to read the %s of image '%s': %s", what, u->image,
			 sqfs_image_strerror(code));
}

static int fail_corrupt(struct unpack *u, const char *why)
{
	return error_set(u->err, 0, "corrupt image '%s' at '%s': %s", u->image, cur_path(u), why);
}

static int fail_errno(struct unpack *u, const char *what)
{
	return error_set(u->err, errno, "failed to %s '%s'", what, cur_path(u));
}

static void path_push(struct unpack *u, const char *name)
{
	if (u->path.len > 0)
		strbuf_addch(&u->path, '/');
	strbuf_addstr(&u->path, name);
}

static void path_pop(struct unpack *u, size_t mark)
{
	u->path.len = mark;
	if (u->path.buf != NULL)
		u->path.buf[mark] = '\0';
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->v[i].name);
		sqfs_free(es->v[i].inode);
	}
	free(es->v);
}

static bool name_is_valid(const char *name, size_t len)
{
	if (len == 0 || strnlen(name, len) != len || memchr(name, '/', len) != NULL)
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int read_entry(struct unpack *u, struct entries *es, sqfs_dir_entry_t *ent)
{
	sqfs_inode_generic_t *inode = NULL;
	size_t len = (size_t)ent->size + 1;
	int r;

	if (!name_is_valid((const char *)ent->name, len))
		return fail_corrupt(u, "invalid entry name");
	r = sqfs_dir_reader_get_inode(u->dr, &inode);
	if (r != 0)
		return fail_sqfs(u, r, "read an entry of");
	if (inode->base.inode_number == 0 || inode->base.inode_number > u->img.super.inode_count) {
		sqfs_free(inode);
		return fail_corrupt(u, "inode number out of range");
	}
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 16;
		es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
	}
	es->v[es->n].name = xstrndup((const char *)ent->name, len);
	es->v[es->n].inode = inode;
	es->n++;
	return 0;
}

static int read_dir(struct unpack *u, const sqfs_inode_generic_t *dir, struct entries *es)
{
	int r;

	r = sqfs_dir_reader_open_dir(u->dr, dir, 0);
	if (r != 0)
		return fail_sqfs(u, r, "open directory");
	for (;;) {
		sqfs_dir_entry_t *ent = NULL;

		r = sqfs_dir_reader_read(u->dr, &ent);
		if (r > 0)
			return 0;
		if (r < 0)
			return fail_sqfs(u, r, "read directory");
		r = read_entry(u, es, ent);
		sqfs_free(ent);
		if (r < 0)
			return r;
	}
}

/* ---- metadata ---- */

static int set_one_xattr(struct unpack *u, int fd, const sqfs_xattr_entry_t *key)
{
	sqfs_xattr_value_t *val = NULL;
	int r;

	r = sqfs_xattr_reader_read_value(u->xr, key, &val);
	if (r != 0)
		return fail_sqfs(u, r, "read extended attributes of");
	/* Only user.* can be set unprivileged; trusted.* and security.* are
	 * skipped as unsquashfs -user-xattrs does. */
	if ((key->type & SQFS_XATTR_PREFIX_MASK) == SQFS_XATTR_USER &&
	    fsetxattr(fd, (const char *)key->key, val->value, val->size, 0) < 0 && errno != ENOTSUP) {
		sqfs_free(val);
		return error_set(u->err, errno, "failed to set xattr '%s' on '%s'", (const char *)key->key,
				 cur_path(u));
	}
	sqfs_free(val);
	return 0;
}

static int set_xattrs(struct unpack *u, int fd, const sqfs_inode_generic_t *inode)
{
	sqfs_xattr_id_t desc;
	sqfs_u32 idx = NO_INDEX;
	int r;

	if (u->xr == NULL || sqfs_inode_get_xattr_index(inode, &idx) != 0 || idx == NO_INDEX)
		return 0;
	r = sqfs_xattr_reader_get_desc(u->xr, idx, &desc);
	if (r == 0)
		r = sqfs_xattr_reader_seek_kv(u->xr, &desc);
	if (r != 0)
		return fail_sqfs(u, r, "read extended attributes of");
	for (sqfs_u32 i = 0; i < desc.count; i++) {
		sqfs_xattr_entry_t *key = NULL;

		r = sqfs_xattr_reader_read_key(u->xr, &key);
		if (r != 0)
			return fail_sqfs(u, r, "read extended attributes of");
		r = set_one_xattr(u, fd, key);
		sqfs_free(key);
		if (r < 0)
			return r;
	}
	return 0;
}

static void inode_times(const sqfs_inode_generic_t *inode, struct timespec ts[2])
{
	ts[0].tv_sec = (time_t)inode->base.mod_time;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
}

/* Mode after the data: writing to a file clears its setuid bit. Setuid and
 * setgid files are the caller's own: kept, other users could run them as the
 * caller (containerd CVE-2021-41103), so they are dropped unless asked for. */
static int set_mode_time(struct unpack *u, int fd, const sqfs_inode_generic_t *inode)
{
	mode_t mode = inode->base.mode & 07777;
	struct timespec ts[2];

	if (!u->opts->keep_setid && !S_ISDIR(inode->base.mode))
		mode &= ~(mode_t)(S_ISUID | S_ISGID);
	if (fchmod(fd, mode) < 0)
		return fail_errno(u, "set the mode of");
	inode_times(inode, ts);
	if (futimens(fd, ts) < 0)
		return fail_errno(u, "set the mtime of");
	return 0;
}

/* ---- regular file data ---- */

static int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

struct run {
	int fd;
	const sqfs_u32 *sizes; /* on-disk sizes of the run's blocks */
	size_t n;
	uint64_t loc;          /* image offset of the first block */
	uint64_t off;          /* file offset of the first block */
	uint64_t file_size;
	uint64_t end;          /* out: end of the data written */
};

static int run_read(struct unpack *u, struct run *run, size_t *ret_disk)
{
	size_t disk = 0;
	int r;

	for (size_t k = 0; k < run->n; k++) {
		size_t s = SQFS_ON_DISK_BLOCK_SIZE(run->sizes[k]);

		if (s > u->block_size)
			return fail_corrupt(u, "data block larger than the block size");
		disk += s;
	}
	if (run->loc > u->img.super.bytes_used || disk > u->img.super.bytes_used - run->loc)
		return fail_corrupt(u, "data block beyond the end of the image");
	r = u->img.file->read_at(u->img.file, run->loc, u->rbuf, disk);
	if (r != 0)
		return fail_sqfs(u, r, "read data of");
	*ret_disk = disk;
	u->done += disk;
	if (u->opts->progress)
		u->opts->progress(u->done, u->img.super.bytes_used, u->opts->progress_arg);
	return 0;
}

static int run_flush(struct unpack *u, struct run *run, struct iovec *iov, int *n, uint64_t *seg)
{
	size_t len = 0;

	for (int i = 0; i < *n; i++)
		len += iov[i].iov_len;
	if (*n > 0 && pwritev_full(run->fd, iov, *n, *seg) < 0)
		return fail_errno(u, "write");
	if (*n > 0)
		run->end = *seg + len;
	*seg += len;
	*n = 0;
	return 0;
}

/* Decode one block into iov; a sparse block only moves the segment start. */
static int run_block(struct unpack *u, struct run *run, size_t k, const uint8_t *in, struct iovec *iov,
		     int *n, uint64_t *seg)
{
	size_t s = SQFS_ON_DISK_BLOCK_SIZE(run->sizes[k]);
	uint64_t off = run->off + (uint64_t)k * u->block_size;
	size_t want = (size_t)(run->file_size - off < u->block_size ? run->file_size - off : u->block_size);
	uint8_t *out = u->obuf + k * u->block_size;
	sqfs_s32 got;

	if (s == 0) {
		if (run_flush(u, run, iov, n, seg) < 0)
			return -1;
		*seg = off + want;
		return 0;
	}
	if (!SQFS_IS_BLOCK_COMPRESSED(run->sizes[k])) {
		if (s != want)
			return fail_corrupt(u, "uncompressed block has the wrong size");
		iov[*n] = (struct iovec){(void *)in, s};
	} else {
		got = u->img.cmp->do_block(u->img.cmp, in, (sqfs_u32)s, out, (sqfs_u32)u->block_size);
		if (got < 0 || (size_t)got != want)
			return fail_corrupt(u, "data block does not decompress to its size");
		iov[*n] = (struct iovec){out, want};
	}
	(*n)++;
	return 0;
}

static int run_write(struct unpack *u, struct run *run)
{
	struct iovec iov[RUN_BLOCKS];
	uint64_t seg = run->off;
	size_t disk = 0, pos = 0;
	int n = 0;

	if (run_read(u, run, &disk) < 0)
		return -1;
	for (size_t k = 0; k < run->n; k++) {
		if (run_block(u, run, k, u->rbuf + pos, iov, &n, &seg) < 0)
			return -1;
		pos += SQFS_ON_DISK_BLOCK_SIZE(run->sizes[k]);
	}
	if (run_flush(u, run, iov, &n, &seg) < 0)
		return -1;
	run->loc += disk;
	return 0;
}

static int write_fragment(struct unpack *u, int fd, const sqfs_inode_generic_t *inode, uint64_t off,
			  size_t tail)
{
	sqfs_u8 *buf = NULL;
	size_t size = 0;
	ssize_t w;
	int r;

	r = sqfs_data_reader_get_fragment(u->data, inode, &size, &buf);
	if (r != 0)
		return fail_sqfs(u, r, "read the fragment of");
	if (size != tail) {
		sqfs_free(buf);
		return fail_corrupt(u, "fragment has the wrong size");
	}
	do
		w = pwrite(fd, buf, size, (off_t)off);
	while (w < 0 && errno == EINTR);
	sqfs_free(buf);
	if (w < 0 || (size_t)w != size)
		return w < 0 ? fail_errno(u, "write") : fail_corrupt(u, "short write");
	return 0;
}

static int write_data(struct unpack *u, int fd, const sqfs_inode_generic_t *inode)
{
	sqfs_u64 size = 0, start = 0;
	sqfs_u32 frag_idx = NO_INDEX, frag_off = NO_INDEX;
	size_t nblocks = sqfs_inode_get_file_block_count(inode);
	struct run run = {.fd = fd, .sizes = inode->extra, .end = 0};
	uint64_t tail;
	bool frag;

	sqfs_inode_get_file_size(inode, &size);
	sqfs_inode_get_file_block_start(inode, &start);
	sqfs_inode_get_frag_location(inode, &frag_idx, &frag_off);
	tail = size % u->block_size;
	frag = tail != 0 && frag_idx != NO_INDEX;
	if (size / u->block_size + (tail != 0 && !frag) != nblocks)
		return fail_corrupt(u, "block count does not match the file size");
	run.loc = start;
	run.file_size = size;
	for (size_t i = 0; i < nblocks; i += run.n) {
		run.n = nblocks - i < RUN_BLOCKS ? nblocks - i : RUN_BLOCKS;
		run.sizes = inode->extra + i;
		run.off = (uint64_t)i * u->block_size;
		if (run_write(u, &run) < 0)
			return -1;
	}
	if (frag && write_fragment(u, fd, inode, size - tail, (size_t)tail) < 0)
		return -1;
	/* Trailing sparse blocks: extend the file with a hole. */
	if (!frag && run.end < size && ftruncate(fd, (off_t)size) < 0)
		return fail_errno(u, "extend");
	return 0;
}

/* ---- entries ---- */

static int unpack_file(struct unpack *u, int dirfd, const struct entry *e)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno(u, "create");
	if (write_data(u, fd, e->inode) < 0)
		return -1;
	if (set_xattrs(u, fd, e->inode) < 0)
		return -1;
	return set_mode_time(u, fd, e->inode);
}

static int unpack_symlink(struct unpack *u, int dirfd, const struct entry *e)
{
	const sqfs_inode_generic_t *inode = e->inode;
	_cleanup_free_ char *target = NULL;
	struct timespec ts[2];
	size_t len = inode->data.slink.target_size;

	if (len == 0 || len > inode->payload_bytes_used)
		return fail_corrupt(u, "bad symlink target size");
	target = xstrndup((const char *)inode->extra, len);
	if (strlen(target) != len)
		return fail_corrupt(u, "symlink target contains a NUL byte");
	if (symlinkat(target, dirfd, e->name) < 0)
		return fail_errno(u, "create symlink");
	inode_times(inode, ts);
	if (utimensat(dirfd, e->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_errno(u, "set the mtime of");
	return 0;
}

/* FIFOs and sockets: mknod of these needs no privilege. User xattrs are not
 * allowed on special files, so there are none to restore. */
static int unpack_special(struct unpack *u, int dirfd, const struct entry *e, mode_t type)
{
	const sqfs_inode_generic_t *inode = e->inode;
	struct timespec ts[2];
	int r;

	if (type == S_IFIFO)
		r = mkfifoat(dirfd, e->name, 0600);
	else
		r = mknodat(dirfd, e->name, type | 0600, 0);
	if (r < 0)
		return fail_errno(u, "create");
	/* fchmodat() follows symlinks, but we just created this node and only
	 * the caller can write to the destination. */
	if (fchmodat(dirfd, e->name, inode->base.mode & 07777, 0) < 0)
		return fail_errno(u, "set the mode of");
	inode_times(inode, ts);
	if (utimensat(dirfd, e->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_errno(u, "set the mtime of");
	return 0;
}

/* Open the directory holding relpath (a path we created), one component at a
 * time without following symlinks. */
static int open_parent(struct unpack *u, const char *relpath, int *ret_fd, const char **ret_base)
{
	_cleanup_close_ int fd = -1;
	const char *p = relpath, *slash;

	while ((slash = strchr(p, '/')) != NULL) {
		_cleanup_free_ char *comp = xstrndup(p, (size_t)(slash - p));
		int next = openat(fd >= 0 ? fd : u->dst, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0)
			return error_set(u->err, errno, "failed to open '%s'", relpath);
		if (fd >= 0)
			close(fd);
		fd = next;
		p = slash + 1;
	}
	if (fd < 0)
		fd = fcntl(u->dst, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return error_set(u->err, errno, "failed to duplicate the destination fd");
	*ret_fd = TAKE_FD(fd);
	*ret_base = p;
	return 0;
}

static int make_hardlink(struct unpack *u, const char *target, int dirfd, const char *name)
{
	_cleanup_close_ int pfd = -1;
	const char *base = NULL;

	if (open_parent(u, target, &pfd, &base) < 0)
		return -1;
	if (linkat(pfd, base, dirfd, name, 0) < 0)
		return error_set(u->err, errno, "failed to link '%s' to '%s'", cur_path(u), target);
	return 0;
}

static uint32_t inode_nlink(const sqfs_inode_generic_t *inode)
{
	switch (inode->base.type) {
	case SQFS_INODE_EXT_FILE:
		return inode->data.file_ext.nlink;
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		return inode->data.slink.nlink;
	case SQFS_INODE_FIFO:
	case SQFS_INODE_SOCKET:
	case SQFS_INODE_EXT_FIFO:
	case SQFS_INODE_EXT_SOCKET:
		return inode->data.ipc.nlink;
	default:
		return 1;
	}
}

static int create_nondir(struct unpack *u, int dirfd, const struct entry *e)
{
	switch (e->inode->base.type) {
	case SQFS_INODE_FILE:
	case SQFS_INODE_EXT_FILE:
		return unpack_file(u, dirfd, e);
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		return unpack_symlink(u, dirfd, e);
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO:
		return unpack_special(u, dirfd, e, S_IFIFO);
	case SQFS_INODE_SOCKET:
	case SQFS_INODE_EXT_SOCKET:
		return unpack_special(u, dirfd, e, S_IFSOCK);
	default:
		return fail_corrupt(u, "unknown inode type");
	}
}

/* Squashfs hard links are entries sharing one inode: the first one seen is
 * extracted, the others are linked to it. */
static int unpack_nondir(struct unpack *u, int dirfd, const struct entry *e)
{
	uint32_t ino = e->inode->base.inode_number;
	struct inoent *ie = NULL;

	if (inode_nlink(e->inode) > 1) {
		ie = inomap_find(&u->links, ino, false);
		if (ie != NULL)
			return make_hardlink(u, ie->val, dirfd, e->name);
	}
	if (create_nondir(u, dirfd, e) < 0)
		return -1;
	if (inode_nlink(e->inode) > 1)
		inomap_find(&u->links, ino, true)->val = xstrdup(u->path.buf);
	return 0;
}

static int unpack_dir(struct unpack *u, int dirfd, const sqfs_inode_generic_t *dir, unsigned depth);

static void defer_mode(struct unpack *u, uint16_t mode)
{
	if (u->n_deferred == u->cap_deferred) {
		u->cap_deferred = u->cap_deferred ? u->cap_deferred * 2 : 16;
		u->deferred = xrealloc(u->deferred, u->cap_deferred * sizeof(*u->deferred));
	}
	u->deferred[u->n_deferred].relpath = xstrdup(u->path.buf);
	u->deferred[u->n_deferred].mode = mode;
	u->n_deferred++;
}

/* The mtime is final once the children exist. A mode without u+rwx waits
 * until everything is extracted: later hard links may need to reach into
 * this directory. */
static int finish_dir(struct unpack *u, int fd, const sqfs_inode_generic_t *inode)
{
	struct timespec ts[2];
	uint16_t mode = inode->base.mode & 07777;

	if (set_xattrs(u, fd, inode) < 0)
		return -1;
	if ((mode & 0700) == 0700 && fchmod(fd, mode) < 0)
		return fail_errno(u, "set the mode of");
	if ((mode & 0700) != 0700)
		defer_mode(u, mode);
	inode_times(inode, ts);
	if (futimens(fd, ts) < 0)
		return fail_errno(u, "set the mtime of");
	return 0;
}

static int unpack_subdir(struct unpack *u, int dirfd, const struct entry *e, unsigned depth)
{
	_cleanup_close_ int fd = -1;
	struct inoent *ie;

	if (depth > MAX_DEPTH)
		return fail_corrupt(u, "directories nested too deeply");
	/* A directory reachable twice would be a loop or an exponential DAG. */
	ie = inomap_find(&u->dirs, e->inode->base.inode_number, true);
	if (ie->val != NULL)
		return fail_corrupt(u, "directory linked more than once");
	ie->val = (char *)"";
	if (mkdirat(dirfd, e->name, 0700) < 0)
		return fail_errno(u, "create directory");
	fd = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(u, "open directory");
	if (unpack_dir(u, fd, e->inode, depth) < 0)
		return -1;
	return finish_dir(u, fd, e->inode);
}

static bool is_dir(const sqfs_inode_generic_t *inode)
{
	return inode->base.type == SQFS_INODE_DIR || inode->base.type == SQFS_INODE_EXT_DIR;
}

static bool is_device(const sqfs_inode_generic_t *inode)
{
	switch (inode->base.type) {
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV:
		return true;
	default:
		return false;
	}
}

static int unpack_dir(struct unpack *u, int dirfd, const sqfs_inode_generic_t *dir, unsigned depth)
{
	struct entries es = {NULL, 0, 0};
	size_t mark = u->path.len;
	int r;

	r = read_dir(u, dir, &es);
	for (size_t i = 0; r == 0 && i < es.n; i++) {
		path_push(u, es.v[i].name);
		/* Unprivileged mknod of a device fails, and enroot's create
		 * drops /dev content anyway. */
		if (is_dir(es.v[i].inode))
			r = unpack_subdir(u, dirfd, &es.v[i], depth + 1);
		else if (!is_device(es.v[i].inode))
			r = unpack_nondir(u, dirfd, &es.v[i]);
		if (r == 0)
			path_pop(u, mark);
	}
	entries_free(&es);
	return r;
}

/* Deferred entries were recorded children first, so restrictive parents are
 * still searchable when their children are reached. */
static int apply_deferred(struct unpack *u)
{
	for (size_t i = 0; i < u->n_deferred; i++) {
		_cleanup_close_ int pfd = -1, fd = -1;
		const char *relpath = u->deferred[i].relpath, *base = NULL;

		if (open_parent(u, relpath, &pfd, &base) < 0)
			return -1;
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchmod(fd, u->deferred[i].mode) < 0)
			return error_set(u->err, errno, "failed to set the mode of '%s'", relpath);
	}
	return 0;
}

/* ---- setup ---- */

static int unpack_open_readers(struct unpack *u)
{
	const sqfs_super_t *super = &u->img.super;
	int r;

	u->block_size = super->block_size;
	u->dr = sqfs_dir_reader_create(super, u->img.cmp, u->img.file, 0);
	u->data = sqfs_data_reader_create(u->img.file, u->block_size, u->img.cmp, 0);
	if (u->dr == NULL || u->data == NULL)
		return error_set(u->err, ENOMEM, "failed to set up reading '%s'", u->image);
	r = sqfs_data_reader_load_fragment_table(u->data, super);
	if (r != 0)
		return fail_table(u, r, "fragment table");
	if (!(super->flags & SQFS_FLAG_NO_XATTRS) && super->xattr_id_table_start != UINT64_MAX) {
		u->xr = sqfs_xattr_reader_create(0);
		if (u->xr == NULL)
			return error_set(u->err, ENOMEM, "failed to set up reading '%s'", u->image);
		r = sqfs_xattr_reader_load(u->xr, super, u->img.file, u->img.cmp);
		if (r != 0)
			return fail_table(u, r, "xattr table");
	}
	u->rbuf = xmalloc(RUN_BLOCKS * u->block_size);
	u->obuf = xmalloc(RUN_BLOCKS * u->block_size);
	return 0;
}

static void unpack_release(struct unpack *u)
{
	for (size_t i = 0; i < u->n_deferred; i++)
		free(u->deferred[i].relpath);
	free(u->deferred);
	inomap_free(&u->links, true);
	inomap_free(&u->dirs, false);
	strbuf_release(&u->path);
	free(u->rbuf);
	free(u->obuf);
	sqfs_destroy(u->xr);
	sqfs_destroy(u->data);
	sqfs_destroy(u->dr);
	sqfs_image_close(&u->img);
}

static int unpack_root(struct unpack *u)
{
	sqfs_inode_generic_t *root = NULL;
	int r;

	r = sqfs_dir_reader_get_root_inode(u->dr, &root);
	if (r != 0)
		return fail_table(u, r, "root inode");
	if (!is_dir(root) || root->base.inode_number == 0) {
		sqfs_free(root);
		return fail_corrupt(u, "the root is not a directory");
	}
	inomap_find(&u->dirs, root->base.inode_number, true)->val = (char *)"";
	r = unpack_dir(u, u->dst, root, 0);
	if (r == 0)
		r = apply_deferred(u);
	if (r == 0)
		r = set_xattrs(u, u->dst, root);
	if (r == 0)
		r = set_mode_time(u, u->dst, root);
	sqfs_free(root);
	return r;
}

int sqfs_unpack(const char *image, const struct sqfs_unpack_opts *opts, int dst_dirfd, struct error *err)
{
	static const struct sqfs_unpack_opts none;
	struct unpack u;
	int r;

	memset(&u, 0, sizeof(u));
	u.opts = opts ? opts : &none;
	u.image = image;
	u.dst = dst_dirfd;
	u.err = err;
	r = sqfs_image_open(image, u.opts->offset, &u.img, err);
	if (r < 0)
		return r;
	r = unpack_open_readers(&u);
	if (r == 0)
		r = unpack_root(&u);
	unpack_release(&u);
	return r;
}
