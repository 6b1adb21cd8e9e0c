/* SPDX-License-Identifier: Apache-2.0 */
/* The container lock: ROOTFS/.lock, held during setup (as enroot does, so
 * `list -f` and pyxis keep working) and by remove. */
#ifndef CAPSA_RUNTIME_LOCK_H
#define CAPSA_RUNTIME_LOCK_H

#include "util/error.h"

/* Open (creating) dirfd/.lock and take an exclusive flock, waiting at most
 * timeout seconds; the message names the holder's pid when it is known. */
int rootfs_lock(int dirfd, long timeout, int *ret_fd, struct error *err);

#endif
