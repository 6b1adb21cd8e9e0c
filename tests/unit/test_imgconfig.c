/* SPDX-License-Identifier: Apache-2.0 */
#include "image/layers/imgconfig.h"
#include "tap.h"
#include "util/xalloc.h"

static const char config_json[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"User\":\"1000\",\"WorkingDir\":\"/work dir\","
	"\"Env\":[\"PATH=/usr/bin:/bin\",\"SPACES=a b  c\",\"KV=k=v=w\",\"EMPTY=\",\"UNI=\\u00fcn\\u00efc\\u00f6d\\u00e9\"],"
	"\"Entrypoint\":[\"/entry point.sh\",\"it's\"],\"Cmd\":[\"-c\",\"echo $HOME\"],"
	"\"Labels\":{\"b.label\":\"two\\nlines\",\"a.label\":\"x\"},"
	"\"Volumes\":{\"/data\":{},\"/a/../../etc\":{},\"/cache\":{}},"
	"\"ExposedPorts\":{\"80/tcp\":{}},\"StopSignal\":\"SIGINT\"}}";

/* What bash's ${x@Q} gives: the reference enroot uses. */
static char *bash_output(const char *script)
{
	char *cmd = xasprintf("bash -c '%s'", script);
	FILE *p = popen(cmd, "r");
	char buf[4096];
	size_t n;

	ASSERT_TRUE(p != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	return xstrdup(buf);
}

TEST(parse)
{
	struct image_config c;
	struct error err = ERROR_INIT;

	ASSERT_OK(image_config_parse(config_json, strlen(config_json), &c, &err), &err);
	ASSERT_STREQ(c.architecture, "amd64");
	ASSERT_STREQ(c.workdir, "/work dir");
	ASSERT_EQ(c.env.n, 5);
	ASSERT_STREQ(c.env.v[1], "SPACES=a b  c");
	ASSERT_EQ(c.entrypoint.n, 2);
	ASSERT_EQ(c.cmd.n, 2);
	ASSERT_EQ(c.labels.n, 4);
	ASSERT_STREQ(c.labels.v[0], "b.label");
	ASSERT_STREQ(c.labels.v[1], "two lines");
	/* Volumes sorted, the one climbing out of the root dropped. */
	ASSERT_EQ(c.volumes.n, 2);
	ASSERT_STREQ(c.volumes.v[0], "/cache");
	image_config_done(&c);
}

/* A line break in a label key must not start a command in /etc/rc. */
TEST(label_keys_stay_comments)
{
	static const char json[] = "{\"config\":{\"Labels\":{\"k\\ntouch /pwned\\r\":\"v\\nid\"}}}";
	struct image_config c;
	struct error err = ERROR_INIT;
	char *rc;

	ASSERT_OK(image_config_parse(json, strlen(json), &c, &err), &err);
	rc = image_config_rc(&c, "docker://x");
	ASSERT_TRUE(strstr(rc, "\n# k touch /pwned  v id\n") != NULL);
	ASSERT_TRUE(strstr(rc, "\ntouch") == NULL && strstr(rc, "\nid") == NULL);
	free(rc);
	image_config_done(&c);
}

TEST(files)
{
	struct image_config c;
	struct error err = ERROR_INIT;
	char *rc, *want;

	ASSERT_OK(image_config_parse(config_json, strlen(config_json), &c, &err), &err);
	rc = image_config_rc(&c, "docker://reg#img:tag");
	want = bash_output("e=(\"/entry point.sh\" \"it'\\''s\"); c=(-c \"echo \\$HOME\"); "
			   "printf \"%s\\n\" \"# enroot-provenance: docker://reg#img:tag\" \"# b.label two lines\" "
			   "\"# a.label x\" \"\" \"mkdir -p \\\"/work dir\\\" 2> /dev/null\" "
			   "\"cd \\\"/work dir\\\" && unset OLDPWD || exit 1\" \"\" \"if [ -s /etc/rc.local ]; then\" "
			   "\"    . /etc/rc.local\" fi \"\" \"if [ \\$# -gt 0 ]; then\" "
			   "\"    exec ${e[*]@Q} \\\"\\$@\\\"\" else \"    exec ${e[*]@Q} ${c[*]@Q}\" fi");
	ASSERT_STREQ(rc, want);
	ASSERT_STREQ(image_config_environment(&c), "PATH=/usr/bin:/bin\nSPACES=a b  c\nKV=k=v=w\nEMPTY=\nUNI=ünïcödé\n");
	ASSERT_STREQ(image_config_fstab(&c), "${ENROOT_ROOTFS}/cache /cache none x-create=dir,bind,rw,nosuid,nodev\n"
					     "${ENROOT_ROOTFS}/data /data none x-create=dir,bind,rw,nosuid,nodev\n");
	image_config_done(&c);
}

TEST(defaults)
{
	struct image_config c;
	struct error err = ERROR_INIT;
	const char *j = "{\"config\":{}}";
	char *rc;

	ASSERT_OK(image_config_parse(j, strlen(j), &c, &err), &err);
	rc = image_config_rc(&c, "x");
	ASSERT_TRUE(strstr(rc, "cd \"/\" && unset OLDPWD") != NULL);
	/* enroot's template leaves two spaces where the Entrypoint would be. */
	ASSERT_TRUE(strstr(rc, "    exec  '/bin/sh'\n") != NULL);
	ASSERT_TRUE(strstr(rc, "    exec  \"$@\"\n") != NULL);
}

TEST(quote_roundtrip)
{
	const char *samples[] = {"plain", "it's", "a\nb", "tab\there", "$(rm -rf /)", "back\\slash", "", "\x01x'"};

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct strbuf q = STRBUF_INIT;
		char *script, *got;

		shell_quote(samples[i], &q);
		script = xasprintf("printf %%s %s", strbuf_str(&q));
		{
			/* Run through bash with the quoted word spliced in verbatim. */
			char path[] = "/tmp/capsa-quote-XXXXXX";
			int fd = mkstemp(path);
			FILE *f = fdopen(fd, "w");
			fputs(script, f);
			fclose(f);
			char *cmd = xasprintf("bash %s", path);
			FILE *p = popen(cmd, "r");
			char buf[256];
			size_t n = fread(buf, 1, sizeof(buf) - 1, p);
			buf[n] = '\0';
			pclose(p);
			unlink(path);
			got = xstrdup(buf);
		}
		ASSERT_STREQ(got, samples[i]);
	}
}

TEST(bad_json)
{
	struct image_config c;
	struct error err = ERROR_INIT;

	ASSERT_FAILS(image_config_parse("[1,2]", 5, &c, &err));
	ASSERT_FAILS(image_config_parse("{\"config\":", 10, &c, &err));
	ASSERT_FAILS(image_config_parse("{\"config\":{\"Env\":\"x\"}}", 22, &c, &err));
	ASSERT_FAILS(image_config_parse("{\"config\":{\"Cmd\":[1]}}", 21, &c, &err));
}

TAP_MAIN(T(parse), T(files), T(defaults), T(quote_roundtrip), T(bad_json), T(label_keys_stay_comments))
