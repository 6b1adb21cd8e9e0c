/* SPDX-License-Identifier: Apache-2.0 */
/* capsa gpu plan: what a start would inject, without starting (no
 * namespace, no mount, no device opened), as text or JSON (by hand: the
 * lean binary links no JSON library). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gpu/driver.h"
#include "gpu/nvml.h"
#include "gpu/slurmalloc.h"
#include "util/cleanup.h"

enum { GPU_OPT_JSON = 1 };

static const char gpu_usage[] =
	"Usage: capsa gpu plan [options] [--] [ROOTFS]\n"
	"\n"
	"Print the NVIDIA GPU injection plan for the NVIDIA_* variables of this\n"
	"environment, without starting a container. ROOTFS (a directory) decides\n"
	"the library directory; without it, Debian's layout is assumed. Device\n"
	"nodes are not opened: with 'all', a start also leaves out the GPUs this\n"
	"process cannot open.\n"
	"\n"
	" Options:\n"
	"   --json  Print JSON\n";

static const char *const kind_names[] = {"dev", "lib", "bin", "firmware", "ipc", "config", "cap", "devdir"};

static int gpu_option(int id, const char *value, void *arg)
{
	(void)value;
	if (id == GPU_OPT_JSON)
		*(bool *)arg = true;
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct gpu_plan *p, const struct gpu_inventory *inv, unsigned caps)
{
	char buf[128];

	printf("{\"active\": true, \"driver\": ");
	json_str(inv->rm);
	printf(", \"capabilities\": ");
	json_str(gpu_caps_str(caps, buf, sizeof(buf)));
	printf(", \"libdir\": ");
	json_str(p->libdir);
	if (p->libdir32) {
		printf(", \"libdir32\": ");
		json_str(p->libdir32);
	}
	printf(", \"gpus\": [");
	for (size_t i = 0; i < p->n_gpus; i++) {
		const struct gpu_info *g = &inv->gpus[p->gpus[i]];

		printf("%s{\"index\": %zu, \"minor\": %u, \"busid\": ", i ? ", " : "", p->gpus[i], g->minor);
		json_str(g->busid);
		printf(", \"uuid\": ");
		json_str(g->uuid);
		printf("}");
	}
	printf("], \"migs\": [");
	for (size_t i = 0; i < p->n_migs; i++) {
		const struct gpu_plan_mig *m = &p->migs[i];

		printf("%s{\"gpu\": %zu, \"index\": %u, \"uuid\": ", i ? ", " : "", m->gpu, m->mig.index);
		json_str(m->mig.uuid);
		printf(", \"gi\": %u, \"ci\": %u, \"parent\": \"/dev/nvidia%u\"}", m->mig.gi, m->mig.ci,
		       inv->gpus[m->gpu].minor);
	}
	printf("], \"proc\": [");
	for (size_t i = 0; i < p->proc_binds.n; i++) {
		_cleanup_free_ char *path = NULL;

		printf("%s", i ? ", " : "");
		if (asprintf(&path, "/proc/driver/nvidia/%s", p->proc_binds.v[i]) > 0)
			json_str(path);
	}
	printf("], \"mounts\": [");
	for (size_t i = 0; i < p->n_items; i++) {
		printf("%s{\"kind\": \"%s\", \"source\": ", i ? ", " : "", kind_names[p->items[i].kind]);
		json_str(p->items[i].src);
		printf(", \"target\": ");
		json_str(p->items[i].dst);
		printf(", \"optional\": %s}", p->items[i].optional ? "true" : "false");
	}
	printf("], \"links\": [");
	for (size_t i = 0; i < p->n_links; i++) {
		_cleanup_free_ char *path = NULL;

		printf("%s{\"path\": ", i ? ", " : "");
		if (asprintf(&path, "%s/%s", p->links[i].dir, p->links[i].name) > 0)
			json_str(path);
		printf(", \"target\": ");
		json_str(p->links[i].target);
		printf("}");
	}
	printf("], \"warnings\": [");
	for (size_t i = 0; i < p->warnings.n; i++) {
		printf("%s", i ? ", " : "");
		json_str(p->warnings.v[i]);
	}
	printf("]}\n");
}

static void print_text(const struct gpu_plan *p, const struct gpu_inventory *inv, unsigned caps)
{
	char buf[128];

	printf("driver %s\ncapabilities %s\nlibdir %s\n", inv->rm, gpu_caps_str(caps, buf, sizeof(buf)), p->libdir);
	if (p->libdir32)
		printf("libdir32 %s\n", p->libdir32);
	for (size_t i = 0; i < p->n_gpus; i++) {
		const struct gpu_info *g = &inv->gpus[p->gpus[i]];

		printf("gpu %zu %s %s /dev/nvidia%u\n", p->gpus[i], g->busid, g->uuid, g->minor);
	}
	/* Without NVML (all), the driver's instances have no UUID: "-". */
	for (size_t i = 0; i < p->n_migs; i++) {
		const struct gpu_plan_mig *m = &p->migs[i];

		printf("mig %zu:%u %s gi %u ci %u /dev/nvidia%u\n", m->gpu, m->mig.index,
		       m->mig.uuid[0] ? m->mig.uuid : "-", m->mig.gi, m->mig.ci, inv->gpus[m->gpu].minor);
	}
	for (size_t i = 0; i < p->proc_binds.n; i++)
		printf("proc /proc/driver/nvidia/%s\n", p->proc_binds.v[i]);
	for (size_t i = 0; i < p->n_items; i++)
		printf("%s %s %s%s\n", kind_names[p->items[i].kind], p->items[i].dst, p->items[i].src,
		       p->items[i].optional ? " (optional)" : "");
	for (size_t i = 0; i < p->n_links; i++)
		printf("link %s/%s -> %s\n", p->links[i].dir, p->links[i].name, p->links[i].target);
	for (size_t i = 0; i < p->warnings.n; i++)
		printf("warning %s\n", p->warnings.v[i]);
}

