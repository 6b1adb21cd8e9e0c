/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/mig.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* Instance ids are small (7 GIs per GPU, 8 CIs per GI). */
#define MAX_INSTANCE_ID 255

static int parse_minor(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v > GPU_MAX_CAP_MINOR || (*end && !isspace((unsigned char)*end)))
		return -1;
	*ret = (unsigned)v;
	return 0;
}

int gpu_parse_cap_access(const char *buf, unsigned *ret_minor)
{
	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "DeviceFileMinor:", STRLEN("DeviceFileMinor:")))
			return parse_minor(l + STRLEN("DeviceFileMinor:") + strspn(l + STRLEN("DeviceFileMinor:"), " \t"),
					   ret_minor);
	}
	return -1;
}

int gpu_parse_mig_minors(const char *buf, const char *key, unsigned *ret_minor)
{
	size_t n = strlen(key);

	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, key, n) && (l[n] == ' ' || l[n] == '\t'))
			return parse_minor(l + n + strspn(l + n, " \t"), ret_minor);
	}
	return -1;
}

int gpu_mig_cap_minor(const char *proc_root, const char *capfile, const char *key, unsigned *ret_minor,
		      struct error *err)
{
	_cleanup_free_ char *access = xasprintf("%s/driver/nvidia/capabilities/%s", proc_root, capfile);
	_cleanup_free_ char *minors = xasprintf("%s/driver/nvidia-caps/mig-minors", proc_root);
	_cleanup_free_ char *buf = NULL, *list = NULL;
	struct error ignore = ERROR_INIT;

	if (read_file_at(AT_FDCWD, access, GPU_PROC_MAX_FILE, &buf, NULL, &ignore) == 0 &&
	    gpu_parse_cap_access(buf, ret_minor) == 0)
		return 0;
	if (read_file_at(AT_FDCWD, minors, GPU_PROC_MAX_FILE, &list, NULL, &ignore) == 0 &&
	    gpu_parse_mig_minors(list, key, ret_minor) == 0)
		return 0;
	return error_set(err, 0, "the minor of the MIG capability %s is neither in %s nor in %s", key, access,
			 minors);
}

/* The ids N of the "<prefix>N" directories of dir, sorted, at most max. */
static unsigned instance_ids(const char *dir, const char *prefix, unsigned *ids, unsigned max)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	size_t plen = strlen(prefix);
	struct dirent *de;
	unsigned n = 0;

	while (d && n < max && (de = readdir(d)) != NULL) {
		unsigned id;
		int end = 0;

		if (!strncmp(de->d_name, prefix, plen) && sscanf(de->d_name + plen, "%u%n", &id, &end) == 1 &&
		    de->d_name[plen + end] == '\0' && isdigit((unsigned char)de->d_name[plen]) && id <= MAX_INSTANCE_ID)
			ids[n++] = id;
	}
	/* Insertion sort: a handful of ids. */
	for (unsigned i = 1; i < n; i++) {
		for (unsigned k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
			unsigned t = ids[k];

			ids[k] = ids[k - 1];
			ids[k - 1] = t;
		}
	}
	return n;
}

unsigned gpu_mig_scan(const char *proc_root, unsigned gpu_minor, struct gpu_mig *ret, unsigned max)
{
	_cleanup_free_ char *dir = xasprintf("%s/driver/nvidia/capabilities/gpu%u/mig", proc_root, gpu_minor);
	unsigned gis[MAX_INSTANCE_ID + 1], n_gi = instance_ids(dir, "gi", gis, MAX_INSTANCE_ID + 1), n = 0;

	for (unsigned g = 0; g < n_gi && n < max; g++) {
		_cleanup_free_ char *gi = xasprintf("%s/gi%u", dir, gis[g]);
		unsigned cis[MAX_INSTANCE_ID + 1], n_ci = instance_ids(gi, "ci", cis, MAX_INSTANCE_ID + 1);

		for (unsigned c = 0; c < n_ci && n < max; c++) {
			memset(&ret[n], 0, sizeof(ret[n]));
			ret[n].index = n;
			ret[n].gi = gis[g];
			ret[n].ci = cis[c];
			n++;
		}
	}
	return n;
}

static bool has_item(const struct gpu_plan *p, const char *dst)
{
	for (size_t i = 0; i < p->n_items; i++) {
		if (!strcmp(p->items[i].dst, dst))
			return true;
	}
	return false;
}

static bool has_bind(const struct gpu_plan *p, const char *rel)
{
	for (size_t i = 0; i < p->proc_binds.n; i++) {
		if (!strcmp(p->proc_binds.v[i], rel))
			return true;
	}
	return false;
}

/* One capability: its caps node, and its access file in /proc when the
 * driver has one (mig-minors alone lists no file to show). */
