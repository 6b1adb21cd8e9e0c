/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/namespaces.h"
#include "runtime/privileges.h"
#include "runtime/resolve.h"
#include "runtime/sqfuse.h"
#include "runtime/switchroot.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define PATH_DEF "/usr/local/bin:/usr/bin:/bin"
#define PATH_STD "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_LOGIN_FILE (16 * 1024 * 1024)

int switchroot_pivot(const char *rootfs, struct error *err)
{
	_cleanup_close_ int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (newroot < 0 || oldroot < 0)
		return error_set(err, errno, "failed to open '%s'", rootfs);
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it
	 * leaves no path back to the host tree. */
	if (fchdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return error_set(err, errno, "failed to switch root to '%s'", rootfs);
	if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    umount2(".", MNT_DETACH) < 0)
		return error_errno(err, "failed to detach the host root");
	if (fchdir(newroot) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return error_errno(err, "failed to change root");
	if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL && errno != EPERM)
		return error_errno(err, "failed to create cgroup namespace");
	return 0;
}

static const char *env_get(const struct strv *env, const char *name)
{
	size_t len = strlen(name);
	const char *v = NULL;

	for (size_t i = 0; i < env->n; i++) {
		if (!strncmp(env->v[i], name, len) && env->v[i][len] == '=')
			v = env->v[i] + len + 1;
	}
	return v;
}

static void env_default(struct strv *env, const char *name, const char *value)
{
	if (value && env_get(env, name) == NULL)
		strv_pushf(env, "%s=%s", name, value);
}

/* login.defs "KEY VALUE" lookups, parsed without NSS or the image's libc. */
static char *login_defs(const char *defs, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = defs; *p;) {
		size_t len = strcspn(p, "\n");
		const char *v = p + strspn(p, " \t");

		p += len + (p[len] == '\n');
		if (strncmp(v, key, klen) || (v[klen] != ' ' && v[klen] != '\t'))
			continue;
		v += klen + strspn(v + klen, " \t");
		return xstrndup(v, strcspn(v, " \t\n"));
	}
	return NULL;
}

static bool lookup_user(const char *passwd, size_t len, uid_t uid, char **name, char **home, char **shell)
{
	_cleanup_fclose_ FILE *f = len > 0 ? fmemopen((void *)passwd, len, "r") : NULL;
	struct passwd *pw;

	while (f && (pw = fgetpwent(f)) != NULL) {
		if (pw->pw_uid != uid)
			continue;
		*name = xstrdup(pw->pw_name);
		*home = xstrdup(pw->pw_dir);
		*shell = xstrdup(pw->pw_shell);
		return true;
	}
	return false;
}

/* After pivot_root "/" is the container's root, but its files still come
 * from the image: read them without blocking on a FIFO, and bounded. */
static int read_login_files(char **ret_defs, char **ret_passwd, size_t *ret_passwd_len, struct error *err)
{
	_cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *defs = NULL;

	if (root < 0)
		return error_errno(err, "failed to open the container root");
	if (rootfs_read_file(root, "/etc/login.defs", MAX_LOGIN_FILE, &defs, NULL, err) < 0 ||
	    rootfs_read_file(root, "/etc/passwd", MAX_LOGIN_FILE, ret_passwd, ret_passwd_len, err) < 0)
		return -1;
	*ret_defs = TAKE_PTR(defs);
	return 0;
}

static int login_emulate(struct start_ctx *ctx, struct error *err)
{
	_cleanup_free_ char *name = NULL, *home = NULL, *shell = NULL;
	_cleanup_free_ char *oname = NULL, *ohome = NULL, *oshell = NULL;
	_cleanup_free_ char *defs = NULL, *passwd = NULL, *path = NULL;
	size_t plen = 0;
	const char *p;

	if (read_login_files(&defs, &passwd, &plen, err) < 0)
		return -1;
	path = login_defs(defs, ctx->inner_uid == 0 ? "ENV_SUPATH" : "ENV_PATH");
	p = path && !strncmp(path, "PATH=", 5) ? path + 5 : path;
	env_default(&ctx->env, "TERM", "dumb");
	if (lookup_user(passwd, plen, ctx->inner_uid, &name, &home, &shell)) {
		env_default(&ctx->env, "HOME", home);
		env_default(&ctx->env, "SHELL", shell);
		env_default(&ctx->env, "USER", name);
	}
	if (lookup_user(passwd, plen, ns_outer_uid(), &oname, &ohome, &oshell))
		env_default(&ctx->env, "LOGNAME", oname);
	env_default(&ctx->env, "PATH", p ? p : ctx->inner_uid == 0 ? PATH_STD : PATH_DEF);
	return 0;
}