static int plan(struct config *cfg, const struct gpu_request *req, int rootfd, bool json)
{
	_cleanup_free_ char *ldcache = NULL;
	struct gpu_inventory inv = GPU_INVENTORY_INIT;
	struct error err = ERROR_INIT;
	struct gpu_plan p;
	struct gpu_host host;
	struct gpu_slurm_alloc alloc;
	extern char **environ;

	gpu_host_from_config(cfg, &host, &ldcache);
	if (gpu_slurm_alloc_parse(environ, &alloc, &err) < 0 || gpu_inventory_for(&host, req, &inv, &err) < 0)
		return cli_fail(&err);
	/* Inside a Slurm job, as a start there would select. */
	if (req->all)
		gpu_slurm_keep_allocated(&alloc, &inv);
	if (gpu_make_plan(&host, req, &inv, rootfd, &p, &err) < 0) {
		gpu_inventory_done(&inv);
		return cli_fail(&err);
	}
	if (gpu_slurm_check_plan(&alloc, &inv, &p, &err) < 0) {
		gpu_plan_done(&p);
		gpu_inventory_done(&inv);
		return cli_fail(&err);
	}
	if (json)
		print_json(&p, &inv, req->caps);
	else
		print_text(&p, &inv, req->caps);
	gpu_plan_done(&p);
	gpu_inventory_done(&inv);
	return 0;
}

int cmd_gpu(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{0, "json", ARG_FLAG, GPU_OPT_JSON}, {0, NULL, ARG_FLAG, 0}};
	extern char **environ;
	struct error err = ERROR_INIT;
	struct gpu_request req;
	_cleanup_close_ int rootfd = -1;
	bool json = false;
	int i, r;

	if (argc < 2 || strcmp(argv[1], "plan"))
		return cli_usage(gpu_usage, argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 1);
	i = cli_parse(argc - 1, argv + 1, opts, gpu_option, &json);
	if (i == -2)
		return cli_usage(gpu_usage, 0);
	if (i < 0 || i + 1 < argc - 1)
		return cli_usage(gpu_usage, 1);
	if (i < argc - 1) {
		rootfd = open(argv[i + 1], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0) {
			error_errno(&err, argv[i + 1]);
			return cli_fail(&err);
		}
	}
	if (gpu_request_parse(environ, NULL, &req, &err) < 0)
		return cli_fail(&err);
	/* What a start would do: the same gate as the hook's. */
	if (!req.active || !gpu_requested(environ, NULL)) {
		printf(json ? "{\"active\": false}\n" : "no GPU requested (NVIDIA_VISIBLE_DEVICES unset, empty or void)\n");
		r = 0;
	} else {
		r = plan(cfg, &req, rootfd, json);
	}
	gpu_request_done(&req);
	return r;
}
