/* SPDX-License-Identifier: Apache-2.0 */
#include "config/envfile.h"
#include "tap.h"

TEST(normalize)
{
	struct strv out = STRV_INIT;

	env_normalize("  A=1\n# comment\n\nexport B=2\nENROOT_X=3\nCAPSA_Y=4\nC=\"quoted\"\nD='x y'\n"
		      "E=\"half\n9BAD=1\nF=a=b\n_G=\n",
		      &out);
	ASSERT_EQ(out.n, 6);
	ASSERT_STREQ(out.v[0], "A=1");
	ASSERT_STREQ(out.v[1], "C=quoted");
	ASSERT_STREQ(out.v[2], "D=x y");
	ASSERT_STREQ(out.v[3], "E=\"half");
	ASSERT_STREQ(out.v[4], "F=a=b");
	ASSERT_STREQ(out.v[5], "_G=");
	strv_free(&out);
}

TEST(subst)
{
	char *envp[] = {(char *)"HOME=/h", (char *)"X=1", (char *)"X=2", NULL};
	char *s = env_subst("${HOME}/a $HOME ${UNSET}|${X}|${bad-}", envp);

	ASSERT_STREQ(s, "/h/a $HOME |2|${bad-}");
	free(s);
}

static bool only_x(const char *name)
{
	return !strcmp(name, "X");
}

TEST(subst_filtered)
{
	char *envp[] = {(char *)"X=1", (char *)"SECRET=s", NULL};
	struct strv denied = STRV_INIT;
	char *s = env_subst_filtered("${X}${SECRET}-${SECRET}${UNSET}", envp, only_x, &denied);

	ASSERT_STREQ(s, "1-");
	ASSERT_EQ(denied.n, 2);
	ASSERT_STREQ(denied.v[0], "SECRET");
	ASSERT_STREQ(denied.v[1], "UNSET");
	free(s);
	strv_free(&denied);
}

TEST(valid_arg)
{
	ASSERT_TRUE(env_valid_arg("A"));
	ASSERT_TRUE(env_valid_arg("A_1=x y"));
	ASSERT_TRUE(env_valid_arg("_=1"));
	ASSERT_TRUE(!env_valid_arg("1A=2"));
	ASSERT_TRUE(!env_valid_arg("A-B=2"));
	ASSERT_TRUE(!env_valid_arg(""));
}

TAP_MAIN(T(normalize), T(subst), T(subst_filtered), T(valid_arg))
