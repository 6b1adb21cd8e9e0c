/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/inventory.h"
#include "gpu/mig.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* The first word of the first line after "Kernel Module" that looks like
 * a version: the open modules say "Open Kernel Module for x86_64  560.35.03". */
int gpu_parse_version(const char *buf, char *rm, size_t len, struct error *err)
{
	const char *p = strstr(buf, "Kernel Module");
	const char *eol = strchr(buf, '\n');

	if (strncmp(buf, "NVRM version:", STRLEN("NVRM version:")) || p == NULL || (eol && p > eol))
		return error_set(err, 0, "cannot read the NVIDIA kernel module version (unexpected format)");
	for (p += STRLEN("Kernel Module"); *p && *p != '\n';) {
		size_t ws = strspn(p, " \t"), word, n;

		p += ws;
		word = strcspn(p, " \t\n");
		n = strspn(p, "0123456789.");
		if (n == word && n > 0 && n < len && isdigit((unsigned char)*p) && memchr(p, '.', n)) {
			memcpy(rm, p, n);
			rm[n] = '\0';
			return 0;
		}
		p += word;
	}
	return error_set(err, 0, "cannot read the NVIDIA kernel module version (unexpected format)");
}

int gpu_normalise_busid(const char *in, char *out, size_t len)
{
	unsigned dom = 0, bus, dev, fn = 0;
	int n = 0;

	if (sscanf(in, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) == 4 && in[n] == '\0')
		;
	else if (dom = 0, n = 0, sscanf(in, "%x:%x.%x%n", &bus, &dev, &fn, &n) == 3 && in[n] == '\0')
		;
	else
		return -1;
	if (bus > 0xff || dev > 0x1f || fn > 7)
		return -1;
	return snprintf(out, len, "%08x:%02x:%02x.%x", dom, bus, dev, fn) < (int)len ? 0 : -1;
}

/* The value of "Key:   value" on its own line, trimmed, into out. */
static bool field(const char *buf, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);

	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n;

		if (strncmp(l, key, klen) || l[klen] != ':')
			continue;
		l += klen + 1;
		l += strspn(l, " \t");
		n = strcspn(l, "\n");
		while (n > 0 && isspace((unsigned char)l[n - 1]))
			n--;
		if (n == 0 || n >= len)
			return false;
		memcpy(out, l, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

int gpu_parse_information(const char *buf, const char *dir, struct gpu_info *ret, struct error *err)
{
	struct gpu_info g;
	char minor[16];
	char *end;

	memset(&g, 0, sizeof(g));
	if (strlen(dir) >= sizeof(g.dir) || gpu_normalise_busid(dir, g.busid, sizeof(g.busid)) < 0)
		return error_set(err, 0, "gpus/%s: not a PCI bus id", dir);
	strcpy(g.dir, dir);
	if (!field(buf, "GPU UUID", g.uuid, sizeof(g.uuid)) || !field(buf, "Device Minor", minor, sizeof(minor)))
		return error_set(err, 0, "gpus/%s/information: no GPU UUID or Device Minor", dir);
	if (!field(buf, "Model", g.model, sizeof(g.model)))
		strcpy(g.model, "Unknown");
	errno = 0;
	g.minor = (unsigned)strtoul(minor, &end, 10);
	/* Minors 254 and 255 are nvidia-modeset and nvidiactl. */
	if (errno || *end || !isdigit((unsigned char)minor[0]) || g.minor > 253)
		return error_set(err, 0, "gpus/%s/information: bad Device Minor '%s'", dir, minor);
	*ret = g;
	return 0;
}

static int by_busid(const void *a, const void *b)
{
	return strcmp(((const struct gpu_info *)a)->busid, ((const struct gpu_info *)b)->busid);
}

static int load_gpu(int gpusfd, const char *name, struct gpu_inventory *inv, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/information", name);
	_cleanup_free_ char *buf = NULL;

	if (inv->n == GPU_MAX_GPUS)
		return error_set(err, 0, "more than %d GPUs", GPU_MAX_GPUS);
	if (read_file_at(gpusfd, path, GPU_PROC_MAX_FILE, &buf, NULL, err) < 0)
		return -1;
	if (gpu_parse_information(buf, name, &inv->gpus[inv->n], err) < 0)
		return -1;
	inv->n++;
	return 0;
}

/* Without NVML, the MIG devices are the instances the driver lists. */
static void load_migs(const char *proc_root, struct gpu_inventory *inv)
{
	for (size_t i = 0; i < inv->n; i++) {
		struct gpu_info *g = &inv->gpus[i];

		g->n_mig = gpu_mig_scan(proc_root, g->minor, g->mig, GPU_MAX_MIG);
		g->mig_enabled = g->n_mig > 0;
	}
}

static int load_gpus(const char *proc_root, struct gpu_inventory *inv, struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/driver/nvidia/gpus", proc_root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return errno == ENOENT ? 0 : error_set(err, errno, "cannot list %s", dir);
	inv->gpus = xcalloc(GPU_MAX_GPUS, sizeof(*inv->gpus));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (load_gpu(dirfd(d), de->d_name, inv, err) < 0)
			return error_prefix(err, "%s", dir);
	}
	qsort(inv->gpus, inv->n, sizeof(*inv->gpus), by_busid);
	return 0;
}

