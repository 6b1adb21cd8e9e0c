/* SPDX-License-Identifier: Apache-2.0 */
/* Round trips through sqfs_pack_dir()/sqfs_unpack(), cross-checked with
 * squashfs-tools and squashfuse; probing and corrupt-image handling. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sqfs/super.h>

#include "image/squashfs/sqfs_pack.h"
#include "image/squashfs/sqfs_unpack.h"
#include "tap.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define NOBODY 65534

/* ---- helpers ---- */

static char *make_workdir(void)
{
	char *dir = xstrdup("/tmp/capsa-test-sqfs.XXXXXX");

	if (mkdtemp(dir) == NULL)
		TAP_FAIL("mkdtemp: %s", strerror(errno));
	return dir;
}

static char *join(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL;
	va_list ap;
	int status;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		TAP_FAIL("write '%s': %s", path, strerror(errno));
	if (fchmod(fd, mode) < 0)
		TAP_FAIL("chmod '%s': %s", path, strerror(errno));
}

static void write_random(const char *path, size_t len, unsigned seed)
{
	_cleanup_free_ uint8_t *buf = xmalloc(len);

	srand(seed);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand();
	write_file(path, buf, len, 0644);
}

static void mkdir_or_fail(const char *path, mode_t mode)
{
	if (mkdir(path, 0755) < 0 || chmod(path, mode) < 0)
		TAP_FAIL("mkdir '%s': %s", path, strerror(errno));
}

static void rm_rf(const char *path)
{
	run("chmod -R u+rwX '%s' 2>/dev/null; rm -rf --one-file-system '%s'", path, path);
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		TAP_FAIL("open '%s': %s", path, strerror(errno));
	return fd;
}

static int pack(const char *src, const char *out, const struct sqfs_pack_opts *opts, struct error *err)
{
	_cleanup_close_ int fd = open_dir(src);

	return sqfs_pack_dir(fd, out, opts, err);
}

/* Unpack into a new directory dst, setuid and setgid bits kept. */
static int unpack(const char *image, const char *dst, struct error *err)
{
	static const struct sqfs_unpack_opts keep = {.keep_setid = true};
	_cleanup_close_ int fd = -1;

	mkdir_or_fail(dst, 0755);
	fd = open_dir(dst);
	return sqfs_unpack(image, &keep, fd, err);
}

static bool xattrs_supported(const char *dir)
{
	_cleanup_free_ char *p = join(dir, ".xattr-probe");
	bool ok;

	write_file(p, "", 0, 0644);
	ok = setxattr(p, "user.probe", "1", 1, 0) == 0;
	unlink(p);
	return ok;
}

static void drop_privileges(void)
{
	if (geteuid() != 0)
		return;
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		SKIP("cannot switch to an unprivileged user");
}

/* ---- the reference tree ---- */

struct tree_info {
	bool xattrs;
	bool devices;
	bool socket;
};

static void make_links_and_specials(const char *src, struct tree_info *info)
{
	_cleanup_free_ char *p = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s;

	if (symlink("a/b/c/file", (p = join(src, "rel"))) < 0 || symlink("/etc/passwd", join(src, "abs")) < 0 ||
	    symlink("nonexistent/dangling", join(src, "dangling")) < 0)
		TAP_FAIL("symlink: %s", strerror(errno));
	free(p);
	p = join(src, "fifo");
	if (mkfifo(p, 0640) < 0)
		TAP_FAIL("mkfifo: %s", strerror(errno));
	free(p);
	p = join(src, "sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	info->socket = s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (s >= 0)
		close(s);
	free(p);
	p = join(src, "dev");
	mkdir_or_fail(p, 0755);
	free(p);
	p = join(src, "dev/null");
	info->devices = mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0;
}

static void make_files(const char *src)
{
	static const char text[] = "hello, squashfs\n";
	_cleanup_free_ uint8_t *zeros = xcalloc(1, 600 * 1024);
	char name[64];

	write_file(join(src, "a/b/c/file"), text, sizeof(text) - 1, 0644);
	write_file(join(src, "empty"), "", 0, 0644);
	write_file(join(src, "suid"), text, sizeof(text) - 1, 04755);
	write_file(join(src, "sgid"), text, sizeof(text) - 1, 02711);
	write_file(join(src, "with space"), text, 5, 0600);
	write_file(join(src, "\xc3\xbcnic\xc3\xb6" "de \xe2\x9c\x93"), text, 7, 0444);
	write_file(join(src, "-dash"), text, 3, 0755);
	write_random(join(src, "big"), (3u << 20) / 2 + 123, 1);
	write_random(join(src, "a/block-exact"), 256 * 1024, 2);
	write_file(join(src, "zeros"), zeros, 600 * 1024, 0644);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "a/b/many-%02d", i);
		write_file(join(src, name), name, strlen(name), 0644);
	}
}

