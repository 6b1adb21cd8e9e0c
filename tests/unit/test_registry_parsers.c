/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <sys/stat.h>

#include "config/config.h"
#include "image/registry/auth.h"
#include "image/registry/manifest.h"
#include "tap.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* ---- WWW-Authenticate ---- */

static void challenge(const char *h, struct auth_challenge *c)
{
	struct error err = ERROR_INIT;

	if (auth_challenge_parse(h, c, &err) < 0)
		TAP_FAIL("%s: %s", h, err.msg);
}

TEST(challenge_bearer)
{
	struct auth_challenge c;

	challenge("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		  "scope=\"repository:library/ubuntu:pull\"",
		  &c);
	ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
	ASSERT_STREQ(c.realm, "https://auth.docker.io/token");
	ASSERT_STREQ(c.service, "registry.docker.io");
	ASSERT_STREQ(c.scope, "repository:library/ubuntu:pull");
	ASSERT_TRUE(c.error == NULL);
	auth_challenge_done(&c);
}

/* enroot's awk splits on `",` and breaks on these. */
TEST(challenge_commas_spaces_escapes)
{
	struct auth_challenge c;

	challenge("  bearer  REALM = \"https://a.example/t?x=1,2\" , Service=\"my registry, inc\","
		  "scope=\"repository:a/b:pull,push repository:c:pull\", error=\"insufficient_scope\"",
		  &c);
	ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
	ASSERT_STREQ(c.realm, "https://a.example/t?x=1,2");
	ASSERT_STREQ(c.service, "my registry, inc");
	ASSERT_STREQ(c.scope, "repository:a/b:pull,push repository:c:pull");
	ASSERT_STREQ(c.error, "insufficient_scope");
	auth_challenge_done(&c);
	challenge("Bearer realm=\"https://x/\\\"q\\\\\",service=tok", &c);
	ASSERT_STREQ(c.realm, "https://x/\"q\\");
	ASSERT_STREQ(c.service, "tok");
	auth_challenge_done(&c);
}

TEST(challenge_several)
{
	struct auth_challenge c;

	challenge("Basic realm=\"basic one\", Bearer realm=\"https://tok\",service=\"s\"", &c);
	ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
	ASSERT_STREQ(c.realm, "https://tok");
	auth_challenge_done(&c);
	challenge("Negotiate abc==, Basic realm=\"Registry Realm\"", &c);
	ASSERT_EQ(c.scheme, AUTH_SCHEME_BASIC);
	ASSERT_STREQ(c.realm, "Registry Realm");
	auth_challenge_done(&c);
	challenge("Basic", &c);
	ASSERT_EQ(c.scheme, AUTH_SCHEME_BASIC);
	auth_challenge_done(&c);
}

TEST(challenge_errors)
{
	struct auth_challenge c;
	struct error err = ERROR_INIT;

	ASSERT_FAILS(auth_challenge_parse("Bearer service=\"x\"", &c, &err));
	ASSERT_TRUE(strstr(err.msg, "realm") != NULL);
	ASSERT_FAILS(auth_challenge_parse("Digest realm=\"x\"", &c, &err));
	ASSERT_TRUE(strstr(err.msg, "Unsupported authentication method") != NULL);
	ASSERT_FAILS(auth_challenge_parse("Bearer realm=\"unterminated", &c, &err));
	ASSERT_FAILS(auth_challenge_parse("", &c, &err));
}

/* ---- netrc ---- */

static void creds(const char *text, const char *host, const char *login, const char *want_login,
		  const char *want_pw)
{
	struct credentials c = {0};
	struct error err = ERROR_INIT;
	int r = netrc_find(text, host, login, NETRC_EVAL, &c, &err);

	if (r < 0)
		TAP_FAIL("%s: %s", host, err.msg);
	if (want_login == NULL) {
		if (r != 0)
			TAP_FAIL("%s: unexpected match %s", host, c.login);
		return;
	}
	if (r != 1)
		TAP_FAIL("%s: no match", host);
	ASSERT_STREQ(c.login, want_login);
	ASSERT_STREQ(c.password, want_pw);
	credentials_done(&c);
}

