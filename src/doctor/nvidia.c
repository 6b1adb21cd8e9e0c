/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA (gpu.md §5.3): what a GPU start will meet, found before a job
 * does. The facts come from the GPU code itself (inventory, ld cache,
 * device probe, NVML) so doctor and start cannot disagree; NVML runs in
 * the same helper process a start uses, never in doctor itself. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "gpu/driver.h"
#include "gpu/inject.h"
#include "gpu/inventory.h"
#include "gpu/ldcache.h"
#include "gpu/mig.h"
#include "gpu/nvml.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_NODES (GPU_MAX_GPUS + 2)

/* The libraries without which a capability does not work; plan.c's table
 * also lists optional ones a given driver release may lack. */
static const struct {
	const char *cap;
	const char *stems[5];
} coverage[] = {
	{"compute", {"libcuda.so", "libnvidia-ptxjitcompiler.so"}},
	{"utility", {"libnvidia-ml.so"}},
	{"video", {"libnvcuvid.so", "libnvidia-encode.so"}},
	{"graphics", {"libGLX_nvidia.so", "libEGL_nvidia.so", "libnvidia-glcore.so", "libnvidia-eglcore.so"}},
	{"display", {"libGLX_nvidia.so", "libEGL_nvidia.so", "libnvidia-glcore.so", "libnvidia-eglcore.so"}},
	{"ngx", {"libnvidia-ngx.so"}},
};

struct libs {
	struct gpu_lib_candidate *v;
	size_t n;
	struct strv owned;
};

/* A setting changed from its default wins; else doctor's roots
 * (--proc-root, --dev-root), which default to the same /proc and /dev. */
static void host_paths(const struct doctor_env *env, struct gpu_host *h, char **owned)
{
	*owned = NULL;
	if (env->cfg) {
		gpu_host_from_config(env->cfg, h, owned);
	} else {
		memset(h, 0, sizeof(*h));
		h->driver_root = "/";
		*owned = xstrdup("/etc/ld.so.cache");
		h->ldcache = *owned;
	}
	if (h->proc_root == NULL || !strcmp(h->proc_root, "/proc"))
		h->proc_root = env->proc_root;
	if (h->dev_root == NULL || !strcmp(h->dev_root, "/dev"))
		h->dev_root = env->dev_root;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The version in a library's file name: "libcuda.so.550.54.14" of stem
 * "libcuda.so" gives "550.54.14"; NULL when the file is not of stem. */
static const char *lib_version(const char *path, const char *stem)
{
	const char *b = base_name(path);
	size_t n = strlen(stem);

	return !strncmp(b, stem, n) && b[n] == '.' ? b + n + 1 : NULL;
}

/* A library of stem at version rm, else any version (for the message). */
static const char *find_lib(const struct libs *l, const char *stem, const char *rm, const char **other)
{
	*other = NULL;
	for (size_t i = 0; i < l->n; i++) {
		const char *v = lib_version(l->v[i].path, stem);

		if (v && !strcmp(v, rm))
			return l->v[i].path;
		if (v)
			*other = v;
	}
	return NULL;
}

static int load_libs(const struct gpu_host *h, int32_t arch, struct libs *l, struct error *err)
{
	l->owned = (struct strv)STRV_INIT;
	return gpu_host_libs(h, arch, &l->v, &l->n, &l->owned, err);
}

static void free_libs(struct libs *l)
{
	free(l->v);
	strv_free(&l->owned);
	l->v = NULL;
	l->n = 0;
}

static void check_uvm(const struct gpu_host *h, const struct gpu_inventory *inv, struct doctor_report *r)
{
	if (inv->major_uvm >= 0)
		doctor_add(r, "nvidia-uvm", DOCTOR_OK, "CUDA can allocate unified memory",
			   "nvidia_uvm is loaded (char major %d)", inv->major_uvm);
	else
		doctor_add(r, "nvidia-uvm", DOCTOR_WARN,
			   "as root: modprobe nvidia-uvm (or nvidia-modprobe -u -c0); without /dev/nvidia-uvm CUDA "
			   "fails with error 999 (unknown)",
			   "nvidia_uvm is not loaded: no nvidia-uvm in %s/devices", h->proc_root);
}

static const char *open_advice(int e)
{
	switch (e) {
	case EPERM:
		return "request the GPU from the scheduler (Slurm: --gres=gpu:N, ConstrainDevices=yes lets only "
		       "allocated GPUs open; Kubernetes: the device plugin's nvidia.com/gpu limit)";
	case EACCES:
		return "as root: let this user open it (mode 0666, or 0660 root:video with the user in 'video'; "
		       "driver options NVreg_DeviceFileMode/NVreg_DeviceFileGID)";
	case ENOENT:
		return "as root: nvidia-modprobe -c0 -u (or run nvidia-smi once) creates the nodes; capsa never "
		       "runs mknod";
	case ENXIO:
	case ENODEV:
		return "the NVIDIA module is not loaded for that node: as root, modprobe nvidia (nvidia-uvm), "
		       "and check dmesg";
	case EINVAL:
		return "as root: remove that file and let nvidia-modprobe (or udev) create the driver's node";
	default:
		return "check the node on the host (ls -l, dmesg) and nvidia-smi";
	}
}

/* The errno behind gpu_open_device()'s message, for the advice; EINVAL
 * for a node not of the driver, which is never opened. */
static int open_errno(const char *path, int major)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0)
		return errno;
	if (!S_ISCHR(st.st_mode) || (major >= 0 && major(st.st_rdev) != (unsigned)major))
		return EINVAL;
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

