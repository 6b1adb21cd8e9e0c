/* SPDX-License-Identifier: Apache-2.0 */
/* capsa's own directories and helper: usable and private to the user
 * (security.md K09), as start and import will demand, and on filesystems
 * that do what they are used for. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/fs.h"

/* Network and cluster filesystems (statfs f_type): containers there are
 * slow to create and root-squash or missing xattrs can break them. */
static const char *network_fs(const char *path)
{
	static const struct {
		long magic;
		const char *name;
	} types[] = {{0x6969, "NFS"}, {0x0bd00bd0, "Lustre"}, {0x47504653, "GPFS"},
		     {0x19830326, "BeeGFS"}, {0xff534d42, "CIFS"}, {0x65735546, "FUSE"}};
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if ((long)sf.f_type == types[i].magic)
			return types[i].name;
	}
	return NULL;
}

static void check_private(const struct doctor_env *env, struct doctor_report *r, const char *name)
{
	const char *path = config_get(env->cfg, name), *fs;
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
	if ((fs = network_fs(path)) != NULL)
		doctor_add(r, name, DOCTOR_WARN,
			   "prefer a node-local disk (CAPSA_DATA_PATH, CAPSA_CACHE_PATH): creating containers there is "
			   "slow, and root squash or missing xattrs can break them",
			   "%s: %s is on %s", name, path, fs);
	else
		doctor_add(r, name, DOCTOR_OK, "usable and private to this user", "%s: %s", name, path);
}

/* Bundles unpack their runtime into TEMP_PATH and run it from there. */
static void check_temp(const struct doctor_env *env, struct doctor_report *r)
{
	const char *path = config_get(env->cfg, "TEMP_PATH");
	struct statvfs sv;

	if (path == NULL || access(path, W_OK | X_OK) < 0)
		doctor_add(r, "TEMP_PATH", DOCTOR_FAIL, "set CAPSA_TEMP_PATH (or TMPDIR) to a writable directory",
			   "TEMP_PATH: %s: %s", path ? path : "(unset)", path ? strerror(errno) : "not set");
	else if (statvfs(path, &sv) == 0 && (sv.f_flag & ST_NOEXEC))
		doctor_add(r, "TEMP_PATH", DOCTOR_WARN,
			   "bundles (.run files) cannot run their runtime from there: set CAPSA_TEMP_PATH (or TMPDIR) "
			   "to a directory on an exec filesystem",
			   "TEMP_PATH: %s is on a noexec filesystem", path);
	else
		doctor_add(r, "TEMP_PATH", DOCTOR_OK, "imports and bundles can write here", "TEMP_PATH: %s", path);
}

/* The image verbs run capsa-image from beside capsa or from LIBEXECDIR
 * (src/cli/main.c). */
static void check_image_helper(struct doctor_report *r)
{
	char self[PATH_MAX], beside[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		snprintf(beside, sizeof(beside), "%.*s/capsa-image", (int)(slash ? slash - self : 0), self);
		if (access(beside, X_OK) == 0) {
			doctor_add(r, "capsa-image", DOCTOR_OK, "import, create, export and bundle work",
				   "capsa-image: %s", beside);
			return;
		}
	}
	if (access(CAPSA_LIBEXECDIR "/capsa-image", X_OK) == 0)
		doctor_add(r, "capsa-image", DOCTOR_OK, "import, create, export and bundle work",
			   "capsa-image: %s", CAPSA_LIBEXECDIR "/capsa-image");
	else
		doctor_add(r, "capsa-image", DOCTOR_FAIL,
			   "install capsa completely (make install), or put capsa-image beside capsa",
			   "capsa-image is neither beside this capsa nor in " CAPSA_LIBEXECDIR
			   ": import, create, export and bundle fail");
}

void doctor_check_paths(const struct doctor_env *env, struct doctor_report *r)
{
	check_image_helper(r);
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
