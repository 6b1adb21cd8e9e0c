/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu/compat.h"
#include "gpu/inject.h"
#include "runtime/mount.h"
#include "runtime/privileges.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define ORIGIN "NVIDIA GPU hook"

/* The first line of /proc/self/cgroup, to name the cgroup that denied. */
static void own_cgroup(char *buf, size_t len)
{
	_cleanup_free_ char *text = NULL;
	struct error ignore = ERROR_INIT;

	snprintf(buf, len, "unknown");
	if (read_file_at(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, &text, NULL, &ignore) == 0 && *text)
		snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	case ENOENT:
		return "ENOENT";
	case ENXIO:
		return "ENXIO";
	case ENODEV:
		return "ENODEV";
	case EIO:
		return "EIO";
	default:
		return "error";
	}
}

static void cause(const struct stat *st, int e, char *buf, size_t len)
{
	char cg[256];
	struct passwd *pw = st ? getpwuid(st->st_uid) : NULL;
	struct group *gr = st ? getgrgid(st->st_gid) : NULL;

	switch (e) {
	case EPERM:
		own_cgroup(cg, sizeof(cg));
		snprintf(buf, len,
			 "access denied by the device cgroup of this process (%s); capsa never changes device "
			 "cgroups: request the GPU from the scheduler (Slurm: --gres=gpu:N, with ConstrainDevices=yes "
			 "only allocated GPUs open; Kubernetes: the device plugin's nvidia.com/gpu limit) and use "
			 "NVIDIA_VISIBLE_DEVICES=all to get exactly the GPUs you were allocated",
			 cg);
		break;
	case EACCES:
		snprintf(buf, len,
			 "the file mode %04o %s:%s does not let this user open it (driver options "
			 "NVreg_DeviceFileMode/NVreg_DeviceFileGID, or a group such as 'video'), or the host /dev "
			 "is mounted nodev",
			 st ? (unsigned)(st->st_mode & 07777) : 0, pw ? pw->pw_name : "?", gr ? gr->gr_name : "?");
		break;
	case ENOENT:
		snprintf(buf, len, "the node is missing on the host: the NVIDIA kernel module is not loaded or "
				   "its nodes were never created (as root: nvidia-modprobe -c0 -u, or nvidia-smi)");
		break;
	case ENXIO:
	case ENODEV:
	case EIO:
		snprintf(buf, len, "driver error: check dmesg (Xid) and nvidia-smi on the host");
		break;
	default:
		snprintf(buf, len, "unexpected error");
	}
}

int gpu_device_error(const char *path, const struct stat *st, int errnum, struct error *err)
{
	char why[768], node[48] = "";

	cause(st, errnum, why, sizeof(why));
	if (st && S_ISCHR(st->st_mode))
		snprintf(node, sizeof(node), ", c %u:%u", major(st->st_rdev), minor(st->st_rdev));
	error_set(err, 0, "GPU device %s%s: cannot open: %s (%s): %s", path, node, strerror(errnum),
		  errno_name(errnum), why);
	/* Set after the message, which already names the errno. */
	err->code = errnum;
	return -1;
}

int gpu_open_device(const char *path, int major, int *ret_fd, struct error *err)
{
	return gpu_open_device_as(path, major, O_RDWR, ret_fd, err);
}

int gpu_open_device_as(const char *path, int major, int oflags, int *ret_fd, struct error *err)
{
	/* The dev root is the admin's (or a test's): its symlinks are followed. */
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	_cleanup_close_ int probe = -1;
	char self[64];
	struct stat st;

	if (fd < 0)
		return gpu_device_error(path, NULL, errno, err);
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "GPU device %s", path);
	if (!S_ISCHR(st.st_mode))
		return error_set(err, 0, "invalid device node %s: %s, not a character device", path,
				 file_kind(st.st_mode));
	/* The majors come from the driver's own entries in /proc/devices. */
	if (major >= 0 && major(st.st_rdev) != (unsigned)major)
		return error_set(err, 0, "invalid device node %s: c %u:%u, not of the NVIDIA driver (major %d)", path,
				 major(st.st_rdev), minor(st.st_rdev), major);
	/* Opened through the checked fd: no swap between check and use. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	probe = open(self, oflags | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (probe < 0)
		return gpu_device_error(path, &st, errno, err);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int mount_item(const struct gpu_inject_ctx *ctx, const char *src, const char *dst, const char *opts,
		      struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->in_userns};
	struct mount_entry e = {(char *)src, (char *)dst, (char *)"none", (char *)opts, 0, (char *)ORIGIN, false};

	return mount_apply_entry(&mc, &e, err);
}

static void warn(const struct gpu_inject_ctx *ctx, const char *msg)
{
	if (ctx->warn)
		ctx->warn(msg);
}

/* A node missing from the container's /dev is created there, as a mount
 * point, only when that /dev is its own: never a file in the host's /dev
 * (enroot's default binds it whole, with every node already in it). */
