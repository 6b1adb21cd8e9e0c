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

/* Find the entry for machine host (compared without port) and, when login
 * is not NULL, that login. Returns 1 when found, 0 when not, <0 on error.
 * A password that starts with '$' and is the 6th field of its line (the
 * one-line `machine H login U password P` form) is, with NETRC_EVAL, the rest
 * of the line evaluated by `sh -c 'echo ...'`: enroot's contract, used for
 * `$(aws ecr get-login-password)`. The login is never evaluated. */
int netrc_find(const char *text, const char *host, const char *login, int flags, struct credentials *ret,
	       struct error *err);

/* enroot's user inference: the login of the first line matching
 * `^\s*machine\s+HOST\s+login\s+(\S+)` (host without port). NULL if none. */
char *netrc_infer_login(const char *text, const char *host);

/* Docker config.json `auths`: keys are "host[:port]" or URLs such as
 * "https://index.docker.io/v1/"; "auth" is base64("user:password"), else
 * "username"/"password". Returns 1 found, 0 not found, <0 on error. */
int docker_auths_find(const char *json, size_t len, const char *registry, const char *login,
		      struct credentials *ret, struct error *err);

/* "host:port" / "[v6]:port" -> "host" / "v6". */
char *auth_host_strip_port(const char *hostport);
/* The host (no port) of an http(s) URL, or NULL. */
char *auth_url_host(const char *url);

/* $CONFIG_PATH/.credentials; refused when not a regular file owned by the
 * euid (or root), or writable by group or others: it feeds `sh`. Missing
 * file: 0 with *ret = NULL. Always an error in CONFIG_ROOT mode. */
int auth_read_credentials_file(const struct config *cfg, char **ret, char **ret_path, struct error *err);

/* Credentials for registry: .credentials by registry host, then by the
 * token realm host (realm_host may be NULL; enroot#161/#241), then Docker's
 * config.json. Returns 1 found, 0 none, <0 error. */
int auth_lookup(const struct config *cfg, const char *registry, const char *realm_host, const char *login,
		struct credentials *ret, struct error *err);

/* The login to use when the reference has none (enroot.md §4.1): from
 * .credentials, or NULL. */
int auth_infer_user(const struct config *cfg, const char *registry, char **ret, struct error *err);

/* Standard base64 of data (for Basic). */
char *auth_base64(const void *data, size_t len);

#endif
