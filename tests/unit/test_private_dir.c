/* SPDX-License-Identifier: Apache-2.0 */
/* open_private_dir(): per-user directories another user may have created
 * first (security.md K09). As root, each test drops to nobody in its own
 * forked child, so "another user" can be root. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define NOBODY 65534

static char *base;

/* A world-writable sticky scratch dir, as /tmp is; root may plant in it. */
static void setup(void)
{
	base = xstrdup("/tmp/capsa-privdir-XXXXXX");
	if (mkdtemp(base) == NULL)
		TAP_FAIL("mkdtemp");
	ASSERT_TRUE(chmod(base, 01777) == 0);
}

static void become_user(void)
{
	if (geteuid() != 0)
		return;
	/* The saved uid stays 0, so done() can clean up as root. */
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, 0) < 0 || setresuid(NOBODY, NOBODY, 0) < 0)
		TAP_FAIL("cannot switch to uid %d", NOBODY);
}

static void done(void)
{
	char *cmd = xasprintf("rm -rf '%s'", base);

	if (setresuid(0, 0, 0) < 0 || setresgid(0, 0, 0) < 0)
		(void)0; /* not root to begin with */
	if (system(cmd) != 0)
		printf("# could not remove %s\n", base);
	free(cmd);
}

static char *at(const char *name)
{
	return xasprintf("%s/%s", base, name);
}

/* A root-created path stands for "another user" once we are nobody. */
static bool as_other_user(void)
{
	return geteuid() == 0;
}

static void expect_refused(const char *path, unsigned flags, const char *what)
{
	struct error err = ERROR_INIT;
	int fd = open_private_dir(AT_FDCWD, path, flags, &err);

	if (fd >= 0)
		TAP_FAIL("'%s' was accepted, expected: %s", path, what);
	if (strstr(err.msg, path) == NULL || strstr(err.msg, what) == NULL)
		TAP_FAIL("message '%s' does not name '%s' and '%s'", err.msg, path, what);
}

TEST(creates_missing_0700)
{
	struct error err = ERROR_INIT;
	struct stat st;
	int fd;

	setup();
	become_user();
	fd = open_private_dir(AT_FDCWD, at("new"), PRIVATE_DIR_CREATE, &err);
	ASSERT_OK(fd, &err);
	ASSERT_TRUE(fstat(fd, &st) == 0);
	ASSERT_EQ(st.st_mode & 07777, 0700);
	ASSERT_EQ(st.st_uid, geteuid());
	close(fd);
	/* Again: it exists and is ours. */
	fd = open_private_dir(AT_FDCWD, at("new/"), PRIVATE_DIR_CREATE, &err);
	ASSERT_OK(fd, &err);
	close(fd);
	done();
}

TEST(symlink_planted_by_another_user_refused)
{
	char *mine, *theirs;

	setup();
	if (!as_other_user())
		SKIP("needs root to plant a link as another user");
	theirs = at("theirs");
	mine = at("mine");
	ASSERT_TRUE(mkdir(theirs, 0700) == 0);
	ASSERT_TRUE(mkdir(mine, 0700) == 0 && chown(mine, NOBODY, NOBODY) == 0);
	ASSERT_TRUE(symlink(theirs, at("rt-a")) == 0);
	ASSERT_TRUE(symlink(mine, at("rt-b")) == 0); /* even to a dir of ours */
	become_user();
	expect_refused(at("rt-a"), PRIVATE_DIR_CREATE, "is a symbolic link owned by uid 0, not by you: remove it");
	expect_refused(at("rt-b"), PRIVATE_DIR_CREATE, "is a symbolic link owned by uid 0, not by you: remove it");
	{
		struct error err = ERROR_INIT;

		/* A trailing slash must not make the kernel follow it. */
		ASSERT_FAILS(open_private_dir(AT_FDCWD, at("rt-b/"), PRIVATE_DIR_CREATE, &err));
		ASSERT_TRUE(strstr(err.msg, "is a symbolic link owned by uid 0") != NULL);
	}
	done();
}

