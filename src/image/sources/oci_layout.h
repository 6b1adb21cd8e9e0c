/* SPDX-License-Identifier: Apache-2.0 */
/* oci://DIR[:NAME]: import from an OCI image layout on disk, for clusters
 * without registry access. Every blob is checked against its digest. */
#ifndef CAPSA_IMAGE_OCI_LAYOUT_H
#define CAPSA_IMAGE_OCI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "image/registry/manifest.h"
#include "util/error.h"

struct archive_index;

struct oci_ref {
	char *dir;  /* absolute */
	char *name; /* ref.name annotation, NULL: the only image */
	/* Set for oci-archive://: files are read in place from the tar. */
	const struct archive_index *archive;
};

int oci_ref_parse(const char *uri, struct oci_ref *ret, struct error *err);
void oci_ref_done(struct oci_ref *r);

/* index.json -> (platform index ->) image manifest, and its config blob. */
int oci_layout_resolve(const struct oci_ref *ref, const char *arch, const char *variant, struct manifest *ret,
		       char **ret_config, size_t *ret_config_len, struct error *err);

/* An fd of the blob, positioned at its start (ret_offset: in an archive),
 * after checking its size and sha256 through that fd; ret_path names the
 * file for messages. The caller owns the fd. */
int oci_layout_blob(const struct oci_ref *ref, const struct descriptor *d, char **ret_path, uint64_t *ret_offset,
		    struct error *err);

#endif
