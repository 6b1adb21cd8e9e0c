/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "image/registry/auth.h"
#include "image/registry/registry.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#ifndef CAPSA_VERSION
#define CAPSA_VERSION "dev"
#endif

#define MAX_REDIRECTS 10
#define MAX_HEADERS 256
#define HEADER_VALUE_MAX 8192
#define ERROR_BODY_MAX (64u << 10)
#define MIN_RETRIES 2
#define BACKOFF_CAP_S 30
#define RETRY_AFTER_CAP_S 60
#define LOW_SPEED_BYTES 1024
#define LOW_SPEED_TIME_S 60
#define TOKEN_MARGIN_S 30

#define ACCEPT_ALL                                                                                           \
	"Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

struct registry {
	CURL *curl;
	const struct config *cfg;
	const struct image_ref *ref;
	char *origin; /* "https://host:port", where registry credentials may go */
	char *base;   /* "https://host[:port]", for URLs */
	char *login;  /* NULL: anonymous */
	char *cred_path; /* $CONFIG_PATH/.credentials, for messages */
	struct credentials creds;
	bool creds_looked_up;
	struct auth_challenge chal; /* the last challenge, to refresh the token */
	char *untrusted_realm;      /* host of a token realm sent no credentials */
	char *auth;                 /* "Authorization: ..." for origin, or NULL */
	time_t auth_expiry;         /* 0: does not expire */
	bool allow_http;
	long retries, connect_timeout, transfer_timeout;
	const char *cainfo, *capath;
	char errbuf[CURL_ERROR_SIZE];
};

/* One logical request, across redirects, retries and re-authentication. */
struct xfer {
	const char *accept;
	bool head;
	const char *auth_origin; /* the only origin auth_header is sent to */
	const char *auth_header;
	uint64_t limit; /* most body bytes accepted in a 2xx answer */
	registry_sink_fn sink;
	void *sink_arg;
	struct strbuf body; /* 2xx body when sink is NULL */
	uint64_t delivered; /* 2xx bytes handed on, across attempts */
	uint64_t range_from;
	/* the current response */
	long status;
	struct strbuf errbody;
	char *www_auth, *content_type, *docker_digest, *retry_after, *content_range;
	size_t n_headers;
	bool overflow, bad_range, sink_failed, too_many_headers;
	struct error sink_err;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *http_reason(long code)
{
	static const char *const r4[] = {"Bad Request", "Unauthorized", "Payment Required", "Forbidden",
					 "Not Found", "Method Not Allowed", "Not Acceptable",
					 "Proxy Authentication Required", "Request Timeout", "Conflict", "Gone",
					 "Length Required", "Precondition Failed", "Request Entity Too Large",
					 "Request-URI Too Long", "Unsupported Media Type",
					 "Requested Range Not Satisfiable", "Expectation Failed"};
	static const char *const r5[] = {"Internal Server Error", "Not Implemented", "Bad Gateway",
					 "Service Unavailable", "Gateway Timeout"};

	if (code >= 400 && code <= 417)
		return r4[code - 400];
	if (code >= 500 && code <= 504)
		return r5[code - 500];
	if (code == 429)
		return "Too Many Requests";
	return "";
}

static void xfer_reset_response(struct xfer *x)
{
	x->status = 0;
	strbuf_release(&x->errbody);
	free(x->www_auth);
	free(x->content_type);
	free(x->docker_digest);
	free(x->retry_after);
	free(x->content_range);
	x->www_auth = x->content_type = x->docker_digest = x->retry_after = x->content_range = NULL;
	x->n_headers = 0;
	x->overflow = x->bad_range = x->sink_failed = x->too_many_headers = false;
}

static void xfer_done(struct xfer *x)
{
	xfer_reset_response(x);
	strbuf_release(&x->body);
}

/* ---- curl callbacks ---- */

static void header_keep(struct xfer *x, const char *line, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
		{"www-authenticate", offsetof(struct xfer, www_auth)},
		{"content-type", offsetof(struct xfer, content_type)},
		{"docker-content-digest", offsetof(struct xfer, docker_digest)},
		{"retry-after", offsetof(struct xfer, retry_after)},
		{"content-range", offsetof(struct xfer, content_range)},
	};
	const char *colon = memchr(line, ':', n);
	const char *v;
	size_t vn;

