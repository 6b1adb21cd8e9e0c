/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_CONFIG_FILE (1024 * 1024)

/* Defaults, in the order they are applied (later ones may refer to earlier
 * ones). The data-like paths get an enroot fallback, see default_path(). */
static const struct {
	const char *name;
	const char *value;
} defaults[] = {
	{"LIBRARY_PATH", CAPSA_DATADIR},
	{"TEMP_PATH", "${TMPDIR:-/tmp}"},
	{"GZIP_PROGRAM", "gzip"},
	{"ZSTD_OPTIONS", "-1"},
	{"SQUASH_OPTIONS", "-comp zstd -Xcompression-level 3"},
	{"MAX_PROCESSORS", "$(nproc)"},
	{"MAX_CONNECTIONS", "10"},
	{"CONNECT_TIMEOUT", "30"},
	{"TRANSFER_TIMEOUT", "0"},
	{"TRANSFER_RETRIES", "0"},
	{"LOCK_TIMEOUT", "30"},
	{"LOGIN_SHELL", "y"},
	{"NATIVE_OVERLAYFS", "y"},
	{"ALLOW_HTTP", "n"},
	{"ALLOW_SUPERUSER", "n"},
	{"ROOTFS_WRITABLE", "n"},
	{"REMAP_ROOT", "n"},
	{"MOUNT_HOME", "n"},
	{"IMAGE_MOUNTS", "restricted"},
	{"IMAGE_ENVIRON", "restricted"},
	{"RESTRICT_DEV", "n"},
	{"CDI_SPEC_DIRS", "/etc/cdi /var/run/cdi"},
	{"UNSHARE_PID", "n"},
	{"UNSHARE_NET", "n"},
	{"UNSHARE_IPC", "n"},
	{"UNSHARE_UTS", "n"},
	{"BUNDLE_ALL", "n"},
	{"BUNDLE_CHECKSUM", "n"},
	{"FORCE_OVERRIDE", "n"},
	{"STORE_OFFLINE", "y"},
	/* The store is a node-local cache made for starting fast: data blocks
	 * uncompressed (enroot's -noD) halve a first import's CPU time. */
	{"STORE_SQUASH_OPTIONS", "-comp zstd -noD"},
	/* Where the NVIDIA hook finds the driver (tests: a fake driver tree).
	 * NVIDIA_LDCACHE defaults to <NVIDIA_DRIVER_ROOT>/etc/ld.so.cache. */
	{"NVIDIA_DRIVER_ROOT", "/"},
	{"NVIDIA_PROC_ROOT", "/proc"},
	{"NVIDIA_DEV_ROOT", "/dev"},
	/* An image's newer libcuda (/usr/local/cuda/compat) goes first. */
	{"NVIDIA_CUDA_COMPAT", "y"},
	/* Where the RDMA hook finds HCAs and their nodes (tests: fake trees). */
	{"RDMA_SYS_ROOT", "/sys"},
	{"RDMA_DEV_ROOT", "/dev"},
};

static struct config_entry *find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++) {
		if (!strcmp(cfg->entries[i].name, name))
			return &cfg->entries[i];
	}
	return NULL;
}

static struct config_entry *find_or_add(struct config *cfg, const char *name)
{
	struct config_entry *e = find(cfg, name);

	if (e)
		return e;
	if (cfg->n == cfg->cap) {
		cfg->cap = cfg->cap ? cfg->cap * 2 : 64;
		cfg->entries = xrealloc(cfg->entries, cfg->cap * sizeof(*cfg->entries));
	}
	e = &cfg->entries[cfg->n++];
	*e = (struct config_entry){xstrdup(name), NULL, SRC_DEFAULT, 0};
	e->source = SRC_DEFAULT;
	e->dropin_rank = -1; /* not yet set at all */
	return e;
}

const char *config_get(const struct config *cfg, const char *name)
{
	struct config_entry *e = find(cfg, name);

	return e ? e->value : NULL;
}

/* The value of NAME in a KEY=VALUE list, or NULL. */
static const char *kv_lookup(const struct strv *sv, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sv->n; i++) {
		if (!strncmp(sv->v[i], name, n) && sv->v[i][n] == '=')
			return sv->v[i] + n + 1;
	}
	return NULL;
}

const char *config_getenv(const struct config *cfg, const char *name)
{
	if (cfg == NULL || cfg->mode == CONFIG_USER)
		return getenv(name);
	return kv_lookup(&cfg->root_env, name);
}

