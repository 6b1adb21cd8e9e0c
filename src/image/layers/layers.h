/* SPDX-License-Identifier: Apache-2.0 */
/* OCI/Docker layer blobs to one squashfs image in a single streaming pass,
 * unprivileged and without extracting anything to disk. */
#ifndef CAPSA_IMAGE_LAYERS_H
#define CAPSA_IMAGE_LAYERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/layers/layer_reader.h"
#include "image/squashfs/sqfs_pack.h"

#include "util/error.h"

struct layer_src {
	const char *path; /* the blob file */
	enum layer_src_format { LAYER_SRC_AUTO, LAYER_SRC_GZIP, LAYER_SRC_ZSTD, LAYER_SRC_TAR } comp;
	uint64_t offset, length; /* a blob inside an archive; length 0: the whole file */
};

/* Written on top of everything, like enroot's layer 0. Owned by 0:0. */
struct extra_file {
	const char *path; /* "/etc/rc" */
	const char *data;
	size_t len;
	mode_t mode; /* permission bits */
};

struct layers_opts {
	/* Compressor, level, block size, -noD (zeros: zstd level 3, 128 KiB
	 * blocks); exclude is not used. */
	struct sqfs_pack_opts pack;
	const struct extra_file *extra;
	size_t n_extra;
	/* Directories to create (with missing parents, 0755 root) unless the image
	 * has them, e.g. WORKDIR. Metadata of a directory the image has wins. */
	const char *const *extra_dirs;
	size_t n_extra_dirs;
	uint64_t max_entries;     /* tar entries over all layers; 0: 10 million */
	uint64_t max_total_bytes; /* uncompressed file data over all layers; 0: 1 TiB */
	/* Optional: told about each entry that was left out (devices with an
	 * out-of-range number, writes below a non-directory, dangling hard
	 * links...). msg is one line without a newline. */
	void (*warn)(const char *msg, void *arg);
	void *warn_arg;
	/* Optional: layer_open(index) returns an fd of layers[index] positioned
	 * at its start (the caller closes it): the verified blob of a local
	 * source, or a download still being written, so the merge runs right
	 * behind it. Then, at each end of file, layer_more (if set) says whether
	 * more will come (1), the layer is complete (0) or its download failed
	 * (-1, err set). */
	int (*layer_open)(size_t index, void *arg, struct error *err);
	layer_more_fn layer_more;
	void *source_arg;
	/* Optional: layers[index] has been read up to offset (compressed bytes),
	 * for a progress bar; called after every entry. */
	void (*progress)(size_t index, uint64_t offset, void *arg);
	void *progress_arg;
};

/* Merge layers[0] (bottom) .. layers[n-1] (top) with OCI whiteout semantics
 * plus opts->extra on top, and write the result to out_path as squashfs.
 * Entries are paths in the image namespace: nothing is created on the host
 * except out_path, which is written under a temporary name next to it and
 * renamed only when complete. Owners, modes (setuid/setgid/sticky included),
 * mtimes, symlinks, hard links, FIFOs and devices outside dev/ are kept, as
 * are user.* (but user.overlay.*) and security.capability xattrs; what is
 * below dev/ is dropped, as enroot does. opts may be NULL. On error -1 with err set (the
 * message names the layer), and out_path is neither created nor changed. */
int layers_to_squashfs(const struct layer_src *layers, size_t n, const char *out_path,
		       const struct layers_opts *opts, struct error *err);

#endif
