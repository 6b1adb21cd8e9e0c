/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/squashfs/sqfs_super.h"
#include "runtime/lock.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

int store_check_name(const char *name, struct error *err)
{
	if (*name == '\0' || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return error_set(err, 0, "invalid container name '%s': it must not be empty, '.', '..' or contain '/'",
				 name);
	if (strlen(name) > 255)
		return error_set(err, 0, "invalid container name '%s': too long", name);
	return 0;
}

char *store_default_name(const char *image)
{
	const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
	size_t len = strlen(base);

	if (len > 5 && !strcmp(base + len - 5, ".sqsh"))
		len -= 5;
	return xstrndup(base, len);
}

int store_resolve_rootfs(const struct config *cfg, const char *arg, uint64_t image_offset, char **ret_rootfs,
			 char **ret_image, struct error *err)
{
	_cleanup_free_ char *path = NULL;

	if (image_offset > 0 || path_is_reg(arg)) {
		if (sqfs_super_check(arg, image_offset, err) < 0)
			return -1;
		*ret_image = path_absolute(arg);
		*ret_rootfs = xstrdup(*ret_image);
		return 0;
	}
	if (strchr(arg, '/'))
		return error_set(err, ENOENT, "invalid argument: '%s' is neither a container name nor an image", arg);
	if (store_check_name(arg, err) < 0)
		return -1;
	path = xasprintf("%s/%s", config_get(cfg, "DATA_PATH"), arg);
	if (!path_is_dir(path))
		return error_set(err, 0, "no such container: '%s' (see 'capsa list', or create it with 'capsa create')",
				 arg);
	*ret_rootfs = path_absolute(path);
	*ret_image = NULL;
	return 0;
}

int store_open_data_dir(const struct config *cfg, struct error *err)
{
	int fd = open(config_get(cfg, "DATA_PATH"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", config_get(cfg, "DATA_PATH"));
	return fd;
}

int store_remove(const struct config *cfg, const char *name, struct error *err)
{
	_cleanup_close_ int data = -1, dir = -1, lock = -1;
	struct stat st;
	long pid;

	if (store_check_name(name, err) < 0)
		return -1;
	data = store_open_data_dir(cfg, err);
	if (data < 0)
		return -1;
	dir = openat(data, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return error_set(err, errno == ENOTDIR ? ENOTDIR : errno, "no such container: '%s'", name);
	pid = store_running_pid(cfg, name);
	if (pid > 0)
		return error_set(err, 0, "container '%s' is running (pid %ld): stop it first", name, pid);
	/* Wait for a start that is still setting the container up. A start
	 * never holds a .lock that is not a regular file (an image may plant
	 * one), so there is nothing to wait for then. */
	if (fstatat(dir, ".lock", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    rootfs_lock(dir, config_long(cfg, "LOCK_TIMEOUT", 30), &lock, err) < 0)
		return -1;
	return rm_rf_at(data, name, err);
}
