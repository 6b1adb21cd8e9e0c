/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/fstab.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Option names enroot-mount knows (it takes a lone word that is one of
 * these as the options field, e.g. "/src bind"). */
static const char *const known_options[] = {
	"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
	"dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "bind",
	"rbind", "relatime", "norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime",
	"unbindable", "runbindable", "private", "rprivate", "slave", "rslave", "shared", "rshared",
	"silent", "loud", "nofail", "x-move", "x-detach", "x-create=dir", "x-create=file",
	"x-create=auto",
};

bool fstab_is_option(const char *word)
{
	if (strchr(word, ','))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(known_options); i++) {
		if (!strcmp(word, known_options[i]))
			return true;
	}
	return false;
}

void fstab_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else if (r[0] == '\\' && r[1] == '\\') {
			*w++ = '\\';
			r += 2;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static int parse_int(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || end == s || v < -1000 || v > 1000)
		return -1;
	*ret = (int)v;
	return 0;
}

#define MAX_FIELDS 6

static bool is_control(unsigned char c)
{
	return (c >= 0x01 && c <= 0x1f) || c == 0x7f;
}

/* The value for a message: control bytes as fstab octal escapes, so the
 * message stays on one line. */
static char *escape_controls(const char *v)
{
	struct strbuf sb = STRBUF_INIT;

	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (is_control(*p))
			strbuf_addf(&sb, "\\%03o", *p);
		else
			strbuf_addch(&sb, (char)*p);
	}
	return strbuf_detach(&sb);
}

/* Every value that reaches an fstab line passes here, whoever built the
 * line (image, mounts.d, -m, hooks, $HOME): a newline or other control byte
 * in a value would make the line say something else (a HOME of "/\nx"
 * truncated to "/" binds the host root), so it is an error, never stripped. */
static int check_controls(const char *v, const char *origin, size_t col, struct error *err)
{
	_cleanup_free_ char *shown = NULL;
	const char *p = v;

	while (*p && !is_control((unsigned char)*p))
		p++;
	if (*p == '\0')
		return 0;
	shown = escape_controls(v);
	return error_set(err, 0, "%s:%zu: invalid fstab entry: control character 0x%02x in '%s'", origin, col,
			 (unsigned char)*p, shown);
}

/* A trailing newline, then a CR (CRLF files), end the line; any other one
 * is left for check_controls. */
static void strip_eol(char *buf)
{
	size_t len = strlen(buf);

	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
}

static size_t split_fields(char *buf, char *fields[MAX_FIELDS + 1], size_t cols[MAX_FIELDS + 1])
{
	size_t n = 0;
	char *p = buf;

	while (*p) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (n == MAX_FIELDS + 1)
			return n + 1;
		cols[n] = (size_t)(p - buf) + 1;
		fields[n++] = p;
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
	return n;
}

/* Fill the four main fields, completing missing ones as enroot-mount does. */
static void complete_fields(char **f, size_t n, const char *out[4], size_t *next)
{
	const char *src = f[0];
	bool src_is_path = src[0] == '/' || src[0] == '.';

	out[0] = src;
	*next = 1;
	if (n == 1 || fstab_is_option(f[1])) {
		out[1] = src;
		out[2] = "none";
		out[3] = n > 1 ? f[1] : "rbind,x-create=auto";
		*next = n > 1 ? 2 : 1;
		return;
	}
	out[1] = f[1];
	if (n == 2) {
		out[2] = src_is_path ? "none" : src;
		out[3] = src_is_path ? "rbind,x-create=auto" : "";
		*next = 2;
		return;
	}
	if (fstab_is_option(f[2])) {
		out[2] = "none";
		out[3] = f[2];
		*next = 3;
		return;
	}
	out[2] = f[2];
	out[3] = n > 3 ? f[3] : "";
	*next = n > 3 ? 4 : 3;
}