int gpu_check_dev_target(int rootfd, const char *dst, const char *setting, struct error *err)
{
	_cleanup_close_ int fd = -1, dev = -1;
	struct error ignore = ERROR_INIT;
	struct stat in, host;

	if (rootfs_resolve(rootfd, dst, RESOLVE_NOCREATE, &fd, &ignore) == 0)
		return 0;
	if (rootfs_resolve(rootfd, "/dev", RESOLVE_NOCREATE, &dev, &ignore) < 0 || fstat(dev, &in) < 0 ||
	    stat("/dev", &host) < 0 || in.st_dev != host.st_dev || in.st_ino != host.st_ino)
		return 0;
	return error_set(err, 0,
			 "%s is not in the container's /dev, which is the host's: set CAPSA_RESTRICT_DEV=y (the "
			 "container gets its own /dev) or point %s at /dev",
			 dst, setting);
}

static int inject_device(const struct gpu_inject_ctx *ctx, const struct gpu_item *it, struct error *err)
{
	_cleanup_close_ int fd = -1;
	char src[64];

	/* The driver checks a capability when its node is opened for reading;
	 * they are 0444 (MIG access) or 0400: O_RDWR would always be denied. */
	if (gpu_open_device_as(it->src, it->major, it->kind == GPU_ITEM_CAP ? O_RDONLY : O_RDWR, &fd, err) < 0) {
		if (it->need && err->code == EACCES)
			return error_set(err, 0, "%s: MIG config/monitor requires access to %s (root-only on this host)",
					 it->need, it->dst);
		if (!it->optional)
			return -1;
		warn(ctx, err->msg);
		error_clear(err);
		return 0;
	}
	if (gpu_check_dev_target(ctx->rootfd, it->dst, "CAPSA_NVIDIA_DEV_ROOT", err) < 0)
		return -1;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	/* Never nodev on a device; read-only does not stop writes to it. */
	return mount_item(ctx, src, it->dst, "x-create=file,bind,ro,nosuid,noexec", err);
}

static const char *item_opts(const struct gpu_item *it)
{
	switch (it->kind) {
	case GPU_ITEM_IPC:
		return "x-create=auto,bind,nosuid,nodev,noexec";
	case GPU_ITEM_DEVDIR:
		return "x-create=dir,bind,nosuid,noexec";
	case GPU_ITEM_FW:
	case GPU_ITEM_CONF:
		return "x-create=file,bind,ro,nosuid,nodev";
	case GPU_ITEM_BIN:
		return "x-create=file,bind,ro,nosuid,nodev";
	default:
		return "x-create=file,bind,ro,nosuid,nodev";
	}
}

static int inject_item(const struct gpu_inject_ctx *ctx, const struct gpu_item *it, struct error *err)
{
	switch (it->kind) {
	case GPU_ITEM_DEV:
	case GPU_ITEM_CAP:
		return inject_device(ctx, it, err);
	case GPU_ITEM_DEVDIR:
		/* As a node: never a directory created in the host's /dev. */
		if (gpu_check_dev_target(ctx->rootfd, it->dst, "CAPSA_NVIDIA_DEV_ROOT", err) < 0)
			return -1;
		return mount_item(ctx, it->src, it->dst, item_opts(it), err);
	default:
		return mount_item(ctx, it->src, it->dst, item_opts(it), err);
	}
}

