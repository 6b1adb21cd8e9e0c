/* SPDX-License-Identifier: Apache-2.0 */
/* Path resolution clamped inside a container root, done component by
 * component with O_PATH|O_NOFOLLOW fds so an image's symlinks can never
 * lead a mount or a write outside its rootfs (works on every kernel,
 * unlike openat2(RESOLVE_IN_ROOT)). */
#ifndef CAPSA_RUNTIME_RESOLVE_H
#define CAPSA_RUNTIME_RESOLVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

enum resolve_create {
	RESOLVE_NOCREATE = 0,
	RESOLVE_CREATE_DIR,  /* missing parents 0755, last component: dir mode 0 */
	RESOLVE_CREATE_FILE, /* missing parents 0755, last component: file mode 0 */
	RESOLVE_MKDIR_P,     /* every missing component: dir 0755 */
};

/* An O_PATH fd for path (absolute or relative, taken inside rootfd). */
int rootfs_resolve(int rootfd, const char *path, enum resolve_create create, int *ret_fd, struct error *err);

/* Open a file inside the root: parents are resolved clamped, the last
 * component is opened with O_NOFOLLOW. With O_CREAT, missing parents are
 * created 0755. */
int rootfs_open(int rootfd, const char *path, int flags, mode_t mode, int *ret_fd, struct error *err);

/* The O_PATH fd of the parent directory and the last component's name. */
int rootfs_resolve_parent(int rootfd, const char *path, bool create_parents, int *ret_fd, char **ret_name,
			  struct error *err);

/* Read a whole regular file inside the root, at most max bytes (a bigger
 * one is an error). Never blocks, and symlinks are followed only inside the
 * root: a FIFO, device or directory there (or at a symlink's end) is an
 * error naming path. A missing file or parent gives "" (length 0). *ret is
 * NUL-terminated. */
int rootfs_read_file(int rootfd, const char *path, size_t max, char **ret, size_t *ret_len, struct error *err);

/* "a FIFO", "a directory", ... for messages about an unexpected file type. */
const char *file_kind(mode_t mode);

#endif
