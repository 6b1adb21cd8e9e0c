/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "gpu/procmask.h"
#include "runtime/mount.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define PROC_NV "/proc/driver/nvidia"

char *gpu_params_rewrite(const char *params)
{
	char *copy = xstrdup(params);

	for (char *l = copy; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "ModifyDeviceFiles: 1", STRLEN("ModifyDeviceFiles: 1")))
			l[STRLEN("ModifyDeviceFiles: ")] = '0';
	}
	return copy;
}

static int mount_line(const struct gpu_inject_ctx *ctx, const char *src, const char *dst, const char *type,
		      const char *opts, struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->in_userns};
	struct mount_entry e = {(char *)src, (char *)dst, (char *)type, (char *)opts, 0, (char *)"NVIDIA GPU hook",
				false};

	return mount_apply_entry(&mc, &e, err);
}

/* Copy proc_root/driver/nvidia/<name> into the tmpfs; a missing one is skipped. */
static int copy_file(const struct gpu_inject_ctx *ctx, const char *proc_root, const char *name, struct error *err)
{
	_cleanup_free_ char *src = xasprintf("%s/driver/nvidia/%s", proc_root, name);
	_cleanup_free_ char *dst = xasprintf(PROC_NV "/%s", name);
	_cleanup_free_ char *buf = NULL, *out = NULL;
	_cleanup_close_ int fd = -1;
	struct error ignore = ERROR_INIT;

	if (read_file_at(AT_FDCWD, src, GPU_PROC_MAX_FILE, &buf, NULL, &ignore) < 0)
		return 0;
	out = strcmp(name, "params") ? xstrdup(buf) : gpu_params_rewrite(buf);
	if (rootfs_open(ctx->rootfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444, &fd, err) < 0)
		return -1;
	if (write_all(fd, out, strlen(out)) < 0)
		return error_set(err, errno, "cannot write %s", dst);
	return 0;
}

static int bind_gpus(const struct gpu_inject_ctx *ctx, const char *proc_root, const struct gpu_inventory *inv,
		     const struct gpu_plan *plan, struct error *err)
{
	for (size_t i = 0; i < plan->n_gpus; i++) {
		const char *dir = inv->gpus[plan->gpus[i]].dir;
		_cleanup_free_ char *src = xasprintf("%s/driver/nvidia/gpus/%s", proc_root, dir);
		_cleanup_free_ char *dst = xasprintf(PROC_NV "/gpus/%s", dir);

		if (mount_line(ctx, src, dst, "none", "x-create=dir,bind,ro,nosuid,nodev,noexec", err) < 0)
			return -1;
	}
	return 0;
}

/* MIG: the selected instances' access files (or, for MIG config and
 * monitor, the whole capabilities directory), which CUDA and nvidia-smi read. */
static int bind_caps(const struct gpu_inject_ctx *ctx, const char *proc_root, const struct gpu_plan *plan,
		     struct error *err)
{
	for (size_t i = 0; i < plan->proc_binds.n; i++) {
		_cleanup_free_ char *src = xasprintf("%s/driver/nvidia/%s", proc_root, plan->proc_binds.v[i]);
		_cleanup_free_ char *dst = xasprintf(PROC_NV "/%s", plan->proc_binds.v[i]);

		if (mount_line(ctx, src, dst, "none", "x-create=auto,bind,ro,nosuid,nodev,noexec", err) < 0)
			return -1;
	}
	return 0;
}

static int seal(const struct gpu_inject_ctx *ctx, struct error *err)
{
	_cleanup_close_ int fd = -1;
	char path[64];

	if (rootfs_resolve(ctx->rootfd, PROC_NV, RESOLVE_NOCREATE, &fd, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return mount_remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, ctx->in_userns, err);
}

int gpu_mask_proc(const struct gpu_inject_ctx *ctx, const char *proc_root, const struct gpu_inventory *inv,
		  const struct gpu_plan *plan, struct error *err)
{
	static const char *const files[] = {"version", "params", "registry"};
	struct error ignore = ERROR_INIT;
	_cleanup_close_ int fd = -1;

	if (rootfs_resolve(ctx->rootfd, PROC_NV, RESOLVE_NOCREATE, &fd, &ignore) < 0)
		return 0;
	if (mount_line(ctx, "tmpfs", PROC_NV, "tmpfs", "nosuid,nodev,noexec,mode=0555", err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (copy_file(ctx, proc_root, files[i], err) < 0)
			return -1;
	}
	if (bind_gpus(ctx, proc_root, inv, plan, err) < 0 || bind_caps(ctx, proc_root, plan, err) < 0)
		return -1;
	return seal(ctx, err);
}