static int make_link(const struct gpu_inject_ctx *ctx, const struct gpu_link *l, struct error *err)
{
	_cleanup_close_ int dirfd = -1;

	/* The directory is resolved inside the root: an image symlink cannot
	 * send the link elsewhere (CVE-2024-0134). */
	if (rootfs_resolve(ctx->rootfd, l->dir, RESOLVE_MKDIR_P, &dirfd, err) < 0)
		return -1;
	if (symlinkat(l->target, dirfd, l->name) < 0 && errno != EEXIST)
		return error_set(err, errno, "cannot create the link %s/%s", l->dir, l->name);
	return 0;
}

/* In the ldconfig child: chrooted into the rootfs, no capability left (a
 * chrooted process with CAP_SYS_CHROOT could leave the chroot), bounded CPU. */
static void ldconfig_child(int rootfd, const char *prog, char *const dirs[])
{
	char *argv[GPU_LDCONFIG_MAX_DIRS + 2] = {(char *)"ldconfig"};
	char *envp[] = {NULL};
	struct rlimit cpu = {10, 10};
	struct error ignore = ERROR_INIT;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	for (size_t i = 0; dirs[i] && i < GPU_LDCONFIG_MAX_DIRS; i++)
		argv[i + 1] = dirs[i];
	if (null < 0 || dup2(null, 1) < 0 || fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0 ||
	    caps_drop_all(&ignore) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    setrlimit(RLIMIT_CPU, &cpu) < 0)
		_exit(126);
	execve(prog, argv, envp);
	_exit(127);
}

int gpu_ldconfig(int rootfd, char *const dirs[], struct error *err)
{
	static const char *const cands[] = {"/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"};
	const char *prog = NULL;
	int status;
	pid_t pid;

	for (size_t i = 0; i < ARRAY_SIZE(cands) && prog == NULL; i++) {
		struct error ignore = ERROR_INIT;
		_cleanup_close_ int fd = -1;

		if (rootfs_resolve(rootfd, cands[i], RESOLVE_NOCREATE, &fd, &ignore) == 0)
			prog = cands[i];
	}
	if (prog == NULL)
		return 0;
	pid = fork();
	if (pid < 0)
		return error_set(err, errno, "fork for ldconfig");
	if (pid == 0)
		ldconfig_child(rootfd, prog, dirs);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return error_set(err, errno, "waitpid ldconfig");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return error_set(err, 0, "the container's %s %s failed (status %d)", prog, dirs[0] ? dirs[0] : "",
				 status);
	return 0;
}

/* Directories given first come first in the cache: the compat one wins. */
static int run_ldconfig(const struct gpu_inject_ctx *ctx, const struct gpu_plan *plan, bool compat,
			struct error *err)
{
	char *dirs[4], **a = dirs;

	if (compat)
		*a++ = (char *)GPU_COMPAT_DIR;
	*a++ = plan->libdir;
	if (plan->libdir32)
		*a++ = plan->libdir32;
	*a = NULL;
	return gpu_ldconfig(ctx->rootfd, dirs, err);
}

int gpu_inject(const struct gpu_inject_ctx *ctx, const struct gpu_plan *plan, struct error *err)
{
	int compat;

	for (size_t i = 0; i < plan->n_items; i++) {
		const struct gpu_item *it = &plan->items[i];
		bool dev = it->kind == GPU_ITEM_DEV || it->kind == GPU_ITEM_CAP;
		int r = inject_item(ctx, it, err);

		/* Best effort (IPC, firmware, ICD files): binding the persistenced
		 * socket fails in some Kubernetes pods (NVIDIA/enroot#265). */
		if (r < 0 && it->optional && !dev) {
			warn(ctx, err->msg);
			error_clear(err);
		} else if (r < 0) {
			return -1;
		}
	}
	for (size_t i = 0; i < plan->n_links; i++) {
		if (make_link(ctx, &plan->links[i], err) < 0)
			return -1;
	}
	compat = gpu_cuda_compat(ctx->rootfd, plan->rm, plan->cuda_compat, err);
	if (compat < 0)
		return -1;
	return run_ldconfig(ctx, plan, compat > 0, err);
}
