/* SPDX-License-Identifier: Apache-2.0 */
/* The capsa CLI run for the step as the job user (pyxis.md §6.5): its
 * environment (the job's minus pyxis's deny list, plus the step's settings),
 * its output, a SIGTERM passed on while it runs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurm/step.h"
#include "util/cleanup.h"

/* --- environment of the capsa children ------------------------------------ */

struct env {
	char **v;
	size_t n, cap;
	bool oom;
};

static void env_push(struct env *e, char *s)
{
	char **p;

	if (s == NULL || e->oom) {
		e->oom = true;
		free(s);
		return;
	}
	if (e->n + 2 > e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		p = realloc(e->v, e->cap * sizeof(*p));
		if (p == NULL) {
			e->oom = true;
			free(s);
			return;
		}
		e->v = p;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

static void env_pushf(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_pushf(struct env *e, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	env_push(e, s);
}

void env_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void env_flag(struct env *e, const char *setting, int value)
{
	if (value == SPANK_UNSET)
		return;
	env_pushf(e, "CAPSA_%s=%s", setting, value ? "y" : "n");
	env_pushf(e, "ENROOT_%s=%s", setting, value ? "y" : "n");
}

/* pyxis's enroot_set_env: PATH, the job environment minus the deny list,
 * the job identity, the user's choices as settings.  NULL on ENOMEM. */
char **child_env(char **job_env)
{
	const struct spank_args *a = step.args;
	const char *path = getenv("PATH");
	struct env e = {NULL, 0, 0, false};

	env_pushf(&e, "PATH=%s", path != NULL && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin");
	for (size_t i = 0; job_env != NULL && job_env[i] != NULL; i++) {
		if (env_denied(job_env[i]) || strncmp(job_env[i], "SLURM_JOB_UID=", 14) == 0 ||
		    strncmp(job_env[i], "SLURM_JOB_GID=", 14) == 0 || strncmp(job_env[i], "SLURM_JOB_ID=", 13) == 0 ||
		    strncmp(job_env[i], "SLURM_STEP_ID=", 14) == 0)
			continue;
		env_push(&e, strdup(job_env[i]));
	}
	env_pushf(&e, "SLURM_JOB_UID=%u", (unsigned)step.id.uid);
	env_pushf(&e, "SLURM_JOB_GID=%u", (unsigned)step.id.gid);
	env_pushf(&e, "SLURM_JOB_ID=%" PRIu32, step.jobid);
	if (a != NULL)
		env_pushf(&e, "SLURM_STEP_ID=%" PRIu32, step.stepid);
	if (a != NULL) { /* NULL in the job epilog */
		env_flag(&e, "MOUNT_HOME", a->mount_home);
		env_flag(&e, "REMAP_ROOT", a->remap_root);
		env_flag(&e, "ROOTFS_WRITABLE", a->writable);
		if (a->unshare & SPANK_UNSHARE_NET)
			env_flag(&e, "UNSHARE_NET", 1);
		if (a->unshare & SPANK_UNSHARE_IPC)
			env_flag(&e, "UNSHARE_IPC", 1);
		if (a->unshare & SPANK_UNSHARE_UTS)
			env_flag(&e, "UNSHARE_UTS", 1);
	}
	if (step.config->sysconf_path[0] != '\0')
		env_pushf(&e, "CAPSA_SYSCONF_PATH=%s", step.config->sysconf_path);
	env_pushf(&e, "PYXIS_RUNTIME_PATH=%s", step.config->runtime_path);
	env_pushf(&e, "PYXIS_VERSION=capsa-%s", CAPSA_VERSION);
	if (e.oom) {
		env_free(e.v);
		return NULL;
	}
	return e.v;
}

/* --- running capsa --------------------------------------------------------- */

void print_log_as(int log_fd, const char *what)
{
	_cleanup_free_ char *log = child_log_read(log_fd, NULL);
	char *line, *rest = log;

	if (log == NULL)
		return;
	slurm_error("capsa: printing %s log file:", what);
	while ((line = strsep(&rest, "\n")) != NULL) {
		if (*line != '\0' || rest != NULL)
			slurm_error("capsa:     %s", line);
	}
}

void print_log(int log_fd)
{
	print_log_as(log_fd, "capsa");
}

static void print_status(pid_t pid, int status)
{
	if (WIFEXITED(status))
		slurm_error("capsa: child %ld failed with error code: %d", (long)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		slurm_error("capsa: child %ld terminated with signal %d", (long)pid, WTERMSIG(status));
}

int wait_logged(pid_t pid, bool untraced, int *status)
{
	int r = child_wait(pid, untraced, status);

	if (r > 0)
		slurm_info("capsa: received SIGTERM, forwarding to child %ld", (long)pid);
	return r < 0 ? -1 : 0;
}

/* capsa's warnings reach the user, as on a terminal. */
static void forward_warnings(int log_fd)
{
	_cleanup_free_ char *log = child_log_read(log_fd, NULL);
	char *line, *rest = log;

	while (log != NULL && (line = strsep(&rest, "\n")) != NULL)
		if (strstr(line, "[WARN]") != NULL)
			slurm_spank_log("capsa: %s", line);
}

/* capsa ARGS... as the job user; 0 on exit 0.  With out, its standard
 * output is returned there (also on failure).  Its standard error is
 * returned in log_out if given, else printed on failure. */
int capsa_run_ex(char **job_env, const char *const *args, char **out, char **log_out)
{
	_cleanup_close_ int log_fd = child_log_open(), out_fd = out != NULL ? child_log_open() : -1;
	char *argv[16];
	char **envp;
	struct child_exec ex;
	size_t n = 0;
	pid_t pid;
	int status, r;

	argv[n++] = (char *)"capsa";
	for (; args[n - 1] != NULL && n < ARRAY_SIZE(argv) - 1; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	envp = child_env(job_env);
	if (envp == NULL || log_fd < 0 || (out != NULL && out_fd < 0)) {
		env_free(envp);
		slurm_error("capsa: could not prepare the capsa command: %s", strerror(envp ? errno : ENOMEM));
		return -1;
	}
	ex = (struct child_exec){step.config->capsa_path, argv, envp};
	slurm_verbose("capsa: running capsa command: %s %s", argv[1], argv[2] ? argv[2] : "");
	r = child_spawn2(&step.id, out != NULL ? out_fd : log_fd, log_fd, child_exec_fn, &ex, &pid);
	env_free(envp);
	if (r < 0) {
		slurm_error("capsa: could not fork: %s", strerror(errno));
		return -1;
	}
	if (wait_logged(pid, false, &status) < 0) {
		slurm_error("capsa: waitpid failed: %s", strerror(errno));
		return -1;
	}
	if (out != NULL)
		*out = child_log_read(out_fd, NULL);
	if (log_out != NULL)
		*log_out = child_log_read(log_fd, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		forward_warnings(log_fd);
		return 0;
	}
	if (log_out == NULL) {
		print_status(pid, status);
		print_log(log_fd);
	}
	return -1;
}

int capsa_run(char **job_env, const char *const *args, char **out)
{
	return capsa_run_ex(job_env, args, out, NULL);
}

