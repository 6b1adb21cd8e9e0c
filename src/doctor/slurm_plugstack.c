/* SPDX-License-Identifier: Apache-2.0 */
/* plugstack.conf and its includes, read as slurmd reads them. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor/parse.h"
#include "doctor/slurm.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* Includes nest at most this deep, and no more files are read. */
#define MAX_DEPTH 4
#define MAX_FILES 256

bool slurm_present(const struct doctor_env *env)
{
	_cleanup_free_ char *conf = doctor_path(env->slurm_dir, "slurm.conf");
	_cleanup_free_ char *stack = doctor_path(env->slurm_dir, "plugstack.conf");

	return access(conf, F_OK) == 0 || access(stack, F_OK) == 0;
}

char *slurm_read(const struct doctor_env *env, const char *name)
{
	char *text = NULL;

	return doctor_read(env->slurm_dir, name, SLURM_CONF_MAX, &text) == 0 ? text : NULL;
}

const char *slurm_plugin_split(const char *entry, char *path, size_t size)
{
	size_t n = strcspn(entry, " \t");

	snprintf(path, size, "%.*s", (int)n, entry);
	return entry + n + strspn(entry + n, " \t");
}

const char *slurm_container_plugin(const char *entry)
{
	char path[4096];
	const char *base;

	slurm_plugin_split(entry, path, sizeof(path));
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!strncmp(base, "spank_capsa", 11))
		return "capsa";
	if (!strncmp(base, "spank_pyxis", 11))
		return "pyxis";
	return NULL;
}

struct walk {
	const char *dir;
	struct strv *plugins;
	unsigned files;
};

static int walk_file(struct walk *w, const char *file, int depth, struct error *err);

static int walk_include(struct walk *w, const char *pattern, int depth, struct error *err)
{
	_cleanup_free_ char *abs = pattern[0] == '/' ? xstrdup(pattern) : xasprintf("%s/%s", w->dir, pattern);
	glob_t g;
	int r = 0;

	if (depth >= MAX_DEPTH)
		return error_set(err, 0, "includes nested deeper than %d at '%s'", MAX_DEPTH, pattern);
	if (glob(abs, 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc && r == 0; i++)
		r = walk_file(w, g.gl_pathv[i], depth + 1, err);
	globfree(&g);
	return r;
}

static int walk_file(struct walk *w, const char *file, int depth, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	char arg[4096];
	size_t len;

	if (++w->files > MAX_FILES)
		return error_set(err, 0, "more than %d plugstack files", MAX_FILES);
	if (read_file_at(AT_FDCWD, file, SLURM_CONF_MAX, &text, &len, err) < 0)
		return depth == 0 && err->code == ENOENT ? (error_clear(err), 0) : -1;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int kind = plugstack_line(line, arg, sizeof(arg));

		if (kind == 1)
			strv_push(w->plugins, arg);
		else if (kind == 2 && walk_include(w, arg, depth, err) < 0)
			return error_prefix(err, "%s", file);
	}
	return 0;
}

int slurm_plugstack(const struct doctor_env *env, struct strv *plugins, char **ret_file, struct error *err)
{
	_cleanup_free_ char *conf = slurm_read(env, "slurm.conf");
	char custom[4096] = "";
	struct walk w = {env->slurm_dir, plugins, 0};

	if (conf)
		slurm_conf_match(conf, "PlugStackConfig", NULL, custom, sizeof(custom));
	*ret_file = custom[0] ? xstrdup(custom) : doctor_path(env->slurm_dir, "plugstack.conf");
	return walk_file(&w, *ret_file, 0, err);
}
