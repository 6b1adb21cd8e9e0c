/* SPDX-License-Identifier: Apache-2.0 */
/* Registry authentication inputs: WWW-Authenticate challenges, enroot's
 * netrc-style `.credentials` file and Docker's config.json `auths`. Pure
 * parsers plus lookups; no network (enroot.md §4.2, security.md §2). */
#ifndef CAPSA_IMAGE_AUTH_H
#define CAPSA_IMAGE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/error.h"

#define CREDENTIALS_MAX_BYTES (1u << 20)
#define PASSWORD_EVAL_MAX (64u << 10)

enum auth_scheme {
	AUTH_SCHEME_NONE = 0,
	AUTH_SCHEME_BASIC,
	AUTH_SCHEME_BEARER,
};

struct auth_challenge {
	enum auth_scheme scheme;
	char *realm;   /* Bearer: the token URL; Basic: a label */
	char *service; /* NULL when absent */
	char *scope;
	char *error; /* e.g. "insufficient_scope" */
};

/* Parse a WWW-Authenticate value per RFC 7235: several challenges (Bearer
 * preferred over Basic), case-insensitive scheme and parameter names,
 * quoted-strings with backslash escapes and embedded commas or spaces.
 * Bearer without realm, or only unknown schemes, is an error. */
int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct error *err);
void auth_challenge_done(struct auth_challenge *c);

struct credentials {
	char *login;
	char *password;
	char *source; /* where they came from, for messages; never the secret */
};

void credentials_done(struct credentials *c);

/* netrc lookup flags */
#define NETRC_EVAL 1 /* evaluate `$...` passwords with sh, as enroot does */

/* Find the entry for machine host (see auth_host_matches) and, when login
 * is not NULL, that login. Returns 1 when found, 0 when not, <0 on error.
 * A password that starts with '$' and is the 6th field of its line (the
 * one-line `machine H login U password P` form) is, with NETRC_EVAL, the rest
 * of the line evaluated by `sh -c 'echo ...'`: enroot's contract, used for
 * `$(aws ecr get-login-password)`. The login is never evaluated. */
int netrc_find(const char *text, const char *host, const char *login, int flags, struct credentials *ret,
	       struct error *err);

/* enroot's user inference: the login of the first line matching
 * `^\s*machine\s+HOST\s+login\s+(\S+)`, HOST matched as by netrc_find.
 * NULL if none. */
char *netrc_infer_login(const char *text, const char *host);

/* Docker config.json `auths`: keys are "host[:port]" or URLs such as
 * "https://index.docker.io/v1/"; "auth" is base64("user:password"), else
 * "username"/"password". Returns 1 found, 0 not found, <0 on error. */
int docker_auths_find(const char *json, size_t len, const char *registry, const char *login,
		      struct credentials *ret, struct error *err);

/* Whether a `.credentials` machine (or an AUTH_REALMS name) matches
 * hostport ("host[:port]", "[v6]:port"). Hosts compare case-insensitively;
 * a pattern with a port matches only that port, one without any port (the
 * enroot file format names hosts without ports). */
bool auth_host_matches(const char *pattern, const char *hostport);

/* May credentials for registry go to the token realm realm_url? Yes on the
 * registry's own host (any port); on another host only over https and for
 * a known pairing (nvcr.io and authn.nvidia.com, Docker Hub and
 * auth.docker.io, registry.gitlab.com and gitlab.com) or one listed in pairs,
 * the AUTH_REALMS setting: space-separated "registry=realmhost" words, each
 * name matched as by auth_host_matches. pairs may be NULL. */
bool auth_realm_trusted(const char *pairs, const char *registry, const char *realm_url);

/* The token request URL: realm?service=S&scope=repository:IMAGE:pull. The
 * scope is always the pulled image's, for pull: never what a challenge
 * asked for, which could name another repository or push. service may be
 * NULL. */
char *auth_token_url(const char *realm, const char *service, const char *image);

/* "host:port" / "[v6]:port" -> "host" / "v6". */
char *auth_host_strip_port(const char *hostport);
/* The host (no port) of an http(s) URL, or NULL. */
char *auth_url_host(const char *url);

/* $CONFIG_PATH/.credentials; refused when not a regular file owned by the
 * euid (or root), or writable by group or others: it feeds `sh`. Missing
 * file: 0 with *ret = NULL. Always an error in CONFIG_ROOT mode. */
int auth_read_credentials_file(const struct config *cfg, char **ret, char **ret_path, struct error *err);

/* Credentials for registry ("host[:port]"), to send to the registry itself
 * (realm_url NULL) or to its token realm realm_url. For a realm, none unless
 * auth_realm_trusted(AUTH_REALMS, ...). Then .credentials by registry, then
 * by realm host (NGC's authn.nvidia.com, Docker Hub's auth.docker.io:
 * enroot#161/#241), then Docker's config.json by registry. Returns 1 found,
 * 0 none, <0 error. */
int auth_lookup(const struct config *cfg, const char *registry, const char *realm_url, const char *login,
		struct credentials *ret, struct error *err);

/* The login to use when the reference has none (enroot.md §4.1): from
 * .credentials, or NULL. */
int auth_infer_user(const struct config *cfg, const char *registry, char **ret, struct error *err);

/* Standard base64 of data (for Basic). */
char *auth_base64(const void *data, size_t len);

#endif
