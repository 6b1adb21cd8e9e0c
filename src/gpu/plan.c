/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpu/plan.h"
#include "gpu/require.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define CAP_GRAPHICS_LIKE (GPU_CAP_GRAPHICS | GPU_CAP_DISPLAY)
/* video needs the compute libraries too (libnvidia-container's options.h). */
#define CAP_COMPUTE_LIBS (GPU_CAP_COMPUTE | GPU_CAP_VIDEO)

/* A data table, not code: new drivers add stems (gpu.md §2.3). */
static const struct {
	const char *stem;
	unsigned caps;
} lib_table[] = {
	{"libnvidia-ml.so", GPU_CAP_UTILITY},
	{"libnvidia-cfg.so", GPU_CAP_UTILITY},
	{"libnvidia-nscq.so", GPU_CAP_UTILITY},
	{"libcuda.so", CAP_COMPUTE_LIBS},
	{"libcudadebugger.so", CAP_COMPUTE_LIBS},
	{"libnvidia-opencl.so", CAP_COMPUTE_LIBS},
	{"libnvidia-gpucomp.so", CAP_COMPUTE_LIBS},
	{"libnvidia-ptxjitcompiler.so", CAP_COMPUTE_LIBS},
	{"libnvidia-fatbinaryloader.so", CAP_COMPUTE_LIBS},
	{"libnvidia-allocator.so", CAP_COMPUTE_LIBS},
	{"libnvidia-compiler.so", CAP_COMPUTE_LIBS},
	{"libnvidia-pkcs11.so", CAP_COMPUTE_LIBS},
	{"libnvidia-pkcs11-openssl3.so", CAP_COMPUTE_LIBS},
	{"libnvidia-nvvm.so", CAP_COMPUTE_LIBS},
	{"libnvidia-tileiras.so", CAP_COMPUTE_LIBS},
	{"libvdpau_nvidia.so", GPU_CAP_VIDEO},
	{"libnvidia-encode.so", GPU_CAP_VIDEO},
	{"libnvidia-opticalflow.so", GPU_CAP_VIDEO},
	{"libnvcuvid.so", GPU_CAP_VIDEO},
	{"libnvidia-eglcore.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-glcore.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-tls.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-glsi.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-fbc.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-ifr.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-rtcore.so", CAP_GRAPHICS_LIKE},
	{"libnvoptix.so", CAP_GRAPHICS_LIKE},
	{"libGLX_nvidia.so", CAP_GRAPHICS_LIKE},
	{"libEGL_nvidia.so", CAP_GRAPHICS_LIKE},
	{"libGLESv2_nvidia.so", CAP_GRAPHICS_LIKE},
	{"libGLESv1_CM_nvidia.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-glvkspirv.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-cbl.so", CAP_GRAPHICS_LIKE},
	{"libnvidia-ngx.so", GPU_CAP_NGX},
};

static const struct {
	const char *name;
	unsigned caps;
} bin_table[] = {
	{"nvidia-smi", GPU_CAP_UTILITY},
	{"nvidia-debugdump", GPU_CAP_UTILITY},
	{"nvidia-persistenced", GPU_CAP_UTILITY},
	{"nv-fabricmanager", GPU_CAP_UTILITY},
	{"nvidia-cuda-mps-control", GPU_CAP_COMPUTE},
	{"nvidia-cuda-mps-server", GPU_CAP_COMPUTE},
};

/* Links many programs rely on besides the SONAME (gpu.md §2.8). */
static const struct {
	const char *stem, *name, *target; /* target NULL: the mounted file */
} extra_links[] = {
	{"libcuda.so", "libcuda.so", "libcuda.so.1"},
	{"libnvidia-opticalflow.so", "libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1"},
	{"libGLX_nvidia.so", "libGLX_indirect.so.0", NULL},
};

/* key == stem or key starts with "stem.": libcuda.so must not take libcudadebugger.so. */
static bool stem_matches(const char *soname, const char *stem)
{
	size_t n = strlen(stem);

	return !strncmp(soname, stem, n) && (soname[n] == '\0' || soname[n] == '.');
}

