/* SPDX-License-Identifier: Apache-2.0 */
/* The small built-in hooks: 10-aptfix, 10-home, 10-localtime. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/hooks.h"
#include "runtime/namespaces.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

int hook_aptfix(struct start_ctx *ctx, struct error *err)
{
	static const char conf[] = "APT::Sandbox::User \"root\";\n";
	_cleanup_close_ int fd = -1, dfd = -1;

	if (!ctx->remap_root)
		return 0;
	if (rootfs_resolve(ctx->rootfd, "/etc/debian_version", RESOLVE_NOCREATE, &fd, err) < 0 ||
	    rootfs_resolve(ctx->rootfd, "/etc/apt/apt.conf.d", RESOLVE_NOCREATE, &dfd, err) < 0) {
		error_clear(err);
		return 0;
	}
	return write_file_atomic_at(dfd, "enroot", conf, STRLEN(conf), 0644, err);
}

int hook_home(struct start_ctx *ctx, struct error *err)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	const char *dst;
	_cleanup_free_ char *line = NULL, *esc_src = NULL;

	if (!config_bool(ctx->cfg, "MOUNT_HOME"))
		return 0;
	if (home == NULL || *home != '/') {
		pw = getpwuid(ns_outer_uid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (home == NULL || *home != '/')
		return error_set(err, 0, "cannot mount the home directory: HOME is not set");
	dst = ctx->remap_root ? "/root" : home;
	if (strpbrk(home, " \t\\") || strpbrk(dst, " \t\\"))
		return error_set(err, 0, "cannot mount a home directory whose path has blanks: '%s'", home);
	line = xasprintf("%s %s none x-create=dir,rbind,rw,nosuid", home, dst);
	if (hook_mount(ctx, line, err) < 0)
		return -1;
	strv_pushf(&ctx->env, "HOME=%s", dst);
	return 0;
}

/* Copy the host's /etc/localtime symlink so the container shows local time;
 * the zoneinfo target is copied too when the image lacks it. */
int hook_localtime(struct start_ctx *ctx, struct error *err)
{
	char target[PATH_MAX];
	ssize_t n = readlink("/etc/localtime", target, sizeof(target) - 1);
	_cleanup_close_ int etc = -1, tfd = -1;
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (n <= 0)
		return 0;
	target[n] = '\0';
	if (rootfs_resolve(ctx->rootfd, "/etc", RESOLVE_NOCREATE, &etc, err) < 0) {
		error_clear(err);
		return 0;
	}
	unlinkat(etc, "localtime", 0);
	if (symlinkat(target, etc, "localtime") < 0)
		return 0;
	if (target[0] != '/' || rootfs_resolve(ctx->rootfd, target, RESOLVE_NOCREATE, &tfd, err) == 0)
		return 0;
	error_clear(err);
	if (read_file_at(AT_FDCWD, target, 4 * 1024 * 1024, &data, &len, err) < 0) {
		error_clear(err);
		return 0;
	}
	{
		_cleanup_close_ int dfd = -1;
		_cleanup_free_ char *name = NULL;

		if (rootfs_resolve_parent(ctx->rootfd, target, true, &dfd, &name, err) < 0 ||
		    write_file_atomic_at(dfd, name, data, len, 0644, err) < 0)
			error_clear(err);
	}
	return 0;
}
