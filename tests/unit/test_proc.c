/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <string.h>

#include "tap.h"
#include "util/proc.h"

static char *env[] = {(char *)"PATH=/usr/bin:/bin", NULL};

/* The length is the byte count, NULs included: records split on NUL. */
TEST(capture_length_with_nuls)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"printf 'a\\0b\\0'", NULL};
	struct proc_output res = PROC_OUTPUT_INIT;
	struct error err = ERROR_INIT;

	ASSERT_OK(proc_capture(argv, env, NULL, 100, &res, &err), &err);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.len, 4);
	ASSERT_TRUE(!res.truncated);
	ASSERT_TRUE(memcmp(res.out, "a\0b\0", 5) == 0);
	proc_output_done(&res);
	ASSERT_TRUE(res.out == NULL);
}

/* Over the limit: the first max bytes, a flag, and the child still reaped. */
TEST(capture_truncated)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"head -c 10000 /dev/zero; exit 3", NULL};
	struct proc_output res = PROC_OUTPUT_INIT;
	struct error err = ERROR_INIT;

	ASSERT_OK(proc_capture(argv, env, NULL, 4097, &res, &err), &err);
	ASSERT_EQ(res.len, 4097);
	ASSERT_TRUE(res.truncated);
	ASSERT_EQ(res.out[4097], '\0');
	ASSERT_TRUE(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3);
	proc_output_done(&res);
}

TEST(capture_exact_limit_not_truncated)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"head -c 8192 /dev/zero", NULL};
	struct proc_output res = PROC_OUTPUT_INIT;
	struct error err = ERROR_INIT;

	ASSERT_OK(proc_capture(argv, env, NULL, 8192, &res, &err), &err);
	ASSERT_EQ(res.len, 8192);
	ASSERT_TRUE(!res.truncated);
	proc_output_done(&res);
}

static bool has(struct strv *sv, const char *kv)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (!strcmp(sv->v[i], kv))
			return true;
	}
	return false;
}

/* Helpers never take PATH, startup files, exported functions or loader
 * variables from the caller. */
TEST(helper_env)
{
	char *base[] = {(char *)"PATH=/home/u/evil:/usr/bin", (char *)"BASH_ENV=/tmp/x", (char *)"ENV=/tmp/y",
			(char *)"LD_PRELOAD=/tmp/z.so", (char *)"LD_LIBRARY_PATH=/tmp", (char *)"IFS=x",
			(char *)"SHELLOPTS=xtrace", (char *)"PS4=$(id)", (char *)"BASH_FUNC_echo%%=() { id; }",
			(char *)"HOME=/home/u", (char *)"PATHX=kept", (char *)"ENVIRONMENT=kept", NULL};
	struct strv out = STRV_INIT;

	char *no_path[] = {(char *)"HOME=/home/u", NULL};

	proc_helper_env(base, &out);
	ASSERT_EQ(out.n, 4);
	ASSERT_TRUE(has(&out, "HOME=/home/u"));
	ASSERT_TRUE(has(&out, "PATHX=kept"));
	ASSERT_TRUE(has(&out, "ENVIRONMENT=kept"));
	ASSERT_TRUE(has(&out, "PATH=/home/u/evil:/usr/bin"));
	strv_free(&out);
	proc_helper_env(no_path, &out);
	ASSERT_EQ(out.n, 2);
	ASSERT_TRUE(has(&out, "PATH=" PROC_HELPER_PATH));
	strv_free(&out);
}

TAP_MAIN(T(capture_length_with_nuls), T(capture_truncated), T(capture_exact_limit_not_truncated), T(helper_env))
