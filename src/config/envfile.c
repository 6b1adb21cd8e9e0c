/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config/envfile.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

const char *env_lookup(char *const envp[], const char *name)
{
	extern char **environ;
	size_t len = strlen(name);
	const char *found = NULL;

	if (envp == NULL)
		envp = environ;
	for (char *const *e = envp; *e; e++) {
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			found = *e + len + 1;
	}
	return found;
}

static size_t name_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return n;
}

static void add_denied(struct strv *denied, const char *name)
{
	for (size_t i = 0; i < denied->n; i++) {
		if (!strcmp(denied->v[i], name))
			return;
	}
	strv_push(denied, name);
}

char *env_subst_filtered(const char *text, char *const envp[], bool (*allowed)(const char *name),
			 struct strv *ret_denied)
{
	struct strbuf sb = STRBUF_INIT;

	for (const char *p = text; *p;) {
		size_t n;

		if (p[0] == '$' && p[1] == '{' && (n = name_len(p + 2)) > 0 && p[2 + n] == '}') {
			_cleanup_free_ char *name = xstrndup(p + 2, n);
			const char *v = NULL;

			if (allowed == NULL || allowed(name))
				v = env_lookup(envp, name);
			else if (ret_denied != NULL)
				add_denied(ret_denied, name);
			if (v)
				strbuf_addstr(&sb, v);
			p += n + 3;
			continue;
		}
		strbuf_addch(&sb, *p++);
	}
	return strbuf_detach(&sb);
}

char *env_subst(const char *text, char *const envp[])
{
	return env_subst_filtered(text, envp, NULL, NULL);
}

static void normalize_line(const char *line, size_t len, struct strv *out)
{
	_cleanup_free_ char *l = NULL;
	size_t n, vlen;
	char *val;

	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	l = xstrndup(line, len);
	l[strcspn(l, "\r")] = '\0';
	n = name_len(l);
	if (n == 0 || l[n] != '=')
		return;
	if (!strncmp(l, "ENROOT_", STRLEN("ENROOT_")) || !strncmp(l, "CAPSA_", STRLEN("CAPSA_")))
		return;
	val = l + n + 1;
	vlen = strlen(val);
	if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && (val[vlen - 1] == '"' || val[vlen - 1] == '\'')) {
		val[vlen - 1] = '\0';
		memmove(val, val + 1, vlen - 1);
	}
	strv_push(out, l);
}

void env_normalize(const char *text, struct strv *out)
{
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");

		normalize_line(p, len, out);
		p += len + (p[len] == '\n');
	}
}

int env_valid_arg(const char *s)
{
	size_t n = name_len(s);

	return n > 0 && (s[n] == '\0' || s[n] == '=');
}