/* One node, as a start opens it; false (with a FAIL) when it cannot. */
static bool check_node(const struct gpu_host *h, const char *name, int major, struct doctor_report *r)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", h->dev_root, name);
	struct error err = ERROR_INIT;
	int fd = -1;

	if (gpu_open_device(path, major, &fd, &err) == 0) {
		close(fd);
		return true;
	}
	doctor_add(r, "nvidia-dev", DOCTOR_FAIL, open_advice(open_errno(path, major)), "%s", err.msg);
	return false;
}

static void check_nodes(const struct gpu_host *h, const struct gpu_inventory *inv, struct doctor_report *r)
{
	char names[MAX_NODES][32], list[MAX_NODES * 34] = "";
	size_t n = 0, bad = 0;

	snprintf(names[n++], sizeof(names[0]), "nvidiactl");
	for (size_t i = 0; i < inv->n && n < MAX_NODES - 1; i++)
		snprintf(names[n++], sizeof(names[0]), "nvidia%u", inv->gpus[i].minor);
	/* Without the module its node cannot work: check_uvm said so. */
	if (inv->major_uvm >= 0)
		snprintf(names[n++], sizeof(names[0]), "nvidia-uvm");
	for (size_t i = 0; i < n; i++) {
		int major = !strcmp(names[i], "nvidia-uvm") ? inv->major_uvm : inv->major_nvidia;

		if (!check_node(h, names[i], major, r))
			bad++;
		else
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", *list ? ", " : "", names[i]);
	}
	if (bad == 0)
		doctor_add(r, "nvidia-dev", DOCTOR_OK, "capsa binds these nodes; it never changes device cgroups",
			   "%s/{%s} open read-write", h->dev_root, list);
}

/* libcuda and NVML of the kernel module's version: the libraries a CUDA
 * or nvidia-smi start needs first. */
static void check_core(const struct gpu_host *h, const char *rm, const struct libs *l, struct doctor_report *r)
{
	static const char *const core[] = {"libcuda.so", "libnvidia-ml.so"};
	char found[256] = "";
	bool ok = true;

	for (size_t i = 0; i < ARRAY_SIZE(core); i++) {
		const char *other, *path = find_lib(l, core[i], rm, &other);

		if (path)
			snprintf(found + strlen(found), sizeof(found) - strlen(found), "%s%s", *found ? ", " : "",
				 base_name(path));
		else if (other)
			doctor_add(r, "nvidia-libs", DOCTOR_FAIL,
				   "reboot, or reload the nvidia modules, so that the kernel module and the "
				   "libraries are of one driver",
				   "driver/library version mismatch: kernel module %s, %s.%s in the ld cache '%s'", rm,
				   core[i], other, h->ldcache);
		else
			doctor_add(r, "nvidia-libs", DOCTOR_FAIL,
				   "install the NVIDIA driver's user-space libraries (and run ldconfig), or point "
				   "CAPSA_NVIDIA_LDCACHE at their ld cache",
				   "%s.%s is missing: not in the ld cache '%s'", core[i], rm, h->ldcache);
		ok &= path != NULL;
	}
	if (ok)
		doctor_add(r, "nvidia-libs", DOCTOR_OK, "GPU containers get these libraries",
			   "%s match the kernel module %s", found, rm);
}

