/* SPDX-License-Identifier: Apache-2.0 */
/* CDI device resolution: which spec files define the requested devices.
 * As the CDI spec has it, a later spec directory takes precedence over an
 * earlier one for the same device, and two specs in one directory defining
 * the same device are a conflict. */
#include <fcntl.h>
#include <string.h>

#include "gpu/cdi.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct spec_set {
	struct cdi_spec *v;
	size_t *dir; /* index of the directory each spec came from */
	size_t n;
};

struct found {
	const struct cdi_spec *spec;
	const struct cdi_device *dev;
	size_t dir;
};

static bool is_spec_file(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".json")) || (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int load_file(struct spec_set *set, const char *path, size_t dir, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (set->n >= CDI_MAX_SPEC_FILES)
		return error_set(err, 0, "more than %d CDI spec files", CDI_MAX_SPEC_FILES);
	if (read_file_at(AT_FDCWD, path, CDI_MAX_SPEC_SIZE, &buf, &len, err) < 0)
		return error_prefix(err, "CDI spec '%s'", path);
	set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
	set->dir = xrealloc(set->dir, (set->n + 1) * sizeof(*set->dir));
	if (cdi_spec_parse(buf, len, path, &set->v[set->n], err) < 0)
		return -1;
	set->dir[set->n++] = dir;
	return 0;
}

static int load_dir(struct spec_set *set, const char *dir, size_t index, struct error *err)
{
	struct strv files = STRV_INIT;
	int r = list_dir_sorted(dir, NULL, &files, err);

	for (size_t i = 0; i < files.n && r == 0; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, files.v[i]);

		if (is_spec_file(files.v[i]) && path_is_reg(path))
			r = load_file(set, path, index, err);
	}
	strv_free(&files);
	return r;
}

static int load_all(const char *dirs, struct spec_set *set, struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(dirs ? dirs : "");
	char *save = NULL;
	size_t index = 0;

	for (char *d = strtok_r(copy, " \t\n:", &save); d; d = strtok_r(NULL, " \t\n:", &save)) {
		if (load_dir(set, d, index++, err) < 0)
			return -1;
	}
	return 0;
}

/* Record one definition of a device: a later directory wins, the same one
 * is a conflict. */
static int note(struct found *f, const struct cdi_spec *s, const struct cdi_device *d, size_t dir,
		struct error *err)
{
	if (f->spec && f->dir == dir)
		return error_set(err, 0, "CDI device '%s=%s' is defined by both '%s' and '%s'", s->kind, d->name,
				 f->spec->file, s->file);
	if (f->spec == NULL || dir > f->dir)
		*f = (struct found){s, d, dir};
	return 0;
}

static int find_device(const struct spec_set *set, const char *kind, const char *name, struct found *ret,
		       struct error *err)
{
	struct found f = {0};

	for (size_t i = 0; i < set->n; i++) {
		const struct cdi_spec *s = &set->v[i];

		if (strcmp(s->kind, kind))
			continue;
		for (size_t j = 0; j < s->n_devices; j++) {
			if (!strcmp(s->devices[j].name, name) && note(&f, s, &s->devices[j], set->dir[i], err) < 0)
				return -1;
		}
	}
	*ret = f;
	return 0;
}

struct selection {
	struct found *v;
	size_t n;
};

static void select_found(struct selection *sel, const struct found *f)
{
	for (size_t i = 0; i < sel->n; i++) {
		if (sel->v[i].dev == f->dev)
			return;
	}
	sel->v = xrealloc(sel->v, (sel->n + 1) * sizeof(*sel->v));
	sel->v[sel->n++] = *f;
}

/* KIND=all without a device named "all" (nvidia-ctk writes one): every
 * device of that kind; bare "all": every device of every spec. */
static int select_all(const struct spec_set *set, const char *kind, struct selection *sel, struct error *err)
{
	size_t before = sel->n;

	for (size_t i = 0; i < set->n; i++) {
		const struct cdi_spec *s = &set->v[i];

		if (kind && strcmp(s->kind, kind))
			continue;
		for (size_t j = 0; j < s->n_devices; j++) {
			struct found f;

			if (find_device(set, s->kind, s->devices[j].name, &f, err) < 0)
				return -1;
			select_found(sel, &f);
		}
	}
	if (sel->n == before)
		return error_set(err, 0, "no CDI device of kind '%s' in the CDI spec directories",
				 kind ? kind : "any");
	return 0;
}

