/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config/fstab.h"
#include "runtime/conffile.h"
#include "runtime/environ.h"
#include "runtime/hooks.h"
#include "runtime/mount.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define MAX_HOOK_MOUNTS (1024 * 1024)

static const struct {
	const char *name; /* the enroot script it replaces */
	int (*fn)(struct start_ctx *ctx, struct error *err);
} builtin_hooks[] = {
	{"10-aptfix.sh", hook_aptfix},     {"10-cgroups.sh", hook_cgroups}, {"10-devices.sh", hook_devices},
	{"10-home.sh", hook_home},         {"10-localtime.sh", hook_localtime}, {"10-shadow.sh", hook_shadow},
	{"cdi (--device)", hook_cdi},
	{"98-nvidia.sh", hook_nvidia},
	{"99-mellanox.sh", hook_mellanox},
};

int hook_mount(struct start_ctx *ctx, const char *line, struct error *err)
{
	struct mount_ctx mc = {ctx->rootfd, ctx->userns};
	struct mount_entry e;
	int r = fstab_parse_line(line, "built-in hook", &e, err);

	if (r <= 0)
		return r;
	r = mount_apply_entry(&mc, &e, err);
	mount_entry_done(&e);
	return r;
}

static bool is_builtin(const char *file)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtin_hooks); i++) {
		if (!strcmp(file, builtin_hooks[i].name))
			return true;
	}
	return false;
}

static int run_script(struct start_ctx *ctx, const char *path, struct error *err)
{
	char *argv[] = {(char *)path, NULL};
	struct proc_opts o = PROC_OPTS_INIT;
	int status, r;
	pid_t pid;
	char buf[64];

	/* Hooks talk on stderr; their stdout is discarded, as in enroot. */
	o.stdout_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	o.child_setup = caps_raise_ambient;
	r = proc_spawn(argv, ctx->host_env.v, &o, &pid, err);
	close(o.stdout_fd);
	if (r < 0 || proc_wait(pid, &status, err) < 0)
		return -1;
	if (status != 0)
		return error_set(err, 0, "%s %s", path, proc_status_str(status, buf, sizeof(buf)));
	return 0;
}

static int collect_scripts(struct start_ctx *ctx, struct strv *paths, struct error *err)
{
	const char *dirs[] = {config_get(ctx->cfg, "SYSCONF_PATH"), config_get(ctx->cfg, "CONFIG_PATH")};

	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		_cleanup_free_ char *dir = xasprintf("%s/hooks.d", dirs[d]);
		struct strv files = STRV_INIT;

		if (list_dir_sorted(dir, ".sh", &files, err) < 0)
			return -1;
		for (size_t i = 0; i < files.n; i++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", dir, files.v[i]);

			/* enroot's own copies of the built-in hooks are skipped when a
			 * site points CAPSA_SYSCONF_PATH at /etc/enroot. */
			if (is_builtin(files.v[i]) || access(p, X_OK) < 0)
				continue;
			strv_push(paths, p);
		}
		strv_free(&files);
	}
	return 0;
}

/* Scripts and hooks() see $ENROOT_ENVIRON and $ENROOT_MOUNTS as files. */
static int run_external(struct start_ctx *ctx, const struct strv *scripts, struct error *err)
{
	_cleanup_free_ char *envf = xasprintf("%s/environment", ctx->runtime_dir);
	_cleanup_free_ char *fstabf = xasprintf("%s/fstab", ctx->runtime_dir);
	_cleanup_free_ char *buf = NULL;

	if (environ_write(ctx, envf, err) < 0 || write_file_atomic_at(AT_FDCWD, fstabf, "", 0, 0600, err) < 0)
		return -1;
	for (size_t i = 0; i < scripts->n; i++) {
		if (run_script(ctx, scripts->v[i], err) < 0)
			return -1;
	}
	if (ctx->opts->conf_file && conffile_run_hooks(ctx, err) < 0)
		return -1;
	if (environ_reload(ctx, envf, err) < 0)
		return -1;
	if (read_file_at(AT_FDCWD, fstabf, MAX_HOOK_MOUNTS, &buf, NULL, err) < 0)
		return -1;
	return fstab_parse(buf, "$ENROOT_MOUNTS", &ctx->late, err);
}

int hooks_run(struct start_ctx *ctx, struct error *err)
{
	struct strv scripts = STRV_INIT;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(builtin_hooks) && r == 0; i++) {
		r = builtin_hooks[i].fn(ctx, err);
		if (r < 0)
			error_prefix(err, "built-in hook %s", builtin_hooks[i].name);
	}
	if (r == 0)
		r = collect_scripts(ctx, &scripts, err);
	if (r == 0 && (scripts.n > 0 || ctx->opts->conf_file))
		r = run_external(ctx, &scripts, err);
	strv_free(&scripts);
	return r;
}
