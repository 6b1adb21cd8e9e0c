/* SPDX-License-Identifier: Apache-2.0 */
/* MELLANOX_VISIBLE_DEVICES parsing and the RDMA plan from a sysfs tree. */
#include "gpu/rdma.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *value; /* NULL: unset */
	int ok;
	bool active, all;
	const char *idx; /* decimal digits, one per index */
} rows[] = {
	{NULL, 1, false, false, ""},
	{"", 1, false, false, ""},
	{" , ", 1, false, false, ""},
	{"void", 1, false, false, ""},
	{"none", 1, false, false, ""},
	{"0,none", 1, false, false, ""},
	{"all", 1, true, true, ""},
	{"1,all", 1, true, true, ""},
	{"0", 1, true, false, "0"},
	{" 2 , 0,2,,", 1, true, false, "20"},
	{"mlx5_0", 0, false, false, ""},
	{"-1", 0, false, false, ""},
	{"1 2", 0, false, false, ""},
	{"64", 0, false, false, ""},
	{"99999999999999999999999", 0, false, false, ""},
	{"ALL", 0, false, false, ""},
};

TEST(request_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rdma_request r;
		struct error err = ERROR_INIT;
		char got[RDMA_MAX_DEVICES + 1] = "";
		int ret = rdma_request_parse(rows[i].value, &r, &err);

		if ((ret == 0) != rows[i].ok)
			TAP_FAIL("row %zu '%s': %d (%s)", i, rows[i].value, ret, err.msg);
		if (ret < 0) {
			if (!strstr(err.msg, "Unknown MELLANOX device id"))
				TAP_FAIL("row %zu: %s", i, err.msg);
			continue;
		}
		for (size_t k = 0; k < r.n; k++)
			got[k] = (char)('0' + r.idx[k]);
		if (r.active != rows[i].active || r.all != rows[i].all || strcmp(got, rows[i].idx))
			TAP_FAIL("row %zu '%s': active %d all %d idx '%s'", i, rows[i].value, r.active, r.all, got);
	}
}

static void put(const char *root, const char *path, const char *text)
{
	char full[512];
	FILE *f;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	for (char *s = strchr(full + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(full, 0755);
		*s = '/';
	}
	if (text && (f = fopen(full, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	} else if (!text) {
		mkdir(full, 0755);
	}
}

static char *joined(const struct strv *v)
{
	static char buf[512];

	buf[0] = '\0';
	for (size_t i = 0; i < v->n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", v->v[i]);
	return buf;
}

TEST(plan_from_sysfs)
{
	char root[] = "/tmp/capsa-rdma-unit.XXXXXX";
	struct rdma_request req;
	struct rdma_plan p;
	struct error err = ERROR_INIT;
	char cmd[600];

	if (!mkdtemp(root))
		TAP_FAIL("mkdtemp");
	put(root, "class/infiniband/mlx5_1", NULL);
	put(root, "class/infiniband/mlx5_0", NULL);
	put(root, "class/infiniband_verbs/abi_version", "6\n");
	put(root, "class/infiniband_verbs/uverbs0/ibdev", "mlx5_1\n");
	put(root, "class/infiniband_verbs/uverbs1/ibdev", "mlx5_0\n");
	put(root, "class/infiniband_mad/umad0/ibdev", "mlx5_1\n");
	put(root, "class/infiniband_mad/issm0/ibdev", "mlx5_1\n");

	ASSERT_OK(rdma_request_parse("1", &req, &err), &err);
	ASSERT_OK(rdma_make_plan(root, &req, false, &p, &err), &err);
	ASSERT_STREQ(joined(&p.ibdevs), "mlx5_1");
	ASSERT_STREQ(joined(&p.nodes), "uverbs0");
	ASSERT_STREQ(joined(&p.links), "infiniband/mlx5_1 infiniband_verbs/uverbs0");
	rdma_plan_done(&p);

	ASSERT_OK(rdma_make_plan(root, &req, true, &p, &err), &err);
	ASSERT_STREQ(joined(&p.nodes), "uverbs0 umad0 issm0");
	rdma_plan_done(&p);

	ASSERT_OK(rdma_request_parse("all", &req, &err), &err);
	ASSERT_OK(rdma_make_plan(root, &req, false, &p, &err), &err);
	ASSERT_STREQ(joined(&p.ibdevs), "mlx5_0 mlx5_1");
	ASSERT_STREQ(joined(&p.nodes), "uverbs0 uverbs1");
	rdma_plan_done(&p);

	ASSERT_OK(rdma_request_parse("2", &req, &err), &err);
	ASSERT_FAILS(rdma_make_plan(root, &req, false, &p, &err));
	if (!strstr(err.msg, "Unknown MELLANOX device id: 2"))
		TAP_FAIL("message: %s", err.msg);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		TAP_FAIL("cleanup");
}

TAP_MAIN(T(request_table), T(plan_from_sysfs))
