/* SPDX-License-Identifier: Apache-2.0 */
/* The CDI spec parser. libyaml reads both forms (JSON is YAML's flow style)
 * and is loaded with dlopen only when a CDI device is requested, so a plain
 * `capsa start` maps nothing more than libc and libseccomp. The document
 * API never expands aliases, but a walk would: every node visit counts
 * against a cap, so an alias bomb is an error, not a hang. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "gpu/cdi.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_VISITS (1024 * 1024)

static struct {
	int (*parser_initialize)(yaml_parser_t *parser);
	void (*parser_delete)(yaml_parser_t *parser);
	void (*set_input_string)(yaml_parser_t *parser, const unsigned char *input, size_t size);
	int (*parser_load)(yaml_parser_t *parser, yaml_document_t *document);
	void (*document_delete)(yaml_document_t *document);
	bool loaded;
} yl;

#define YSYM(name, field) {name, (void **)&yl.field}

static int load_libyaml(struct error *err)
{
	const struct {
		const char *name;
		void **slot;
	} syms[] = {
		YSYM("yaml_parser_initialize", parser_initialize), YSYM("yaml_parser_delete", parser_delete),
		YSYM("yaml_parser_set_input_string", set_input_string), YSYM("yaml_parser_load", parser_load),
		YSYM("yaml_document_delete", document_delete),
	};
	void *handle;

	if (yl.loaded)
		return 0;
	handle = dlopen("libyaml-0.so.2", RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
		return error_set(err, 0, "CDI devices need libyaml (libyaml-0.so.2, Debian libyaml-0-2): %s",
				 dlerror());
	for (size_t i = 0; i < ARRAY_SIZE(syms); i++) {
		*syms[i].slot = dlsym(handle, syms[i].name);
		if (*syms[i].slot == NULL) {
			dlclose(handle);
			return error_set(err, 0, "libyaml-0.so.2 lacks %s", syms[i].name);
		}
	}
	yl.loaded = true;
	return 0;
}

struct walk {
	yaml_document_t *doc;
	const char *file;
	size_t visits;
	struct error *err;
};

static int fail(struct walk *w, const yaml_node_t *n, const char *what, const char *problem)
{
	return error_set(w->err, 0, "CDI spec '%s': line %zu: '%s' %s", w->file, n ? n->start_mark.line + 1 : 0,
			 what, problem);
}

static yaml_node_t *get_node(struct walk *w, int index)
{
	yaml_node_t *n;

	if (index < 1 || index > w->doc->nodes.top - w->doc->nodes.start)
		return NULL;
	n = w->doc->nodes.start + index - 1;
	if (++w->visits > MAX_VISITS) {
		fail(w, n, "document", "has too many nodes (an alias bomb?)");
		return NULL;
	}
	return n;
}

/* YAML's null (absent value, ~, null), which JSON writers emit as null. */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int get_str(struct walk *w, const yaml_node_t *n, const char *what, char **ret)
{
	size_t len;

	if (n->type != YAML_SCALAR_NODE)
		return fail(w, n, what, "must be a string");
	len = n->data.scalar.length;
	if (len > CDI_MAX_STRING)
		return fail(w, n, what, "is too long");
	if (memchr(n->data.scalar.value, '\0', len))
		return fail(w, n, what, "holds a NUL byte");
	free(*ret);
	*ret = xstrndup((const char *)n->data.scalar.value, len);
	return 0;
}

static int get_path(struct walk *w, const yaml_node_t *n, const char *what, char **ret)
{
	if (get_str(w, n, what, ret) < 0)
		return -1;
	if ((*ret)[0] != '/')
		return fail(w, n, what, "must be an absolute path");
	return 0;
}

static int get_int(struct walk *w, const yaml_node_t *n, const char *what, int64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	char *end;
	long long v;

	if (get_str(w, n, what, &s) < 0)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *s == '\0' || *end || v < 0 || v > UINT32_MAX)
		return fail(w, n, what, "must be a number from 0 to 4294967295");
	*ret = v;
	return 0;
}

typedef int (*pair_fn)(struct walk *w, const char *key, yaml_node_t *val, void *arg);
typedef int (*item_fn)(struct walk *w, yaml_node_t *item, void *arg);

