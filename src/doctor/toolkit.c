/* SPDX-License-Identifier: Apache-2.0 */
/* The NVIDIA container toolkit, information only (gpu.md §5.3 #27): capsa
 * never calls it, but enroot's hooks or another runtime on the node may, and
 * two of its releases fail in user namespaces with the seeds' error. */
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"

/* Releases whose device-cgroup code fails without CAP_NET_ADMIN in the init
 * user namespace: NVIDIA/libnvidia-container#313 (1.17.7) and
 * NVIDIA/nvidia-container-toolkit#1487 (1.18.0); 1.17.8 is fine. */
static const char *const broken[] = {"1.17.7", "1.18.0"};

/* "cli-version: 1.17.7" (older releases print "version: 1.x.y"). */
static int cli_version(const char *cli, char *ret, size_t len)
{
	char *const argv[] = {(char *)cli, (char *)"--version", NULL};
	_cleanup_free_ char *out = doctor_output(argv, 4096);
	const char *v = out != NULL ? strstr(out, "version: ") : NULL;

	if (v == NULL)
		return -1;
	v += strlen("version: ");
	snprintf(ret, len, "%.*s", (int)strcspn(v, " \t\r\n"), v);
	return ret[0] != '\0' ? 0 : -1;
}

void doctor_check_toolkit(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *cli = doctor_which(env->root, "nvidia-container-cli");
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
