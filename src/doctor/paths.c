/* SPDX-License-Identifier: Apache-2.0 */
/* capsa's own directories: usable and private to the user (security.md
 * K09), as start and import will demand. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/fs.h"

static void check_private(const struct doctor_env *env, struct doctor_report *r, const char *name)
{
	const char *path = config_get(env->cfg, name);
	struct error err = ERROR_INIT;
	char advice[160];
	int fd;

	snprintf(advice, sizeof(advice), "fix it as the message says, or set CAPSA_%s to a directory of yours", name);
	if (path == NULL) {
		doctor_add(r, name, DOCTOR_FAIL, advice, "%s is not set", name);
		return;
	}
	fd = open_private_dir(AT_FDCWD, path, 0, &err);
	if (fd < 0) {
		doctor_add(r, name, DOCTOR_FAIL, advice, "%s: %s", name, err.msg);
		return;
	}
	close(fd);
	doctor_add(r, name, DOCTOR_OK, "usable and private to this user", "%s: %s", name, path);
}

static void check_temp(const struct doctor_env *env, struct doctor_report *r)
{
	const char *path = config_get(env->cfg, "TEMP_PATH");

	if (path && access(path, W_OK | X_OK) == 0)
		doctor_add(r, "TEMP_PATH", DOCTOR_OK, "imports and bundles can write here", "TEMP_PATH: %s", path);
	else
		doctor_add(r, "TEMP_PATH", DOCTOR_FAIL, "set CAPSA_TEMP_PATH (or TMPDIR) to a writable directory",
			   "TEMP_PATH: %s: %s", path ? path : "(unset)", path ? strerror(errno) : "not set");
}

void doctor_check_paths(const struct doctor_env *env, struct doctor_report *r)
{
	if (env->cfg == NULL) {
		doctor_add(r, "config", DOCTOR_FAIL, "fix the file or setting the message names (see capsa info)",
			   "capsa's configuration: %s", env->config_error ? env->config_error : "not loaded");
		return;
	}
	check_private(env, r, "DATA_PATH");
	check_private(env, r, "CACHE_PATH");
	check_private(env, r, "RUNTIME_PATH");
	check_temp(env, r);
}
