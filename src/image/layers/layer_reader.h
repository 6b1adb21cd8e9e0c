/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a layer file that may still be downloading: at end of file the
 * source is asked whether more will come, so the merge can run right
 * behind the download instead of after it. */
#ifndef CAPSA_IMAGE_LAYER_READER_H
#define CAPSA_IMAGE_LAYER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* 1: the file will grow (wait and read again), 0: it is complete,
 * -1: its download failed (err set). */
typedef int (*layer_more_fn)(size_t index, void *arg, struct error *err);

struct layer_reader {
	int fd;
	size_t index;
	layer_more_fn more; /* NULL: the file is complete */
	void *more_arg;
	struct error *err;
	uint64_t left; /* bytes of the layer still to read (UINT64_MAX: to the end) */
	/* Read once (a rare second pass reads from disk): what was read leaves
	 * the page cache, see cache_drop_behind(). */
	uint64_t base, pos, dropped;
	unsigned char head[4]; /* peeked bytes, served first */
	size_t head_len, head_pos;
};

/* Read up to len bytes; 0 only at the real end of the layer, -1 with
 * r->err set on failure. */
ssize_t layer_reader_read(struct layer_reader *r, void *buf, size_t len);

/* Peek at the first bytes (waiting for them if the file is growing):
 * the compression is known from its magic before libarchive sees it. */
int layer_reader_peek(struct layer_reader *r, const unsigned char **ret, size_t *ret_len);

#endif