TEST(netrc_forms)
{
	const char *text = "machine nvcr.io login $oauthtoken password nvapi-123\n"
			   "# a comment line is just tokens nobody asks for\n"
			   "machine 127.0.0.1\n  login alice\n  password \"p w\\\"d\"\n"
			   "machine reg.example login bob password one\n"
			   "machine reg.example login carol password two\n";

	creds(text, "nvcr.io", NULL, "$oauthtoken", "nvapi-123");
	creds(text, "127.0.0.1:5443", NULL, "alice", "p w\"d");
	creds(text, "REG.example", NULL, "bob", "one");
	creds(text, "reg.example", "carol", "carol", "two");
	creds(text, "reg.example", "dave", NULL, NULL);
	creds(text, "other.io", NULL, NULL, NULL);
	creds("default login x password y\nmachine a login b password c\n", "zzz", NULL, NULL, NULL);
	creds("default login x password y\nmachine a login b password c\n", "a", NULL, "b", "c");
}

TEST(netrc_dollar_eval)
{
	/* One-line entries: the password (6th field) is evaluated with the
	 * rest of its line, as enroot's `echo` rewrite does. */
	creds("machine ecr.example login AWS password $(printf '%s' tok; echo en)\n", "ecr.example", NULL, "AWS",
	      "token");
	creds("machine h login u password $CAPSA_TEST_PW\n", "h", NULL, "u", "from-env");
	/* Not the 6th field of its line: literal. */
	creds("machine h\nlogin u\npassword $literal\n", "h", NULL, "u", "$literal");
	creds("machine h login u password \"$quoted\"\n", "h", NULL, "u", "$quoted");
	/* An expression that prints nothing is an error, not an empty password. */
	{
		struct credentials c = {0};
		struct error err = ERROR_INIT;

		ASSERT_FAILS(netrc_find("machine h login u password $(true)\n", "h", NULL, NETRC_EVAL, &c, &err));
	}
}

/* The expression can be a secret ($PASSWORD) or name one, and every local
 * user can read a process's argv in /proc/PID/cmdline: it must not be on
 * sh's command line. The expression prints that command line itself ($$ is
 * the evaluating sh, also inside the substitution), so no race is involved. */
TEST(netrc_dollar_expression_not_in_argv)
{
	struct credentials c = {0};
	struct error err = ERROR_INIT;

	ASSERT_EQ(netrc_find("machine h login u password $(xargs -0 </proc/$$/cmdline) secret-marker\n", "h",
			     NULL, NETRC_EVAL, &c, &err),
		  1);
	/* The evaluation still happened: the marker comes back after argv. */
	ASSERT_TRUE(strstr(c.password, "/bin/sh") == c.password);
	if (strstr(c.password, "cmdline") != NULL || strstr(c.password, "secret-marker") != strrchr(c.password, ' ') + 1)
		TAP_FAIL("the expression is visible in sh's argv: '%s'", c.password);
	credentials_done(&c);
}

TEST(netrc_infer)
{
	const char *text = "  machine nvcr.io login $oauthtoken password x\n"
			   "machine 127.0.0.1 login alice password y\n";
	char *u;

	u = netrc_infer_login(text, "nvcr.io");
	ASSERT_STREQ(u, "$oauthtoken");
	free(u);
	u = netrc_infer_login(text, "127.0.0.1:5443");
	ASSERT_STREQ(u, "alice");
	free(u);
	ASSERT_TRUE(netrc_infer_login(text, "docker.io") == NULL);
}

/* A machine with a port is only for that port; one without keeps matching
 * any port (enroot's format has none). Inference agrees with lookup. */
