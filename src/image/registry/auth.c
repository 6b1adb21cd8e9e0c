/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/registry/auth.h"
#include "image/registry/reference.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define HEADER_MAX 8192
#define DOCKER_CONFIG_MAX (1u << 20)

extern char **environ;

/* ---- WWW-Authenticate (RFC 7235 §2.1, §4.1) ---- */

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void skip_ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static char *read_token(const char **p)
{
	const char *s = *p;

	while (is_tchar(**p))
		(*p)++;
	return *p > s ? xstrndup(s, (size_t)(*p - s)) : NULL;
}

static char *read_quoted(const char **p)
{
	struct strbuf sb = STRBUF_INIT;

	for ((*p)++; **p != '"'; (*p)++) {
		if (**p == '\\' && (*p)[1] != '\0')
			(*p)++;
		else if (**p == '\0') {
			strbuf_release(&sb);
			return NULL;
		}
		strbuf_addch(&sb, **p);
	}
	(*p)++;
	return strbuf_detach(&sb);
}

static void set_param(struct auth_challenge *c, const char *name, char *value)
{
	char **slot = NULL;

	if (!strcasecmp(name, "realm"))
		slot = &c->realm;
	else if (!strcasecmp(name, "service"))
		slot = &c->service;
	else if (!strcasecmp(name, "scope"))
		slot = &c->scope;
	else if (!strcasecmp(name, "error"))
		slot = &c->error;
	if (slot == NULL || *slot != NULL) {
		free(value); /* unknown, or a duplicate: the first one wins */
		return;
	}
	*slot = value;
}

/* After "name =": a quoted-string, a token, or (token68) more '='. */
static int read_param_value(const char **p, struct auth_challenge *c, const char *name, struct error *err)
{
	char *v;

	skip_ows(p);
	if (**p == '=' || **p == ',' || **p == '\0') {
		while (**p == '=')
			(*p)++;
		return 0; /* token68 such as "Basic abc==": carries nothing we use */
	}
	v = **p == '"' ? read_quoted(p) : read_token(p);
	if (v == NULL)
		return error_set(err, 0, "malformed WWW-Authenticate header (parameter %s)", name);
	set_param(c, name, v);
	return 0;
}

static enum auth_scheme scheme_of(const char *s)
{
	if (!strcasecmp(s, "bearer"))
		return AUTH_SCHEME_BEARER;
	if (!strcasecmp(s, "basic"))
		return AUTH_SCHEME_BASIC;
	return AUTH_SCHEME_NONE;
}

/* Keep the preferred challenge in *best: Bearer, then Basic. */
static void keep_best(struct auth_challenge *best, struct auth_challenge *cur)
{
	if (cur->scheme != AUTH_SCHEME_NONE && (best->scheme == AUTH_SCHEME_NONE ||
						(best->scheme == AUTH_SCHEME_BASIC && cur->scheme == AUTH_SCHEME_BEARER))) {
		auth_challenge_done(best);
		*best = *cur;
	} else {
		auth_challenge_done(cur);
	}
	memset(cur, 0, sizeof(*cur));
}

static int parse_challenges(const char *p, struct auth_challenge *best, struct error *err)
{
	struct auth_challenge cur = {0};
	bool open = false;

	for (;;) {
		_cleanup_free_ char *tok = NULL;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		tok = read_token(&p);
		if (tok == NULL) {
			auth_challenge_done(&cur);
			return error_set(err, 0, "malformed WWW-Authenticate header near '%.20s'", p);
		}
		skip_ows(&p);
		if (open && *p == '=') {
			p++;
			if (read_param_value(&p, &cur, tok, err) < 0) {
				auth_challenge_done(&cur);
				return -1;
			}
			continue;
		}
		if (open)
			keep_best(best, &cur);
		cur.scheme = scheme_of(tok);
		open = true;
	}
	keep_best(best, &cur);
	return 0;
}

int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct error *err)
{
	struct auth_challenge best = {0};

	if (strlen(header) > HEADER_MAX)
		return error_set(err, 0, "WWW-Authenticate header is too long");
	if (parse_challenges(header, &best, err) < 0)
		return -1;
	if (best.scheme == AUTH_SCHEME_NONE) {
		auth_challenge_done(&best);
		return error_set(err, 0, "Unsupported authentication method %.40s", header);
	}
	if (best.scheme == AUTH_SCHEME_BEARER && (best.realm == NULL || *best.realm == '\0')) {
		auth_challenge_done(&best);
		return error_set(err, 0, "Could not parse authentication realm");
	}
	*ret = best;
	return 0;
}

