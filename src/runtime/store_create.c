/* SPDX-License-Identifier: Apache-2.0 */
/* create: a squashfs image unpacked into the data path (libsquashfs, so it
 * lives apart from what start links). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/squashfs/sqfs_unpack.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

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
	data = store_open_data_dir(cfg, err);
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
