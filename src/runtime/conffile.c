/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/conffile.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define MAX_CONF_OUTPUT (4 * 1024 * 1024)

/* Records are separated by NUL bytes, which bash output cannot contain. */
static const char collect_script[] =
	"source \"$0\" >/dev/null || exit 1\n"
	"if declare -F environ >/dev/null; then environ \"$@\"; fi; printf '\\0'\n"
	"if declare -F mounts >/dev/null; then mounts \"$@\"; fi; printf '\\0'\n"
	"if declare -F rc >/dev/null; then declare -f rc; fi\n";

static const char hooks_script[] = "source \"$0\" >/dev/null || exit 1\n"
				   "if declare -F hooks >/dev/null; then hooks \"$@\"; fi\n";

void caps_raise_ambient(void *unused)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	(void)unused;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return;
	data[0].inheritable = data[0].permitted;
	data[1].inheritable = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return;
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (data[cap / 32].permitted & (1U << (cap % 32)))
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
	}
}

static void build_argv(struct start_ctx *ctx, const char *script, struct strv *argv)
{
	strv_push(argv, "/bin/bash");
	strv_push(argv, "--norc");
	strv_push(argv, "--noprofile");
	strv_push(argv, "-c");
	strv_push(argv, script);
	strv_push(argv, ctx->opts->conf_file);
	for (int i = 0; i < ctx->opts->argc; i++)
		strv_push(argv, ctx->opts->argv[i]);
}

int conffile_check(const char *path, struct error *err)
{
	char *argv[] = {(char *)"/bin/bash", (char *)"-n", (char *)path, NULL};
	extern char **environ;
	struct proc_opts o = PROC_OPTS_INIT;
	struct proc_output res = PROC_OUTPUT_INIT;

	o.stderr_fd = 1; /* collect bash's message for the error */
	if (access(path, R_OK) < 0)
		return error_set(err, errno, "invalid argument: '%s'", path);
	if (proc_capture(argv, environ, &o, 4096, &res, err) < 0)
		return -1;
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		res.out[strcspn(res.out, "\n")] = '\0';
		error_set(err, 0, "invalid argument: '%s': %s", path, res.out);
		proc_output_done(&res);
		return -1;
	}
	proc_output_done(&res);
	return 0;
}

/* rc() comes back as "rc () \n{ \n BODY\n}": keep BODY, as enroot does. */
static char *rc_body(const char *decl)
{
	const char *p = strchr(decl, '\n');
	const char *end;

	p = p ? strchr(p + 1, '\n') : NULL;
	if (p == NULL)
		return NULL;
	end = strrchr(++p, '}');
	return xstrndup(p, end ? (size_t)(end - p) : strlen(p));
}

/* Cut the next NUL-terminated record of buf[*pos..len). Every record but the
 * last needs its separator: a config that exits inside environ() or mounts()
 * (status 0, nothing more printed) leaves them out. */
static char *next_record(const char *buf, size_t len, size_t *pos, bool need_separator)
{
	const char *start = buf + *pos;
	const char *nul = memchr(start, '\0', len - *pos);

	if (nul == NULL && need_separator)
		return NULL;
	if (nul == NULL)
		nul = buf + len;
	*pos = (size_t)(nul - buf) + (nul < buf + len);
	return xstrndup(start, (size_t)(nul - start));
}

static int split_records(struct start_ctx *ctx, const struct proc_output *res, struct error *err)
{
	_cleanup_free_ char *environ_rec = NULL, *mounts_rec = NULL, *rc_rec = NULL;
	size_t pos = 0;

	environ_rec = next_record(res->out, res->len, &pos, true);
	mounts_rec = environ_rec ? next_record(res->out, res->len, &pos, true) : NULL;
	if (mounts_rec == NULL)
		return error_set(err, 0, "'%s': incomplete output (did environ() or mounts() call exit?)",
				 ctx->opts->conf_file);
	rc_rec = next_record(res->out, res->len, &pos, false);
	ctx->conf_environ = TAKE_PTR(environ_rec);
	ctx->conf_mounts = TAKE_PTR(mounts_rec);
	if (*rc_rec && ctx->rc == NULL)
		ctx->rc = rc_body(rc_rec);
	return 0;
}

int conffile_collect(struct start_ctx *ctx, struct error *err)
{
	struct strv argv = STRV_INIT;
	struct proc_output res = PROC_OUTPUT_INIT;
	int r;

	build_argv(ctx, collect_script, &argv);
	r = proc_capture(argv.v, ctx->host_env.v, NULL, MAX_CONF_OUTPUT, &res, err);
	strv_free(&argv);
	if (r < 0)
		return r;
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0)
		r = error_set(err, 0, "'%s' exited with return code %d", ctx->opts->conf_file,
			      proc_exit_code(res.status));
	else if (res.truncated)
		r = error_set(err, E2BIG, "'%s': too much output from environ(), mounts() and rc() (limit %d MiB)",
			      ctx->opts->conf_file, MAX_CONF_OUTPUT >> 20);
	else
		r = split_records(ctx, &res, err);
	proc_output_done(&res);
	return r;
}

int conffile_run_hooks(struct start_ctx *ctx, struct error *err)
{
	struct strv argv = STRV_INIT;
	struct proc_opts o = PROC_OPTS_INIT;
	int status, r;
	pid_t pid;

	o.stdout_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	o.child_setup = caps_raise_ambient;
	build_argv(ctx, hooks_script, &argv);
	r = proc_spawn(argv.v, ctx->host_env.v, &o, &pid, err);
	strv_free(&argv);
	close(o.stdout_fd);
	if (r < 0 || proc_wait(pid, &status, err) < 0)
		return -1;
	if (status != 0)
		return error_set(err, 0, "'%s' hooks() exited with return code %d", ctx->opts->conf_file,
				 proc_exit_code(status));
	return 0;
}
