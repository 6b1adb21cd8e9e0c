/* SPDX-License-Identifier: Apache-2.0 */
/* The --container-* SPANK options: pyxis's names, argument syntax, values and
 * help texts (srun --help is part of the interface users rely on), parsed by
 * options.c into one file-static state that lives as long as the plugin. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/plugin.h"
#include "util/cleanup.h"

static struct spank_args args = {
	.mount_home = SPANK_UNSET,
	.remap_root = SPANK_UNSET,
	.entrypoint = SPANK_UNSET,
	.entrypoint_log = SPANK_UNSET,
	.writable = SPANK_UNSET,
};

static int report(int r, const struct error *err)
{
	if (r >= 0)
		return 0;
	slurm_error("capsa: %s", err->msg);
	return -1;
}

#define VALUE_OPTION(fn, setter)                                                                             \
	static int fn(int val, const char *optarg, int remote)                                               \
	{                                                                                                    \
		struct error err = ERROR_INIT;                                                               \
		(void)val;                                                                                   \
		(void)remote;                                                                                \
		return report(setter(&args, optarg, &err), &err);                                            \
	}

#define FLAG_OPTION(fn, flag)                                                                                \
	static int fn(int val, const char *optarg, int remote)                                               \
	{                                                                                                    \
		struct error err = ERROR_INIT;                                                               \
		(void)optarg;                                                                                \
		(void)remote;                                                                                \
		return report(spank_args_set_flag(&args, flag, val, &err), &err);                            \
	}

/* Slurm forwards only the last value of a repeated option to slurmstepd
 * (and the batch step), but --container-mounts and --container-env
 * accumulate: srun, sbatch and salloc put every value given into the job
 * environment, where the remote side takes the whole list back. */
static struct repeated {
	const char *var;
	char *values; /* joined with "," */
	int count;
} repeated_mounts = {"CAPSA_CONTAINER_MOUNTS_ALL", NULL, 0},
  repeated_env = {"CAPSA_CONTAINER_ENV_ALL", NULL, 0};

static void repeated_add(struct repeated *r, const char *v)
{
	char *joined = NULL;

	if (r->values == NULL)
		joined = strdup(v);
	else if (asprintf(&joined, "%s,%s", r->values, v) < 0)
		joined = NULL;
	free(r->values);
	r->values = joined;
	r->count++;
}

#define LIST_OPTION(fn, setter, rep)                                                                         \
	static int fn(int val, const char *optarg, int remote)                                               \
	{                                                                                                    \
		struct error err = ERROR_INIT;                                                               \
		(void)val;                                                                                   \
		if (!remote)                                                                                 \
			repeated_add(&rep, optarg);                                                          \
		return report(setter(&args, optarg, &err), &err);                                            \
	}

VALUE_OPTION(opt_image, spank_args_set_image)
LIST_OPTION(opt_mounts, spank_args_add_mounts, repeated_mounts)
VALUE_OPTION(opt_workdir, spank_args_set_workdir)
VALUE_OPTION(opt_name, spank_args_set_name)
VALUE_OPTION(opt_save, spank_args_set_save)
LIST_OPTION(opt_env, spank_args_add_env, repeated_env)
VALUE_OPTION(opt_unshare, spank_args_add_unshare)
FLAG_OPTION(opt_mount_home, SPANK_MOUNT_HOME)
FLAG_OPTION(opt_remap_root, SPANK_REMAP_ROOT)
FLAG_OPTION(opt_entrypoint, SPANK_ENTRYPOINT)
FLAG_OPTION(opt_entrypoint_log, SPANK_ENTRYPOINT_LOG)
FLAG_OPTION(opt_writable, SPANK_WRITABLE)

/* struct spank_option has char * fields; Slurm never writes through them. */
#define OPT(name, arginfo, usage, has_arg, val, cb) {(char *)(name), (char *)(arginfo), (char *)(usage), has_arg, val, cb}

