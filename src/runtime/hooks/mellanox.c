/* SPDX-License-Identifier: Apache-2.0 */
/* 99-mellanox: RDMA devices (MELLANOX_VISIBLE_DEVICES) as enroot's hook
 * exposes them, natively: the host's /dev/infiniband nodes are bound (never
 * mknod), each opened once first so that a denial is one clear error, and
 * the container's sysfs classes show only the selected HCAs. Without the
 * variable the start path does no RDMA work at all. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/inject.h"
#include "gpu/rdma.h"
#include "gpu/request.h"
#include "runtime/hooks.h"
#include "runtime/mount.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define ORIGIN "RDMA hook"

static int mount_one(struct start_ctx *ctx, const char *src, const char *dst, const char *type, const char *opts,
		     struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->userns};
	struct mount_entry e = {(char *)src, (char *)dst, (char *)type, (char *)opts, 0, (char *)ORIGIN, false};

	return mount_apply_entry(&mc, &e, err);
}

static int node_error(const char *path, int e, struct error *err)
{
	const char *why = e == ENOENT   ? "the node is missing on the host (RDMA modules ib_uverbs/ib_umad/"
					  "rdma_ucm not loaded?)"
			  : e == EPERM  ? "denied by this process's device cgroup (ask the scheduler for the HCA)"
			  : e == EACCES ? "its file mode does not let this user open it (udev rules, group 'rdma')"
					: "unexpected error";

	return error_set(err, 0, "RDMA device %s: cannot open: %s: %s", path, strerror(e), why);
}

/* Open the host node as the workload will (O_RDWR), through an O_PATH fd
 * that is then the mount source: no swap between check and bind. */
static int open_node(const char *path, int *ret_fd, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	_cleanup_close_ int probe = -1;
	char self[64];
	struct stat st;

	if (fd < 0)
		return node_error(path, errno, err);
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "RDMA device %s", path);
	if (!S_ISCHR(st.st_mode))
		return error_set(err, 0, "invalid RDMA device node %s: not a character device", path);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	probe = open(self, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (probe < 0)
		return node_error(path, errno, err);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* optional: a node the host lacks (rdma_cm without rdma_ucm) is skipped. */
static int bind_node(struct start_ctx *ctx, const char *dev_root, const char *name, bool optional,
		     struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/infiniband/%s", dev_root, name);
	_cleanup_free_ char *dst = xasprintf("/dev/infiniband/%s", name);
	_cleanup_close_ int fd = -1;
	char src[64];

	if (optional && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (open_node(path, &fd, err) < 0)
		return -1;
	if (gpu_check_dev_target(ctx->rootfd, dst, "CAPSA_RDMA_DEV_ROOT", err) < 0)
		return -1;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	/* Never nodev on a device; read-only does not stop writes to it. */
	return mount_one(ctx, src, dst, "none", "x-create=file,bind,ro,nosuid,noexec", err);
}

/* The host's class entry is a link into /sys/devices: the same relative
 * target resolves in the container's /sys, which is the host's. */
static int add_link(struct start_ctx *ctx, int dirfd, const char *sys_root, const char *entry, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/class/%s", sys_root, entry);
	char target[4096];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0) {
		if (ctx->opts->warn) {
			_cleanup_free_ char *msg = xasprintf("RDMA: %s is not a sysfs link, not shown in the container", path);
			ctx->opts->warn(msg);
		}
		return 0;
	}
	target[n] = '\0';
	if (symlinkat(target, dirfd, strrchr(entry, '/') + 1) < 0 && errno != EEXIST)
		return error_set(err, errno, "cannot create /sys/class/%s in the container", entry);
	return 0;
}

static int show_class(struct start_ctx *ctx, const char *sys_root, const char *class, const struct rdma_plan *p,
		      struct error *err)
{
	_cleanup_free_ char *dst = xasprintf("/sys/class/%s", class);
	_cleanup_free_ char *abi = xasprintf("%s/class/%s/abi_version", sys_root, class);
	_cleanup_free_ char *abi_dst = xasprintf("%s/abi_version", dst);
	_cleanup_close_ int dirfd = -1;
	struct error ignore = ERROR_INIT;
	size_t len = strlen(class);
	char self[64];

	/* A class the container's /sys lacks has nothing of the host to hide. */
	if (rootfs_resolve(ctx->rootfd, dst, RESOLVE_NOCREATE, &dirfd, &ignore) < 0)
		return 0;
	close(TAKE_FD(dirfd));
	if (mount_one(ctx, "tmpfs", dst, "tmpfs", "nosuid,nodev,noexec,mode=0755", err) < 0)
		return -1;
	if (access(abi, F_OK) == 0 &&
	    mount_one(ctx, abi, abi_dst, "none", "x-create=file,bind,ro,nosuid,nodev,noexec", err) < 0)
		return -1;
	if (rootfs_resolve(ctx->rootfd, dst, RESOLVE_NOCREATE, &dirfd, err) < 0)
		return -1;
	for (size_t i = 0; i < p->links.n; i++)
		if (!strncmp(p->links.v[i], class, len) && p->links.v[i][len] == '/' &&
		    add_link(ctx, dirfd, sys_root, p->links.v[i], err) < 0)
			return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", dirfd);
	return mount_remount_bind(self, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, ctx->userns, err);
}

static int apply(struct start_ctx *ctx, const struct rdma_plan *p, struct error *err)
{
	static const char *const classes[] = RDMA_CLASSES;
	const char *sys_root = config_get(ctx->cfg, "RDMA_SYS_ROOT");
	const char *dev_root = config_get(ctx->cfg, "RDMA_DEV_ROOT");

	sys_root = sys_root ? sys_root : "/sys";
	dev_root = dev_root ? dev_root : "/dev";
	for (size_t i = 0; i < p->nodes.n; i++)
		if (bind_node(ctx, dev_root, p->nodes.v[i], false, err) < 0)
			return -1;
	if (bind_node(ctx, dev_root, "rdma_cm", true, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(classes); i++)
		if (show_class(ctx, sys_root, classes[i], p, err) < 0)
			return error_prefix(err, "RDMA (MELLANOX_VISIBLE_DEVICES)");
	return 0;
}

int hook_mellanox(struct start_ctx *ctx, struct error *err)
{
	const char *value = gpu_env_get(ctx->host_env.v, ctx->env.v, "MELLANOX_VISIBLE_DEVICES");
	const char *sys_root = config_get(ctx->cfg, "RDMA_SYS_ROOT");
	struct rdma_request req;
	struct rdma_plan plan;
	int r;

	if (value == NULL || *value == '\0')
		return 0;
	if (rdma_request_parse(value, &req, err) < 0)
		return -1;
	if (!req.active)
		return 0;
	/* umad/issm for a real superuser only: one without a user namespace. */
	if (rdma_make_plan(sys_root ? sys_root : "/sys", &req, !ctx->userns, &plan, err) < 0)
		return -1;
	r = apply(ctx, &plan, err);
	rdma_plan_done(&plan);
	return r;
}
