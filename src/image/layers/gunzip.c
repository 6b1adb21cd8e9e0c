/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#include "image/layers/gunzip.h"
#include "util/xalloc.h"

#define IN_BUF (256u << 10)
#define OUT_BUF (1u << 20)

struct gunzip {
	struct layer_reader *src;
	bool eof; /* no more input in the file */
	uint8_t *in, *out;
	struct inflate_state st;
};

static int refill(struct archive *a, struct gunzip *g)
{
	ssize_t n = layer_reader_read(g->src, g->in, IN_BUF);

	if (n < 0) {
		archive_set_error(a, EIO, "%s", g->src->err->msg);
		return -1;
	}
	g->eof = n == 0;
	g->st.next_in = g->in;
	g->st.avail_in = (uint32_t)n;
	return 0;
}

static void start_member(struct gunzip *g)
{
	uint8_t *next = g->st.next_in;
	uint32_t avail = g->st.avail_in;

	isal_inflate_init(&g->st);
	g->st.crc_flag = ISAL_GZIP;
	g->st.next_in = next;
	g->st.avail_in = avail;
}

/* After a member: another one, or the end. Like gzip(1), anything but a
 * gzip header after a complete member (zero padding from some tools) ends
 * the stream. Returns 1 when a new member starts. */
static int next_member(struct archive *a, struct gunzip *g)
{
	if (g->st.avail_in < 2 && !g->eof) {
		/* Keep a lone first magic byte across the refill. */
		uint8_t keep = g->st.avail_in ? g->st.next_in[0] : 0;
		uint32_t had = g->st.avail_in;

		if (refill(a, g) < 0)
			return -1;
		if (had) {
			memmove(g->in + 1, g->in, g->st.avail_in);
			g->in[0] = keep;
			g->st.avail_in++;
		}
	}
	if (g->st.avail_in < 2 || g->st.next_in[0] != 0x1f || g->st.next_in[1] != 0x8b)
		return 0;
	start_member(g);
	return 1;
}

static la_ssize_t gz_read(struct archive *a, void *client, const void **buf)
{
	struct gunzip *g = client;

	for (;;) {
		int r;

		if (g->st.block_state == ISAL_BLOCK_FINISH) {
			r = next_member(a, g);
			if (r <= 0)
				return r;
		}
		if (g->st.avail_in == 0 && !g->eof && refill(a, g) < 0)
			return -1;
		g->st.next_out = g->out;
		g->st.avail_out = OUT_BUF;
		r = isal_inflate(&g->st);
		if (r < 0) {
			archive_set_error(a, EINVAL, "corrupt gzip data (isa-l error %d)", r);
			return -1;
		}
		if (g->st.avail_out < OUT_BUF) {
			*buf = g->out;
			return (la_ssize_t)(OUT_BUF - g->st.avail_out);
		}
		if (g->st.block_state != ISAL_BLOCK_FINISH && g->st.avail_in == 0 && g->eof) {
			archive_set_error(a, EINVAL, "truncated gzip data");
			return -1;
		}
	}
}

static int gz_close(struct archive *a, void *client)
{
	struct gunzip *g = client;

	(void)a;
	free(g->in);
	free(g->out);
	free(g);
	return ARCHIVE_OK;
}

int gunzip_archive_open(struct archive *a, struct layer_reader *r)
{
	struct gunzip *g = xcalloc(1, sizeof(*g));

	g->src = r;
	g->in = xmalloc(IN_BUF + 1);
	g->out = xmalloc(OUT_BUF);
	start_member(g);
	return archive_read_open(a, g, NULL, gz_read, gz_close);
}
