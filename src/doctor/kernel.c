/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's version and configuration: information only, the probe of
 * userns.c is what decides. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "doctor/parse.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_KCONFIG (4u << 20)

/* gzip does the inflating: the capsa binary links no zlib. */
static char *read_gz(const char *path)
{
	_cleanup_free_ char *gzip = doctor_which("", "gzip");
	char *const argv[] = {gzip, (char *)"-dc", (char *)path, NULL};

	return gzip != NULL ? doctor_output(argv, MAX_KCONFIG) : NULL;
}

/* The first readable configuration, as enroot-check looks for it. */
static char *find_kconfig(const struct doctor_env *env, char **ret_path)
{
	struct utsname u;
	char *text = NULL;

	uname(&u);
	*ret_path = doctor_path(env->proc_root, "config.gz");
	if (access(*ret_path, R_OK) == 0 && (text = read_gz(*ret_path)) != NULL)
		return text;
	free(*ret_path);
	*ret_path = xasprintf("%s/boot/config-%s", env->root, u.release);
	if (doctor_read("", *ret_path, MAX_KCONFIG, &text) == 0)
		return text;
	free(*ret_path);
	*ret_path = NULL;
	return NULL;
}

/* Images with glibc <= 2.13 call the legacy vsyscall page, which kernels
 * since 5.x map execute-only or not at all unless vsyscall=emulate. */
static void check_vsyscall(const struct doctor_env *env, struct doctor_report *r, const char *kconfig)
{
	_cleanup_free_ char *cmdline = NULL;
	const char *mode = NULL, *p;

	if (doctor_read(env->proc_root, "cmdline", 65536, &cmdline) == 0 && (p = strstr(cmdline, "vsyscall=")))
		mode = strncmp(p + 9, "emulate", 7) == 0 ? "emulate" : strncmp(p + 9, "none", 4) == 0 ? "none" : "xonly";
	else if (kconfig && kconfig_value(kconfig, "LEGACY_VSYSCALL_EMULATE"))
		mode = "emulate";
	else if (kconfig && kconfig_value(kconfig, "LEGACY_VSYSCALL_NONE"))
		mode = "none";
	else if (kconfig && kconfig_value(kconfig, "LEGACY_VSYSCALL_XONLY"))
		mode = "xonly";
	if (mode == NULL)
		return;
	doctor_add(r, "vsyscall", DOCTOR_OK,
		   !strcmp(mode, "emulate") ? "images with glibc <= 2.13 (CentOS 6 era) run"
					    : "images with glibc <= 2.13 (CentOS 6 era) crash: they need vsyscall=emulate "
					      "on the kernel command line",
		   "vsyscall=%s", mode);
}

static void check_kconfig(const struct doctor_env *env, struct doctor_report *r)
{
	static const char *const items[] = {"NAMESPACES", "USER_NS", "SECCOMP_FILTER", "OVERLAY_FS", "FUSE_FS"};
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = find_kconfig(env, &path);
	char list[256] = "";
	bool missing = false;

	check_vsyscall(env, r, text);
	if (text == NULL) {
		doctor_add(r, "kconfig", DOCTOR_WARN, "information only: the user-namespace probe above is what counts",
			   "kernel configuration not found (/proc/config.gz, /boot/config-$(uname -r))");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		char v = kconfig_value(text, items[i]);
		size_t len = strlen(list);

		missing |= v == 0;
		snprintf(list + len, sizeof(list) - len, "%sCONFIG_%s=%c", i ? " " : "", items[i], v ? v : 'n');
	}
	doctor_add(r, "kconfig", missing ? DOCTOR_WARN : DOCTOR_OK,
		   missing ? "information only: a kernel with these options is needed for what the probe found missing"
			   : "information only",
		   "kernel configuration (%s): %s", path, list);
}

/* RHEL/CentOS 7 (3.10) ship user namespaces switched off at boot. */
static void check_rhel7(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *release = NULL, *cmdline = NULL;

	if (doctor_read(env->proc_root, "sys/kernel/osrelease", 256, &release) < 0 || strncmp(release, "3.10.", 5))
		return;
	if (doctor_read(env->proc_root, "cmdline", 65536, &cmdline) == 0 && strstr(cmdline, "user_namespace.enable=1") &&
	    strstr(cmdline, "namespace.unpriv_enable=1"))
		doctor_add(r, "rhel7-cmdline", DOCTOR_OK, "user namespaces are enabled at boot",
			   "kernel 3.10 command line enables user namespaces");
	else
		doctor_add(r, "rhel7-cmdline", DOCTOR_FAIL,
			   "as root: grubby --update-kernel=ALL --args='namespace.unpriv_enable=1 "
			   "user_namespace.enable=1', then reboot",
			   "kernel 3.10 (RHEL/CentOS 7) without namespace.unpriv_enable=1 user_namespace.enable=1 on its "
			   "command line");
}

void doctor_check_kernel(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *version = NULL;

	if (doctor_read(env->proc_root, "version", 4096, &version) == 0) {
		version[strcspn(version, "\n")] = '\0';
		doctor_add(r, "kernel", DOCTOR_OK, "information only", "%s", version);
	}
	check_rhel7(env, r);
	check_kconfig(env, r);
}