void auth_challenge_done(struct auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

void credentials_done(struct credentials *c)
{
	free(c->login);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* ---- hosts ---- */

char *auth_host_strip_port(const char *hostport)
{
	const char *end;

	if (hostport[0] == '[') {
		end = strchr(hostport, ']');
		return end ? xstrndup(hostport + 1, (size_t)(end - hostport - 1)) : xstrdup(hostport);
	}
	end = strchr(hostport, ':');
	return end ? xstrndup(hostport, (size_t)(end - hostport)) : xstrdup(hostport);
}

/* The port of "host:port" / "[v6]:port", or NULL. */
static const char *host_port(const char *hostport)
{
	const char *p = hostport;

	if (*p == '[') {
		p = strchr(p, ']');
		if (p == NULL)
			return NULL;
	}
	p = strchr(p, ':');
	return p ? p + 1 : NULL;
}

bool auth_host_matches(const char *pattern, const char *hostport)
{
	_cleanup_free_ char *ph = auth_host_strip_port(pattern), *h = auth_host_strip_port(hostport);
	const char *pp = host_port(pattern), *hp = host_port(hostport);

	if (strcasecmp(ph, h) != 0)
		return false;
	return pp == NULL || (hp != NULL && !strcmp(pp, hp));
}

/* "host[:port]" of an http(s) URL, or NULL. Userinfo or any character a
 * host name cannot hold is refused rather than guessed at: the answer
 * decides where credentials go, so it must be the host curl connects to. */
static char *url_hostport(const char *url)
{
	static const char host_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]";
	_cleanup_free_ char *hp = NULL;
	const char *s;

	if (!strncasecmp(url, "https://", 8))
		s = url + 8;
	else if (!strncasecmp(url, "http://", 7))
		s = url + 7;
	else
		return NULL;
	hp = xstrndup(s, strcspn(s, "/?#"));
	if (hp[0] == '\0' || hp[strspn(hp, host_chars)] != '\0')
		return NULL;
	return TAKE_PTR(hp);
}

char *auth_url_host(const char *url)
{
	_cleanup_free_ char *hp = url_hostport(url);

	return hp ? auth_host_strip_port(hp) : NULL;
}

/* ---- token realms ---- */

/* Registries whose token service is on another host of the same operator;
 * enroot users keep a `.credentials` entry for that host (enroot.md §4.2).
 * GitLab.com's registry sends https://gitlab.com/jwt/auth. */
static const struct {
	const char *registry, *realm;
} known_realms[] = {
	{"nvcr.io", "authn.nvidia.com"},
	{"registry-1.docker.io", "auth.docker.io"},
	{"docker.io", "auth.docker.io"},
	{"index.docker.io", "auth.docker.io"},
	{"registry.gitlab.com", "gitlab.com"},
};

/* AUTH_REALMS: "registry=realmhost" words. A malformed word is skipped: it
 * can only withhold credentials, never send them. */
static bool configured_realm(const char *pairs, const char *registry, const char *realm)
{
	static const char sep[] = " \t\r\n";

	for (const char *p = pairs; p != NULL && *p != '\0';) {
		size_t n;

		p += strspn(p, sep);
		n = strcspn(p, sep);
		if (n > 0) {
			_cleanup_free_ char *word = xstrndup(p, n);
			char *eq = strchr(word, '=');

			if (eq != NULL && eq != word && eq[1] != '\0') {
				*eq = '\0';
				if (auth_host_matches(word, registry) && auth_host_matches(eq + 1, realm))
					return true;
			}
		}
		p += n;
	}
	return false;
}

bool auth_realm_trusted(const char *pairs, const char *registry, const char *realm_url)
{
	_cleanup_free_ char *realm = url_hostport(realm_url), *host = NULL, *reg_host = NULL;

	if (realm == NULL)
		return false;
	host = auth_host_strip_port(realm);
	reg_host = auth_host_strip_port(registry);
	if (!strcasecmp(host, reg_host))
		return true;
	/* Another host: never in clear text, and only when known to serve this
	 * registry. Otherwise a registry could name a real token service and
	 * have the user's credentials for it mint a token for any repository. */
	if (strncasecmp(realm_url, "https://", 8) != 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(known_realms); i++) {
		if (auth_host_matches(known_realms[i].registry, registry) &&
		    auth_host_matches(known_realms[i].realm, realm))
			return true;
	}
	return configured_realm(pairs, registry, realm);
}

static void add_escaped(struct strbuf *sb, const char *s)
{
	for (; *s != '\0'; s++) {
		char c = *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '.' || c == '_' || c == '~')
			strbuf_addch(sb, c);
		else
			strbuf_addf(sb, "%%%02X", (unsigned char)c);
	}
}