/* Builds src under work; the join() results leak, which is fine in a test child. */
static char *make_tree(const char *work, struct tree_info *info)
{
	char *src = join(work, "src");

	mkdir_or_fail(src, 0755);
	mkdir_or_fail(join(src, "a"), 0755);
	mkdir_or_fail(join(src, "a/b"), 0755);
	mkdir_or_fail(join(src, "a/b/c"), 0755);
	mkdir_or_fail(join(src, "restricted"), 0755);
	mkdir_or_fail(join(src, "ro"), 0755);
	mkdir_or_fail(join(src, "sticky"), 01777);
	make_files(src);
	make_links_and_specials(src, info);
	write_file(join(src, "ro/inside"), "x", 1, 0644);
	write_file(join(src, "restricted/f"), "r", 1, 0640);
	chmod(join(src, "restricted"), 0750);
	if (link(join(src, "a/b/c/file"), join(src, "ro/hardlink")) < 0 ||
	    link(join(src, "big"), join(src, "big-link")) < 0)
		TAP_FAIL("link: %s", strerror(errno));
	chmod(join(src, "ro"), 0555);
	/* Unprivileged, a 0000 directory cannot be listed, hence not packed. */
	if (geteuid() == 0)
		mkdir_or_fail(join(src, "locked"), 0000);
	mkdir_or_fail(join(src, "noexec"), 0644);
	info->xattrs = xattrs_supported(work);
	if (info->xattrs && (setxattr(join(src, "a/b/c/file"), "user.test", "value", 5, 0) < 0 ||
			     setxattr(join(src, "a"), "user.dir", "d", 1, 0) < 0))
		TAP_FAIL("setxattr: %s", strerror(errno));
	return src;
}

/* ---- tree comparison ---- */

struct ino_pair {
	ino_t a, b;
};

struct cmp_state {
	struct ino_pair pairs[256];
	size_t n;
	bool skip_devices;
	bool check_mtime;
	bool fuse; /* squashfuse gives each path its own st_ino, even for hard links */
	mode_t ignore; /* mode bits not compared */
	size_t entries;
};

static void compare_content(const char *a, const char *b, off_t size)
{
	_cleanup_close_ int fa = open(a, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int fb = open(b, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *ba = xmalloc((size_t)size + 1);
	_cleanup_free_ char *bb = xmalloc((size_t)size + 1);

	/* An unprivileged run cannot read some root-owned sources. */
	if (fa < 0)
		return;
	if (fb < 0)
		TAP_FAIL("cannot read '%s': %s", b, strerror(errno));
	ASSERT_EQ(read(fa, ba, (size_t)size + 1), size);
	ASSERT_EQ(read(fb, bb, (size_t)size + 1), size);
	if (memcmp(ba, bb, (size_t)size) != 0)
		TAP_FAIL("content differs: '%s' '%s'", a, b);
}

static void compare_xattr(const char *a, const char *b)
{
	char va[256], vb[256];
	ssize_t la = lgetxattr(a, "user.test", va, sizeof(va));
	ssize_t lb = lgetxattr(b, "user.test", vb, sizeof(vb));
	ssize_t da = lgetxattr(a, "user.dir", va, sizeof(va));
	ssize_t db = lgetxattr(b, "user.dir", vb, sizeof(vb));

	if (la != lb || da != db || (la > 0 && memcmp(va, vb, (size_t)la) != 0))
		TAP_FAIL("xattrs differ: '%s' '%s'", a, b);
}

static void check_hardlink(struct cmp_state *cs, const struct stat *sa, const struct stat *sb)
{
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->pairs[i].a == sa->st_ino) {
			ASSERT_EQ(cs->pairs[i].b, sb->st_ino);
			return;
		}
	}
	ASSERT_EQ(sb->st_nlink, sa->st_nlink);
	ASSERT_TRUE(cs->n < ARRAY_SIZE(cs->pairs));
	cs->pairs[cs->n++] = (struct ino_pair){sa->st_ino, sb->st_ino};
}

static void compare_tree(struct cmp_state *cs, const char *a, const char *b);

