/* SPDX-License-Identifier: Apache-2.0 */
/* An in-process squashfs server (libsquashfuse_ll) for direct starts. */
#ifndef CAPSA_RUNTIME_SQFUSE_H
#define CAPSA_RUNTIME_SQFUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define SQFUSE_LIBRARY "libsquashfuse_ll.so.0"

/* Was capsa built with libsquashfuse_ll's headers? */
bool sqfuse_compiled(void);
/* Can libsquashfuse_ll be loaded (and was capsa built with its headers)? */
bool sqfuse_available(void);

/* Mount the image at offset of file image on mountpoint, served by a forked
 * child that dies with the caller (PDEATHSIG). Needs CAP_SYS_ADMIN in the
 * caller's user namespace. 0 on success, -1 with err, 1 when the library is
 * not installed (the caller then runs the squashfuse binary). */
int sqfuse_mount(const char *image, uint64_t offset, const char *mountpoint, struct error *err);

/* The container's setup is over and command (a path in it) is next: read
 * it ahead through the server, then give the caller and the server back the
 * CPUs they had. sqfuse_mount() keeps both on one CPU until then, because
 * each FUSE request that wakes a halted CPU costs a VM an interrupt round
 * trip (a start took 10-12 ms instead of 7.5 here). A no-op when no image
 * was mounted. */
void sqfuse_setup_done(const char *command);

#endif
