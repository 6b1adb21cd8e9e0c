/* SPDX-License-Identifier: Apache-2.0 */
/* The pure planner: library selection per capability and driver version,
 * device selection by every id form, /proc/driver/nvidia parsing. */
#include "gpu/appprofile.h"
#include "gpu/compat.h"
#include "gpu/cudaver.h"
#include "gpu/inventory.h"
#include "gpu/plan.h"
#include "gpu/procmask.h"
#include "tap.h"
#include "util/cleanup.h"

#define RM "550.54.14"
#define DIR "/usr/lib/x86_64-linux-gnu"

static const struct gpu_lib_candidate cands[] = {
	{"libcuda.so.1", "/host/lib/libcuda.so." RM},
	{"libcudadebugger.so.1", "/host/lib/libcudadebugger.so." RM},
	{"libnvidia-ml.so.1", "/host/lib/libnvidia-ml.so." RM},
	{"libnvidia-encode.so.1", "/host/lib/libnvidia-encode.so.545.23.08"}, /* decoy */
	{"libnvidia-encode.so.1", "/host/lib/libnvidia-encode.so.550.54.1"},  /* prefix of RM: decoy too */
	{"libnvcuvid.so.1", "/host/lib/libnvcuvid.so." RM},
	{"libGLX_nvidia.so.0", "/host/lib/libGLX_nvidia.so." RM},
	{"libnvidia-ngx.so.1", "/host/lib/libnvidia-ngx.so." RM},
	{"libnvidia-opticalflow.so.1", "/host/lib/libnvidia-opticalflow.so." RM},
	{"libcuda.so.1", "/other/lib/libcuda.so." RM}, /* a later entry wins */
	{"libnvidia-mlx.so.1", "/host/lib/libnvidia-mlx.so." RM},    /* not a stem */
};

static struct gpu_plan plan_for(unsigned caps)
{
	struct gpu_plan p;

	memset(&p, 0, sizeof(p));
	p.libdir = strdup(DIR);
	gpu_plan_libs(&p, cands, ARRAY_SIZE(cands), RM, caps, DIR);
	return p;
}

static bool has_item(const struct gpu_plan *p, const char *src)
{
	for (size_t i = 0; i < p->n_items; i++) {
		if (!strcmp(p->items[i].src, src))
			return true;
	}
	return false;
}

static bool has_link(const struct gpu_plan *p, const char *name, const char *target)
{
	for (size_t i = 0; i < p->n_links; i++) {
		if (!strcmp(p->links[i].name, name) && !strcmp(p->links[i].target, target))
			return true;
	}
	return false;
}

TEST(compute_libraries)
{
	struct gpu_plan p = plan_for(GPU_CAP_COMPUTE);

	ASSERT_TRUE(has_item(&p, "/other/lib/libcuda.so." RM));
	ASSERT_TRUE(!has_item(&p, "/host/lib/libcuda.so." RM));
	ASSERT_TRUE(has_item(&p, "/host/lib/libcudadebugger.so." RM));
	ASSERT_TRUE(!has_item(&p, "/host/lib/libnvidia-ml.so." RM));
	ASSERT_TRUE(!has_item(&p, "/host/lib/libnvcuvid.so." RM));
	ASSERT_STREQ(p.items[0].dst, DIR "/libcuda.so." RM);
	ASSERT_TRUE(has_link(&p, "libcuda.so.1", "libcuda.so." RM));
	ASSERT_TRUE(has_link(&p, "libcuda.so", "libcuda.so.1"));
	ASSERT_EQ(p.n_items, 2);
	gpu_plan_done(&p);
}

TEST(utility_video_graphics_ngx)
{
	struct gpu_plan p = plan_for(GPU_CAP_UTILITY);

	ASSERT_EQ(p.n_items, 1);
	ASSERT_TRUE(has_item(&p, "/host/lib/libnvidia-ml.so." RM));
	gpu_plan_done(&p);
	/* video pulls the compute libraries; the stale encoder stays out */
	p = plan_for(GPU_CAP_VIDEO);
	ASSERT_TRUE(has_item(&p, "/host/lib/libnvcuvid.so." RM));
	ASSERT_TRUE(has_item(&p, "/other/lib/libcuda.so." RM));
	ASSERT_TRUE(has_link(&p, "libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1"));
	ASSERT_TRUE(!has_item(&p, "/host/lib/libnvidia-encode.so.545.23.08"));
	ASSERT_TRUE(!has_item(&p, "/host/lib/libnvidia-encode.so.550.54.1"));
	ASSERT_EQ(p.warnings.n, 2);
	gpu_plan_done(&p);
	p = plan_for(GPU_CAP_DISPLAY);
	ASSERT_EQ(p.n_items, 1);
	ASSERT_TRUE(has_link(&p, "libGLX_indirect.so.0", "libGLX_nvidia.so." RM));
	gpu_plan_done(&p);
	p = plan_for(GPU_CAP_NGX);
	ASSERT_EQ(p.n_items, 1);
	ASSERT_TRUE(has_item(&p, "/host/lib/libnvidia-ngx.so." RM));
	gpu_plan_done(&p);
}