TEST(netrc_port_match)
{
	const char *text = "machine reg.example:5000 login a password pa\n"
			   "machine reg.example login b password pb\n"
			   "machine 127.0.0.1:5001 login tok password pt\n"
			   "machine [::1]:5000 login six password p6\n";
	static const struct {
		const char *host, *login, *password;
	} want[] = {
		{"reg.example:5000", "a", "pa"}, {"reg.example:5001", "b", "pb"}, {"reg.example", "b", "pb"},
		{"127.0.0.1:5443", NULL, NULL},  {"127.0.0.1", NULL, NULL},       {"[::1]:5000", "six", "p6"},
		{"[::1]:5001", NULL, NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *u = netrc_infer_login(text, want[i].host);

		creds(text, want[i].host, NULL, want[i].login, want[i].password);
		if (want[i].login == NULL)
			ASSERT_TRUE(u == NULL);
		else
			ASSERT_STREQ(u, want[i].login);
		free(u);
	}
	creds(text, "127.0.0.1:5001", NULL, "tok", "pt");
	creds("machine REG.example login c password pc\n", "reg.EXAMPLE:443", NULL, "c", "pc");
	ASSERT_TRUE(auth_host_matches("h", "h:1"));
	ASSERT_TRUE(auth_host_matches("H:1", "h:1"));
	ASSERT_TRUE(!auth_host_matches("h:1", "h"));
	ASSERT_TRUE(!auth_host_matches("h:1", "h:2"));
	ASSERT_TRUE(!auth_host_matches("h", "hh"));
	ASSERT_TRUE(auth_host_matches("[::1]", "[::1]:5000"));
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/capsa-auth.XXXXXX");

	if (mkdtemp(d) == NULL)
		TAP_FAIL("mkdtemp");
	return d;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		TAP_FAIL("write %s", path);
	fchmod(fd, mode);
	close(fd);
}

/* Credentials go to a token realm on another host only for a known or
 * configured pairing, and never over http to another host. */
TEST(realm_pairing)
{
	static const struct {
		const char *pairs, *registry, *realm;
		bool trusted;
	} cases[] = {
		{NULL, "nvcr.io", "https://authn.nvidia.com/token", true},
		{NULL, "NVCR.IO", "https://AUTHN.nvidia.com:443/token", true},
		{NULL, "nvcr.io", "https://nvcr.io/proxy_auth", true},
		{NULL, "registry-1.docker.io", "https://auth.docker.io/token", true},
		{NULL, "registry.gitlab.com", "https://gitlab.com/jwt/auth", true},
		{NULL, "evil.example", "https://auth.docker.io/token", false},
		{NULL, "evil.example", "https://authn.nvidia.com/token", false},
		{NULL, "auth.docker.io", "https://registry-1.docker.io/token", false},
		{NULL, "nvcr.io", "http://authn.nvidia.com/token", false},
		{NULL, "nvcr.io", "https://u@authn.nvidia.com/token", false},
		{NULL, "nvcr.io", "ftp://authn.nvidia.com/token", false},
		{NULL, "127.0.0.1:5000", "http://127.0.0.1:5001/token", true},
		{NULL, "127.0.0.1:5000", "https://127.0.0.2/token", false},
		{"127.0.0.1:5000=127.0.0.2", "127.0.0.1:5000", "https://127.0.0.2:7000/token", true},
		{"127.0.0.1:5000=127.0.0.2", "127.0.0.1:5001", "https://127.0.0.2:7000/token", false},
		{"127.0.0.1:5000=127.0.0.2", "127.0.0.1:5000", "http://127.0.0.2:7000/token", false},
		{"a=b\treg.corp=auth.corp:8443  c=d", "reg.corp", "https://auth.corp:8443/t", true},
		{"reg.corp=auth.corp:8443", "reg.corp", "https://auth.corp/t", false},
		{"=auth.corp reg.corp= reg.corp auth.corp =", "reg.corp", "https://auth.corp/t", false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (auth_realm_trusted(cases[i].pairs, cases[i].registry, cases[i].realm) != cases[i].trusted)
			TAP_FAIL("%s -> %s with '%s': expected %s", cases[i].registry, cases[i].realm,
				 cases[i].pairs ? cases[i].pairs : "", cases[i].trusted ? "trusted" : "refused");
	}
}

/* The scope is the pulled image's, whatever the challenge asked for. */
TEST(token_url_scope)
{
	char *u = auth_token_url("https://a.example/token", "svc x", "ns/img");

	ASSERT_STREQ(u, "https://a.example/token?service=svc%20x&scope=repository%3Ans%2Fimg%3Apull");
	free(u);
	u = auth_token_url("https://a.example/token?x=1", NULL, "library/busybox");
	ASSERT_STREQ(u, "https://a.example/token?x=1&scope=repository%3Alibrary%2Fbusybox%3Apull");
	free(u);
	/* A scope hidden in the realm's own query is dropped too. */
	u = auth_token_url("https://a.example/t?scope=repository:v:push&scopes=2&scope&x#f&scope=y", "s", "i");
	ASSERT_STREQ(u, "https://a.example/t?scopes=2&x&service=s&scope=repository%3Ai%3Apull");
	free(u);
	u = auth_token_url("https://a.example/t?scope=a:b:push#frag", NULL, "i");
	ASSERT_STREQ(u, "https://a.example/t?scope=repository%3Ai%3Apull");
	free(u);
}

static void lookup(const struct config *cfg, const char *registry, const char *realm, const char *want_login)
{
	struct credentials c = {0};
	struct error err = ERROR_INIT;
	int r = auth_lookup(cfg, registry, realm, NULL, &c, &err);

	if (r < 0)
		TAP_FAIL("%s: %s", registry, err.msg);
	if (want_login == NULL && r != 0)
		TAP_FAIL("%s -> %s: unexpected credentials of %s", registry, realm ? realm : "itself", c.login);
	if (want_login != NULL && r != 1)
		TAP_FAIL("%s -> %s: no credentials", registry, realm ? realm : "itself");
	if (want_login != NULL)
		ASSERT_STREQ(c.login, want_login);
	credentials_done(&c);
}

/* NGC needs nvcr.io and authn.nvidia.com entries with enroot, Docker Hub an
 * auth.docker.io one (enroot#161/#241): the realm host's entry serves its
 * paired registry, and no other. */
TEST(lookup_realm_pairs_and_perms)
{
	struct config cfg = {0};
	struct credentials c = {0};
	struct error err = ERROR_INIT;
	char *dir = tmpdir(), *path = xasprintf("%s/.credentials", dir), *u = NULL;

	setenv("DOCKER_CONFIG", dir, 1);
	config_set(&cfg, "CONFIG_PATH", dir);
	write_text(path,
		   "machine auth.docker.io login hubuser password hubpw\n"
		   "machine authn.nvidia.com login $oauthtoken password nvapi\n"
		   "machine evil.example login mine password minepw\n",
		   0600);
	lookup(&cfg, "registry-1.docker.io", NULL, NULL);
	lookup(&cfg, "registry-1.docker.io", "https://auth.docker.io/token", "hubuser");
	lookup(&cfg, "nvcr.io", "https://authn.nvidia.com/token", "$oauthtoken");
	/* A registry naming someone else's token service gets nothing... */
	lookup(&cfg, "other.example", "https://auth.docker.io/token", NULL);
	/* ...and its own credentials do not go there either. */
	lookup(&cfg, "evil.example", "https://auth.docker.io/token", NULL);
	lookup(&cfg, "evil.example", "https://evil.example:8443/token", "mine");
	lookup(&cfg, "evil.example", NULL, "mine");
	config_set(&cfg, "AUTH_REALMS", "other.example=auth.docker.io");
	lookup(&cfg, "other.example", "https://auth.docker.io/token", "hubuser");
	ASSERT_OK(auth_lookup(&cfg, "registry-1.docker.io", "https://auth.docker.io/token", NULL, &c, &err), &err);
	ASSERT_STREQ(c.source, path);
	credentials_done(&c);
	ASSERT_OK(auth_infer_user(&cfg, "127.0.0.1:5000", &u, &err), &err);
	ASSERT_TRUE(u == NULL);
	/* It feeds sh: a file others can write is refused. */
	chmod(path, 0666);
	ASSERT_FAILS(auth_lookup(&cfg, "auth.docker.io", NULL, NULL, &c, &err));
	ASSERT_TRUE(strstr(err.msg, "writable") != NULL);
	unlink(path);
	ASSERT_EQ(auth_lookup(&cfg, "auth.docker.io", NULL, NULL, &c, &err), 0);
	rmdir(dir);
	free(path);
	free(dir);
	config_free(&cfg);
}

/* A root context (the Slurm plugin) never evaluates the user's `$`
 * passwords: the file is refused before anything runs. */
TEST(credentials_refused_in_root_mode)
{
	struct config cfg = {0};
	struct credentials c = {0};
	struct error err = ERROR_INIT;
	char *dir = tmpdir(), *path = xasprintf("%s/.credentials", dir), *mark = xasprintf("%s/ran", dir);
	char *text = xasprintf("machine h login u password $(touch %s; echo pw)\n", mark);

	config_set(&cfg, "CONFIG_PATH", dir);
	write_text(path, text, 0600);
	ASSERT_EQ(auth_lookup(&cfg, "h", NULL, NULL, &c, &err), 1);
	ASSERT_STREQ(c.password, "pw");
	credentials_done(&c);
	unlink(mark);
	cfg.mode = CONFIG_ROOT;
	ASSERT_FAILS(auth_lookup(&cfg, "h", NULL, NULL, &c, &err));
	ASSERT_TRUE(strstr(err.msg, "root context") != NULL);
	ASSERT_TRUE(access(mark, F_OK) < 0);
	unlink(path);
	rmdir(dir);
	config_free(&cfg);
}

TEST(docker_config_auths)
{
	/* "alice:s3cr:et" and "bob:pw" */
	const char *json = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6czNjcjpldA==\"},"
			   "\"127.0.0.1:5443\":{\"auth\":\"Ym9iOnB3\"},\"bad\":{\"auth\":\"!!\"}}}";
	struct credentials c = {0};
	struct error err = ERROR_INIT;

	ASSERT_EQ(docker_auths_find(json, strlen(json), "registry-1.docker.io", NULL, &c, &err), 1);
	ASSERT_STREQ(c.login, "alice");
	ASSERT_STREQ(c.password, "s3cr:et");
	credentials_done(&c);
	ASSERT_EQ(docker_auths_find(json, strlen(json), "127.0.0.1:5443", NULL, &c, &err), 1);
	ASSERT_STREQ(c.login, "bob");
	ASSERT_STREQ(c.password, "pw");
	credentials_done(&c);
	ASSERT_EQ(docker_auths_find(json, strlen(json), "127.0.0.1:5443", "eve", &c, &err), 0);
	ASSERT_EQ(docker_auths_find(json, strlen(json), "127.0.0.1:5000", NULL, &c, &err), 0);
	ASSERT_EQ(docker_auths_find(json, strlen(json), "bad", NULL, &c, &err), 0);
	ASSERT_FAILS(docker_auths_find("[", 1, "x", NULL, &c, &err));
}

TEST(hosts_and_base64)
{
	char *s;

	s = auth_host_strip_port("127.0.0.1:5443");
	ASSERT_STREQ(s, "127.0.0.1");
	free(s);
	s = auth_host_strip_port("[::1]:5000");
	ASSERT_STREQ(s, "::1");
	free(s);
	s = auth_url_host("https://authn.nvidia.com:443/token?x=1");
	ASSERT_STREQ(s, "authn.nvidia.com");
	free(s);
	ASSERT_TRUE(auth_url_host("file:///etc/passwd") == NULL);
	ASSERT_TRUE(auth_url_host("https://user@evil/") == NULL);
	s = auth_base64("bob:pw", 6);
	ASSERT_STREQ(s, "Ym9iOnB3");
	free(s);
}

/* ---- manifests ---- */

#define DESC(mt, d, size) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #size "}"
#define OCI_CFG DESC("application/vnd.oci.image.config.v1+json", D1, 100)
#define OCI_MANIFEST(layers)                                                                                 \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":" OCI_CFG ",\"layers\":[" layers "]}"

static int parse(const char *json, struct manifest *m, struct error *err)
{
	return manifest_parse(json, strlen(json), m, err);
}

TEST(manifest_oci)
{
	struct manifest m;
	struct error err = ERROR_INIT;
	const char *j = OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip", D2, 10) ","
				     DESC("application/vnd.oci.image.layer.v1.tar+zstd", D3, 20) ","
				     DESC("application/vnd.oci.image.layer.v1.tar", D1, 30) ","
				     "{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\","
				     "\"digest\":\"" D2 "\",\"size\":5,\"urls\":[\"https://127.0.0.2/x\"]}");

	ASSERT_OK(parse(j, &m, &err), &err);
	ASSERT_STREQ(m.media_type, MT_OCI_MANIFEST);
	ASSERT_STREQ(m.config.digest, D1);
	ASSERT_EQ(m.config.size, 100);
	ASSERT_EQ(m.n_layers, 4);
	ASSERT_EQ(m.layers[0].compression, LAYER_GZIP);
	ASSERT_EQ(m.layers[1].compression, LAYER_ZSTD);
	ASSERT_EQ(m.layers[2].compression, LAYER_TAR);
	ASSERT_EQ(m.layers[2].d.size, 30);
	ASSERT_TRUE(m.layers[3].foreign);
	ASSERT_TRUE(!m.layers[0].foreign);
	manifest_done(&m);
}

TEST(manifest_docker_v2s2)
{
	struct manifest m;
	struct error err = ERROR_INIT;
	const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"config\":"
		DESC("application/vnd.docker.container.image.v1+json", D1, 1500) ",\"layers\":["
		DESC("application/vnd.docker.image.rootfs.diff.tar.gzip", D2, 1048576) ","
		DESC("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", D3, 7) "]}";
	enum manifest_kind k;

	ASSERT_OK(manifest_kind(j, strlen(j), "application/vnd.docker.distribution.manifest.v2+json", &k, &err), &err);
	ASSERT_EQ(k, MANIFEST_KIND_IMAGE);
	ASSERT_OK(parse(j, &m, &err), &err);
	ASSERT_EQ(m.n_layers, 2);
	ASSERT_EQ(m.layers[0].compression, LAYER_GZIP);
	ASSERT_TRUE(m.layers[1].foreign);
	manifest_done(&m);
}

static void rejects(const char *json, const char *want)
{
	struct manifest m;
	struct error err = ERROR_INIT;

	if (parse(json, &m, &err) >= 0)
		TAP_FAIL("accepted: %.200s", json);
	if (strstr(err.msg, want) == NULL)
		TAP_FAIL("error '%s' lacks '%s'", err.msg, want);
}

TEST(manifest_rejects)
{
	rejects("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", "schema 1");
	rejects("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
		"schema 1");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip",
				  "sha256:ABCDEF1111111111111111111111111111111111111111111111111111111111", 1)),
		"malformed digest");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:../../../etc/passwd", 1)),
		"malformed digest");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip",
				  "sha512:1111111111111111111111111111111111111111111111111111111111111111", 1)),
		"malformed digest");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip", D1 "1", 1)), "malformed digest");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip", D1, -1)), "out of range");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip", D1, 2199023255553)),
		"out of range");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+bzip2", D1, 1)),
		"unsupported layer media type");
	rejects(OCI_MANIFEST(DESC("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", D1, 1)), "encrypted");
	rejects(OCI_MANIFEST(""), "no layers");
	rejects("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":"
		DESC("application/vnd.oci.image.config.v1+json", D1, 9000000) ",\"layers\":["
		DESC("application/vnd.oci.image.layer.v1.tar", D2, 1) "]}",
		"out of range");
	rejects("{\"schemaVersion\":2,\"config\":" DESC("application/vnd.cncf.helm.config.v1+json", D1, 10)
		",\"layers\":[" DESC("application/vnd.oci.image.layer.v1.tar", D2, 1) "]}",
		"not a container image");
	rejects("{\"schemaVersion\":2} trailing", "not a valid JSON");
	rejects("[1,2]", "not a valid JSON");
}

