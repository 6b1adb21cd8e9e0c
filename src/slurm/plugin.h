/* SPDX-License-Identifier: Apache-2.0 */
/* Between the SPANK entry points (plugin.c) and the option glue (args.c).
 * Only these files (and step.c) include <slurm/spank.h>. */
#ifndef CAPSA_SLURM_PLUGIN_H
#define CAPSA_SLURM_PLUGIN_H

#include <slurm/spank.h>

#include "slurm/config.h"
#include "slurm/options.h"

/* Registers every --container-* option (spank_option_register); -1 on error. */
int args_register(spank_t sp);

/* PYXIS_CONTAINER_* defaults for options not given on the command line;
 * their errors are reported but never fatal, as in pyxis. */
void args_env_defaults(spank_t sp);

/* srun/sbatch/salloc: every value of a repeated --container-mounts or
 * --container-env into the job environment; slurmstepd: taken back from
 * there (Slurm forwards only the last one). */
void args_export_repeated(void);
void args_import_repeated(spank_t sp);

/* srun/sbatch/salloc: warn about options that are ignored because neither
 * --container-image nor --container-name is set. */
void args_warn_ignored(void);

/* The step's options, valid from init_post_opt to exit. */
const struct spank_args *args_get(void);
void args_release(void);
/* A mount added by the plugin (the sbatch script); -1 reported. */
int args_add_mounts(const char *v);
void args_drop_mounts(void);

/* The step in a container (step.c), remote context only. */
int step_init_post_opt(spank_t sp, const struct spank_config *config);
int step_user_init(spank_t sp);
int step_task_init(spank_t sp);
int step_task_exit(spank_t sp);
void step_exit(void);
/* JOB_SCRIPT context, root: container_scope=job removes the job's containers. */
int step_job_epilog(spank_t sp, const struct spank_config *config);

#endif
