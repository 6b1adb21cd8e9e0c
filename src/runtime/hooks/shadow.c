/* SPDX-License-Identifier: Apache-2.0 */
/* 10-shadow: put root, nobody and the calling user first in the container's
 * /etc/passwd and /etc/group, so names resolve inside. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/hooks.h"
#include "runtime/namespaces.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_DB (16 * 1024 * 1024)

/* Does an existing line clash with a generated name or id? */
static bool clashes(const char *line, const char *const names[], const unsigned ids[], size_t n)
{
	const char *colon = strchr(line, ':');
	const char *id;
	size_t len;

	if (colon == NULL)
		return false;
	len = (size_t)(colon - line);
	if (len == 4 && !strncmp(line, "_apt", 4))
		return true;
	id = strchr(colon + 1, ':');
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) == len && !strncmp(line, names[i], len))
			return true;
		if (id && strtoul(id + 1, NULL, 10) == ids[i] && id[1] != ':')
			return true;
	}
	return false;
}

static void append_filtered(struct strbuf *sb, const char *old, const char *const names[], const unsigned ids[],
			    size_t n)
{
	for (const char *p = old; *p;) {
		size_t len = strcspn(p, "\n");
		_cleanup_free_ char *line = xstrndup(p, len);

		p += len + (p[len] == '\n');
		if (*line == '\0' || clashes(line, names, ids, n))
			continue;
		strbuf_addstr(sb, line);
		strbuf_addch(sb, '\n');
	}
}

/* A container started again already has these entries: not rewriting the
 * file spares a create, rename and unlink on every start. */
static int write_db(struct start_ctx *ctx, const char *path, const char *old, const char *content,
		    struct error *err)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *name = NULL;

	if (!strcmp(old, content))
		return 0;
	if (rootfs_resolve_parent(ctx->rootfd, path, true, &dfd, &name, err) < 0)
		return -1;
	return write_file_atomic_at(dfd, name, content, strlen(content), 0644, err);
}

static const char *container_shell(struct start_ctx *ctx, const char *shell)
{
	_cleanup_close_ int fd = -1;
	struct error ignored = ERROR_INIT;

	if (shell && *shell && rootfs_resolve(ctx->rootfd, shell, RESOLVE_NOCREATE, &fd, &ignored) == 0)
		return shell;
	return "/bin/sh";
}

static int write_passwd(struct start_ctx *ctx, const struct passwd *pw, struct error *err)
{
	_cleanup_free_ char *old = NULL;
	struct strbuf sb = STRBUF_INIT;
	uid_t uid = ns_outer_uid();
	const char *names[] = {"root", "nobody", pw ? pw->pw_name : "root"};
	unsigned ids[] = {0, 65534, (unsigned)uid};
	int r;

	if (rootfs_read_file(ctx->rootfd, "/etc/passwd", MAX_DB, &old, NULL, err) < 0)
		return -1;
	strbuf_addf(&sb, "root:x:0:0:root:/root:%s\n", container_shell(ctx, "/bin/bash"));
	strbuf_addstr(&sb, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	if (pw && uid != 0)
		strbuf_addf(&sb, "%s:x:%u:%u:%s:%s:%s\n", pw->pw_name, (unsigned)uid, (unsigned)ns_outer_gid(),
			    pw->pw_gecos ? pw->pw_gecos : "", pw->pw_dir, container_shell(ctx, pw->pw_shell));
	append_filtered(&sb, old, names, ids, ARRAY_SIZE(names));
	r = write_db(ctx, "/etc/passwd", old, strbuf_str(&sb), err);
	strbuf_release(&sb);
	return r;
}

static int write_group(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *old = NULL;
	struct strbuf sb = STRBUF_INIT;
	gid_t gid = ns_outer_gid();
	struct group *gr = getgrgid(gid);
	const char *names[] = {"root", "nogroup", gr ? gr->gr_name : "root"};
	unsigned ids[] = {0, 65534, (unsigned)gid};
	int r;

	if (rootfs_read_file(ctx->rootfd, "/etc/group", MAX_DB, &old, NULL, err) < 0)
		return -1;
	strbuf_addstr(&sb, "root:x:0:\nnogroup:x:65534:\n");
	if (gr && gid != 0)
		strbuf_addf(&sb, "%s:x:%u:\n", gr->gr_name, (unsigned)gid);
	append_filtered(&sb, old, names, ids, ARRAY_SIZE(names));
	r = write_db(ctx, "/etc/group", old, strbuf_str(&sb), err);
	strbuf_release(&sb);
	return r;
}

int hook_shadow(struct start_ctx *ctx, struct error *err)
{
	struct passwd *pw = getpwuid(ns_outer_uid());
	_cleanup_close_ int fd = -1;

	if (write_passwd(ctx, pw, err) < 0 || write_group(ctx, err) < 0)
		return -1;
	/* The home directory exists inside, so a login shell can cd there. */
	if (pw && ns_outer_uid() != 0 && pw->pw_dir[0] == '/' &&
	    rootfs_resolve(ctx->rootfd, pw->pw_dir, RESOLVE_NOCREATE, &fd, err) < 0) {
		_cleanup_close_ int parent = -1;
		_cleanup_free_ char *name = NULL;

		error_clear(err);
		if (rootfs_resolve_parent(ctx->rootfd, pw->pw_dir, true, &parent, &name, err) < 0 ||
		    (mkdirat(parent, name, 0755) < 0 && errno != EEXIST))
			error_clear(err); /* best effort: a read-only image still starts */
	}
	return 0;
}