/* "; cap (lib, lib)" appended to out for the stems missing at version rm. */
static void add_missing(const char *cap, const char *const *stems, size_t n, const char *rm, const struct libs *l,
			char *out, size_t len)
{
	char lacks[200] = "";

	for (size_t s = 0; s < n && stems[s]; s++) {
		const char *other;

		if (!find_lib(l, stems[s], rm, &other))
			snprintf(lacks + strlen(lacks), sizeof(lacks) - strlen(lacks), "%s%s", *lacks ? ", " : "",
				 stems[s]);
	}
	if (*lacks)
		snprintf(out + strlen(out), len - strlen(out), "%s%s (%s)", *out ? "; " : "", cap, lacks);
}

/* Which capabilities lack a library of the driver's version. */
static void check_coverage(const char *rm, const struct libs *l, const struct libs *l32, struct doctor_report *r)
{
	static const char *const core32[] = {"libcuda.so", "libnvidia-ml.so"};
	char missing[400] = "";

	for (size_t c = 0; c < ARRAY_SIZE(coverage); c++)
		add_missing(coverage[c].cap, coverage[c].stems, ARRAY_SIZE(coverage[c].stems), rm, l, missing,
			    sizeof(missing));
	if (l32)
		add_missing("compat32", core32, ARRAY_SIZE(core32), rm, l32, missing, sizeof(missing));
	if (*missing)
		doctor_add(r, "nvidia-caps", DOCTOR_WARN,
			   "install the missing driver components, or leave those capabilities out of "
			   "NVIDIA_DRIVER_CAPABILITIES",
			   "capabilities without all their %s libraries: %s", rm, missing);
	else
		doctor_add(r, "nvidia-caps", DOCTOR_OK, "NVIDIA_DRIVER_CAPABILITIES=all is served",
			   "every capability has its %s libraries", rm);
}

static void check_libs(const struct gpu_host *h, const char *rm, struct doctor_report *r)
{
	struct libs l = {NULL, 0, STRV_INIT}, l32 = {NULL, 0, STRV_INIT};
	struct error err = ERROR_INIT;
	bool has32;

	if (load_libs(h, ldcache_native_arch(), &l, &err) < 0) {
		doctor_add(r, "nvidia-libs", DOCTOR_FAIL,
			   "run ldconfig as root, or point CAPSA_NVIDIA_LDCACHE/CAPSA_NVIDIA_DRIVER_ROOT at the driver",
			   "%s", err.msg);
		return;
	}
	/* compat32 exists on x86-64 hosts alone. */
	has32 = ldcache_native_arch() == LDCACHE_ARCH_X8664 && load_libs(h, LDCACHE_ARCH_I386, &l32, &err) == 0;
	check_core(h, rm, &l, r);
	check_coverage(rm, &l, has32 ? &l32 : NULL, r);
	free_libs(&l);
	free_libs(&l32);
}

