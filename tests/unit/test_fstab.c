/* SPDX-License-Identifier: Apache-2.0 */
#include "config/fstab.h"
#include "tap.h"

static struct mount_entry parse(const char *line)
{
	struct mount_entry e = {0};
	struct error err = ERROR_INIT;
	int r = fstab_parse_line(line, "test", &e, &err);

	if (r != 1)
		TAP_FAIL("'%s' did not parse: %d %s", line, r, err.msg);
	return e;
}

TEST(completion)
{
	struct mount_entry e = parse("tmpfs /dst");
	ASSERT_STREQ(e.src, "tmpfs");
	ASSERT_STREQ(e.dst, "/dst");
	ASSERT_STREQ(e.type, "tmpfs");
	ASSERT_STREQ(e.opts, "");
	e = parse("/src");
	ASSERT_STREQ(e.dst, "/src");
	ASSERT_STREQ(e.type, "none");
	ASSERT_STREQ(e.opts, "rbind,x-create=auto");
	e = parse("/src bind");
	ASSERT_STREQ(e.dst, "/src");
	ASSERT_STREQ(e.opts, "bind");
	e = parse("/src /dst");
	ASSERT_STREQ(e.dst, "/dst");
	ASSERT_STREQ(e.opts, "rbind,x-create=auto");
	e = parse("none /dst devpts");
	ASSERT_STREQ(e.type, "devpts");
	ASSERT_STREQ(e.opts, "");
	e = parse("/a /b none ro,bind");
	ASSERT_STREQ(e.opts, "ro,bind");
}

TEST(passno)
{
	struct mount_entry e = parse("/proc /proc none x-create=dir,bind 0 -1");
	ASSERT_EQ(e.pass, -1);
	e = parse("/proc /proc none bind -1");
	ASSERT_EQ(e.pass, -1);
	e = parse("/proc /proc none bind");
	ASSERT_EQ(e.pass, 0);
}

TEST(octal_escapes)
{
	struct mount_entry e = parse("/my\\040dir /in\\\\side none bind");
	ASSERT_STREQ(e.src, "/my dir");
	ASSERT_STREQ(e.dst, "/in\\side");
}

TEST(blank_and_comment)
{
	struct mount_entry e;
	struct error err = ERROR_INIT;
	ASSERT_EQ(fstab_parse_line("   ", "t", &e, &err), 0);
	ASSERT_EQ(fstab_parse_line("# a comment", "t", &e, &err), 0);
	ASSERT_EQ(fstab_parse_line("", "t", &e, &err), 0);
}

TEST(errors_name_line_and_column)
{
	struct mount_list l = {0};
	struct error err = ERROR_INIT;
	ASSERT_FAILS(fstab_parse("/a /b none bind 0 0\n/a /b none bind x 0\n", "f.fstab", &l, &err));
	ASSERT_TRUE(strstr(err.msg, "f.fstab:2:17") != NULL);
	ASSERT_FAILS(fstab_parse_line("a b c d 0 0 extra", "t", &l.v[0], &err));
	mount_list_free(&l);
}

TEST(parse_buffer)
{
	struct mount_list l = {0};
	struct error err = ERROR_INIT;
	ASSERT_OK(fstab_parse("\n# c\n/a /b\ntmpfs /t tmpfs mode=755 0 -1\n", "buf", &l, &err), &err);
	ASSERT_EQ(l.n, 2);
	ASSERT_STREQ(l.v[0].src, "/a");
	ASSERT_STREQ(l.v[1].opts, "mode=755");
	ASSERT_EQ(l.v[1].pass, -1);
	ASSERT_STREQ(l.v[1].origin, "buf:4");
	mount_list_free(&l);
}

TEST(spec)
{
	char *s = fstab_from_spec("/a:/b:none:ro");
	ASSERT_STREQ(s, "/a /b none ro");
	free(s);
}

/* A newline in $HOME once turned "/\nx /\nx none rbind" into "/": a bind of
 * the host root. Control bytes are refused in every field, raw or escaped. */
TEST(control_bytes_refused)
{
	static const char *const bad[] = {
		"/\nx /\nx none x-create=dir,rbind,rw", "/tmp\n/ /mnt none bind,rw /home none bind", "/a /b\001 none bind",
		"/a /b none bind,\x7f",		  "/a\\012b /b none bind",		      "/a /b\\011c none bind",
		"/a /b none bind\r0 0",		  "\x1b[31m /b none bind",
	};
	struct mount_entry e;
	struct error err = ERROR_INIT;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_FAILS(fstab_parse_line(bad[i], "hook", &e, &err));
		ASSERT_TRUE(strstr(err.msg, "hook:") == err.msg);
		ASSERT_TRUE(strstr(err.msg, "control character") != NULL);
		ASSERT_TRUE(strchr(err.msg, '\n') == NULL);
	}
	ASSERT_TRUE(strstr(err.msg, "'\\033[31m'") != NULL);
	/* a CRLF line end and tabs between fields are not values */
	e = parse("/a\t/b none bind\r\n");
	ASSERT_STREQ(e.opts, "bind");
	mount_entry_done(&e);
	/* a comment is not an entry, whatever it holds */
	ASSERT_EQ(fstab_parse_line("# \001", "t", &e, &err), 0);
}

TAP_MAIN(T(completion), T(passno), T(octal_escapes), T(blank_and_comment), T(errors_name_line_and_column),
	 T(parse_buffer), T(spec), T(control_bytes_refused))
