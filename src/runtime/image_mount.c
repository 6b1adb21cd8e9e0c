/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/conffile.h"
#include "runtime/image_mount.h"
#include "runtime/sqfuse.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define FUSE_WAIT_MS 5000

/* squashfuse must mount with our user-namespace capabilities (fusermount3
 * cannot work there) and must die with the container. */
static void fuse_child_setup(void *unused)
{
	/* In this order: raising capabilities changes credentials, which
	 * clears the parent-death signal. */
	caps_raise_ambient(unused);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

const char *image_mount_squashfuse(void)
{
	static const char *const paths[] = {"/usr/local/bin/squashfuse", "/usr/bin/squashfuse", "/bin/squashfuse"};

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	}
	return NULL;
}

int image_mount_check(struct error *err)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		if (sqfuse_available() || image_mount_squashfuse() != NULL)
			return 0;
		return error_set(err, ENOENT, "squashfuse is not installed: it is needed to start an image directly "
					      "(or use 'capsa create' and start the container by name)");
	}
	return error_set(err, errno,
			 "cannot use /dev/fuse to start an image directly (ask an administrator to make it "
			 "mode 0666, or use 'capsa create' and start the container by name)");
}

/* The mount is ready when the mount point's device changes. The kernel
 * flags /proc/self/mountinfo (POLLPRI) on every mount-table change and a
 * pidfd when squashfuse exits, so we sleep until one of them happens: a
 * polling loop would take the CPU squashfuse needs to start. */
static int wait_for_mount(pid_t pid, const char *lower, dev_t before, struct error *err)
{
	_cleanup_close_ int mi = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd[2] = {{mi, POLLPRI, 0}, {pidfd, POLLIN, 0}};
	int tick = mi >= 0 && pidfd >= 0 ? 100 : 1, status;
	char buf[4096];
	struct stat st;

	for (int ms = 0; ms < FUSE_WAIT_MS; ms += tick) {
		/* Reading the file re-arms the notification. */
		while (mi >= 0 && read(mi, buf, sizeof(buf)) > 0)
			;
		if (stat(lower, &st) == 0 && st.st_dev != before)
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return error_set(err, 0, "squashfuse failed (exit code %d)", proc_exit_code(status));
		if (mi < 0 || poll(pfd, pidfd >= 0 ? 2 : 1, tick) < 0)
			usleep(1000);
		if (mi >= 0)
			lseek(mi, 0, SEEK_SET);
	}
	kill(pid, SIGKILL);
	return error_set(err, ETIMEDOUT, "squashfuse did not mount the image");
}

static int mount_squashfuse(const char *image, uint64_t offset, const char *lower, struct error *err)
{
	_cleanup_free_ char *opts =
		xasprintf("uid=%u,gid=%u,offset=%ju", (unsigned)geteuid(), (unsigned)getegid(), (uintmax_t)offset);
	char *argv[] = {(char *)image_mount_squashfuse(), (char *)"-f", (char *)"-o", opts, (char *)image, (char *)lower, NULL};
	char *envp[] = {(char *)"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	struct proc_opts o = PROC_OPTS_INIT;
	struct stat st;
	pid_t pid;

	o.child_setup = fuse_child_setup;
	if (stat(lower, &st) < 0)
		return error_set(err, errno, "failed to stat '%s'", lower);
	if (proc_spawn(argv, envp, &o, &pid, err) < 0)
		return -1;
	return wait_for_mount(pid, lower, st.st_dev, err);
}

int image_mount(const char *image, uint64_t offset, const char *runtime_dir, char **ret_root, struct error *err)
{
	_cleanup_free_ char *lower = xasprintf("%s/lower", runtime_dir);
	_cleanup_free_ char *upper = xasprintf("%s/upper", runtime_dir);
	_cleanup_free_ char *work = xasprintf("%s/work", runtime_dir);
	_cleanup_free_ char *root = xasprintf("%s/rootfs", runtime_dir);
	_cleanup_free_ char *opts = NULL;
	int r;

	if (image_mount_check(err) < 0)
		return -1;
	if (mkdir(lower, 0700) < 0 || mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(root, 0755) < 0)
		return error_errno(err, "failed to create the overlay directories");
	r = sqfuse_mount(image, offset, lower, err);
	if (r > 0)
		r = mount_squashfuse(image, offset, lower, err);
	if (r < 0)
		return error_prefix(err, "failed to mount '%s'", image);
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,xino=off,userxattr", lower, upper, work);
	if (mount("overlay", root, "overlay", 0, opts) < 0)
		return error_set(err, errno, "failed to mount the overlay for '%s' (needs Linux >= 5.11)", image);
	*ret_root = TAKE_PTR(root);
	return 0;
}
