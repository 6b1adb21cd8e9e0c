/* SPDX-License-Identifier: Apache-2.0 */
/* layers_to_squashfs(): layer tarballs built with Python's tarfile (PAX),
 * merged into squashfs, then checked with `unsquashfs -lln`, rdsquashfs and
 * by extracting with sqfs_unpack(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "image/layers/layers.h"
#include "image/squashfs/sqfs_unpack.h"
#include "tap.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- helpers ---- */

static const char py_preamble[] =
	"import tarfile, io, sys\n"
	"t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n"
	"T = {'f': tarfile.REGTYPE, 'd': tarfile.DIRTYPE, 'l': tarfile.SYMTYPE, 'h': tarfile.LNKTYPE,\n"
	"     'c': tarfile.CHRTYPE, 'b': tarfile.BLKTYPE, 'p': tarfile.FIFOTYPE}\n"
	"def add(name, ty='f', data=b'', mode=None, uid=0, gid=0, link='', mtime=1700000000, pax=None, dev=(0, 0)):\n"
	"    ti = tarfile.TarInfo(name)\n"
	"    if mode is None: mode = 0o755 if ty == 'd' else 0o644\n"
	"    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = T[ty], mode, uid, gid, mtime\n"
	"    ti.linkname = link\n"
	"    ti.devmajor, ti.devminor = dev\n"
	"    if pax: ti.pax_headers = pax\n"
	"    ti.size = len(data) if ty == 'f' else 0\n"
	"    t.addfile(ti, io.BytesIO(data) if ty == 'f' else None)\n";

static char *workdir;
static const char *python = "python3";

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

static void setup(void)
{
	workdir = xstrdup("/tmp/capsa-test-layers.XXXXXX");
	if (mkdtemp(workdir) == NULL)
		TAP_FAIL("mkdtemp: %s", strerror(errno));
	/* The distribution's interpreter starts ten times faster than a shim. */
	if (access("/usr/bin/python3", X_OK) == 0)
		python = "/usr/bin/python3";
	if (run("command -v python3 unsquashfs rdsquashfs zstd gzip >/dev/null") != 0)
		SKIP("python3, squashfs-tools, squashfs-tools-ng, zstd or gzip missing");
}

static void teardown(void)
{
	run("rm -rf --one-file-system '%s'", workdir);
}

static void write_text(const char *path, const char *text)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (f == NULL || fputs(text, f) < 0)
		TAP_FAIL("write '%s': %s", path, strerror(errno));
}

/* A layer blob named name in workdir; comp is "gz", "zst" or "" (plain). */
static struct layer_src layer(const char *name, const char *comp, const char *body)
{
	_cleanup_free_ char *py = xasprintf("%s/%s.py", workdir, name);
	_cleanup_free_ char *script = xasprintf("%s%s\nt.close()\n", py_preamble, body);
	struct layer_src l = {xasprintf("%s/%s.tar", workdir, name), LAYER_SRC_AUTO, 0, 0};

	write_text(py, script);
	if (run("%s '%s' '%s'", python, py, l.path) != 0)
		TAP_FAIL("python failed for layer %s", name);
	if (strcmp(comp, "gz") == 0 && run("gzip -n '%s'", l.path) == 0)
		l.path = xasprintf("%s.gz", l.path);
	else if (strcmp(comp, "zst") == 0 && run("zstd -q -3 --rm '%s'", l.path) == 0)
		l.path = xasprintf("%s.zst", l.path);
	else if (*comp != '\0')
		TAP_FAIL("compressing layer %s failed", name);
	return l;
}

static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL;
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	FILE *p;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	p = popen(cmd, "re");
	if (p == NULL)
		TAP_FAIL("popen '%s'", cmd);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		strbuf_add(&sb, buf, n);
	pclose(p);
	return strbuf_detach(&sb);
}

/* The `unsquashfs -lln` line of path ("" for the root), or NULL. */
static char *ls_line(const char *listing, const char *path)
{
	_cleanup_free_ char *want = xasprintf(" squashfs-root%s%s", *path ? "/" : "", path);
	size_t wl = strlen(want);

	for (const char *l = listing; *l != '\0';) {
		const char *end = strchrnul(l, '\n'), *p = strstr(l, " squashfs-root");

		if (p != NULL && p < end && (size_t)(end - p) >= wl && strncmp(p, want, wl) == 0 &&
		    (p[wl] == '\n' || p[wl] == '\0' || strncmp(p + wl, " -> ", 4) == 0))
			return xstrndup(l, (size_t)(end - l));
		l = *end ? end + 1 : end;
	}
	return NULL;
}