static void compare_dir(struct cmp_state *cs, const char *a, const char *b)
{
	struct dirent **la = NULL, **lb = NULL;
	int na = scandir(a, &la, NULL, alphasort), nb = scandir(b, &lb, NULL, alphasort);
	int j = 0;

	/* An unprivileged run cannot list a root-only source: skip it. */
	if (nb < 0 && na >= 0)
		TAP_FAIL("cannot list '%s': %s", b, strerror(errno));
	for (int i = 0; i < na; i++) {
		_cleanup_free_ char *pa = join(a, la[i]->d_name);
		_cleanup_free_ char *pb = join(b, la[i]->d_name);
		struct stat st;

		if (strcmp(la[i]->d_name, ".") == 0 || strcmp(la[i]->d_name, "..") == 0)
			continue;
		if (cs->skip_devices && lstat(pa, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
			continue;
		compare_tree(cs, pa, pb);
		j++;
	}
	if (na >= 0) {
		int k = 0;

		/* FUSE file systems may not list "." and "..". */
		for (int i = 0; i < nb; i++)
			k += strcmp(lb[i]->d_name, ".") != 0 && strcmp(lb[i]->d_name, "..") != 0;
		ASSERT_EQ(k, j);
	}
	for (int i = 0; i < na; i++)
		free(la[i]);
	for (int i = 0; i < nb; i++)
		free(lb[i]);
	free(la);
	free(lb);
}

static void compare_tree(struct cmp_state *cs, const char *a, const char *b)
{
	struct stat sa, sb;

	if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0)
		TAP_FAIL("lstat '%s' / '%s': %s", a, b, strerror(errno));
	cs->entries++;
	if ((sa.st_mode & ~cs->ignore) != (sb.st_mode & ~cs->ignore))
		TAP_FAIL("mode of '%s': %o, expected %o", b, sb.st_mode, sa.st_mode);
	if (cs->check_mtime && sa.st_mtim.tv_sec != sb.st_mtim.tv_sec)
		TAP_FAIL("mtime of '%s': %ld, expected %ld", b, (long)sb.st_mtim.tv_sec, (long)sa.st_mtim.tv_sec);
	if (!S_ISDIR(sa.st_mode))
		ASSERT_EQ(sb.st_size, sa.st_size);
	if (S_ISREG(sa.st_mode) && sa.st_nlink > 1 && !cs->fuse)
		check_hardlink(cs, &sa, &sb);
	if (S_ISREG(sa.st_mode))
		compare_content(a, b, sa.st_size);
	if (S_ISREG(sa.st_mode) || S_ISDIR(sa.st_mode))
		compare_xattr(a, b);
	if (S_ISLNK(sa.st_mode)) {
		char ta[4096] = {0}, tb[4096] = {0};

		ASSERT_TRUE(readlink(a, ta, sizeof(ta) - 1) > 0 && readlink(b, tb, sizeof(tb) - 1) > 0);
		ASSERT_STREQ(tb, ta);
	}
	if (S_ISDIR(sa.st_mode))
		compare_dir(cs, a, b);
}

static void compare_trees(const char *a, const char *b, bool skip_devices)
{
	struct cmp_state cs = {.skip_devices = skip_devices, .check_mtime = true};

	compare_tree(&cs, a, b);
	ASSERT_TRUE(cs.entries > 1);
}

/* ---- unsquashfs -lln ---- */

static void mode_string(mode_t m, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";
	static const char rwx[] = "rwxrwxrwx";

	out[0] = types[(m & S_IFMT) >> 12];
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
	if (m & S_ISUID)
		out[3] = (m & S_IXUSR) ? 's' : 'S';
	if (m & S_ISGID)
		out[6] = (m & S_IXGRP) ? 's' : 'S';
	if (m & S_ISVTX)
		out[9] = (m & S_IXOTH) ? 't' : 'T';
	out[10] = '\0';
}

/* Every line must say 0/0, and the mode must match the source entry. */
static void check_listing_line(const char *src, char *line, size_t *n)
{
	_cleanup_free_ char *path = NULL;
	char perm[16], expect[11], *rel, *arrow;
	unsigned uid = 99, gid = 99;
	struct stat st;

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "%15s %u/%u", perm, &uid, &gid) != 3)
		TAP_FAIL("cannot parse '%s'", line);
	ASSERT_EQ(uid, 0);
	ASSERT_EQ(gid, 0);
	rel = strstr(line, " squashfs-root");
	ASSERT_TRUE(rel != NULL);
	rel += STRLEN(" squashfs-root");
	arrow = strstr(rel, " -> ");
	if (arrow != NULL)
		*arrow = '\0';
	path = xasprintf("%s%s", src, rel);
	if (lstat(path, &st) < 0)
		TAP_FAIL("'%s' is listed but not in the source", path);
	mode_string(st.st_mode, expect);
	if (strcmp(perm, expect) != 0)
		TAP_FAIL("'%s' is %s in the image, %s in the source", rel, perm, expect);
	(*n)++;
}

