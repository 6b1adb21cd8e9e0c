/* SPDX-License-Identifier: Apache-2.0 */
/* The Slurm GPU allocation (SLURM_STEP_GPUS / SLURM_JOB_GPUS) that narrows
 * NVIDIA_VISIBLE_DEVICES=all. */
#include "gpu/slurmalloc.h"
#include "tap.h"

#include <string.h>

static const struct {
	const char *env[4]; /* -Wwrite-strings: copied into a char * vector */
	int ok;
	bool active;
	const char *var;
	const char *minors; /* '1' at each allocated minor, from 0 */
} rows[] = {
	{{NULL}, 1, false, NULL, ""},
	{{"SLURM_STEP_GPUS=1", NULL}, 1, false, NULL, ""}, /* not in a job */
	{{"SLURM_JOB_ID=7", NULL}, 1, false, NULL, ""},    /* a job without GPUs */
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=", NULL}, 1, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=NoDevFiles", NULL}, 1, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=1", NULL}, 1, true, "SLURM_STEP_GPUS", "01"},
	{{"SLURM_JOB_ID=7", "SLURM_JOB_GPUS=0,2", NULL}, 1, true, "SLURM_JOB_GPUS", "101"},
	{{"SLURM_JOB_ID=7", "SLURM_JOB_GPUS=0-3", "SLURM_STEP_GPUS=2", NULL}, 1, true, "SLURM_STEP_GPUS", "001"},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=", "SLURM_JOB_GPUS=1-2,4", NULL}, 1, true, "SLURM_JOB_GPUS", "01101"},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=0,", NULL}, 0, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=gpu:0", NULL}, 0, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=3-1", NULL}, 0, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=255", NULL}, 0, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=99999999999999999999", NULL}, 0, false, NULL, ""},
	{{"SLURM_JOB_ID=7", "SLURM_STEP_GPUS=-1", NULL}, 0, false, NULL, ""},
};

TEST(alloc_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *env[4] = {NULL};
		struct gpu_slurm_alloc a;
		struct error err = ERROR_INIT;
		int r;

		memcpy(env, rows[i].env, sizeof(env));
		r = gpu_slurm_alloc_parse(env, &a, &err);
		if ((r == 0) != rows[i].ok)
			TAP_FAIL("row %zu: r %d (%s)", i, r, err.msg);
		if (r < 0) {
			if (!strstr(err.msg, "SLURM_STEP_GPUS"))
				TAP_FAIL("row %zu: message does not name the variable: %s", i, err.msg);
			continue;
		}
		if (a.active != rows[i].active)
			TAP_FAIL("row %zu: active %d", i, a.active);
		if (rows[i].var)
			ASSERT_STREQ(a.var, rows[i].var);
		for (unsigned m = 0; m <= GPU_SLURM_MAX_MINOR; m++) {
			bool want = m < strlen(rows[i].minors) && rows[i].minors[m] == '1';

			if (a.active && a.minor[m] != want)
				TAP_FAIL("row %zu: minor %u is %d", i, m, a.minor[m]);
		}
	}
}

TEST(inactive_allows_every_minor)
{
	struct gpu_slurm_alloc a;
	struct error err = ERROR_INIT;
	char *env[] = {NULL};

	ASSERT_OK(gpu_slurm_alloc_parse(env, &a, &err), &err);
	if (!gpu_slurm_alloc_has(&a, 0) || !gpu_slurm_alloc_has(&a, 300))
		TAP_FAIL("inactive allocation refuses a minor");
}

TAP_MAIN(T(alloc_table), T(inactive_allows_every_minor))