/* Assert that path is listed with this mode string and owner. */
static void expect(const char *listing, const char *path, const char *perm, const char *owner)
{
	_cleanup_free_ char *line = ls_line(listing, path);
	char p[16] = "", o[32] = "";

	if (line == NULL)
		TAP_FAIL("'%s' missing from the image", path);
	if (sscanf(line, "%15s %31s", p, o) != 2 || strcmp(p, perm) != 0 || strcmp(o, owner) != 0)
		TAP_FAIL("'%s': expected %s %s, got: %s", path, perm, owner, line);
}

static void expect_absent(const char *listing, const char *path)
{
	_cleanup_free_ char *line = ls_line(listing, path);

	if (line != NULL)
		TAP_FAIL("'%s' should not be in the image: %s", path, line);
}

static void expect_link(const char *listing, const char *path, const char *target)
{
	_cleanup_free_ char *line = ls_line(listing, path);
	const char *arrow = line != NULL ? strstr(line, " -> ") : NULL;

	if (arrow == NULL || strcmp(arrow + 4, target) != 0)
		TAP_FAIL("'%s': expected a symlink to '%s', got: %s", path, target, line ? line : "(none)");
}

static void expect_content(const char *root, const char *path, const char *data)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, path), *got = NULL;
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct error err = ERROR_INIT;
	size_t len = 0;

	if (fd < 0)
		TAP_FAIL("open '%s': %s", p, strerror(errno));
	ASSERT_OK(read_fd(fd, 1 << 20, &got, &len, &err), &err);
	if (len != strlen(data) || memcmp(got, data, len) != 0)
		TAP_FAIL("'%s': expected '%s', got '%.*s'", path, data, (int)len, got);
}

static ino_t inode_of(const char *root, const char *path)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, path);
	struct stat st;

	if (lstat(p, &st) < 0)
		TAP_FAIL("lstat '%s': %s", p, strerror(errno));
	return st.st_ino;
}

static char *unpack_image(const char *image)
{
	char *dst = xasprintf("%s/unpacked", workdir);
	_cleanup_close_ int fd = -1;
	struct error err = ERROR_INIT;

	if (mkdir(dst, 0755) < 0)
		TAP_FAIL("mkdir '%s': %s", dst, strerror(errno));
	fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_OK(sqfs_unpack(image, &(struct sqfs_unpack_opts){.keep_setid = true}, fd, &err), &err);
	return dst;
}

static void collect_warning(const char *msg, void *arg)
{
	strbuf_addstr(arg, msg);
	strbuf_addch(arg, '\n');
}

static char *out_path(void)
{
	return xasprintf("%s/out.sqsh", workdir);
}

/* Nothing but the inputs in workdir: no output and no temporary file. */
static void expect_no_output(void)
{
	_cleanup_closedir_ DIR *d = opendir(workdir);
	struct dirent *de;

	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, "out.sqsh") != NULL)
			TAP_FAIL("'%s' left in the work directory", de->d_name);
}

/* ---- a multi-layer image ---- */

static const char layer1[] =
	"add('./', 'd', mode=0o755)\n"
	"add('etc', 'd'); add('etc/passwd', data=b'root:x:0:0\\n'); add('etc/rc', data=b'image rc')\n"
	"add('wf', data=b'whiteout me')\n"
	"add('wd', 'd'); add('wd/a', data=b'a')\n"
	"add('op', 'd'); add('op/old', data=b'old')\n"
	"add('chg', data=b'v1'); add('modeonly', data=b'same')\n"
	"add('f2d', data=b'file'); add('d2f', 'd'); add('d2f/child', data=b'c')\n"
	"add('f2l', data=b'file'); add('l2f', 'l', link='etc/passwd')\n"
	"add('target', data=b'hello', mode=0o640)\n"
	"add('samelink', 'h', link='target')\n"
	"add('dev', 'd'); add('dev/null', 'c', mode=0o666, dev=(1, 3)); add('dev/x', data=b'x')\n";

