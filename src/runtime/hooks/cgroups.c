/* SPDX-License-Identifier: Apache-2.0 */
/* 10-cgroups: show the container its own cgroup subtree, read-only, where
 * the host has it mounted (v1 controllers and cgroup2). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "runtime/environ.h"
#include "runtime/hooks.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_PROC_FILE (1024 * 1024)

struct mnt {
	char *root, *point, *fstype, *super;
};

static bool parse_mountinfo_line(char *line, struct mnt *m)
{
	char *f[10], *save = NULL, *sep;
	int n = 0;

	sep = strstr(line, " - ");
	if (sep == NULL)
		return false;
	*sep = '\0';
	for (char *t = strtok_r(line, " ", &save); t && n < 6; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n < 5)
		return false;
	m->root = f[3];
	m->point = f[4];
	save = NULL;
	m->fstype = strtok_r(sep + 3, " ", &save);
	strtok_r(NULL, " ", &save);
	m->super = strtok_r(NULL, " \n", &save);
	return m->fstype && m->super;
}

static bool has_option(const char *opts, const char *opt)
{
	size_t len = strlen(opt);

	for (const char *p = opts; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, opt, len) && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

static bool controllers_match(const struct mnt *m, const char *ctrls)
{
	_cleanup_free_ char *copy = xstrdup(ctrls);
	char *save = NULL;

	if (*ctrls == '\0')
		return !strcmp(m->fstype, "cgroup2");
	if (strcmp(m->fstype, "cgroup"))
		return false;
	for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		if (!has_option(m->super, c))
			return false;
	}
	return true;
}

static int bind_subtree(struct start_ctx *ctx, const char *mountinfo, const char *ctrls, const char *path,
			struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(mountinfo);
	char *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mnt m;
		size_t rlen;
		_cleanup_free_ char *entry = NULL;

		if (!parse_mountinfo_line(line, &m) || !controllers_match(&m, ctrls))
			continue;
		rlen = strcmp(m.root, "/") ? strlen(m.root) : 0;
		if (strncmp(path, m.root, rlen) || strpbrk(path, " \t\\"))
			return 0;
		entry = xasprintf("%s%s %s none x-create=dir,rbind,nosuid,noexec,nodev,ro,nofail,silent", m.point,
				  path + rlen, m.point);
		return hook_mount(ctx, entry, err);
	}
	return 0;
}

int hook_cgroups(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *cgroups = NULL, *mountinfo = NULL;
	char *save = NULL;

	if (read_file_at(AT_FDCWD, "/proc/self/cgroup", MAX_PROC_FILE, &cgroups, NULL, err) < 0 ||
	    read_file_at(AT_FDCWD, "/proc/self/mountinfo", MAX_PROC_FILE, &mountinfo, NULL, err) < 0)
		return -1;
	for (char *line = strtok_r(cgroups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':');
		char *path = ctrls ? strchr(ctrls + 1, ':') : NULL;

		if (path == NULL)
			continue;
		*path++ = '\0';
		if (bind_subtree(ctx, mountinfo, ctrls + 1, path, err) < 0)
			return -1;
	}
	return hook_mount(ctx, "none /sys/fs/cgroup none rbind,remount,nosuid,noexec,nodev,ro,nofail,silent", err);
}
