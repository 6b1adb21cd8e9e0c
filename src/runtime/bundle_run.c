/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "image/registry/blobcache.h"
#include "image/squashfs/sqfs_unpack.h"
#include "runtime/bundle_run.h"
#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define MAX_SETTINGS (1u << 20)

int bundle_check_image(const struct bundle_info *b, struct error *err)
{
	_cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
	char hex[65];
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to open the bundle '%s'", b->path);
	if ((uint64_t)st.st_size != b->image_offset + b->image_size)
		return error_set(err, 0, "the bundle '%s' is truncated or damaged (%jd bytes, %ju expected): download it again",
				 b->path, (intmax_t)st.st_size, (uintmax_t)(b->image_offset + b->image_size));
	if (!strcmp(b->image_sha256, "0"))
		return 0;
	if (lseek(fd, (off_t)b->image_offset, SEEK_SET) < 0 || sha256_fd(fd, UINT64_MAX, hex, err) < 0)
		return -1;
	if (strcmp(hex, b->image_sha256))
		return error_set(err, 0, "Checksum validation failed: the image in '%s' is corrupt", b->path);
	return 0;
}

static void setenv_both(const char *name, const char *value)
{
	_cleanup_free_ char *c = xasprintf("CAPSA_%s", name);
	_cleanup_free_ char *e = xasprintf("ENROOT_%s", name);

	setenv(c, value, 1);
	setenv(e, value, 1);
}

/* etc/config: NAME=VALUE lines written by `capsa bundle -a`; they override
 * the caller's environment, as enroot's bundle sources its copy. */
static int apply_settings(const char *dir, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/config", dir);
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	size_t len;

	if (!path_is_reg(path))
		return 0;
	if (read_file_at(AT_FDCWD, path, MAX_SETTINGS, &text, &len, err) < 0)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (eq == NULL || (strncmp(line, "CAPSA_", 6) && strncmp(line, "ENROOT_", 7)))
			continue;
		*eq = '\0';
		setenv(line, eq + 1, 1);
	}
	return 0;
}

int bundle_apply_environment(const struct bundle_info *b, struct error *err)
{
	_cleanup_free_ char *sys = xasprintf("%s/etc/system", b->runtime_dir);
	_cleanup_free_ char *user = xasprintf("%s/etc/user", b->runtime_dir);

	if (apply_settings(b->runtime_dir, err) < 0)
		return -1;
	setenv_both("SYSCONF_PATH", sys);
	setenv_both("CONFIG_PATH", user);
	return 0;
}

char *bundle_target_path(const struct bundle_info *b)
{
	return path_absolute(b->target);
}

char *bundle_runtime_dir(const char *target)
{
	const char *slash = strrchr(target, '/');

	return xasprintf("%.*s/.%s", (int)(slash - target), target, slash + 1);
}

static int check_space(const char *dir, uint64_t need_kb, struct error *err)
{
	struct statvfs vfs;

	if (need_kb == 0 || statvfs(dir, &vfs) < 0)
		return 0;
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize / 1024 < need_kb)
		return error_set(err, ENOSPC, "Not enough space left in %s (%ju KB needed)", dir, (uintmax_t)need_kb);
	return 0;
}

int bundle_extract(const struct bundle_info *b, const char *target, const struct sqfs_unpack_opts *progress,
		   struct error *err)
{
	_cleanup_free_ char *copy = xstrdup(target);
	const char *parent = dirname(copy);
	_cleanup_free_ char *rundir = bundle_runtime_dir(target);
	_cleanup_close_ int dst = -1, rundir_fd = -1;
	struct sqfs_unpack_opts o = *progress;
	struct error ignored = ERROR_INIT;

	if (check_space(parent, b->uncompressed_kb, err) < 0)
		return -1;
	if (mkdir(target, 0700) < 0)
		return error_set(err, errno,
				 errno == EEXIST ? "target directory already exists: %s (remove it, or run from elsewhere)"
						 : "failed to create the target directory %s",
				 target);
	/* .NAME sits beside the target, maybe in a shared directory: it becomes
	 * the runtime path, so it must be ours (open_private_dir). */
	rundir_fd = open_private_dir(AT_FDCWD, rundir, PRIVATE_DIR_CREATE, err);
	if (rundir_fd >= 0) {
		dst = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		o.offset = b->image_offset;
		if (dst < 0)
			error_set(err, errno, "failed to open %s", target);
		else if (sqfs_unpack(b->path, &o, dst, err) == 0 && fchmod(dst, 0700) == 0)
			return 0;
	}
	rm_rf_at(AT_FDCWD, target, &ignored);
	return -1;
}

static void __attribute__((noreturn)) reaper(int pidfd, const struct strv *paths)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	struct error ignored = ERROR_INIT;
	int null = open("/dev/null", O_RDWR);

	/* Out of the terminal's process group: a ^C is for the container. */
	setsid();
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	if (pidfd > 3)
		close_range(3, (unsigned)pidfd - 1, 0);
	close_range((unsigned)pidfd + 1, ~0U, 0);
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < paths->n; i++)
		rm_rf_at(AT_FDCWD, paths->v[i], &ignored);
	_exit(0);
}

int bundle_spawn_reaper(const struct strv *paths, struct error *err)
{
	int pidfd = pidfd_open(getpid(), 0);
	pid_t pid;

	if (pidfd < 0)
		return error_errno(err, "failed to watch the bundle process (pidfd_open needs Linux >= 5.3)");
	pid = fork();
	if (pid == 0)
		reaper(pidfd, paths);
	close(pidfd);
	if (pid < 0)
		return error_errno(err, "failed to fork");
	return 0;
}
