/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/cudaver.h"
#include "gpu/driver.h"
#include "gpu/ldcache.h"
#include "gpu/mig.h"
#include "gpu/nvml.h"
#include "gpu/require.h"
#include "runtime/resolve.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_BINS 16

/* The host path of path resolved under the driver root (symlinks clamped
 * to it), if it names a file of the wanted type (S_IFREG, S_IFSOCK, ...). */
static char *host_resolve(int rootfd, const char *path, mode_t type)
{
	struct error ignore = ERROR_INIT;
	_cleanup_close_ int fd = -1;
	char link[64], buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (rootfs_resolve(rootfd, path, RESOLVE_NOCREATE, &fd, &ignore) < 0 || fstat(fd, &st) < 0 ||
	    (st.st_mode & S_IFMT) != type)
		return NULL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

struct candidates {
	struct gpu_lib_candidate *v;
	size_t n;
	struct strv owned;
};

static int find_libs(const struct gpu_host *host, int rootfd, unsigned caps, int32_t arch, struct candidates *out,
		     struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	struct ldcache cache;
	size_t len;

	if (read_file_at(AT_FDCWD, host->ldcache, LDCACHE_MAX_SIZE, &buf, &len, err) < 0 ||
	    ldcache_parse(buf, len, &cache, err) < 0)
		return error_prefix(err, "ld cache '%s'", host->ldcache);
	out->v = xcalloc(cache.n + 1, sizeof(*out->v));
	/* Kept in cache order: gpu_plan_libs() lets a later entry replace an
	 * earlier one, as libnvidia-container does. */
	for (size_t i = 0; i < cache.n; i++) {
		const struct ldcache_entry *e = &cache.v[i];
		char *path;

		if (!(e->flags & 1) || (e->flags & LDCACHE_ARCH_MASK) != arch || !gpu_lib_wanted(e->key, caps))
			continue;
		path = host_resolve(rootfd, e->value, S_IFREG);
		if (path == NULL)
			continue;
		strv_push_take(&out->owned, path);
		strv_push(&out->owned, e->key);
		out->v[out->n++] = (struct gpu_lib_candidate){NULL, NULL};
	}
	/* Pointers into owned are taken once it stopped growing. */
	for (size_t i = 0; i < out->n; i++)
		out->v[i] = (struct gpu_lib_candidate){out->owned.v[2 * i + 1], out->owned.v[2 * i]};
	ldcache_done(&cache);
	return 0;
}

int gpu_host_libs(const struct gpu_host *host, int32_t arch, struct gpu_lib_candidate **ret, size_t *ret_n,
		  struct strv *owned, struct error *err)
{
	struct candidates c = {NULL, 0, STRV_INIT};
	_cleanup_close_ int drvfd = open(host->driver_root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (drvfd < 0)
		return error_set(err, errno, "NVIDIA driver root '%s'", host->driver_root);
	if (find_libs(host, drvfd, GPU_CAP_ALL, arch, &c, err) < 0) {
		free(c.v);
		strv_free(&c.owned);
		return -1;
	}
	*ret = c.v;
	*ret_n = c.n;
	*owned = c.owned;
	return 0;
}

static void find_bins(int rootfd, unsigned caps, struct gpu_plan *p)
{
	static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					   "/usr/bin",	      "/sbin",		"/bin"};
	const char *bins[MAX_BINS];

	gpu_bins_wanted(caps, bins, MAX_BINS);
	for (size_t b = 0; bins[b]; b++) {
		for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dirs[d], bins[b]);
			_cleanup_free_ char *host = host_resolve(rootfd, path, S_IFREG);
			_cleanup_free_ char *dst = xasprintf("/usr/bin/%s", bins[b]);

			if (host) {
				gpu_plan_add(p, GPU_ITEM_BIN, host, dst, false);
				break;
			}
		}
	}
}

/* GSP firmware, in case the GPU is first opened from the container. */
static void find_firmware(int rootfd, const char *rm, struct gpu_plan *p)
{
	_cleanup_free_ char *dir = xasprintf("/lib/firmware/nvidia/%s", rm);
	_cleanup_free_ char *host = host_resolve(rootfd, dir, S_IFDIR);
	struct error ignore = ERROR_INIT;
	struct strv files = STRV_INIT;

	if (host == NULL || list_dir_sorted(host, ".bin", &files, &ignore) < 0)
		return;
	for (size_t i = 0; i < files.n; i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", host, files.v[i]);
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, files.v[i]);

		if (fnmatch("gsp*.bin", files.v[i], 0) == 0 && path_is_reg(src))
			gpu_plan_add(p, GPU_ITEM_FW, src, dst, true);
	}
	strv_free(&files);
}