static const char layer2[] =
	"add('.wh.wf'); add('.wh.wd'); add('.wh.never')\n"
	"add('op', 'd'); add('op/.wh..wh..opq'); add('op/new', data=b'new')\n"
	"add('chg', data=b'v2'); add('modeonly', data=b'same', mode=0o600)\n"
	"add('f2d', 'd'); add('f2d/inner', data=b'in')\n"
	"add('d2f', data=b'nowfile')\n"
	"add('f2l', 'l', link='etc/passwd')\n"
	"add('l2f', data=b'nowfile')\n"
	"add('uplink', 'h', link='./target')\n"
	"add('suid', data=b'#!', mode=0o4755, uid=1000, gid=1000)\n"
	"add('xa', data=b'x', pax={'SCHILY.xattr.user.test': 'hello',\n"
	"    'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.overlay.x': 'y'})\n"
	"add('with space', data=b's'); add('\\u00fcn\\u00efc\\u00f6d\\u00e9-\\u6587\\u4ef6.txt', data=b'u')\n"
	"add('n' * 120, data=b'long')\n"
	"add('/'.join('d%d' % i for i in range(30)) + '/leaf', data=b'deep')\n"
	"add('emptyf'); add('emptyd', 'd', mode=0o700)\n"
	"add('fifo', 'p'); add('chardev', 'c', dev=(1, 3))\n";

static const char layer3[] = "add('etc/rc', data=b'layer 3 rc')\nadd('etc/group', data=b'g')\n";

static char *build_fixture(char **ret_listing)
{
	struct layer_src l[3] = {layer("l1", "gz", layer1), layer("l2", "zst", layer2), layer("l3", "", layer3)};
	static const char rc[] = "rc from extra";
	const struct extra_file extra[] = {{"/etc/rc", rc, sizeof(rc) - 1, 0755}, {"/etc/rc.local", "", 0, 0644}};
	const char *const dirs[] = {"/work/dir", "/etc"};
	struct layers_opts o = {.extra = extra, .n_extra = 2, .extra_dirs = dirs, .n_extra_dirs = 2};
	struct error err = ERROR_INIT;
	char *out = out_path();

	ASSERT_OK(layers_to_squashfs(l, 3, out, &o, &err), &err);
	*ret_listing = capture("unsquashfs -lln '%s'", out);
	for (size_t i = 0; i < 3; i++)
		free((char *)l[i].path);
	return out;
}

TEST(whiteouts_and_opaque)
{
	_cleanup_free_ char *ls = NULL, *out = NULL;

	setup();
	out = build_fixture(&ls);
	expect_absent(ls, "wf");
	expect_absent(ls, "wd");
	expect_absent(ls, "wd/a");
	expect_absent(ls, "never");
	expect(ls, "op", "drwxr-xr-x", "0/0");
	expect(ls, "op/new", "-rw-r--r--", "0/0");
	expect_absent(ls, "op/old");
	if (strstr(ls, ".wh.") != NULL)
		TAP_FAIL("a whiteout file is in the image:\n%s", ls);
	teardown();
}

TEST(changes_and_type_changes)
{
	_cleanup_free_ char *ls = NULL, *out = NULL, *root = NULL;

	setup();
	out = build_fixture(&ls);
	root = unpack_image(out);
	expect_content(root, "chg", "v2");
	expect(ls, "modeonly", "-rw-------", "0/0");
	expect(ls, "f2d", "drwxr-xr-x", "0/0");
	expect_content(root, "f2d/inner", "in");
	expect(ls, "d2f", "-rw-r--r--", "0/0");
	expect_content(root, "d2f", "nowfile");
	expect_absent(ls, "d2f/child");
	expect_link(ls, "f2l", "etc/passwd");
	expect(ls, "l2f", "-rw-r--r--", "0/0");
	expect_content(root, "l2f", "nowfile");
	/* Writing l2f did not go through the old symlink. */
	expect_content(root, "etc/passwd", "root:x:0:0\n");
	expect_content(root, "etc/group", "g");
	teardown();
}

