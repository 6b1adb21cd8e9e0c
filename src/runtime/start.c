/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/envfile.h"
#include "runtime/conffile.h"
#include "runtime/defaults.h"
#include "runtime/environ.h"
#include "runtime/hooks.h"
#include "runtime/image_mount.h"
#include "runtime/image_policy.h"
#include "runtime/lock.h"
#include "runtime/mount.h"
#include "runtime/namespaces.h"
#include "runtime/resolve.h"
#include "runtime/start.h"
#include "runtime/store.h"
#include "runtime/switchroot.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_FSTAB (4 * 1024 * 1024)

void start_opts_free(struct start_opts *o)
{
	strv_free(&o->env_args);
	strv_free(&o->mount_args);
	strv_free(&o->devices);
}

static int validate(struct start_ctx *ctx, struct error *err)
{
	const struct start_opts *o = ctx->opts;

	for (size_t i = 0; i < o->env_args.n; i++) {
		if (!env_valid_arg(o->env_args.v[i]))
			return error_set(err, 0, "invalid argument: '%s' (expected -e NAME[=VALUE])", o->env_args.v[i]);
	}
	for (size_t i = 0; i < o->mount_args.n; i++) {
		const char *m = o->mount_args.v[i];

		if (*m == '\0' || strpbrk(m, " \t\n") || strstr(m, "::") || *m == ':' || m[strlen(m) - 1] == ':')
			return error_set(err, 0, "invalid argument: '%s' (expected -m SRC[:DST[:TYPE[:OPTS]]])", m);
	}
	if (o->rc_file && access(o->rc_file, R_OK) < 0)
		return error_set(err, errno, "invalid argument: --rc '%s'", o->rc_file);
	if (o->conf_file && conffile_check(o->conf_file, err) < 0)
		return -1;
	return 0;
}

static int setup_namespaces(struct start_ctx *ctx, struct error *err)
{
	struct ns_opts ns = {
		.userns = ctx->userns,
		.remap_root = ctx->remap_root,
		.pid = config_bool(ctx->cfg, "UNSHARE_PID"),
		.net = config_bool(ctx->cfg, "UNSHARE_NET"),
		.ipc = config_bool(ctx->cfg, "UNSHARE_IPC"),
		.uts = config_bool(ctx->cfg, "UNSHARE_UTS"),
	};

	if (ns_enter(&ns, err) < 0)
		return -1;
	if (ns.pid && ns_fork_pid_init(err) < 0)
		return -1;
	return 0;
}

