/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/sqfs_pack.h"
#include "image/sqfs_unpack.h"
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
		if (sqfs_image_probe(arg, image_offset, err) < 0)
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

static int open_data_dir(const struct config *cfg, struct error *err)
{
	int fd = open(config_get(cfg, "DATA_PATH"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", config_get(cfg, "DATA_PATH"));
	return fd;
}

static int unpack(const struct config *cfg, const char *image, int data, const char *tmp, struct error *err)
{
	_cleanup_close_ int dst = openat(data, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct sqfs_unpack_opts o = {.keep_setid = config_bool(cfg, "KEEP_SETID")};

	if (dst < 0)
		return error_errno(err, "failed to open the new container");
	return sqfs_unpack(image, &o, dst, err);
}

/* Unpack into a hidden temporary directory and rename it into place, so a
 * failed or interrupted create never leaves a half-filled container. */
int store_create(const struct config *cfg, const char *image, const char *name, bool force, struct error *err)
{
	_cleanup_close_ int data = -1;
	_cleanup_free_ char *tmp = xasprintf(".create.%s.%d", name, (int)getpid());
	struct stat st;
	int r;

	if (store_check_name(name, err) < 0)
		return -1;
	if (!path_is_reg(image))
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs file", image);
	data = open_data_dir(cfg, err);
	if (data < 0)
		return -1;
	if (fstatat(data, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !force)
		return error_set(err, 0, "container '%s' already exists (use -f to replace it)", name);
	if (mkdirat(data, tmp, 0755) < 0)
		return error_set(err, errno, "failed to create '%s/%s'", config_get(cfg, "DATA_PATH"), tmp);
	r = unpack(cfg, image, data, tmp, err);
	if (r == 0 && force && fstatat(data, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = store_remove(cfg, name, err);
	if (r == 0 && renameat(data, tmp, data, name) < 0)
		r = error_set(err, errno, "failed to rename the new container to '%s'", name);
	if (r < 0) {
		struct error ignored = ERROR_INIT;

		rm_rf_at(data, tmp, &ignored);
	}
	return r;
}

int store_remove(const struct config *cfg, const char *name, struct error *err)
{
	_cleanup_close_ int data = -1, dir = -1, lock = -1;
	struct stat st;
	long pid;

	if (store_check_name(name, err) < 0)
		return -1;
	data = open_data_dir(cfg, err);
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