bool config_bool(const struct config *cfg, const char *name)
{
	const char *v = config_get(cfg, name);

	return v != NULL;
}

long config_long(const struct config *cfg, const char *name, long fallback)
{
	const char *v = config_get(cfg, name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return fallback;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end != '\0' || n < 0)
		return fallback;
	return n;
}

bool config_is_falsy(const char *v)
{
	static const char *const falsy[] = {"n", "no", "N", "No", "NO", "f", "F", "false", "False", "FALSE"};

	for (size_t i = 0; i < ARRAY_SIZE(falsy); i++) {
		if (!strcmp(v, falsy[i]))
			return true;
	}
	return false;
}

static void entry_store(struct config_entry *e, const char *value, enum config_source src, int rank)
{
	free(e->value);
	e->value = value ? xstrdup(value) : NULL;
	e->source = src;
	e->dropin_rank = rank;
}

void config_set(struct config *cfg, const char *name, const char *value)
{
	entry_store(find_or_add(cfg, name), value, SRC_DIRECTIVE, 0);
}

/* Is this the key of a setting (CAPSA_X / ENROOT_X), and which X? */
static const char *setting_name(const char *key)
{
	const char *p;

	if (!strncmp(key, "CAPSA_", STRLEN("CAPSA_")))
		p = key + STRLEN("CAPSA_");
	else if (!strncmp(key, "ENROOT_", STRLEN("ENROOT_")))
		p = key + STRLEN("ENROOT_");
	else
		return NULL;
	if (*p == '\0' || p[strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_")] != '\0')
		return NULL;
	return p;
}

static bool key_accepted(const char *key)
{
	static const char *const exact[] = {"SSL_CERT_DIR", "SSL_CERT_FILE", "all_proxy", "no_proxy",
					    "http_proxy", "https_proxy"};

	if (setting_name(key))
		return true;
	if (!strncmp(key, "NVIDIA_", 7) || !strncmp(key, "MELLANOX_", 9))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		if (!strcmp(key, exact[i]))
			return true;
	}
	return false;
}

bool config_parse_line(const char *line, char **ret_key, char **ret_value)
{
	const char *p = line + strspn(line, " \t");
	size_t klen = strcspn(p, " \t=\n");
	_cleanup_free_ char *key = NULL;
	const char *v;
	size_t vlen;

	if (klen == 0 || *p == '#')
		return false;
	key = xstrndup(p, klen);
	if (!key_accepted(key))
		return false;
	/* IFS=' \t=' read key value: one run of separators (at most one '='). */
	v = p + klen;
	v += strspn(v, " \t");
	if (*v == '=')
		v++;
	v += strspn(v, " \t");
	vlen = strcspn(v, "\n");
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	*ret_value = xstrndup(v, vlen);
	*ret_key = TAKE_PTR(key);
	return true;
}

/* NVIDIA_*, MELLANOX_*, SSL_CERT_*, *_proxy: enroot exports them, and a
 * value already set wins. A root context neither reads nor changes the
 * process environment (slurmstepd's), so only extra_env counts there. */
static int store_extra_env(struct config *cfg, const char *key, const char *raw, struct error *err)
{
	const char *cur = cfg->mode == CONFIG_USER ? getenv(key) : kv_lookup(&cfg->extra_env, key);
	_cleanup_free_ char *val = NULL;

	if (cur && *cur)
		return 0;
	if (config_expand(cfg, raw, &val, err) < 0)
		return -1;
	if (cfg->mode == CONFIG_USER)
		setenv(key, val, 1);
	strv_pushf(&cfg->extra_env, "%s=%s", key, val);
	return 0;
}

/* Store a value read from a file with "first non-empty wins" semantics. */
static int store_file_value(struct config *cfg, const char *key, const char *raw, enum config_source src,
			    int rank, struct error *err)
{
	const char *name = setting_name(key);
	_cleanup_free_ char *val = NULL;
	struct config_entry *e;

	if (name == NULL)
		return store_extra_env(cfg, key, raw, err);
	e = find_or_add(cfg, name);
	if (e->value && *e->value)
		return 0;
	if (config_expand(cfg, raw, &val, err) < 0)
		return -1;
	entry_store(e, val, src, rank);
	return 0;
}

static int load_file(struct config *cfg, const char *path, enum config_source src, int rank,
		     struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	char *save = NULL;

	if (read_file_at(AT_FDCWD, path, MAX_CONFIG_FILE, &buf, NULL, err) < 0)
		return errno == ENOENT ? 0 : -1;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *key = NULL, *raw = NULL;

		if (!config_parse_line(line, &key, &raw))
			continue;
		if (store_file_value(cfg, key, raw, src, rank, err) < 0)
			return error_prefix(err, "invalid configuration file '%s'", path);
	}
	return 0;
}

