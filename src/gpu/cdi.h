/* SPDX-License-Identifier: Apache-2.0 */
/* Container Device Interface: vendor specs (JSON or YAML) in the CDI spec
 * directories describe the edits a device needs; capsa applies them natively
 * (binds, env, the NVIDIA hooks) and never runs a spec's binaries. */
#ifndef CAPSA_GPU_CDI_H
#define CAPSA_GPU_CDI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strv.h"

#define CDI_MAX_SPEC_SIZE (4 * 1024 * 1024)
#define CDI_MAX_SPEC_FILES 256
#define CDI_MAX_DEVICES 4096 /* per spec */
#define CDI_MAX_ITEMS 4096   /* per list: env, deviceNodes, mounts, hooks, args, options */
#define CDI_MAX_STRING 4096
#define CDI_MAX_REQUESTS 256

struct cdi_node {
	char *path, *host_path, *type, *permissions;
	int64_t major, minor; /* -1 when absent */
};

struct cdi_mount {
	char *host_path, *container_path;
	struct strv options;
};

struct cdi_hook {
	char *hook_name, *path;
	struct strv args;
};

struct cdi_edits {
	struct strv env;
	struct cdi_node *nodes;
	size_t n_nodes;
	struct cdi_mount *mounts;
	size_t n_mounts;
	struct cdi_hook *hooks;
	size_t n_hooks;
};

struct cdi_device {
	char *name;
	struct cdi_edits edits;
};

struct cdi_spec {
	char *file; /* for messages */
	char *version, *kind;
	struct cdi_device *devices;
	size_t n_devices;
	struct cdi_edits edits;
};

/* Is name a fully-qualified CDI device name, VENDOR/CLASS=NAME (for
 * NVIDIA_VISIBLE_DEVICES entries such as nvidia.com/gpu=0)? Pure. */
bool cdi_is_qualified_name(const char *name);

/* Parse one spec (JSON or YAML) of len bytes; file names it in messages.
 * Loads libyaml with dlopen on first use. On error *ret is untouched. */
int cdi_spec_parse(const char *buf, size_t len, const char *file, struct cdi_spec *ret, struct error *err);
void cdi_spec_done(struct cdi_spec *s);
void cdi_edits_done(struct cdi_edits *e);

/* Resolve requests (qualified names, or VENDOR/CLASS=all) against every spec
 * in dirs (blank- or colon-separated; a later directory overrides an earlier one's
 * file of the same name), appending each device's edits and its spec's
 * top-level edits (once per spec) to *ret. A device defined by two specs, a
 * malformed spec or an unknown device is an error naming the file(s). */
int cdi_resolve(const char *dirs, const struct strv *requests, struct cdi_edits *ret, struct error *err);

/* Load every spec in dirs and resolve all their devices, as a start would:
 * the number of spec files and of devices, or the first error (for doctor). */
int cdi_check(const char *dirs, size_t *ret_specs, size_t *ret_devices, struct error *err);

/* Append a copy of src to dst. */
void cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src);

#endif
