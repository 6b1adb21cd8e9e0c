/* SPDX-License-Identifier: Apache-2.0 */
/* `capsa start`: the whole pipeline from a name or image to the exec of the
 * container's command, in the calling process (no fork before exec). */
#ifndef CAPSA_RUNTIME_START_H
#define CAPSA_RUNTIME_START_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "config/fstab.h"
#include "util/error.h"
#include "util/strv.h"

struct start_opts {
	const char *rootfs_arg; /* NAME or IMAGE.sqsh */
	uint64_t image_offset;  /* > 0: rootfs_arg is a bundle, its image starts here */
	const char *conf_file;  /* -c, NULL when not given */
	const char *rc_file;    /* --rc */
	struct strv env_args;   /* -e KEY[=VAL] */
	struct strv mount_args; /* -m SRC:DST[:TYPE:OPTS] */
	struct strv devices;    /* --device VENDOR/CLASS=NAME (CDI) */
	char **argv;            /* command and arguments, may be empty */
	int argc;
	void (*warn)(const char *msg); /* one-line warnings; NULL: none shown */
};

/* State shared by the pipeline steps and the native hooks. */
struct start_ctx {
	struct config *cfg;
	const struct start_opts *opts;
	char *rootfs;      /* host path of the container root mount */
	char *image;       /* set when starting a squashfs image directly */
	int rootfd;        /* O_PATH|O_DIRECTORY fd of rootfs */
	char *runtime_dir; /* private tmpfs, per start */
	bool userns;
	bool remap_root;
	uid_t inner_uid;
	gid_t inner_gid;
	struct strv env;           /* normalised KEY=VALUE lines; last one wins */
	struct mount_list mounts;  /* image fstab, mounts.d, pid/net lines */
	struct mount_list late;    /* mounts added by hooks (pass 0 only) */
	struct strv host_env;      /* environment for hooks and config functions */
	char *rc;                  /* replacement for /etc/rc (--rc, rc()) */
	char *conf_environ;        /* output of the config's environ() */
	char *conf_mounts;         /* output of the config's mounts() */
};

/* Returns only on error: on success the process becomes the container. */
int rt_start(struct config *cfg, const struct start_opts *opts, struct error *err);

void start_opts_free(struct start_opts *o);

#endif
