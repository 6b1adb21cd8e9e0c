/* SPDX-License-Identifier: Apache-2.0 */
/* Layer blobs to squashfs in one streaming pass.
 *
 * Layers are read top-down (the last one first). An in-memory tree records,
 * per path, which layer defined it and below which layer its contents are
 * hidden (whiteout, opaque directory), so an entry that a higher layer
 * already decided is skipped without its data ever being compressed. The
 * data of every surviving file is streamed into the squashfs block processor
 * while the tar is read; the inode and directory tables are written at the
 * end (sqfs_tree_writer). Entries are paths in the image namespace, never
 * host paths: nothing is written anywhere but the output file.
 *
 * Hard links are the one place where top-down reading needs care: a link
 * in layer k names a path whose content is that of the same layer or of a
 * lower one. It becomes a placeholder inode that is forwarded to the target
 * as soon as the target is read (same layer: already seen; lower layer: the
 * first version met while reading down). A target that this layer had but
 * skipped (shadowed from above) is fetched by re-reading that layer at the
 * end, which real images practically never need. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "image/layers/gunzip.h"
#include "image/layers/layer_reader.h"
#include "image/layers/layers.h"
#include "image/squashfs/sqfs_tree_writer.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_PATH_LEN 4096
#define MAX_NAME_LEN 255
#define MAX_LINK_LEN 4095
#define MAX_XATTR_VALUE 65536
#define MAX_XATTRS 128
#define MAX_LINK_DEPTH 16
#define READ_BLOCK (256 * 1024)
#define DEFAULT_MAX_ENTRIES 10000000ull
#define DEFAULT_MAX_BYTES (1ull << 40)

enum lstate { L_IMPLIED, L_ENTRY, L_WHITEOUT };

struct lnode {
	struct sqfs_tree_node t; /* first: a tree node pointer is an lnode pointer */
	struct lnode *hnext;
	uint32_t hash;
	uint32_t layer;      /* the layer that defined this path (1 = bottom) */
	uint32_t hide_below; /* entries of lower layers are hidden at and below it */
	uint8_t state;
};

/* (parent, name) -> node. */
struct ltab {
	struct lnode **b;
	size_t nb, n;
};

/* path -> what a skipped entry was / which placeholders wait for a path. */
struct sent {
	struct sent *next;
	char *key;
	uint64_t ord;      /* skipped data entry: its ordinal in the layer */
	char *link_target; /* skipped hard link: its normalised target */
	struct sqfs_tree_inode **wait; /* pending: placeholders... */
	uint32_t *wait_layer;          /* ...and the layer of each link */
	size_t n_wait, cap_wait;
};

struct smap {
	struct sent **b;
	size_t nb, n;
};

struct deferred {
	uint32_t layer;
	uint64_t ord;
	char *path;
	struct sqfs_tree_inode *ino;
};

struct ctx {
	const struct layers_opts *o;
	const struct layer_src *layers;
	struct error *err;
	struct sqfs_tree_writer *w;
	struct lnode *root;
	struct ltab tab;
	struct smap skipped, pending;
	struct deferred *def;
	size_t n_def, cap_def;
	struct archive *a;
	struct archive_entry *e;
	const char *layer_name;
	uint32_t layer;
	uint64_t ord, entries, total, max_entries, max_total;
	uint32_t now;
	char path[MAX_PATH_LEN + 1]; /* the current entry, normalised */
};

static const uint8_t zeros[64 * 1024];

/* ---- messages ---- */

static void warn(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *line = NULL;
	va_list ap;

	if (c->o->warn == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("layer '%s': %s", c->layer_name, msg);
	c->o->warn(line, c->o->warn_arg);
}

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return error_set(c->err, 0, "layer '%s': %s", c->layer_name, msg);
}

static int fail_archive(struct ctx *c)
{
	const char *s = archive_error_string(c->a);

	return fail(c, "%s", s != NULL ? s : "unreadable tar stream");
}

/* ---- paths ---- */

/* Lexical normalisation inside the image root: "/a/./b//../c" -> "a/c".
 * With strict, a ".." above the root fails; otherwise it stays at the root,
 * as GNU tar and the kernel's chroot do. Returns the length or -1. */
static ssize_t normalize(const char *in, char *out, bool strict)
{
	size_t len = 0;

	while (*in != '\0') {
		const char *end = strchrnul(in, '/');
		size_t n = (size_t)(end - in);

		if (n == 2 && in[0] == '.' && in[1] == '.') {
			if (len == 0 && strict)
				return -1;
			while (len > 0 && out[len - 1] != '/')
				len--;
			len -= len > 0;
		} else if (n > MAX_NAME_LEN) {
			return -1;
		} else if (n > 0 && !(n == 1 && in[0] == '.')) {
			if (len + (len > 0) + n > MAX_PATH_LEN)
				return -1;
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, in, n);
			len += n;
		}
		in = *end != '\0' ? end + 1 : end;
	}
	out[len] = '\0';
	return (ssize_t)len;
}