	if (colon == NULL)
		return;
	v = colon + 1;
	while (v < line + n && (*v == ' ' || *v == '\t'))
		v++;
	vn = (size_t)(line + n - v);
	while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
		vn--;
	if (vn > HEADER_VALUE_MAX)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		char **slot = (char **)((char *)x + keep[i].off);
		size_t kn = strlen(keep[i].name);

		if ((size_t)(colon - line) != kn || strncasecmp(line, keep[i].name, kn) != 0)
			continue;
		if (*slot == NULL) {
			*slot = xstrndup(v, vn);
		} else if (i == 0) { /* several challenges: one list (RFC 7235) */
			char *joined = xasprintf("%s, %.*s", *slot, (int)vn, v);

			free(*slot);
			*slot = joined;
		}
	}
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
		const char *sp = memchr(data, ' ', n);

		/* A new response (after a 1xx): forget the previous headers. */
		xfer_reset_response(x);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (++x->n_headers > MAX_HEADERS) {
		x->too_many_headers = true;
		return 0;
	}
	header_keep(x, data, n);
	return n;
}

/* "bytes START-END/TOTAL": the resumed body must start where we stopped. */
static bool content_range_ok(const char *cr, uint64_t from)
{
	unsigned long long start;

	return cr != NULL && sscanf(cr, "bytes %llu-", &start) == 1 && start == from;
}

static size_t on_body_2xx(struct xfer *x, const char *data, size_t n)
{
	if (x->range_from > 0 && (x->status != 206 || !content_range_ok(x->content_range, x->range_from))) {
		x->bad_range = true;
		return 0;
	}
	if (n > x->limit - x->delivered) {
		x->overflow = true;
		return 0;
	}
	if (x->sink != NULL) {
		if (x->sink(data, n, x->sink_arg, &x->sink_err) < 0) {
			x->sink_failed = true;
			return 0;
		}
	} else {
		strbuf_add(&x->body, data, n);
	}
	x->delivered += n;
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (x->status / 100 == 2)
		return on_body_2xx(x, data, n);
	/* Error and redirect bodies are kept short and never reach the sink. */
	if (x->errbody.len < ERROR_BODY_MAX)
		strbuf_add(&x->errbody, data, n < ERROR_BODY_MAX - x->errbody.len ? n : ERROR_BODY_MAX - x->errbody.len);
	return n;
}

/* ---- one HTTP exchange ---- */

/* "scheme://host:port" with the default port made explicit, lowercase, or
 * NULL: the unit Authorization headers are scoped to. */
static char *url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *ret = NULL;

	if (u == NULL)
		abort();
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		ret = xasprintf("%s://%s:%s", scheme, host, port);
		for (char *p = ret; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

static bool same_origin(const char *url, const char *origin)
{
	_cleanup_free_ char *o = url_origin(url);

	return o != NULL && origin != NULL && !strcmp(o, origin);
}

static struct curl_slist *request_headers(const struct xfer *x, bool with_auth)
{
	struct curl_slist *h = NULL;
	char range[64];

	if (x->accept)
		h = curl_slist_append(h, x->accept);
	if (with_auth && x->auth_header)
		h = curl_slist_append(h, x->auth_header);
	if (x->range_from > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", x->range_from);
		h = curl_slist_append(h, range);
	}
	return h;
}

static void set_options(struct registry *r, struct xfer *x, const char *url)
{
	CURL *c = r->curl;

	/* reset keeps live connections, TLS sessions and the DNS cache */
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, r->allow_http ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are ours: see follow() */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, r->transfer_timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "capsa/" CAPSA_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	/* Layers are hundreds of MiB: 16 KiB reads (the default) mean a
	 * recv, a write and a hash call per 16 KiB. */
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	if (r->cainfo)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->cainfo);
	if (r->capath)
		curl_easy_setopt(c, CURLOPT_CAPATH, r->capath);
	if (x->head)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
}

