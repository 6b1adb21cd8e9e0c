/* SPDX-License-Identifier: Apache-2.0 */
/* What an image's own /etc/fstab and /etc/environment may reach on the host
 * (security.md §3 "Image-driven mounts"): CAPSA_IMAGE_MOUNTS and
 * CAPSA_IMAGE_ENVIRON, each `restricted` (the default) or `enroot`. Site
 * and user files (mounts.d, environ.d, -m, -e, -c) are never restricted. */
#ifndef CAPSA_RUNTIME_IMAGE_POLICY_H
#define CAPSA_RUNTIME_IMAGE_POLICY_H

#include <stdbool.h>

#include "config/config.h"
#include "config/fstab.h"
#include "util/error.h"

enum image_policy {
	IMAGE_POLICY_RESTRICTED,
	IMAGE_POLICY_ENROOT, /* enroot's behaviour: host paths and host variables */
};

/* The policy of setting (IMAGE_MOUNTS or IMAGE_ENVIRON). Unset or switched
 * off is restricted; a value other than restricted or enroot is an error. */
int image_policy_get(const struct config *cfg, const char *setting, enum image_policy *ret, struct error *err);

/* May ${name} in an image file be substituted under the restricted policy?
 * Only variables capsa sets for the container, the user identity and the
 * terminal/locale/time zone/PATH: never the rest of the host environment or
 * the settings. */
bool image_policy_var_allowed(const char *name);

/* ${NAME} substitution of text from the image file named file (as
 * "image /etc/fstab"), with env as the values. Under the restricted policy a
 * variable that is not allowed expands to empty; *ret_warning is then a
 * one-line message naming them and setting, else NULL. Returns the text. */
char *image_policy_subst(enum image_policy policy, const char *text, char *const env[], const char *file,
			 const char *setting, char **ret_warning);

/* Restricted policy, one entry of the image's fstab: either a pseudo
 * filesystem (tmpfs, proc, ...) with source none/tmpfs, or a bind whose
 * source is rootfs or below it. Such a source is rewritten to its path
 * inside the root and marked src_in_root, so it is resolved clamped (an
 * image symlink cannot lead it out). Anything else is an error naming the
 * entry's origin and the setting. */
int image_policy_check_mount(const char *rootfs, struct mount_entry *e, struct error *err);

#endif