TEST(stems_and_binaries)
{
	const char *bins[16];

	ASSERT_TRUE(gpu_lib_wanted("libcuda.so", GPU_CAP_COMPUTE));
	ASSERT_TRUE(gpu_lib_wanted("libcuda.so.1", GPU_CAP_COMPUTE));
	ASSERT_TRUE(!gpu_lib_wanted("libcuda.so.1", GPU_CAP_UTILITY));
	ASSERT_TRUE(!gpu_lib_wanted("libcudart.so.12", GPU_CAP_ALL));
	ASSERT_TRUE(!gpu_lib_wanted("libnvidia-gtk3.so." RM, GPU_CAP_ALL));
	ASSERT_EQ(gpu_bins_wanted(GPU_CAP_UTILITY, bins, 16), 4);
	ASSERT_STREQ(bins[0], "nvidia-smi");
	ASSERT_EQ(gpu_bins_wanted(GPU_CAP_VIDEO, bins, 16), 0);
	ASSERT_EQ(gpu_bins_wanted(GPU_CAP_COMPUTE, bins, 16), 2);
	ASSERT_STREQ(gpu_libdir(true), "/usr/lib/x86_64-linux-gnu");
	ASSERT_STREQ(gpu_libdir(false), "/usr/lib64");
	ASSERT_STREQ(gpu_libdir32(true, true, true), "/usr/lib/i386-linux-gnu");
	ASSERT_STREQ(gpu_libdir32(false, true, true), "/usr/lib32");
	ASSERT_STREQ(gpu_libdir32(false, false, true), "/usr/lib");
	ASSERT_STREQ(gpu_libdir32(false, false, false), "/usr/lib32");
}

static struct gpu_inventory two_gpus(void)
{
	static struct gpu_info g[2];
	struct error err = ERROR_INIT;
	struct gpu_inventory inv = {RM, g, 2, 195, 508, -1, -1, false, {0}};

	ASSERT_OK(gpu_parse_information("Model: \t A100\nGPU UUID: \t GPU-1111\nDevice Minor: \t 1\n", "0000:3b:00.0",
					&g[0], &err),
		  &err);
	ASSERT_OK(gpu_parse_information("GPU UUID: GPU-aaaa\nDevice Minor: 0\n", "0000:86:00.0", &g[1], &err), &err);
	/* Index 1 is in MIG mode with two MIG devices (as NVML reports them). */
	g[1].mig_enabled = true;
	g[1].n_mig = 2;
	g[1].mig[0] = (struct gpu_mig){"MIG-aaaa-0", 0, 1, 0};
	g[1].mig[1] = (struct gpu_mig){"MIG-aaaa-1", 1, 2, 0};
	return inv;
}

static const char *select_ids(const char *ids, bool all, char *buf, size_t len)
{
	struct gpu_inventory inv = two_gpus();
	struct gpu_request req = {true, all, STRV_INIT, GPU_CAP_COMPUTE, STRV_INIT, false, false, false, STRV_INIT, false};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *copy = strdup(ids);
	char *save = NULL;
	struct gpu_plan p;

	memset(&p, 0, sizeof(p));
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		strv_push(&req.ids, t);
	if (gpu_select(&req, &inv, &p, &err) < 0) {
		snprintf(buf, len, "error: %s", err.msg);
	} else {
		buf[0] = '\0';
		for (size_t i = 0; i < p.n_gpus; i++)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%u", i ? " " : "", inv.gpus[p.gpus[i]].minor);
		for (size_t i = 0; i < p.n_migs; i++)
			snprintf(buf + strlen(buf), len - strlen(buf), " gi%u/ci%u", p.migs[i].mig.gi, p.migs[i].mig.ci);
	}
	gpu_plan_done(&p);
	gpu_request_done(&req);
	return buf;
}

