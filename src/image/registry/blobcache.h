/* SPDX-License-Identifier: Apache-2.0 */
/* The layer cache: blobs stored verbatim under $CACHE/blobs/sha256/<hex>, so
 * every entry can be verified again against its name. Shared safely between
 * concurrent imports: a per-digest lock makes the second importer wait for
 * the first and then find the blob, and entries appear only by an atomic
 * rename of a complete, verified file. enroot's own cache entries
 * ($CACHE/<hex>, zstd tar) are read too, so an existing cache keeps working. */
#ifndef CAPSA_IMAGE_BLOBCACHE_H
#define CAPSA_IMAGE_BLOBCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

struct blobcache {
	int dirfd;   /* $CACHE */
	int blobsfd; /* $CACHE/blobs/sha256 */
	int tmpfd;   /* $CACHE/tmp */
	int locksfd; /* $CACHE/locks */
	char *path;
};

enum blob_format { BLOB_VERBATIM, BLOB_ENROOT_ZSTD };

struct blob_writer {
	struct blobcache *bc;
	char hex[65];
	int fd;
	int lockfd;
	char tmpname[96];
};

int blobcache_open(const char *cache_path, struct blobcache *ret, struct error *err);
void blobcache_close(struct blobcache *bc);

/* Is digest ("sha256:<hex>") cached? Returns 1 with an open read-only fd in
 * *ret_fd, 0 when missing, -1 on error. */
int blobcache_lookup(struct blobcache *bc, const char *digest, int *ret_fd, enum blob_format *ret_format,
		     struct error *err);

/* Start writing digest: waits (at most timeout s) for another writer of the
 * same digest. Returns 1 when that writer published it meanwhile (nothing
 * to do), 0 with w ready, -1 on error. */
int blobcache_begin(struct blobcache *bc, const char *digest, long timeout, struct blob_writer *w,
		    struct error *err);
/* Verify what was written against the digest, then publish it. A writer
 * that hashed the bytes as it wrote them passes that digest's hex as
 * written_hex instead of having the file read back (NULL: read it). */
int blobcache_commit(struct blob_writer *w, const char *written_hex, struct error *err);
void blobcache_abort(struct blob_writer *w);

/* Hash a cached entry again; a mismatch removes it. */
int blobcache_verify(struct blobcache *bc, const char *hex, struct error *err);

/* `capsa cache list|prune`: entries with their sizes; prune removes all
 * entries not in keep (NULL: everything) and stale temporary files. */
int blobcache_list(struct blobcache *bc, FILE *out, struct error *err);
int blobcache_prune(struct blobcache *bc, uint64_t *ret_freed, struct error *err);

/* sha256 of the next len bytes of fd (UINT64_MAX: up to the end), from its
 * current offset, as lowercase hex. */
int sha256_fd(int fd, uint64_t len, char ret_hex[65], struct error *err);

#endif
