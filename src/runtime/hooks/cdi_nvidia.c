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

#include "gpu/compat.h"
#include "gpu/inject.h"
#include "runtime/cdi_hooks.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
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

/* The folders go to the image's ldconfig as the GPU hook runs it. */
static int update_ldcache(struct start_ctx *ctx, const struct strv *args, size_t i, struct error *err)
{
	char *dirs[GPU_LDCONFIG_MAX_DIRS + 1];
	size_t n = 0;

	for (; i < args->n && n < GPU_LDCONFIG_MAX_DIRS; i++) {
		const char *v = flag_value(args, &i, "--folder");

		if (v && *v == '/')
			dirs[n++] = (char *)v;
	}
	dirs[n] = NULL;
	if (gpu_ldconfig(ctx->rootfd, dirs, err) < 0)
		return error_prefix(err, "update-ldcache");
	return 0;
}

/* The compat libraries only help when newer than the host driver; a
 * 00- file puts them first in the cache update-ldcache then builds. */
static int enable_cuda_compat(struct start_ctx *ctx, const struct strv *args, size_t i, struct error *err)
{
	static const char conf[] = GPU_COMPAT_DIR "\n";
	const char *host = NULL;
	_cleanup_close_ int etc = -1;
	char *end;

	for (; i < args->n; i++) {
		const char *v = flag_value(args, &i, "--host-driver-version");

		host = v ? v : host;
	}
	if (host == NULL || *host == '\0')
		return 0;
	(void)strtoul(host, &end, 10);
	if (end == host || (*end != '.' && *end != '\0'))
		return error_set(err, 0, "enable-cuda-compat: bad --host-driver-version '%s'", host);
	if (!gpu_compat_available(ctx->rootfd, host))
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