static size_t check_listing(const char *image, const char *src)
{
	_cleanup_free_ char *cmd = xasprintf("unsquashfs -lln '%s'", image);
	FILE *f = popen(cmd, "r");
	char line[4096];
	size_t n = 0;

	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		check_listing_line(src, line, &n);
	ASSERT_EQ(pclose(f), 0);
	return n;
}

/* ---- tests ---- */

TEST(pack_listing_is_all_root)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);

	ASSERT_OK(pack(src, img, NULL, &err), &err);
	ASSERT_TRUE(check_listing(img, src) > 20);
	ASSERT_OK(sqfs_image_probe(img, 0, &err), &err);
	ASSERT_EQ(run("unsquashfs -s '%s' | grep -q 'Compression zstd'", img), 0);
	rm_rf(work);
}

TEST(roundtrip)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);
	struct stat st;

	ASSERT_OK(pack(src, img, NULL, &err), &err);
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, true);
	if (info.devices)
		ASSERT_TRUE(lstat(join(dst, "dev/null"), &st) < 0 && errno == ENOENT);
	if (!info.xattrs)
		printf("# no user xattrs on this filesystem\n");
	rm_rf(work);
}

/* By default setuid/setgid files become plain files of the caller's: other
 * users must not be able to run them as the caller (CVE-2021-41103). */
TEST(unpack_drops_setid_files_by_default)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *src = join(work, "src"), *img = join(work, "s.sqsh"), *dst = join(work, "dst");
	_cleanup_close_ int fd = -1;
	struct error err = ERROR_INIT;
	struct stat st;

	mkdir_or_fail(src, 0755);
	write_file(join(src, "suid"), "x", 1, 04755);
	write_file(join(src, "sgid"), "x", 1, 02711);
	mkdir_or_fail(join(src, "gdir"), 0755);
	ASSERT_EQ(chmod(join(src, "gdir"), 02775), 0);
	ASSERT_OK(pack(src, img, NULL, &err), &err);
	mkdir_or_fail(dst, 0755);
	fd = open_dir(dst);
	ASSERT_OK(sqfs_unpack(img, NULL, fd, &err), &err);
	ASSERT_EQ(stat(join(dst, "suid"), &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0755);
	ASSERT_EQ(stat(join(dst, "sgid"), &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0711);
	ASSERT_EQ(stat(join(dst, "gdir"), &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 02775);
	rm_rf(work);
}

static void unpack_as_user(const char *img, const char *src)
{
	_cleanup_free_ char *userdir = NULL, *dst = NULL;
	struct error err = ERROR_INIT;

	drop_privileges();
	userdir = make_workdir();
	dst = join(userdir, "dst");
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, true);
	rm_rf(userdir);
}

TEST(roundtrip_unprivileged)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);
	int status = 0;
	pid_t pid;

	/* Packed with privileges (devices, a 0000 directory), unpacked without
	 * in a child, so that the parent can still remove its files. */
	ASSERT_OK(pack(src, img, NULL, &err), &err);
	chmod(work, 0755);
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		unpack_as_user(img, src);
		fflush(stdout);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	rm_rf(work);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		SKIP("cannot switch to an unprivileged user");
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(unsquashfs_and_squashfuse_read_pack)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	_cleanup_free_ char *ext = join(work, "ext");
	_cleanup_free_ char *mnt = join(work, "mnt");
	struct sqfs_pack_opts opts = {.compressor = "gzip", .block_size = 64 * 1024};
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);
	int status = 0;
	pid_t pid;

	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_EQ(run("unsquashfs -s '%s' | grep -q 'Compression gzip'", img), 0);
	ASSERT_EQ(run("unsquashfs -q -n -d '%s' '%s' >/dev/null 2>&1", ext, img), 0);
	{
		/* Unprivileged, unsquashfs drops setuid/setgid; sqfs_unpack keeps them. */
		struct cmp_state cs = {.check_mtime = true, .ignore = geteuid() ? 06000 : 0};

		compare_tree(&cs, src, ext);
	}
	mkdir_or_fail(mnt, 0755);
	if (run("squashfuse '%s' '%s' 2>/dev/null", img, mnt) != 0) {
		printf("# squashfuse cannot mount here, skipped that part\n");
		rm_rf(work);
		return;
	}
	/* Compare in a child: the mount must go away even if it fails. */
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct cmp_state cs = {.check_mtime = true, .fuse = true};

		compare_tree(&cs, src, mnt);
		fflush(stdout);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	run("fusermount -u '%s' 2>/dev/null || umount '%s'", mnt, mnt);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rm_rf(work);
}

