/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing and validation of the --container-* option values.  This code is
 * loaded into slurmstepd (root): it allocates only with malloc (no abort on
 * ENOMEM), bounds every user-controlled size and never exits. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/options.h"
#include "util/cleanup.h"

void spank_args_init(struct spank_args *a)
{
	memset(a, 0, sizeof(*a));
	a->name_flag = SPANK_NAME_AUTO;
	a->mount_home = SPANK_UNSET;
	a->remap_root = SPANK_UNSET;
	a->entrypoint = SPANK_UNSET;
	a->entrypoint_log = SPANK_UNSET;
	a->writable = SPANK_UNSET;
}

void spank_args_free(struct spank_args *a)
{
	free(a->image);
	for (size_t i = 0; i < a->mounts_len; i++) {
		free(a->mounts[i].src);
		free(a->mounts[i].dst);
		free(a->mounts[i].flags);
	}
	free(a->mounts);
	free(a->workdir);
	free(a->name);
	free(a->name_arg);
	free(a->save);
	for (size_t i = 0; i < a->env_len; i++)
		free(a->env[i]);
	free(a->env);
	spank_args_init(a);
}

int spank_parse_bool(const char *s)
{
	static const char *const yes[] = {"1", "true", "yes", "y"};
	static const char *const no[] = {"0", "false", "no", "n"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int oom(struct error *err)
{
	return error_set(err, ENOMEM, "could not allocate memory");
}

/* Every value: present, bounded, and free of control bytes, which would
 * forge lines in enroot's fstab and config files or in the logs. */
static int check_value(const char *opt, const char *v, size_t max, struct error *err)
{
	size_t len;

	if (v == NULL || *v == '\0')
		return error_set(err, 0, "--%s: argument required", opt);
	len = strnlen(v, max + 1);
	if (len > max)
		return error_set(err, 0, "--%s: argument too long (more than %zu bytes)", opt, max);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			return error_set(err, 0, "--%s: argument contains a control character", opt);
	}
	return 0;
}

/* A single-valued option: the same value again is fine (Slurm calls the
 * callback twice in remote context), a different one is an error. */
static int set_once(char **slot, const char *opt, const char *v, struct error *err)
{
	int r;

	r = check_value(opt, v, SPANK_VALUE_MAX, err);
	if (r < 0)
		return r;

	if (*slot != NULL) {
		if (strcmp(*slot, v) == 0)
			return 0;
		return error_set(err, 0, "--%s specified multiple times", opt);
	}
	*slot = strdup(v);
	return *slot != NULL ? 0 : oom(err);
}

int spank_args_set_image(struct spank_args *a, const char *v, struct error *err)
{
	return set_once(&a->image, "container-image", v, err);
}

int spank_args_set_workdir(struct spank_args *a, const char *v, struct error *err)
{
	return set_once(&a->workdir, "container-workdir", v, err);
}

int spank_args_set_save(struct spank_args *a, const char *v, struct error *err)
{
	/* A directory target once wiped a home directory (pyxis #151). */
	if (v != NULL && *v != '\0' && v[strlen(v) - 1] == '/')
		return error_set(err, 0, "--container-save: target is a directory");
	return set_once(&a->save, "container-save", v, err);
}

static int parse_name_flag(const char *s, enum spank_name_flag *ret, struct error *err)
{
	static const char *const names[] = {"auto", "create", "exec", "no_exec"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum spank_name_flag)i;
			return 0;
		}
	}
	return error_set(err, 0, "--container-name: flag must be \"auto\", \"create\", \"exec\" or \"no_exec\"");
}

/* The name becomes one path component of the container directory. */
static int check_name(const char *name, struct error *err)
{
	if (*name == '\0')
		return error_set(err, 0, "--container-name: empty name");
	if (strlen(name) > SPANK_NAME_MAX)
		return error_set(err, 0, "--container-name: name too long (more than %d bytes)", SPANK_NAME_MAX);
	if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return error_set(err, 0, "--container-name: invalid name '%s'", name);
	return 0;
}

