/* SPDX-License-Identifier: Apache-2.0 */
/* The NVML provider's pure parts: brand names, and which requests need
 * NVML at all (a start without them never loads it). */
#include <string.h>

#include "gpu/nvml.h"
#include "tap.h"

TEST(brand_names)
{
	ASSERT_STREQ(gpu_nvml_brand_name(0), "Unknown");
	ASSERT_STREQ(gpu_nvml_brand_name(1), "Quadro");
	ASSERT_STREQ(gpu_nvml_brand_name(2), "Tesla");
	ASSERT_STREQ(gpu_nvml_brand_name(3), "NVS");
	ASSERT_STREQ(gpu_nvml_brand_name(4), "GRID");
	ASSERT_STREQ(gpu_nvml_brand_name(5), "GeForce");
	ASSERT_STREQ(gpu_nvml_brand_name(6), "TITAN");
	ASSERT_STREQ(gpu_nvml_brand_name(12), "QuadroRTX");
	ASSERT_STREQ(gpu_nvml_brand_name(16), "TitanRTX");
	ASSERT_STREQ(gpu_nvml_brand_name(17), "Unknown");
	ASSERT_STREQ(gpu_nvml_brand_name(-1), "Unknown");
}

static const char *needed(const char *ids, const char *require, bool disable, char *buf, size_t len)
{
	struct gpu_request r;
	const char *why;

	memset(&r, 0, sizeof(r));
	r.active = true;
	r.all = !strcmp(ids, "all");
	if (!r.all && *ids)
		strv_push(&r.ids, ids);
	if (require)
		strv_push(&r.requires, require);
	r.disable_require = disable;
	why = gpu_nvml_needed(&r, buf, len);
	gpu_request_done(&r);
	return why ? why : "-";
}

TEST(when_nvml_is_needed)
{
	char buf[256];

	ASSERT_STREQ(needed("all", NULL, false, buf, sizeof(buf)), "-");
	ASSERT_STREQ(needed("0", "cuda>=12.0 driver>=550", false, buf, sizeof(buf)), "-");
	ASSERT_STREQ(needed("0000:3b:00.0", NULL, false, buf, sizeof(buf)), "-");
	ASSERT_STREQ(needed("1:0", NULL, false, buf, sizeof(buf)), "the MIG device '1:0' (NVIDIA_VISIBLE_DEVICES)");
	ASSERT_STREQ(needed("mig-abc", NULL, false, buf, sizeof(buf)),
		     "the MIG device 'mig-abc' (NVIDIA_VISIBLE_DEVICES)");
	/* Requirements ask later, when their outcome hangs on arch or brand
	 * (test_gpu_request's require_needs_device). */
	ASSERT_STREQ(needed("all", "cuda>=12.0 brand=tesla", false, buf, sizeof(buf)), "-");
	ASSERT_STREQ(needed("all", "ARCH>=8.0", false, buf, sizeof(buf)), "-");
}

TEST(mig_access_needs_nvml)
{
	struct gpu_request r;
	char buf[64];

	memset(&r, 0, sizeof(r));
	r.active = r.all = true;
	r.mig_monitor = true;
	ASSERT_STREQ(gpu_nvml_needed(&r, buf, sizeof(buf)), "NVIDIA_MIG_MONITOR_DEVICES");
	r.mig_config = true;
	ASSERT_STREQ(gpu_nvml_needed(&r, buf, sizeof(buf)), "NVIDIA_MIG_CONFIG_DEVICES");
}

TAP_MAIN(T(brand_names), T(when_nvml_is_needed), T(mig_access_needs_nvml))
