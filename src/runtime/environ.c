/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/envfile.h"
#include "runtime/defaults.h"
#include "runtime/environ.h"
#include "runtime/image_policy.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_ENV_FILE (4 * 1024 * 1024)

void environ_build_host(struct start_ctx *ctx)
{
	extern char **environ;
	static const char *const drop[] = {"BASH_ENV", "ENV", "LD_PRELOAD", "LD_LIBRARY_PATH"};

	for (char **e = environ; *e; e++) {
		bool skip = !strncmp(*e, "ENROOT_", 7) || !strncmp(*e, "CAPSA_", 6);

		for (size_t i = 0; i < ARRAY_SIZE(drop) && !skip; i++)
			skip = !strncmp(*e, drop[i], strlen(drop[i])) && (*e)[strlen(drop[i])] == '=';
		if (!skip)
			strv_push(&ctx->host_env, *e);
	}
	config_export(ctx->cfg, &ctx->host_env);
	strv_pushf(&ctx->host_env, "ENROOT_PID=%d", (int)getpid());
	strv_pushf(&ctx->host_env, "CAPSA_PID=%d", (int)getpid());
	strv_pushf(&ctx->host_env, "ENROOT_ROOTFS=%s", ctx->rootfs);
	strv_pushf(&ctx->host_env, "CAPSA_ROOTFS=%s", ctx->rootfs);
	strv_pushf(&ctx->host_env, "ENROOT_ENVIRON=%s/environment", ctx->runtime_dir);
	strv_pushf(&ctx->host_env, "CAPSA_ENVIRON=%s/environment", ctx->runtime_dir);
	strv_pushf(&ctx->host_env, "ENROOT_MOUNTS=%s/fstab", ctx->runtime_dir);
	strv_pushf(&ctx->host_env, "CAPSA_MOUNTS=%s/fstab", ctx->runtime_dir);
	strv_argv(&ctx->host_env);
}

static void add_substituted(struct start_ctx *ctx, const char *text)
{
	_cleanup_free_ char *s = env_subst(text, ctx->host_env.v);

	env_normalize(s, &ctx->env);
}

static int add_env_file(const char *path, const char *text, void *arg, struct error *err)
{
	(void)path, (void)err;
	add_substituted(arg, text);
	return 0;
}

static int add_env_dir(struct start_ctx *ctx, const char *dir, bool builtin, struct error *err)
{
	if (builtin && !path_is_dir(dir)) {
		add_substituted(ctx, rt_builtin_environ);
		return 0;
	}
	return for_each_dir_file(dir, ".env", MAX_ENV_FILE, add_env_file, ctx, err);
}

static void add_cli_env(struct start_ctx *ctx)
{
	for (size_t i = 0; i < ctx->opts->env_args.n; i++) {
		const char *arg = ctx->opts->env_args.v[i];
		const char *v;

		if (strchr(arg, '=')) {
			env_normalize(arg, &ctx->env);
			continue;
		}
		v = getenv(arg);
		strv_pushf(&ctx->env, "%s=%s", arg, v ? v : "");
	}
}

/* Under CAPSA_IMAGE_ENVIRON=restricted, ${NAME} in the image's file sees
 * only an allowlist: K=${AWS_SECRET_ACCESS_KEY} must not copy a host secret
 * into a container the image author may read back. */
static int add_image_env(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *text = NULL, *subst = NULL, *warning = NULL;
	enum image_policy policy;

	if (image_policy_get(ctx->cfg, "IMAGE_ENVIRON", &policy, err) < 0 ||
	    rootfs_read_file(ctx->rootfd, "/etc/environment", MAX_ENV_FILE, &text, NULL, err) < 0)
		return -1;
	subst = image_policy_subst(policy, text, ctx->host_env.v, "image /etc/environment", "IMAGE_ENVIRON",
				   &warning);
	if (warning && ctx->opts->warn)
		ctx->opts->warn(warning);
	env_normalize(subst, &ctx->env);
	return 0;
}

int environ_assemble(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *sys = xasprintf("%s/environ.d", config_get(ctx->cfg, "SYSCONF_PATH"));
	_cleanup_free_ char *user = xasprintf("%s/environ.d", config_get(ctx->cfg, "CONFIG_PATH"));

	if (add_image_env(ctx, err) < 0)
		return -1;
	if (add_env_dir(ctx, sys, true, err) < 0 || add_env_dir(ctx, user, false, err) < 0)
		return -1;
	if (ctx->conf_environ)
		env_normalize(ctx->conf_environ, &ctx->env);
	add_cli_env(ctx);
	return 0;
}

int environ_write(const struct start_ctx *ctx, const char *path, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	int r;

	for (size_t i = 0; i < ctx->env.n; i++) {
		strbuf_addstr(&sb, ctx->env.v[i]);
		strbuf_addch(&sb, '\n');
	}
	r = write_file_atomic_at(AT_FDCWD, path, sb.buf ? sb.buf : "", sb.len, 0600, err);
	strbuf_release(&sb);
	return r;
}

int environ_reload(struct start_ctx *ctx, const char *path, struct error *err)
{
	_cleanup_free_ char *buf = NULL;

	if (read_file_at(AT_FDCWD, path, MAX_ENV_FILE, &buf, NULL, err) < 0)
		return -1;
	strv_free(&ctx->env);
	env_normalize(buf, &ctx->env);
	return 0;
}