static int select_request(const struct spec_set *set, const char *req, struct selection *sel,
			  struct error *err)
{
	const char *eq = strchr(req, '=');
	_cleanup_free_ char *kind = NULL;
	struct found f;

	if (!strcmp(req, "all"))
		return select_all(set, NULL, sel, err);
	if (!cdi_is_qualified_name(req))
		return error_set(err, 0, "invalid CDI device '%s' (expected VENDOR/CLASS=NAME)", req);
	kind = xstrndup(req, (size_t)(eq - req));
	if (find_device(set, kind, eq + 1, &f, err) < 0)
		return -1;
	if (f.spec) {
		select_found(sel, &f);
		return 0;
	}
	if (!strcmp(eq + 1, "all"))
		return select_all(set, kind, sel, err);
	return error_set(err, 0, "CDI device '%s' not found in the CDI spec directories", req);
}

/* Each spec's top-level edits once, before its first device's. */
static void collect(const struct selection *sel, struct cdi_edits *ret)
{
	for (size_t i = 0; i < sel->n; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen = seen || sel->v[j].spec == sel->v[i].spec;
		if (!seen)
			cdi_edits_append(ret, &sel->v[i].spec->edits);
		cdi_edits_append(ret, &sel->v[i].dev->edits);
	}
}

static void spec_set_free(struct spec_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		cdi_spec_done(&set->v[i]);
	free(set->v);
	free(set->dir);
}

int cdi_resolve(const char *dirs, const struct strv *requests, struct cdi_edits *ret, struct error *err)
{
	struct spec_set set = {0};
	struct selection sel = {0};
	int r = 0;

	if (requests->n > CDI_MAX_REQUESTS)
		return error_set(err, 0, "more than %d CDI device requests", CDI_MAX_REQUESTS);
	r = load_all(dirs, &set, err);
	for (size_t i = 0; i < requests->n && r == 0; i++)
		r = select_request(&set, requests->v[i], &sel, err);
	if (r == 0)
		collect(&sel, ret);
	spec_set_free(&set);
	free(sel.v);
	return r;
}

int cdi_check(const char *dirs, size_t *ret_specs, size_t *ret_devices, struct error *err)
{
	struct spec_set set = {0};
	struct selection sel = {0};
	int r = load_all(dirs, &set, err);

	if (r == 0 && set.n > 0)
		r = select_all(&set, NULL, &sel, err);
	*ret_specs = set.n;
	*ret_devices = sel.n;
	spec_set_free(&set);
	free(sel.v);
	return r;
}

static void copy_strv(struct strv *dst, const struct strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		strv_push(dst, src->v[i]);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src)
{
	copy_strv(&dst->env, &src->env);
	dst->nodes = xrealloc(dst->nodes, (dst->n_nodes + src->n_nodes + 1) * sizeof(*dst->nodes));
	for (size_t i = 0; i < src->n_nodes; i++) {
		const struct cdi_node *s = &src->nodes[i];

		dst->nodes[dst->n_nodes++] = (struct cdi_node){xstrdup(s->path), dup_or_null(s->host_path),
							       dup_or_null(s->type), dup_or_null(s->permissions),
							       s->major, s->minor};
	}
	dst->mounts = xrealloc(dst->mounts, (dst->n_mounts + src->n_mounts + 1) * sizeof(*dst->mounts));
	for (size_t i = 0; i < src->n_mounts; i++) {
		struct cdi_mount *m = &dst->mounts[dst->n_mounts++];

		*m = (struct cdi_mount){xstrdup(src->mounts[i].host_path), xstrdup(src->mounts[i].container_path),
					STRV_INIT};
		copy_strv(&m->options, &src->mounts[i].options);
	}
	dst->hooks = xrealloc(dst->hooks, (dst->n_hooks + src->n_hooks + 1) * sizeof(*dst->hooks));
	for (size_t i = 0; i < src->n_hooks; i++) {
		struct cdi_hook *h = &dst->hooks[dst->n_hooks++];

		*h = (struct cdi_hook){xstrdup(src->hooks[i].hook_name), xstrdup(src->hooks[i].path), STRV_INIT};
		copy_strv(&h->args, &src->hooks[i].args);
	}
}
