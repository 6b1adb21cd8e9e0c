/* SPDX-License-Identifier: Apache-2.0 */
/* Shell-style expansion of configuration values. enroot runs `eval echo`;
 * capsa handles the forms real configurations use without forking, and
 * falls back to bash for anything else (command substitutions), except in a
 * root context, where the values and the variables they name may come from
 * the user and a shell would run their code as root. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_EXPANDED (64 * 1024)

struct expander {
	const struct config *cfg;
	const char *p;
	struct strbuf out;
	bool need_shell;
};

static const char *lookup(const struct config *cfg, const char *name)
{
	const char *v = NULL;

	if (cfg && !strncmp(name, "ENROOT_", STRLEN("ENROOT_")))
		v = config_get(cfg, name + STRLEN("ENROOT_"));
	else if (cfg && !strncmp(name, "CAPSA_", STRLEN("CAPSA_")))
		v = config_get(cfg, name + STRLEN("CAPSA_"));
	if (v == NULL)
		v = config_getenv(cfg, name);
	return v;
}

static char *builtin_command(const char *cmd)
{
	long n;

	if (!strcmp(cmd, "id -u"))
		return xasprintf("%u", (unsigned)geteuid());
	if (!strcmp(cmd, "id -g"))
		return xasprintf("%u", (unsigned)getegid());
	if (!strcmp(cmd, "id -un") || !strcmp(cmd, "whoami")) {
		struct passwd *pw = getpwuid(geteuid());
		return pw ? xstrdup(pw->pw_name) : xasprintf("%u", (unsigned)geteuid());
	}
	if (!strcmp(cmd, "nproc")) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		return xasprintf("%ld", n > 0 ? n : 1);
	}
	return NULL;
}

static void expand_command(struct expander *e)
{
	const char *end = strchr(e->p, ')');
	_cleanup_free_ char *cmd = NULL;
	char *res;

	if (end == NULL) {
		e->need_shell = true;
		return;
	}
	cmd = xstrndup(e->p, (size_t)(end - e->p));
	res = builtin_command(cmd);
	if (res == NULL) {
		e->need_shell = true;
		return;
	}
	strbuf_addstr(&e->out, res);
	free(res);
	e->p = end + 1;
}

static void expand_braced(struct expander *e)
{
	const char *end = strchr(e->p, '}');
	_cleanup_free_ char *inner = NULL;
	const char *val;
	char *op;

	if (end == NULL) {
		e->need_shell = true;
		return;
	}
	inner = xstrndup(e->p, (size_t)(end - e->p));
	e->p = end + 1;
	op = inner + strspn(inner, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	if (*op == '\0') {
		val = lookup(e->cfg, inner);
		strbuf_addstr(&e->out, val ? val : "");
		return;
	}
	if (!strncmp(op, ":-", 2) || *op == '-') {
		bool colon = op[0] == ':';
		const char *word = op + (colon ? 2 : 1);

		*op = '\0';
		val = lookup(e->cfg, inner);
		if (val == NULL || (colon && *val == '\0'))
			val = word;
		strbuf_addstr(&e->out, val);
		return;
	}
	e->need_shell = true;
}

static void expand_dollar(struct expander *e)
{
	const char *start = e->p;
	_cleanup_free_ char *name = NULL;
	const char *val;

	if (*e->p == '(') {
		e->p++;
		expand_command(e);
		return;
	}
	if (*e->p == '{') {
		e->p++;
		expand_braced(e);
		return;
	}
	while (isalnum((unsigned char)*e->p) || *e->p == '_')
		e->p++;
	if (e->p == start) {
		strbuf_addch(&e->out, '$');
		return;
	}
	name = xstrndup(start, (size_t)(e->p - start));
	val = lookup(e->cfg, name);
	strbuf_addstr(&e->out, val ? val : "");
}

static void expand_word(struct expander *e)
{
	bool dq = false, space = false;

	while (*e->p && !e->need_shell) {
		char c = *e->p++;

		if (!dq && (c == ' ' || c == '\t')) {
			space = e->out.len > 0;
			continue;
		}
		if (space) {
			strbuf_addch(&e->out, ' ');
			space = false;
		}
		if (c == '"') {
			dq = !dq;
		} else if (c == '\'' && !dq) {
			const char *end = strchr(e->p, '\'');
			if (end == NULL)
				end = e->p + strlen(e->p);
			strbuf_add(&e->out, e->p, (size_t)(end - e->p));
			e->p = *end ? end + 1 : end;
		} else if (c == '\\' && *e->p) {
			strbuf_addch(&e->out, *e->p++);
		} else if (c == '$') {
			expand_dollar(e);
		} else if (c == '`') {
			e->need_shell = true;
		} else if (c == '~' && e->out.len == 0 && !dq && (*e->p == '/' || *e->p == '\0')) {
			const char *home = config_getenv(e->cfg, "HOME");
			strbuf_addstr(&e->out, home ? home : "~");
		} else {
			strbuf_addch(&e->out, c);
		}
	}
}

static int expand_with_bash(const struct config *cfg, const char *raw, char **ret, struct error *err)
{
	struct strv env = STRV_INIT;
	char *argv[] = {(char *)"/bin/bash", (char *)"--norc", (char *)"--noprofile", (char *)"-c",
			(char *)"eval echo \"$1\"", (char *)"bash", (char *)raw, NULL};
	extern char **environ;
	struct proc_output res = PROC_OUTPUT_INIT;
	int r;

	if (cfg && cfg->mode == CONFIG_ROOT)
		return error_set(err, 0, "configuration value '%s' needs a shell, which is never run in a root context",
				 raw);
	proc_helper_env(environ, &env);
	if (cfg)
		config_export(cfg, &env);
	r = proc_capture(argv, strv_argv(&env), NULL, MAX_EXPANDED, &res, err);
	strv_free(&env);
	if (r < 0)
		return r;
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0)
		r = error_set(err, 0, "failed to expand configuration value '%s'", raw);
	else if (res.truncated)
		r = error_set(err, E2BIG, "configuration value too long");
	if (r < 0) {
		proc_output_done(&res);
		return r;
	}
	res.out[strcspn(res.out, "\n")] = '\0';
	*ret = TAKE_PTR(res.out);
	return 0;
}

int config_expand(const struct config *cfg, const char *raw, char **ret, struct error *err)
{
	struct expander e = {cfg, raw, STRBUF_INIT, false};

	expand_word(&e);
	if (e.need_shell) {
		strbuf_release(&e.out);
		return expand_with_bash(cfg, raw, ret, err);
	}
	if (e.out.len > MAX_EXPANDED) {
		strbuf_release(&e.out);
		return error_set(err, E2BIG, "configuration value too long");
	}
	*ret = strbuf_detach(&e.out);
	return 0;
}
