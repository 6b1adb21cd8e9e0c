/* SPDX-License-Identifier: Apache-2.0 */
/* The clamped resolver must never leave the root, whatever the image's links. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "runtime/resolve.h"
#include "tap.h"
#include "util/xalloc.h"

static char root[] = "/tmp/capsa-resolve-XXXXXX";
static char outside[] = "/tmp/capsa-outside-XXXXXX";
static int rootfd = -1;

static void setup(void)
{
	char *p;

	if (mkdtemp(root) == NULL || mkdtemp(outside) == NULL)
		TAP_FAIL("mkdtemp");
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	p = xasprintf("%s/etc", root);
	mkdir(p, 0755);
	p = xasprintf("%s/etc/real", root);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	ASSERT_TRUE(symlink(outside, xasprintf("%s/abs", root)) == 0);
	ASSERT_TRUE(symlink("../../../../../../../..", xasprintf("%s/etc/up", root)) == 0);
	ASSERT_TRUE(symlink("/etc", xasprintf("%s/etcabs", root)) == 0);
	ASSERT_TRUE(symlink("loop2", xasprintf("%s/loop1", root)) == 0);
	ASSERT_TRUE(symlink("loop1", xasprintf("%s/loop2", root)) == 0);
}

/* Removes both trees; called at the end of each test (tests run forked). */
static void cleanup(void)
{
	char *cmd = xasprintf("rm -rf '%s' '%s'", root, outside);
	ASSERT_TRUE(system(cmd) == 0);
}

/* Where did fd land, as a host path? */
static char *where(int fd)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	ASSERT_TRUE(n > 0);
	buf[n] = '\0';
	return xstrdup(buf);
}

TEST(plain_and_dotdot_clamped)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	ASSERT_OK(rootfs_resolve(rootfd, "/etc/real", RESOLVE_NOCREATE, &fd, &err), &err);
	ASSERT_STREQ(where(fd), xasprintf("%s/etc/real", root));
	ASSERT_OK(rootfs_resolve(rootfd, "/../../../etc/../etc/real", RESOLVE_NOCREATE, &fd, &err), &err);
	ASSERT_STREQ(where(fd), xasprintf("%s/etc/real", root));
	cleanup();
}

TEST(symlinks_stay_inside)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	/* An absolute link restarts at the container root, not the host's. */
	ASSERT_OK(rootfs_resolve(rootfd, "/abs", RESOLVE_CREATE_DIR, &fd, &err), &err);
	ASSERT_TRUE(strncmp(where(fd), root, strlen(root)) == 0);
	ASSERT_OK(rootfs_resolve(rootfd, "/etc/up/etc/real", RESOLVE_NOCREATE, &fd, &err), &err);
	ASSERT_STREQ(where(fd), xasprintf("%s/etc/real", root));
	ASSERT_OK(rootfs_resolve(rootfd, "/etcabs/real", RESOLVE_NOCREATE, &fd, &err), &err);
	ASSERT_STREQ(where(fd), xasprintf("%s/etc/real", root));
	/* Nothing was created on the host side. */
	struct stat st;
	ASSERT_TRUE(stat(xasprintf("%s/tmp", outside), &st) < 0);
	cleanup();
}

TEST(create_kinds)
{
	struct error err = ERROR_INIT;
	struct stat st;
	int fd;

	setup();
	ASSERT_OK(rootfs_resolve(rootfd, "/a/b/mnt", RESOLVE_CREATE_DIR, &fd, &err), &err);
	ASSERT_TRUE(stat(xasprintf("%s/a/b", root), &st) == 0 && (st.st_mode & 07777) == 0755);
	ASSERT_TRUE(stat(xasprintf("%s/a/b/mnt", root), &st) == 0 && S_ISDIR(st.st_mode) &&
		    (st.st_mode & 07777) == 0);
	ASSERT_OK(rootfs_resolve(rootfd, "/f/file", RESOLVE_CREATE_FILE, &fd, &err), &err);
	ASSERT_TRUE(stat(xasprintf("%s/f/file", root), &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 07777) == 0);
	ASSERT_OK(rootfs_resolve(rootfd, "/p/q", RESOLVE_MKDIR_P, &fd, &err), &err);
	ASSERT_TRUE(stat(xasprintf("%s/p/q", root), &st) == 0 && (st.st_mode & 07777) == 0755);
	cleanup();
}

