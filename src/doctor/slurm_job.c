/* SPDX-License-Identifier: Apache-2.0 */
/* Run inside a Slurm job: which GPUs it was given, since under Slurm
 * NVIDIA_VISIBLE_DEVICES=all means exactly those (gpu.md §3.6). */
#include <stdlib.h>

#include "doctor/doctor.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && v[0] ? v : fallback;
}

void doctor_check_slurm_job(const struct doctor_env *env, struct doctor_report *r)
{
	const char *job = getenv("SLURM_JOB_ID");
	const char *gpus = env_or("SLURM_STEP_GPUS", env_or("SLURM_JOB_GPUS", NULL));

	(void)env;
	if (job == NULL)
		return;
	doctor_add(r, "slurm-job", DOCTOR_OK,
		   gpus ? "NVIDIA_VISIBLE_DEVICES=all gives the container the GPUs of this job"
			: "request GPUs with --gres=gpu:N (or --gpus) to use them in a container",
		   "inside Slurm job %s, GPUs: %s, CUDA_VISIBLE_DEVICES=%s", job, gpus ? gpus : "none allocated",
		   env_or("CUDA_VISIBLE_DEVICES", "(unset)"));
}
