/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "runtime/lock.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"

/* /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF". */
static long lock_holder(int fd)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/locks", "re");
	struct stat st;
	char line[256];

	if (f == NULL || fstat(fd, &st) < 0)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		long pid;

		if (sscanf(line, "%*s FLOCK %*s %*s %ld %x:%x:%lu", &pid, &maj, &min, &ino) == 4 &&
		    ino == st.st_ino && makedev(maj, min) == st.st_dev)
			return pid;
	}
	return -1;
}

/* Read-only on purpose: an fd open for writing would make the later
 * read-only remount of the rootfs fail with EBUSY. O_NONBLOCK: the image
 * owns .lock, and opening a FIFO there would wait for a writer forever. */
static int open_lock(int dirfd, struct error *err)
{
	int flags = O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	_cleanup_close_ int fd = openat(dirfd, ".lock", flags, 0600);
	struct stat st;

	if (fd < 0 && errno == ELOOP)
		return error_set(err, 0, "the rootfs lock '.lock' is a symbolic link, not a regular file");
	if (fd < 0)
		return error_set(err, errno, "failed to open rootfs lock");
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat rootfs lock");
	if (!S_ISREG(st.st_mode))
		return error_set(err, 0, "the rootfs lock '.lock' is %s, not a regular file", file_kind(st.st_mode));
	return TAKE_FD(fd);
}

int rootfs_lock(int dirfd, long timeout, int *ret_fd, struct error *err)
{
	_cleanup_close_ int fd = open_lock(dirfd, err);
	struct timespec start, now;

	if (fd < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long pid;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return error_set(err, errno, "failed to lock rootfs");
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout) {
			pid = lock_holder(fd);
			if (pid > 0)
				return error_set(err, 0,
						 "could not acquire rootfs lock after %lds: held by pid %ld (raise "
						 "CAPSA_LOCK_TIMEOUT or wait for it)",
						 timeout, pid);
			return error_set(err, 0, "could not acquire rootfs lock after %lds (raise CAPSA_LOCK_TIMEOUT)",
					 timeout);
		}
		usleep(10000);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}
