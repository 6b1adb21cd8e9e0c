/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of running a step in a container (pyxis.md §6-§8): names,
 * `capsa list -f` parsing, the -c configuration script, the environment of
 * the capsa children.  No Slurm headers, no I/O: unit-tested. */
#ifndef CAPSA_SLURM_CONTAINER_H
#define CAPSA_SLURM_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slurm/config.h"
#include "slurm/options.h"

/* Slurm's step id of the batch script step (SLURM_BATCH_SCRIPT). */
#define SPANK_BATCH_STEP 0xfffffffbu

/* pyxis_<name> or pyxis_<jobid>_<name> (named), pyxis_<jobid>.<stepid> or
 * pyxis_<jobid>_<jobid>.<stepid> (unnamed).  -1 if it does not fit. */
int container_name(char *buf, size_t size, enum spank_scope scope, uint32_t jobid, uint32_t stepid,
		   const char *name);

/* In `capsa list -f` output (a header line, then "NAME PID ..." rows):
 * -1 if NAME is not listed, 0 if it exists but does not run, else the pid
 * of the first row. */
long container_lookup(const char *list_output, const char *name);

/* The image is a squashfs file on the node (a path), not a URI. */
bool image_is_path(const char *image);

/* The URI to import: IMAGE itself when it has a scheme, else docker://IMAGE.
 * malloc'ed, NULL on ENOMEM. */
char *image_uri(const char *image);

/* The -c configuration script: mounts(), environ() for --container-env
 * names, rc() bypassing the entrypoint unless entrypoint.  malloc'ed, NULL
 * on ENOMEM. */
char *container_conf(const struct spank_mount *mounts, size_t mounts_len, char *const *env, size_t env_len,
		     bool entrypoint);

/* A job environment entry ("NAME=value") that must not reach capsa: the
 * admin's configuration wins over the user's (pyxis.md §6.5). */
bool env_denied(const char *entry);

/* "NAME=value" entries of a /proc/PID/environ buffer (NUL-separated). */
typedef int (*env_entry_fn)(const char *name, const char *value, void *data);
int environ_foreach(char *buf, size_t len, env_entry_fn fn, void *data);

#endif
