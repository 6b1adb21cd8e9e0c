/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA_* request parsing (gpu.md §1) and the NVIDIA_REQUIRE_* DSL (§1.3). */
#include "gpu/request.h"
#include "gpu/require.h"
#include "tap.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include <stdarg.h>

/* -Wwrite-strings: build environments from literals. */
static char **mkenv(struct strv *v, ...)
{
	va_list ap;

	va_start(ap, v);
	for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
		strv_push(v, s);
	va_end(ap);
	strv_argv(v);
	return v->v;
}

static const struct {
	const char *dev;  /* NULL: unset */
	const char *caps; /* NULL: unset */
	bool active, all;
	const char *ids; /* joined with '|' */
	unsigned want_caps;
} dev_rows[] = {
	{NULL, NULL, 0, 0, "", 0},
	{"", NULL, 0, 0, "", 0},
	{"void", NULL, 0, 0, "", 0},
	{" , ", NULL, 0, 0, "", 0},
	{"none", NULL, 1, 0, "", GPU_CAP_UTILITY | GPU_CAP_COMPUTE},
	{"all", "", 1, 1, "", GPU_CAP_UTILITY | GPU_CAP_COMPUTE},
	{"ALL", "utility", 1, 1, "", GPU_CAP_UTILITY},
	{"0, 1 ,,0", "compute , video", 1, 0, "0|1", GPU_CAP_COMPUTE | GPU_CAP_VIDEO},
	{"1,all", "all", 1, 1, "", GPU_CAP_ALL},
	{"all,none", NULL, 1, 0, "", GPU_CAP_UTILITY | GPU_CAP_COMPUTE},
	{"none,void,all", NULL, 0, 0, "", 0},
	{"GPU-abc,00000000:3b:00.0", "graphics,display,ngx,compat32", 1, 0, "GPU-abc|00000000:3b:00.0",
	 GPU_CAP_GRAPHICS | GPU_CAP_DISPLAY | GPU_CAP_NGX | GPU_CAP_COMPAT32},
};

static void join(const struct strv *v, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			strncat(buf, "|", len - strlen(buf) - 1);
		strncat(buf, v->v[i], len - strlen(buf) - 1);
	}
}

TEST(visible_devices_and_caps_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(dev_rows); i++) {
		struct strv env = STRV_INIT;
		struct gpu_request r;
		struct error err = ERROR_INIT;
		char ids[256];

		if (dev_rows[i].dev)
			strv_pushf(&env, "NVIDIA_VISIBLE_DEVICES=%s", dev_rows[i].dev);
		if (dev_rows[i].caps)
			strv_pushf(&env, "NVIDIA_DRIVER_CAPABILITIES=%s", dev_rows[i].caps);
		ASSERT_OK(gpu_request_parse(NULL, env.v, &r, &err), &err);
		join(&r.ids, ids, sizeof(ids));
		if (r.active != dev_rows[i].active || r.all != dev_rows[i].all || strcmp(ids, dev_rows[i].ids) ||
		    (r.active && r.caps != dev_rows[i].want_caps))
			TAP_FAIL("row %zu '%s': active %d all %d ids '%s' caps %#x", i, dev_rows[i].dev, r.active, r.all,
				 ids, r.caps);
		gpu_request_done(&r);
		strv_free(&env);
	}
}