static void find_ipc(int rootfd, unsigned caps, struct gpu_plan *p)
{
	static const struct {
		const char *path;
		mode_t type;
		unsigned caps;
	} ipc[] = {
		{"/var/run/nvidia-persistenced/socket", S_IFSOCK, GPU_CAP_UTILITY},
		{"/var/run/nvidia-fabricmanager/socket", S_IFSOCK, GPU_CAP_UTILITY},
		{"/tmp/nvidia-mps", S_IFDIR, GPU_CAP_COMPUTE | GPU_CAP_VIDEO},
	};

	for (size_t i = 0; i < ARRAY_SIZE(ipc); i++) {
		_cleanup_free_ char *host = (ipc[i].caps & caps) ? host_resolve(rootfd, ipc[i].path, ipc[i].type) : NULL;

		if (host)
			gpu_plan_add(p, GPU_ITEM_IPC, host, ipc[i].path, true);
	}
}

/* The ICD and vendor files that let GLVND, EGL and Vulkan find the driver
 * (graphics, display); each under /etc or /usr/share, mounted where found. */
static void find_graphics_config(int rootfd, unsigned caps, struct gpu_plan *p)
{
	static const char *const files[] = {
		"glvnd/egl_vendor.d/10_nvidia.json",	 "egl/egl_external_platform.d/15_nvidia_gbm.json",
		"egl/egl_external_platform.d/10_nvidia_wayland.json", "vulkan/icd.d/nvidia_icd.json",
		"vulkan/icd.d/nvidia_layers.json",	 "vulkan/implicit_layer.d/nvidia_layers.json",
		"nvidia/nvoptix.bin",
	};
	static const char *const dirs[] = {"/etc", "/usr/share"};

	if (!(caps & (GPU_CAP_GRAPHICS | GPU_CAP_DISPLAY)))
		return;
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dirs[d], files[f]);
			_cleanup_free_ char *host = host_resolve(rootfd, path, S_IFREG);

			if (host) {
				gpu_plan_add(p, GPU_ITEM_CONF, host, path, true);
				break;
			}
		}
	}
}

static bool root_stat(int rootfd, const char *path, struct stat *st)
{
	struct error ignore = ERROR_INIT;
	_cleanup_close_ int fd = -1;

	return rootfs_resolve(rootfd, path, RESOLVE_NOCREATE, &fd, &ignore) == 0 && fstat(fd, st) == 0;
}

static bool is_debian(int rootfd)
{
	struct stat st;

	return rootfd < 0 || root_stat(rootfd, "/etc/debian_version", &st);
}

/* gpu_libdir32() from the image's /usr/lib32, /usr/lib and /usr/lib64. */
static const char *libdir32(int rootfd)
{
	struct stat lib32, lib, lib64;
	bool has_lib = rootfd >= 0 && root_stat(rootfd, "/usr/lib", &lib) && S_ISDIR(lib.st_mode);
	bool has_lib64 = rootfd >= 0 && root_stat(rootfd, "/usr/lib64", &lib64);

	return gpu_libdir32(is_debian(rootfd), rootfd >= 0 && root_stat(rootfd, "/usr/lib32", &lib32),
			    has_lib && !(has_lib64 && lib.st_dev == lib64.st_dev && lib.st_ino == lib64.st_ino));
}

/* The i386 libraries next to the x86-64 ones (compat32). */
static int plan_libs32(const struct gpu_host *host, int drvfd, const struct gpu_request *req,
		       const struct gpu_inventory *inv, struct gpu_plan *p, struct error *err)
{
	struct candidates c = {NULL, 0, STRV_INIT};
	int r = 0;

	if ((req->caps & GPU_CAP_COMPAT32) && ldcache_native_arch() == LDCACHE_ARCH_X8664) {
		r = find_libs(host, drvfd, req->caps, LDCACHE_ARCH_I386, &c, err);
		if (r == 0)
			gpu_plan_libs(p, c.v, c.n, inv->rm, req->caps, p->libdir32);
	}
	free(c.v);
	strv_free(&c.owned);
	return r;
}

