/* SPDX-License-Identifier: Apache-2.0 */
/* The -c CONFIG collector: records come back NUL-separated from bash, and a
 * config that exits early or prints too much must fail, not over-read. */
#include <stdlib.h>
#include <string.h>

#include "runtime/conffile.h"
#include "tap.h"
#include "util/xalloc.h"

static char *conf_path;

/* Called at the end of each test (tap.h leaves with _exit, so no atexit). */
static void remove_conf(void)
{
	char *cmd = xasprintf("rm -rf \"$(dirname '%s')\"", conf_path);

	ASSERT_TRUE(system(cmd) == 0);
	free(cmd);
}

static void write_conf(const char *text)
{
	char d[] = "/tmp/capsa-conffile-XXXXXX";
	FILE *f;

	if (mkdtemp(d) == NULL)
		TAP_FAIL("mkdtemp");
	conf_path = xasprintf("%s/job.conf", d);
	f = fopen(conf_path, "w");
	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int collect(struct start_ctx *ctx, struct start_opts *o, struct error *err)
{
	memset(ctx, 0, sizeof(*ctx));
	memset(o, 0, sizeof(*o));
	o->conf_file = conf_path;
	ctx->opts = o;
	strv_push(&ctx->host_env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	return conffile_collect(ctx, err);
}

TEST(records)
{
	struct start_ctx ctx;
	struct start_opts o;
	struct error err = ERROR_INIT;

	write_conf("environ() { echo A=1; }\nmounts() { echo '/x /y none bind'; }\nrc() { echo hi; }\n");
	ASSERT_OK(collect(&ctx, &o, &err), &err);
	ASSERT_STREQ(ctx.conf_environ, "A=1\n");
	ASSERT_STREQ(ctx.conf_mounts, "/x /y none bind\n");
	ASSERT_TRUE(ctx.rc != NULL && strstr(ctx.rc, "echo hi") != NULL);
	remove_conf();
}

TEST(no_functions)
{
	struct start_ctx ctx;
	struct start_opts o;
	struct error err = ERROR_INIT;

	write_conf("# nothing\n");
	ASSERT_OK(collect(&ctx, &o, &err), &err);
	ASSERT_STREQ(ctx.conf_environ, "");
	ASSERT_STREQ(ctx.conf_mounts, "");
	ASSERT_TRUE(ctx.rc == NULL);
	remove_conf();
}

/* environ() leaving bash with status 0 before any separator was printed:
 * the output is empty, and the old code read the records past its end. */
TEST(environ_exits_early)
{
	struct start_ctx ctx;
	struct start_opts o;
	struct error err = ERROR_INIT;

	write_conf("environ() { exit 0; }\n");
	ASSERT_FAILS(collect(&ctx, &o, &err));
	ASSERT_TRUE(strstr(err.msg, conf_path) != NULL);
	ASSERT_TRUE(strstr(err.msg, "incomplete") != NULL);
	remove_conf();
}

TEST(mounts_exits_early)
{
	struct start_ctx ctx;
	struct start_opts o;
	struct error err = ERROR_INIT;

	write_conf("environ() { echo A=1; }\nmounts() { echo /a /b none bind; exit 0; }\n");
	ASSERT_FAILS(collect(&ctx, &o, &err));
	ASSERT_TRUE(strstr(err.msg, "incomplete") != NULL);
	remove_conf();
}

/* More than the 4 MiB limit: an error, never a silently shortened record. */
TEST(output_too_large)
{
	struct start_ctx ctx;
	struct start_opts o;
	struct error err = ERROR_INIT;

	write_conf("environ() { head -c 5000000 /dev/zero | tr '\\0' a; echo; }\n");
	ASSERT_FAILS(collect(&ctx, &o, &err));
	ASSERT_TRUE(strstr(err.msg, "too much output") != NULL);
	remove_conf();
}

TAP_MAIN(T(records), T(no_functions), T(environ_exits_early), T(mounts_exits_early), T(output_too_large))