/* Octal escapes may decode to control bytes: check the decoded paths too. */
static int make_entry(const char *out[4], int pass, const char *origin, const size_t cols[],
		      struct mount_entry *ret, struct error *err)
{
	struct mount_entry e = {xstrdup(out[0]), xstrdup(out[1]), xstrdup(out[2]), xstrdup(out[3]), pass,
				xstrdup(origin), false};

	fstab_unescape(e.src);
	fstab_unescape(e.dst);
	if (check_controls(e.src, origin, cols[0], err) < 0 ||
	    check_controls(e.dst, origin, cols[1], err) < 0) {
		mount_entry_done(&e);
		return -1;
	}
	*ret = e;
	return 1;
}

int fstab_parse_line(const char *line, const char *origin, struct mount_entry *ret, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	char *f[MAX_FIELDS + 1];
	size_t cols[MAX_FIELDS + 1] = {0};
	const char *out[4];
	size_t n, next;
	int freq = 0, pass = 0;

	if (strlen(line) >= FSTAB_MAX_LINE)
		return error_set(err, 0, "%s: line too long (limit %d bytes)", origin, FSTAB_MAX_LINE);
	buf = xstrdup(line);
	strip_eol(buf);
	n = split_fields(buf, f, cols);
	if (n == 0 || f[0][0] == '#')
		return 0;
	for (size_t i = 0; i < n && i <= MAX_FIELDS; i++) {
		if (check_controls(f[i], origin, cols[i], err) < 0)
			return -1;
	}
	if (n > MAX_FIELDS)
		return error_set(err, 0, "%s:%zu: invalid fstab entry: too many fields in \"%s\"", origin, cols[MAX_FIELDS],
				 line);
	complete_fields(f, n, out, &next);
	if (next < n && parse_int(f[next], &freq) < 0)
		return error_set(err, 0, "%s:%zu: invalid fstab entry: '%s' is not a number in \"%s\"", origin,
				 cols[next], f[next], line);
	if (next + 1 < n && parse_int(f[next + 1], &pass) < 0)
		return error_set(err, 0, "%s:%zu: invalid fstab entry: '%s' is not a number in \"%s\"", origin,
				 cols[next + 1], f[next + 1], line);
	if (next + 2 < n)
		return error_set(err, 0, "%s:%zu: invalid fstab entry: unexpected field '%s' in \"%s\"", origin,
				 cols[next + 2], f[next + 2], line);
	if (freq != 0 && pass == 0)
		pass = freq;
	return make_entry(out, pass, origin, cols, ret, err);
}

int fstab_parse(const char *buf, const char *name, struct mount_list *list, struct error *err)
{
	size_t lineno = 0;

	for (const char *p = buf; *p;) {
		size_t len = strcspn(p, "\n");
		_cleanup_free_ char *line = xstrndup(p, len);
		_cleanup_free_ char *origin = xasprintf("%s:%zu", name, ++lineno);
		struct mount_entry e;
		int r;

		p += len + (p[len] == '\n');
		r = fstab_parse_line(line, origin, &e, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (list->n >= FSTAB_MAX_ENTRIES) {
			mount_entry_done(&e);
			return error_set(err, 0, "%s: too many mount entries (limit %d)", name, FSTAB_MAX_ENTRIES);
		}
		if (list->n == list->cap) {
			list->cap = list->cap ? list->cap * 2 : 16;
			list->v = xrealloc(list->v, list->cap * sizeof(*list->v));
		}
		list->v[list->n++] = e;
	}
	return 0;
}

char *fstab_from_spec(const char *spec)
{
	char *s = xstrdup(spec);

	for (char *p = s; *p; p++) {
		if (*p == ':')
			*p = ' ';
	}
	return s;
}

void mount_entry_done(struct mount_entry *e)
{
	free(e->src);
	free(e->dst);
	free(e->type);
	free(e->opts);
	free(e->origin);
	memset(e, 0, sizeof(*e));
}

void mount_list_free(struct mount_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mount_entry_done(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