static int plan_files(const struct gpu_host *host, const struct gpu_request *req, const struct gpu_inventory *inv,
		      struct gpu_plan *p, struct error *err)
{
	struct candidates c = {NULL, 0, STRV_INIT};
	_cleanup_close_ int drvfd = open(host->driver_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (drvfd < 0)
		return error_set(err, errno, "NVIDIA driver root '%s'", host->driver_root);
	r = find_libs(host, drvfd, req->caps, ldcache_native_arch(), &c, err);
	if (r == 0) {
		gpu_plan_libs(p, c.v, c.n, inv->rm, req->caps, p->libdir);
		r = plan_libs32(host, drvfd, req, inv, p, err);
	}
	if (r == 0) {
		find_bins(drvfd, req->caps, p);
		find_firmware(drvfd, inv->rm, p);
		find_ipc(drvfd, req->caps, p);
		find_graphics_config(drvfd, req->caps, p);
	}
	free(c.v);
	strv_free(&c.owned);
	return r;
}

/* Ask the selected libcuda only when a requirement names cuda. */
static bool needs_cuda(const struct gpu_request *req)
{
	for (size_t i = 0; !req->disable_require && i < req->requires.n; i++) {
		if (strcasestr(req->requires.v[i], "cuda"))
			return true;
	}
	return false;
}

static int check_requires(const struct gpu_host *host, const struct gpu_request *req, struct gpu_inventory *inv,
			  struct gpu_plan *p, struct error *err)
{
	char cuda[32], need[GPU_REQUIRE_MAX_LEN + 64];
	bool known = false;
	const char *expr;

	for (size_t i = 0; needs_cuda(req) && !known && i < p->n_items; i++) {
		const char *b = strrchr(p->items[i].dst, '/');
		struct error e = ERROR_INIT;

		if (p->items[i].kind != GPU_ITEM_LIB || strncmp(b + 1, "libcuda.so.", STRLEN("libcuda.so.")))
			continue;
		known = gpu_cuda_version(p->items[i].src, cuda, sizeof(cuda), &e) == 0;
		if (!known)
			strv_pushf(&p->warnings, "%s", e.msg);
	}
	expr = gpu_requires_need_nvml(req, inv, known ? cuda : NULL, p->n_gpus);
	if (expr != NULL) {
		snprintf(need, sizeof(need), "the requirement '%s' (NVIDIA_REQUIRE_*)", expr);
		if (gpu_nvml_load_for(host, inv, need, err) < 0)
			return -1;
	}
	return gpu_check_requires(req, inv, known ? cuda : NULL, p->gpus, p->n_gpus, err);
}

/* NVIDIA_IMEX_CHANNELS (gpu.md §1.6), as the toolkit: the named channels'
 * nodes, which must exist (capsa never mknods; a missing one is an error).
 * Without the variable none, although enroot binds the whole directory with
 * compute: a channel is what keeps jobs that share an NVLink domain apart,
 * and handing every channel to every container would undo that. */
static int plan_imex(struct gpu_plan *p, const struct gpu_request *req, const struct gpu_inventory *inv,
		     const char *dev_root, struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/nvidia-caps-imex-channels", dev_root);
	struct strv names = STRV_INIT;
	int r = 0;

	if (req->imex_all && list_dir_sorted(dir, NULL, &names, err) < 0)
		return error_prefix(err, "NVIDIA_IMEX_CHANNELS=all");
	for (size_t i = 0; i < req->imex.n; i++)
		strv_pushf(&names, "channel%s", req->imex.v[i]);
	if (req->imex_all && names.n == 0)
		r = error_set(err, 0, "NVIDIA_IMEX_CHANNELS=all: no IMEX channel in %s", dir);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", dir, names.v[i]);
		_cleanup_free_ char *dst = xasprintf("/dev/nvidia-caps-imex-channels/%s", names.v[i]);
		struct stat st;

		if (strncmp(names.v[i], "channel", STRLEN("channel")))
			continue;
		r = stat(src, &st);
		if (r < 0 && errno == ENOENT)
			r = error_set(err, 0,
				      "NVIDIA_IMEX_CHANNELS: the IMEX channel %s does not exist (capsa never creates device "
				      "nodes: as root, create it, e.g. the nvidia module option NVreg_CreateImexChannel0=1 "
				      "for channel 0)",
				      src);
		else if (r < 0)
			r = error_set(err, errno, "NVIDIA_IMEX_CHANNELS: %s", src);
		if (r < 0)
			break;
		gpu_plan_add(p, GPU_ITEM_CAP, src, dst, false);
		p->items[p->n_items - 1].major = inv->major_imex;
	}
	strv_free(&names);
	return r;
}