static bool host_is(const struct gpu_host *h, const char *rel, mode_t type)
{
	_cleanup_free_ char *path = doctor_path(h->driver_root, rel);
	struct stat st;

	return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* Info only: a start binds what is there and goes on without the rest. */
static void check_ipc(const struct gpu_host *h, struct doctor_report *r)
{
	static const struct {
		const char *name, *path;
		mode_t type;
	} ipc[] = {
		{"persistenced", "/var/run/nvidia-persistenced/socket", S_IFSOCK},
		{"fabricmanager", "/var/run/nvidia-fabricmanager/socket", S_IFSOCK},
		{"MPS", "/tmp/nvidia-mps", S_IFDIR},
	};
	char have[128] = "", lack[128] = "";

	for (size_t i = 0; i < ARRAY_SIZE(ipc); i++) {
		char *b = host_is(h, ipc[i].path, ipc[i].type) ? have : lack;

		snprintf(b + strlen(b), sizeof(have) - strlen(b), "%s%s", *b ? ", " : "", ipc[i].name);
	}
	doctor_add(r, "nvidia-ipc", DOCTOR_OK,
		   "GPU containers get the endpoints found; NVSwitch systems need nv-fabricmanager running",
		   "NVIDIA IPC endpoints: %s%s%s%s", *have ? have : "none", *have ? " found" : "",
		   *lack ? "; absent: " : "", lack);
}

static void check_firmware(const struct gpu_host *h, const char *rm, struct doctor_report *r)
{
	_cleanup_free_ char *rel = xasprintf("/lib/firmware/nvidia/%s", rm);
	_cleanup_free_ char *dir = doctor_path(h->driver_root, rel);
	struct error ignore = ERROR_INIT;
	struct strv files = STRV_INIT;
	size_t gsp = 0;

	if (list_dir_sorted(dir, ".bin", &files, &ignore) == 0) {
		for (size_t i = 0; i < files.n; i++)
			gsp += fnmatch("gsp*.bin", files.v[i], 0) == 0;
	}
	strv_free(&files);
	if (gsp)
		doctor_add(r, "nvidia-firmware", DOCTOR_OK, "GPU containers get the GSP firmware",
			   "%zu GSP firmware file(s) for %s in %s", gsp, rm, dir);
	else
		doctor_add(r, "nvidia-firmware", DOCTOR_WARN,
			   "GPUs that boot GSP firmware need the driver's firmware package for this version",
			   "no GSP firmware for %s in %s", rm, dir);
}

/* NVML as a start loads it (MIG ids, arch/brand requirements): found,
 * answering, and of the kernel module's version. */
static void check_nvml(const struct gpu_host *h, struct gpu_inventory *inv, struct doctor_report *r)
{
	struct error err = ERROR_INIT;

	if (gpu_nvml_load(h, inv, &err) < 0)
		doctor_add(r, "nvidia-nvml", DOCTOR_WARN,
			   "MIG devices, arch/brand requirements and MIG config/monitor need NVML: install the "
			   "driver's libnvidia-ml of the kernel module's version",
			   "%s", err.msg);
	else if (strcmp(inv->nvml_driver, inv->rm))
		doctor_add(r, "nvidia-nvml", DOCTOR_FAIL,
			   "reboot, or reload the nvidia modules, so that the kernel module and the libraries are of "
			   "one driver",
			   "driver/library version mismatch: NVML reports driver %s, the kernel module is %s",
			   inv->nvml_driver, inv->rm);
	else
		doctor_add(r, "nvidia-nvml", DOCTOR_OK, "MIG devices and arch/brand requirements can be served",
			   "NVML answers: driver %s, as the kernel module", inv->nvml_driver);
}


/* Open a MIG capability's node as a start does (read-only); its path in
 * *ret_path (free it) once its minor is known, else NULL. */
static int open_cap(const struct gpu_host *h, const struct gpu_inventory *inv, const char *capfile,
		    const char *key, char **ret_path, struct error *err)
{
	unsigned minor;
	int fd = -1;

	*ret_path = NULL;
	if (gpu_mig_cap_minor(h->proc_root, capfile, key, &minor, err) < 0)
		return -1;
	*ret_path = xasprintf("%s/nvidia-caps/nvidia-cap%u", h->dev_root, minor);
	if (gpu_open_device_as(*ret_path, inv->major_caps, O_RDONLY, &fd, err) < 0)
		return -1;
	close(fd);
	return 0;
}

/* A MIG device's caps nodes; the errors of those that do not open in bad. */
static void mig_device_nodes(const struct gpu_host *h, const struct gpu_inventory *inv, const struct gpu_info *g,
			     const struct gpu_mig *m, char *bad, size_t len)
{
	for (int ci = 0; ci <= 1; ci++) {
		char capfile[96], key[96];
		_cleanup_free_ char *path = NULL;
		struct error err = ERROR_INIT;

		gpu_mig_cap_names(g->minor, m, ci, capfile, key);
		if (open_cap(h, inv, capfile, key, &path, &err) < 0)
			snprintf(bad + strlen(bad), len - strlen(bad), "%s%s", *bad ? "; " : "", err.msg);
	}
}

/* Each MIG device's GI and CI caps nodes: without them CUDA sees no device. */
static void check_mig_nodes(const struct gpu_host *h, const struct gpu_inventory *inv, struct doctor_report *r)
{
	char bad[900] = "";
	unsigned n = 0;

	for (size_t i = 0; i < inv->n; i++) {
		for (unsigned k = 0; k < inv->gpus[i].n_mig; k++, n++)
			mig_device_nodes(h, inv, &inv->gpus[i], &inv->gpus[i].mig[k], bad, sizeof(bad));
	}
	if (*bad)
		doctor_add(r, "nvidia-mig", DOCTOR_WARN,
			   "as root: nvidia-modprobe -f /proc/driver/nvidia/capabilities/gpuN/mig/giG[/ciC]/access "
			   "creates a missing node; NVIDIA_VISIBLE_DEVICES=all leaves such MIG devices out",
			   "MIG caps nodes that do not open: %s", bad);
	else if (n)
		doctor_add(r, "nvidia-mig", DOCTOR_OK, "GPU containers can be given these MIG devices",
			   "the caps nodes of %u MIG device(s) open", n);
}

/* Which of the global MIG caps (config, monitor) this user can open; a
 * root-only one is the driver's default, so information, not a failure. */
static void check_mig_access(const struct gpu_host *h, const struct gpu_inventory *inv, struct doctor_report *r)
{
	static const char *const keys[] = {"config", "monitor"};
	char open_ok[160] = "", denied[160] = "";

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		_cleanup_free_ char *capfile = xasprintf("mig/%s", keys[i]);
		_cleanup_free_ char *path = NULL;
		struct error err = ERROR_INIT;
		char *b = open_cap(h, inv, capfile, keys[i], &path, &err) == 0 ? open_ok : denied;

		/* Not listed at all: a driver without MIG, nothing to say. */
		if (path)
			snprintf(b + strlen(b), sizeof(open_ok) - strlen(b), "%s%s %s", *b ? ", " : "", keys[i], path);
	}
	if (*denied)
		doctor_add(r, "nvidia-mig", DOCTOR_OK,
			   "NVIDIA_MIG_CONFIG_DEVICES/NVIDIA_MIG_MONITOR_DEVICES=all are refused for this user; root "
			   "(or an admin-chosen mode on these nodes) can use them",
			   "MIG caps this user cannot open (root-only, the driver's default): %s", denied);
	if (*open_ok)
		doctor_add(r, "nvidia-mig", DOCTOR_OK, "NVIDIA_MIG_CONFIG_DEVICES/NVIDIA_MIG_MONITOR_DEVICES=all work",
			   "MIG caps this user can open: %s", open_ok);
}