TEST(hard_links)
{
	_cleanup_free_ char *ls = NULL, *out = NULL, *root = NULL;

	setup();
	out = build_fixture(&ls);
	root = unpack_image(out);
	expect(ls, "target", "-rw-r-----", "0/0");
	expect(ls, "samelink", "-rw-r-----", "0/0");
	expect(ls, "uplink", "-rw-r-----", "0/0");
	expect_content(root, "uplink", "hello");
	ASSERT_EQ(inode_of(root, "samelink"), inode_of(root, "target"));
	ASSERT_EQ(inode_of(root, "uplink"), inode_of(root, "target"));
	teardown();
}

TEST(metadata_names_and_specials)
{
	_cleanup_free_ char *ls = NULL, *out = NULL, *root = NULL, *xa = NULL, *deep = NULL;
	_cleanup_free_ char *long_name = NULL, *leaf = NULL, *xa_path = NULL;
	char val[64] = "";

	setup();
	out = build_fixture(&ls);
	root = unpack_image(out);
	expect(ls, "suid", "-rwsr-xr-x", "1000/1000");
	expect(ls, "with space", "-rw-r--r--", "0/0");
	expect_content(root, "\u00fcn\u00efc\u00f6d\u00e9-\u6587\u4ef6.txt", "u");
	long_name = xasprintf("%0120d", 0);
	memset(long_name, 'n', 120);
	expect_content(root, long_name, "long");
	deep = xstrdup("d0");
	for (int i = 1; i < 30; i++) {
		char *p = xasprintf("%s/d%d", deep, i);

		free(deep);
		deep = p;
	}
	expect(ls, deep, "drwxr-xr-x", "0/0");
	leaf = xasprintf("%s/leaf", deep);
	expect_content(root, leaf, "deep");
	expect(ls, "emptyf", "-rw-r--r--", "0/0");
	expect_content(root, "emptyf", "");
	expect(ls, "emptyd", "drwx------", "0/0");
	expect(ls, "fifo", "prw-r--r--", "0/0");
	expect(ls, "chardev", "crw-r--r--", "0/0");
	expect(ls, "dev", "drwxr-xr-x", "0/0");
	expect_absent(ls, "dev/null");
	expect_absent(ls, "dev/x");
	xa = capture("rdsquashfs -x /xa '%s'", out);
	if (strstr(xa, "user.test") == NULL || strstr(xa, "trusted.") != NULL || strstr(xa, "overlay") != NULL)
		TAP_FAIL("unexpected xattrs on /xa: %s", xa);
	xa_path = xasprintf("%s/xa", root);
	ASSERT_EQ(getxattr(xa_path, "user.test", val, sizeof(val)), 5);
	ASSERT_STREQ(val, "hello");
	teardown();
}

TEST(extra_files_on_top)
{
	_cleanup_free_ char *ls = NULL, *out = NULL, *root = NULL;

	setup();
	out = build_fixture(&ls);
	root = unpack_image(out);
	expect(ls, "etc/rc", "-rwxr-xr-x", "0/0");
	expect_content(root, "etc/rc", "rc from extra");
	expect_content(root, "etc/rc.local", "");
	expect(ls, "work/dir", "drwxr-xr-x", "0/0");
	/* The image's own etc/ keeps its files. */
	expect_content(root, "etc/group", "g");
	teardown();
}

/* ---- hostile layers ---- */

TEST(hostile_paths_stay_inside)
{
	_cleanup_free_ char *ls = NULL, *out = NULL, *outside = xasprintf("/tmp/capsa-T-%d", (int)getpid());
	_cleanup_free_ char *body = NULL, *body2 = NULL;
	struct strbuf warnings = STRBUF_INIT;
	struct layers_opts o = {.warn = collect_warning, .warn_arg = &warnings};
	struct error err = ERROR_INIT;
	struct stat st;

	setup();
	body = xasprintf("add('../../../../%s/x', data=b'x')\n"
			 "add('%s/y', data=b'y')\n"
			 "add('escape', 'l', link='%s')\n"
			 "add('escape/z', data=b'z')\n"
			 "add('hl', 'h', link='../../etc/passwd')\n"
			 "add('.wh....'); add('../.wh.x'); add('a/../../.wh.y')\n",
			 outside + 1, outside, outside);
	body2 = xasprintf("add('up', 'l', link='../../../../../')\nadd('esc2', 'l', link='%s')\n", outside);
	struct layer_src l[2] = {layer("h1", "gz", body2), layer("h2", "gz", body)};
	out = out_path();
	ASSERT_OK(layers_to_squashfs(l, 2, out, &o, &err), &err);
	ASSERT_TRUE(lstat(outside, &st) < 0 && errno == ENOENT);
	ls = capture("unsquashfs -lln '%s'", out);
	_cleanup_free_ char *inside = xasprintf("%s/x", outside + 1);
	expect(ls, inside, "-rw-r--r--", "0/0");
	expect_link(ls, "escape", outside);
	/* Chosen behaviour: an entry below a symlink of the same layer is left out. */
	expect_absent(ls, "escape/z");
	expect_absent(ls, "hl");
	expect_link(ls, "up", "../../../../../");
	if (strstr(warnings.buf, "escape/z") == NULL || strstr(warnings.buf, "'hl'") == NULL)
		TAP_FAIL("missing warnings: %s", warnings.buf);
	strbuf_release(&warnings);
	teardown();
}

