/* SPDX-License-Identifier: Apache-2.0 */
/* 98-nvidia: NVIDIA GPUs injected natively (enroot's hook runs
 * nvidia-container-cli instead). Only when the container asks for it:
 * without NVIDIA_VISIBLE_DEVICES the start path does no GPU work at all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/appprofile.h"
#include "gpu/driver.h"
#include "gpu/inject.h"
#include "gpu/nvml.h"
#include "gpu/procmask.h"
#include "gpu/slurmalloc.h"
#include "runtime/cdi_hooks.h"
#include "runtime/hooks.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* "all" means the GPUs this process may open (under Slurm: its allocation);
 * the others are dropped, with a warning naming why. */
static void keep_openable(struct start_ctx *ctx, const char *dev_root, struct gpu_inventory *inv)
{
	size_t kept = 0;

	for (size_t i = 0; i < inv->n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/nvidia%u", dev_root, inv->gpus[i].minor);
		struct error err = ERROR_INIT;
		int fd = -1;

		if (gpu_open_device(path, inv->major_nvidia, &fd, &err) < 0) {
			if (ctx->opts->warn)
				ctx->opts->warn(err.msg);
			continue;
		}
		close(fd);
		inv->gpus[kept++] = inv->gpus[i];
	}
	inv->n = kept;
}

/* CUDA images ask for every GPU themselves (NVIDIA_VISIBLE_DEVICES=all in
 * their Env): on a node without the driver they still start, CPU-only, with
 * a warning. A request from the caller's environment stays an error. */
static int no_driver(struct start_ctx *ctx, struct error *err)
{
	if (err->code != ENOENT || gpu_env_get(ctx->host_env.v, NULL, "NVIDIA_VISIBLE_DEVICES") != NULL)
		return -1;
	if (ctx->opts->warn)
		ctx->opts->warn("the image asks for NVIDIA GPUs but no NVIDIA driver is loaded on this host: "
				"starting without GPUs");
	error_clear(err);
	return 0;
}

static int inject(struct start_ctx *ctx, const struct gpu_request *req, struct error *err)
{
	_cleanup_free_ char *ldcache = NULL;
	struct gpu_inventory inv = GPU_INVENTORY_INIT;
	struct gpu_plan plan;
	struct gpu_host host;
	struct gpu_inject_ctx ic = {ctx->rootfd, ctx->userns, ctx->opts->warn};
	struct gpu_slurm_alloc alloc;
	int r;

	if (gpu_slurm_alloc_parse(ctx->host_env.v, &alloc, err) < 0)
		return -1;
	gpu_host_from_config(ctx->cfg, &host, &ldcache);
	if (gpu_inventory_for(&host, req, &inv, err) < 0)
		return no_driver(ctx, err);
	if (req->all) {
		gpu_slurm_keep_allocated(&alloc, &inv);
		keep_openable(ctx, host.dev_root, &inv);
	}
	r = gpu_make_plan(&host, req, &inv, ctx->rootfd, &plan, err);
	if (r == 0) {
		r = gpu_slurm_check_plan(&alloc, &inv, &plan, err);
		if (r == 0)
			r = gpu_inject(&ic, &plan, err);
		if (r == 0)
			r = gpu_mask_proc(&ic, host.proc_root, &inv, &plan, err);
		if (r == 0)
			r = gpu_write_app_profile(&ic, &inv, &plan, req->caps, err);
		gpu_plan_done(&plan);
	}
	gpu_inventory_done(&inv);
	return r;
}

/* NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0,...: the devices come from the
 * host's CDI specs (nvidia-ctk cdi generate), as with --device. 1 when the
 * value holds no CDI name. */
static int cdi_request(struct start_ctx *ctx, struct error *err)
{
	const char *value = gpu_env_get(ctx->host_env.v, ctx->env.v, "NVIDIA_VISIBLE_DEVICES");
	_cleanup_free_ char *copy = xstrdup(value ? value : "");
	struct strv names = STRV_INIT, other = STRV_INIT;
	char *save = NULL;
	int r = 1;

	for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
		strv_push(cdi_is_qualified_name(t) ? &names : &other, t);
	if (names.n > 0 && other.n > 0)
		r = error_set(err, EINVAL,
			      "NVIDIA_VISIBLE_DEVICES mixes CDI names ('%s') with other device ids ('%s'): use one form",
			      names.v[0], other.v[0]);
	else if (names.n > 0)
		r = cdi_apply(ctx, &names, err);
	strv_free(&names);
	strv_free(&other);
	return r;
}

int hook_nvidia(struct start_ctx *ctx, struct error *err)
{
	struct gpu_request req;
	int r;

	if (!gpu_requested(ctx->host_env.v, ctx->env.v))
		return 0;
	r = cdi_request(ctx, err);
	if (r <= 0)
		return r;
	if (gpu_request_parse(ctx->host_env.v, ctx->env.v, &req, err) < 0)
		return -1;
	r = req.active ? inject(ctx, &req, err) : 0;
	gpu_request_done(&req);
	return r;
}