TEST(host_wins_over_image)
{
	struct strv h = STRV_INIT, i = STRV_INIT;
	char **host = mkenv(&h, "NVIDIA_VISIBLE_DEVICES=1", "NVIDIA_REQUIRE_CUDA=cuda>=12.0", NULL);
	char **image = mkenv(&i, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_REQUIRE_CUDA=cuda>=99",
			     "NVIDIA_REQUIRE_X=driver>=1", "NVIDIA_REQUIRE_JETPACK=csv-mounts=all",
			     "NVIDIA_VISIBLE_DEVICES=void", NULL);
	struct gpu_request r;
	struct error err = ERROR_INIT;

	ASSERT_OK(gpu_request_parse(host, image, &r, &err), &err);
	ASSERT_TRUE(r.active && !r.all);
	ASSERT_EQ(r.ids.n, 1);
	ASSERT_STREQ(r.ids.v[0], "1");
	ASSERT_EQ(r.requires.n, 2);
	ASSERT_STREQ(r.requires.v[0], "cuda>=12.0");
	ASSERT_STREQ(r.requires.v[1], "driver>=1");
	gpu_request_done(&r);
	/* The image alone: its last value wins. */
	ASSERT_OK(gpu_request_parse(NULL, image, &r, &err), &err);
	ASSERT_TRUE(!r.active);
	gpu_request_done(&r);
}