static void load_env(struct config *cfg)
{
	extern char **environ;

	/* CAPSA_X first so it wins over ENROOT_X when both are set. */
	for (int pass = 0; pass < 2; pass++) {
		const char *prefix = pass == 0 ? "CAPSA_" : "ENROOT_";

		for (char **e = environ; *e; e++) {
			const char *eq = strchr(*e, '=');
			_cleanup_free_ char *key = NULL;
			const char *name;
			struct config_entry *ent;

			if (eq == NULL || eq[1] == '\0' || strncmp(*e, prefix, strlen(prefix)))
				continue;
			key = xstrndup(*e, (size_t)(eq - *e));
			name = setting_name(key);
			if (name == NULL)
				continue;
			ent = find_or_add(cfg, name);
			if (ent->value == NULL)
				entry_store(ent, eq + 1, SRC_ENV, 0);
		}
	}
}

static const struct {
	const char *var, *sub;
} xdg_homes[] = {{"XDG_DATA_HOME", ".local/share"}, {"XDG_CONFIG_HOME", ".config"}, {"XDG_CACHE_HOME", ".cache"}};

static void set_xdg_defaults(void)
{
	const char *home = getenv("HOME");

	for (size_t i = 0; i < ARRAY_SIZE(xdg_homes); i++) {
		const char *v = getenv(xdg_homes[i].var);
		_cleanup_free_ char *val = NULL;

		if (v && *v)
			continue;
		val = xasprintf("%s/%s", home ? home : "", xdg_homes[i].sub);
		setenv(xdg_homes[i].var, val, 1);
	}
}

/* A root context takes HOME from the passwd entry of the euid, never from
 * the environment, and XDG_RUNTIME_DIR=/run as enroot defaults it. */
static void set_root_env(struct config *cfg)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[4096];
	const char *home = "/";

	if (getpwuid_r(geteuid(), &pwbuf, buf, sizeof(buf), &pw) == 0 && pw && pw->pw_dir && pw->pw_dir[0] == '/')
		home = pw->pw_dir;
	strv_pushf(&cfg->root_env, "HOME=%s", home);
	if (!strcmp(home, "/"))
		home = "";
	for (size_t i = 0; i < ARRAY_SIZE(xdg_homes); i++)
		strv_pushf(&cfg->root_env, "%s=%s/%s", xdg_homes[i].var, home, xdg_homes[i].sub);
	strv_push(&cfg->root_env, "XDG_RUNTIME_DIR=/run");
}

/* $BASE/capsa, unless only an enroot installation exists: then reuse it, so
 * a site or user switching from enroot keeps containers, caches and hooks. */
static char *default_path(const char *base, const char *suffix)
{
	_cleanup_free_ char *ours = xasprintf("%s/capsa%s", base, suffix);
	_cleanup_free_ char *theirs = xasprintf("%s/enroot%s", base, suffix);

	if (!path_is_dir(ours) && path_is_dir(theirs))
		return TAKE_PTR(theirs);
	return TAKE_PTR(ours);
}

