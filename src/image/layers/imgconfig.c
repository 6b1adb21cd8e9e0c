/* SPDX-License-Identifier: Apache-2.0 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "image/layers/imgconfig.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_ITEMS 65536

static char *json_str(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return xstrdup(json_object_get_string(v));
}

static int str_array(json_object *obj, const char *key, struct strv *out, struct error *err)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(obj, key, &arr) || json_object_is_type(arr, json_type_null))
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return error_set(err, 0, "invalid image config: '%s' is not an array", key);
	n = json_object_array_length(arr);
	if (n > MAX_ITEMS)
		return error_set(err, 0, "invalid image config: '%s' has too many entries", key);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_string))
			return error_set(err, 0, "invalid image config: '%s' holds a non-string", key);
		strv_push(out, json_object_get_string(e));
	}
	return 0;
}

/* Volume keys become bind sources under the rootfs at start time, so only
 * plain absolute paths are kept (containerd CVE-2022-23648 class). */
static bool volume_ok(const char *v)
{
	if (v[0] != '/' || strpbrk(v, " \t\n\\"))
		return false;
	for (const char *p = v; (p = strstr(p, "..")) != NULL; p += 2) {
		if ((p == v || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return false;
	}
	return true;
}

/* Labels become `# KEY VALUE` comment lines of /etc/rc: a line break in
 * either would start a command. */
static char *one_line(const char *s)
{
	char *copy = xstrdup(s);

	for (char *p = copy; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	return copy;
}

static int parse_objects(json_object *cfg, struct image_config *c, struct error *err)
{
	json_object *labels, *volumes;

	if (json_object_object_get_ex(cfg, "Labels", &labels) && json_object_is_type(labels, json_type_object)) {
		json_object_object_foreach(labels, key, val)
		{
			const char *v = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "";

			strv_push_take(&c->labels, one_line(key));
			strv_push_take(&c->labels, one_line(v));
		}
	}
	if (json_object_object_get_ex(cfg, "Volumes", &volumes) && json_object_is_type(volumes, json_type_object)) {
		json_object_object_foreach(volumes, key, val)
		{
			(void)val;
			if (volume_ok(key))
				strv_push(&c->volumes, key);
		}
		if (c->volumes.n > 1)
			qsort(c->volumes.v, c->volumes.n, sizeof(char *), strv_sort_cmp);
	}
	if (c->labels.n / 2 > MAX_ITEMS || c->volumes.n > MAX_ITEMS)
		return error_set(err, 0, "invalid image config: too many labels or volumes");
	return 0;
}

int image_config_parse(const char *json, size_t len, struct image_config *ret, struct error *err)
{
	json_tokener *tok;
	json_object *root, *cfg = NULL;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (len > IMGCONFIG_MAX_SIZE)
		return error_set(err, 0, "invalid image config: larger than %d bytes", IMGCONFIG_MAX_SIZE);
	tok = json_tokener_new_ex(64);
	root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return error_set(err, 0, "invalid image config: not a JSON object");
	}
	ret->architecture = json_str(root, "architecture");
	if (json_object_object_get_ex(root, "rootfs", &cfg) && json_object_is_type(cfg, json_type_object))
		r = str_array(cfg, "diff_ids", &ret->diff_ids, err);
	cfg = NULL;
	ret->os = json_str(root, "os");
	if (!json_object_object_get_ex(root, "config", &cfg) && !json_object_object_get_ex(root, "Config", &cfg))
		cfg = NULL;
	if (r == 0 && cfg && json_object_is_type(cfg, json_type_object)) {
		ret->workdir = json_str(cfg, "WorkingDir");
		r = str_array(cfg, "Env", &ret->env, err);
		if (r == 0)
			r = str_array(cfg, "Entrypoint", &ret->entrypoint, err);
		if (r == 0)
			r = str_array(cfg, "Cmd", &ret->cmd, err);
		if (r == 0)
			r = parse_objects(cfg, ret, err);
	}
	json_object_put(root);
	if (ret->workdir == NULL || *ret->workdir == '\0') {
		free(ret->workdir);
		ret->workdir = xstrdup("/");
	}
	if (r < 0)
		image_config_done(ret);
	return r;
}

void image_config_done(struct image_config *c)
{
	free(c->architecture);
	free(c->os);
	free(c->workdir);
	strv_free(&c->env);
	strv_free(&c->entrypoint);
	strv_free(&c->cmd);
	strv_free(&c->labels);
	strv_free(&c->volumes);
	strv_free(&c->diff_ids);
	memset(c, 0, sizeof(*c));
}

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

void shell_quote(const char *s, struct strbuf *out)
{
	if (printable(s)) {
		strbuf_addch(out, '\'');
		for (const char *p = s; *p; p++) {
			if (*p == '\'')
				strbuf_addstr(out, "'\\''");
			else
				strbuf_addch(out, *p);
		}
		strbuf_addch(out, '\'');
		return;
	}
	strbuf_addstr(out, "$'");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		static const char esc[] = "\a a\b b\t t\n n\v v\f f\r r\033 E";
		const char *e = *p < 0x20 ? strchr(esc, *p) : NULL;

		if (e)
			strbuf_addf(out, "\\%c", e[2]);
		else if (*p == '\'' || *p == '\\')
			strbuf_addf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			strbuf_addf(out, "\\%03o", *p);
		else
			strbuf_addch(out, (char)*p);
	}
	strbuf_addch(out, '\'');
}

/* enroot writes WORKDIR inside double quotes; escape what would expand. */
static void add_dquoted(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '"');
	for (const char *p = s; *p; p++) {
		if (strchr("\"$`\\", *p))
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *p);
	}
	strbuf_addch(sb, '"');
}

