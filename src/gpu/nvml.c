/* SPDX-License-Identifier: Apache-2.0 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gpu/helper.h"
#include "gpu/ldcache.h"
#include "gpu/nvml.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define NVML_SONAME "libnvidia-ml.so.1"
#define NVML_SUCCESS 0
#define NVML_DEVICE_MIG_ENABLE 1

/* nvmlPciInfo_t as nvmlDeviceGetPciInfo_v3 fills it (nvml.h). */
struct nvml_pci {
	char bus_id_legacy[16];
	unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
	char bus_id[32];
};

/* The entry points, with nvml.h's signatures (nvmlDevice_t is a pointer,
 * nvmlReturn_t and nvmlBrandType_t are enums: int). */
struct nvml_fns {
	int (*init)(void);
	int (*shutdown)(void);
	const char *(*error_string)(int);
	int (*driver_version)(char *, unsigned);
	int (*count)(unsigned *);
	int (*handle)(unsigned, void **);
	int (*minor)(void *, unsigned *);
	int (*uuid)(void *, char *, unsigned);
	int (*pci)(void *, struct nvml_pci *);
	int (*name)(void *, char *, unsigned);
	int (*brand)(void *, int *);
	int (*cc)(void *, int *, int *);
	int (*mig_mode)(void *, unsigned *, unsigned *);
	int (*mig_max)(void *, unsigned *);
	int (*mig_handle)(void *, unsigned, void **);
	int (*gi)(void *, unsigned *);
	int (*ci)(void *, unsigned *);
};

/* Optional ones are missing from drivers older than the feature. */
static const struct {
	const char *name;
	size_t off;
	bool required;
} symbols[] = {
	{"nvmlInit_v2", offsetof(struct nvml_fns, init), true},
	{"nvmlShutdown", offsetof(struct nvml_fns, shutdown), true},
	{"nvmlErrorString", offsetof(struct nvml_fns, error_string), true},
	{"nvmlSystemGetDriverVersion", offsetof(struct nvml_fns, driver_version), true},
	{"nvmlDeviceGetCount_v2", offsetof(struct nvml_fns, count), true},
	{"nvmlDeviceGetHandleByIndex_v2", offsetof(struct nvml_fns, handle), true},
	{"nvmlDeviceGetMinorNumber", offsetof(struct nvml_fns, minor), true},
	{"nvmlDeviceGetUUID", offsetof(struct nvml_fns, uuid), true},
	{"nvmlDeviceGetPciInfo_v3", offsetof(struct nvml_fns, pci), true},
	{"nvmlDeviceGetName", offsetof(struct nvml_fns, name), false},
	{"nvmlDeviceGetBrand", offsetof(struct nvml_fns, brand), false},
	{"nvmlDeviceGetCudaComputeCapability", offsetof(struct nvml_fns, cc), false},
	{"nvmlDeviceGetMigMode", offsetof(struct nvml_fns, mig_mode), false},
	{"nvmlDeviceGetMaxMigDeviceCount", offsetof(struct nvml_fns, mig_max), false},
	{"nvmlDeviceGetMigDeviceHandleByIndex", offsetof(struct nvml_fns, mig_handle), false},
	{"nvmlDeviceGetGpuInstanceId", offsetof(struct nvml_fns, gi), false},
	{"nvmlDeviceGetComputeInstanceId", offsetof(struct nvml_fns, ci), false},
};

/* The helper's answer: a header, then n GPU records. Fixed sizes, so the
 * parent checks a length, never follows a pointer of the child's. */
struct nvml_head {
	int32_t ok;
	char msg[256];
	char driver[32];
	uint32_t n;
};

struct nvml_gpu {
	char busid[32];
	char uuid[96];
	int32_t brand, cc_major, cc_minor; /* cc_major < 0: unknown */
	uint32_t minor, mig_capable, mig_enabled, n_mig;
	struct gpu_mig mig[GPU_MAX_MIG];
};