int gpu_parse_device_major(const char *buf, const char *name)
{
	const char *l = strstr(buf, "Character devices:");

	/* Block devices follow a blank line: the character list ends there. */
	for (l = l ? strchr(l, '\n') : NULL; l && l[1] && l[1] != '\n'; l = strchr(l + 1, '\n')) {
		char have[64];
		int major;

		if (sscanf(l + 1, "%d %63s", &major, have) == 2 && major >= 0 && major <= 4095 &&
		    !strcmp(have, name))
			return major;
	}
	return -1;
}

void gpu_parse_devices(const char *buf, int *ret_nvidia, int *ret_uvm)
{
	*ret_nvidia = gpu_parse_device_major(buf, "nvidia-frontend");
	if (*ret_nvidia < 0)
		*ret_nvidia = gpu_parse_device_major(buf, "nvidia");
	*ret_uvm = gpu_parse_device_major(buf, "nvidia-uvm");
}

/* Without the file (some sandboxes hide it) nothing is checked. */
static void load_majors(const char *proc_root, struct gpu_inventory *inv)
{
	_cleanup_free_ char *path = xasprintf("%s/devices", proc_root);
	_cleanup_free_ char *buf = NULL;
	struct error ignore = ERROR_INIT;

	if (read_file_at(AT_FDCWD, path, GPU_PROC_MAX_FILE, &buf, NULL, &ignore) < 0)
		return;
	gpu_parse_devices(buf, &inv->major_nvidia, &inv->major_uvm);
	inv->major_caps = gpu_parse_device_major(buf, "nvidia-caps");
	inv->major_imex = gpu_parse_device_major(buf, "nvidia-caps-imex-channels");
}

int gpu_inventory_load(const char *proc_root, struct gpu_inventory *ret, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/driver/nvidia/version", proc_root);
	_cleanup_free_ char *buf = NULL;
	struct gpu_inventory inv = GPU_INVENTORY_INIT;

	if (read_file_at(AT_FDCWD, path, GPU_PROC_MAX_FILE, &buf, NULL, err) < 0)
		return error_prefix(err, "the NVIDIA kernel module is not loaded (%s)", path);
	if (gpu_parse_version(buf, inv.rm, sizeof(inv.rm), err) < 0)
		return error_prefix(err, "%s", path);
	load_majors(proc_root, &inv);
	if (load_gpus(proc_root, &inv, err) < 0) {
		gpu_inventory_done(&inv);
		return -1;
	}
	load_migs(proc_root, &inv);
	*ret = inv;
	return 0;
}

void gpu_inventory_done(struct gpu_inventory *inv)
{
	free(inv->gpus);
	inv->gpus = NULL;
	inv->n = 0;
}