static bool is_scope_param(const char *p, size_t n)
{
	static const char name[] = "scope";

	return n >= STRLEN(name) && !strncmp(p, name, STRLEN(name)) && (n == STRLEN(name) || p[STRLEN(name)] == '=');
}

/* The realm up to its fragment, without scope parameters of its own (a
 * realm URL is part of the challenge too), then '?' or '&'. */
static void add_realm(struct strbuf *sb, const char *realm)
{
	size_t end = strcspn(realm, "#"), q = strcspn(realm, "?#");
	char sep = '?';

	strbuf_add(sb, realm, q);
	for (const char *p = realm + q + 1; q < end && p < realm + end;) {
		size_t n = strcspn(p, "&#");

		if (n > 0 && !is_scope_param(p, n)) {
			strbuf_addch(sb, sep);
			strbuf_add(sb, p, n);
			sep = '&';
		}
		p += n + 1;
	}
	strbuf_addch(sb, sep);
}

char *auth_token_url(const char *realm, const char *service, const char *image)
{
	_cleanup_free_ char *scope = xasprintf("repository:%s:pull", image);
	struct strbuf sb = STRBUF_INIT;

	add_realm(&sb, realm);
	if (service != NULL) {
		strbuf_addstr(&sb, "service=");
		add_escaped(&sb, service);
		strbuf_addch(&sb, '&');
	}
	strbuf_addstr(&sb, "scope=");
	add_escaped(&sb, scope);
	return strbuf_detach(&sb);
}

/* ---- netrc ---- */

struct ntok {
	const char *start; /* in the text, for the rest-of-line of `$` passwords */
	char *val;
	int field; /* 0-based index of the token on its line */
	bool quoted;
};

/* Next whitespace-separated token (curl's quoting: "..." with \" escapes).
 * Returns false at the end of the text. */
static bool netrc_next(const char **p, int *field, struct ntok *t)
{
	const char *s = *p;

	for (; *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'; s++) {
		if (*s == '\n')
			*field = 0;
	}
	if (*s == '\0')
		return false;
	t->start = s;
	t->field = (*field)++;
	t->quoted = *s == '"';
	if (t->quoted) {
		t->val = read_quoted(&s);
		if (t->val == NULL) { /* unterminated: the rest of the text */
			t->val = xstrdup(t->start + 1);
			s += strlen(s);
		}
	} else {
		size_t n = strcspn(s, " \t\r\n");

		t->val = xstrndup(s, n);
		s += n;
	}
	*p = s;
	return true;
}

/* enroot runs `sh -c "echo <rest of line>"`. The expression goes through
 * the environment instead of argv: every local user can read
 * /proc/PID/cmdline, and the expression may hold or name a secret. The
 * variable is unset before the eval, so the commands it runs do not see it. */
static const char eval_script[] = "capsa_pw_expr=$CAPSA_PW_EXPR; unset CAPSA_PW_EXPR; eval \"echo $capsa_pw_expr\"";

#define PW_EXPR_MAX 8192

static int run_password_expr(const char *expr, struct proc_output *res, struct error *err)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)eval_script, NULL};
	struct strv env = STRV_INIT;
	int r;

	proc_helper_env(environ, &env);
	strv_pushf(&env, "CAPSA_PW_EXPR=%s", expr);
	r = proc_capture(argv, env.v, NULL, PASSWORD_EVAL_MAX, res, err);
	explicit_bzero(env.v[env.n - 1], strlen(env.v[env.n - 1]));
	strv_free(&env);
	return r;
}

static int eval_password(const char *start, char **ret, struct error *err)
{
	size_t n = strcspn(start, "\n");
	struct proc_output res = PROC_OUTPUT_INIT;
	_cleanup_free_ char *expr = NULL;

	while (n > 0 && isspace((unsigned char)start[n - 1]))
		n--;
	if (n > PW_EXPR_MAX)
		return error_set(err, E2BIG, "the password expression is longer than %d bytes", PW_EXPR_MAX);
	expr = xstrndup(start, n);
	if (run_password_expr(expr, &res, err) < 0)
		return -1;
	res.out[strcspn(res.out, "\r\n")] = '\0';
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0 || res.out[0] == '\0' || res.truncated) {
		proc_output_done(&res);
		return error_set(err, 0, "evaluating the password expression gave no password");
	}
	*ret = TAKE_PTR(res.out);
	return 0;
}

struct netrc_entry {
	char *machine, *login, *password;
	const char *pw_start; /* set when the password must be evaluated */
};