static char *default_runtime_path(const struct config *cfg)
{
	const char *xdg = config_getenv(cfg, "XDG_RUNTIME_DIR");
	const char *tmpdir = config_getenv(cfg, "TMPDIR");
	_cleanup_free_ char *user_run = xasprintf("/run/user/%u", (unsigned)geteuid());
	struct stat st;

	if (xdg && *xdg)
		return xasprintf("%s/capsa", xdg);
	/* enroot defaults to /run/enroot, which users cannot create (enroot#23). */
	if (stat(user_run, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
		return xasprintf("%s/capsa", user_run);
	if (geteuid() == 0)
		return xstrdup("/run/capsa");
	return xasprintf("%s/capsa-runtime-%u", tmpdir ? tmpdir : "/tmp", (unsigned)geteuid());
}

static void set_if_unset(struct config *cfg, const char *name, char *value)
{
	struct config_entry *e = find_or_add(cfg, name);

	if (e->value == NULL || *e->value == '\0')
		entry_store(e, value, SRC_DEFAULT, 0);
	free(value);
}

static void apply_path_defaults(struct config *cfg)
{
	set_if_unset(cfg, "CONFIG_PATH", default_path(config_getenv(cfg, "XDG_CONFIG_HOME"), ""));
	set_if_unset(cfg, "CACHE_PATH", default_path(config_getenv(cfg, "XDG_CACHE_HOME"), ""));
	set_if_unset(cfg, "DATA_PATH", default_path(config_getenv(cfg, "XDG_DATA_HOME"), ""));
	set_if_unset(cfg, "RUNTIME_PATH", default_runtime_path(cfg));
}

static char *sysconf_dir_default(struct config *cfg)
{
	const char *v = config_get(cfg, "SYSCONF_PATH");

	if (v && *v)
		return xstrdup(v);
	if (!path_is_dir(CAPSA_SYSCONFDIR) && path_is_dir("/etc/enroot"))
		return xstrdup("/etc/enroot");
	return xstrdup(CAPSA_SYSCONFDIR);
}

/* capsa.conf, or enroot.conf in an enroot sysconf directory. */
static char *sysconf_name(const char *dir, const char *capsa, const char *enroot)
{
	_cleanup_free_ char *ours = xasprintf("%s/%s", dir, capsa);
	_cleanup_free_ char *theirs = xasprintf("%s/%s", dir, enroot);

	if (access(ours, F_OK) < 0 && access(theirs, F_OK) == 0)
		return TAKE_PTR(theirs);
	return TAKE_PTR(ours);
}

static int load_sysconf(struct config *cfg, const char *dir, struct error *err)
{
	_cleanup_free_ char *dropins = sysconf_name(dir, "capsa.conf.d", "enroot.conf.d");
	struct strv files = STRV_INIT;
	int r;

	cfg->sysconf_file = sysconf_name(dir, "capsa.conf", "enroot.conf");
	r = load_file(cfg, cfg->sysconf_file, SRC_SYSCONF, 0, err);
	if (r == 0)
		r = list_dir_sorted(dropins, ".conf", &files, err);
	for (size_t i = 0; r == 0 && i < files.n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dropins, files.v[i]);

		r = load_file(cfg, path, SRC_DROPIN, (int)i, err);
	}
	strv_free(&files);
	return r;
}

static int apply_defaults(struct config *cfg, struct error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
		struct config_entry *e = find_or_add(cfg, defaults[i].name);
		_cleanup_free_ char *val = NULL;

		if (e->value && *e->value)
			continue;
		if (config_expand(cfg, defaults[i].value, &val, err) < 0)
			return -1;
		entry_store(e, val, SRC_DEFAULT, 0);
	}
	return 0;
}

static void apply_falsy(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n; i++) {
		struct config_entry *e = &cfg->entries[i];

		if (e->value && config_is_falsy(e->value)) {
			free(e->value);
			e->value = NULL;
		}
	}
}

/* Per-user directories must be ours and private: another user could
 * pre-create a predictable path (/tmp/capsa-runtime-UID) as a directory or a
 * symbolic link and plant content (security.md K09). */
static int make_private_dir(const char *name, const char *path, struct error *err)
{
	_cleanup_free_ char *parent = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	int fd;

	if (*parent && mkdir_p(parent, 0700, err) < 0)
		return error_prefix(err, "CAPSA_%s", name);
	fd = open_private_dir(AT_FDCWD, path, PRIVATE_DIR_CREATE, err);
	if (fd < 0)
		return error_prefix(err, "CAPSA_%s", name);
	close(fd);
	return 0;
}

/* TEMP_PATH is usually the shared /tmp (root-owned and sticky), where
 * mkdtemp makes private directories; any other one must be ours. enroot
 * does not create it, and neither does capsa. */
static int check_temp_dir(const char *path, struct error *err)
{
	struct stat st;
	int fd;

	/* lstat: a dangling link planted there is refused, not skipped. */
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	fd = open_private_dir(AT_FDCWD, path, PRIVATE_DIR_SHARED_TMP, err);
	if (fd < 0)
		return error_prefix(err, "CAPSA_TEMP_PATH");
	close(fd);
	return 0;
}

