/* SPDX-License-Identifier: Apache-2.0 */
/* A squashfs writer over an in-memory tree that its builder fills while file
 * data is streamed in: data blocks are written first, in arrival order, and
 * the inode, directory, fragment, id and xattr tables at the end. The tree
 * holds metadata only, so memory does not grow with the size of the data. */
#ifndef CAPSA_IMAGE_SQFS_TREE_WRITER_H
#define CAPSA_IMAGE_SQFS_TREE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqfs/predef.h>

#include "image/squashfs/sqfs_pack.h"
#include "util/error.h"

#define SQFS_TREE_NO_XATTR 0xFFFFFFFFu
/* Bound on fwd chains, so that a link cycle built from hostile input ends. */
#define SQFS_TREE_MAX_FWD 64

/* One squashfs inode, shared by the hard links to it. Allocated and freed by
 * the writer; the builder fills the metadata. */
struct sqfs_tree_inode {
	/* A hard link placeholder resolved later: this inode stands for fwd. */
	struct sqfs_tree_inode *fwd;
	struct sqfs_tree_inode *all_next; /* the writer's list of every inode */
	sqfs_inode_generic_t *file;       /* regular files, set by the block processor */
	char *target;                     /* symlink target, owned */
	uint32_t devno;                   /* devices, kernel new_encode_dev() format */
	uint32_t uid, gid, mtime, xattr_idx;
	uint16_t mode;                    /* 0: an unresolved placeholder, left out */
	/* Writer state. */
	uint32_t nlink, num;
	uint64_t ref;
	bool written;
};

/* A directory entry. Allocated and freed by the builder. */
struct sqfs_tree_node {
	struct sqfs_tree_node *parent, *child, *next, *prev; /* children: unordered */
	char *name;                  /* one component, "" for the root */
	struct sqfs_tree_inode *ino; /* never NULL once linked into the tree */
	bool omit;                   /* builder bookkeeping (a whiteout): not written */
	/* Writer scratch: live children sorted by name. */
	struct sqfs_tree_node **sorted;
	uint32_t n_sorted;
};

struct sqfs_tree_writer;

/* Start an image that will become out_path. The data goes to a 0600 file
 * created with O_EXCL next to out_path; only sqfs_tree_writer_finish()
 * renames it into place, sqfs_tree_writer_free() removes it otherwise.
 * opts may be NULL (zstd level 3, 128 KiB blocks). */
int sqfs_tree_writer_new(struct sqfs_tree_writer **ret, const char *out_path, const struct sqfs_pack_opts *opts,
			 uint32_t mkfs_time, struct error *err);

/* A new inode with the given mode (type and permissions), owned by 0:0. */
struct sqfs_tree_inode *sqfs_tree_inode_new(struct sqfs_tree_writer *w, uint16_t mode);

/* Follow fwd links; NULL for a placeholder that was never resolved or a cycle. */
struct sqfs_tree_inode *sqfs_tree_inode_resolve(struct sqfs_tree_inode *ino);

/* Stream the data of a regular file inode: begin, append*, end. One file at a
 * time. After an error the writer can only be freed. */
int sqfs_tree_file_begin(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, struct error *err);
int sqfs_tree_file_append(struct sqfs_tree_writer *w, const void *data, size_t len, struct error *err);
int sqfs_tree_file_end(struct sqfs_tree_writer *w, struct error *err);

/* Record a set of xattrs (key/value arrays) and store its index in ino. */
int sqfs_tree_set_xattrs(struct sqfs_tree_writer *w, struct sqfs_tree_inode *ino, const char *const *keys,
			 const void *const *values, const size_t *sizes, size_t n, struct error *err);

/* Write the tables for the tree under root (a directory node) and publish
 * the image at out_path. */
int sqfs_tree_writer_finish(struct sqfs_tree_writer *w, struct sqfs_tree_node *root, struct error *err);

/* Release everything; removes the temporary file unless it was published. */
void sqfs_tree_writer_free(struct sqfs_tree_writer *w);

#endif
