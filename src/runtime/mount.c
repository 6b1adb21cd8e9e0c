/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "runtime/mount.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

enum xcreate { XCREATE_NONE, XCREATE_DIR, XCREATE_FILE, XCREATE_AUTO };

struct mount_opts {
	unsigned long flags;
	unsigned long propagation; /* includes MS_REC for the r* variants */
	struct strbuf data;
	enum xcreate create;
	bool move, detach, nofail, silent;
};

static const struct {
	const char *name;
	unsigned long set, clear;
} flag_table[] = {
	{"defaults", 0, 0},
	{"ro", MS_RDONLY, 0},
	{"rw", 0, MS_RDONLY},
	{"suid", 0, MS_NOSUID},
	{"nosuid", MS_NOSUID, 0},
	{"dev", 0, MS_NODEV},
	{"nodev", MS_NODEV, 0},
	{"exec", 0, MS_NOEXEC},
	{"noexec", MS_NOEXEC, 0},
	{"sync", MS_SYNCHRONOUS, 0},
	{"async", 0, MS_SYNCHRONOUS},
	{"dirsync", MS_DIRSYNC, 0},
	{"remount", MS_REMOUNT, 0},
	{"mand", MS_MANDLOCK, 0},
	{"nomand", 0, MS_MANDLOCK},
	{"atime", 0, MS_NOATIME},
	{"noatime", MS_NOATIME, 0},
	{"diratime", 0, MS_NODIRATIME},
	{"nodiratime", MS_NODIRATIME, 0},
	{"bind", MS_BIND, 0},
	{"rbind", MS_BIND | MS_REC, 0},
	{"relatime", MS_RELATIME, 0},
	{"norelatime", 0, MS_RELATIME},
	{"strictatime", MS_STRICTATIME, 0},
	{"nostrictatime", 0, MS_STRICTATIME},
	{"lazytime", MS_LAZYTIME, 0},
	{"nolazytime", 0, MS_LAZYTIME},
	{"silent", MS_SILENT, 0},
	{"loud", 0, MS_SILENT},
};

static const struct {
	const char *name;
	unsigned long flags;
} propagation_table[] = {
	{"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
	{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
	{"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
	{"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
};

static bool parse_special(const char *o, struct mount_opts *m)
{
	static const struct {
		const char *name;
		enum xcreate create;
	} creates[] = {{"x-create=dir", XCREATE_DIR}, {"x-create=file", XCREATE_FILE}, {"x-create=auto", XCREATE_AUTO}};

	for (size_t i = 0; i < ARRAY_SIZE(creates); i++) {
		if (!strcmp(o, creates[i].name)) {
			m->create = creates[i].create;
			return true;
		}
	}
	if (!strcmp(o, "x-move"))
		m->move = true;
	else if (!strcmp(o, "x-detach"))
		m->detach = true;
	else if (!strcmp(o, "nofail"))
		m->nofail = true;
	else
		return false;
	return true;
}

static void parse_option(const char *o, struct mount_opts *m)
{
	if (*o == '\0' || parse_special(o, m))
		return;
	if (!strcmp(o, "silent"))
		m->silent = true;
	for (size_t i = 0; i < ARRAY_SIZE(flag_table); i++) {
		if (!strcmp(o, flag_table[i].name)) {
			m->flags = (m->flags & ~flag_table[i].clear) | flag_table[i].set;
			return;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(propagation_table); i++) {
		if (!strcmp(o, propagation_table[i].name)) {
			m->propagation = propagation_table[i].flags;
			return;
		}
	}
	/* Unknown options go to the filesystem as data, as mount(8) does. */
	if (m->data.len > 0)
		strbuf_addch(&m->data, ',');
	strbuf_addstr(&m->data, o);
}

static void parse_options(const char *opts, struct mount_opts *m)
{
	_cleanup_free_ char *copy = xstrdup(opts);
	char *save = NULL;

	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		parse_option(o, m);
}

static unsigned long locked_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {{ST_RDONLY, MS_RDONLY},	   {ST_NOSUID, MS_NOSUID},     {ST_NODEV, MS_NODEV},
		   {ST_NOEXEC, MS_NOEXEC},	   {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME},
		   {ST_RELATIME, MS_RELATIME}};
	struct statvfs sv;
	unsigned long flags = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (sv.f_flag & map[i].st)
			flags |= map[i].ms;
	}
	return flags;
}

int mount_remount_bind(const char *path, unsigned long flags, bool in_userns, struct error *err)
{
	unsigned long locked = in_userns ? locked_flags(path) : 0;

	/* In a user namespace the source's nosuid/nodev/noexec/ro/atime flags are
	 * locked: a remount that drops one fails with EPERM, so keep them. */
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | flags | locked, NULL) < 0)
		return error_set(err, errno, "failed to remount '%s'", path);
	return 0;
}

static enum resolve_create create_kind(const char *src, const struct mount_opts *m)
{
	struct stat st;

	switch (m->create) {
	case XCREATE_DIR:
		return RESOLVE_CREATE_DIR;
	case XCREATE_FILE:
		return RESOLVE_CREATE_FILE;
	case XCREATE_AUTO:
		if ((m->flags & MS_BIND) && src != NULL && stat(src, &st) == 0 && !S_ISDIR(st.st_mode))
			return RESOLVE_CREATE_FILE;
		return RESOLVE_CREATE_DIR;
	case XCREATE_NONE:
		break;
	}
	return RESOLVE_NOCREATE;
}

/* source is what the kernel gets for e->src (an fd path when the source
 * lives in the root); messages keep e->src. */
static int do_mount(const struct mount_ctx *ctx, const struct mount_entry *e, struct mount_opts *m,
		    const char *source, const char *target, struct error *err)
{
	unsigned long base = m->flags & (MS_BIND | MS_REC | MS_REMOUNT);
	unsigned long extra = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
	const char *src = e->src_in_root || strcmp(e->src, "none") ? source : NULL;
	const char *type = strcmp(e->type, "none") ? e->type : NULL;
	const char *data = m->data.len ? m->data.buf : NULL;

	if (m->detach)
		return umount2(target, MNT_DETACH) < 0 ? error_set(err, errno, "failed to unmount: %s", e->dst) : 0;
	if (m->move)
		return mount(src, target, NULL, MS_MOVE, NULL) < 0
			       ? error_set(err, errno, "failed to mount: %s at %s", e->src, e->dst)
			       : 0;
	if (base & MS_REMOUNT) {
		unsigned long locked = ctx->in_userns ? locked_flags(target) : 0;
		return mount(NULL, target, NULL, m->flags | locked, data) < 0
			       ? error_set(err, errno, "failed to remount: %s", e->dst)
			       : 0;
	}
	if (base & MS_BIND) {
		if (mount(src, target, NULL, base, NULL) < 0)
			return error_set(err, errno, "failed to mount: %s at %s", e->src, e->dst);
		if (extra == 0 && data == NULL)
			return 0;
		return 1; /* needs a remount with the flags, on the new mount */
	}
	if (m->flags == 0 && type == NULL && data == NULL)
		return 0; /* propagation-only entry */
	if (mount(src, target, type, extra, data) < 0)
		return error_set(err, errno, "failed to mount: %s at %s", e->src, e->dst);
	return 0;
}

/* Flags and propagation apply to the new mount, so the target is resolved
 * again: the old fd still points below it. */
static int finish_mount(const struct mount_ctx *ctx, const struct mount_entry *e, struct mount_opts *m,
			bool remount, struct error *err)
{
	_cleanup_close_ int fd = -1;
	char target[64];
	unsigned long extra = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);

	if (rootfs_resolve(ctx->rootfd, e->dst, RESOLVE_NOCREATE, &fd, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (remount) {
		unsigned long locked = ctx->in_userns ? locked_flags(target) : 0;

		if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | extra | locked, m->data.len ? m->data.buf : NULL) < 0)
			return error_set(err, errno, "failed to mount: %s at %s", e->src, e->dst);
	}
	if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
		return error_set(err, errno, "failed to set mount propagation: %s", e->dst);
	return 0;
}