/* ${a[@]@Q} inside enroot's template: words joined by single spaces, so
 * an empty Entrypoint leaves "exec  ..." with two spaces, byte for byte. */
static void add_quoted(struct strbuf *sb, const struct strv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		if (i > 0)
			strbuf_addch(sb, ' ');
		shell_quote(v->v[i], sb);
	}
}

char *image_config_rc(const struct image_config *c, const char *provenance)
{
	struct strbuf sb = STRBUF_INIT;
	struct strv sh = STRV_INIT;
	const struct strv *cmd = &c->cmd;

	strbuf_addf(&sb, "# enroot-provenance: %s\n", provenance);
	for (size_t i = 0; i + 1 < c->labels.n; i += 2)
		strbuf_addf(&sb, "# %s %s\n", c->labels.v[i], c->labels.v[i + 1]);
	strbuf_addch(&sb, '\n');
	if (c->entrypoint.n == 0 && c->cmd.n == 0) {
		strv_push(&sh, "/bin/sh");
		cmd = &sh;
	}
	strbuf_addstr(&sb, "mkdir -p ");
	add_dquoted(&sb, c->workdir);
	strbuf_addstr(&sb, " 2> /dev/null\ncd ");
	add_dquoted(&sb, c->workdir);
	strbuf_addstr(&sb, " && unset OLDPWD || exit 1\n\n");
	strbuf_addstr(&sb, "if [ -s /etc/rc.local ]; then\n    . /etc/rc.local\nfi\n\n");
	strbuf_addstr(&sb, "if [ $# -gt 0 ]; then\n    exec ");
	add_quoted(&sb, &c->entrypoint);
	strbuf_addstr(&sb, " \"$@\"\nelse\n    exec ");
	add_quoted(&sb, &c->entrypoint);
	strbuf_addch(&sb, ' ');
	add_quoted(&sb, cmd);
	strbuf_addstr(&sb, "\nfi\n");
	strv_free(&sh);
	return strbuf_detach(&sb);
}

char *image_config_rc_local(void)
{
	return xstrdup("# This file is sourced by /etc/rc when the container starts.\n"
		       "# It can be used to manipulate the entrypoint or the command of the container.\n");
}

char *image_config_environment(const struct image_config *c)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < c->env.n; i++)
		strbuf_addf(&sb, "%s\n", c->env.v[i]);
	return strbuf_detach(&sb);
}

char *image_config_fstab(const struct image_config *c)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < c->volumes.n; i++)
		strbuf_addf(&sb, "${ENROOT_ROOTFS}%s %s none x-create=dir,bind,rw,nosuid,nodev\n", c->volumes.v[i],
			    c->volumes.v[i]);
	return strbuf_detach(&sb);
}
