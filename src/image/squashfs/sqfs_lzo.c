/* SPDX-License-Identifier: Apache-2.0 */
/* lzo squashfs images (enroot's default compression), which Debian's
 * libsquashfs is built without: read, and written (lzo1x_999 level 8, as
 * mksquashfs, for sites whose SQUASH_OPTIONS say "-comp lzo").  Reading liblzo2 is opened only when such an image is
 * read, so no other command maps it, and no host tool ever extracts an image
 * (unsquashfs before 4.5.1 wrote through symlinks: CVE-2021-40153/41072). */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lzo/lzo1x.h>
#include <sqfs/compressor.h>
#include <sqfs/error.h>

#include "image/squashfs/sqfs_lzo.h"

#define LZO_SONAME "liblzo2.so.2"

typedef int (*lzo_init_fn)(unsigned, int, int, int, int, int, int, int, int, int);
typedef int (*lzo_decompress_fn)(const lzo_bytep, lzo_uint, lzo_bytep, lzo_uintp, lzo_voidp);
typedef int (*lzo_compress_fn)(const lzo_bytep, lzo_uint, lzo_bytep, lzo_uintp, lzo_voidp, const lzo_bytep, lzo_uint,
			       lzo_callback_p, int);

static lzo_decompress_fn lzo_decompress;
static lzo_compress_fn lzo_compress;

/* mksquashfs's default: no compressor options are written for it. */
#define LZO_LEVEL 8

struct lzo_reader {
	sqfs_compressor_t base;
	sqfs_u32 block_size;
	bool compress;
	sqfs_u8 *work, *buf; /* compressor only: per object (one per thread) */
};

static int lzo_load(struct error *err)
{
	void *lib;
	lzo_init_fn init;

	if (lzo_decompress != NULL)
		return 0;
	lib = dlopen(LZO_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL)
		return error_set(err, 0, "lzo images need %s (install liblzo2-2): %s", LZO_SONAME,
				 dlerror());
	init = (lzo_init_fn)dlsym(lib, "__lzo_init_v2");
	lzo_decompress = (lzo_decompress_fn)dlsym(lib, "lzo1x_decompress_safe");
	lzo_compress = (lzo_compress_fn)dlsym(lib, "lzo1x_999_compress_level");
	/* The sizes are lzo_init()'s: the library checks our view of its ABI. */
	if (init == NULL || lzo_decompress == NULL || lzo_compress == NULL ||
	    init(LZO_VERSION, (int)sizeof(short), (int)sizeof(int), (int)sizeof(long), (int)sizeof(lzo_uint32_t),
		 (int)sizeof(lzo_uint), (int)lzo_sizeof_dict_t, (int)sizeof(char *), (int)sizeof(lzo_voidp),
		 (int)sizeof(lzo_callback_t)) != LZO_E_OK) {
		lzo_decompress = NULL;
		dlclose(lib);
		return error_set(err, 0, "%s is not a usable lzo library", LZO_SONAME);
	}
	return 0;
}

/* Every lzo variant squashfs writes (lzo1x_1 ... lzo1x_999) decodes with
 * lzo1x_decompress_safe, which never writes past outsize. */
/* lzo's worst case for n bytes of input. */
static size_t lzo_bound(size_t n)
{
	return n + n / 16 + 64 + 3;
}

/* 0: the block does not shrink, it is stored as is. */
static sqfs_s32 lzo_compress_block(struct lzo_reader *c, const sqfs_u8 *in, sqfs_u32 size, sqfs_u8 *out,
				   sqfs_u32 outsize)
{
	lzo_uint len = lzo_bound(size);

	if (size > c->block_size || lzo_compress(in, size, c->buf, &len, c->work, NULL, 0, NULL, LZO_LEVEL) != LZO_E_OK)
		return SQFS_ERROR_COMPRESSOR;
	if (len >= size || len > outsize)
		return 0;
	memcpy(out, c->buf, len);
	return (sqfs_s32)len;
}

static sqfs_s32 lzo_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size, sqfs_u8 *out,
			     sqfs_u32 outsize)
{
	lzo_uint len = outsize;
	int r;

	if (outsize > INT32_MAX)
		return SQFS_ERROR_OVERFLOW;
	if (((struct lzo_reader *)cmp)->compress)
		return lzo_compress_block((struct lzo_reader *)cmp, in, size, out, outsize);
	r = lzo_decompress(in, size, out, &len, NULL);
	if (r == LZO_E_OUTPUT_OVERRUN)
		return 0;
	if (r != LZO_E_OK || len > outsize)
		return SQFS_ERROR_CORRUPTED;
	return (sqfs_s32)len;
}

static void lzo_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const struct lzo_reader *r = (const struct lzo_reader *)cmp;

	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_LZO;
	cfg->flags = r->compress ? 0 : SQFS_COMP_FLAG_UNCOMPRESS;
	cfg->block_size = r->block_size;
	cfg->level = LZO_LEVEL;
}

/* The options (algorithm, level) only matter to a compressor. */
static int lzo_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	(void)cmp;
	(void)file;
	return 0;
}

/* lzo1x_999 at level 8 is mksquashfs's default: it writes no options. */
static int lzo_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	(void)cmp;
	(void)file;
	return 0;
}

static void lzo_destroy(sqfs_object_t *obj)
{
	struct lzo_reader *c = (struct lzo_reader *)obj;

	free(c->work);
	free(c->buf);
	free(c);
}

static struct lzo_reader *lzo_alloc(sqfs_u32 block_size, bool compress)
{
	struct lzo_reader *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->block_size = block_size;
	c->compress = compress;
	if (compress) {
		c->work = malloc(LZO1X_999_MEM_COMPRESS);
		c->buf = malloc(lzo_bound(block_size));
		if (c->work == NULL || c->buf == NULL) {
			lzo_destroy((sqfs_object_t *)c);
			return NULL;
		}
	}
	return c;
}

static sqfs_object_t *lzo_copy(const sqfs_object_t *obj)
{
	const struct lzo_reader *o = (const struct lzo_reader *)obj;
	struct lzo_reader *c = lzo_alloc(o->block_size, o->compress);
	sqfs_u8 *work, *buf;

	if (c == NULL)
		return NULL;
	work = c->work;
	buf = c->buf;
	memcpy(c, o, sizeof(*c));
	c->work = work;
	c->buf = buf;
	return (sqfs_object_t *)c;
}

int sqfs_lzo_new(sqfs_u32 block_size, bool compress, sqfs_compressor_t **ret, struct error *err)
{
	struct lzo_reader *r;

	if (lzo_load(err) < 0)
		return -1;
	r = lzo_alloc(block_size, compress);
	if (r == NULL)
		return error_set(err, ENOMEM, "lzo compressor");
	r->base.base.destroy = lzo_destroy;
	r->base.base.copy = lzo_copy;
	r->base.get_configuration = lzo_get_configuration;
	r->base.write_options = lzo_write_options;
	r->base.read_options = lzo_read_options;
	r->base.do_block = lzo_do_block;
	*ret = &r->base;
	return 0;
}
