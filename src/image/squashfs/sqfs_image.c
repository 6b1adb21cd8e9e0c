/* SPDX-License-Identifier: Apache-2.0 */
/* Opening squashfs images with libsquashfs: a bounded file wrapper, the
 * superblock and compressor checks shared by every reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/compressor.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "image/squashfs/sqfs_image.h"
#include "image/squashfs/sqfs_lzo.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* ---- sqfs_file_t over a file descriptor ---- */

struct fd_file {
	sqfs_file_t base;
	int fd;
	bool writable;
	sqfs_u64 base_off; /* where the image starts in the file */
	sqfs_u64 size;
	struct writeback wb; /* a new image leaves the page cache as it goes */
};

static void fd_file_destroy(sqfs_object_t *obj)
{
	struct fd_file *f = (struct fd_file *)obj;

	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static int fd_file_read_at(sqfs_file_t *base, sqfs_u64 off, void *buf, size_t len)
{
	struct fd_file *f = (struct fd_file *)base;
	char *p = buf;

	if (off > f->size || len > f->size - off)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	while (len > 0) {
		ssize_t n = pread(f->fd, p, len, (off_t)(f->base_off + off));

		if (n < 0 && errno == EINTR)
			continue;
		/* A short read means the file shrank under us. */
		if (n <= 0)
			return SQFS_ERROR_IO;
		p += n;
		off += (sqfs_u64)n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_file_write_at(sqfs_file_t *base, sqfs_u64 off, const void *buf, size_t len)
{
	struct fd_file *f = (struct fd_file *)base;
	const char *p = buf;

	if (!f->writable || off > INT64_MAX - f->base_off - len)
		return SQFS_ERROR_IO;
	while (len > 0) {
		ssize_t n = pwrite(f->fd, p, len, (off_t)(f->base_off + off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SQFS_ERROR_IO;
		p += n;
		off += (sqfs_u64)n;
		len -= (size_t)n;
	}
	if (off > f->size)
		f->size = off;
	return writeback_advance(&f->wb, off) < 0 ? SQFS_ERROR_IO : 0;
}

static sqfs_u64 fd_file_get_size(const sqfs_file_t *base)
{
	return ((const struct fd_file *)base)->size;
}

static int fd_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	struct fd_file *f = (struct fd_file *)base;

	if (!f->writable || size > INT64_MAX - f->base_off || ftruncate(f->fd, (off_t)(f->base_off + size)) < 0)
		return SQFS_ERROR_IO;
	f->size = size;
	writeback_rewind(&f->wb, size);
	return 0;
}

sqfs_file_t *sqfs_image_file_new(int fd, bool writable, uint64_t offset, uint64_t size)
{
	struct fd_file *f = xcalloc(1, sizeof(*f));

	f->base.base.destroy = fd_file_destroy;
	f->base.base.copy = NULL;
	f->base.read_at = fd_file_read_at;
	f->base.write_at = fd_file_write_at;
	f->base.get_size = fd_file_get_size;
	f->base.truncate = fd_file_truncate;
	f->fd = fd;
	f->writable = writable;
	f->base_off = offset;
	f->size = size;
	f->wb = (struct writeback){.fd = fd, .drop = true, .base = offset};
	return &f->base;
}

const char *sqfs_image_strerror(int code)
{
	switch (code) {
	case SQFS_ERROR_ALLOC:
		return "out of memory";
	case SQFS_ERROR_IO:
		return "input/output error";
	case SQFS_ERROR_COMPRESSOR:
		return "compressor error (corrupt data?)";
	case SQFS_ERROR_CORRUPTED:
		return "corrupt image";
	case SQFS_ERROR_UNSUPPORTED:
		return "unsupported feature";
	case SQFS_ERROR_OVERFLOW:
		return "size overflow (corrupt image?)";
	case SQFS_ERROR_OUT_OF_BOUNDS:
		return "reference out of bounds (corrupt or truncated image)";
	case SFQS_ERROR_SUPER_MAGIC:
		return "bad magic";
	case SFQS_ERROR_SUPER_VERSION:
		return "unsupported squashfs version";
	case SQFS_ERROR_SUPER_BLOCK_SIZE:
		return "invalid block size";
	case SQFS_ERROR_NOT_DIR:
		return "not a directory";
	case SQFS_ERROR_NO_ENTRY:
		return "no such entry";
	case SQFS_ERROR_LINK_LOOP:
		return "directory loop";
	case SQFS_ERROR_NOT_FILE:
		return "not a regular file";
	case SQFS_ERROR_ARG_INVALID:
		return "invalid argument";
	case SQFS_ERROR_SEQUENCE:
		return "calls out of sequence";
	default:
		return "internal libsquashfs error";
	}
}

/* ---- opening and probing ---- */

void sqfs_image_close(struct sqfs_image *img)
{
	sqfs_destroy(img->cmp);
	sqfs_destroy(img->file);
	img->cmp = NULL;
	img->file = NULL;
}

static int image_open_fd(const char *path, uint64_t offset, struct sqfs_image *img, struct error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* O_NONBLOCK: opening a FIFO given as "image" must not hang. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, errno, "failed to open image '%s'", path);
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat image '%s'", path);
	if (!S_ISREG(st.st_mode))
		return error_set(err, 0, "invalid image format: '%s' is not a regular file", path);
	if ((uint64_t)st.st_size < offset || (uint64_t)st.st_size - offset < sizeof(sqfs_super_t))
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs image (%jd bytes)",
				 path, (intmax_t)st.st_size);
	img->size = (uint64_t)st.st_size - offset;
	img->file = sqfs_image_file_new(TAKE_FD(fd), false, offset, img->size);
	return 0;
}

static int image_check_super(const char *path, struct sqfs_image *img, struct error *err)
{
	int r;

	r = sqfs_super_read(&img->super, img->file);
	if (r == SFQS_ERROR_SUPER_MAGIC)
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs image", path);
	if (r != 0)
		return error_set(err, 0, "invalid image format: '%s' has a bad superblock: %s", path,
				 sqfs_image_strerror(r));
	if (img->super.bytes_used > img->size)
		return error_set(err, 0, "invalid image format: '%s' is truncated (%ju of %ju bytes)", path,
				 (uintmax_t)img->size, (uintmax_t)img->super.bytes_used);
	if (img->super.block_size < SQFS_MIN_BLOCK_SIZE || img->super.block_size > SQFS_MAX_BLOCK_SIZE)
		return error_set(err, 0, "invalid image format: '%s' has a bad block size %u", path,
				 img->super.block_size);
	return 0;
}

static int image_open_compressor(const char *path, struct sqfs_image *img, struct error *err)
{
	sqfs_compressor_config_t cfg;
	const char *name = sqfs_compressor_name_from_id(img->super.compression_id);
	int r;

	r = sqfs_compressor_config_init(&cfg, img->super.compression_id, img->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS);
	if (r == 0)
		r = sqfs_compressor_create(&cfg, &img->cmp);
	if (r != 0 && img->super.compression_id == SQFS_COMP_LZO) {
		if (sqfs_lzo_new(img->super.block_size, false, &img->cmp, err) < 0)
			return error_prefix(err, "%s", path);
		return 0;
	}
	if (r != 0)
		return error_set(err, 0, "invalid image format: '%s' uses an unsupported compressor '%s'", path,
				 name != NULL ? name : "unknown");
	if (img->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) {
		r = img->cmp->read_options(img->cmp, img->file);
		if (r != 0)
			return error_set(err, 0, "invalid image format: '%s' has bad %s options: %s", path,
					 name, sqfs_image_strerror(r));
	}
	return 0;
}

int sqfs_image_open(const char *path, uint64_t offset, struct sqfs_image *img, struct error *err)
{
	int r;

	memset(img, 0, sizeof(*img));
	r = image_open_fd(path, offset, img, err);
	if (r == 0)
		r = image_check_super(path, img, err);
	if (r == 0)
		r = image_open_compressor(path, img, err);
	if (r < 0)
		sqfs_image_close(img);
	return r;
}

int sqfs_image_probe(const char *path, uint64_t offset, struct error *err)
{
	struct sqfs_image img;
	int r;

	r = sqfs_image_open(path, offset, &img, err);
	if (r < 0)
		return r;
	sqfs_image_close(&img);
	return 0;
}

static uint64_t tree_data_size(const sqfs_tree_node_t *n)
{
	uint64_t total = 0, size;

	for (; n != NULL; n = n->next) {
		if (n->children)
			total += tree_data_size(n->children);
		else if (sqfs_inode_get_file_size(n->inode, &size) == 0)
			total += size;
	}
	return total;
}

int sqfs_image_data_size(const char *path, uint64_t offset, uint64_t *ret_bytes, struct error *err)
{
	struct sqfs_image img;
	sqfs_dir_reader_t *dr = NULL;
	sqfs_id_table_t *ids = NULL;
	sqfs_tree_node_t *root = NULL;
	int r;

	if (sqfs_image_open(path, offset, &img, err) < 0)
		return -1;
	dr = sqfs_dir_reader_create(&img.super, img.cmp, img.file, 0);
	ids = sqfs_id_table_create(0);
	r = dr && ids ? sqfs_id_table_read(ids, img.file, &img.super, img.cmp) : SQFS_ERROR_ALLOC;
	if (r == 0)
		r = sqfs_dir_reader_get_full_hierarchy(dr, ids, NULL, 0, &root);
	if (r == 0)
		*ret_bytes = tree_data_size(root);
	else
		error_set(err, 0, "failed to read the directory tree of '%s': %s", path, sqfs_image_strerror(r));
	sqfs_dir_tree_destroy(root);
	sqfs_destroy(ids);
	sqfs_destroy(dr);
	sqfs_image_close(&img);
	return r == 0 ? 0 : -1;
}
