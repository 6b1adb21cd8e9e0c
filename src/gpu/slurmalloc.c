/* SPDX-License-Identifier: Apache-2.0 */
#include "gpu/slurmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *env_lookup(char *const *env, const char *name)
{
	size_t len = strlen(name);
	const char *found = NULL;

	/* The last entry wins, as getenv() on a vector with duplicates. */
	for (char *const *e = env; e && *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			found = *e + len + 1;
	return found;
}

static int parse_minor(const char *s, const char **end, unsigned *ret)
{
	char *e;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno || v > GPU_SLURM_MAX_MINOR)
		return -1;
	*end = e;
	*ret = (unsigned)v;
	return 0;
}

/* One item: "N" or "N-M". */
static int parse_item(const char *s, const char **end, struct gpu_slurm_alloc *a)
{
	unsigned lo, hi;

	if (parse_minor(s, &s, &lo) < 0)
		return -1;
	hi = lo;
	if (*s == '-' && (parse_minor(s + 1, &s, &hi) < 0 || hi < lo))
		return -1;
	for (unsigned m = lo; m <= hi; m++)
		a->minor[m] = true;
	*end = s;
	return 0;
}

int gpu_slurm_alloc_parse(char *const *env, struct gpu_slurm_alloc *ret, struct error *err)
{
	const char *v;

	memset(ret, 0, sizeof(*ret));
	if (env_lookup(env, "SLURM_JOB_ID") == NULL)
		return 0;
	ret->var = "SLURM_STEP_GPUS";
	v = env_lookup(env, ret->var);
	if (v == NULL || *v == '\0') {
		ret->var = "SLURM_JOB_GPUS";
		v = env_lookup(env, ret->var);
	}
	/* "NoDevFiles": gres.conf names no device files, so nothing to narrow. */
	if (v == NULL || *v == '\0' || !strcmp(v, "NoDevFiles"))
		return 0;
	ret->value = v;
	for (const char *s = v;;) {
		if (parse_item(s, &s, ret) < 0)
			return error_set(err, EINVAL,
					 "%s='%s' is not a list of GPU indices (such as 0,2 or 0-3, each at most %d)",
					 ret->var, v, GPU_SLURM_MAX_MINOR);
		if (*s == '\0')
			break;
		if (*s++ != ',')
			return error_set(err, EINVAL, "%s='%s' is not a list of GPU indices (such as 0,2 or 0-3)",
					 ret->var, v);
	}
	ret->active = true;
	return 0;
}

void gpu_slurm_keep_allocated(const struct gpu_slurm_alloc *alloc, struct gpu_inventory *inv)
{
	size_t kept = 0;

	for (size_t i = 0; i < inv->n; i++)
		if (gpu_slurm_alloc_has(alloc, inv->gpus[i].minor))
			inv->gpus[kept++] = inv->gpus[i];
	inv->n = kept;
}

int gpu_slurm_check_plan(const struct gpu_slurm_alloc *alloc, const struct gpu_inventory *inv,
			 const struct gpu_plan *plan, struct error *err)
{
	for (size_t i = 0; i < plan->n_gpus; i++) {
		const struct gpu_info *g = &inv->gpus[plan->gpus[i]];

		if (!gpu_slurm_alloc_has(alloc, g->minor))
			return error_set(err, EPERM,
					 "NVIDIA_VISIBLE_DEVICES selects GPU %zu (%s, /dev/nvidia%u), which is not "
					 "allocated to this Slurm job (%s=%s): use NVIDIA_VISIBLE_DEVICES=all, or "
					 "ask Slurm for it (--gres=gpu:...)",
					 plan->gpus[i], g->uuid, g->minor, alloc->var, alloc->value);
	}
	return 0;
}
