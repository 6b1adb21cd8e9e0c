/* SPDX-License-Identifier: Apache-2.0 */
/* The OCI/Docker image config turned into enroot's image format: /etc/rc,
 * /etc/rc.local, /etc/environment and /etc/fstab (enroot.md §4.6), so that
 * images made by enroot and by capsa start the same way in both. */
#ifndef CAPSA_IMAGE_IMGCONFIG_H
#define CAPSA_IMAGE_IMGCONFIG_H

#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"
#include "util/strv.h"

#define IMGCONFIG_MAX_SIZE (8 * 1024 * 1024)

struct image_config {
	char *architecture; /* may be NULL */
	char *os;
	char *workdir;		 /* "/" when unset */
	struct strv env;	 /* Env, verbatim */
	struct strv entrypoint;
	struct strv cmd;
	struct strv labels;	 /* key, value, key, value... in file order */
	struct strv volumes;	 /* sorted */
	struct strv diff_ids;	 /* rootfs.diff_ids: sha256 of each uncompressed layer */
};

/* Parse the config JSON (the bounded, untrusted blob). */
int image_config_parse(const char *json, size_t len, struct image_config *ret, struct error *err);
void image_config_done(struct image_config *c);

/* The four files, NUL-terminated, caller frees. provenance is the canonical
 * URI written on the first line of /etc/rc. */
char *image_config_rc(const struct image_config *c, const char *provenance);
char *image_config_rc_local(void);
char *image_config_environment(const struct image_config *c);
char *image_config_fstab(const struct image_config *c);

/* bash's ${x@Q}: single quotes, or $'...' for non-printable bytes. */
void shell_quote(const char *s, struct strbuf *out);

#endif