static int map_each(struct walk *w, yaml_node_t *n, const char *what, pair_fn fn, void *arg)
{
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(w, n, what, "must be a mapping");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(w, p->key), *v = get_node(w, p->value);

		if (k == NULL || v == NULL)
			return w->err->msg[0] ? -1 : fail(w, n, what, "has a broken entry");
		if (k->type != YAML_SCALAR_NODE)
			return fail(w, k, what, "has a key that is not a string");
		if (fn(w, (const char *)k->data.scalar.value, v, arg) < 0)
			return -1;
	}
	return 0;
}

static int seq_each(struct walk *w, yaml_node_t *n, const char *what, item_fn fn, void *arg)
{
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(w, n, what, "must be a list");
	if (n->data.sequence.items.top - n->data.sequence.items.start > CDI_MAX_ITEMS)
		return fail(w, n, what, "has too many entries");
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = get_node(w, *i);

		if (item == NULL)
			return w->err->msg[0] ? -1 : fail(w, n, what, "has a broken entry");
		if (fn(w, item, arg) < 0)
			return -1;
	}
	return 0;
}

static int push_str(struct walk *w, yaml_node_t *item, void *arg)
{
	char *s = NULL;

	if (get_str(w, item, "list entry", &s) < 0)
		return -1;
	strv_push_take(arg, s);
	return 0;
}

static int push_env(struct walk *w, yaml_node_t *item, void *arg)
{
	struct strv *env = arg;
	const char *s;

	if (push_str(w, item, env) < 0)
		return -1;
	s = env->v[env->n - 1];
	if (*s == '=' || strchr(s, '=') == NULL)
		return fail(w, item, s, "is not an env entry of the form NAME=VALUE");
	return 0;
}

/* Grow an array by one zeroed element (lists are capped by seq_each). */
static void *grow(void *v, size_t *n, size_t size)
{
	char *p = xrealloc(v, (*n + 1) * size);

	memset(p + *n * size, 0, size);
	(*n)++;
	return p;
}

static int node_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_node *d = arg;

	if (!strcmp(key, "path"))
		return get_path(w, val, key, &d->path);
	if (!strcmp(key, "hostPath"))
		return get_path(w, val, key, &d->host_path);
	if (!strcmp(key, "type"))
		return get_str(w, val, key, &d->type);
	if (!strcmp(key, "permissions"))
		return get_str(w, val, key, &d->permissions);
	if (!strcmp(key, "major"))
		return get_int(w, val, key, &d->major);
	if (!strcmp(key, "minor"))
		return get_int(w, val, key, &d->minor);
	return 0; /* fileMode, uid, gid: a bind mount keeps the host node's */
}

static int add_node(struct walk *w, yaml_node_t *item, void *arg)
{
	struct cdi_edits *e = arg;
	struct cdi_node *d;

	e->nodes = grow(e->nodes, &e->n_nodes, sizeof(*e->nodes));
	d = &e->nodes[e->n_nodes - 1];
	d->major = d->minor = -1;
	if (map_each(w, item, "deviceNodes entry", node_pair, d) < 0)
		return -1;
	if (d->path == NULL)
		return fail(w, item, "deviceNodes entry", "has no 'path'");
	if (d->type && strcmp(d->type, "c") && strcmp(d->type, "b"))
		return fail(w, item, d->type, "is not a supported device type (c or b)");
	if (d->permissions && d->permissions[strspn(d->permissions, "rwm")] != '\0')
		return fail(w, item, d->permissions, "are not device permissions (r, w, m)");
	return 0;
}

static int mount_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_mount *m = arg;
	_cleanup_free_ char *type = NULL;

	if (!strcmp(key, "hostPath"))
		return get_path(w, val, key, &m->host_path);
	if (!strcmp(key, "containerPath"))
		return get_path(w, val, key, &m->container_path);
	if (!strcmp(key, "options"))
		return seq_each(w, val, key, push_str, &m->options);
	if (!strcmp(key, "type")) {
		if (get_str(w, val, key, &type) < 0)
			return -1;
		if (strcmp(type, "bind") && strcmp(type, "none") && strcmp(type, ""))
			return fail(w, val, type, "is not a supported mount type (capsa binds host paths)");
	}
	return 0;
}