TEST(device_selection)
{
	char buf[512];

	ASSERT_STREQ(select_ids("0", false, buf, sizeof(buf)), "1");
	ASSERT_STREQ(select_ids("1,0,1", false, buf, sizeof(buf)), "0 1");
	ASSERT_STREQ(select_ids("gpu-AAAA", false, buf, sizeof(buf)), "0");
	ASSERT_STREQ(select_ids("3b:00.0", false, buf, sizeof(buf)), "1");
	ASSERT_STREQ(select_ids("0000:86:00.0", false, buf, sizeof(buf)), "0");
	ASSERT_STREQ(select_ids("", false, buf, sizeof(buf)), "");
	ASSERT_TRUE(strstr(select_ids("2", false, buf, sizeof(buf)), "'2': unknown device"));
	ASSERT_TRUE(strstr(select_ids("GPU-1111x", false, buf, sizeof(buf)), "unknown device"));
	/* MIG devices: by UUID (any case) or g:m; the parent is selected once. */
	ASSERT_STREQ(select_ids("1:1", false, buf, sizeof(buf)), "0 gi2/ci0");
	ASSERT_STREQ(select_ids("mig-AAAA-0,1:1,1", false, buf, sizeof(buf)), "0 gi1/ci0 gi2/ci0");
	ASSERT_STREQ(select_ids("0,1:0,1:0", false, buf, sizeof(buf)), "1 0 gi1/ci0");
	ASSERT_STREQ(select_ids("0:0", false, buf, sizeof(buf)), "error: device error: '0:0': GPU 0 is not in MIG mode");
	ASSERT_STREQ(select_ids("1:2", false, buf, sizeof(buf)), "error: device error: '1:2': unknown MIG device");
	ASSERT_STREQ(select_ids("MIG-bbbb", false, buf, sizeof(buf)), "error: device error: 'MIG-bbbb': unknown MIG device");
	ASSERT_STREQ(select_ids("", true, buf, sizeof(buf)), "1 0 gi1/ci0 gi2/ci0");
	ASSERT_TRUE(strstr(select_ids("-1", false, buf, sizeof(buf)), "unknown device"));
}

TEST(proc_parsers)
{
	struct error err = ERROR_INIT;
	struct gpu_info g;
	char rm[32], bus[32];
	int nv, uvm;

	gpu_parse_devices("Character devices:\n  1 mem\n195 nvidia-frontend\n508 nvidia-uvm\n\nBlock devices:\n"
			  "510 nvidia\n",
			  &nv, &uvm);
	ASSERT_EQ(nv, 195);
	ASSERT_EQ(uvm, 508);
	gpu_parse_devices("Character devices:\n195 nvidia\n\nBlock devices:\n508 nvidia-uvm\n", &nv, &uvm);
	ASSERT_EQ(nv, 195);
	ASSERT_EQ(uvm, -1);
	gpu_parse_devices("garbage", &nv, &uvm);
	ASSERT_EQ(nv, -1);

	ASSERT_OK(gpu_parse_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 2024\n"
				    "GCC version: gcc 12\n",
				    rm, sizeof(rm), &err),
		  &err);
	ASSERT_STREQ(rm, "550.54.14");
	ASSERT_OK(gpu_parse_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release\n", rm,
				    sizeof(rm), &err),
		  &err);
	ASSERT_FAILS(gpu_parse_version("garbage", rm, sizeof(rm), &err));
	ASSERT_FAILS(gpu_parse_version("NVRM version: NVIDIA UNIX Kernel Module  x", rm, sizeof(rm), &err));
	ASSERT_FAILS(gpu_parse_information("GPU UUID: GPU-1\n", "0000:3b:00.0", &g, &err));
	ASSERT_FAILS(gpu_parse_information("GPU UUID: GPU-1\nDevice Minor: 255\n", "0000:3b:00.0", &g, &err));
	ASSERT_FAILS(gpu_parse_information("GPU UUID: GPU-1\nDevice Minor: 1x\n", "0000:3b:00.0", &g, &err));
	ASSERT_FAILS(gpu_parse_information("GPU UUID: GPU-1\nDevice Minor: 1\n", "../x", &g, &err));
	ASSERT_EQ(gpu_normalise_busid("3B:00.0", bus, sizeof(bus)), 0);
	ASSERT_STREQ(bus, "00000000:3b:00.0");
	ASSERT_EQ(gpu_normalise_busid("0001:3b:1f.7", bus, sizeof(bus)), 0);
	ASSERT_STREQ(bus, "00000001:3b:1f.7");
	ASSERT_EQ(gpu_normalise_busid("3b:00", bus, sizeof(bus)), -1);
	ASSERT_EQ(gpu_normalise_busid("0:100:00.0", bus, sizeof(bus)), -1);
}