static struct spank_option options[] = {
	OPT("container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH",
	    "[pyxis] the image to use for the container filesystem. Can be either a docker image given as an enroot "
	    "URI, or a path to a squashfs file on the remote host filesystem.",
	    1, 0, opt_image),
	OPT("container-mounts", "SRC:DST[:FLAGS][,SRC:DST...]",
	    "[pyxis] bind mount[s] inside the container. Mount flags are separated with \"+\", e.g. \"ro+rprivate\"",
	    1, 0, opt_mounts),
	OPT("container-workdir", "PATH", "[pyxis] working directory inside the container", 1, 0, opt_workdir),
	OPT("container-name", "NAME",
	    "[pyxis] name to use for saving and loading the container on the host. Unnamed containers are removed "
	    "after the slurm task is complete; named containers are not. If a container with this name already "
	    "exists, the existing container is used and the import is skipped.",
	    1, 0, opt_name),
	OPT("container-save", "PATH",
	    "[pyxis] Save the container state to a squashfs file on the remote host filesystem.", 1, 0, opt_save),
	OPT("container-mount-home", NULL,
	    "[pyxis] bind mount the user's home directory. System-level enroot settings might cause this directory "
	    "to be already-mounted.",
	    0, 1, opt_mount_home),
	OPT("no-container-mount-home", NULL, "[pyxis] do not bind mount the user's home directory", 0, 0,
	    opt_mount_home),
	OPT("container-remap-root", NULL,
	    "[pyxis] ask to be remapped to root inside the container. Does not grant elevated system permissions, "
	    "despite appearances.",
	    0, 1, opt_remap_root),
	OPT("no-container-remap-root", NULL, "[pyxis] do not remap to root inside the container", 0, 0,
	    opt_remap_root),
	OPT("container-entrypoint", NULL, "[pyxis] execute the entrypoint from the container image", 0, 1,
	    opt_entrypoint),
	OPT("no-container-entrypoint", NULL, "[pyxis] do not execute the entrypoint from the container image", 0, 0,
	    opt_entrypoint),
	OPT("container-entrypoint-log", NULL, "[pyxis] print the output of the entrypoint script", 0, 1,
	    opt_entrypoint_log),
	OPT("container-writable", NULL, "[pyxis] make the container filesystem writable", 0, 1, opt_writable),
	OPT("container-readonly", NULL, "[pyxis] make the container filesystem read-only", 0, 0, opt_writable),
	OPT("container-env", "NAME[,NAME...]",
	    "[pyxis] names of environment variables to override with the host environment and set at the "
	    "entrypoint. By default, all exported host environment variables are set in the container after the "
	    "entrypoint is run, but their existing values in the image take precedence; the variables specified "
	    "with this flag are preserved from the host and set before the entrypoint runs",
	    1, 0, opt_env),
	OPT("container-unshare", "NS[,NS...]",
	    "[pyxis] unshare additional namespaces in the container: net, ipc and/or uts", 1, 1, opt_unshare),
};

int args_register(spank_t sp)
{
	spank_err_t rc;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		rc = spank_option_register(sp, &options[i]);
		if (rc != ESPANK_SUCCESS) {
			slurm_error("capsa: couldn't register option %s: %s", options[i].name, spank_strerror(rc));
			return -1;
		}
	}
	return 0;
}

const struct spank_args *args_get(void)
{
	return &args;
}

int args_add_mounts(const char *v)
{
	struct error err = ERROR_INIT;

	return report(spank_args_add_mounts(&args, v, &err), &err);
}

void args_drop_mounts(void)
{
	for (; args.mounts_len > 0; args.mounts_len--) {
		free(args.mounts[args.mounts_len - 1].src);
		free(args.mounts[args.mounts_len - 1].dst);
		free(args.mounts[args.mounts_len - 1].flags);
	}
}

void args_release(void)
{
	spank_args_free(&args);
	free(repeated_mounts.values);
	free(repeated_env.values);
	repeated_mounts = (struct repeated){repeated_mounts.var, NULL, 0};
	repeated_env = (struct repeated){repeated_env.var, NULL, 0};
}

/* An environment variable of the job (remote: spank_getenv, bounded) or of
 * the calling process.  *ret is NULL when unset or unusable. */
static void env_value(spank_t sp, const char *name, char *buf, size_t size, const char **ret)
{
	spank_err_t rc;

	*ret = NULL;
	if (spank_context() != S_CTX_REMOTE) {
		*ret = secure_getenv(name);
		return;
	}
	rc = spank_getenv(sp, name, buf, (int)size);
	if (rc == ESPANK_SUCCESS)
		*ret = buf;
	else if (rc == ESPANK_NOSPACE)
		slurm_error("capsa: %s: value too long (more than %zu bytes), ignored", name, size - 2);
}

static const struct env_default {
	const char *name;
	int (*setter)(struct spank_args *, const char *, struct error *);
	enum spank_flag flag; /* when setter is NULL */
	int invert;	      /* PYXIS_CONTAINER_READONLY=1 means writable=0 */
} env_defaults[] = {
	{"PYXIS_CONTAINER_IMAGE", spank_args_set_image, 0, 0},
	{"PYXIS_CONTAINER_MOUNTS", spank_args_add_mounts, 0, 0},
	{"PYXIS_CONTAINER_WORKDIR", spank_args_set_workdir, 0, 0},
	{"PYXIS_CONTAINER_NAME", spank_args_set_name, 0, 0},
	{"PYXIS_CONTAINER_SAVE", spank_args_set_save, 0, 0},
	{"PYXIS_CONTAINER_MOUNT_HOME", NULL, SPANK_MOUNT_HOME, 0},
	{"PYXIS_CONTAINER_REMAP_ROOT", NULL, SPANK_REMAP_ROOT, 0},
	{"PYXIS_CONTAINER_ENTRYPOINT", NULL, SPANK_ENTRYPOINT, 0},
	{"PYXIS_CONTAINER_ENTRYPOINT_LOG", NULL, SPANK_ENTRYPOINT_LOG, 0},
	{"PYXIS_CONTAINER_WRITABLE", NULL, SPANK_WRITABLE, 0},
	{"PYXIS_CONTAINER_READONLY", NULL, SPANK_WRITABLE, 1},
	{"PYXIS_CONTAINER_ENV", spank_args_add_env, 0, 0},
	{"PYXIS_CONTAINER_UNSHARE", spank_args_add_unshare, 0, 0},
};

