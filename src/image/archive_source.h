/* SPDX-License-Identifier: Apache-2.0 */
/* Air-gapped sources that come as one tar file: oci-archive://FILE (a tarred
 * OCI layout) and docker-archive://FILE (`docker save`). The archive is
 * unpacked into a private temporary directory, accepting only the plain
 * file names these formats use, then imported like a layout. */
#ifndef CAPSA_IMAGE_ARCHIVE_SOURCE_H
#define CAPSA_IMAGE_ARCHIVE_SOURCE_H

#include "util/error.h"
#include "util/strv.h"

/* Unpack file into the existing empty directory dir. */
int archive_unpack(const char *file, const char *dir, struct error *err);

/* docker save's manifest.json: the entry tagged name (NULL: the only one),
 * its config file and layer files (base first), relative to the archive. */
int docker_archive_select(const char *json, size_t len, const char *name, char **ret_config, struct strv *ret_layers,
			  struct error *err);

#endif
