/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/squashfs/sqfs_options.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static int parse_number(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || v > max)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end != '\0')
		return -1;
	*ret = v;
	return 0;
}

static int needs_value(const char *opt, const char *value, struct error *err)
{
	if (value == NULL)
		return error_set(err, 0, "CAPSA_SQUASH_OPTIONS: %s needs a value", opt);
	return 0;
}

int sqfs_parse_options(const char *text, struct sqfs_pack_opts *opts, char **ret_storage, struct error *err)
{
	char *copy = xstrdup(text ? text : "");
	char *save = NULL;
	unsigned long n;

	opts->compressor = "zstd";
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		bool comp = !strcmp(t, "-comp"), level = !strcmp(t, "-Xcompression-level"), block = !strcmp(t, "-b");
		char *v = comp || level || block ? strtok_r(NULL, " \t", &save) : NULL;

		if ((comp || level || block) && needs_value(t, v, err) < 0)
			goto fail;
		if (comp) {
			opts->compressor = v;
		} else if (!strcmp(t, "-noD") || !strcmp(t, "-noDataCompression")) {
			opts->no_data_compression = true;
		} else if (level && parse_number(v, 22, &n) == 0) {
			opts->level = (int)n;
		} else if (block && parse_number(v, 1 << 20, &n) == 0) {
			opts->block_size = (unsigned)n;
		} else if (level || block) {
			error_set(err, 0, "CAPSA_SQUASH_OPTIONS: invalid value '%s' for %s", v, t);
			goto fail;
		}
	}
	*ret_storage = copy;
	return 0;
fail:
	free(copy);
	return -1;
}