/* Every compressor mksquashfs writes, lzo (enroot's default) included. */
static void unpack_mksquashfs(const char *comp)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "ref.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);

	if (run("mksquashfs '%s' '%s' -comp %s -noappend -quiet >/dev/null 2>&1", src, img, comp) != 0)
		TAP_FAIL("mksquashfs -comp %s failed", comp);
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, true);
	rm_rf(work);
}

TEST(unpack_mksquashfs_zstd)
{
	unpack_mksquashfs("zstd");
}

TEST(unpack_mksquashfs_gzip)
{
	unpack_mksquashfs("gzip");
}

TEST(unpack_mksquashfs_xz)
{
	unpack_mksquashfs("xz");
}

TEST(unpack_mksquashfs_lzo)
{
	unpack_mksquashfs("lzo");
}

TEST(unpack_mksquashfs_lz4)
{
	unpack_mksquashfs("lz4");
}

static char *small_image(const char *work)
{
	struct error err = ERROR_INIT;
	char *src = join(work, "small");
	char *img = join(work, "small.sqsh");

	mkdir_or_fail(src, 0755);
	mkdir_or_fail(join(src, "d"), 0755);
	write_file(join(src, "d/f"), "data", 4, 0644);
	write_random(join(src, "r"), 300000, 7);
	for (int i = 0; i < 30; i++)
		write_file(xasprintf("%s/d/t%02d", src, i), "abcdefgh", (size_t)i % 8, 0644);
	ASSERT_EQ(symlink("d/f", join(src, "l")), 0);
	ASSERT_OK(pack(src, img, NULL, &err), &err);
	return img;
}

static void expect_probe_error(const char *path, const char *what)
{
	struct error err = ERROR_INIT;

	ASSERT_FAILS(sqfs_image_probe(path, 0, &err));
	if (strstr(err.msg, what) == NULL)
		TAP_FAIL("probe '%s': '%s' does not mention '%s'", path, err.msg, what);
}

TEST(probe)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = small_image(work);
	_cleanup_free_ char *half = join(work, "half.sqsh");
	_cleanup_free_ char *rnd = join(work, "random");
	_cleanup_free_ char *empty = join(work, "empty");
	_cleanup_free_ char *fifo = join(work, "fifo");
	struct error err = ERROR_INIT;
	struct stat st;

	ASSERT_OK(sqfs_image_probe(img, 0, &err), &err);
	ASSERT_EQ(stat(img, &st), 0);
	ASSERT_EQ(run("head -c %jd '%s' > '%s'", (intmax_t)st.st_size / 2, img, half), 0);
	expect_probe_error(half, "is truncated");
	write_random(rnd, 1 << 20, 3);
	expect_probe_error(rnd, "not a squashfs image");
	write_file(empty, "", 0, 0644);
	expect_probe_error(empty, "not a squashfs image");
	expect_probe_error(work, "not a regular file");
	ASSERT_EQ(mkfifo(fifo, 0600), 0);
	expect_probe_error(fifo, "not a regular file");
	expect_probe_error(join(work, "missing"), "failed to open");
	rm_rf(work);
}

static void patch_u64(const char *path, off_t off, uint64_t v)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	ASSERT_TRUE(fd >= 0 && pwrite(fd, &v, sizeof(v), off) == (ssize_t)sizeof(v));
}

