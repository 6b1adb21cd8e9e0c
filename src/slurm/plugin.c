/* SPDX-License-Identifier: Apache-2.0 */
/* SPANK entry points of spank_capsa.so, routed by Slurm context as pyxis
 * does (pyxis.md §5).  Loaded into srun, sbatch, salloc, slurmd and
 * slurmstepd (root): nothing here may exit, abort or print to stdout;
 * failures are slurm_error() plus a -1 return. */
#include "slurm/config.h"
#include "slurm/plugin.h"

/* The plugin name stays "pyxis": Slurm exports sbatch/salloc options to the
 * job as SLURM_SPANK__SLURM_SPANK_OPTION_<plugin>_<option>, and job scripts
 * set and unset those variables by pyxis's name (pyxis.md §4). */
SPANK_PLUGIN(pyxis, 1)

static struct spank_config config;

static int load_config(int ac, char **av)
{
	struct error err = ERROR_INIT;
	int r;

	r = spank_config_parse(&config, ac, av, &err);
	if (r < 0) {
		slurm_error("capsa: %s", err.msg);
		slurm_error("capsa: failed to parse configuration");
		return -1;
	}
	return 0;
}

/* Options exist in srun, slurmstepd and (unless sbatch_support=0) in
 * sbatch/salloc.  The configuration is also checked in srun (pyxis does not
 * read it there), so a bad plugstack line fails on the submit host, with a
 * message the user sees, rather than later in every step. */
int slurm_spank_init(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();

	if (ctx == S_CTX_JOB_SCRIPT)
		return 0;
	if (load_config(ac, av) < 0)
		return -1;

	switch (ctx) {
	case S_CTX_LOCAL:
	case S_CTX_REMOTE:
		return args_register(sp);
	case S_CTX_ALLOCATOR:
		return config.sbatch_support ? args_register(sp) : 0;
	case S_CTX_SLURMD:
		slurm_info("capsa: version %s", CAPSA_VERSION);
		return 0;
	default:
		return 0;
	}
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();

	(void)ac;
	(void)av;
	if (ctx == S_CTX_ALLOCATOR && !config.sbatch_support)
		return 0;
	if (ctx != S_CTX_LOCAL && ctx != S_CTX_ALLOCATOR && ctx != S_CTX_REMOTE)
		return 0;

	if (ctx == S_CTX_REMOTE)
		args_import_repeated(sp);
	args_env_defaults(sp);
	if (ctx != S_CTX_REMOTE) {
		args_export_repeated();
		args_warn_ignored();
		return 0;
	}
	return step_init_post_opt(sp, &config);
}

/* user_init errors are kept for task_init (step.c): Slurm would not
 * report them to srun. */
int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return step_user_init(sp);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return step_task_init(sp);
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return step_task_exit(sp);
}

/* Root, in the epilog slurmd runs after the job (pyxis.md §6.7). */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
	if (load_config(ac, av) < 0)
		return -1;
	if (config.container_scope != SPANK_SCOPE_JOB)
		return 0;
	return step_job_epilog(sp, &config);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	(void)sp;
	(void)ac;
	(void)av;
	if (spank_context() == S_CTX_REMOTE)
		step_exit();
	args_release();
	return 0;
}