TEST(own_symlink_followed_and_target_checked)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	if (as_other_user())
		ASSERT_TRUE(mkdir(at("rootdir"), 0755) == 0);
	become_user();
	ASSERT_TRUE(mkdir(at("scratch"), 0700) == 0);
	ASSERT_TRUE(symlink(at("scratch"), at("cache")) == 0);
	fd = open_private_dir(AT_FDCWD, at("cache"), PRIVATE_DIR_CREATE, &err);
	ASSERT_OK(fd, &err);
	close(fd);
	if (geteuid() != 0 && access(at("rootdir"), F_OK) == 0) {
		ASSERT_TRUE(symlink(at("rootdir"), at("cache2")) == 0);
		expect_refused(at("cache2"), 0, "is owned by uid 0, not by you: remove it");
	}
	/* A dangling link is not created through. */
	ASSERT_TRUE(symlink(at("nowhere"), at("dangling")) == 0);
	ASSERT_TRUE(open_private_dir(AT_FDCWD, at("dangling"), PRIVATE_DIR_CREATE, &err) < 0);
	ASSERT_TRUE(access(at("nowhere"), F_OK) < 0);
	done();
}

TEST(dir_of_another_user_refused)
{
	setup();
	if (!as_other_user())
		SKIP("needs root to create a directory as another user");
	ASSERT_TRUE(mkdir(at("rt"), 0700) == 0);
	ASSERT_TRUE(mkdir(at("open"), 0777) == 0 && chmod(at("open"), 0777) == 0);
	become_user();
	expect_refused(at("rt"), PRIVATE_DIR_CREATE, "is owned by uid 0, not by you: remove it");
	expect_refused(at("open"), 0, "is owned by uid 0, not by you");
	done();
}

/* Ours but writable by others: refused, not fixed, since something may
 * already have been planted in it. */
TEST(writable_by_others_refused)
{
	setup();
	become_user();
	ASSERT_TRUE(mkdir(at("g"), 0700) == 0 && chmod(at("g"), 0770) == 0);
	ASSERT_TRUE(mkdir(at("o"), 0700) == 0 && chmod(at("o"), 0703) == 0);
	expect_refused(at("g"), PRIVATE_DIR_CREATE, "writable by group or others (mode 0770): run chmod go-w");
	expect_refused(at("o"), 0, "writable by group or others (mode 0703)");
	/* Readable by others is fine (a site's 0755 scratch directory). */
	ASSERT_TRUE(mkdir(at("r"), 0700) == 0 && chmod(at("r"), 0755) == 0);
	{
		struct error err = ERROR_INIT;
		int fd = open_private_dir(AT_FDCWD, at("r"), 0, &err);

		ASSERT_OK(fd, &err);
		close(fd);
	}
	done();
}

TEST(not_a_directory_refused)
{
	setup();
	become_user();
	ASSERT_TRUE(close(open(at("f"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) == 0);
	expect_refused(at("f"), PRIVATE_DIR_CREATE, "is not a directory");
	done();
}

/* TEMP_PATH may be the shared /tmp; only with the flag. */
TEST(shared_tmp)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	if (!as_other_user())
		SKIP("needs a root-owned sticky directory");
	become_user();
	fd = open_private_dir(AT_FDCWD, base, PRIVATE_DIR_SHARED_TMP, &err);
	ASSERT_OK(fd, &err);
	close(fd);
	expect_refused(base, 0, "is owned by uid 0, not by you");
	done();
}

TAP_MAIN(T(creates_missing_0700), T(symlink_planted_by_another_user_refused), T(own_symlink_followed_and_target_checked),
	 T(dir_of_another_user_refused), T(writable_by_others_refused), T(not_a_directory_refused), T(shared_tmp))