static int add_mount(struct walk *w, yaml_node_t *item, void *arg)
{
	struct cdi_edits *e = arg;
	struct cdi_mount *m;

	e->mounts = grow(e->mounts, &e->n_mounts, sizeof(*e->mounts));
	m = &e->mounts[e->n_mounts - 1];
	if (map_each(w, item, "mounts entry", mount_pair, m) < 0)
		return -1;
	if (m->host_path == NULL || m->container_path == NULL)
		return fail(w, item, "mounts entry", "needs 'hostPath' and 'containerPath'");
	for (size_t i = 0; i < m->options.n; i++) {
		if (strpbrk(m->options.v[i], " \t\n,\\"))
			return fail(w, item, m->options.v[i], "is not a mount option");
	}
	return 0;
}

static int hook_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_hook *h = arg;

	if (!strcmp(key, "hookName"))
		return get_str(w, val, key, &h->hook_name);
	if (!strcmp(key, "path"))
		return get_path(w, val, key, &h->path);
	if (!strcmp(key, "args"))
		return seq_each(w, val, key, push_str, &h->args);
	return 0; /* env, timeout: capsa runs no hook binary */
}

static int add_hook(struct walk *w, yaml_node_t *item, void *arg)
{
	struct cdi_edits *e = arg;
	struct cdi_hook *h;

	e->hooks = grow(e->hooks, &e->n_hooks, sizeof(*e->hooks));
	h = &e->hooks[e->n_hooks - 1];
	if (map_each(w, item, "hooks entry", hook_pair, h) < 0)
		return -1;
	if (h->hook_name == NULL || h->path == NULL)
		return fail(w, item, "hooks entry", "needs 'hookName' and 'path'");
	return 0;
}

static int edits_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_edits *e = arg;

	if (!strcmp(key, "env"))
		return seq_each(w, val, key, push_env, &e->env);
	if (!strcmp(key, "deviceNodes"))
		return seq_each(w, val, key, add_node, e);
	if (!strcmp(key, "mounts"))
		return seq_each(w, val, key, add_mount, e);
	if (!strcmp(key, "hooks"))
		return seq_each(w, val, key, add_hook, e);
	return 0; /* additionalGids, intelRdt, netDevices: not applicable */
}

static bool name_char(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(extra, c);
}

/* [A-Za-z0-9] first and last, extra characters in between. */
static bool valid_part(const char *s, size_t n, const char *extra)
{
	if (n == 0 || !name_char(s[0], "") || !name_char(s[n - 1], ""))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0' || !name_char(s[i], extra))
			return false;
	}
	return true;
}

/* vendor.com/class, as the CDI spec names a kind. */
static bool valid_kind(const char *kind)
{
	const char *slash = strchr(kind, '/');

	return slash && valid_part(kind, (size_t)(slash - kind), "_.-") &&
	       valid_part(slash + 1, strlen(slash + 1), "_-");
}

static bool valid_device_name(const char *name)
{
	return valid_part(name, strlen(name), "_.:-");
}

bool cdi_is_qualified_name(const char *name)
{
	const char *eq = name ? strchr(name, '=') : NULL;
	_cleanup_free_ char *kind = NULL;

	if (eq == NULL || strlen(name) > CDI_MAX_STRING)
		return false;
	kind = xstrndup(name, (size_t)(eq - name));
	return valid_kind(kind) && valid_device_name(eq + 1);
}

static int device_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_device *d = arg;

	if (!strcmp(key, "name"))
		return get_str(w, val, key, &d->name);
	if (!strcmp(key, "containerEdits"))
		return map_each(w, val, key, edits_pair, &d->edits);
	return 0; /* annotations */
}

static int add_device(struct walk *w, yaml_node_t *item, void *arg)
{
	struct cdi_spec *s = arg;
	struct cdi_device *d;

	if (s->n_devices >= CDI_MAX_DEVICES)
		return fail(w, item, "devices", "has too many entries");
	s->devices = grow(s->devices, &s->n_devices, sizeof(*s->devices));
	d = &s->devices[s->n_devices - 1];
	if (map_each(w, item, "devices entry", device_pair, d) < 0)
		return -1;
	if (d->name == NULL)
		return fail(w, item, "devices entry", "has no 'name'");
	if (!valid_device_name(d->name))
		return fail(w, item, d->name, "is not a valid device name");
	for (size_t i = 0; i + 1 < s->n_devices; i++) {
		if (!strcmp(s->devices[i].name, d->name))
			return fail(w, item, d->name, "is defined twice");
	}
	return 0;
}

