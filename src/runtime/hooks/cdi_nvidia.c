/* SPDX-License-Identifier: Apache-2.0 */
/* The hooks nvidia-ctk writes into its CDI specs, recognised by the hook
 * binary's name (nvidia-ctk hook NAME, nvidia-cdi-hook NAME) and done in C:
 * create-symlinks makes the links inside the rootfs, update-ldcache runs the
 * container's own ldconfig chrooted in the rootfs with an empty
 * environment, enable-cuda-compat points the ld cache at the image's CUDA
 * forward-compat libraries when they are newer than the host driver.
 * Nothing from the spec is ever executed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/cdi_hooks.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* --name VALUE or --name=VALUE at args[*i]; advances *i past it. */
static const char *flag_value(const struct strv *args, size_t *i, const char *name)
{
	const char *a = args->v[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < args->n)
		return args->v[++*i];
	return NULL;
}

/* LINK is replaced when it is a symlink already (a re-run, or the image's
 * own dangling link); anything else there is left alone, as nvidia-ctk does. */
static int make_link(struct start_ctx *ctx, const char *target, const char *link, struct error *err)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *name = NULL;
	struct stat st;

	if (*target == '\0' || *link != '/')
		return error_set(err, 0, "create-symlinks: bad link '%s::%s'", target, link);
	if (rootfs_resolve_parent(ctx->rootfd, link, true, &dfd, &name, err) < 0)
		return error_prefix(err, "create-symlinks '%s'", link);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISLNK(st.st_mode))
			return 0;
		unlinkat(dfd, name, 0);
	}
	if (symlinkat(target, dfd, name) < 0)
		return error_set(err, errno, "create-symlinks: symlink '%s' -> '%s'", link, target);
	return 0;
}

static int create_symlinks(struct start_ctx *ctx, const struct strv *args, size_t i, struct error *err)
{
	for (; i < args->n; i++) {
		const char *v = flag_value(args, &i, "--link");
		const char *sep = v ? strstr(v, "::") : NULL;
		_cleanup_free_ char *target = NULL;

		if (v == NULL)
			continue; /* --container-spec, --host-root: not needed here */
		if (sep == NULL)
			return error_set(err, 0, "create-symlinks: bad --link '%s' (expected TARGET::LINK)", v);
		target = xstrndup(v, (size_t)(sep - v));
		if (make_link(ctx, target, sep + 2, err) < 0)
			return -1;
	}
	return 0;
}

static void chroot_rootfs(void *arg)
{
	if (chroot(arg) < 0 || chdir("/") < 0)
		_exit(127);
}

/* The container's ldconfig (glibc's is static), as the GPU spec §2.10 has
 * it; an image without one (musl, busybox) has no ld.so.cache to update. */
static const char *find_ldconfig(struct start_ctx *ctx)
{
	static const char *const paths[] = {"/sbin/ldconfig", "/usr/sbin/ldconfig"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		_cleanup_close_ int fd = -1;
		struct error ignored = ERROR_INIT;

		if (rootfs_resolve(ctx->rootfd, paths[i], RESOLVE_NOCREATE, &fd, &ignored) == 0)
			return paths[i];
	}
	return NULL;
}

static int update_ldcache(struct start_ctx *ctx, const struct strv *args, size_t i, struct error *err)
{
	const char *ldconfig = find_ldconfig(ctx);
	struct strv argv = STRV_INIT;
	struct proc_opts o = PROC_OPTS_INIT;
	char *envp[] = {NULL};
	char buf[64];
	int status = 0, r;
	pid_t pid;

	if (ldconfig == NULL)
		return 0;
	strv_push(&argv, ldconfig);
	for (; i < args->n; i++) {
		const char *v = flag_value(args, &i, "--folder");

		if (v && *v == '/')
			strv_push(&argv, v);
	}
	o.child_setup = chroot_rootfs;
	o.child_arg = ctx->rootfs;
	r = proc_spawn(argv.v, envp, &o, &pid, err);
	strv_free(&argv);
	if (r < 0 || proc_wait(pid, &status, err) < 0)
		return error_prefix(err, "update-ldcache");
	if (status != 0)
		return error_set(err, 0, "update-ldcache: the container's %s %s", ldconfig,
				 proc_status_str(status, buf, sizeof(buf)));
	return 0;
}