/* Was the option behind d given on the command line? */
static bool given(const struct env_default *d)
{
	const int *flags[] = {&args.mount_home, &args.remap_root, &args.entrypoint, &args.entrypoint_log,
			      &args.writable};

	if (d->setter == spank_args_set_image)
		return args.image != NULL;
	if (d->setter == spank_args_add_mounts)
		return args.mounts_len > 0;
	if (d->setter == spank_args_set_workdir)
		return args.workdir != NULL;
	if (d->setter == spank_args_set_name)
		return args.name != NULL;
	if (d->setter == spank_args_set_save)
		return args.save != NULL;
	if (d->setter == spank_args_add_env)
		return args.env_len > 0;
	if (d->setter == spank_args_add_unshare)
		return args.unshare != 0;
	return *flags[d->flag] != SPANK_UNSET;
}

static void apply_env_default(const struct env_default *d, const char *v)
{
	struct error err = ERROR_INIT;
	int b;

	if (d->setter != NULL) {
		report(d->setter(&args, v, &err), &err);
		return;
	}
	/* pyxis ignores invalid booleans here silently. */
	b = spank_parse_bool(v);
	if (b >= 0)
		report(spank_args_set_flag(&args, d->flag, d->invert ? !b : b, &err), &err);
}

void args_env_defaults(spank_t sp)
{
	_cleanup_free_ char *buf = malloc(SPANK_LIST_MAX + 2);
	const char *v;

	if (buf == NULL) {
		slurm_error("capsa: could not allocate memory");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(env_defaults); i++) {
		if (given(&env_defaults[i]))
			continue;
		env_value(sp, env_defaults[i].name, buf, SPANK_LIST_MAX + 2, &v);
		if (v != NULL)
			apply_env_default(&env_defaults[i], v);
	}
}

void args_export_repeated(void)
{
	struct repeated *reps[] = {&repeated_mounts, &repeated_env};

	for (size_t i = 0; i < ARRAY_SIZE(reps); i++)
		if (reps[i]->count > 1 && reps[i]->values != NULL)
			setenv(reps[i]->var, reps[i]->values, 1);
}

void args_import_repeated(spank_t sp)
{
	_cleanup_free_ char *buf = malloc(SPANK_LIST_MAX + 2);
	struct error err = ERROR_INIT;
	const char *v;

	if (buf == NULL)
		return;
	/* Only for an option given: the value forwarded is then one of them. */
	env_value(sp, repeated_mounts.var, buf, SPANK_LIST_MAX + 2, &v);
	if (v != NULL && args.mounts_len > 0) {
		args_drop_mounts();
		report(spank_args_add_mounts(&args, v, &err), &err);
	}
	env_value(sp, repeated_env.var, buf, SPANK_LIST_MAX + 2, &v);
	if (v != NULL && args.env_len > 0)
		report(spank_args_add_env(&args, v, &err), &err);
	/* Not for the tasks (nor for an srun inside a batch script). */
	spank_unsetenv(sp, repeated_mounts.var);
	spank_unsetenv(sp, repeated_env.var);
}

void args_warn_ignored(void)
{
	static const char *const why = "because neither --container-image nor --container-name is set";

	if (args.image != NULL || args.name != NULL)
		return;
	if (args.mounts_len > 0)
		slurm_error("capsa: ignoring --container-mounts %s", why);
	if (args.workdir != NULL)
		slurm_error("capsa: ignoring --container-workdir %s", why);
	if (args.save != NULL)
		slurm_error("capsa: ignoring --container-save %s", why);
	if (args.mount_home != SPANK_UNSET)
		slurm_error("capsa: ignoring --[no-]container-mount-home %s", why);
	if (args.remap_root != SPANK_UNSET)
		slurm_error("capsa: ignoring --[no-]container-remap-root %s", why);
	if (args.entrypoint != SPANK_UNSET)
		slurm_error("capsa: ignoring --[no-]container-entrypoint %s", why);
	if (args.entrypoint_log != SPANK_UNSET)
		slurm_error("capsa: ignoring --container-entrypoint-log %s", why);
	if (args.writable == SPANK_YES)
		slurm_error("capsa: ignoring --container-writable %s", why);
	if (args.writable == SPANK_NO)
		slurm_error("capsa: ignoring --container-readonly %s", why);
}