static int add_cap(struct gpu_plan *p, const struct gpu_inventory *inv, const char *proc_root,
		   const char *dev_root, const char *capfile, const char *key, const char *need, struct error *err)
{
	_cleanup_free_ char *access = xasprintf("%s/driver/nvidia/capabilities/%s", proc_root, capfile);
	_cleanup_free_ char *rel = xasprintf("capabilities/%s", capfile);
	_cleanup_free_ char *src = NULL, *dst = NULL;
	unsigned minor;

	if (gpu_mig_cap_minor(proc_root, capfile, key, &minor, err) < 0)
		return -1;
	src = xasprintf("%s/nvidia-caps/nvidia-cap%u", dev_root, minor);
	dst = xasprintf("/dev/nvidia-caps/nvidia-cap%u", minor);
	if (!has_item(p, dst)) {
		gpu_plan_add(p, GPU_ITEM_CAP, src, dst, false);
		p->items[p->n_items - 1].major = inv->major_caps;
		p->items[p->n_items - 1].need = need;
	}
	if (path_is_reg(access) && !has_bind(p, rel))
		strv_push(&p->proc_binds, rel);
	return 0;
}

void gpu_mig_cap_names(unsigned gpu_minor, const struct gpu_mig *m, bool ci, char capfile[96], char key[96])
{
	if (ci) {
		snprintf(capfile, 96, "gpu%u/mig/gi%u/ci%u/access", gpu_minor, m->gi, m->ci);
		snprintf(key, 96, "gpu%u/gi%u/ci%u/access", gpu_minor, m->gi, m->ci);
	} else {
		snprintf(capfile, 96, "gpu%u/mig/gi%u/access", gpu_minor, m->gi);
		snprintf(key, 96, "gpu%u/gi%u/access", gpu_minor, m->gi);
	}
}

static int add_mig(struct gpu_plan *p, const struct gpu_inventory *inv, const struct gpu_plan_mig *m,
		   const char *proc_root, const char *dev_root, struct error *err)
{
	for (int ci = 0; ci <= 1; ci++) {
		char capfile[96], key[96];

		gpu_mig_cap_names(inv->gpus[m->gpu].minor, &m->mig, ci, capfile, key);
		if (add_cap(p, inv, proc_root, dev_root, capfile, key, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* NVIDIA_MIG_CONFIG/MONITOR_DEVICES=all (gpu.md §1.6): the global cap
 * nodes, the host's /dev/nvidia-caps (instances created in the container
 * get their nodes there) and the whole capabilities directory. */
static int plan_access(struct gpu_plan *p, const struct gpu_request *req, const struct gpu_inventory *inv,
		       const char *proc_root, const char *dev_root, struct error *err)
{
	static const char *const names[] = {"NVIDIA_MIG_CONFIG_DEVICES", "NVIDIA_MIG_MONITOR_DEVICES"};
	static const char *const keys[] = {"config", "monitor"};
	bool want[] = {req->mig_config, req->mig_monitor};
	_cleanup_free_ char *dir = xasprintf("%s/nvidia-caps", dev_root);

	gpu_plan_add(p, GPU_ITEM_DEVDIR, dir, "/dev/nvidia-caps", false);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char capfile[32];

		snprintf(capfile, sizeof(capfile), "mig/%s", keys[i]);
		if (want[i] && add_cap(p, inv, proc_root, dev_root, capfile, keys[i], names[i], err) < 0)
			return error_prefix(err, "%s", names[i]);
	}
	return 0;
}

int gpu_plan_mig(struct gpu_plan *p, const struct gpu_request *req, const struct gpu_inventory *inv,
		 const char *proc_root, const char *dev_root, struct error *err)
{
	bool access = req->mig_config || req->mig_monitor;
	const char *name = req->mig_config ? "NVIDIA_MIG_CONFIG_DEVICES" : "NVIDIA_MIG_MONITOR_DEVICES";

	if (access && !req->all && p->n_migs > 0)
		return error_set(err, 0,
				 "%s=all cannot be combined with MIG devices in NVIDIA_VISIBLE_DEVICES (%zu:%u): select "
				 "whole GPUs",
				 name, p->migs[0].gpu, p->migs[0].mig.index);
	/* Before the instances' nodes: the directory bind would hide them. */
	if (access && plan_access(p, req, inv, proc_root, dev_root, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n_migs; i++) {
		size_t first = p->n_items;

		if (add_mig(p, inv, &p->migs[i], proc_root, dev_root, err) < 0)
			return error_prefix(err, "MIG device %zu:%u", p->migs[i].gpu, p->migs[i].mig.index);
		/* `all` is what this process can open (gpu.md §3.6): a MIG device
		 * whose caps node is denied or missing is left out, with a warning. */
		for (size_t k = first; k < p->n_items; k++)
			p->items[k].optional = req->all;
	}
	if (access) {
		strv_free(&p->proc_binds);
		strv_push(&p->proc_binds, "capabilities");
	}
	return 0;
}