TEST(unpack_truncated_fails)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = small_image(work);
	_cleanup_free_ char *cut = join(work, "cut.sqsh");
	struct error err = ERROR_INIT;
	struct stat st;
	off_t sizes[3];

	ASSERT_EQ(stat(img, &st), 0);
	sizes[0] = st.st_size / 2;
	sizes[1] = st.st_size - 5000;
	sizes[2] = 200;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		_cleanup_free_ char *dst = xasprintf("%s/dst%zu", work, i);

		ASSERT_EQ(run("head -c %jd '%s' > '%s'", (intmax_t)sizes[i], img, cut), 0);
		error_clear(&err);
		ASSERT_FAILS(unpack(cut, dst, &err));
		ASSERT_TRUE(strstr(err.msg, "truncated") != NULL);
		/* Lie about the size: the reader must still stay in bounds. */
		patch_u64(cut, offsetof(sqfs_super_t, bytes_used), (uint64_t)sizes[i]);
		rm_rf(dst);
		error_clear(&err);
		ASSERT_FAILS(unpack(cut, dst, &err));
		ASSERT_TRUE(err.msg[0] != '\0');
		printf("# cut at %jd: %s\n", (intmax_t)sizes[i], err.msg);
	}
	rm_rf(work);
}

static void corrupt_copy(const char *from, const char *to, unsigned seed, uint64_t lo, uint64_t hi)
{
	_cleanup_close_ int fd = -1;

	ASSERT_EQ(run("cp '%s' '%s'", from, to), 0);
	fd = open(to, O_WRONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	srand(seed);
	for (int i = 0; i < 1 + (int)(seed % 8); i++) {
		uint8_t b = (uint8_t)rand();
		off_t off = (off_t)(lo + (uint64_t)rand() % (hi - lo));

		ASSERT_EQ(pwrite(fd, &b, 1, off), 1);
	}
}

/* Random damage: any outcome but a crash or a hang is acceptable; damage to
 * the tables must be reported. */
TEST(unpack_corrupt_never_crashes)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = small_image(work);
	_cleanup_free_ char *bad = join(work, "bad.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	sqfs_super_t super;
	int fd = open(img, O_RDONLY | O_CLOEXEC), failures = 0;

	ASSERT_TRUE(fd >= 0 && read(fd, &super, sizeof(super)) == (ssize_t)sizeof(super));
	close(fd);
	alarm(300);
	for (unsigned seed = 0; seed < 400; seed++) {
		struct error err = ERROR_INIT;
		/* Half the runs hit the metadata, half anywhere. */
		uint64_t lo = seed % 2 ? super.inode_table_start : 0;
		int r;

		corrupt_copy(img, bad, seed, lo, super.bytes_used);
		r = unpack(bad, dst, &err);
		if (r < 0 && err.msg[0] == '\0')
			TAP_FAIL("seed %u: failure without a message", seed);
		failures += r < 0;
		rm_rf(dst);
	}
	printf("# %d of 400 corrupted images rejected\n", failures);
	ASSERT_TRUE(failures > 100);
	rm_rf(work);
}

TEST(unpack_garbage_directory_table_fails)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = small_image(work);
	_cleanup_free_ char *dst = join(work, "dst");
	struct error err = ERROR_INIT;
	sqfs_super_t super;
	int fd = open(img, O_RDWR | O_CLOEXEC);
	uint8_t junk[64];

	ASSERT_TRUE(fd >= 0 && read(fd, &super, sizeof(super)) == (ssize_t)sizeof(super));
	memset(junk, 0x5a, sizeof(junk));
	ASSERT_EQ(pwrite(fd, junk, sizeof(junk), (off_t)super.directory_table_start), (ssize_t)sizeof(junk));
	close(fd);
	ASSERT_FAILS(unpack(img, dst, &err));
	printf("# %s\n", err.msg);
	ASSERT_TRUE(err.msg[0] != '\0');
	rm_rf(work);
}

struct excl_log {
	int calls;
	bool saw_nested;
};

/* As capsa export: dev content, /.lock, and mode-0000 empty files/dirs. */
static bool exclude_like_export(const char *relpath, const struct stat *st, void *arg)
{
	struct excl_log *log = arg;

	log->calls++;
	ASSERT_TRUE(relpath[0] != '/' && relpath[0] != '\0');
	if (strcmp(relpath, "a/b/c/file") == 0)
		log->saw_nested = true;
	if (strncmp(relpath, "dev/", 4) == 0 || strcmp(relpath, ".lock") == 0)
		return true;
	return (st->st_mode & 07777) == 0 && (S_ISDIR(st->st_mode) || st->st_size == 0);
}