/* A symlink of a lower layer does not redirect a higher layer's entries:
 * they make a real directory in the image, as enroot's overlay does. */
TEST(symlink_in_lower_layer)
{
	_cleanup_free_ char *ls = NULL, *out = NULL;
	struct layer_src l[2] = {{NULL, LAYER_SRC_AUTO, 0, 0}, {NULL, LAYER_SRC_AUTO, 0, 0}};
	struct error err = ERROR_INIT;

	setup();
	l[0] = layer("s1", "", "add('escape', 'l', link='/tmp')\n");
	l[1] = layer("s2", "", "add('escape/z', data=b'z')\n");
	out = out_path();
	ASSERT_OK(layers_to_squashfs(l, 2, out, NULL, &err), &err);
	ls = capture("unsquashfs -lln '%s'", out);
	expect(ls, "escape", "drwxr-xr-x", "0/0");
	expect(ls, "escape/z", "-rw-r--r--", "0/0");
	teardown();
}

static void expect_layer_error(const char *body, const char *needle)
{
	struct layer_src l = layer("bad", "", body);
	_cleanup_free_ char *out = out_path();
	struct error err = ERROR_INIT;

	ASSERT_FAILS(layers_to_squashfs(&l, 1, out, NULL, &err));
	if (strstr(err.msg, needle) == NULL || strstr(err.msg, l.path) == NULL)
		TAP_FAIL("unexpected error: %s", err.msg);
	expect_no_output();
	free((char *)l.path);
}

TEST(hostile_root_and_whiteouts_rejected)
{
	setup();
	expect_layer_error("add('.', 'l', link='/tmp')\n", "root");
	expect_layer_error("add('.wh..wh.foo')\n", "whiteout");
	expect_layer_error("add('d/.wh.')\n", "whiteout");
	expect_layer_error("add('x', pax={'SCHILY.xattr.user.big': 'v' * 70000})\n", "xattr");
	expect_layer_error("add('a' * 300)\n", "too long");
	teardown();
}

/* ---- broken and oversized input ---- */

TEST(truncated_gzip_layer)
{
	struct layer_src l;
	_cleanup_free_ char *out = NULL;
	struct error err = ERROR_INIT;

	setup();
	out = out_path();
	l = layer("trunc", "gz", "import random\nrandom.seed(1)\n"
				  "for i in range(8): add('f%d' % i, data=random.randbytes(200000))\n");
	ASSERT_EQ(run("f='%s'; head -c $(($(stat -c %%s \"$f\") / 2)) \"$f\" > \"$f.cut\"", l.path), 0);
	l.path = xasprintf("%s.cut", l.path);
	ASSERT_FAILS(layers_to_squashfs(&l, 1, out, NULL, &err));
	if (strstr(err.msg, l.path) == NULL)
		TAP_FAIL("the error does not name the layer: %s", err.msg);
	expect_no_output();
	teardown();
}