int spank_args_set_name(struct spank_args *a, const char *v, struct error *err)
{
	_cleanup_free_ char *name = NULL;
	enum spank_name_flag flag = SPANK_NAME_AUTO;
	char *colon;
	int r;

	r = check_value("container-name", v, SPANK_VALUE_MAX, err);
	if (r < 0)
		return r;

	if (a->name_arg != NULL) {
		if (strcmp(a->name_arg, v) == 0)
			return 0;
		return error_set(err, 0, "--container-name specified multiple times");
	}
	name = strdup(v);
	if (name == NULL)
		return oom(err);
	colon = strchr(name, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (colon[1] != '\0') {
			r = parse_name_flag(colon + 1, &flag, err);
			if (r < 0)
				return r;
		}
	}
	r = check_name(name, err);
	if (r < 0)
		return r;

	a->name_arg = strdup(v);
	if (a->name_arg == NULL)
		return oom(err);
	a->name = TAKE_PTR(name);
	a->name_flag = flag;
	return 0;
}

int spank_args_set_flag(struct spank_args *a, enum spank_flag f, int on, struct error *err)
{
	static const char *const names[] = {"container-mount-home", "container-remap-root", "container-entrypoint",
					    "container-entrypoint-log", "container-writable"};
	int *slots[] = {&a->mount_home, &a->remap_root, &a->entrypoint, &a->entrypoint_log, &a->writable};
	int *slot = slots[f];

	on = on ? SPANK_YES : SPANK_NO;
	if (f != SPANK_ENTRYPOINT_LOG && *slot != SPANK_UNSET && *slot != on) {
		if (f == SPANK_WRITABLE)
			return error_set(err, 0, "both --container-writable and --container-readonly were specified");
		return error_set(err, 0, "both --%s and --no-%s were specified", names[f], names[f]);
	}
	*slot = on;
	return 0;
}

/* Calls fn on each comma-separated element of a copy of v (elements may be
 * empty: the callers tell pyxis's errors apart). */
static int for_each_element(const char *opt, const char *v, int (*fn)(struct spank_args *, char *, const char *,
								      struct error *),
			    struct spank_args *a, struct error *err)
{
	_cleanup_free_ char *copy = NULL;
	char *rest, *elem;
	int r;

	r = check_value(opt, v, SPANK_LIST_MAX, err);
	if (r < 0)
		return r;

