/* SPDX-License-Identifier: Apache-2.0 */
/* The NVIDIA container toolkit, information only (gpu.md §5.3 #27): capsa
 * never calls it, but enroot's hooks or another runtime on the node may, and
 * two of its releases fail in user namespaces with the seeds' error. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/xalloc.h"

/* Releases whose device-cgroup code fails without CAP_NET_ADMIN in the init
 * user namespace: NVIDIA/libnvidia-container#313 (1.17.7) and
 * NVIDIA/nvidia-container-toolkit#1487 (1.18.0); 1.17.8 is fine. */
static const char *const broken[] = {"1.17.7", "1.18.0"};

static char *find_cli(const struct doctor_env *env)
{
	_cleanup_free_ char *dirs = xstrdup(PROC_HELPER_PATH);

	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *rel = xasprintf("%s/nvidia-container-cli", d);
		char *path = doctor_path(env->root, rel);

		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

/* "cli-version: 1.17.7" (older releases print "version: 1.x.y"). */
static int cli_version(const char *cli, char *ret, size_t len)
{
	char *const argv[] = {(char *)cli, (char *)"--version", NULL};
	char *const envp[] = {(char *)"PATH=" PROC_HELPER_PATH, NULL};
	struct proc_output out = PROC_OUTPUT_INIT;
	struct proc_opts o = PROC_OPTS_INIT;
	struct error err = ERROR_INIT;
	_cleanup_close_ int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	const char *v;
	int r = -1;

	o.stderr_fd = devnull;
	if (proc_capture(argv, envp, &o, 4096, &out, &err) < 0)
		return -1;
	v = out.out != NULL ? strstr(out.out, "version: ") : NULL;
	if (WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0 && v != NULL) {
		v += strlen("version: ");
		snprintf(ret, len, "%.*s", (int)strcspn(v, " \t\r\n"), v);
		r = ret[0] != '\0' ? 0 : -1;
	}
	proc_output_done(&out);
	return r;
}

void doctor_check_toolkit(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *cli = find_cli(env);
	char version[64];

	if (cli == NULL) {
		doctor_add(r, "nvidia-toolkit", DOCTOR_OK, "capsa injects GPUs itself and does not need it",
			   "no nvidia-container-cli on this node");
		return;
	}
	if (cli_version(cli, version, sizeof(version)) < 0) {
		doctor_add(r, "nvidia-toolkit", DOCTOR_OK, "capsa does not use it; other runtimes on this node may",
			   "%s is installed; its version is unknown (--version failed)", cli);
		return;
	}
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
		if (strcmp(version, broken[i]) == 0) {
			doctor_add(r, "nvidia-toolkit", DOCTOR_WARN,
				   "upgrade it to 1.17.8 or later for enroot or other runtimes that call it (capsa "
				   "does not)",
				   "%s %s fails in user namespaces with 'bpf_prog_query(BPF_CGROUP_DEVICE) failed: "
				   "operation not permitted'",
				   cli, version);
			return;
		}
	doctor_add(r, "nvidia-toolkit", DOCTOR_OK, "capsa does not use it; other runtimes on this node may",
		   "%s %s is installed", cli, version);
}
