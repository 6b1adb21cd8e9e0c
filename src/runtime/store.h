/* SPDX-License-Identifier: Apache-2.0 */
/* Named containers under the data path: create, list, remove, export. */
#ifndef CAPSA_RUNTIME_STORE_H
#define CAPSA_RUNTIME_STORE_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "image/squashfs/sqfs_unpack.h"
#include "util/error.h"

/* A container name: non-empty, no '/', not "." or "..". */
int store_check_name(const char *name, struct error *err);

/* NAME (a directory under the data path) or IMAGE (a squashfs file; with
 * image_offset > 0, a bundle whose image starts there). */
int store_resolve_rootfs(const struct config *cfg, const char *arg, uint64_t image_offset, char **ret_rootfs,
			 char **ret_image, struct error *err);

/* Default container name of an image: basename without ".sqsh". */
char *store_default_name(const char *image);

/* The data path, opened as a directory. */
int store_open_data_dir(const struct config *cfg, struct error *err);

int store_create(const struct config *cfg, const char *image, const char *name, bool force, struct error *err);
int store_remove(const struct config *cfg, const char *name, struct error *err);
int store_export(const struct config *cfg, const char *name, const char *output, bool force, struct error *err);
int store_list(const struct config *cfg, bool fancy, FILE *out, struct error *err);

/* PID of a process running in container name, or 0. */
long store_running_pid(const struct config *cfg, const char *name);

#endif
