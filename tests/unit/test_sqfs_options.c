/* SPDX-License-Identifier: Apache-2.0 */
#include "image/squashfs/sqfs_options.h"
#include "tap.h"

TEST(enroot_defaults_and_common_forms)
{
	struct sqfs_pack_opts o = {0};
	struct error err = ERROR_INIT;
	char *st = NULL;

	ASSERT_OK(sqfs_parse_options("-comp zstd -Xcompression-level 3", &o, &st, &err), &err);
	ASSERT_STREQ(o.compressor, "zstd");
	ASSERT_EQ(o.level, 3);
	free(st);
	o = (struct sqfs_pack_opts){0};
	ASSERT_OK(sqfs_parse_options("-comp gzip -noD -exit-on-error -b 1M", &o, &st, &err), &err);
	ASSERT_STREQ(o.compressor, "gzip");
	ASSERT_EQ(o.block_size, 1 << 20);
	ASSERT_TRUE(o.no_data_compression);
	free(st);
	o = (struct sqfs_pack_opts){0};
	ASSERT_OK(sqfs_parse_options("-comp zstd", &o, &st, &err), &err);
	ASSERT_TRUE(!o.no_data_compression);
	free(st);
	o = (struct sqfs_pack_opts){0};
	ASSERT_OK(sqfs_parse_options(NULL, &o, &st, &err), &err);
	ASSERT_STREQ(o.compressor, "zstd");
	free(st);
}

TEST(bad_values)
{
	struct sqfs_pack_opts o = {0};
	struct error err = ERROR_INIT;
	char *st = NULL;

	ASSERT_FAILS(sqfs_parse_options("-comp", &o, &st, &err));
	ASSERT_TRUE(strstr(err.msg, "-comp needs a value") != NULL);
	ASSERT_FAILS(sqfs_parse_options("-Xcompression-level abc", &o, &st, &err));
	ASSERT_FAILS(sqfs_parse_options("-b 99999999999", &o, &st, &err));
}

TAP_MAIN(T(enroot_defaults_and_common_forms), T(bad_values))