TEST(manifest_too_many_layers)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "{\"schemaVersion\":2,\"config\":" OCI_CFG ",\"layers\":[");
	for (int i = 0; i < MANIFEST_MAX_LAYERS + 1; i++)
		strbuf_addf(&sb, "%s" DESC("application/vnd.oci.image.layer.v1.tar", D2, 1), i ? "," : "");
	strbuf_addstr(&sb, "]}");
	rejects(sb.buf, "layers (limit");
	strbuf_release(&sb);
}

TEST(manifest_kind_checks)
{
	struct error err = ERROR_INIT;
	enum manifest_kind k;
	const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
	const char *typed = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}";

	ASSERT_OK(manifest_kind(idx, strlen(idx), NULL, &k, &err), &err);
	ASSERT_EQ(k, MANIFEST_KIND_INDEX);
	ASSERT_OK(manifest_kind(typed, strlen(typed), "application/json; charset=utf-8", &k, &err), &err);
	ASSERT_EQ(k, MANIFEST_KIND_INDEX);
	ASSERT_FAILS(manifest_kind(typed, strlen(typed), MT_DOCKER_MANIFEST, &k, &err));
	ASSERT_TRUE(strstr(err.msg, "does not match Content-Type") != NULL);
	ASSERT_FAILS(manifest_kind(idx, strlen(idx), "application/vnd.docker.distribution.manifest.v1+prettyjws", &k,
				   &err));
}