#define COMPAT_DIR "/usr/local/cuda/compat"

/* The driver major of a libcuda.so.MAJOR.MINOR[.PATCH] name, 0 otherwise. */
static unsigned long compat_major(const char *name)
{
	const char *v = name + STRLEN("libcuda.so.");
	char *end;
	unsigned long m;

	if (strncmp(name, "libcuda.so.", STRLEN("libcuda.so.")))
		return 0;
	m = strtoul(v, &end, 10);
	return end != v && *end == '.' ? m : 0;
}

static int newest_compat_major(struct start_ctx *ctx, unsigned long *ret, struct error *err)
{
	_cleanup_close_ int path = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct error ignored = ERROR_INIT;
	struct dirent *de;
	int dfd;

	*ret = 0;
	if (rootfs_resolve(ctx->rootfd, COMPAT_DIR, RESOLVE_NOCREATE, &path, &ignored) < 0)
		return 0; /* an image without CUDA compat libraries */
	dfd = openat(path, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return error_set(err, errno, "enable-cuda-compat: cannot open '%s'", COMPAT_DIR);
	d = fdopendir(dfd); /* d owns dfd */
	if (d == NULL) {
		close(dfd);
		return error_set(err, errno, "enable-cuda-compat: cannot read '%s'", COMPAT_DIR);
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long m = compat_major(de->d_name);

		*ret = m > *ret ? m : *ret;
	}
	return 0;
}

/* The compat libraries only help when newer than the host driver; a
 * 00- file puts them first in the cache update-ldcache then builds. */
static int enable_cuda_compat(struct start_ctx *ctx, const struct strv *args, size_t i, struct error *err)
{
	static const char conf[] = COMPAT_DIR "\n";
	const char *host = NULL;
	_cleanup_close_ int etc = -1;
	unsigned long host_major, compat;
	char *end;

	for (; i < args->n; i++) {
		const char *v = flag_value(args, &i, "--host-driver-version");

		host = v ? v : host;
	}
	if (host == NULL || *host == '\0')
		return 0;
	host_major = strtoul(host, &end, 10);
	if (end == host || (*end != '.' && *end != '\0'))
		return error_set(err, 0, "enable-cuda-compat: bad --host-driver-version '%s'", host);
	if (newest_compat_major(ctx, &compat, err) < 0)
		return -1;
	if (compat <= host_major)
		return 0;
	if (rootfs_resolve(ctx->rootfd, "/etc/ld.so.conf.d", RESOLVE_MKDIR_P, &etc, err) < 0)
		return error_prefix(err, "enable-cuda-compat");
	return write_file_atomic_at(etc, "00-cuda-compat.conf", conf, STRLEN(conf), 0644, err);
}

/* args[0] is the program name; the subcommand follows "hook" for
 * nvidia-ctk, directly for nvidia-cdi-hook. */
static const char *subcommand(const struct cdi_hook *h, size_t *ret_next)
{
	const char *base = strrchr(h->path, '/') + 1;
	size_t i = 1;

	if (!strcmp(base, "nvidia-ctk")) {
		if (h->args.n < 2 || strcmp(h->args.v[1], "hook"))
			return NULL;
		i = 2;
	} else if (strcmp(base, "nvidia-cdi-hook")) {
		return NULL;
	}
	if (h->args.n <= i)
		return NULL;
	*ret_next = i + 1;
	return h->args.v[i];
}

int cdi_hook_native(struct start_ctx *ctx, const struct cdi_hook *h, struct error *err)
{
	size_t next = 0;
	const char *sub = subcommand(h, &next);

	if (sub && !strcmp(sub, "create-symlinks"))
		return create_symlinks(ctx, &h->args, next, err);
	if (sub && !strcmp(sub, "update-ldcache"))
		return update_ldcache(ctx, &h->args, next, err);
	/* The driver in a user namespace cannot mknod anyway: its attempt
	 * fails harmlessly, which is what this hook arranges. */
	if (sub && !strcmp(sub, "disable-device-node-modification"))
		return 0;
	if (sub && !strcmp(sub, "enable-cuda-compat"))
		return enable_cuda_compat(ctx, &h->args, next, err);
	return error_set(err, 0, "CDI %s hook '%s%s%s' refused: capsa runs no program named by a CDI spec",
			 h->hook_name, h->path, sub ? " " : "", sub ? sub : "");
}
