/* SPDX-License-Identifier: Apache-2.0 */
/* gzip layers inflated with ISA-L's igzip, about three times zlib's speed:
 * inflating is the one step of the merge that runs on a single core. */
#ifndef CAPSA_IMAGE_GUNZIP_H
#define CAPSA_IMAGE_GUNZIP_H

#include <archive.h>

#include "image/layers/layer_reader.h"

/* Open archive a, with formats already enabled, over the gzip stream read
 * from r (concatenated members allowed; every member's CRC and length are
 * checked). r stays the caller's. Returns libarchive's status. */
int gunzip_archive_open(struct archive *a, struct layer_reader *r);

#endif