static void entry_reset(struct netrc_entry *e)
{
	free(e->machine);
	free(e->login);
	if (e->password) {
		explicit_bzero(e->password, strlen(e->password));
		free(e->password);
	}
	memset(e, 0, sizeof(*e));
}

static bool entry_matches(const struct netrc_entry *e, const char *host, const char *login)
{
	if (e->machine == NULL || e->password == NULL || e->login == NULL)
		return false;
	return auth_host_matches(e->machine, host) && (login == NULL || !strcmp(login, e->login));
}

static int entry_take(struct netrc_entry *e, int flags, struct credentials *ret, struct error *err)
{
	char *pw = NULL;

	if (e->pw_start && (flags & NETRC_EVAL)) {
		if (eval_password(e->pw_start, &pw, err) < 0)
			return error_prefix(err, "machine %s login %s", e->machine, e->login);
	} else {
		pw = TAKE_PTR(e->password);
	}
	ret->login = TAKE_PTR(e->login);
	ret->password = pw;
	ret->source = NULL;
	return 1;
}

/* Feed one keyword/value pair into the current entry. */
static void entry_field(struct netrc_entry *e, const char *key, struct ntok *v)
{
	if (!strcmp(key, "login")) {
		free(e->login);
		e->login = TAKE_PTR(v->val);
	} else if (!strcmp(key, "password")) {
		free(e->password);
		e->password = TAKE_PTR(v->val);
		/* enroot rewrites lines whose 6th field starts with '$' (§4.2). */
		e->pw_start = (!v->quoted && v->field == 5 && e->password[0] == '$') ? v->start : NULL;
	}
}

static int netrc_scan(const char *text, const char *host, const char *login, int flags, struct credentials *ret,
		      struct error *err)
{
	struct netrc_entry e = {0};
	struct ntok k, v;
	const char *p = text;
	int field = 0, r = 0;

	while (r == 0 && netrc_next(&p, &field, &k)) {
		bool start = !strcmp(k.val, "machine") || !strcmp(k.val, "default");

		if (start && entry_matches(&e, host, login))
			r = entry_take(&e, flags, ret, err);
		if (start)
			entry_reset(&e);
		/* "default" takes no value, and its credentials would go to any
		 * host: it is skipped (entries after it still count). */
		if (r == 0 && strcmp(k.val, "default") != 0 && netrc_next(&p, &field, &v)) {
			if (!strcmp(k.val, "machine"))
				e.machine = TAKE_PTR(v.val);
			else if (e.machine != NULL)
				entry_field(&e, k.val, &v);
			free(v.val);
		}
		free(k.val);
	}
	if (r == 0 && entry_matches(&e, host, login))
		r = entry_take(&e, flags, ret, err);
	entry_reset(&e);
	return r;
}

int netrc_find(const char *text, const char *host, const char *login, int flags, struct credentials *ret,
	       struct error *err)
{
	struct credentials c = {0};
	int r = netrc_scan(text, host, login, flags, &c, err);

	if (r > 0)
		*ret = c;
	return r;
}

char *netrc_infer_login(const char *text, const char *host)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char f[4][256];
		_cleanup_free_ char *l = xstrndup(line, strcspn(line, "\n"));

		if (sscanf(l, " %255s %255s %255s %255s", f[0], f[1], f[2], f[3]) == 4 &&
		    !strcmp(f[0], "machine") && auth_host_matches(f[1], host) && !strcmp(f[2], "login"))
			return xstrdup(f[3]);
	}
	return NULL;
}

/* ---- Docker config.json ---- */

char *auth_base64(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static char *base64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *out;
	int r;

	if (n == 0 || n % 4 != 0 || n > 65536)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(out);
		return NULL;
	}
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	*ret_len = (size_t)r - pad;
	out[*ret_len] = '\0';
	return (char *)out;
}

