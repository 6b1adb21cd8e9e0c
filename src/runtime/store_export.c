/* SPDX-License-Identifier: Apache-2.0 */
/* `export`: a container back to a squashfs image that `create` accepts. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/squashfs/sqfs_options.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* As enroot: no /dev content, no lock or bundle metadata, and no mode-0000
 * empty files or directories (mount points made by x-create). */
static bool export_exclude(const char *relpath, const struct stat *st, void *arg)
{
	(void)arg;
	if (!strncmp(relpath, "dev/", 4) || !strcmp(relpath, ".lock") || !strcmp(relpath, ".enroot") ||
	    !strncmp(relpath, ".enroot/", 8))
		return true;
	if ((st->st_mode & 07777) == 0 && (S_ISDIR(st->st_mode) || (S_ISREG(st->st_mode) && st->st_size == 0)))
		return true;
	return false;
}

int store_export(const struct config *cfg, const char *name, const char *output, bool force, struct error *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dir = -1;
	struct sqfs_pack_opts opts = {0};
	_cleanup_free_ char *storage = NULL;

	if (store_check_name(name, err) < 0)
		return -1;
	path = xasprintf("%s/%s", config_get(cfg, "DATA_PATH"), name);
	dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return error_set(err, errno, "no such container: '%s'", name);
	if (access(output, F_OK) == 0) {
		if (!force)
			return error_set(err, 0, "file already exists: '%s' (use -f to overwrite it)", output);
		if (path_is_dir(output))
			return error_set(err, EISDIR, "cannot overwrite '%s'", output);
	}
	if (sqfs_parse_options(config_get(cfg, "SQUASH_OPTIONS"), &opts, &storage, err) < 0)
		return -1;
	opts.exclude = export_exclude;
	return sqfs_pack_dir(dir, output, &opts, err);
}