/* ---- index platform selection ---- */

#define ENTRY(d, os, arch, extra)                                                                            \
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" d "\",\"size\":500,\"platform\":{\"os\":\"" os     \
	"\",\"architecture\":\"" arch "\"" extra "}}"
#define INDEX(entries) "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[" entries "]}"

static void selects(const char *json, const char *arch, const char *variant, const char *want)
{
	struct descriptor d = {0};
	struct error err = ERROR_INIT;

	if (index_select(json, strlen(json), "linux", arch, variant, &d, &err) < 0) {
		if (want == NULL)
			return;
		TAP_FAIL("%s/%s: %s", arch, variant ? variant : "-", err.msg);
	}
	if (want == NULL)
		TAP_FAIL("%s: selected %s, expected no match", arch, d.digest);
	ASSERT_STREQ(d.digest, want);
	descriptor_done(&d);
}

TEST(index_platforms)
{
	const char *j = INDEX(ENTRY(D1, "windows", "amd64", "") "," ENTRY(D2, "linux", "amd64", "") ","
			      ENTRY(D3, "linux", "arm64", ",\"variant\":\"v8\"") ","
			      ENTRY(D1, "unknown", "unknown", ""));

	selects(j, "amd64", NULL, D2);
	selects(j, "arm64", "v8", D3);
	selects(j, "arm64", NULL, D3);
	selects(j, "ppc64le", NULL, NULL);
	selects(j, "arm64", "v9", NULL);
}