struct nvml_answer {
	struct nvml_head head;
	struct nvml_gpu gpus[GPU_MAX_GPUS];
};

const char *gpu_nvml_brand_name(int brand)
{
	/* nvmlBrandType_t's values, named as libnvidia-container names them
	 * for `brand=` requirements (gpu.md §1.3). */
	static const char *const names[] = {
		"Unknown",	   "Quadro",	 "Tesla",     "NVS",	     "GRID",	    "GeForce",
		"TITAN",	   "NvidiaVApps", "NvidiaVPC", "NvidiaVCS", "NvidiaVWS", "NvidiaCloudGaming",
		"QuadroRTX",	   "NvidiaRTX",	 "Nvidia",    "GeForceRTX", "TitanRTX",
	};

	return brand >= 0 && (size_t)brand < ARRAY_SIZE(names) ? names[brand] : "Unknown";
}

/* A MIG id or MIG access, else NULL. */
static const char *nvml_item(const struct gpu_request *req, const char **ret_fmt)
{
	for (size_t i = 0; !req->all && i < req->ids.n; i++) {
		*ret_fmt = "the MIG device '%s' (NVIDIA_VISIBLE_DEVICES)";
		if (gpu_is_mig_id(req->ids.v[i]))
			return req->ids.v[i];
	}
	*ret_fmt = "%s";
	if (req->mig_config || req->mig_monitor)
		return req->mig_config ? "NVIDIA_MIG_CONFIG_DEVICES" : "NVIDIA_MIG_MONITOR_DEVICES";
	return NULL;
}

const char *gpu_nvml_needed(const struct gpu_request *req, char *buf, size_t len)
{
	const char *fmt = NULL;
	const char *item = nvml_item(req, &fmt);

	if (item == NULL)
		return NULL;
	snprintf(buf, len, fmt, item);
	return buf;
}

/* --- in the helper process --- */

/* 0 for NVML_SUCCESS, else -1 with "what: NVML's message" in the answer. */
static int check(struct nvml_answer *a, const struct nvml_fns *f, const char *what, int rc)
{
	if (rc == NVML_SUCCESS)
		return 0;
	snprintf(a->head.msg, sizeof(a->head.msg), "%s: %s", what, f->error_string(rc));
	return -1;
}

/* Each MIG device of a GPU in MIG mode; an empty slot is skipped. */
static void collect_migs(const struct nvml_fns *f, void *dev, struct nvml_gpu *g)
{
	unsigned cur = 0, pending = 0, max = 0;

	if (!f->mig_mode || f->mig_mode(dev, &cur, &pending) != NVML_SUCCESS)
		return; /* NVML_ERROR_NOT_SUPPORTED: not MIG capable */
	g->mig_capable = 1;
	g->mig_enabled = cur == NVML_DEVICE_MIG_ENABLE;
	if (!g->mig_enabled || !f->mig_max || !f->mig_handle || !f->gi || !f->ci || f->mig_max(dev, &max))
		return;
	for (unsigned i = 0; i < max && g->n_mig < GPU_MAX_MIG; i++) {
		struct gpu_mig *m = &g->mig[g->n_mig];
		void *h;

		if (f->mig_handle(dev, i, &h) || f->uuid(h, m->uuid, sizeof(m->uuid)) || f->gi(h, &m->gi) ||
		    f->ci(h, &m->ci))
			continue;
		m->index = i;
		g->n_mig++;
	}
}