/* ---- the path tree ---- */

static uint32_t key_hash(const struct lnode *parent, const char *name, size_t len)
{
	uint64_t h = (uintptr_t)parent * 0x9E3779B97F4A7C15ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001B3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static void tab_insert(struct ltab *t, struct lnode *n)
{
	struct lnode **slot = &t->b[n->hash & (t->nb - 1)];

	n->hnext = *slot;
	*slot = n;
}

static void tab_grow(struct ltab *t)
{
	struct lnode **old = t->b;
	size_t old_nb = t->nb;

	t->nb = old_nb ? old_nb * 2 : 1024;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	for (size_t i = 0; i < old_nb; i++) {
		while (old[i] != NULL) {
			struct lnode *n = old[i];

			old[i] = n->hnext;
			tab_insert(t, n);
		}
	}
	free(old);
}

static struct lnode *tab_get(struct ctx *c, struct lnode *parent, const char *name, size_t len)
{
	uint32_t h = key_hash(parent, name, len);

	for (struct lnode *n = c->tab.b[h & (c->tab.nb - 1)]; n != NULL; n = n->hnext)
		if (n->hash == h && (struct lnode *)n->t.parent == parent && strncmp(n->t.name, name, len) == 0 &&
		    n->t.name[len] == '\0')
			return n;
	return NULL;
}

static void tab_del(struct ctx *c, struct lnode *n)
{
	struct lnode **p = &c->tab.b[n->hash & (c->tab.nb - 1)];

	while (*p != NULL && *p != n)
		p = &(*p)->hnext;
	if (*p != NULL)
		*p = n->hnext;
	c->tab.n--;
}

static bool node_is_dir(const struct lnode *n)
{
	return n->state != L_WHITEOUT && S_ISDIR(n->t.ino->mode);
}

static struct lnode *node_add(struct ctx *c, struct lnode *parent, const char *name, size_t len, uint8_t state)
{
	struct lnode *n = xcalloc(1, sizeof(*n));

	n->t.name = xstrndup(name, len);
	n->t.parent = &parent->t;
	n->t.next = parent->t.child;
	if (n->t.next != NULL)
		n->t.next->prev = &n->t;
	parent->t.child = &n->t;
	n->hash = key_hash(parent, name, len);
	n->layer = c->layer;
	n->state = state;
	n->t.omit = state == L_WHITEOUT;
	if (c->tab.n + 1 > c->tab.nb)
		tab_grow(&c->tab);
	tab_insert(&c->tab, n);
	c->tab.n++;
	return n;
}

static struct sqfs_tree_inode *implied_inode(struct ctx *c)
{
	struct sqfs_tree_inode *ino = sqfs_tree_inode_new(c->w, S_IFDIR | 0755);

	ino->mtime = c->now;
	return ino;
}

static void make_implied(struct ctx *c, struct lnode *n)
{
	n->state = L_IMPLIED;
	n->t.omit = false;
	n->t.ino = implied_inode(c);
}

static void node_free(struct ctx *c, struct lnode *n, bool unhash)
{
	while (n->t.child != NULL) {
		struct lnode *ch = (struct lnode *)n->t.child;

		n->t.child = ch->t.next;
		node_free(c, ch, unhash);
	}
	if (unhash)
		tab_del(c, n);
	free(n->t.name);
	free(n);
}

/* Same-layer replacement of a directory: its children (all from this same
 * layer, nothing above had the path) go. Data already written stays in the
 * image unreferenced. */
static void drop_children(struct ctx *c, struct lnode *n)
{
	while (n->t.child != NULL) {
		struct lnode *ch = (struct lnode *)n->t.child;

		n->t.child = ch->t.next;
		node_free(c, ch, true);
	}
}

/* ---- string maps ---- */

static uint32_t str_hash(const char *s)
{
	return key_hash(NULL, s, strlen(s));
}

static struct sent *smap_get(struct smap *m, const char *key, bool create)
{
	uint32_t h = str_hash(key);
	struct sent *e;

	if (m->nb != 0)
		for (e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next)
			if (strcmp(e->key, key) == 0)
				return e;
	if (!create)
		return NULL;
	if (m->n + 1 > m->nb) {
		struct smap old = *m;

		m->nb = old.nb ? old.nb * 2 : 256;
		m->b = xcalloc(m->nb, sizeof(*m->b));
		for (size_t i = 0; i < old.nb; i++)
			while ((e = old.b[i]) != NULL) {
				old.b[i] = e->next;
				e->next = m->b[str_hash(e->key) & (m->nb - 1)];
				m->b[str_hash(e->key) & (m->nb - 1)] = e;
			}
		free(old.b);
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	m->n++;
	return e;
}

static void sent_free(struct sent *e)
{
	free(e->key);
	free(e->link_target);
	free(e->wait);
	free(e->wait_layer);
	free(e);
}

static void smap_del(struct smap *m, const char *key)
{
	struct sent **p;

	if (m->nb == 0)
		return;
	for (p = &m->b[str_hash(key) & (m->nb - 1)]; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->key, key) == 0) {
			struct sent *e = *p;

			*p = e->next;
			sent_free(e);
			m->n--;
			return;
		}
	}
}

