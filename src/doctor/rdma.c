/* SPDX-License-Identifier: Apache-2.0 */
/* RDMA (InfiniBand/RoCE) for MELLANOX_VISIBLE_DEVICES: the HCAs the 99-mellanox
 * hook would give a container, and whether their verbs nodes open for this
 * user (MPI over InfiniBand needs them). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "gpu/rdma.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* A setting changed from its default wins; else doctor's own root. */
static const char *root(const struct doctor_env *env, const char *name, const char *def, const char *mine)
{
	const char *v = env->cfg ? config_get(env->cfg, name) : NULL;

	return v && *v && strcmp(v, def) ? v : mine;
}

static const char *open_advice(int e)
{
	if (e == EACCES)
		return "as root: let this user open /dev/infiniband/uverbs* (mode 0666, as rdma-core's udev rules set)";
	if (e == EPERM)
		return "the device cgroup denies it (docker: --device /dev/infiniband; Kubernetes: an RDMA device "
		       "plugin)";
	return "as root: modprobe ib_uverbs (and the HCA's driver, e.g. mlx5_ib)";
}

/* Open every planned node; the first that fails is the verdict. */
static void check_nodes(const char *dev_root, const struct rdma_plan *plan, struct doctor_report *r)
{
	for (size_t i = 0; i < plan->nodes.n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/infiniband/%s", dev_root, plan->nodes.v[i]);
		int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);

		if (fd < 0) {
			doctor_add(r, "rdma-dev", DOCTOR_FAIL, open_advice(errno), "%s cannot be opened: %s", path,
				   strerror(errno));
			return;
		}
		close(fd);
	}
	doctor_add(r, "rdma-dev", DOCTOR_OK, "MELLANOX_VISIBLE_DEVICES=all gives containers these HCAs",
		   "%zu RDMA node(s) in %s/infiniband open read-write", plan->nodes.n, dev_root);
}

void doctor_check_rdma(const struct doctor_env *env, struct doctor_report *r)
{
	const char *sys = root(env, "RDMA_SYS_ROOT", "/sys", env->sys_root);
	const char *dev = root(env, "RDMA_DEV_ROOT", "/dev", env->dev_root);
	struct rdma_request req = {.active = true, .all = true};
	struct error err = ERROR_INIT;
	struct rdma_plan plan;
	struct strbuf names = STRBUF_INIT;
	_cleanup_free_ char *cls = doctor_path(sys, "class/infiniband");

	if (access(cls, F_OK) < 0) {
		doctor_add(r, "rdma", DOCTOR_OK, "MELLANOX_VISIBLE_DEVICES has nothing to give here",
			   "no RDMA devices (%s)", cls);
		return;
	}
	if (rdma_make_plan(sys, &req, false, &plan, &err) < 0) {
		doctor_add(r, "rdma", DOCTOR_FAIL, "as root: modprobe ib_uverbs; check the HCA driver (dmesg)", "%s",
			   err.msg);
		return;
	}
	for (size_t i = 0; i < plan.ibdevs.n; i++)
		strbuf_addf(&names, "%s%s", i ? ", " : "", plan.ibdevs.v[i]);
	doctor_add(r, "rdma", DOCTOR_OK, "containers get them with MELLANOX_VISIBLE_DEVICES (all or indices)",
		   "%zu RDMA device(s): %s", plan.ibdevs.n, strbuf_str(&names));
	strbuf_release(&names);
	check_nodes(dev, &plan, r);
	rdma_plan_done(&plan);
}
