/* SPDX-License-Identifier: Apache-2.0 */
/* The CDI hook: applies the container edits of the --device requests. A
 * device node is a bind mount of the host node (never mknod, never a device
 * cgroup rule), opened once here so that a denial is one clear message.
 * Spec hooks are never executed: the NVIDIA ones are done natively, any
 * other is refused (a spec's binary would run with the container's
 * privileges and the host's view, CVE-2025-23266). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gpu/cdi.h"
#include "runtime/cdi_hooks.h"
#include "runtime/hooks.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* A path as one fstab field: blanks and backslashes as octal escapes. */
static void add_field(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			strbuf_addf(sb, "\\%03o", (unsigned char)*s);
		else
			strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, ' ');
}

static int bind(struct start_ctx *ctx, const char *src, const char *dst, const char *opts, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	int r;

	add_field(&sb, src);
	add_field(&sb, dst);
	strbuf_addf(&sb, "none %s", opts);
	r = hook_mount(ctx, strbuf_str(&sb), err);
	strbuf_release(&sb);
	return r;
}

/* The host node must be the device the spec describes: a spec naming a
 * regular file or another device is refused rather than bound. */
static int check_host_node(const struct cdi_node *n, const char *src, int fd, struct error *err)
{
	struct stat st;
	bool blk = n->type && !strcmp(n->type, "b");

	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "CDI device node '%s': host node '%s'", n->path, src);
	if (!(blk ? S_ISBLK(st.st_mode) : S_ISCHR(st.st_mode)) && !(n->type == NULL && S_ISBLK(st.st_mode)))
		return error_set(err, 0, "CDI device node '%s': host '%s' is not a %s device", n->path, src,
				 blk ? "block" : "character");
	if ((n->major >= 0 && major(st.st_rdev) != n->major) || (n->minor >= 0 && minor(st.st_rdev) != n->minor))
		return error_set(err, 0, "CDI device node '%s': host '%s' is %u:%u, the spec says %lld:%lld", n->path,
				 src, major(st.st_rdev), minor(st.st_rdev), (long long)n->major, (long long)n->minor);
	return 0;
}

static int open_flags(const struct cdi_node *n)
{
	bool r = n->permissions == NULL || strchr(n->permissions, 'r');
	bool w = n->permissions == NULL || strchr(n->permissions, 'w');

	return (r && w ? O_RDWR : w ? O_WRONLY : O_RDONLY) | O_NOCTTY | O_NONBLOCK;
}

static const char *denial_hint(int e)
{
	if (e == EPERM)
		return " (denied by the device cgroup: a Slurm ConstrainDevices job without this device in its "
		       "--gres, a Kubernetes device plugin, or a systemd DevicePolicy)";
	if (e == EACCES)
		return " (file mode or group of the host node)";
	return "";
}

/* Opened through the container's own path, as the workload will open it. */
static int probe_node(struct start_ctx *ctx, const struct cdi_node *n, const char *src, struct error *err)
{
	_cleanup_close_ int fd = -1;
	int r = rootfs_open(ctx->rootfd, n->path, open_flags(n), 0, &fd, err);

	if (r < 0)
		return error_set(err, err->code, "CDI device node '%s' (host '%s') cannot be opened%s", n->path, src,
				 denial_hint(err->code));
	return 0;
}

static int apply_node(struct start_ctx *ctx, const struct cdi_node *n, struct error *err)
{
	const char *src = n->host_path ? n->host_path : n->path;
	_cleanup_close_ int fd = open(src, O_PATH | O_CLOEXEC);
	char fdpath[64];

	if (fd < 0)
		return error_set(err, errno, "CDI device node '%s': host node '%s'", n->path, src);
	if (check_host_node(n, src, fd, err) < 0)
		return -1;
	/* The node checked is the node bound (through its fd), whatever
	 * renames happen meanwhile. No nodev: the bind keeps the host
	 * devtmpfs superblock, so the node works in the user namespace, as
	 * 10-devices' /dev/null does. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (bind(ctx, fdpath, n->path, "x-create=file,bind,nosuid,noexec", err) < 0) {
		/* The host's /dev (rbind) cannot get a new node unprivileged. */
		if (!strncmp(n->path, "/dev/", 5) && !config_bool(ctx->cfg, "RESTRICT_DEV"))
			return error_set(err, err->code,
					 "CDI device node '%s' (host '%s'): the container's /dev is the host's, where "
					 "'%s' cannot be created (set CAPSA_RESTRICT_DEV=y for a fresh /dev)",
					 n->path, src, n->path);
		return error_prefix(err, "CDI device node '%s' (host '%s')", n->path, src);
	}
	return probe_node(ctx, n, src, err);
}

static int apply_mount(struct start_ctx *ctx, const struct cdi_mount *m, struct error *err)
{
	struct strbuf opts = STRBUF_INIT;
	bool has_bind = false;
	int r;

	strbuf_addstr(&opts, "x-create=auto,nosuid");
	for (size_t i = 0; i < m->options.n; i++) {
		has_bind = has_bind || !strcmp(m->options.v[i], "bind") || !strcmp(m->options.v[i], "rbind");
		strbuf_addf(&opts, ",%s", m->options.v[i]);
	}
	if (!has_bind)
		strbuf_addstr(&opts, ",rbind");
	r = bind(ctx, m->host_path, m->container_path, strbuf_str(&opts), err);
	strbuf_release(&opts);
	if (r < 0)
		return error_prefix(err, "CDI mount '%s'", m->container_path);
	return 0;
}

static int apply_edits(struct start_ctx *ctx, const struct cdi_edits *e, struct error *err)
{
	for (size_t i = 0; i < e->env.n; i++)
		strv_push(&ctx->env, e->env.v[i]);
	for (size_t i = 0; i < e->n_nodes; i++) {
		if (apply_node(ctx, &e->nodes[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < e->n_mounts; i++) {
		if (apply_mount(ctx, &e->mounts[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < e->n_hooks; i++) {
		if (cdi_hook_native(ctx, &e->hooks[i], err) < 0)
			return -1;
	}
	return 0;
}

int cdi_apply(struct start_ctx *ctx, const struct strv *devices, struct error *err)
{
	struct cdi_edits edits = {0};
	int r;

	if (devices->n == 0)
		return 0;
	r = cdi_resolve(config_get(ctx->cfg, "CDI_SPEC_DIRS"), devices, &edits, err);
	if (r == 0)
		r = apply_edits(ctx, &edits, err);
	cdi_edits_done(&edits);
	return r;
}

int hook_cdi(struct start_ctx *ctx, struct error *err)
{
	return cdi_apply(ctx, &ctx->opts->devices, err);
}
