/* SPDX-License-Identifier: Apache-2.0 */
/* MIG: the capability minors' two sources, bounds and malformed lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/mig.h"
#include "tap.h"
#include "util/cleanup.h"

TEST(access_file)
{
	unsigned m = 0;

	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: 12\nDeviceFileMode: 292\nDeviceFileModify: 1\n", &m), 0);
	ASSERT_EQ(m, 12u);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMode: 256\nDeviceFileMinor:\t7", &m), 0);
	ASSERT_EQ(m, 7u);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMode: 256\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: x1\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: 12x\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: -1\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: 1048576\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("DeviceFileMinor: 99999999999999999999\n", &m), -1);
	ASSERT_EQ(gpu_parse_cap_access("", &m), -1);
}

TEST(mig_minors)
{
	const char *list = "config 1\nmonitor 2\ngpu0/gi1/access 12\ngpu0/gi1/ci0/access 13\ngpu10/gi1/access 99\n"
			   "gpu1/gi1/access bad\n";
	unsigned m = 0;

	ASSERT_EQ(gpu_parse_mig_minors(list, "config", &m), 0);
	ASSERT_EQ(m, 1u);
	ASSERT_EQ(gpu_parse_mig_minors(list, "monitor", &m), 0);
	ASSERT_EQ(m, 2u);
	ASSERT_EQ(gpu_parse_mig_minors(list, "gpu0/gi1/access", &m), 0);
	ASSERT_EQ(m, 12u);
	ASSERT_EQ(gpu_parse_mig_minors(list, "gpu0/gi1/ci0/access", &m), 0);
	ASSERT_EQ(m, 13u);
	/* a prefix of another key does not match it */
	ASSERT_EQ(gpu_parse_mig_minors(list, "gpu1/gi1", &m), -1);
	ASSERT_EQ(gpu_parse_mig_minors(list, "gpu1/gi1/access", &m), -1);
	ASSERT_EQ(gpu_parse_mig_minors(list, "gpu0/gi2/access", &m), -1);
	ASSERT_EQ(gpu_parse_mig_minors("", "config", &m), -1);
}

/* The driver's instances under a proc root, in numeric gi, ci order. */
TEST(scan_instances)
{
	char root[] = "/tmp/capsa-migscan.XXXXXX";
	static const char *const dirs[] = {"gi10/ci1", "gi2/ci0", "gi1/ci0", "gi1/ci3", "gi2/cix", "gix1/ci0", "gi3"};
	struct gpu_mig m[GPU_MAX_MIG];
	char cmd[256];
	unsigned n;

	ASSERT_TRUE(mkdtemp(root) != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/driver/nvidia/capabilities/gpu3/mig/%s", root, dirs[i]);
		ASSERT_EQ(system(cmd), 0);
	}
	n = gpu_mig_scan(root, 3, m, GPU_MAX_MIG);
	ASSERT_EQ(n, 4u);
	ASSERT_TRUE(m[0].gi == 1 && m[0].ci == 0 && m[0].index == 0 && m[0].uuid[0] == '\0');
	ASSERT_TRUE(m[1].gi == 1 && m[1].ci == 3 && m[1].index == 1);
	ASSERT_TRUE(m[2].gi == 2 && m[2].ci == 0);
	ASSERT_TRUE(m[3].gi == 10 && m[3].ci == 1);
	ASSERT_EQ(gpu_mig_scan(root, 3, m, 2), 2u);
	ASSERT_EQ(gpu_mig_scan(root, 0, m, GPU_MAX_MIG), 0u);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ASSERT_EQ(system(cmd), 0);
}

TAP_MAIN(T(access_file), T(mig_minors), T(scan_instances))