static int collect_gpu(const struct nvml_fns *f, unsigned i, struct nvml_answer *a)
{
	struct nvml_gpu *g = &a->gpus[i];
	struct nvml_pci pci;
	void *dev = NULL;

	memset(&pci, 0, sizeof(pci));
	/* In order: each call needs the handle the first one gave. */
	if (check(a, f, "nvmlDeviceGetHandleByIndex_v2", f->handle(i, &dev)) < 0 ||
	    check(a, f, "nvmlDeviceGetMinorNumber", f->minor(dev, &g->minor)) < 0 ||
	    check(a, f, "nvmlDeviceGetUUID", f->uuid(dev, g->uuid, sizeof(g->uuid))) < 0 ||
	    check(a, f, "nvmlDeviceGetPciInfo_v3", f->pci(dev, &pci)) < 0)
		return -1;
	memcpy(g->busid, pci.bus_id, sizeof(g->busid));
	g->cc_major = -1;
	if (f->brand && f->brand(dev, &g->brand))
		g->brand = 0;
	if (f->cc && f->cc(dev, &g->cc_major, &g->cc_minor))
		g->cc_major = -1;
	collect_migs(f, dev, g);
	return 0;
}

static int collect(const struct nvml_fns *f, struct nvml_answer *a)
{
	unsigned n = 0;

	if (check(a, f, "nvmlInit_v2", f->init()) < 0 ||
	    check(a, f, "nvmlSystemGetDriverVersion", f->driver_version(a->head.driver, sizeof(a->head.driver))) < 0 ||
	    check(a, f, "nvmlDeviceGetCount_v2", f->count(&n)) < 0)
		return -1;
	for (unsigned i = 0; i < n && i < GPU_MAX_GPUS; i++) {
		if (collect_gpu(f, i, a) < 0)
			return -1;
		a->head.n++;
	}
	f->shutdown();
	a->head.ok = 1;
	return 0;
}

static int load_symbols(void *h, struct nvml_fns *f, struct nvml_answer *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(symbols); i++) {
		void *p = dlsym(h, symbols[i].name);

		if (p == NULL && symbols[i].required)
			return snprintf(a->head.msg, sizeof(a->head.msg), "no %s in the library", symbols[i].name), -1;
		memcpy((char *)f + symbols[i].off, &p, sizeof(p));
	}
	return 0;
}

static int nvml_child(void *arg, int fd)
{
	struct nvml_answer *a = xcalloc(1, sizeof(*a));
	struct nvml_fns f;
	void *h = dlopen(arg, RTLD_NOW | RTLD_LOCAL);
	size_t len;

	memset(&f, 0, sizeof(f));
	if (h == NULL)
		snprintf(a->head.msg, sizeof(a->head.msg), "dlopen: %s", dlerror());
	else if (load_symbols(h, &f, a) == 0)
		collect(&f, a);
	len = offsetof(struct nvml_answer, gpus) + a->head.n * sizeof(a->gpus[0]);
	return write(fd, a, len) == (ssize_t)len ? 0 : 1;
}

/* --- in capsa --- */

/* The driver root's libnvidia-ml.so.1 of the kernel module's version, as
 * the library injection finds it (driver.c), into *ret (free it). */
static int find_nvml(const struct gpu_host *host, const char *rm, char **ret, struct error *err)
{
	struct gpu_lib_candidate *c = NULL;
	struct strv owned = STRV_INIT;
	const char *other = NULL;
	size_t n = 0;

	*ret = NULL;
	if (gpu_host_libs(host, ldcache_native_arch(), &c, &n, &owned, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].soname, NVML_SONAME))
			continue;
		if (gpu_lib_of_version(c[i].path, rm)) {
			free(*ret);
			*ret = xstrdup(c[i].path);
		} else {
			other = c[i].path;
		}
	}
	if (*ret == NULL)
		error_set(err, 0, NVML_SONAME " not found in the driver root's ld cache '%s'%s%s%s", host->ldcache,
			  other ? " (only " : "", other ? other : "",
			  other ? ", of another version than the kernel module: driver/library version mismatch)" : "");
	free(c);
	strv_free(&owned);
	return *ret ? 0 : -1;
}

