/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "gpu/appprofile.h"
#include "runtime/mount.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

char *gpu_app_profile(unsigned long long mask)
{
	return xasprintf("{\n"
			 "  \"profiles\": [{\"name\": \"_capsa_container_\", \"settings\": "
			 "[\"EGLVisibleDGPUDevices\", %#llx]}],\n"
			 "  \"rules\": [{\"pattern\": [], \"profile\": \"_capsa_container_\"}]\n"
			 "}\n",
			 mask);
}

static int seal(const struct gpu_inject_ctx *ctx, struct error *err)
{
	_cleanup_close_ int fd = -1;
	char path[64];

	if (rootfs_resolve(ctx->rootfd, GPU_PROFILE_DIR, RESOLVE_NOCREATE, &fd, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return mount_remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, ctx->in_userns, err);
}

int gpu_write_app_profile(const struct gpu_inject_ctx *ctx, const struct gpu_inventory *inv,
			  const struct gpu_plan *plan, unsigned caps, struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->in_userns};
	struct mount_entry e = {(char *)"tmpfs", (char *)GPU_PROFILE_DIR, (char *)"tmpfs",
				(char *)"x-create=dir,nosuid,nodev,noexec,mode=0555", 0, (char *)"NVIDIA GPU hook", false};
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	unsigned long long mask = 0;

	if (!(caps & (GPU_CAP_GRAPHICS | GPU_CAP_DISPLAY)))
		return 0;
	/* Minors are at most 253 (inventory.c), a mask holds 64 of them. */
	for (size_t i = 0; i < plan->n_gpus; i++) {
		if (inv->gpus[plan->gpus[i]].minor < 64)
			mask |= 1ULL << inv->gpus[plan->gpus[i]].minor;
	}
	text = gpu_app_profile(mask);
	if (mount_apply_entry(&mc, &e, err) < 0)
		return -1;
	if (rootfs_open(ctx->rootfd, GPU_PROFILE_DIR "/10-container.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			0444, &fd, err) < 0)
		return -1;
	if (write_all(fd, text, strlen(text)) < 0)
		return error_set(err, errno, "cannot write the NVIDIA application profile");
	/* A file open for writing makes the read-only remount EBUSY. */
	close(TAKE_FD(fd));
	return seal(ctx, err);
}
