/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "config/envfile.h"
#include "runtime/image_policy.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_WARN_NAMES 5

/* Filesystems whose source is only a label and whose options name no
 * path: mounting one cannot reach a host file. overlay (lowerdir=), bind
 * and the like can, so they are not here. */
static const char *const pseudo_types[] = {"tmpfs", "ramfs", "devpts", "mqueue", "proc", "sysfs", "cgroup2"};

/* Options that act on a mount that is already there (or take the source as
 * one), whatever the source field says. */
static const char *const existing_mount_options[] = {"remount", "x-move", "x-detach"};

static const char *const allowed_vars[] = {
	"ENROOT_ROOTFS", "CAPSA_ROOTFS", "ENROOT_PID", "CAPSA_PID", "HOME", "USER", "LOGNAME",
	"TERM",		 "LANG",	 "TZ",	       "PATH",
};

int image_policy_get(const struct config *cfg, const char *setting, enum image_policy *ret, struct error *err)
{
	const char *v = config_get(cfg, setting);

	if (v == NULL || !strcmp(v, "restricted")) {
		*ret = IMAGE_POLICY_RESTRICTED;
		return 0;
	}
	if (!strcmp(v, "enroot")) {
		*ret = IMAGE_POLICY_ENROOT;
		return 0;
	}
	return error_set(err, 0, "invalid value '%s' for CAPSA_%s (expected restricted or enroot)", v, setting);
}

bool image_policy_var_allowed(const char *name)
{
	if (!strncmp(name, "LC_", STRLEN("LC_")))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(allowed_vars); i++) {
		if (!strcmp(name, allowed_vars[i]))
			return true;
	}
	return false;
}

static char *denied_warning(const struct strv *denied, const char *file, const char *setting)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "%s: ", file);
	for (size_t i = 0; i < denied->n && i < MAX_WARN_NAMES; i++)
		strbuf_addf(&sb, "%s${%s}", i ? ", " : "", denied->v[i]);
	if (denied->n > MAX_WARN_NAMES)
		strbuf_addf(&sb, " and %zu more", denied->n - MAX_WARN_NAMES);
	strbuf_addf(&sb, " left empty: host variables are not substituted in image files (CAPSA_%s=enroot does)",
		    setting);
	return strbuf_detach(&sb);
}

char *image_policy_subst(enum image_policy policy, const char *text, char *const env[], const char *file,
			 const char *setting, char **ret_warning)
{
	struct strv denied = STRV_INIT;
	char *out;

	*ret_warning = NULL;
	if (policy == IMAGE_POLICY_ENROOT)
		return env_subst(text, env);
	out = env_subst_filtered(text, env, image_policy_var_allowed, &denied);
	if (denied.n > 0)
		*ret_warning = denied_warning(&denied, file, setting);
	strv_free(&denied);
	return out;
}

static bool has_option(const char *opts, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = opts; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, name, len))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static bool is_pseudo_type(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(pseudo_types); i++) {
		if (!strcmp(type, pseudo_types[i]))
			return true;
	}
	return false;
}

static int refuse(const struct mount_entry *e, const char *why, struct error *err)
{
	return error_set(err, 0,
			 "%s: %s; mounts from the image are restricted (set CAPSA_IMAGE_MOUNTS=enroot to allow it)",
			 e->origin ? e->origin : "image /etc/fstab", why);
}

/* The source is a string the kernel would resolve on the host, so only its
 * prefix is compared here; the rest is resolved inside the root later. */
static int confine_source(const char *rootfs, struct mount_entry *e, struct error *err)
{
	size_t len = strlen(rootfs);
	char *inside;

	while (len > 1 && rootfs[len - 1] == '/')
		len--;
	if (strncmp(e->src, rootfs, len) || (e->src[len] != '/' && e->src[len] != '\0')) {
		_cleanup_free_ char *why = xasprintf(
			"bind source '%s' is not inside the container rootfs (${ENROOT_ROOTFS}/...)", e->src);

		return refuse(e, why, err);
	}
	inside = xstrdup(e->src[len] ? e->src + len : "/");
	free(e->src);
	e->src = inside;
	e->src_in_root = true;
	return 0;
}

static int check_pseudo(const struct mount_entry *e, struct error *err)
{
	_cleanup_free_ char *why = NULL;

	if (!is_pseudo_type(e->type))
		why = xasprintf("type '%s' is neither a bind nor a pseudo filesystem (tmpfs, ramfs, devpts, mqueue, "
				"proc, sysfs, cgroup2)",
				e->type);
	else if (strcmp(e->src, "none") && strcmp(e->src, "tmpfs") && strcmp(e->src, e->type))
		why = xasprintf("source '%s' of a %s mount is not none, tmpfs or %s", e->src, e->type, e->type);
	return why ? refuse(e, why, err) : 0;
}

int image_policy_check_mount(const char *rootfs, struct mount_entry *e, struct error *err)
{
	_cleanup_free_ char *why = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(existing_mount_options); i++) {
		if (has_option(e->opts, existing_mount_options[i])) {
			why = xasprintf("option '%s' acts on an existing mount", existing_mount_options[i]);
			return refuse(e, why, err);
		}
	}
	/* "none" or "tmpfs" with bind would be taken as a relative host path
	 * (the caller's cwd), so a bind always needs a source in the rootfs. */
	if (has_option(e->opts, "bind") || has_option(e->opts, "rbind"))
		return confine_source(rootfs, e, err);
	return check_pseudo(e, err);
}
