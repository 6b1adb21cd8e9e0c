/* SPDX-License-Identifier: Apache-2.0 */
/* Air-gapped sources that come as one tar file: oci-archive://FILE (a tarred
 * OCI layout) and docker-archive://FILE (`docker save`). A plain tar is
 * indexed and its blobs are read in place; a compressed one is unpacked into
 * a private temporary directory. Either way only the plain file names these
 * formats use are accepted. */
#ifndef CAPSA_IMAGE_ARCHIVE_SOURCE_H
#define CAPSA_IMAGE_ARCHIVE_SOURCE_H

#include "util/error.h"
#include "util/strv.h"

#include <stddef.h>
#include <stdint.h>

struct archive_member {
	char *name; /* without a leading "./" */
	uint64_t offset, size;
};

struct archive_index {
	char *file;
	struct archive_member *v;
	size_t n;
};

/* Where each regular file's data lies in an uncompressed tar. ENOTSUP in
 * err->code when the archive is compressed (unpack it instead). */
int archive_index_open(const char *file, struct archive_index *ret, struct error *err);
void archive_index_done(struct archive_index *idx);
const struct archive_member *archive_index_find(const struct archive_index *idx, const char *name);

/* A file of an unpacked directory (idx NULL) or, in place, of an indexed
 * archive: an fd at the start of its data, and where it lies. */
int archive_source_open(const struct archive_index *idx, const char *dir, const char *name, uint64_t *ret_offset,
			uint64_t *ret_size, struct error *err);
/* The whole of such a file, at most max bytes, NUL-terminated. */
int archive_source_read(const struct archive_index *idx, const char *dir, const char *name, size_t max, char **ret,
			size_t *ret_len, struct error *err);

/* Unpack file into the existing empty directory dir. */
int archive_unpack(const char *file, const char *dir, struct error *err);

/* docker save's manifest.json: the entry tagged name (NULL: the only one),
 * its config file and layer files (base first), relative to the archive. */
int docker_archive_select(const char *json, size_t len, const char *name, char **ret_config, struct strv *ret_layers,
			  struct error *err);

#endif
