/* SPDX-License-Identifier: Apache-2.0 */
/* 10-devices: with RESTRICT_DEV (or an IPC namespace), a fresh /dev with
 * only the basic devices instead of the host's. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "runtime/hooks.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const char *const base_mounts[] = {
	"none /dev none x-detach,nofail,silent",
	"tmpfs /dev tmpfs x-create=dir,nosuid,noexec,mode=755",
	"/dev/zero /dev/zero none x-create=file,bind,nosuid,noexec",
	"/dev/null /dev/null none x-create=file,bind,nosuid,noexec",
	"/dev/full /dev/full none x-create=file,bind,nosuid,noexec",
	"/dev/urandom /dev/urandom none x-create=file,bind,nosuid,noexec",
	"/dev/random /dev/random none x-create=file,bind,nosuid,noexec",
	"/dev/tty /dev/tty none x-create=file,bind,nosuid,noexec,nofail,silent",
	"devpts /dev/pts devpts x-create=dir,nosuid,noexec,newinstance,ptmxmode=0666,mode=620",
	"/dev/hugepages /dev/hugepages none x-create=dir,rbind,nosuid,nodev,noexec,nofail,silent",
	"/dev/log /dev/log none x-create=file,bind,nofail,silent",
};

static const char *const ipc_mounts[] = {
	"tmpfs /dev/shm tmpfs x-create=dir,nosuid,nodev,noexec,mode=1777",
	"mqueue /dev/mqueue mqueue x-create=dir,nosuid,nodev,noexec,nofail,silent",
};

static const char *const host_ipc_mounts[] = {
	"/dev/shm /dev/shm none x-create=dir,rbind,nosuid,nodev,noexec",
	"/dev/mqueue /dev/mqueue none x-create=dir,rbind,nosuid,nodev,noexec,nofail,silent",
};

static const struct {
	const char *name, *target;
} links[] = {
	{"fd", "/proc/self/fd"},	  {"ptmx", "pts/ptmx"},	 {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};

static int mount_all(struct start_ctx *ctx, const char *const *lines, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (hook_mount(ctx, lines[i], err) < 0)
			return -1;
	}
	return 0;
}

int hook_devices(struct start_ctx *ctx, struct error *err)
{
	bool ipc = config_bool(ctx->cfg, "UNSHARE_IPC");
	_cleanup_close_ int dev = -1;

	if (!config_bool(ctx->cfg, "RESTRICT_DEV") && !ipc)
		return 0;
	if (mount_all(ctx, base_mounts, ARRAY_SIZE(base_mounts), err) < 0)
		return -1;
	if (ipc ? mount_all(ctx, ipc_mounts, ARRAY_SIZE(ipc_mounts), err)
		: mount_all(ctx, host_ipc_mounts, ARRAY_SIZE(host_ipc_mounts), err))
		return -1;
	if (isatty(0)) {
		char *tty = ttyname(0);
		_cleanup_free_ char *line = tty ? xasprintf("%s /dev/console none x-create=file,bind,nofail,silent", tty)
						 : NULL;

		if (line && hook_mount(ctx, line, err) < 0)
			return -1;
	}
	if (rootfs_resolve(ctx->rootfd, "/dev", RESOLVE_NOCREATE, &dev, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST)
			return error_set(err, errno, "failed to create /dev/%s", links[i].name);
	}
	return 0;
}
