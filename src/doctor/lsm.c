/* SPDX-License-Identifier: Apache-2.0 */
/* Security modules that deny what the sysctls allow: SELinux (AppArmor's
 * userns switch is read with the other sysctls in userns.c). */
#include <string.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"

void doctor_check_lsm(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *enforce = NULL;

	if (doctor_read(env->sys_root, "fs/selinux/enforce", 16, &enforce) < 0)
		doctor_add(r, "selinux", DOCTOR_OK, "nothing to check", "SELinux is not enabled");
	else if (enforce[0] == '1')
		doctor_add(r, "selinux", DOCTOR_WARN,
			   "if a start fails with EACCES, read the denials (ausearch -m avc -ts recent) and allow user "
			   "namespaces and mounts for the user's domain",
			   "SELinux is enforcing");
	else
		doctor_add(r, "selinux", DOCTOR_OK, "denials are only logged", "SELinux is permissive");
}