/* A private tmpfs on the runtime path holds this start's scratch files. */
static int setup_runtime_dir(struct start_ctx *ctx, struct error *err)
{
	const char *rt = config_get(ctx->cfg, "RUNTIME_PATH");

	if (mount("tmpfs", rt, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700") < 0)
		return error_set(err, errno, "failed to mount a tmpfs on '%s'", rt);
	ctx->runtime_dir = xstrdup(rt);
	return 0;
}

static int setup_rootfs(struct start_ctx *ctx, struct error *err)
{
	if (ctx->image) {
		free(ctx->rootfs);
		ctx->rootfs = NULL;
		if (image_mount(ctx->image, ctx->opts->image_offset, ctx->runtime_dir, &ctx->rootfs, err) < 0)
			return -1;
	}
	/* pivot_root needs a mount point; nosuid,nodev are never lifted. */
	if (mount(ctx->rootfs, ctx->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return error_set(err, errno, "failed to bind '%s'", ctx->rootfs);
	if (mount_remount_bind(ctx->rootfs, MS_NOSUID | MS_NODEV, ctx->userns, err) < 0)
		return -1;
	ctx->rootfd = open(ctx->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx->rootfd < 0)
		return error_set(err, errno, "failed to open '%s'", ctx->rootfs);
	return 0;
}

static int add_fstab_text(struct start_ctx *ctx, const char *text, const char *name, struct error *err)
{
	_cleanup_free_ char *s = env_subst(text, ctx->host_env.v);

	return fstab_parse(s, name, &ctx->mounts, err);
}

static int add_fstab_file(const char *path, const char *text, void *arg, struct error *err)
{
	return add_fstab_text(arg, text, path, err);
}

static int add_fstab_dir(struct start_ctx *ctx, const char *base, bool builtin, struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/mounts.d", base);

	if (builtin && !path_is_dir(dir))
		return add_fstab_text(ctx, rt_builtin_mounts, "built-in mounts", err);
	return for_each_dir_file(dir, ".fstab", MAX_FSTAB, add_fstab_file, ctx, err);
}

/* The image's own fstab: under CAPSA_IMAGE_MOUNTS=restricted it sees no
 * host variable and mounts nothing from outside the rootfs (enroot's
 * import only writes ${ENROOT_ROOTFS}/VOL binds there, which still work). */
static int add_image_fstab(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *text = NULL, *subst = NULL, *warning = NULL;
	enum image_policy policy;
	size_t first = ctx->mounts.n;

	if (image_policy_get(ctx->cfg, "IMAGE_MOUNTS", &policy, err) < 0 ||
	    rootfs_read_file(ctx->rootfd, "/etc/fstab", MAX_FSTAB, &text, NULL, err) < 0)
		return -1;
	subst = image_policy_subst(policy, text, ctx->host_env.v, "image /etc/fstab", "IMAGE_MOUNTS", &warning);
	if (warning && ctx->opts->warn)
		ctx->opts->warn(warning);
	if (fstab_parse(subst, "image /etc/fstab", &ctx->mounts, err) < 0)
		return -1;
	for (size_t i = first; i < ctx->mounts.n && policy == IMAGE_POLICY_RESTRICTED; i++) {
		if (image_policy_check_mount(ctx->rootfs, &ctx->mounts.v[i], err) < 0)
			return -1;
	}
	return 0;
}

static int assemble_mounts(struct start_ctx *ctx, struct error *err)
{
	if (add_image_fstab(ctx, err) < 0 ||
	    add_fstab_dir(ctx, config_get(ctx->cfg, "SYSCONF_PATH"), true, err) < 0 ||
	    add_fstab_dir(ctx, config_get(ctx->cfg, "CONFIG_PATH"), false, err) < 0)
		return -1;
	if (config_bool(ctx->cfg, "UNSHARE_PID") &&
	    fstab_parse("none /proc none x-create=dir,x-detach,nofail,silent 0 -1\n"
			"proc /proc proc x-create=dir,rw,nosuid,nodev,noexec 0 -1\n",
			"--pid", &ctx->mounts, err) < 0)
		return -1;
	if (config_bool(ctx->cfg, "UNSHARE_NET") &&
	    fstab_parse("none /sys none x-create=dir,x-detach,nofail,silent 0 -1\n"
			"sysfs /sys sysfs x-create=dir,ro,nosuid,nodev,noexec 0 -1\n",
			"--net", &ctx->mounts, err) < 0)
		return -1;
	return 0;
}

/* Pass 0 adds the config's mounts() and the -m arguments, in that order. */
static int final_mounts(struct start_ctx *ctx, struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->userns};

	if (mount_apply_list(&mc, &ctx->late, 0, err) < 0)
		return -1;
	if (ctx->conf_mounts && fstab_parse(ctx->conf_mounts, "mounts()", &ctx->mounts, err) < 0)
		return -1;
	for (size_t i = 0; i < ctx->opts->mount_args.n; i++) {
		_cleanup_free_ char *line = fstab_from_spec(ctx->opts->mount_args.v[i]);
		_cleanup_free_ char *origin = xasprintf("-m '%s'", ctx->opts->mount_args.v[i]);

		if (fstab_parse(line, origin, &ctx->mounts, err) < 0)
			return -1;
	}
	return mount_apply_list(&mc, &ctx->mounts, 0, err);
}

static int finish_rootfs(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *lock = xasprintf("%s/.lock", ctx->rootfs);

	if (!config_bool(ctx->cfg, "ROOTFS_WRITABLE") &&
	    mount_remount_bind(ctx->rootfs, MS_RDONLY | MS_NOSUID | MS_NODEV, ctx->userns, err) < 0)
		return -1;
	/* /.lock marks a running container for `list -f` (and pyxis). */
	if (mount(lock, lock, NULL, MS_BIND, NULL) < 0 ||
	    mount_remount_bind(lock, MS_RDONLY | MS_NOEXEC | MS_NOSUID | MS_NODEV, ctx->userns, err) < 0)
		return error_set(err, errno, "failed to bind the rootfs lock");
	return 0;
}

static int load_rc(struct start_ctx *ctx, struct error *err)
{
	if (ctx->opts->rc_file == NULL)
		return 0;
	return read_file_at(AT_FDCWD, ctx->opts->rc_file, MAX_FSTAB, &ctx->rc, NULL, err);
}

static int run_pipeline(struct start_ctx *ctx, struct error *err)
{
	struct mount_ctx mc;
	_cleanup_close_ int lockfd = -1;

	if (validate(ctx, err) < 0 || load_rc(ctx, err) < 0 || setup_namespaces(ctx, err) < 0 ||
	    setup_runtime_dir(ctx, err) < 0 || setup_rootfs(ctx, err) < 0)
		return -1;
	if (rootfs_lock(ctx->rootfd, config_long(ctx->cfg, "LOCK_TIMEOUT", 30), &lockfd, err) < 0)
		return -1;
	environ_build_host(ctx);
	if (ctx->opts->conf_file && conffile_collect(ctx, err) < 0)
		return -1;
	if (environ_assemble(ctx, err) < 0 || assemble_mounts(ctx, err) < 0)
		return -1;
	mc = (struct mount_ctx){ctx->rootfd, ctx->userns};
	if (mount_apply_list(&mc, &ctx->mounts, -1, err) < 0)
		return -1;
	if (hooks_run(ctx, err) < 0 || final_mounts(ctx, err) < 0 || finish_rootfs(ctx, err) < 0)
		return -1;
	if (switchroot_pivot(ctx->rootfs, err) < 0)
		return -1;
	/* The lock fd is O_CLOEXEC: it is released by the exec below. */
	return switchroot_exec(ctx, err);
}

int rt_start(struct config *cfg, const struct start_opts *opts, struct error *err)
{
	struct start_ctx ctx = {.cfg = cfg, .opts = opts, .rootfd = -1};
	bool superuser = geteuid() == 0 && config_bool(cfg, "ALLOW_SUPERUSER");
	int r;

	ctx.userns = !superuser;
	ctx.remap_root = config_bool(cfg, "REMAP_ROOT") || geteuid() == 0;
	ctx.inner_uid = ctx.remap_root ? 0 : geteuid();
	ctx.inner_gid = ctx.remap_root ? 0 : getegid();
	r = store_resolve_rootfs(cfg, opts->rootfs_arg, opts->image_offset, &ctx.rootfs, &ctx.image, err);
	if (r == 0)
		r = run_pipeline(&ctx, err);
	/* Only reached on failure: the process never returns from a start. */
	free(ctx.rootfs);
	free(ctx.image);
	free(ctx.runtime_dir);
	free(ctx.rc);
	free(ctx.conf_environ);
	free(ctx.conf_mounts);
	strv_free(&ctx.env);
	strv_free(&ctx.host_env);
	mount_list_free(&ctx.mounts);
	mount_list_free(&ctx.late);
	if (ctx.rootfd >= 0)
		close(ctx.rootfd);
	return r;
}