static bool is_executable(const char *path)
{
	return path && *path && access(path, X_OK) == 0;
}

static void build_command(struct start_ctx *ctx, const char *shell, const char *rc, struct strv *argv)
{
	bool login = config_bool(ctx->cfg, "LOGIN_SHELL");
	const char *base = strrchr(shell, '/') ? strrchr(shell, '/') + 1 : shell;
	char **cmd = ctx->opts->argv;
	int argc = ctx->opts->argc;
	struct stat st;

	strv_push_take(argv, login ? xasprintf("-%s", base) : xstrdup(shell));
	if (rc) {
		strv_push(argv, rc);
	} else if (argc > 0 && strchr(cmd[0], ' ')) {
		strv_push(argv, "-c");
		strv_push(argv, cmd[0]);
		strv_push(argv, shell);
		cmd++, argc--;
	} else if (argc > 0 && (stat(cmd[0], &st) < 0 || access(cmd[0], X_OK) == 0)) {
		strv_push(argv, "-c");
		strv_push(argv, "exec \"$@\"");
		strv_push(argv, shell);
	}
	for (int i = 0; i < argc; i++)
		strv_push(argv, cmd[i]);
	strv_argv(argv);
}

/* Several sources may set a name; the last one wins, and a program's
 * getenv() would see the first, so keep only the last. */
static void env_dedupe(struct strv *env)
{
	size_t out = 0;

	for (size_t i = 0; i < env->n; i++) {
		size_t len = strcspn(env->v[i], "=");
		bool later = false;

		for (size_t j = i + 1; j < env->n && !later; j++)
			later = !strncmp(env->v[i], env->v[j], len + 1);
		if (later)
			free(env->v[i]);
		else
			env->v[out++] = env->v[i];
	}
	env->n = out;
	if (env->v)
		env->v[out] = NULL;
}

/* The image's /etc/rc, if any. The shell would block on a FIFO there
 * before running anything, so only a regular file is accepted. */
static int image_rc(char **ret, struct error *err)
{
	struct stat st;

	*ret = NULL;
	if (stat("/etc/rc", &st) < 0)
		return 0;
	if (!S_ISREG(st.st_mode))
		return error_set(err, 0, "image file '/etc/rc' is %s, not a regular file", file_kind(st.st_mode));
	*ret = xstrdup("/etc/rc");
	return 0;
}

/* The replacement rc lives in a memfd, so nothing is written to the image. */
static int rc_path(struct start_ctx *ctx, char **ret, struct error *err)
{
	int fd;
	size_t len;

	if (ctx->rc == NULL)
		return image_rc(ret, err);
	fd = memfd_create("rc", 0);
	len = strlen(ctx->rc);
	if (fd < 0 || write(fd, ctx->rc, len) != (ssize_t)len)
		return error_errno(err, "failed to create the rc file");
	*ret = xasprintf("/proc/self/fd/%d", fd);
	return 0;
}

int switchroot_exec(struct start_ctx *ctx, struct error *err)
{
	struct strv argv = STRV_INIT;
	_cleanup_free_ char *rc = NULL;
	const char *shell;

	if (config_bool(ctx->cfg, "LOGIN_SHELL") && login_emulate(ctx, err) < 0)
		return -1;
	shell = env_get(&ctx->env, "SHELL");
	if (!is_executable(shell))
		shell = "/bin/sh";
	if (config_bool(ctx->cfg, "LOGIN_SHELL")) {
		const char *home = env_get(&ctx->env, "HOME");

		if (home && chdir(home) < 0 && chdir("/") < 0)
			return error_errno(err, "failed to change directory");
	}
	/* While capsa may still change its server (the lockdown drops that). */
	sqfuse_setup_done(shell);
	if (container_lockdown(ctx->userns, ctx->inner_uid == 0, err) < 0)
		return -1;
	if (rc_path(ctx, &rc, err) < 0)
		return -1;
	build_command(ctx, shell, rc, &argv);
	env_dedupe(&ctx->env);
	execve(shell, argv.v, strv_argv(&ctx->env));
	error_set(err, errno, "failed to execute '%s'", shell);
	strv_free(&argv);
	return -1;
}