static int lib_index(const char *soname, unsigned caps)
{
	for (size_t i = 0; i < ARRAY_SIZE(lib_table); i++) {
		if ((lib_table[i].caps & caps) && stem_matches(soname, lib_table[i].stem))
			return (int)i;
	}
	return -1;
}

bool gpu_lib_wanted(const char *soname, unsigned caps)
{
	return lib_index(soname, caps) >= 0;
}

size_t gpu_bins_wanted(unsigned caps, const char **ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bin_table) && n + 1 < max; i++) {
		if (bin_table[i].caps & caps)
			ret[n++] = bin_table[i].name;
	}
	ret[n] = NULL;
	return n;
}

const char *gpu_libdir(bool debian)
{
#if defined(__aarch64__)
	return debian ? "/usr/lib/aarch64-linux-gnu" : "/usr/lib64";
#elif defined(__powerpc64__)
	return debian ? "/usr/lib/powerpc64le-linux-gnu" : "/usr/lib64";
#else
	return debian ? "/usr/lib/x86_64-linux-gnu" : "/usr/lib64";
#endif
}

const char *gpu_libdir32(bool debian, bool has_lib32, bool has_distinct_lib)
{
	if (debian)
		return "/usr/lib/i386-linux-gnu";
	if (!has_lib32 && has_distinct_lib)
		return "/usr/lib";
	return "/usr/lib32";
}

void gpu_plan_add(struct gpu_plan *p, enum gpu_item_kind kind, const char *src, const char *dst, bool optional)
{
	if (p->n_items == p->cap_items) {
		p->cap_items = p->cap_items ? 2 * p->cap_items : 32;
		p->items = xrealloc(p->items, p->cap_items * sizeof(*p->items));
	}
	p->items[p->n_items++] = (struct gpu_item){kind, xstrdup(src), xstrdup(dst), optional, -1, NULL};
}

void gpu_plan_link(struct gpu_plan *p, const char *dir, const char *name, const char *target)
{
	if (p->n_links == p->cap_links) {
		p->cap_links = p->cap_links ? 2 * p->cap_links : 16;
		p->links = xrealloc(p->links, p->cap_links * sizeof(*p->links));
	}
	p->links[p->n_links++] = (struct gpu_link){xstrdup(dir), xstrdup(name), xstrdup(target)};
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Stale libraries of another driver version stay behind (gpu.md §2.1.4). */
bool gpu_lib_of_version(const char *path, const char *rm)
{
	const char *b = base_name(path);
	size_t bl = strlen(b), rl = strlen(rm);

	return bl > rl + 1 && b[bl - rl - 1] == '.' && !strcmp(b + bl - rl, rm);
}

static void add_lib(struct gpu_plan *p, int idx, const struct gpu_lib_candidate *c, const char *libdir)
{
	const char *file = base_name(c->path);
	_cleanup_free_ char *dst = xasprintf("%s/%s", libdir, file);

	gpu_plan_add(p, GPU_ITEM_LIB, c->path, dst, false);
	if (strcmp(c->soname, file))
		gpu_plan_link(p, libdir, c->soname, file);
	for (size_t k = 0; k < ARRAY_SIZE(extra_links); k++) {
		if (!strcmp(extra_links[k].stem, lib_table[idx].stem))
			gpu_plan_link(p, libdir, extra_links[k].name,
				      extra_links[k].target ? extra_links[k].target : file);
	}
}

void gpu_plan_libs(struct gpu_plan *p, const struct gpu_lib_candidate *c, size_t n, const char *rm,
		   unsigned caps, const char *libdir)
{
	const struct gpu_lib_candidate *chosen[ARRAY_SIZE(lib_table)] = {NULL};

	for (size_t i = 0; i < n; i++) {
		int idx = lib_index(c[i].soname, caps);

		if (idx >= 0 && gpu_lib_of_version(c[i].path, rm))
			chosen[idx] = &c[i];
		else if (idx >= 0)
			strv_pushf(&p->warnings, "skipped %s: not the driver version %s", c[i].path, rm);
	}
	for (size_t i = 0; i < ARRAY_SIZE(lib_table); i++) {
		if (chosen[i])
			add_lib(p, (int)i, chosen[i], libdir);
	}
}

static void add_dev(struct gpu_plan *p, const char *dev_root, const char *name, bool optional, int major)
{
	_cleanup_free_ char *src = xasprintf("%s/%s", dev_root, name);
	_cleanup_free_ char *dst = xasprintf("/dev/%s", name);

	gpu_plan_add(p, GPU_ITEM_DEV, src, dst, optional);
	p->items[p->n_items - 1].major = major;
}

void gpu_plan_devices(struct gpu_plan *p, const struct gpu_inventory *inv, unsigned caps, const char *dev_root)
{
	add_dev(p, dev_root, "nvidiactl", false, inv->major_nvidia);
	for (size_t i = 0; i < p->n_gpus; i++) {
		char name[32];

		snprintf(name, sizeof(name), "nvidia%u", inv->gpus[p->gpus[i]].minor);
		add_dev(p, dev_root, name, false, inv->major_nvidia);
	}
	/* CUDA needs the UVM node; utility-only containers do not get it. */
	if (caps & CAP_COMPUTE_LIBS) {
		add_dev(p, dev_root, "nvidia-uvm", true, inv->major_uvm);
		add_dev(p, dev_root, "nvidia-uvm-tools", true, inv->major_uvm);
	}
	if (caps & GPU_CAP_DISPLAY)
		add_dev(p, dev_root, "nvidia-modeset", true, inv->major_nvidia);
}

void gpu_plan_done(struct gpu_plan *p)
{
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].src);
		free(p->items[i].dst);
	}
	for (size_t i = 0; i < p->n_links; i++) {
		free(p->links[i].dir);
		free(p->links[i].name);
		free(p->links[i].target);
	}
	free(p->items);
	free(p->links);
	free(p->libdir);
	free(p->libdir32);
	free(p->gpus);
	free(p->migs);
	strv_free(&p->proc_binds);
	strv_free(&p->warnings);
	memset(p, 0, sizeof(*p));
}