TEST(exclude_callback)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct excl_log log = {0};
	struct sqfs_pack_opts opts = {.exclude = exclude_like_export, .exclude_arg = &log};
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);
	struct stat st;

	write_file(join(src, ".lock"), "", 0, 0644);
	write_file(join(src, "mountpoint"), "", 0, 0000);
	write_file(join(src, "dev/shm-file"), "x", 1, 0644);
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_TRUE(log.calls > 20 && log.saw_nested);
	ASSERT_OK(unpack(img, dst, &err), &err);
	ASSERT_TRUE(lstat(join(dst, "dev"), &st) == 0 && S_ISDIR(st.st_mode));
	ASSERT_TRUE(lstat(join(dst, "dev/null"), &st) < 0 && errno == ENOENT);
	ASSERT_TRUE(lstat(join(dst, "dev/shm-file"), &st) < 0 && errno == ENOENT);
	ASSERT_TRUE(lstat(join(dst, ".lock"), &st) < 0 && errno == ENOENT);
	ASSERT_TRUE(lstat(join(dst, "mountpoint"), &st) < 0 && errno == ENOENT);
	ASSERT_TRUE(lstat(join(dst, "locked"), &st) < 0 && errno == ENOENT);
	ASSERT_TRUE(lstat(join(dst, "a/b/c/file"), &st) == 0);
	ASSERT_EQ(run("unsquashfs -lln '%s' | grep -q -e /dev/ -e mountpoint -e locked", img), 1);
	rm_rf(work);
}

TEST(source_date_epoch)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = join(work, "out.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct error err = ERROR_INIT;
	struct tree_info info = {0};
	char *src = make_tree(work, &info);
	sqfs_super_t super;
	struct stat st;
	int fd;

	setenv("SOURCE_DATE_EPOCH", "1234567890", 1);
	ASSERT_OK(pack(src, img, NULL, &err), &err);
	fd = open(img, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0 && read(fd, &super, sizeof(super)) == (ssize_t)sizeof(super));
	close(fd);
	ASSERT_EQ(super.modification_time, 1234567890);
	ASSERT_OK(unpack(img, dst, &err), &err);
	ASSERT_EQ(lstat(join(dst, "a/b/c/file"), &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1234567890);
	ASSERT_EQ(lstat(join(dst, "rel"), &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1234567890);
	ASSERT_EQ(lstat(dst, &st), 0);
	ASSERT_EQ(st.st_mtim.tv_sec, 1234567890);
	setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
	ASSERT_FAILS(pack(src, img, NULL, &err));
	ASSERT_TRUE(strstr(err.msg, "SOURCE_DATE_EPOCH") != NULL);
	rm_rf(work);
}

static size_t count_entries(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	return n;
}

TEST(pack_failure_leaves_no_temp_file)
{
	_cleanup_free_ char *work = NULL, *src = NULL, *out = NULL, *ro = NULL, *img = NULL;
	struct error err = ERROR_INIT;
	char buf[8] = {0};
	int fd;

	drop_privileges();
	work = make_workdir();
	src = join(work, "src");
	out = join(work, "out");
	ro = join(work, "ro");
	mkdir_or_fail(src, 0755);
	mkdir_or_fail(out, 0755);
	mkdir_or_fail(ro, 0555);
	write_file(join(src, "f"), "data", 4, 0644);
	/* Unwritable destination directory, then a missing one. */
	ASSERT_FAILS(pack(src, join(ro, "x.sqsh"), NULL, &err));
	ASSERT_EQ(count_entries(ro), 0);
	ASSERT_FAILS(pack(src, join(work, "missing/x.sqsh"), NULL, &err));
	ASSERT_TRUE(strstr(err.msg, "temporary") != NULL);
	/* Failing mid-way (an unreadable file) keeps the old image. */
	img = join(out, "x.sqsh");
	write_file(img, "old", 3, 0644);
	write_file(join(src, "secret"), "s", 1, 0000);
	ASSERT_FAILS(pack(src, img, NULL, &err));
	printf("# %s\n", err.msg);
	ASSERT_EQ(count_entries(out), 1);
	fd = open(img, O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	ASSERT_STREQ(buf, "old");
	/* Success replaces it atomically. */
	chmod(join(src, "secret"), 0644);
	ASSERT_OK(pack(src, img, NULL, &err), &err);
	ASSERT_EQ(count_entries(out), 1);
	ASSERT_OK(sqfs_image_probe(img, 0, &err), &err);
	rm_rf(work);
}

TEST(pack_options)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *src = join(work, "src");
	_cleanup_free_ char *img = join(work, "o.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct sqfs_pack_opts opts = {.compressor = "xz", .level = 6, .block_size = 1 << 20};
	struct error err = ERROR_INIT;

	mkdir_or_fail(src, 0755);
	write_random(join(src, "r"), 3 << 20, 9);
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_EQ(run("unsquashfs -s '%s' | grep -q 'Block size 1048576'", img), 0);
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, false);
	opts.compressor = "lz4";
	opts.level = 0;
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	opts.compressor = "brotli";
	ASSERT_FAILS(pack(src, img, &opts, &err));
	ASSERT_TRUE(strstr(err.msg, "brotli") != NULL);
	opts.compressor = "zstd";
	opts.block_size = 3000;
	ASSERT_FAILS(pack(src, img, &opts, &err));
	opts.block_size = 0;
	opts.level = 99;
	ASSERT_FAILS(pack(src, img, &opts, &err));
	/* lzo (enroot's default) through liblzo2: Debian's libsquashfs has none. */
	opts.compressor = "lzo";
	opts.level = 0;
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_EQ(run("unsquashfs -s '%s' | grep -q 'Compression lzo'", img), 0);
	rm_rf(dst);
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, false);
	opts.no_data_compression = true;
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	rm_rf(dst);
	ASSERT_EQ(run("unsquashfs -q -n -d '%s' '%s' >/dev/null 2>&1", dst, img), 0);
	compare_trees(src, dst, false);
	ASSERT_EQ(count_entries(work), 3);
	rm_rf(work);
}

/* -noD: file data stored as is (a text file keeps its size), metadata
 * still compressed; the image reads back the same. */
TEST(pack_no_data_compression)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *src = join(work, "src");
	_cleanup_free_ char *img = join(work, "o.sqsh");
	_cleanup_free_ char *dst = join(work, "dst");
	struct sqfs_pack_opts opts = {.compressor = "zstd"};
	struct error err = ERROR_INIT;
	struct stat packed, raw;
	char *text = xcalloc(1, 1 << 20);

	mkdir_or_fail(src, 0755);
	memset(text, 'a', 1 << 20);
	ASSERT_OK(write_file_atomic_at(AT_FDCWD, join(src, "text"), text, 1 << 20, 0644, &err), &err);
	free(text);
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_EQ(stat(img, &packed), 0);
	ASSERT_TRUE(packed.st_size < 64 * 1024);
	opts.no_data_compression = true;
	ASSERT_OK(pack(src, img, &opts, &err), &err);
	ASSERT_EQ(stat(img, &raw), 0);
	ASSERT_TRUE(raw.st_size >= 1 << 20);
	ASSERT_OK(unpack(img, dst, &err), &err);
	compare_trees(src, dst, false);
	rm_rf(work);
}