TEST(gzip_bomb_stops_early)
{
	_cleanup_free_ char *bomb = NULL, *out = NULL;
	struct layers_opts o = {.max_total_bytes = 100 << 20};
	struct error err = ERROR_INIT;
	struct layer_src l;
	struct timespec t0, t1;

	setup();
	out = out_path();
	bomb = xasprintf("%s/bomb.tar.gz", workdir);
	/* A PAX tar of one 2 GiB file of zeros: gzip members concatenate, so
	 * 32 copies of one 64 MiB member make the 2 GiB cheaply. */
	ASSERT_EQ(run("cd '%s' && %s -c \"import tarfile, sys\n"
		      "ti = tarfile.TarInfo('zeros'); ti.size = 2 << 30\n"
		      "sys.stdout.buffer.write(ti.tobuf(tarfile.PAX_FORMAT))\" | gzip -1 > hdr.gz && "
		      "head -c 64M /dev/zero | gzip -1 > z.gz && "
		      "cat hdr.gz $(for i in $(seq 32); do echo z.gz; done) > '%s'",
		      workdir, python, bomb),
		  0);
	l = (struct layer_src){bomb, LAYER_SRC_GZIP, 0, 0};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_FAILS(layers_to_squashfs(&l, 1, out, &o, &err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (strstr(err.msg, "limit") == NULL)
		TAP_FAIL("unexpected error: %s", err.msg);
	ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 2);
	expect_no_output();
	teardown();
}

TEST(entry_limit)
{
	struct layers_opts o = {.max_entries = 5};
	_cleanup_free_ char *out = NULL;
	struct error err = ERROR_INIT;
	struct layer_src l;

	setup();
	out = out_path();
	l = layer("many", "zst", "for i in range(10): add('f%d' % i)\n");
	ASSERT_FAILS(layers_to_squashfs(&l, 1, out, &o, &err));
	if (strstr(err.msg, "entries") == NULL)
		TAP_FAIL("unexpected error: %s", err.msg);
	expect_no_output();
	teardown();
}

/* A link whose target this layer had but a higher layer shadows: the
 * link keeps this layer's content (found by reading the layer again). */
TEST(hard_link_to_shadowed_target)
{
	_cleanup_free_ char *out = NULL, *root = NULL, *ls = NULL;
	struct layer_src l[2];
	struct error err = ERROR_INIT;

	setup();
	l[0] = layer("k1", "gz", "add('t', data=b'old'); add('h', 'h', link='t'); add('h2', 'h', link='h')\n");
	l[1] = layer("k2", "gz", "add('t', data=b'new')\n");
	out = out_path();
	ASSERT_OK(layers_to_squashfs(l, 2, out, NULL, &err), &err);
	root = unpack_image(out);
	expect_content(root, "t", "new");
	expect_content(root, "h", "old");
	expect_content(root, "h2", "old");
	ASSERT_EQ(inode_of(root, "h"), inode_of(root, "h2"));
	ls = capture("unsquashfs -lln '%s'", out);
	expect(ls, "h", "-rw-r--r--", "0/0");
	teardown();
}

TEST(same_layer_duplicates_last_wins)
{
	_cleanup_free_ char *out = NULL, *root = NULL, *ls = NULL;
	struct layer_src l;
	struct error err = ERROR_INIT;

	setup();
	l = layer("dup", "", "add('x', data=b'1'); add('x', data=b'2')\n"
			     "add('d', 'd'); add('d/f', data=b'f'); add('d', 'l', link='x')\n"
			     "add('s', 'l', link='x'); add('s', 'd', mode=0o711)\n"
			     "add('w', data=b'w'); add('.wh.w')\n");
	out = out_path();
	ASSERT_OK(layers_to_squashfs(&l, 1, out, NULL, &err), &err);
	root = unpack_image(out);
	ls = capture("unsquashfs -lln '%s'", out);
	expect_content(root, "x", "2");
	expect_link(ls, "d", "x");
	expect_absent(ls, "d/f");
	expect(ls, "s", "drwx--x--x", "0/0");
	/* A whiteout applies to lower layers only. */
	expect_content(root, "w", "w");
	teardown();
}

TAP_MAIN(T(whiteouts_and_opaque), T(changes_and_type_changes), T(hard_links), T(metadata_names_and_specials),
	 T(extra_files_on_top), T(hostile_paths_stay_inside), T(symlink_in_lower_layer),
	 T(hostile_root_and_whiteouts_rejected), T(truncated_gzip_layer), T(gzip_bomb_stops_early),
	 T(entry_limit), T(hard_link_to_shadowed_target), T(same_layer_duplicates_last_wins))