static void smap_clear(struct smap *m)
{
	for (size_t i = 0; i < m->nb; i++)
		while (m->b[i] != NULL) {
			struct sent *e = m->b[i];

			m->b[i] = e->next;
			sent_free(e);
		}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- entry metadata ---- */

static uint32_t clamp_time(int64_t t)
{
	return t < 0 ? 0 : t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static bool keep_xattr(const char *name)
{
	/* trusted.* and security.* (but capabilities) are host policy, and
	 * user.overlay.* would steer an overlay mounted over the image. */
	if (strncmp(name, "user.", 5) == 0)
		return strncmp(name, "user.overlay.", 13) != 0;
	return strcmp(name, "security.capability") == 0;
}

static int set_xattrs(struct ctx *c, struct sqfs_tree_inode *ino)
{
	const char *keys[MAX_XATTRS];
	const void *values[MAX_XATTRS];
	size_t sizes[MAX_XATTRS], n = 0;
	const char *name;
	const void *value;
	size_t size;

	if (archive_entry_xattr_reset(c->e) == 0)
		return 0;
	while (archive_entry_xattr_next(c->e, &name, &value, &size) == ARCHIVE_OK) {
		if (name == NULL || !keep_xattr(name))
			continue;
		if (strlen(name) > MAX_NAME_LEN || size > MAX_XATTR_VALUE)
			return fail(c, "'%s': xattr '%.64s' is too large", c->path, name);
		if (n == MAX_XATTRS)
			return fail(c, "'%s': more than %d xattrs", c->path, MAX_XATTRS);
		keys[n] = name;
		values[n] = value;
		sizes[n++] = size;
	}
	return sqfs_tree_set_xattrs(c->w, ino, keys, values, sizes, n, c->err);
}

static int set_special(struct ctx *c, struct sqfs_tree_inode *ino)
{
	const char *t;
	uint64_t maj, min;

	if (S_ISLNK(ino->mode)) {
		t = archive_entry_symlink_utf8(c->e);
		if (t == NULL)
			t = archive_entry_symlink(c->e);
		if (t == NULL || *t == '\0' || strlen(t) > MAX_LINK_LEN)
			return fail(c, "'%s': invalid symlink target", c->path);
		ino->target = xstrdup(t);
	} else if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
		maj = archive_entry_rdevmajor(c->e);
		min = archive_entry_rdevminor(c->e);
		/* Squashfs stores the kernel's 32-bit new_encode_dev() format. */
		if (maj >= (1u << 12) || min >= (1u << 20))
			return fail(c, "'%s': device number %ju:%ju out of range", c->path, (uintmax_t)maj,
				    (uintmax_t)min);
		ino->devno = (uint32_t)((min & 0xff) | (maj << 8) | ((min & ~0xffull) << 12));
	}
	return 0;
}

static int append_zeros(struct ctx *c, int64_t n)
{
	while (n > 0) {
		size_t len = n < (int64_t)sizeof(zeros) ? (size_t)n : sizeof(zeros);

		if (sqfs_tree_file_append(c->w, zeros, len, c->err) < 0)
			return -1;
		n -= (int64_t)len;
	}
	return 0;
}

/* Data of the current entry into ino, holes (sparse files) as zeros. The
 * size was checked against the limit when the header was read. */
static int stream_data(struct ctx *c, struct sqfs_tree_inode *ino)
{
	int64_t size = archive_entry_size(c->e), pos = 0, off;
	const void *buf;
	size_t len;
	int r;

	if (sqfs_tree_file_begin(c->w, ino, c->err) < 0)
		return -1;
	for (;;) {
		r = archive_read_data_block(c->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return fail_archive(c);
		if (off < pos || off > size || (int64_t)len > size - off)
			return fail(c, "'%s': corrupt data map", c->path);
		if (append_zeros(c, off - pos) < 0)
			return -1;
		if (len > 0 && sqfs_tree_file_append(c->w, buf, len, c->err) < 0)
			return -1;
		pos = off + (int64_t)len;
	}
	if (append_zeros(c, size - pos) < 0)
		return -1;
	return sqfs_tree_file_end(c->w, c->err);
}

/* A complete inode from the current (non-link, non-directory or directory)
 * entry; regular file data is streamed now. */
static int fill_inode(struct ctx *c, struct sqfs_tree_inode *ino)
{
	ino->mode = (uint16_t)(archive_entry_filetype(c->e) | (archive_entry_perm(c->e) & 07777));
	ino->uid = (uint32_t)archive_entry_uid(c->e);
	ino->gid = (uint32_t)archive_entry_gid(c->e);
	ino->mtime = clamp_time(archive_entry_mtime(c->e));
	if (set_xattrs(c, ino) < 0 || set_special(c, ino) < 0)
		return -1;
	return S_ISREG(ino->mode) ? stream_data(c, ino) : 0;
}

/* ---- hard links ---- */

static bool entry_is_link(struct ctx *c)
{
	return archive_entry_hardlink(c->e) != NULL || archive_entry_hardlink_utf8(c->e) != NULL;
}

static struct lnode *lookup(struct ctx *c, const char *path)
{
	struct lnode *n = c->root;

	while (*path != '\0') {
		const char *end = strchrnul(path, '/');

		if (n->state == L_WHITEOUT || !S_ISDIR(n->t.ino->mode))
			return NULL;
		n = tab_get(c, n, path, (size_t)(end - path));
		if (n == NULL)
			return NULL;
		path = *end != '\0' ? end + 1 : end;
	}
	return n;
}

static void wait_for(struct ctx *c, const char *target, struct sqfs_tree_inode *ph)
{
	struct sent *e = smap_get(&c->pending, target, true);

	if (e->n_wait == e->cap_wait) {
		e->cap_wait = e->cap_wait ? e->cap_wait * 2 : 2;
		e->wait = xrealloc(e->wait, e->cap_wait * sizeof(*e->wait));
		e->wait_layer = xrealloc(e->wait_layer, e->cap_wait * sizeof(*e->wait_layer));
	}
	e->wait[e->n_wait] = ph;
	e->wait_layer[e->n_wait++] = c->layer;
}

static void defer(struct ctx *c, uint64_t ord, const char *target, struct sqfs_tree_inode *ph)
{
	if (c->n_def == c->cap_def) {
		c->cap_def = c->cap_def ? c->cap_def * 2 : 8;
		c->def = xrealloc(c->def, c->cap_def * sizeof(*c->def));
	}
	c->def[c->n_def++] = (struct deferred){c->layer, ord, xstrdup(target), ph};
}

/* Point placeholder ph at what target is in this layer, as of now, or wait
 * for it in the layers below. */
static void resolve_link(struct ctx *c, struct sqfs_tree_inode *ph, const char *target, unsigned depth)
{
	struct lnode *n = lookup(c, target);
	struct sent *s;

	if (n != NULL && n->layer == c->layer && n->state == L_ENTRY && n->t.ino != ph &&
	    !S_ISDIR(n->t.ino->mode)) {
		ph->fwd = n->t.ino;
		return;
	}
	s = smap_get(&c->skipped, target, false);
	if (s != NULL && s->link_target != NULL && depth < MAX_LINK_DEPTH)
		resolve_link(c, ph, s->link_target, depth + 1);
	else if (s != NULL && s->link_target == NULL)
		defer(c, s->ord, target, ph);
	else if (n != NULL && n->layer == c->layer)
		warn(c, "hard link to '%s' left out: not a file in this layer", target);
	else if (s == NULL)
		wait_for(c, target, ph);
}

static int link_target(struct ctx *c, char *out)
{
	const char *t = archive_entry_hardlink_utf8(c->e);

	if (t == NULL)
		t = archive_entry_hardlink(c->e);
	if (t == NULL || normalize(t, out, true) <= 0) {
		warn(c, "hard link '%s' left out: its target is outside the image", c->path);
		return -1;
	}
	return 0;
}

/* An inode for the current entry when only links from above need it. */
static int own_inode(struct ctx *c, struct sqfs_tree_inode **ret)
{
	char target[MAX_PATH_LEN + 1];

	*ret = NULL;
	if (entry_is_link(c)) {
		if (link_target(c, target) == 0) {
			*ret = sqfs_tree_inode_new(c->w, 0);
			resolve_link(c, *ret, target, 0);
		}
		return 0;
	}
	if (archive_entry_filetype(c->e) == AE_IFDIR) {
		warn(c, "hard links to directory '%s' left out", c->path);
		return 0;
	}
	*ret = sqfs_tree_inode_new(c->w, 0);
	return fill_inode(c, *ret);
}

/* Placeholders of higher layers waiting for this path get this entry; ino
 * is the entry's inode if it is in the image, else NULL. */
static int serve_waiters(struct ctx *c, struct sqfs_tree_inode *ino)
{
	struct sent *e;
	size_t kept = 0;
	bool any = false;

	if (c->pending.n == 0 || (e = smap_get(&c->pending, c->path, false)) == NULL)
		return 0;
	for (size_t i = 0; i < e->n_wait; i++)
		any |= e->wait_layer[i] > c->layer;
	if (!any)
		return 0;
	if (ino == NULL && own_inode(c, &ino) < 0)
		return -1;
	for (size_t i = 0; i < e->n_wait; i++) {
		if (e->wait_layer[i] > c->layer) {
			e->wait[i]->fwd = ino;
			continue;
		}
		e->wait[kept] = e->wait[i];
		e->wait_layer[kept++] = e->wait_layer[i];
	}
	e->n_wait = kept;
	if (kept == 0)
		smap_del(&c->pending, c->path);
	return 0;
}

/* ---- applying one entry ---- */

static int check_type(struct ctx *c)
{
	switch (archive_entry_filetype(c->e)) {
	case AE_IFREG:
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
	case AE_IFCHR:
	case AE_IFBLK:
		return 0;
	default:
		warn(c, "'%s' left out: unsupported file type", c->path);
		return -1;
	}
}

/* Remember a shadowed entry in case a later hard link of this layer names it. */
static void note_skipped(struct ctx *c)
{
	char target[MAX_PATH_LEN + 1];
	struct sent *s;

	if (archive_entry_filetype(c->e) == AE_IFDIR && !entry_is_link(c))
		return;
	if (entry_is_link(c) && link_target(c, target) < 0)
		return;
	s = smap_get(&c->skipped, c->path, true);
	free(s->link_target);
	s->link_target = entry_is_link(c) ? xstrdup(target) : NULL;
	s->ord = c->ord;
}

/* n gets the current entry: a new inode, or a placeholder for a hard link. */
static int set_entry(struct ctx *c, struct lnode *n)
{
	char target[MAX_PATH_LEN + 1];

	n->state = L_ENTRY;
	n->t.omit = false;
	if (entry_is_link(c)) {
		/* Resolve before anything else: a link to itself must not find itself. */
		struct sqfs_tree_inode *ph = sqfs_tree_inode_new(c->w, 0);

		n->t.ino = ph;
		if (link_target(c, target) == 0)
			resolve_link(c, ph, target, 0);
		return serve_waiters(c, ph);
	}
	n->t.ino = sqfs_tree_inode_new(c->w, 0);
	if (fill_inode(c, n->t.ino) < 0)
		return -1;
	return serve_waiters(c, n->t.ino);
}

static int apply_root(struct ctx *c)
{
	struct lnode *r = c->root;

	if (archive_entry_filetype(c->e) != AE_IFDIR || entry_is_link(c))
		return fail(c, "refusing to change the type of the image root");
	if (r->state != L_IMPLIED && r->layer != c->layer)
		return 0;
	if (c->layer < r->hide_below)
		return 0;
	r->state = L_ENTRY;
	r->layer = c->layer;
	return fill_inode(c, r->t.ino);
}

/* One step down for an entry of the current layer. 1: go on; 0: hidden. */
static int step(struct ctx *c, struct lnode *dir, const char *name, size_t len, struct lnode **ret)
{
	struct lnode *n = tab_get(c, dir, name, len);

	if (n == NULL) {
		n = node_add(c, dir, name, len, L_IMPLIED);
		n->t.ino = implied_inode(c);
	} else if (n->state == L_WHITEOUT) {
		if (n->layer > c->layer)
			return 0;
		make_implied(c, n);
	} else if (!node_is_dir(n)) {
		/* Above: it replaced the directory. Same layer: writing below a
		 * symlink or file of the image is what escapes look like. */
		if (n->layer == c->layer)
			warn(c, "'%s' left out: '%.*s' is not a directory", c->path, (int)len, name);
		return 0;
	}
	if (c->layer < n->hide_below)
		return 0;
	*ret = n;
	return 1;
}

/* Find (creating implied directories) the directory holding the last
 * component of c->path. 1: found; 0: the entry is hidden. */
static int walk_parent(struct ctx *c, struct lnode **ret_dir, const char **ret_leaf)
{
	struct lnode *dir = c->root;
	const char *p = c->path, *slash;

	if (c->layer < dir->hide_below)
		return 0;
	while ((slash = strchr(p, '/')) != NULL) {
		if (step(c, dir, p, (size_t)(slash - p), &dir) == 0)
			return 0;
		p = slash + 1;
	}
	*ret_dir = dir;
	*ret_leaf = p;
	return 1;
}

static int apply_whiteout(struct ctx *c, struct lnode *dir, const char *name)
{
	struct lnode *n;

	if (strcmp(name, ".wh..opq") == 0) {
		if (dir->hide_below < c->layer)
			dir->hide_below = c->layer;
		return 0;
	}
	if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strncmp(name, ".wh.", 4) == 0)
		return fail(c, "'%s': invalid or unsupported whiteout", c->path);
	n = tab_get(c, dir, name, strlen(name));
	if (n == NULL) {
		n = node_add(c, dir, name, strlen(name), L_WHITEOUT);
		n->hide_below = c->layer;
	} else if (n->hide_below < c->layer) {
		n->hide_below = c->layer;
	}
	return 0;
}

static int apply_leaf(struct ctx *c, struct lnode *dir, const char *name)
{
	bool is_dir = archive_entry_filetype(c->e) == AE_IFDIR && !entry_is_link(c);
	struct lnode *n = tab_get(c, dir, name, strlen(name));

	if (n == NULL)
		return set_entry(c, node_add(c, dir, name, strlen(name), L_ENTRY));
	if (n->layer > c->layer) {
		if (n->state == L_IMPLIED && is_dir && c->layer >= n->hide_below) {
			n->state = L_ENTRY;
			return fill_inode(c, n->t.ino);
		}
		note_skipped(c);
		return serve_waiters(c, NULL);
	}
	/* Same layer: the last entry wins. */
	if (is_dir && n->state != L_WHITEOUT && node_is_dir(n)) {
		n->state = L_ENTRY;
		return fill_inode(c, n->t.ino);
	}
	drop_children(c, n);
	return set_entry(c, n);
}

/* Links of higher layers to a path this layer deletes have no target (a
 * link of this layer was made before the deletion: it keeps waiting). */
static void drop_waiters(struct ctx *c, size_t dir_len, const char *name)
{
	char target[MAX_PATH_LEN + 1];
	struct sent *e;
	size_t kept = 0;

	if (c->pending.n == 0)
		return;
	memcpy(target, c->path, dir_len);
	strcpy(target + dir_len, name);
	e = smap_get(&c->pending, target, false);
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n_wait; i++) {
		if (e->wait_layer[i] > c->layer)
			continue;
		e->wait[kept] = e->wait[i];
		e->wait_layer[kept++] = e->wait_layer[i];
	}
	if (kept < e->n_wait)
		warn(c, "%zu hard link(s) to '%s' left out: deleted below them", e->n_wait - kept, target);
	e->n_wait = kept;
	if (kept == 0)
		smap_del(&c->pending, target);
}