bool gpu_is_mig_id(const char *id)
{
	unsigned g, m;
	int n = 0;

	if (!strncasecmp(id, "MIG-", 4))
		return true;
	return strspn(id, "0123456789:") == strlen(id) && sscanf(id, "%u:%u%n", &g, &m, &n) == 2 && id[n] == '\0';
}

/* The parent's inventory index of a MIG id, its device in *ret; -1 with err. */
static int find_mig(const char *id, const struct gpu_inventory *inv, const struct gpu_mig **ret,
		    struct error *err)
{
	bool by_uuid = !strncasecmp(id, "MIG-", 4);
	unsigned g = 0, m = 0;

	if (!by_uuid && (sscanf(id, "%u:%u", &g, &m) != 2 || g >= inv->n))
		return error_set(err, 0, "device error: '%s': unknown MIG device", id);
	if (!by_uuid && !inv->gpus[g].mig_enabled)
		return error_set(err, 0, "device error: '%s': GPU %u is not in MIG mode", id, g);
	for (size_t i = 0; i < inv->n; i++) {
		for (unsigned k = 0; k < inv->gpus[i].n_mig; k++) {
			const struct gpu_mig *mig = &inv->gpus[i].mig[k];

			if (by_uuid ? !strcasecmp(id, mig->uuid) : (i == g && mig->index == m)) {
				*ret = mig;
				return (int)i;
			}
		}
	}
	return error_set(err, 0, "device error: '%s': unknown MIG device", id);
}

/* The inventory index for one NVIDIA_VISIBLE_DEVICES id, or -1 with err. */
static int find_gpu(const char *id, const struct gpu_inventory *inv, struct error *err)
{
	char bus[32];
	char *end;
	unsigned long idx;

	for (size_t i = 0; i < inv->n; i++) {
		if (!strncasecmp(id, "GPU-", 4) && !strcasecmp(id, inv->gpus[i].uuid))
			return (int)i;
		if (strchr(id, ':') && gpu_normalise_busid(id, bus, sizeof(bus)) == 0 && !strcmp(bus, inv->gpus[i].busid))
			return (int)i;
	}
	idx = strtoul(id, &end, 10);
	if (id[0] >= '0' && id[0] <= '9' && *end == '\0' && idx < inv->n)
		return (int)idx;
	return error_set(err, 0,
			 "device error: '%s': unknown device (%zu GPU(s) visible; under Slurm use "
			 "NVIDIA_VISIBLE_DEVICES=all, indices are renumbered)",
			 id, inv->n);
}

