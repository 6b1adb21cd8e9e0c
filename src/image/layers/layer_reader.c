/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/layers/layer_reader.h"
#include "util/fs.h"

/* A download writes in chunks of tens of KiB: 1 ms between looks at the
 * end of the file keeps the merge close behind without spinning. */
static void pause_1ms(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}

static ssize_t read_file(struct layer_reader *r, void *buf, size_t len)
{
	if (len > r->left)
		len = (size_t)r->left;
	if (len == 0)
		return 0;
	for (;;) {
		ssize_t n = read(r->fd, buf, len);
		int more;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(r->err, "failed to read a layer");
		if (n > 0 && r->left != UINT64_MAX)
			r->left -= (uint64_t)n;
		if (n > 0) {
			r->pos += (uint64_t)n;
			cache_drop_behind(r->fd, r->base, &r->dropped, r->pos);
		}
		if (n > 0 || r->more == NULL)
			return n;
		more = r->more(r->index, r->more_arg, r->err);
		if (more < 0)
			return -1;
		if (more == 0) {
			/* Complete now: what was appended since our read is the rest. */
			r->more = NULL;
			continue;
		}
		pause_1ms();
	}
}

ssize_t layer_reader_read(struct layer_reader *r, void *buf, size_t len)
{
	if (r->head_pos < r->head_len) {
		size_t n = r->head_len - r->head_pos < len ? r->head_len - r->head_pos : len;

		memcpy(buf, r->head + r->head_pos, n);
		r->head_pos += n;
		return (ssize_t)n;
	}
	return read_file(r, buf, len);
}

int layer_reader_peek(struct layer_reader *r, const unsigned char **ret, size_t *ret_len)
{
	while (r->head_len < sizeof(r->head)) {
		ssize_t n = read_file(r, r->head + r->head_len, sizeof(r->head) - r->head_len);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		r->head_len += (size_t)n;
	}
	*ret = r->head;
	*ret_len = r->head_len;
	return 0;
}