static void check_mig(const struct gpu_host *h, const struct gpu_inventory *inv, struct doctor_report *r)
{
	_cleanup_free_ char *minors = doctor_path(h->proc_root, "driver/nvidia-caps/mig-minors");
	unsigned capable = 0, enabled = 0, devices = 0;
	struct stat st;

	for (size_t i = 0; i < inv->n; i++) {
		capable += inv->gpus[i].mig_capable;
		enabled += inv->gpus[i].mig_enabled;
		devices += inv->gpus[i].n_mig;
	}
	if (enabled == 0 && capable == 0 && stat(minors, &st) < 0)
		return;
	if (enabled > 0 && inv->major_caps < 0)
		doctor_add(r, "nvidia-mig", DOCTOR_WARN,
			   "as root: modprobe nvidia-caps (nvidia-modprobe); MIG devices need its nodes",
			   "%u GPU(s) in MIG mode but no nvidia-caps in %s/devices", enabled, h->proc_root);
	else if (inv->nvml)
		doctor_add(r, "nvidia-mig", DOCTOR_OK,
			   "MIG devices: NVIDIA_VISIBLE_DEVICES=MIG-<uuid> or <gpu>:<mig>; all includes them",
			   "MIG: %u MIG-capable GPU(s), %u in MIG mode with %u MIG device(s); nvidia-caps char major %d",
			   capable, enabled, devices, inv->major_caps);
	else
		doctor_add(r, "nvidia-mig", DOCTOR_OK,
			   "MIG devices: NVIDIA_VISIBLE_DEVICES=MIG-<uuid> or <gpu>:<mig>; all includes them",
			   "MIG: %u GPU(s) in MIG mode with %u MIG device(s) (without NVML: MIG-capable GPUs unknown); "
			   "nvidia-caps char major %d",
			   enabled, devices, inv->major_caps);
	check_mig_nodes(h, inv, r);
	check_mig_access(h, inv, r);
}

void doctor_check_nvidia(const struct doctor_env *env, struct doctor_report *r)
{
	struct gpu_inventory inv = GPU_INVENTORY_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *owned = NULL;
	struct gpu_host h;

	host_paths(env, &h, &owned);
	if (gpu_inventory_load(h.proc_root, &inv, &err) < 0) {
		if (err.code == ENOENT)
			doctor_add(r, "nvidia", DOCTOR_OK, "GPU containers need the NVIDIA driver; nothing else to check",
				   "no NVIDIA GPU on this node (no %s/driver/nvidia/version)", h.proc_root);
		else
			doctor_add(r, "nvidia", DOCTOR_FAIL, "reinstall or reload the NVIDIA driver", "%s", err.msg);
		return;
	}
	doctor_add(r, "nvidia", DOCTOR_OK, "GPU containers can be started (NVIDIA_VISIBLE_DEVICES)",
		   "NVIDIA kernel module %s, %zu GPU(s)", inv.rm, inv.n);
	check_uvm(&h, &inv, r);
	check_nodes(&h, &inv, r);
	check_libs(&h, inv.rm, r);
	check_ipc(&h, r);
	check_firmware(&h, inv.rm, r);
	check_nvml(&h, &inv, r);
	check_mig(&h, &inv, r);
	gpu_inventory_done(&inv);
}