TEST(index_variants_first_match)
{
	const char *arm64_novariant = INDEX(ENTRY(D1, "linux", "arm", ",\"variant\":\"v6\"") ","
					    ENTRY(D2, "linux", "arm", ",\"variant\":\"v7\"") ","
					    ENTRY(D3, "linux", "arm64", ""));
	const char *dup = INDEX(ENTRY(D1, "linux", "amd64", "") "," ENTRY(D2, "linux", "amd64", ""));
	struct descriptor d = {0};
	struct error err = ERROR_INIT;

	/* arm64 entries often carry no variant: v8 is implied. */
	selects(arm64_novariant, "arm64", "v8", D3);
	selects(arm64_novariant, "arm", "v7", D2);
	selects(arm64_novariant, "arm", NULL, D1);
	selects(arm64_novariant, "arm", "v5", NULL);
	selects(dup, "amd64", NULL, D1);
	ASSERT_FAILS(index_select(arm64_novariant, strlen(arm64_novariant), "linux", "s390x", NULL, &d, &err));
	ASSERT_TRUE(strstr(err.msg, "available: linux/arm/v6, linux/arm/v7, linux/arm64") != NULL);
}

TEST(index_bad_entries)
{
	const char *bad = INDEX("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"md5:abc\",\"size\":5,"
				"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}");
	const char *huge = INDEX("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":99999999,"
				 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}");

	selects(bad, "amd64", NULL, NULL);
	selects(huge, "amd64", NULL, NULL);
}