TEST(unknown_capability_is_an_error)
{
	struct strv e = STRV_INIT;
	char **env = mkenv(&e, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,gaming", NULL);
	struct gpu_request r;
	struct error err = ERROR_INIT;

	ASSERT_FAILS(gpu_request_parse(env, NULL, &r, &err));
	ASSERT_TRUE(strstr(err.msg, "'gaming'") && strstr(err.msg, "valid: compute"));
}

TEST(mig_access_only_all)
{
	struct strv a = STRV_INIT, b = STRV_INIT, c = STRV_INIT;
	char **cfg = mkenv(&a, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_MIG_CONFIG_DEVICES=ALL", NULL);
	char **bad = mkenv(&b, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_MIG_MONITOR_DEVICES=0,1", NULL);
	char **off = mkenv(&c, "NVIDIA_VISIBLE_DEVICES=void", "NVIDIA_MIG_MONITOR_DEVICES=x", NULL);
	struct gpu_request r;
	struct error err = ERROR_INIT;

	ASSERT_OK(gpu_request_parse(NULL, cfg, &r, &err), &err);
	ASSERT_TRUE(r.mig_config && !r.mig_monitor);
	gpu_request_done(&r);
	ASSERT_FAILS(gpu_request_parse(NULL, bad, &r, &err));
	ASSERT_STREQ(err.msg, "NVIDIA_MIG_MONITOR_DEVICES='0,1': only 'all' is supported");
	/* No GPU work: nothing to refuse. */
	ASSERT_OK(gpu_request_parse(NULL, off, &r, &err), &err);
	ASSERT_TRUE(!r.active);
	gpu_request_done(&r);
	strv_free(&a);
	strv_free(&b);
	strv_free(&c);
}

TEST(imex_channels)
{
	static const struct {
		const char *v, *want; /* want: channels joined by ' ', "all", or "!" + error */
	} t[] = {
		{"", ""},
		{"0", "0"},
		{" 3, 1 ,3", "3 1"},
		{"all", "all"},
		{"1,all", "all"},
		{"x", "!NVIDIA_IMEX_CHANNELS: 'x' is not a channel number (0-65535) or 'all'"},
		{"-1", "!NVIDIA_IMEX_CHANNELS: '-1' is not a channel number (0-65535) or 'all'"},
		{"65536", "!NVIDIA_IMEX_CHANNELS: '65536' is not a channel number (0-65535) or 'all'"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct strv e = STRV_INIT;
		_cleanup_free_ char *var = xasprintf("NVIDIA_IMEX_CHANNELS=%s", t[i].v);
		char **env = mkenv(&e, "NVIDIA_VISIBLE_DEVICES=all", var, NULL);
		struct gpu_request r;
		struct error err = ERROR_INIT;
		char got[256] = "";

		if (gpu_request_parse(env, NULL, &r, &err) < 0) {
			snprintf(got, sizeof(got), "!%s", err.msg);
		} else {
			for (size_t k = 0; k < r.imex.n; k++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "", r.imex.v[k]);
			if (r.imex_all)
				snprintf(got, sizeof(got), "all");
			gpu_request_done(&r);
		}
		ASSERT_STREQ(got, t[i].want);
		strv_free(&e);
	}
}

TEST(disable_require_go_bool)
{
	static const struct {
		const char *v;
		bool want;
	} rows[] = {{"1", 1}, {"t", 1}, {"TRUE", 1}, {"True", 1}, {"false", 0}, {"yes", 0}, {"", 0}, {"0", 0}};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct strv env = STRV_INIT;
		struct gpu_request r;
		struct error err = ERROR_INIT;

		strv_push(&env, "NVIDIA_VISIBLE_DEVICES=none");
		strv_pushf(&env, "NVIDIA_DISABLE_REQUIRE=%s", rows[i].v);
		ASSERT_OK(gpu_request_parse(env.v, NULL, &r, &err), &err);
		if (r.disable_require != rows[i].want)
			TAP_FAIL("NVIDIA_DISABLE_REQUIRE='%s' gave %d", rows[i].v, r.disable_require);
		gpu_request_done(&r);
		strv_free(&env);
	}
}

TEST(legacy_cuda_image)
{
	struct strv a = STRV_INIT, b = STRV_INIT, c = STRV_INIT;
	char **legacy = mkenv(&a, "CUDA_VERSION=10.2.89", NULL);
	char **modern = mkenv(&b, "CUDA_VERSION=12.4.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.4", NULL);
	char **bad = mkenv(&c, "CUDA_VERSION=ten", NULL);
	struct gpu_request r;
	struct error err = ERROR_INIT;

	ASSERT_OK(gpu_request_parse(NULL, legacy, &r, &err), &err);
	ASSERT_TRUE(r.active && r.all);
	ASSERT_TRUE(!gpu_requested(NULL, legacy)); /* the start path's gate, as enroot */
	ASSERT_EQ(r.caps, GPU_CAP_ALL);
	ASSERT_EQ(r.requires.n, 1);
	ASSERT_STREQ(r.requires.v[0], "cuda>=10.2");
	gpu_request_done(&r);
	ASSERT_OK(gpu_request_parse(NULL, modern, &r, &err), &err);
	ASSERT_TRUE(!r.active);
	gpu_request_done(&r);
	ASSERT_FAILS(gpu_request_parse(NULL, bad, &r, &err));
	ASSERT_TRUE(strstr(err.msg, "CUDA_VERSION 'ten'") != NULL);
}

static const struct {
	const char *expr;
	int want; /* 1 ok, 0 unsatisfied, -1 invalid */
} req_rows[] = {
	{"cuda>=12.4", 1},
	{"cuda>=12.4.0", 1},
	{"cuda>12.4", 0},
	{"cuda=12.4.0.0", 1},
	{"cuda<12.4", 0},
	{"cuda<=12.4", 1},
	{"cuda!=12.4", 0},
	{"driver>=550,driver<551", 1},
	{"driver>=535,driver<536", 0},
	{"cuda>=13.0 driver>=550", 1},
	{"cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=535,driver<536", 1},
	{"brand=TESLA", 1},
	{"brand!=tesla", 0},
	{"arch>=8.0", 1},
	{"arch>=9.0", 0},
	{"cuda==12.4", -1},
	{"brand>tesla", -1},
	{"cuda>=12.x", -1},
	{"gpu>=1", -1},
	{"cuda>=", -1},
	{"cuda>=12.4,", -1},
	{"   ", -1},
	{"cuda>=12..4", -1},
};

TEST(require_dsl_table)
{
	struct gpu_require_ctx c = {"12.4", "550.54.14", "8.0", "Tesla", false};

	for (size_t i = 0; i < ARRAY_SIZE(req_rows); i++) {
		struct error err = ERROR_INIT;
		int r = gpu_require_check(req_rows[i].expr, &c, &err);

		if (r != req_rows[i].want)
			TAP_FAIL("'%s': got %d (%s), want %d", req_rows[i].expr, r, err.msg, req_rows[i].want);
	}
}

TEST(require_messages_and_unknown_values)
{
	struct gpu_require_ctx known = {"11.4", "470.1", NULL, NULL, false};
	struct gpu_require_ctx unknown = {NULL, NULL, NULL, NULL, false};
	struct error err = ERROR_INIT;

	ASSERT_EQ(gpu_require_check("cuda>=12.4 brand=tesla,driver>=535", &known, &err), 0);
	ASSERT_STREQ(err.msg, "unsatisfied condition: cuda>=12.4, please update your driver to a newer version, "
			      "or use an earlier cuda container");
	ASSERT_EQ(gpu_require_check("driver>=535", &known, &err), 0);
	ASSERT_STREQ(err.msg, "unsatisfied condition: driver>=535");
	/* No device (none) or no NVML: arch/brand/cuda cannot be held against the image. */
	ASSERT_EQ(gpu_require_check("arch>=9.0,brand=quadro,cuda>=13", &known, &err), 0);
	ASSERT_EQ(gpu_require_check("arch>=9.0,brand=quadro,cuda>=13,driver>=999", &unknown, &err), 1);
	ASSERT_EQ(gpu_require_check("cuda=>12", &known, &err), -1);
	ASSERT_TRUE(strstr(err.msg, "invalid expression") != NULL);
}

/* CUDA images' NVIDIA_REQUIRE_CUDA needs NVML's brand only when the
 * driver is too old for its first term. */
TEST(require_needs_device)
{
	const char *cuda_image = "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=535,driver<536";
	struct gpu_require_ctx new_driver = {"12.4", "550.54.14", NULL, NULL, false};
	struct gpu_require_ctx old_driver = {"12.2", "535.104.05", NULL, NULL, false};
	struct gpu_require_ctx older_driver = {"11.4", "470.1", NULL, NULL, false};
	struct gpu_require_ctx other_branch = {"12.0", "525.1", NULL, NULL, false};

	ASSERT_TRUE(!gpu_require_needs_device(cuda_image, &new_driver));
	ASSERT_TRUE(gpu_require_needs_device(cuda_image, &old_driver));
	ASSERT_TRUE(gpu_require_needs_device(cuda_image, &older_driver));
	/* No term can hold whatever the brand: decided without NVML. */
	ASSERT_TRUE(!gpu_require_needs_device(cuda_image, &other_branch));
	ASSERT_TRUE(gpu_require_needs_device("arch>=8.0", &new_driver));
	ASSERT_TRUE(!gpu_require_needs_device("driver>=500 arch>=8.0", &new_driver));
	ASSERT_TRUE(!gpu_require_needs_device("driver>=999,brand=tesla", &new_driver));
	ASSERT_TRUE(!gpu_require_needs_device("arch=>8", &new_driver));
	/* Unknown arch and brand fail when asked to. */
	new_driver.unknown_device_fails = true;
	struct error err = ERROR_INIT;
	ASSERT_EQ(gpu_require_check("brand!=geforce", &new_driver, &err), 0);
	ASSERT_EQ(gpu_require_check("cuda>=12.0", &new_driver, &err), 1);
}

TEST(version_compare)
{
	int c;

	ASSERT_OK(gpu_version_cmp("550.54.14", "550.54.9", &c), &(struct error){0});
	ASSERT_EQ(c, 1);
	ASSERT_OK(gpu_version_cmp("12.4", "12.4.0.0", &c), &(struct error){0});
	ASSERT_EQ(c, 0);
	ASSERT_FAILS(gpu_version_cmp("1.2.3.4.5.6.7.8.9", "1", &c));
	ASSERT_FAILS(gpu_version_cmp("99999999999999999999999", "1", &c));
	ASSERT_FAILS(gpu_version_cmp(".1", "1", &c));
}

TAP_MAIN(T(require_needs_device), T(visible_devices_and_caps_table), T(host_wins_over_image), T(unknown_capability_is_an_error), T(mig_access_only_all), T(imex_channels),
	 T(disable_require_go_bool), T(legacy_cuda_image), T(require_dsl_table),
	 T(require_messages_and_unknown_values), T(version_compare))