/* CAPSA_CONFIG_PATH/capsa.conf: the user's own file, never read as root. */
static int load_user_conf(struct config *cfg, struct error *err)
{
	_cleanup_free_ char *user_conf = NULL;

	set_if_unset(cfg, "CONFIG_PATH", default_path(config_getenv(cfg, "XDG_CONFIG_HOME"), ""));
	user_conf = xasprintf("%s/capsa.conf", config_get(cfg, "CONFIG_PATH"));
	return load_file(cfg, user_conf, SRC_USER, 0, err);
}

/* The data-like directories must be absolute; the CLI creates them. A root
 * context creates nothing: they are the user's, made by the user. */
static int check_dirs(struct config *cfg, struct error *err)
{
	static const char *const dirs[] = {"CACHE_PATH", "DATA_PATH", "RUNTIME_PATH"};

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		const char *d = config_get(cfg, dirs[i]);

		if (d == NULL || *d != '/')
			return error_set(err, 0, "CAPSA_%s must be an absolute path", dirs[i]);
		if (cfg->mode == CONFIG_USER && make_private_dir(dirs[i], d, err) < 0)
			return -1;
	}
	if (cfg->mode == CONFIG_USER && config_get(cfg, "TEMP_PATH") != NULL)
		return check_temp_dir(config_get(cfg, "TEMP_PATH"), err);
	return 0;
}

static int load_all(struct config *cfg, const char *sysconf_dir, struct error *err)
{
	_cleanup_free_ char *sysdir = NULL;

	if (cfg->mode == CONFIG_USER) {
		set_xdg_defaults();
		load_env(cfg);
	} else {
		set_root_env(cfg);
	}
	sysdir = sysconf_dir ? xstrdup(sysconf_dir) : sysconf_dir_default(cfg);
	if (cfg->mode == CONFIG_USER && load_user_conf(cfg, err) < 0)
		return -1;
	if (load_sysconf(cfg, sysdir, err) < 0)
		return -1;
	if (sysconf_dir)
		entry_store(find_or_add(cfg, "SYSCONF_PATH"), sysdir, SRC_DIRECTIVE, 0);
	set_if_unset(cfg, "SYSCONF_PATH", xstrdup(sysdir));
	apply_path_defaults(cfg);
	if (apply_defaults(cfg, err) < 0)
		return -1;
	apply_falsy(cfg);
	return check_dirs(cfg, err);
}

int config_load_sysconf(struct config *cfg, enum config_mode mode, const char *sysconf_dir, struct error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	if (load_all(cfg, sysconf_dir, err) < 0) {
		/* A long-lived caller (slurmstepd) must not leak a failed load. */
		config_free(cfg);
		return -1;
	}
	return 0;
}

int config_load_mode(struct config *cfg, enum config_mode mode, struct error *err)
{
	return config_load_sysconf(cfg, mode, NULL, err);
}

int config_load(struct config *cfg, struct error *err)
{
	return config_load_mode(cfg, CONFIG_USER, err);
}

int config_apply_directives(struct config *cfg, const char *path, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	char *save = NULL;

	if (read_file_at(AT_FDCWD, path, MAX_CONFIG_FILE, &buf, NULL, err) < 0)
		return -1;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *key = NULL, *raw = NULL, *val = NULL;
		const char *p = line;

		if (*p != '#')
			continue;
		p += 1 + strspn(p + 1, " \t");
		if (!config_parse_line(p, &key, &raw) || setting_name(key) == NULL)
			continue;
		if (config_expand(cfg, raw, &val, err) < 0)
			return error_prefix(err, "invalid directive in '%s'", path);
		config_set(cfg, setting_name(key), config_is_falsy(val) ? NULL : val);
	}
	return 0;
}

void config_export(const struct config *cfg, struct strv *env)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const struct config_entry *e = &cfg->entries[i];

		if (e->value == NULL)
			continue;
		strv_pushf(env, "ENROOT_%s=%s", e->name, e->value);
		strv_pushf(env, "CAPSA_%s=%s", e->name, e->value);
	}
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->entries[i].name);
		free(cfg->entries[i].value);
	}
	free(cfg->entries);
	free(cfg->sysconf_file);
	strv_free(&cfg->extra_env);
	strv_free(&cfg->root_env);
	memset(cfg, 0, sizeof(*cfg));
}