static int root_source(const struct mount_ctx *ctx, const struct mount_entry *e, int *ret_fd, char source[64],
		       struct error *err)
{
	if (rootfs_resolve(ctx->rootfd, e->src, RESOLVE_NOCREATE, ret_fd, err) < 0)
		return -1;
	snprintf(source, 64, "/proc/self/fd/%d", *ret_fd);
	return 0;
}

static int apply_one(const struct mount_ctx *ctx, const struct mount_entry *e, struct mount_opts *m,
		     struct error *err)
{
	_cleanup_close_ int fd = -1, srcfd = -1;
	char target[64], source[64];
	const char *src = e->src;
	int r;

	/* Resolved clamped, like the target: the kernel would follow the
	 * image's symlinks in a host path out of the root. */
	if (e->src_in_root && root_source(ctx, e, &srcfd, source, err) < 0 && err->code != ENOENT)
		return -1;
	if (e->src_in_root)
		src = srcfd >= 0 ? source : NULL;
	if (rootfs_resolve(ctx->rootfd, e->dst, create_kind(src, m), &fd, err) < 0)
		return -1;
	/* An image volume binds a path of the image onto itself: missing, it
	 * is the target just created (enroot's `${ENROOT_ROOTFS}/VOL /VOL`). */
	if (src == NULL) {
		if (root_source(ctx, e, &srcfd, source, err) < 0)
			return -1;
		src = source;
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	r = do_mount(ctx, e, m, src, target, err);
	if (r < 0 || m->detach || m->move)
		return r < 0 ? r : 0;
	return finish_mount(ctx, e, m, r == 1, err);
}

int mount_apply_entry(const struct mount_ctx *ctx, const struct mount_entry *e, struct error *err)
{
	struct mount_opts m = {0, 0, STRBUF_INIT, XCREATE_NONE, false, false, false, false};
	int r;

	parse_options(e->opts, &m);
	r = apply_one(ctx, e, &m, err);
	strbuf_release(&m.data);
	if (r < 0 && m.nofail) {
		error_clear(err);
		return 0;
	}
	if (r < 0)
		return error_prefix(err, "%s", e->origin ? e->origin : "mount");
	return 0;
}

int mount_apply_list(const struct mount_ctx *ctx, const struct mount_list *list, int pass, struct error *err)
{
	for (size_t i = 0; i < list->n; i++) {
		if (list->v[i].pass != pass)
			continue;
		if (mount_apply_entry(ctx, &list->v[i], err) < 0)
			return -1;
	}
	return 0;
}