static int apply_path(struct ctx *c)
{
	struct lnode *dir;
	const char *leaf;

	if (c->path[0] == '\0')
		return apply_root(c);
	if (walk_parent(c, &dir, &leaf) == 0) {
		note_skipped(c);
		return serve_waiters(c, NULL);
	}
	if (strncmp(leaf, ".wh.", 4) == 0) {
		drop_waiters(c, (size_t)(leaf - c->path), leaf + 4);
		return apply_whiteout(c, dir, leaf + 4);
	}
	if (!entry_is_link(c) && check_type(c) < 0)
		return 0;
	return apply_leaf(c, dir, leaf);
}

static int account(struct ctx *c)
{
	int64_t size = archive_entry_size_is_set(c->e) ? archive_entry_size(c->e) : 0;

	if (++c->entries > c->max_entries)
		return fail(c, "more than %ju entries", (uintmax_t)c->max_entries);
	/* The tar header announces the size: a bomb is caught before any of it
	 * is decompressed, whether its data would be kept or skipped. */
	if (size < 0 || (uint64_t)size > c->max_total - c->total)
		return fail(c, "uncompressed size exceeds the limit of %ju bytes", (uintmax_t)c->max_total);
	c->total += (uint64_t)size;
	return 0;
}

static int apply_entry(struct ctx *c)
{
	const char *name = archive_entry_pathname_utf8(c->e);

	if (account(c) < 0)
		return -1;
	if (name == NULL)
		name = archive_entry_pathname(c->e);
	if (name == NULL)
		return fail(c, "an entry has no name");
	if (normalize(name, c->path, false) < 0)
		return fail(c, "'%.100s...': name too long", name);
	/* As enroot: dev/ is the runtime's, its content in images is dropped. */
	if (strncmp(c->path, "dev/", 4) == 0)
		return 0;
	return apply_path(c);
}

