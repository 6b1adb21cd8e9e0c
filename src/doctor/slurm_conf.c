/* SPDX-License-Identifier: Apache-2.0 */
/* Slurm's own configuration around containers and GPUs: oci.conf against a
 * SPANK container plugin (gpu.md §5.2), ConstrainDevices, GPU gres. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "doctor/parse.h"
#include "doctor/slurm.h"
#include "util/cleanup.h"

static bool container_plugin_loaded(const struct doctor_env *env)
{
	struct strv plugins = STRV_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *stack = NULL;
	bool found = false;

	if (slurm_plugstack(env, &plugins, &stack, &err) == 0) {
		for (size_t i = 0; i < plugins.n && !found; i++)
			found = slurm_container_plugin(plugins.v[i]) != NULL;
	}
	strv_free(&plugins);
	return found;
}

static void check_oci(const struct doctor_env *env, struct doctor_report *r, bool spank)
{
	_cleanup_free_ char *path = doctor_path(env->slurm_dir, "oci.conf");

	if (access(path, F_OK) != 0)
		doctor_add(r, "slurm-oci", DOCTOR_OK, "Slurm's native OCI containers are off, as a SPANK plugin needs",
			   "no %s", path);
	else if (spank)
		doctor_add(r, "slurm-oci", DOCTOR_FAIL,
			   "remove it: Slurm's native --container support conflicts with the SPANK container plugin",
			   "%s exists while plugstack.conf loads a SPANK container plugin", path);
	else
		doctor_add(r, "slurm-oci", DOCTOR_WARN,
			   "capsa runs through its SPANK plugin: remove oci.conf when you install spank_capsa.so",
			   "%s exists: Slurm's native OCI containers are configured", path);
}

/* Counts of GPU gres declarations: slurm.conf GresTypes and node Gres=,
 * gres.conf Name=gpu or AutoDetect. */
static void check_gres(const struct doctor_env *env, struct doctor_report *r, bool *ret_gpus)
{
	_cleanup_free_ char *conf = slurm_read(env, "slurm.conf"), *gres = slurm_read(env, "gres.conf");
	char first[256];
	int types = conf ? slurm_conf_match(conf, "GresTypes", "gpu", first, sizeof(first)) : 0;
	int nodes = conf ? slurm_conf_match(conf, "Gres", "gpu", first, sizeof(first)) : 0;
	int lines = gres ? slurm_conf_match(gres, "Name", "gpu", first, sizeof(first)) +
				   slurm_conf_match(gres, "AutoDetect", NULL, first, sizeof(first))
			 : 0;

	*ret_gpus = types > 0;
	if (types == 0)
		doctor_add(r, "slurm-gres", DOCTOR_OK,
			   "for GPU nodes: GresTypes=gpu and Gres=gpu:N in slurm.conf, Name=gpu File=/dev/nvidia[0-N] "
			   "in gres.conf",
			   "no GPU gres configured (GresTypes has no gpu)");
	else if (lines == 0)
		doctor_add(r, "slurm-gres", DOCTOR_WARN,
			   "add Name=gpu File=/dev/nvidia[0-N] lines (or AutoDetect=nvml) to gres.conf",
			   "GresTypes=gpu but gres.conf declares no GPU (%d node lines with Gres=gpu)", nodes);
	else
		doctor_add(r, "slurm-gres", DOCTOR_OK, "jobs request GPUs with --gres=gpu:N",
			   "GPU gres: GresTypes=gpu, %d node lines with Gres=gpu, %d gres.conf lines", nodes, lines);
}

static void check_constrain(const struct doctor_env *env, struct doctor_report *r, bool gpus)
{
	_cleanup_free_ char *conf = slurm_read(env, "cgroup.conf");
	char v[64] = "";

	if (conf)
		slurm_conf_match(conf, "ConstrainDevices", NULL, v, sizeof(v));
	if (!strcasecmp(v, "yes"))
		doctor_add(r, "slurm-constrain-devices", DOCTOR_OK,
			   "jobs open only the GPUs they requested (--gres=gpu:N); NVIDIA_VISIBLE_DEVICES=all means "
			   "those, and capsa never edits device cgroups",
			   "cgroup.conf: ConstrainDevices=yes");
	else
		doctor_add(r, "slurm-constrain-devices", gpus ? DOCTOR_WARN : DOCTOR_OK,
			   "set ConstrainDevices=yes in cgroup.conf (with TaskPlugin=task/cgroup) so a job opens only "
			   "its own GPUs",
			   "cgroup.conf: ConstrainDevices is %s: every job can open every device of the node",
			   v[0] ? v : "not set");
}

void doctor_check_slurm_conf(const struct doctor_env *env, struct doctor_report *r)
{
	bool gpus;

	if (!slurm_present(env))
		return;
	check_oci(env, r, container_plugin_loaded(env));
	check_gres(env, r, &gpus);
	check_constrain(env, r, gpus);
}
