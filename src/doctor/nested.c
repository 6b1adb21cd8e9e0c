/* SPDX-License-Identifier: Apache-2.0 */
/* Running inside another container: its runtime's seccomp/AppArmor profile
 * and masked /proc decide what capsa can do, so say what it must allow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const char k8s_advice[] =
	"the pod's securityContext must allow user namespaces and mounts: privileged: true, or "
	"seccompProfile and appArmorProfile Unconfined with procMount: Unmasked; /dev/fuse from a device plugin";
static const char docker_advice[] =
	"the outer container must allow user namespaces and mounts: --security-opt seccomp=unconfined "
	"--security-opt apparmor=unconfined (or --privileged) and --device /dev/fuse";

static bool exists(const char *root, const char *rel)
{
	_cleanup_free_ char *path = doctor_path(root, rel);

	return access(path, F_OK) == 0;
}

/* Which outer runtime, from the strongest sign; NULL when none. */
static const char *detect(const struct doctor_env *env, const char **ret_why)
{
	_cleanup_free_ char *cg = NULL;
	bool have_cg = doctor_read(env->proc_root, "self/cgroup", 65536, &cg) == 0;

	if (getenv("KUBERNETES_SERVICE_HOST"))
		return *ret_why = "KUBERNETES_SERVICE_HOST is set", "Kubernetes";
	if (exists(env->root, "var/run/secrets/kubernetes.io"))
		return *ret_why = "/var/run/secrets/kubernetes.io exists", "Kubernetes";
	if (have_cg && strstr(cg, "kubepods"))
		return *ret_why = "the cgroup path names kubepods", "Kubernetes";
	if (exists(env->root, ".dockerenv"))
		return *ret_why = "/.dockerenv exists", "docker";
	if (exists(env->root, "run/.containerenv"))
		return *ret_why = "/run/.containerenv exists", "podman";
	if (have_cg && (strstr(cg, "/docker") || strstr(cg, "containerd") || strstr(cg, "libpod")))
		return *ret_why = "the cgroup path names a container runtime", "a container";
	return NULL;
}

void doctor_check_nested(const struct doctor_env *env, struct doctor_report *r)
{
	const struct doctor_result *userns = doctor_find(r, "userns");
	bool works = userns && userns->verdict == DOCTOR_OK;
	const char *why = NULL, *outer = detect(env, &why);
	const char *advice;

	if (outer == NULL) {
		doctor_add(r, "nested", DOCTOR_OK, "nothing outside restricts capsa", "not inside a container");
		return;
	}
	advice = !strcmp(outer, "Kubernetes") ? k8s_advice : docker_advice;
	if (works)
		doctor_add(r, "nested", DOCTOR_OK, advice, "inside %s (%s); user namespaces work in it", outer, why);
	else
		doctor_add(r, "nested", DOCTOR_WARN, advice, "inside %s (%s); it blocks user namespaces", outer, why);
}