void gpu_host_from_config(const struct config *cfg, struct gpu_host *h, char **owned)
{
	h->driver_root = config_get(cfg, "NVIDIA_DRIVER_ROOT");
	h->proc_root = config_get(cfg, "NVIDIA_PROC_ROOT");
	h->dev_root = config_get(cfg, "NVIDIA_DEV_ROOT");
	h->ldcache = config_get(cfg, "NVIDIA_LDCACHE");
	*owned = NULL;
	h->cuda_compat = config_bool(cfg, "NVIDIA_CUDA_COMPAT");
	if (h->driver_root == NULL)
		h->driver_root = "/";
	if (h->proc_root == NULL)
		h->proc_root = "/proc";
	if (h->dev_root == NULL)
		h->dev_root = "/dev";
	if (h->ldcache == NULL) {
		*owned = xasprintf("%s/etc/ld.so.cache", strcmp(h->driver_root, "/") ? h->driver_root : "");
		h->ldcache = *owned;
	}
}

static bool has_lib(const struct gpu_plan *p, const char *prefix)
{
	size_t n = strlen(p->libdir);

	for (size_t i = 0; i < p->n_items; i++) {
		const char *dst = p->items[i].dst;

		if (p->items[i].kind == GPU_ITEM_LIB && !strncmp(dst, p->libdir, n) && dst[n] == '/' &&
		    !strncmp(dst + n + 1, prefix, strlen(prefix)))
			return true;
	}
	return false;
}

/* Without libcuda (compute) or NVML (utility) the container would start and
 * fail later, obscurely: say now what is missing, and why when known. */
static int check_core_libs(const struct gpu_host *host, const struct gpu_request *req,
			   const struct gpu_inventory *inv, const struct gpu_plan *p, struct error *err)
{
	static const struct {
		const char *prefix;
		unsigned caps;
	} core[] = {{"libcuda.so.", GPU_CAP_COMPUTE | GPU_CAP_VIDEO}, {"libnvidia-ml.so.", GPU_CAP_UTILITY}};

	for (size_t i = 0; i < ARRAY_SIZE(core); i++) {
		bool stale = false;

		if (!(req->caps & core[i].caps) || has_lib(p, core[i].prefix))
			continue;
		for (size_t w = 0; w < p->warnings.n; w++)
			stale |= strstr(p->warnings.v[w], core[i].prefix) != NULL;
		return error_set(err, 0, "%s%s not found through the ld cache '%s'%s", core[i].prefix, inv->rm,
				 host->ldcache,
				 stale ? ": the driver's libraries are of another version than the loaded kernel module "
					 "(driver/library version mismatch: reboot, or reload the nvidia module)"
				       : "");
	}
	return 0;
}

int gpu_make_plan(const struct gpu_host *host, const struct gpu_request *req, struct gpu_inventory *inv,
		  int rootfd, struct gpu_plan *ret, struct error *err)
{
	struct gpu_plan p;

	memset(&p, 0, sizeof(p));
	p.libdir = xstrdup(gpu_libdir(is_debian(rootfd)));
	if (req->caps & GPU_CAP_COMPAT32)
		p.libdir32 = xstrdup(libdir32(rootfd));
	if (gpu_select(req, inv, &p, err) < 0 || plan_files(host, req, inv, &p, err) < 0 ||
	    check_core_libs(host, req, inv, &p, err) < 0 || check_requires(host, req, inv, &p, err) < 0) {
		gpu_plan_done(&p);
		return -1;
	}
	gpu_plan_devices(&p, inv, req->caps, host->dev_root);
	if (gpu_plan_mig(&p, req, inv, host->proc_root, host->dev_root, err) < 0 ||
	    plan_imex(&p, req, inv, host->dev_root, err) < 0) {
		gpu_plan_done(&p);
		return -1;
	}
	snprintf(p.rm, sizeof(p.rm), "%s", inv->rm);
	p.cuda_compat = host->cuda_compat && (req->caps & (GPU_CAP_COMPUTE | GPU_CAP_VIDEO));
	*ret = p;
	return 0;
}