/* ---- token responses ---- */

TEST(token_responses)
{
	struct error err = ERROR_INIT;
	char *t = NULL;
	long e = 0;
	const char *both = "{\"token\":\"abc\",\"access_token\":\"def\",\"expires_in\":300}";
	const char *acc = "{\"access_token\":\"def\"}";
	const char *none = "{\"expires_in\":300}";
	const char *crlf = "{\"token\":\"a\\r\\nX-Evil: 1\"}";

	ASSERT_OK(token_response_parse(both, strlen(both), &t, &e, &err), &err);
	ASSERT_STREQ(t, "abc");
	ASSERT_EQ(e, 300);
	free(t);
	ASSERT_OK(token_response_parse(acc, strlen(acc), &t, &e, &err), &err);
	ASSERT_STREQ(t, "def");
	ASSERT_EQ(e, 60);
	free(t);
	ASSERT_FAILS(token_response_parse(none, strlen(none), &t, &e, &err));
	ASSERT_FAILS(token_response_parse(crlf, strlen(crlf), &t, &e, &err));
}

TEST(digests)
{
	ASSERT_TRUE(digest_valid(D1));
	ASSERT_TRUE(!digest_valid("sha256:abc"));
	ASSERT_TRUE(!digest_valid(NULL));
	ASSERT_TRUE(!digest_valid("sha256:111111111111111111111111111111111111111111111111111111111111111G"));
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		T(challenge_bearer),      T(challenge_commas_spaces_escapes),
		T(challenge_several),     T(challenge_errors),
		T(netrc_forms),           T(netrc_dollar_eval), T(netrc_dollar_expression_not_in_argv),
		T(netrc_infer),           T(netrc_port_match),
		T(realm_pairing),         T(credentials_refused_in_root_mode),
		T(token_url_scope),       T(lookup_realm_pairs_and_perms),
		T(docker_config_auths),   T(hosts_and_base64),
		T(manifest_oci),          T(manifest_docker_v2s2),
		T(manifest_rejects),      T(manifest_too_many_layers),
		T(manifest_kind_checks),  T(index_platforms),
		T(index_variants_first_match), T(index_bad_entries),
		T(token_responses),       T(digests),
	};

	setenv("CAPSA_TEST_PW", "from-env", 1);
	return tap_run(tests, ARRAY_SIZE(tests), argc, argv);
}