static CURLcode perform_once(struct registry *r, struct xfer *x, const char *url)
{
	struct curl_slist *h = request_headers(x, same_origin(url, x->auth_origin));
	CURLcode rc;

	set_options(r, x, url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	xfer_reset_response(x);
	r->errbuf[0] = '\0';
	rc = curl_easy_perform(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	return rc;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Follow redirects by hand so that the Authorization header only ever goes
 * to auth_origin (blob storage gets presigned URLs; a leaked token is
 * CVE-2022-23538, and S3 rejects it). *ret_url is the last URL. */
static CURLcode follow(struct registry *r, struct xfer *x, const char *url, char **ret_url, struct error *err)
{
	char *cur = xstrdup(url);

	for (int hop = 0;; hop++) {
		CURLcode rc = perform_once(r, x, cur);
		char *loc = NULL;

		if (rc != CURLE_OK || !is_redirect(x->status)) {
			*ret_url = cur;
			return rc;
		}
		curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL, &loc);
		if (hop >= MAX_REDIRECTS || loc == NULL ||
		    !(!strncasecmp(loc, "https://", 8) || (r->allow_http && !strncasecmp(loc, "http://", 7)))) {
			error_set(err, 0, "URL %s: %s", url,
				  hop >= MAX_REDIRECTS ? "too many redirects"
						       : "refusing a redirect to a non-https URL (see ALLOW_HTTP)");
			free(cur);
			*ret_url = NULL;
			return CURLE_TOO_MANY_REDIRECTS;
		}
		free(cur);
		cur = xstrdup(loc);
	}
}

/* ---- retries ---- */

enum outcome { OUT_OK, OUT_RETRY, OUT_REAUTH, OUT_FAIL };

static bool curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool curl_tls_error(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_ISSUER_ERROR ||
	       rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CRL_BADFILE;
}

static enum outcome classify_curl(struct registry *r, CURLcode rc, const char *url, struct error *err)
{
	const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

	if (curl_tls_error(rc)) {
		error_set(err, 0,
			  "TLS verification failed for %s: %s (for a private CA, set SSL_CERT_FILE or SSL_CERT_DIR "
			  "to its certificate)",
			  url, why);
		return OUT_FAIL;
	}
	error_set(err, 0, "failed to fetch %s: %s", url, why);
	/* No answer at all: the image store may fall back to what it has. */
	err->code = ENETUNREACH;
	return curl_retryable(rc) ? OUT_RETRY : OUT_FAIL;
}

static enum outcome classify(struct registry *r, struct xfer *x, CURLcode rc, const char *url, struct error *err)
{
	if (x->sink_failed) {
		*err = x->sink_err;
		return OUT_FAIL;
	}
	if (x->overflow) {
		error_set(err, 0, "URL %s returned more than the expected %" PRIu64 " bytes", url, x->limit);
		return OUT_FAIL;
	}
	if (x->too_many_headers || x->bad_range) {
		error_set(err, 0, "URL %s: %s", url,
			  x->bad_range ? "the server did not honour the Range request to resume" : "too many headers");
		return OUT_FAIL;
	}
	if (rc != CURLE_OK)
		return classify_curl(r, rc, url, err);
	if (x->status / 100 == 2)
		return OUT_OK;
	error_set(err, 0, "URL %s returned error code: %ld %s", url, x->status, http_reason(x->status));
	if (x->status == 401)
		return OUT_REAUTH;
	if (x->status == 408 || x->status == 429 || (x->status >= 500 && x->status <= 504)) {
		err->code = ENETUNREACH; /* a registry that is down behind its proxy */
		return OUT_RETRY;
	}
	return OUT_FAIL;
}

static long retry_after_seconds(const char *v)
{
	long s;

	if (v == NULL || *v == '\0')
		return -1;
	if (v[strspn(v, "0123456789")] == '\0')
		s = strlen(v) > 9 ? RETRY_AFTER_CAP_S : strtol(v, NULL, 10);
	else
		s = (long)(curl_getdate(v, NULL) - time(NULL));
	if (s < 0)
		return 0;
	return s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : s;
}

/* Exponential backoff with jitter (1 s, 2 s, 4 s... capped), or the
 * server's Retry-After (capped): a herd of nodes must not retry in step. */
static void backoff(unsigned attempt, const char *retry_after)
{
	long ms = retry_after_seconds(retry_after) * 1000;
	unsigned short rnd = 0;
	struct timespec ts;

	if (ms < 0) {
		long base = (attempt < 5 ? 1L << attempt : BACKOFF_CAP_S) * 1000;

		if (base > BACKOFF_CAP_S * 1000)
			base = BACKOFF_CAP_S * 1000;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
			rnd = (unsigned short)getpid();
		ms = base / 2 + (long)(rnd % (unsigned)(base / 2 + 1));
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- authentication ---- */

static const char *credentials_path(const struct registry *r)
{
	return r->creds.source ? r->creds.source : r->cred_path;
}

static int auth_failed(struct registry *r, const char *url, struct error *err)
{
	if (r->untrusted_realm != NULL)
		return error_set(err, 0,
				 "URL %s returned error code: 401 Unauthorized (no credentials were sent to the token "
				 "service on %s, another host than %s; if it serves that registry, pair them in "
				 "AUTH_REALMS)",
				 url, r->untrusted_realm, r->ref->registry);
	if (r->login == NULL)
		return error_set(err, 0,
				 "URL %s returned error code: 401 Unauthorized (anonymous access denied: add "
				 "credentials for %s to %s)",
				 url, r->ref->registry, credentials_path(r));
	return error_set(err, 0, "authentication failed for %s at %s: check %s", r->login, r->ref->registry,
			 credentials_path(r));
}

/* Looked up once: they come from the registry's entry or from a realm
 * paired with it, and every token request checks its realm again. */
static int load_credentials(struct registry *r, const char *realm_url, struct error *err)
{
	int n;

	if (r->creds_looked_up)
		return r->creds.password != NULL;
	n = auth_lookup(r->cfg, r->ref->registry, realm_url, r->login, &r->creds, err);
	if (n < 0)
		return -1;
	r->creds_looked_up = true;
	if (n == 0 && r->login != NULL)
		return error_set(err, 0, "no password for %s at %s in %s (capsa does not prompt)", r->login,
				 r->ref->registry, credentials_path(r));
	if (n > 0 && r->login == NULL)
		r->login = xstrdup(r->creds.login);
	return n;
}

static char *basic_header(const struct credentials *c)
{
	_cleanup_free_ char *pair = xasprintf("%s:%s", c->login, c->password);
	_cleanup_free_ char *b64 = auth_base64(pair, strlen(pair));
	char *h = xasprintf("Authorization: Basic %s", b64);

	explicit_bzero(pair, strlen(pair));
	explicit_bzero(b64, strlen(b64));
	return h;
}

static void set_auth(struct registry *r, char *header, time_t expiry)
{
	if (r->auth) {
		explicit_bzero(r->auth, strlen(r->auth));
		free(r->auth);
	}
	r->auth = header;
	r->auth_expiry = expiry;
}

static int request(struct registry *r, struct xfer *x, const char *url, bool registry_auth, struct error *err);

/* Credentials go to the token realm only where auth_realm_trusted allows;
 * elsewhere the token is requested anonymously. */
static int realm_credentials(struct registry *r, const char *realm_host, struct error *err)
{
	bool trusted = auth_realm_trusted(config_get(r->cfg, "AUTH_REALMS"), r->ref->registry, r->chal.realm);

	free(r->untrusted_realm);
	r->untrusted_realm = trusted ? NULL : xstrdup(realm_host);
	return trusted ? load_credentials(r, r->chal.realm, err) : 0;
}

static int fetch_token(struct registry *r, struct error *err)
{
	_cleanup_free_ char *host = auth_url_host(r->chal.realm), *url = NULL, *origin = NULL, *basic = NULL;
	struct xfer t = {.accept = "Accept: application/json", .limit = TOKEN_MAX_BYTES};
	char *token = NULL;
	long expires;
	int n;

	if (host == NULL || !(strncasecmp(r->chal.realm, "https://", 8) == 0 || r->allow_http))
		return error_set(err, 0, "refusing authentication realm %.200s (https required, see ALLOW_HTTP)",
				 r->chal.realm);
	n = realm_credentials(r, host, err);
	if (n < 0)
		return -1;
	url = auth_token_url(r->chal.realm, r->chal.service, r->ref->image);
	origin = url_origin(url);
	basic = n > 0 ? basic_header(&r->creds) : NULL;
	t.auth_origin = origin;
	t.auth_header = basic;
	n = request(r, &t, url, false, err);
	if (basic)
		explicit_bzero(basic, strlen(basic));
	if (n == 0)
		n = token_response_parse(t.body.buf ? t.body.buf : "", t.body.len, &token, &expires, err);
	xfer_done(&t);
	if (n < 0)
		return n;
	set_auth(r, xasprintf("Authorization: Bearer %s", token),
		 time(NULL) + (expires > 2 * TOKEN_MARGIN_S ? expires - TOKEN_MARGIN_S : expires / 2));
	explicit_bzero(token, strlen(token));
	free(token);
	return 0;
}

static int authenticate(struct registry *r, const char *www_auth, const char *url, struct error *err)
{
	struct auth_challenge c;
	int n;

	if (auth_challenge_parse(www_auth, &c, err) < 0)
		return error_prefix(err, "%s", url);
	auth_challenge_done(&r->chal);
	r->chal = c;
	if (c.scheme == AUTH_SCHEME_BEARER)
		return fetch_token(r, err);
	n = load_credentials(r, NULL, err);
	if (n < 0)
		return -1;
	if (n == 0)
		return auth_failed(r, url, err);
	set_auth(r, basic_header(&r->creds), 0);
	return 0;
}

/* Tokens are refreshed before they expire (enroot#278: long pulls died). */
static int refresh_if_expired(struct registry *r, struct error *err)
{
	if (r->auth == NULL || r->auth_expiry == 0 || time(NULL) < r->auth_expiry)
		return 0;
	return fetch_token(r, err);
}

/* ---- the request loop ---- */

static int request(struct registry *r, struct xfer *x, const char *url, bool registry_auth, struct error *err)
{
	bool reauthed = false;
	unsigned attempt = 0;

	for (;;) {
		_cleanup_free_ char *final = NULL;
		enum outcome out;
		CURLcode rc;

		if (registry_auth) {
			if (refresh_if_expired(r, err) < 0)
				return -1;
			x->auth_origin = r->origin;
			x->auth_header = r->auth;
		}
		if (x->sink == NULL) {
			strbuf_release(&x->body);
			x->delivered = 0;
		}
		x->range_from = x->delivered;
		rc = follow(r, x, url, &final, err);
		if (final == NULL)
			return -1;
		out = classify(r, x, rc, url, err);
		if (out == OUT_OK)
			return 0;
		if (out == OUT_FAIL)
			return -1;
		if (out == OUT_REAUTH) {
			/* Credentials go only to the registry itself, once per request. */
			if (!registry_auth || reauthed || x->www_auth == NULL || !same_origin(final, r->origin))
				return auth_failed(r, url, err);
			reauthed = true;
			if (authenticate(r, x->www_auth, url, err) < 0)
				return -1;
			continue;
		}
		if (attempt >= (unsigned)r->retries)
			return -1;
		backoff(attempt++, x->retry_after);
	}
}

/* ---- manifests ---- */

static void sha256_final_hex(EVP_MD_CTX *md, char out[DIGEST_BUF])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(md, h, &n);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", h[i]);
}

static EVP_MD_CTX *sha256_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	return md;
}

static void sha256_hex(const void *data, size_t len, char out[DIGEST_BUF])
{
	EVP_MD_CTX *md = sha256_new();

	EVP_DigestUpdate(md, data, len);
	sha256_final_hex(md, out);
	EVP_MD_CTX_free(md);
}

struct fetched {
	char *body;
	size_t len;
	char *content_type;
	char digest[DIGEST_BUF]; /* sha256 of the body */
};

static void fetched_done(struct fetched *f)
{
	free(f->body);
	free(f->content_type);
	memset(f, 0, sizeof(*f));
}

static int verify_manifest(const struct xfer *x, const char *url, const char *reference, const char *digest,
			   struct error *err)
{
	if (!strncmp(reference, "sha256:", 7) && strcmp(reference, digest) != 0)
		return error_set(err, 0, "manifest digest mismatch for %s: got %s", url, digest);
	/* The header is only trusted after it is checked (distribution spec). */
	if (x->docker_digest && !strncmp(x->docker_digest, "sha256:", 7) && strcmp(x->docker_digest, digest) != 0)
		return error_set(err, 0, "Docker-Content-Digest %.80s of %s does not match its content %s",
				 x->docker_digest, url, digest);
	return 0;
}

static int fetch_manifest(struct registry *r, const char *reference, struct fetched *ret, struct error *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->ref->image, reference);
	struct xfer x = {.accept = ACCEPT_ALL, .limit = MANIFEST_MAX_BYTES};
	int n;

	n = request(r, &x, url, true, err);
	if (n == 0) {
		ret->len = x.body.len;
		ret->body = strbuf_detach(&x.body);
		sha256_hex(ret->body, ret->len, ret->digest);
		n = verify_manifest(&x, url, reference, ret->digest, err);
		ret->content_type = x.content_type ? xstrdup(x.content_type) : NULL;
	}
	xfer_done(&x);
	if (n < 0)
		fetched_done(ret);
	return n;
}

/* Walk index -> platform manifest; nested indexes are bounded. */
static int resolve_platform(struct registry *r, const char *arch, const char *variant, struct fetched *f,
			    struct error *err)
{
	const char *reference = image_ref_reference(r->ref);
	enum manifest_kind kind;

	if (fetch_manifest(r, reference, f, err) < 0)
		return -1;
	for (int depth = 0;; depth++) {
		struct descriptor d = {0};
		int n;

		if (manifest_kind(f->body, f->len, f->content_type, &kind, err) < 0)
			return error_prefix(err, "%s", r->ref->image);
		if (kind == MANIFEST_KIND_IMAGE)
			return 0;
		if (depth >= INDEX_MAX_DEPTH)
			return error_set(err, 0, "%s: manifest lists nested too deeply", r->ref->image);
		if (index_select(f->body, f->len, "linux", arch, variant, &d, err) < 0)
			return error_prefix(err, "%s", r->ref->image);
		fetched_done(f);
		n = fetch_manifest(r, d.digest, f, err);
		if (n == 0 && f->len != d.size)
			n = error_set(err, 0, "manifest %s has %zu bytes, the list says %" PRIu64, d.digest, f->len,
				      d.size);
		descriptor_done(&d);
		if (n < 0)
			return -1;
	}
}

static const char *default_arch(const char **variant, struct utsname *u)
{
	if (uname(u) < 0)
		return NULL;
	return image_arch_normalize(u->machine, variant);
}

int registry_resolve(struct registry *r, const char *arch, const char *variant, struct manifest *ret_manifest,
		     char **ret_manifest_digest, struct error *err)
{
	struct fetched f = {0};
	struct utsname u;
	int n;

	if (arch == NULL && (arch = default_arch(&variant, &u)) == NULL)
		return error_set(err, 0, "Unsupported architecture: %s", u.machine);
	if (variant == NULL && !strcmp(arch, "arm64"))
		variant = "v8";
	n = resolve_platform(r, arch, variant, &f, err);
	if (n == 0 && ret_manifest)
		n = manifest_parse(f.body, f.len, ret_manifest, err);
	if (n == 0 && ret_manifest_digest)
		*ret_manifest_digest = xstrdup(f.digest);
	fetched_done(&f);
	return n;
}

int registry_digest(struct registry *r, const char *arch, const char *variant, char **ret, struct error *err)
{
	return registry_resolve(r, arch, variant, NULL, ret, err);
}

/* ---- blobs ---- */

struct blob_sink {
	EVP_MD_CTX *md;
	registry_sink_fn sink;
	void *arg;
};

static int hash_sink(const void *data, size_t len, void *arg, struct error *err)
{
	struct blob_sink *b = arg;

	EVP_DigestUpdate(b->md, data, len);
	return b->sink ? b->sink(data, len, b->arg, err) : 0;
}

int registry_fetch_blob_cb(struct registry *r, const char *digest, uint64_t size, registry_sink_fn sink,
			   void *arg, struct error *err)
{
	_cleanup_free_ char *url = NULL;
	struct blob_sink b = {NULL, sink, arg};
	struct xfer x = {.limit = size, .sink = hash_sink, .sink_arg = &b};
	char got[DIGEST_BUF];
	int n;

	if (!digest_valid(digest))
		return error_set(err, 0, "invalid blob digest: %.80s", digest);
	if (size > LAYER_MAX_BYTES)
		return error_set(err, 0, "blob %s is too large (%" PRIu64 " bytes)", digest, size);
	url = xasprintf("%s/v2/%s/blobs/%s", r->base, r->ref->image, digest);
	b.md = sha256_new();
	n = request(r, &x, url, true, err);
	if (n == 0 && x.delivered != size)
		n = error_set(err, 0, "size mismatch for %s: expected %" PRIu64 " bytes, got %" PRIu64, digest, size,
			      x.delivered);
	if (n == 0) {
		sha256_final_hex(b.md, got);
		if (strcmp(got, digest) != 0)
			n = error_set(err, 0, "Checksum mismatch: %s", digest);
	}
	EVP_MD_CTX_free(b.md);
	xfer_done(&x);
	return n;
}

static int fd_sink(const void *data, size_t len, void *arg, struct error *err)
{
	return write_all(*(int *)arg, data, len) < 0 ? error_errno(err, "failed to write blob") : 0;
}

int registry_fetch_blob(struct registry *r, const char *digest, uint64_t size, int out_fd, struct error *err)
{
	return registry_fetch_blob_cb(r, digest, size, fd_sink, &out_fd, err);
}

static int mem_sink(const void *data, size_t len, void *arg, struct error *err)
{
	(void)err;
	strbuf_add(arg, data, len);
	return 0;
}

int registry_fetch_blob_mem(struct registry *r, const char *digest, uint64_t size, char **ret, size_t *ret_len,
			    struct error *err)
{
	struct strbuf sb = STRBUF_INIT;

	if (size > CONFIG_MAX_BYTES)
		return error_set(err, 0, "blob %s is too large (%" PRIu64 " bytes)", digest, size);
	if (registry_fetch_blob_cb(r, digest, size, mem_sink, &sb, err) < 0) {
		strbuf_release(&sb);
		return -1;
	}
	*ret_len = sb.len;
	*ret = strbuf_detach(&sb);
	return 0;
}

/* ---- open/close ---- */

static const char *setting_env(const struct config *cfg, const char *name)
{
	const char *v = getenv(name);
	size_t n = strlen(name);

	if (v != NULL && *v != '\0')
		return v;
	for (size_t i = 0; i < cfg->extra_env.n; i++) {
		const char *e = cfg->extra_env.v[i];

		if (!strncmp(e, name, n) && e[n] == '=' && e[n + 1] != '\0')
			return e + n + 1;
	}
	return NULL;
}

static int open_settings(struct registry *r, const struct config *cfg, const struct image_ref *ref,
			 struct error *err)
{
	r->allow_http = config_bool(cfg, "ALLOW_HTTP");
	/* enroot: with ALLOW_HTTP the registry is spoken to over http (and
	 * redirects may go to https); without it https only, never a fallback. */
	r->base = xasprintf("%s://%s", r->allow_http ? "http" : "https", ref->registry);
	r->origin = url_origin(r->base);
	if (r->origin == NULL)
		return error_set(err, 0, "invalid registry: %s", ref->registry);
	r->retries = config_long(cfg, "TRANSFER_RETRIES", 0);
	if (r->retries < MIN_RETRIES)
		r->retries = MIN_RETRIES;
	if (r->retries > 100)
		r->retries = 100;
	r->connect_timeout = config_long(cfg, "CONNECT_TIMEOUT", 30);
	r->transfer_timeout = config_long(cfg, "TRANSFER_TIMEOUT", 0);
	r->cainfo = setting_env(cfg, "SSL_CERT_FILE");
	r->capath = setting_env(cfg, "SSL_CERT_DIR");
	r->cred_path = xasprintf("%s/.credentials",
				 config_get(cfg, "CONFIG_PATH") ? config_get(cfg, "CONFIG_PATH") : "~/.config/capsa");
	return 0;
}

int registry_open(struct registry **ret, const struct config *cfg, const struct image_ref *ref,
		  struct error *err)
{
	struct registry *r;

	if (ref->digest && !digest_valid(ref->digest))
		return error_set(err, 0, "unsupported or malformed digest (want sha256:<64 hex>): %.80s", ref->digest);
	pthread_once(&curl_once, curl_init_once);
	r = xcalloc(1, sizeof(*r));
	r->cfg = cfg;
	r->ref = ref;
	r->curl = curl_easy_init();
	if (r->curl == NULL) {
		registry_close(r);
		return error_set(err, 0, "failed to initialise libcurl");
	}
	if (open_settings(r, cfg, ref, err) < 0 ||
	    (ref->user == NULL && auth_infer_user(cfg, ref->registry, &r->login, err) < 0)) {
		registry_close(r);
		return -1;
	}
	if (ref->user)
		r->login = xstrdup(ref->user);
	*ret = r;
	return 0;
}

const char *registry_user(const struct registry *r)
{
	return r->login;
}

void registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	set_auth(r, NULL, 0);
	credentials_done(&r->creds);
	auth_challenge_done(&r->chal);
	free(r->untrusted_realm);
	free(r->base);
	free(r->origin);
	free(r->login);
	free(r->cred_path);
	free(r);
}