TEST(unpack_refuses_existing_entries)
{
	_cleanup_free_ char *work = make_workdir();
	_cleanup_free_ char *img = small_image(work);
	_cleanup_free_ char *dst = join(work, "dst");
	_cleanup_free_ char *outside = join(work, "outside");
	_cleanup_close_ int fd = -1;
	struct error err = ERROR_INIT;
	struct stat st;

	/* A symlink planted where a directory goes must not be followed. */
	mkdir_or_fail(dst, 0755);
	mkdir_or_fail(outside, 0755);
	ASSERT_EQ(symlink(outside, join(dst, "d")), 0);
	fd = open_dir(dst);
	ASSERT_FAILS(sqfs_unpack(img, NULL, fd, &err));
	ASSERT_TRUE(strstr(err.msg, "'d'") != NULL);
	ASSERT_EQ(count_entries(outside), 0);
	ASSERT_TRUE(lstat(join(outside, "f"), &st) < 0);
	rm_rf(work);
}

TAP_MAIN(T(pack_listing_is_all_root), T(roundtrip), T(roundtrip_unprivileged),
	 T(unsquashfs_and_squashfuse_read_pack), T(unpack_mksquashfs_zstd), T(unpack_mksquashfs_gzip),
	 T(unpack_mksquashfs_xz), T(unpack_mksquashfs_lzo), T(unpack_mksquashfs_lz4), T(unpack_drops_setid_files_by_default),
	 T(probe), T(unpack_truncated_fails),
	 T(unpack_corrupt_never_crashes), T(unpack_garbage_directory_table_fails), T(exclude_callback),
	 T(source_date_epoch), T(pack_failure_leaves_no_temp_file), T(pack_options), T(pack_no_data_compression),
	 T(unpack_refuses_existing_entries))