static bool is_docker_hub(const char *host)
{
	return !strcmp(host, DOCKER_HUB) || !strcmp(host, "docker.io") || !strcmp(host, "index.docker.io");
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; keeps the port. */
static bool auths_key_matches(const char *key, const char *registry)
{
	_cleanup_free_ char *k = NULL;

	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	k = xstrndup(key, strcspn(key, "/"));
	if (!strcasecmp(k, registry))
		return true;
	return is_docker_hub(k) && is_docker_hub(registry);
}

static int auths_entry(json_object *v, const char *login, struct credentials *ret)
{
	json_object *f;
	_cleanup_free_ char *dec = NULL;
	size_t n = 0;
	char *colon;

	if (json_object_object_get_ex(v, "auth", &f) && json_object_is_type(f, json_type_string))
		dec = base64_decode(json_object_get_string(f), &n);
	if (dec == NULL || strlen(dec) != n || (colon = strchr(dec, ':')) == NULL)
		return 0;
	*colon = '\0';
	if (login != NULL && strcmp(login, dec) != 0) {
		explicit_bzero(colon + 1, strlen(colon + 1));
		return 0;
	}
	ret->login = xstrdup(dec);
	ret->password = xstrdup(colon + 1);
	explicit_bzero(colon + 1, strlen(colon + 1));
	return 1;
}

int docker_auths_find(const char *json, size_t len, const char *registry, const char *login,
		      struct credentials *ret, struct error *err)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	json_object *o, *auths;
	int r = 0;

	if (tok == NULL)
		abort();
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return error_set(err, 0, "Docker config.json is not a valid JSON object");
	}
	if (json_object_object_get_ex(o, "auths", &auths) && json_object_is_type(auths, json_type_object)) {
		json_object_object_foreach(auths, key, val)
		{
			if (r == 0 && auths_key_matches(key, registry) && json_object_is_type(val, json_type_object))
				r = auths_entry(val, login, ret);
		}
	}
	json_object_put(o);
	return r;
}

/* ---- files and lookups ---- */

static int check_owner(int fd, const char *path, struct error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat %s", path);
	if (!S_ISREG(st.st_mode))
		return error_set(err, 0, "credentials file %s is not a regular file", path);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return error_set(err, 0, "credentials file %s is not owned by the current user", path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return error_set(err, 0, "credentials file %s is writable by others (chmod 600 it)", path);
	return 0;
}

int auth_read_credentials_file(const struct config *cfg, char **ret, char **ret_path, struct error *err)
{
	const char *dir = config_get(cfg, "CONFIG_PATH");
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	*ret = NULL;
	if (dir == NULL)
		return 0;
	/* Its `$` passwords are shell code of the user's: registry work is done
	 * as the user, never in a root context (security.md §4). */
	if (cfg->mode == CONFIG_ROOT)
		return error_set(err, EPERM, "refusing to read %s/.credentials in a root context", dir);
	path = xasprintf("%s/.credentials", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return error_set(err, errno, "failed to open %s", path);
	if (check_owner(fd, path, err) < 0)
		return -1;
	if (read_fd(fd, CREDENTIALS_MAX_BYTES, ret, &len, err) < 0)
		return error_prefix(err, "%s", path);
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return 0;
}

static int docker_config_lookup(const char *registry, const char *login, struct credentials *ret,
				struct error *err)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	_cleanup_free_ char *path = NULL, *text = NULL;
	size_t len;
	int r;

	if (dir != NULL && *dir != '\0')
		path = xasprintf("%s/config.json", dir);
	else if (home != NULL && *home != '\0')
		path = xasprintf("%s/.docker/config.json", home);
	if (path == NULL || access(path, F_OK) < 0)
		return 0;
	if (read_file_at(AT_FDCWD, path, DOCKER_CONFIG_MAX, &text, &len, err) < 0)
		return -1;
	r = docker_auths_find(text, len, registry, login, ret, err);
	if (r < 0)
		return error_prefix(err, "%s", path);
	if (r > 0)
		ret->source = TAKE_PTR(path);
	return r;
}

int auth_lookup(const struct config *cfg, const char *registry, const char *realm_url, const char *login,
		struct credentials *ret, struct error *err)
{
	_cleanup_free_ char *text = NULL, *path = NULL, *realm = NULL;
	int r = 0;

	if (realm_url != NULL && !auth_realm_trusted(config_get(cfg, "AUTH_REALMS"), registry, realm_url))
		return 0;
	realm = realm_url ? url_hostport(realm_url) : NULL;
	if (auth_read_credentials_file(cfg, &text, &path, err) < 0)
		return -1;
	if (text != NULL) {
		r = netrc_find(text, registry, login, NETRC_EVAL, ret, err);
		if (r == 0 && realm != NULL)
			r = netrc_find(text, realm, login, NETRC_EVAL, ret, err);
		if (r < 0)
			return error_prefix(err, "%s", path);
		if (r > 0) {
			ret->source = TAKE_PTR(path);
			return 1;
		}
	}
	return docker_config_lookup(registry, login, ret, err);
}

int auth_infer_user(const struct config *cfg, const char *registry, char **ret, struct error *err)
{
	_cleanup_free_ char *text = NULL;

	*ret = NULL;
	if (auth_read_credentials_file(cfg, &text, NULL, err) < 0)
		return -1;
	if (text != NULL)
		*ret = netrc_infer_login(text, registry);
	return 0;
}