static void merge_gpu(const struct nvml_gpu *g, struct gpu_inventory *inv)
{
	char bus[32];
	struct gpu_info *info = NULL;

	if (gpu_normalise_busid(g->busid, bus, sizeof(bus)) < 0)
		return;
	for (size_t i = 0; i < inv->n; i++) {
		if (!strcmp(inv->gpus[i].busid, bus))
			info = &inv->gpus[i];
	}
	/* A GPU NVML sees but /proc does not (or the reverse) keeps /proc's view. */
	if (info == NULL)
		return;
	info->nvml = true;
	if (g->cc_major >= 0)
		snprintf(info->arch, sizeof(info->arch), "%d.%d", g->cc_major, g->cc_minor);
	snprintf(info->brand, sizeof(info->brand), "%s", gpu_nvml_brand_name(g->brand));
	info->mig_capable = g->mig_capable;
	info->mig_enabled = g->mig_enabled;
	info->n_mig = g->n_mig;
	memcpy(info->mig, g->mig, g->n_mig * sizeof(g->mig[0]));
	for (unsigned m = 0; m < info->n_mig; m++)
		info->mig[m].uuid[sizeof(info->mig[m].uuid) - 1] = '\0';
}

/* The child's strings are terminated and its counts bounded here. */
static int check_answer(struct nvml_answer *a, size_t got, struct error *err)
{
	if (got < offsetof(struct nvml_answer, gpus) || a->head.n > GPU_MAX_GPUS ||
	    got != offsetof(struct nvml_answer, gpus) + a->head.n * sizeof(a->gpus[0]))
		return error_set(err, 0, "a truncated answer");
	a->head.msg[sizeof(a->head.msg) - 1] = '\0';
	a->head.driver[sizeof(a->head.driver) - 1] = '\0';
	if (!a->head.ok)
		return error_set(err, 0, "%s", a->head.msg);
	for (uint32_t i = 0; i < a->head.n; i++) {
		struct nvml_gpu *g = &a->gpus[i];

		g->busid[sizeof(g->busid) - 1] = g->uuid[sizeof(g->uuid) - 1] = '\0';
		if (g->n_mig > GPU_MAX_MIG)
			return error_set(err, 0, "a GPU with %u MIG devices", g->n_mig);
	}
	return 0;
}

int gpu_nvml_load(const struct gpu_host *host, struct gpu_inventory *inv, struct error *err)
{
	_cleanup_free_ char *lib = NULL, *what = NULL;
	_cleanup_free_ struct nvml_answer *a = xcalloc(1, sizeof(*a));
	size_t got = 0;

	if (find_nvml(host, inv->rm, &lib, err) < 0)
		return -1;
	what = xasprintf("NVML (%s)", lib);
	if (gpu_helper_run(nvml_child, lib, a, sizeof(*a), &got, GPU_NVML_TIMEOUT_MS, what, err) < 0)
		return -1;
	if (check_answer(a, got, err) < 0)
		return error_prefix(err, "%s", what);
	for (uint32_t i = 0; i < a->head.n; i++)
		merge_gpu(&a->gpus[i], inv);
	snprintf(inv->nvml_driver, sizeof(inv->nvml_driver), "%s", a->head.driver);
	inv->nvml = true;
	return 0;
}

int gpu_nvml_load_for(const struct gpu_host *host, struct gpu_inventory *inv, const char *need, struct error *err)
{
	if (inv->nvml || gpu_nvml_load(host, inv, err) == 0)
		return 0;
	err->code = 0; /* not "no driver" (ENOENT) for the start path */
	error_prefix(err, "%s needs NVML", need);
	if (strstr(need, "NVIDIA_REQUIRE_"))
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (NVIDIA_DISABLE_REQUIRE=1 skips the requirements)");
	return -1;
}

int gpu_inventory_for(const struct gpu_host *host, const struct gpu_request *req, struct gpu_inventory *inv,
		      struct error *err)
{
	char why[512];
	const char *need = gpu_nvml_needed(req, why, sizeof(why));

	if (gpu_inventory_load(host->proc_root, inv, err) < 0)
		return -1;
	if (need == NULL || gpu_nvml_load_for(host, inv, need, err) == 0)
		return 0;
	gpu_inventory_done(inv);
	return -1;
}