TEST(errors)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	ASSERT_FAILS(rootfs_resolve(rootfd, "/missing/x", RESOLVE_NOCREATE, &fd, &err));
	ASSERT_TRUE(strstr(err.msg, "missing") != NULL);
	ASSERT_FAILS(rootfs_resolve(rootfd, "/loop1", RESOLVE_NOCREATE, &fd, &err));
	ASSERT_FAILS(rootfs_resolve(rootfd, "/etc/real/x", RESOLVE_NOCREATE, &fd, &err));
	cleanup();
}

TEST(open_file_nofollow)
{
	struct error err = ERROR_INIT;
	int fd;

	setup();
	ASSERT_TRUE(symlink(xasprintf("%s/victim", outside), xasprintf("%s/etc/passwd", root)) == 0);
	/* The last component is never followed: a link planted at a file we
	 * write cannot redirect the write to the host. */
	ASSERT_FAILS(rootfs_open(rootfd, "/etc/passwd", O_WRONLY | O_CREAT, 0644, &fd, &err));
	ASSERT_OK(rootfs_open(rootfd, "/etc/new", O_WRONLY | O_CREAT, 0644, &fd, &err), &err);
	struct stat st;
	ASSERT_TRUE(stat(xasprintf("%s/victim", outside), &st) < 0);
	cleanup();
}

/* Image files are read on the host before pivot_root: a FIFO must not
 * block, a link must not lead out, a huge file must not be read whole. */
TEST(read_file_regular_only)
{
	struct error err = ERROR_INIT;
	char *buf = NULL;
	size_t len = 1;

	setup();
	ASSERT_OK(rootfs_read_file(rootfd, "/etc/missing", 16, &buf, &len, &err), &err);
	ASSERT_STREQ(buf, "");
	ASSERT_EQ(len, 0);
	ASSERT_OK(rootfs_read_file(rootfd, "/etc/real/below", 16, &buf, NULL, &err), &err);
	ASSERT_STREQ(buf, "");
	ASSERT_TRUE(mkfifo(xasprintf("%s/etc/fifo", root), 0644) == 0);
	ASSERT_FAILS(rootfs_read_file(rootfd, "/etc/fifo", 16, &buf, NULL, &err));
	ASSERT_TRUE(strstr(err.msg, "'/etc/fifo' is a FIFO, not a regular file") != NULL);
	ASSERT_FAILS(rootfs_read_file(rootfd, "/etc", 16, &buf, NULL, &err));
	ASSERT_TRUE(strstr(err.msg, "a directory") != NULL);
	/* Symlinks are followed inside the root only, to a regular file only. */
	ASSERT_TRUE(write(open(xasprintf("%s/etc/real", root), O_WRONLY | O_TRUNC), "in", 2) == 2);
	ASSERT_TRUE(symlink("real", xasprintf("%s/etc/link", root)) == 0);
	ASSERT_OK(rootfs_read_file(rootfd, "/etc/link", 16, &buf, &len, &err), &err);
	ASSERT_STREQ(buf, "in");
	ASSERT_TRUE(symlink("fifo", xasprintf("%s/etc/fifolink", root)) == 0);
	ASSERT_FAILS(rootfs_read_file(rootfd, "/etc/fifolink", 16, &buf, NULL, &err));
	ASSERT_TRUE(symlink(xasprintf("%s/victim", outside), xasprintf("%s/etc/out", root)) == 0);
	ASSERT_TRUE(write(open(xasprintf("%s/victim", outside), O_WRONLY | O_CREAT, 0644), "host", 4) == 4);
	ASSERT_OK(rootfs_read_file(rootfd, "/etc/out", 16, &buf, &len, &err), &err);
	ASSERT_EQ(len, 0);
	ASSERT_TRUE(truncate(xasprintf("%s/etc/real", root), 17) == 0);
	ASSERT_FAILS(rootfs_read_file(rootfd, "/etc/real", 16, &buf, NULL, &err));
	ASSERT_TRUE(strstr(err.msg, "larger than the limit of 16 bytes") != NULL);
	ASSERT_OK(rootfs_read_file(rootfd, "/etc/up/etc/real", 17, &buf, &len, &err), &err);
	ASSERT_EQ(len, 17);
	cleanup();
}

TAP_MAIN(T(plain_and_dotdot_clamped), T(symlinks_stay_inside), T(create_kinds), T(errors), T(open_file_nofollow),
	 T(read_file_regular_only))
