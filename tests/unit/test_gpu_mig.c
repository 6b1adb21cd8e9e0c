/* SPDX-License-Identifier: Apache-2.0 */
/* MIG: the capability minors' two sources, bounds and malformed lines. */
#include <string.h>

#include "gpu/mig.h"
#include "tap.h"

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

TAP_MAIN(T(access_file), T(mig_minors))