TEST(requirements_per_gpu_and_without)
{
	struct gpu_inventory inv = two_gpus();
	struct gpu_request req = {true, false, STRV_INIT, GPU_CAP_COMPUTE, STRV_INIT, false, false, false, STRV_INIT, false};
	struct error err = ERROR_INIT;
	size_t sel[] = {0, 1};

	strv_push(&req.requires, "driver>=550,driver<551");
	ASSERT_OK(gpu_check_requires(&req, &inv, NULL, sel, 2, &err), &err);
	ASSERT_OK(gpu_check_requires(&req, &inv, NULL, sel, 0, &err), &err);
	strv_push(&req.requires, "driver>=560 arch>=9.0,driver>=999");
	ASSERT_FAILS(gpu_check_requires(&req, &inv, NULL, sel, 0, &err));
	ASSERT_STREQ(err.msg, "requirement error: unsatisfied condition: driver>=560");
	gpu_request_done(&req);
	strv_push(&req.requires, "cuda>=12.4 driver>=999");
	ASSERT_OK(gpu_check_requires(&req, &inv, "12.4", sel, 2, &err), &err);
	ASSERT_FAILS(gpu_check_requires(&req, &inv, "12.2", sel, 2, &err));
	ASSERT_TRUE(strstr(err.msg, "unsatisfied condition: cuda>=12.4, please update your driver") != NULL);
	req.disable_require = true;
	ASSERT_OK(gpu_check_requires(&req, &inv, NULL, sel, 2, &err), &err);
	gpu_request_done(&req);
	/* arch and brand: NVML's, per GPU; unknown (no NVML) holds. */
	req.disable_require = false;
	strv_push(&req.requires, "arch>=9.0 brand=geforce");
	ASSERT_OK(gpu_check_requires(&req, &inv, NULL, sel, 2, &err), &err);
	strcpy(inv.gpus[1].arch, "9.0");
	strcpy(inv.gpus[0].arch, "8.6");
	strcpy(inv.gpus[0].brand, "GeForce");
	inv.gpus[0].nvml = inv.gpus[1].nvml = true;
	ASSERT_OK(gpu_check_requires(&req, &inv, NULL, sel, 2, &err), &err);
	strcpy(inv.gpus[0].brand, "Tesla");
	ASSERT_FAILS(gpu_check_requires(&req, &inv, NULL, sel, 2, &err));
	ASSERT_STREQ(err.msg, "requirement error: GPU 0 (00000000:3b:00.0, Tesla, arch 8.6): unsatisfied condition: "
			      "arch>=9.0");
	gpu_request_done(&req);
}

TEST(params_rewrite)
{
	_cleanup_free_ char *a = gpu_params_rewrite("Debug: 1\nModifyDeviceFiles: 1\nDeviceFileMode: 438\n");
	_cleanup_free_ char *b = gpu_params_rewrite("ModifyDeviceFiles: 1");
	_cleanup_free_ char *c = gpu_params_rewrite("XModifyDeviceFiles: 1\n");

	ASSERT_STREQ(a, "Debug: 1\nModifyDeviceFiles: 0\nDeviceFileMode: 438\n");
	ASSERT_STREQ(b, "ModifyDeviceFiles: 0");
	ASSERT_STREQ(c, "XModifyDeviceFiles: 1\n");
}

TEST(cuda_compat_versions)
{
	ASSERT_TRUE(gpu_compat_newer("libcuda.so.560.35.03", RM));
	ASSERT_TRUE(gpu_compat_newer("libcuda.so.1000.1", RM)); /* numeric, not a string compare */
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so.550.90.07", RM)); /* same major */
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so.535.1", RM));
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so.1", RM));
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so", RM));
	ASSERT_TRUE(!gpu_compat_newer("libnvidia-ptxjitcompiler.so.560.35.03", RM));
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so.x560.1", RM));
	ASSERT_TRUE(!gpu_compat_newer("libcuda.so.99999999999999999999999.1", RM));
}

TEST(cuda_version_string)
{
	char buf[16];

	gpu_cuda_version_str(12040, buf, sizeof(buf));
	ASSERT_STREQ(buf, "12.4");
	gpu_cuda_version_str(11080, buf, sizeof(buf));
	ASSERT_STREQ(buf, "11.8");
	gpu_cuda_version_str(10010, buf, sizeof(buf));
	ASSERT_STREQ(buf, "10.1");
}

TEST(app_profile_text)
{
	_cleanup_free_ char *t = gpu_app_profile(0x5);

	ASSERT_TRUE(strstr(t, "[\"EGLVisibleDGPUDevices\", 0x5]") != NULL);
	ASSERT_TRUE(strstr(t, "\"profile\": \"_capsa_container_\"") != NULL);
}

TAP_MAIN(T(app_profile_text), T(cuda_version_string), T(cuda_compat_versions), T(params_rewrite), T(compute_libraries), T(utility_video_graphics_ngx), T(stems_and_binaries), T(device_selection),
	 T(proc_parsers), T(requirements_per_gpu_and_without))
