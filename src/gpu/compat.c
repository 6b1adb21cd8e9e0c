/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/compat.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_COMPAT_ENTRIES 4096

/* The major of "550.54.14", or -1. */
static long major_of(const char *v)
{
	char *end;
	long m;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	m = strtol(v, &end, 10);
	return errno || (*end != '.' && *end != '\0') ? -1 : m;
}

/* Numerically: the cli compares strings, so "1000" < "550" there. */
bool gpu_compat_newer(const char *name, const char *rm)
{
	long mine, host = major_of(rm);

	if (strncmp(name, "libcuda.so.", STRLEN("libcuda.so.")))
		return false;
	mine = major_of(name + STRLEN("libcuda.so."));
	return mine >= 0 && host >= 0 && mine > host && strchr(name + STRLEN("libcuda.so."), '.');
}

static bool has_newer(int dirfd_path, const char *rm)
{
	int fd = openat(dirfd_path, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0;

	if (fd >= 0 && d == NULL)
		close(fd);
	while (d && (de = readdir(d)) != NULL && n++ < MAX_COMPAT_ENTRIES) {
		if (gpu_compat_newer(de->d_name, rm))
			return true;
	}
	return false;
}

/* A drop-in of an earlier start must not outlive its reason (a later,
 * newer host driver would lose to the image's older libcuda). */
static int remove_stale(int rootfd, struct error *err)
{
	_cleanup_close_ int parent = -1;
	_cleanup_free_ char *name = NULL;
	struct error ignore = ERROR_INIT;

	if (rootfs_resolve_parent(rootfd, GPU_COMPAT_CONF, false, &parent, &name, &ignore) < 0)
		return 0;
	if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
		return error_set(err, errno, "cannot remove %s", GPU_COMPAT_CONF);
	return 0;
}

bool gpu_compat_available(int rootfd, const char *rm)
{
	struct error ignore = ERROR_INIT;
	_cleanup_close_ int dir = -1;

	/* Resolved inside the root: the image decides what is there, never
	 * where capsa looks on the host. */
	return rootfs_resolve(rootfd, GPU_COMPAT_DIR, RESOLVE_NOCREATE, &dir, &ignore) == 0 && has_newer(dir, rm);
}

int gpu_cuda_compat(int rootfd, const char *rm, bool enabled, struct error *err)
{
	static const char conf[] = GPU_COMPAT_DIR "\n";
	_cleanup_close_ int fd = -1;

	if (!enabled || !gpu_compat_available(rootfd, rm))
		return remove_stale(rootfd, err);
	if (rootfs_open(rootfd, GPU_COMPAT_CONF, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &fd, err) < 0)
		return -1;
	if (write_all(fd, conf, STRLEN(conf)) < 0)
		return error_set(err, errno, "cannot write %s", GPU_COMPAT_CONF);
	return 1;
}