static void add_gpu(struct gpu_plan *p, size_t g)
{
	for (size_t k = 0; k < p->n_gpus; k++) {
		if (p->gpus[k] == g)
			return;
	}
	p->gpus[p->n_gpus++] = g;
}

static void add_mig(struct gpu_plan *p, size_t g, const struct gpu_mig *m)
{
	for (size_t k = 0; k < p->n_migs; k++) {
		if (p->migs[k].gpu == g && p->migs[k].mig.gi == m->gi && p->migs[k].mig.ci == m->ci)
			return;
	}
	add_gpu(p, g);
	p->migs[p->n_migs++] = (struct gpu_plan_mig){g, *m};
}

int gpu_select(const struct gpu_request *req, const struct gpu_inventory *inv, struct gpu_plan *p,
	       struct error *err)
{
	p->gpus = xcalloc(inv->n + 1, sizeof(*p->gpus));
	p->migs = xcalloc(inv->n * GPU_MAX_MIG + 1, sizeof(*p->migs));
	for (size_t i = 0; req->all && i < inv->n; i++) {
		add_gpu(p, i);
		for (unsigned k = 0; k < inv->gpus[i].n_mig; k++)
			add_mig(p, i, &inv->gpus[i].mig[k]);
	}
	for (size_t i = 0; !req->all && i < req->ids.n; i++) {
		const char *id = req->ids.v[i];
		const struct gpu_mig *m = NULL;
		int g = gpu_is_mig_id(id) ? find_mig(id, inv, &m, err) : find_gpu(id, inv, err);

		if (g < 0)
			return -1;
		if (m)
			add_mig(p, (size_t)g, m);
		else
			add_gpu(p, (size_t)g);
	}
	return 0;
}

/* label names the GPU the requirement was checked against, or is NULL. */
static int check_one(const struct gpu_request *req, const struct gpu_require_ctx *c, const char *label,
		     struct error *err)
{
	for (size_t i = 0; i < req->requires.n; i++) {
		int r = gpu_require_check(req->requires.v[i], c, err);

		if (r < 0 || (r == 0 && label == NULL))
			return error_prefix(err, "requirement error");
		if (r == 0)
			return error_prefix(err, "requirement error: %s", label);
	}
	return 0;
}

const char *gpu_requires_need_nvml(const struct gpu_request *req, const struct gpu_inventory *inv, const char *cuda,
				   size_t n_gpus)
{
	struct gpu_require_ctx c = {cuda, inv->rm[0] ? inv->rm : NULL, NULL, NULL, false};

	for (size_t i = 0; !req->disable_require && !inv->nvml && n_gpus > 0 && i < req->requires.n; i++) {
		if (gpu_require_needs_device(req->requires.v[i], &c))
			return req->requires.v[i];
	}
	return NULL;
}

int gpu_check_requires(const struct gpu_request *req, const struct gpu_inventory *inv, const char *cuda,
		       const size_t *gpus, size_t n_gpus, struct error *err)
{
	/* The driver version is the kernel module's; arch and brand are
	 * NVML's, unknown (so satisfied) for a GPU NVML did not report. */
	struct gpu_require_ctx c = {cuda, inv->rm[0] ? inv->rm : NULL, NULL, NULL, false};

	if (req->disable_require)
		return 0;
	for (size_t i = 0; i < n_gpus; i++) {
		const struct gpu_info *g = &inv->gpus[gpus[i]];
		char label[192];

		c.arch = g->arch[0] ? g->arch : NULL;
		c.brand = g->brand[0] ? g->brand : NULL;
		if (g->nvml)
			snprintf(label, sizeof(label), "GPU %zu (%s, %s, arch %s)", gpus[i], g->busid, g->brand,
				 c.arch ? c.arch : "?");
		else
			snprintf(label, sizeof(label), "GPU %zu (%s)", gpus[i], g->busid);
		if (check_one(req, &c, label, err) < 0)
			return -1;
	}
	return n_gpus ? 0 : check_one(req, &c, NULL, err);
}