/* ---- layers ---- */

struct raw_source {
	struct layer_reader *r;
	unsigned char buf[READ_BLOCK];
};

static la_ssize_t raw_read(struct archive *a, void *client, const void **buf)
{
	struct raw_source *s = client;
	ssize_t n = layer_reader_read(s->r, s->buf, sizeof(s->buf));

	if (n < 0)
		archive_set_error(a, EIO, "%s", s->r->err->msg);
	*buf = s->buf;
	return n;
}

static int raw_close(struct archive *a, void *client)
{
	(void)a;
	free(client);
	return ARCHIVE_OK;
}

static bool is_gzip(const unsigned char *head, size_t len)
{
	return len >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

/* gzip goes through ISA-L; zstd and plain tar through libarchive. */
static int open_archive(struct ctx *c, const struct layer_src *l, struct layer_reader *lr)
{
	const unsigned char *head;
	size_t len;
	int r = ARCHIVE_OK;

	if (layer_reader_peek(lr, &head, &len) < 0)
		return -1;
	if ((l->comp == LAYER_SRC_AUTO || l->comp == LAYER_SRC_GZIP) && is_gzip(head, len)) {
		r = gunzip_archive_open(c->a, lr);
	} else {
		struct raw_source *s = xmalloc(sizeof(*s));

		s->r = lr;
		if (l->comp == LAYER_SRC_AUTO || l->comp == LAYER_SRC_ZSTD)
			r = archive_read_support_filter_zstd(c->a);
		if (r >= ARCHIVE_WARN)
			r = archive_read_open(c->a, s, NULL, raw_read, raw_close);
		else
			free(s);
	}
	return r >= ARCHIVE_WARN ? 0 : fail_archive(c);
}

static int open_layer(struct ctx *c, size_t i, struct layer_reader *lr)
{
	const struct layer_src *l = &c->layers[i];

	c->layer_name = l->path;
	*lr = (struct layer_reader){.fd = -1, .index = i, .err = c->err, .left = UINT64_MAX, .base = l->offset};
	c->a = archive_read_new();
	if (c->a == NULL)
		return error_set(c->err, ENOMEM, "failed to set up the tar reader");
	/* Only tar: a layer is never a zip, cpio or ISO image. */
	archive_read_support_format_tar(c->a);
	archive_read_support_format_gnutar(c->a);
	if (l->length > 0)
		lr->left = l->length;
	if (c->o->layer_open) {
		lr->fd = c->o->layer_open(i, c->o->source_arg, c->err);
		lr->more = c->o->layer_more;
		lr->more_arg = c->o->source_arg;
	} else {
		lr->fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (lr->fd < 0)
			error_set(c->err, errno, "failed to open layer '%s'", l->path);
		if (lr->fd >= 0 && l->offset > 0 && lseek(lr->fd, (off_t)l->offset, SEEK_SET) < 0) {
			error_set(c->err, errno, "failed to seek in '%s'", l->path);
			close(lr->fd);
			lr->fd = -1;
		}
	}
	return lr->fd < 0 ? -1 : open_archive(c, l, lr);
}

static void close_layer(struct ctx *c, struct layer_reader *lr)
{
	if (c->a != NULL)
		archive_read_free(c->a);
	c->a = NULL;
	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
}

/* Call fn for every entry of layer i, with c->ord its ordinal. */
static int for_each_entry(struct ctx *c, size_t i, int (*fn)(struct ctx *c, void *arg), void *arg)
{
	struct layer_reader lr = {.fd = -1};
	int r;

	c->layer = (uint32_t)i + 1;
	c->ord = 0;
	r = open_layer(c, i, &lr);
	while (r == 0) {
		r = archive_read_next_header2(c->a, c->e);
		if (r == ARCHIVE_EOF) {
			r = 0;
			break;
		}
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			r = fail_archive(c);
		else
			r = fn(c, arg);
		c->ord++;
		if (c->o->progress)
			c->o->progress(i, (uint64_t)lseek(lr.fd, 0, SEEK_CUR) - c->layers[i].offset, c->o->progress_arg);
	}
	close_layer(c, &lr);
	return r;
}

static int apply_cb(struct ctx *c, void *arg)
{
	(void)arg;
	return apply_entry(c);
}

static int cmp_deferred(const void *a, const void *b)
{
	const struct deferred *x = a, *y = b;

	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Second read of a layer for the shadowed targets of its hard links. */
static int reread_cb(struct ctx *c, void *arg)
{
	size_t *next = arg;
	struct sqfs_tree_inode *ino = NULL;
	const char *name;

	while (*next < c->n_def && c->def[*next].layer == c->layer && c->def[*next].ord == c->ord) {
		struct deferred *d = &c->def[(*next)++];

		if (ino == NULL) {
			name = archive_entry_pathname_utf8(c->e);
			if (name == NULL)
				name = archive_entry_pathname(c->e);
			if (name == NULL || normalize(name, c->path, false) < 0 || strcmp(c->path, d->path) != 0)
				return fail(c, "changed between two reads");
			ino = sqfs_tree_inode_new(c->w, 0);
			if (fill_inode(c, ino) < 0)
				return -1;
		}
		d->ino->fwd = ino;
	}
	return 0;
}

static int resolve_deferred(struct ctx *c)
{
	size_t next = 0;

	if (c->n_def > 1)
		qsort(c->def, c->n_def, sizeof(*c->def), cmp_deferred);
	while (next < c->n_def)
		if (for_each_entry(c, c->def[next].layer - 1, reread_cb, &next) < 0)
			return -1;
	return 0;
}

/* ---- extra files and directories ---- */

static int extra_dir(struct ctx *c, const char *path)
{
	struct lnode *dir = c->root;
	char *p = c->path;

	if (normalize(path, c->path, false) < 0)
		return error_set(c->err, 0, "invalid extra directory '%.100s'", path);
	while (*p != '\0') {
		char *end = strchrnul(p, '/');

		if (step(c, dir, p, (size_t)(end - p), &dir) == 0)
			return 0;
		p = *end != '\0' ? end + 1 : end;
	}
	return 0;
}

static int extra_file(struct ctx *c, const struct extra_file *f)
{
	struct lnode *dir, *n;
	const char *leaf;
	int r;

	if (normalize(f->path, c->path, false) <= 0)
		return error_set(c->err, 0, "invalid extra file '%.100s'", f->path);
	if (walk_parent(c, &dir, &leaf) == 0)
		return error_set(c->err, 0, "extra file '%s' is below another extra file", c->path);
	n = tab_get(c, dir, leaf, strlen(leaf));
	if (n == NULL)
		n = node_add(c, dir, leaf, strlen(leaf), L_ENTRY);
	drop_children(c, n);
	n->state = L_ENTRY;
	n->t.omit = false;
	n->t.ino = sqfs_tree_inode_new(c->w, (uint16_t)(S_IFREG | (f->mode & 07777)));
	n->t.ino->mtime = c->now;
	r = sqfs_tree_file_begin(c->w, n->t.ino, c->err);
	if (r == 0 && f->len > 0)
		r = sqfs_tree_file_append(c->w, f->data, f->len, c->err);
	if (r == 0)
		r = sqfs_tree_file_end(c->w, c->err);
	return r;
}

static int apply_extras(struct ctx *c, size_t n_layers)
{
	c->layer = (uint32_t)n_layers + 1;
	c->layer_name = "(extra files)";
	for (size_t i = 0; i < c->o->n_extra_dirs; i++)
		if (extra_dir(c, c->o->extra_dirs[i]) < 0)
			return -1;
	for (size_t i = 0; i < c->o->n_extra; i++)
		if (extra_file(c, &c->o->extra[i]) < 0)
			return -1;
	return 0;
}

/* ---- driver ---- */

static uint32_t image_time(void)
{
	const char *s = secure_getenv("SOURCE_DATE_EPOCH");
	unsigned long long v;
	char *end = NULL;

	if (s != NULL && *s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0' && v <= UINT32_MAX)
			return (uint32_t)v;
	}
	return clamp_time(time(NULL));
}

static void report_dangling(struct ctx *c)
{
	c->layer_name = "(all layers)";
	for (size_t i = 0; i < c->pending.nb; i++)
		for (struct sent *e = c->pending.b[i]; e != NULL; e = e->next)
			warn(c, "%zu hard link(s) to '%s' left out: no such file", e->n_wait, e->key);
}

static int run(struct ctx *c, size_t n, const char *out_path)
{
	if (sqfs_tree_writer_new(&c->w, out_path, &c->o->pack, c->now, c->err) < 0)
		return -1;
	c->root = xcalloc(1, sizeof(*c->root));
	c->root->t.name = xstrdup("");
	c->root->t.ino = implied_inode(c);
	tab_grow(&c->tab);
	c->e = archive_entry_new();
	if (apply_extras(c, n) < 0)
		return -1;
	for (size_t i = n; i-- > 0;) {
		smap_clear(&c->skipped);
		if (for_each_entry(c, i, apply_cb, NULL) < 0)
			return -1;
	}
	smap_clear(&c->skipped);
	if (resolve_deferred(c) < 0)
		return -1;
	report_dangling(c);
	return sqfs_tree_writer_finish(c->w, &c->root->t, c->err);
}

int layers_to_squashfs(const struct layer_src *layers, size_t n, const char *out_path,
		       const struct layers_opts *opts, struct error *err)
{
	static const struct layers_opts defaults;
	struct ctx c;
	int r;

	memset(&c, 0, sizeof(c));
	c.o = opts != NULL ? opts : &defaults;
	c.layers = layers;
	c.err = err;
	c.max_entries = c.o->max_entries ? c.o->max_entries : DEFAULT_MAX_ENTRIES;
	c.max_total = c.o->max_total_bytes ? c.o->max_total_bytes : DEFAULT_MAX_BYTES;
	c.now = image_time();
	c.layer_name = out_path;
	r = run(&c, n, out_path);
	/* The writer first: its threads may still point into inodes. */
	sqfs_tree_writer_free(c.w);
	if (c.root != NULL)
		node_free(&c, c.root, false);
	free(c.tab.b);
	smap_clear(&c.skipped);
	smap_clear(&c.pending);
	for (size_t i = 0; i < c.n_def; i++)
		free(c.def[i].path);
	free(c.def);
	if (c.e != NULL)
		archive_entry_free(c.e);
	return r;
}
