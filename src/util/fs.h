/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: fd-relative where they touch trees the user does not trust. */
#ifndef CAPSA_UTIL_FS_H
#define CAPSA_UTIL_FS_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strv.h"

/* mkdir -p with the given mode for every created component. */
int mkdir_p(const char *path, mode_t mode, struct error *err);

/* open_private_dir() flags */
#define PRIVATE_DIR_CREATE 1u     /* mkdir 0700 when missing (the parent must exist) */
#define PRIVATE_DIR_SHARED_TMP 2u /* also accept a root-owned sticky dir, such as /tmp */

/* Open the per-user directory dirfd/path (O_RDONLY|O_DIRECTORY|O_CLOEXEC)
 * and check it on the fd, because another user may have created a
 * predictable path first (security.md §3, K09). Refused with a message that
 * names the path and the fix: not a directory; a symbolic link not owned by
 * the euid (a link of our own is followed and its target checked); owned by
 * another uid (root may use any owner); writable by group or others, even
 * when ours, as content may already have been planted. Returns the fd. */
int open_private_dir(int dirfd, const char *path, unsigned flags, struct error *err);

/* Read everything from fd (at most max bytes, else E2BIG); NUL-terminated. */
int read_fd(int fd, size_t max, char **ret, size_t *ret_len, struct error *err);
/* Exactly n bytes from fd's offset (NUL-terminated); a short file is EIO. */
int read_fd_exact(int fd, size_t n, char **ret, size_t *ret_len, struct error *err);
/* Read a whole file (at most max bytes, else E2BIG). *ret is NUL-terminated. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, struct error *err);

/* Streaming a big file through the page cache a window at a time: the
 * windows behind the writer are written back as it goes, and dropped with
 * drop. A gigabyte then costs a few recycled pages instead of a gigabyte
 * of fresh ones (on a VM that backs guest memory lazily, three times the
 * CPU of the write itself) and never sits as dirty cache charged to a
 * Slurm job's memory limit. Readers drop what they consumed the same way. */
#define WRITEBACK_WINDOW (8u << 20)
struct writeback {
	int fd;
	bool drop;    /* wait for the window before the last and drop it */
	uint64_t base; /* file offset of the stream's byte 0 */
	uint64_t next; /* stream offset of the next window */
};
/* The stream now has end bytes. -1 with errno EIO only: a file system
 * without writeback (tmpfs) just keeps its pages. */
int writeback_advance(struct writeback *wb, uint64_t end);
/* The stream was cut back to end: what comes is written back again. */
void writeback_rewind(struct writeback *wb, uint64_t end);
/* A reader is past end: its clean pages before the last window go. */
void cache_drop_behind(int fd, uint64_t base, uint64_t *next, uint64_t end);

/* write(2) until all of data is written (EINTR and short writes); -1 with
 * errno on failure. */
int write_all(int fd, const void *data, size_t len);

/* Copy len bytes of in at in_off to out at out_off, sharing extents where
 * the filesystem can (copy_file_range), else with sendfile; -1 with errno
 * (EIO when in ends early). */
int copy_fd_range(int in, uint64_t in_off, int out, uint64_t out_off, uint64_t len);

/* rename(2) that fails with EEXIST instead of replacing to (the first of
 * two writers wins); -1 with errno. */
int rename_noreplace(const char *from, const char *to);

/* Write data to dirfd/name through a temporary file and rename(2), so readers
 * never see a partial file. Never follows a symlink at name. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct error *err);

/* rm -rf dirfd/name without crossing filesystems and without following
 * symlinks; unreadable or unwritable directories are chmod'ed first. */
int rm_rf_at(int dirfd, const char *name, struct error *err);

/* Names in dir ending with suffix (NULL: all, no dot files), sorted as glob(3)
 * sorts in the C locale. A missing dir gives an empty list. */
int list_dir_sorted(const char *dir, const char *suffix, struct strv *out, struct error *err);

/* A DIR stream over a duplicate of dirfd (dirfd stays open and usable). */
DIR *opendir_dup(int dirfd);

/* Call fn(path, contents) for each file of dir ending with suffix, in glob
 * order; a missing dir is empty. Each file is read whole (at most max). */
int for_each_dir_file(const char *dir, const char *suffix, size_t max,
		      int (*fn)(const char *path, const char *text, void *arg, struct error *err), void *arg,
		      struct error *err);

bool path_is_dir(const char *path);
bool path_is_reg(const char *path);
/* Absolute, symlink-free path; the last component may be missing. */
char *path_absolute(const char *path);

#endif