	copy = strdup(v);
	if (copy == NULL)
		return oom(err);
	rest = copy;
	while ((elem = strsep(&rest, ",")) != NULL) {
		r = fn(a, elem, v, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *mount_default_flags(const char *src)
{
	if (strspn(src, "./") > 0)
		return "x-create=auto,rbind";
	if (strcmp(src, "tmpfs") == 0)
		return "x-create=dir";
	if (strcmp(src, "umount") == 0)
		return "x-detach";
	return NULL;
}

static int check_mount(const char *src, const char *dst, const char *flags, struct error *err)
{
	if (mount_default_flags(src) == NULL)
		return error_set(err, 0, "mount source must be a relative path, an absolute path, \"tmpfs\" or \"umount\"");
	if (strspn(dst, "./") == 0)
		return error_set(err, 0, "mount target must be a relative path or an absolute path");
	if (strlen(src) > SPANK_VALUE_MAX || strlen(dst) > SPANK_VALUE_MAX)
		return error_set(err, 0, "path too long (more than %d bytes)", SPANK_VALUE_MAX);
	/* The flags are one field of an fstab line. */
	if (flags != NULL && strpbrk(flags, " \t") != NULL)
		return error_set(err, 0, "mount flags must not contain spaces");
	return 0;
}

static bool same(const char *x, const char *y)
{
	return strcmp(x, y) == 0;
}

static int add_mount(struct spank_args *a, const char *src, const char *dst, const char *user_flags,
		     struct error *err)
{
	const char *def = mount_default_flags(src);
	struct spank_mount m = {NULL, NULL, NULL}, *p;
	size_t flags_len = strlen(def) + (user_flags ? strlen(user_flags) + 1 : 0) + 1;

	m.flags = malloc(flags_len);
	if (m.flags == NULL)
		return oom(err);
	snprintf(m.flags, flags_len, "%s%s%s", def, user_flags ? "," : "", user_flags ? user_flags : "");
	for (size_t i = 0; i < a->mounts_len; i++) {
		p = &a->mounts[i];
		if (same(p->src, src) && same(p->dst, dst) && same(p->flags, m.flags)) {
			free(m.flags);
			return 0;
		}
	}
	if (a->mounts_len >= SPANK_ENTRIES_MAX) {
		free(m.flags);
		return error_set(err, 0, "too many mounts (more than %d)", SPANK_ENTRIES_MAX);
	}
	p = realloc(a->mounts, (a->mounts_len + 1) * sizeof(*p));
	m.src = strdup(src);
	m.dst = strdup(dst);
	if (p != NULL)
		a->mounts = p;
	if (p == NULL || m.src == NULL || m.dst == NULL) {
		free(m.src);
		free(m.dst);
		free(m.flags);
		return oom(err);
	}
	a->mounts[a->mounts_len++] = m;
	return 0;
}

/* "SRC[:DST[:FLAGS]]", FLAGS joined with '+' since ',' separates entries. */
static int parse_mount(struct spank_args *a, char *entry, const char *whole, struct error *err)
{
	_cleanup_free_ char *orig = strdup(entry);
	char *rest = entry, *src, *dst, *flags = NULL;
	int r;

	(void)whole;
	if (orig == NULL)
		return oom(err);
	src = strsep(&rest, ":");
	dst = src;
	if (rest != NULL)
		dst = strsep(&rest, ":");
	if (*src == '\0' || *dst == '\0')
		return error_set(err, 0, "--container-mounts: invalid format: %s", orig);
	if (rest != NULL && *rest != '\0') {
		flags = rest;
		for (char *c = flags; *c != '\0'; c++)
			if (*c == '+')
				*c = ',';
	}
	r = check_mount(src, dst, flags, err);
	if (r >= 0)
		r = add_mount(a, src, dst, flags, err);
	if (r < 0)
		return error_prefix(err, "--container-mounts: could not add mount entry %s:%s", src, dst);
	return 0;
}

/* A list is applied whole or not at all: a PYXIS_CONTAINER_* value that
 * fails is ignored (pyxis.md §4), and must not leave half of itself. */
int spank_args_add_mounts(struct spank_args *a, const char *v, struct error *err)
{
	size_t old = a->mounts_len;
	int r;

	r = for_each_element("container-mounts", v, parse_mount, a, err);
	for (; r < 0 && a->mounts_len > old; a->mounts_len--) {
		free(a->mounts[a->mounts_len - 1].src);
		free(a->mounts[a->mounts_len - 1].dst);
		free(a->mounts[a->mounts_len - 1].flags);
	}
	return r;
}

static bool valid_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static int add_env_name(struct spank_args *a, char *name, const char *whole, struct error *err)
{
	char **p;

	if (*name == '\0')
		return error_set(err, 0, "--container-env: invalid format: %s", whole);
	if (!valid_env_name(name))
		return error_set(err, 0, "--container-env: invalid variable name '%s'", name);
	for (size_t i = 0; i < a->env_len; i++)
		if (strcmp(a->env[i], name) == 0)
			return 0;
	if (a->env_len >= SPANK_ENTRIES_MAX)
		return error_set(err, 0, "--container-env: too many names (more than %d)", SPANK_ENTRIES_MAX);
	p = realloc(a->env, (a->env_len + 1) * sizeof(*p));
	if (p == NULL)
		return oom(err);
	a->env = p;
	a->env[a->env_len] = strdup(name);
	if (a->env[a->env_len] == NULL)
		return oom(err);
	a->env_len++;
	return 0;
}

int spank_args_add_env(struct spank_args *a, const char *v, struct error *err)
{
	size_t old = a->env_len;
	int r;

	r = for_each_element("container-env", v, add_env_name, a, err);
	for (; r < 0 && a->env_len > old; a->env_len--)
		free(a->env[a->env_len - 1]);
	return r;
}

static int add_unshare_ns(struct spank_args *a, char *ns, const char *whole, struct error *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {{"net", SPANK_UNSHARE_NET}, {"ipc", SPANK_UNSHARE_IPC}, {"uts", SPANK_UNSHARE_UTS}};

	(void)whole;
	if (*ns == '\0')
		return error_set(err, 0, "--container-unshare: empty namespace argument");
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		if (strcmp(ns, known[i].name) == 0) {
			a->unshare |= known[i].bit;
			return 0;
		}
	}
	return error_set(err, 0, "--container-unshare: unknown namespace '%s'", ns);
}

int spank_args_add_unshare(struct spank_args *a, const char *v, struct error *err)
{
	unsigned old = a->unshare;
	int r;

	r = for_each_element("container-unshare", v, add_unshare_ns, a, err);
	if (r < 0)
		a->unshare = old;
	return r;
}
