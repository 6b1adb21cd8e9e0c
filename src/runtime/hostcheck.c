/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>

#include "runtime/hostcheck.h"
#include "runtime/image_mount.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_KCONFIG (16u << 20)

typedef void (*emit_fn)(const char *section, const char *label, const char *status, void *arg);

/* /proc/config.gz or a plain config file, through libarchive's raw reader. */
static char *read_kconfig(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	la_ssize_t n;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, sizeof(buf)) != ARCHIVE_OK || archive_read_next_header(a, &e) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0 && sb.len < MAX_KCONFIG)
		strbuf_add(&sb, buf, (size_t)n);
	archive_read_free(a);
	return n < 0 ? (strbuf_release(&sb), NULL) : strbuf_detach(&sb);
}

static char *find_kconfig(void)
{
	struct utsname u;
	char *text = NULL;

	uname(&u);
	char *paths[] = {xstrdup("/proc/config.gz"), xasprintf("/boot/config-%s", u.release),
			 xasprintf("/usr/src/linux-%s/.config", u.release), xstrdup("/usr/src/linux/.config"),
			 xasprintf("/lib/modules/%s/build/.config", u.release)};

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		if (text == NULL && access(paths[i], R_OK) == 0)
			text = read_kconfig(paths[i]);
		free(paths[i]);
	}
	return text;
}

/* 'y', 'm' or 0 for CONFIG_name in a kernel configuration. */
static char kconfig_value(const char *text, const char *name)
{
	_cleanup_free_ char *key = xasprintf("\nCONFIG_%s=", name);
	const char *p = strstr(text, key);

	return p ? p[strlen(key)] : 0;
}

static void check_kconfig(emit_fn emit, void *arg)
{
	static const char *const required[] = {"NAMESPACES", "USER_NS", "SECCOMP_FILTER"};
	static const char *const vsyscall[] = {"X86_VSYSCALL_EMULATION", "VSYSCALL_EMULATE", "VSYSCALL_NATIVE"};
	_cleanup_free_ char *text = find_kconfig();

	emit("Kernel configuration", NULL, NULL, arg);
	if (text == NULL) {
		emit(NULL, "Kernel configuration file", "not found (checked at run time below)", arg);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		char v = kconfig_value(text, required[i]);
		_cleanup_free_ char *label = xasprintf("CONFIG_%s", required[i]);

		emit(NULL, label, v == 'y' ? "OK" : v == 'm' ? "OK (module)" : "KO", arg);
	}
	emit(NULL, "CONFIG_OVERLAY_FS", kconfig_value(text, "OVERLAY_FS") ? "OK" : "KO (optional)", arg);
	for (size_t i = 0; i < ARRAY_SIZE(vsyscall); i++) {
		_cleanup_free_ char *label = xasprintf("CONFIG_%s", vsyscall[i]);

		emit(NULL, label, kconfig_value(text, vsyscall[i]) == 'y' ? "OK" : "KO (required if glibc <= 2.13)", arg);
	}
}

static void check_sysctl(emit_fn emit, void *arg, const char *name, bool want_zero, const char *ko)
{
	_cleanup_free_ char *path = xasprintf("/proc/sys/%s", name);
	_cleanup_free_ char *text = NULL;
	struct error ignored = ERROR_INIT;
	size_t len;
	long v;

	for (char *p = path + 10; *p; p++)
		*p = *p == '.' ? '/' : *p;
	if (read_file_at(AT_FDCWD, path, 64, &text, &len, &ignored) < 0)
		return;
	v = strtol(text, NULL, 10);
	emit(NULL, name, (want_zero ? v == 0 : v > 0) ? "OK" : ko, arg);
}

/* What the configuration says matters less than what the kernel lets this
 * user do: try it. */
static void check_live(emit_fn emit, void *arg)
{
	struct error err = ERROR_INIT;
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : 1);
	if (pid > 0)
		waitpid(pid, &status, 0);
	emit("Run-time checks", NULL, NULL, arg);
	emit(NULL, "User and mount namespaces for this user", status == 0 ? "OK" : "KO", arg);
	emit(NULL, "Starting images in place (/dev/fuse, squashfuse)",
	     image_mount_check(&err) == 0 ? "OK" : "KO (optional: bundles are extracted instead)", arg);
}

void hostcheck_run(emit_fn emit, void *arg)
{
	_cleanup_free_ char *version = NULL, *cmdline = NULL;
	struct error ignored = ERROR_INIT;
	size_t len;

	emit("Kernel version", NULL, NULL, arg);
	if (read_file_at(AT_FDCWD, "/proc/version", 4096, &version, &len, &ignored) == 0) {
		version[strcspn(version, "\n")] = '\0';
		emit(NULL, NULL, version, arg);
	}
	check_kconfig(emit, arg);
	emit("Kernel command line", NULL, NULL, arg);
	if (read_file_at(AT_FDCWD, "/proc/cmdline", 65536, &cmdline, &len, &ignored) == 0) {
		emit(NULL, "vsyscall=native", strstr(cmdline, "vsyscall=native") ? "OK" : "KO (required if glibc <= 2.13)", arg);
		emit(NULL, "vsyscall=emulate", strstr(cmdline, "vsyscall=emulate") ? "OK" : "KO (required if glibc <= 2.13)", arg);
	}
	emit("Kernel parameters", NULL, NULL, arg);
	check_sysctl(emit, arg, "kernel.unprivileged_userns_clone", false, "KO");
	check_sysctl(emit, arg, "user.max_user_namespaces", false, "KO");
	check_sysctl(emit, arg, "user.max_mnt_namespaces", false, "KO");
	check_sysctl(emit, arg, "kernel.apparmor_restrict_unprivileged_userns", true, "KO (required w/o apparmor profile)");
	check_live(emit, arg);
}
