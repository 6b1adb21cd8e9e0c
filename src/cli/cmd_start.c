/* SPDX-License-Identifier: Apache-2.0 */
/* start, batch, exec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/exec.h"
#include "runtime/start.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

/* Flags only switch settings on, after -c directives (enroot.md §1.1). */
static const struct {
	int id;
	const char *setting;
} flag_settings[] = {
	{OPT_ROOT, "REMAP_ROOT"}, {OPT_RW, "ROOTFS_WRITABLE"}, {OPT_PID, "UNSHARE_PID"},
	{OPT_NET, "UNSHARE_NET"}, {OPT_IPC, "UNSHARE_IPC"},    {OPT_UTS, "UNSHARE_UTS"},
};

int start_option(int id, const char *value, void *arg)
{
	struct start_args *a = arg;

	switch (id) {
	case OPT_CONF:
		a->o->conf_file = value;
		return 0;
	case OPT_ENV:
		strv_push(&a->o->env_args, value);
		return 0;
	case OPT_RC:
		a->o->rc_file = value;
		return 0;
	case OPT_MOUNT:
		strv_push(&a->o->mount_args, value);
		return 0;
	case OPT_DEVICE:
		strv_push(&a->o->devices, value);
		return 0;
	default:
		break;
	}
	for (size_t i = 0; i < ARRAY_SIZE(flag_settings); i++) {
		if (flag_settings[i].id == id) {
			a->flags |= 1U << i;
			return 0;
		}
	}
	return -1;
}

static const char start_usage[] =
	"Usage: capsa start [options] [--] NAME|IMAGE [COMMAND] [ARG...]\n"
	"\n"
	"Start a container and invoke the command script within its root filesystem.\n"
	"Command and arguments are passed to the script as input parameters.\n"
	"\n"
	"In the absence of a command script and if a command was given, it will be executed directly.\n"
	"Otherwise, an interactive shell will be started within the container.\n"
	"\n"
	" Options:\n"
	"   -c, --conf CONFIG    Specify a configuration script to run before the container starts\n"
	"   -e, --env KEY[=VAL]  Export an environment variable inside the container\n"
	"       --rc SCRIPT      Override the command script inside the container\n"
	"   -r, --root           Ask to be remapped to root inside the container\n"
	"   -w, --rw             Make the container root filesystem writable\n"
	"   -m, --mount FSTAB    Perform a mount from the host inside the container (colon-separated)\n"
	"       --device CDI     Add a CDI device, VENDOR/CLASS=NAME (e.g. nvidia.com/gpu=0), or =all\n"
	"       --pid            Run the container in a new PID namespace\n"
	"       --net            Run the container in a new network namespace\n"
	"       --ipc            Run the container in a new IPC namespace\n"
	"       --uts            Run the container in a new UTS namespace\n";

static const struct cli_option start_options[] = {
	{'c', "conf", ARG_VALUE, OPT_CONF}, {'e', "env", ARG_VALUE, OPT_ENV},	{0, "rc", ARG_VALUE, OPT_RC},
	{'r', "root", ARG_FLAG, OPT_ROOT},  {'w', "rw", ARG_FLAG, OPT_RW},	{'m', "mount", ARG_VALUE, OPT_MOUNT},
	{0, "pid", ARG_FLAG, OPT_PID},	    {0, "net", ARG_FLAG, OPT_NET},	{0, "ipc", ARG_FLAG, OPT_IPC},
	{0, "uts", ARG_FLAG, OPT_UTS},	    {0, "device", ARG_VALUE, OPT_DEVICE}, {0, NULL, ARG_FLAG, 0},
};

static void start_warn(const char *msg)
{
	log_warn("%s", msg);
}

int start_run(struct config *cfg, struct start_opts *o, unsigned flags)
{
	struct error err = ERROR_INIT;
	int r = 0;

	o->warn = start_warn;

	if (o->conf_file && config_apply_directives(cfg, o->conf_file, &err) < 0)
		return cli_fail(&err);
	/* Flags come after -c directives and only switch settings on. */
	for (size_t i = 0; i < ARRAY_SIZE(flag_settings); i++) {
		if (flags & (1U << i))
			config_set(cfg, flag_settings[i].setting, "y");
	}
	r = rt_start(cfg, o, &err);
	start_opts_free(o);
	return r < 0 ? cli_fail(&err) : 0;
}

int cmd_start(struct config *cfg, int argc, char **argv)
{
	struct start_opts o = {0};
	struct start_args a = {&o, 0};
	int i = cli_parse(argc, argv, start_options, start_option, &a);

	if (i == -2)
		return cli_usage(start_usage, 0);
	if (i < 0 || i >= argc) {
		start_opts_free(&o);
		return cli_usage(start_usage, 1);
	}
	o.rootfs_arg = argv[i];
	o.argv = argv + i + 1;
	o.argc = argc - i - 1;
	return start_run(cfg, &o, a.flags);
}

static const char batch_usage[] = "Usage: capsa batch [options] [--] CONFIG [COMMAND] [ARG...]\n"
				  "\n"
				  "Shorthand version of \"capsa start -c CONFIG\" where the root filesystem is\n"
				  "taken from the configuration file using the special directive ENROOT_ROOTFS.\n";

int cmd_batch(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option none[] = {{0, NULL, ARG_FLAG, 0}};
	struct start_opts o = {0};
	struct error err = ERROR_INIT;
	int i = cli_parse(argc, argv, none, NULL, NULL);
	_cleanup_free_ char *rootfs = NULL;

	if (i == -2)
		return cli_usage(batch_usage, 0);
	if (i < 0 || i >= argc)
		return cli_usage(batch_usage, 1);
	o.conf_file = argv[i];
	if (config_apply_directives(cfg, o.conf_file, &err) < 0)
		return cli_fail(&err);
	/* A copy: start_run applies the directives again, replacing the value. */
	rootfs = config_get(cfg, "ROOTFS") ? xstrdup(config_get(cfg, "ROOTFS")) : NULL;
	if (rootfs == NULL)
		return log_error("missing directive ENROOT_ROOTFS in %s", o.conf_file), 1;
	o.rootfs_arg = rootfs;
	o.argv = argv + i + 1;
	o.argc = argc - i - 1;
	return start_run(cfg, &o, 0);
}

static const char exec_usage[] = "Usage: capsa exec [options] [--] PID COMMAND [ARG...]\n"
				 "\n"
				 "Execute a command inside an existing container.\n"
				 "\n"
				 " Options:\n"
				 "   -e, --env KEY[=VAL]  Export an environment variable inside the container\n";

static int exec_opt(int id, const char *value, void *arg)
{
	(void)id;
	strv_push(arg, value);
	return 0;
}

int cmd_exec(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {{'e', "env", ARG_VALUE, OPT_ENV}, {0, NULL, ARG_FLAG, 0}};
	struct strv env = STRV_INIT;
	struct error err = ERROR_INIT;
	char *end;
	long pid;
	int i = cli_parse(argc, argv, opts, exec_opt, &env);

	(void)cfg;
	if (i == -2)
		return cli_usage(exec_usage, 0);
	if (i < 0 || argc - i < 2)
		return cli_usage(exec_usage, 1);
	errno = 0;
	pid = strtol(argv[i], &end, 10);
	if (errno || *end || pid <= 0)
		return log_error("invalid argument: '%s' is not a process id", argv[i]), 1;
	rt_exec((pid_t)pid, &env, argv + i + 1, &err);
	strv_free(&env);
	return cli_fail(&err);
}