static int spec_pair(struct walk *w, const char *key, yaml_node_t *val, void *arg)
{
	struct cdi_spec *s = arg;

	if (!strcmp(key, "cdiVersion"))
		return get_str(w, val, key, &s->version);
	if (!strcmp(key, "kind"))
		return get_str(w, val, key, &s->kind);
	if (!strcmp(key, "devices"))
		return seq_each(w, val, key, add_device, s);
	if (!strcmp(key, "containerEdits"))
		return map_each(w, val, key, edits_pair, &s->edits);
	return 0; /* annotations */
}

/* The spec versions published so far; a newer one may mean edits capsa
 * would silently skip. */
static bool known_version(const char *v)
{
	static const char *const versions[] = {"0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0",
					       "0.8.0", "1.0.0", "1.1.0"};

	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		if (!strcmp(v, versions[i]))
			return true;
	}
	return false;
}

static int check_spec(struct walk *w, yaml_node_t *root, struct cdi_spec *s)
{
	if (s->version == NULL || s->kind == NULL)
		return fail(w, root, "spec", "needs 'cdiVersion' and 'kind'");
	if (!known_version(s->version))
		return fail(w, root, s->version, "is not a known cdiVersion (0.3.0 to 1.1.0)");
	if (!valid_kind(s->kind))
		return fail(w, root, s->kind, "is not a valid kind (vendor.com/class)");
	if (s->n_devices == 0)
		return fail(w, root, "devices", "is missing or empty");
	return 0;
}

static int walk_document(yaml_document_t *doc, const char *file, struct cdi_spec *s, struct error *err)
{
	struct walk w = {doc, file, 0, err};
	yaml_node_t *root = get_node(&w, 1);

	if (root == NULL)
		return error_set(err, 0, "CDI spec '%s': empty document", file);
	if (map_each(&w, root, "spec", spec_pair, s) < 0)
		return -1;
	return check_spec(&w, root, s);
}

int cdi_spec_parse(const char *buf, size_t len, const char *file, struct cdi_spec *ret, struct error *err)
{
	struct cdi_spec s = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	int r;

	if (len > CDI_MAX_SPEC_SIZE)
		return error_set(err, 0, "CDI spec '%s': larger than %d bytes", file, CDI_MAX_SPEC_SIZE);
	if (load_libyaml(err) < 0)
		return -1;
	if (!yl.parser_initialize(&parser))
		return error_set(err, ENOMEM, "CDI spec '%s'", file);
	yl.set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yl.parser_load(&parser, &doc)) {
		r = error_set(err, 0, "CDI spec '%s': line %zu: %s", file, parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "malformed");
		yl.parser_delete(&parser);
		return r;
	}
	r = walk_document(&doc, file, &s, err);
	yl.document_delete(&doc);
	yl.parser_delete(&parser);
	if (r < 0) {
		cdi_spec_done(&s);
		return -1;
	}
	s.file = xstrdup(file);
	*ret = s;
	return 0;
}

void cdi_edits_done(struct cdi_edits *e)
{
	strv_free(&e->env);
	for (size_t i = 0; i < e->n_nodes; i++) {
		free(e->nodes[i].path);
		free(e->nodes[i].host_path);
		free(e->nodes[i].type);
		free(e->nodes[i].permissions);
	}
	for (size_t i = 0; i < e->n_mounts; i++) {
		free(e->mounts[i].host_path);
		free(e->mounts[i].container_path);
		strv_free(&e->mounts[i].options);
	}
	for (size_t i = 0; i < e->n_hooks; i++) {
		free(e->hooks[i].hook_name);
		free(e->hooks[i].path);
		strv_free(&e->hooks[i].args);
	}
	free(e->nodes);
	free(e->mounts);
	free(e->hooks);
	*e = (struct cdi_edits){0};
}

void cdi_spec_done(struct cdi_spec *s)
{
	for (size_t i = 0; i < s->n_devices; i++) {
		free(s->devices[i].name);
		cdi_edits_done(&s->devices[i].edits);
	}
	cdi_edits_done(&s->edits);
	free(s->devices);
	free(s->file);
	free(s->version);
	free(s->kind);
	*s = (struct cdi_spec){0};
}
