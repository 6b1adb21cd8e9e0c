/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/namespaces.h"
#include "util/cleanup.h"

static uid_t outer_uid;
static gid_t outer_gid;

uid_t ns_outer_uid(void)
{
	return outer_uid;
}

gid_t ns_outer_gid(void)
{
	return outer_gid;
}

static int write_proc(const char *file, const char *text, struct error *err)
{
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return error_set(err, errno, "failed to write '%s'", file);
	return 0;
}

static int userns_error(struct error *err)
{
	int e = errno;

	return error_set(err, e,
			 "failed to create user namespace (unprivileged user namespaces may be disabled: check "
			 "sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces and "
			 "kernel.apparmor_restrict_unprivileged_userns)");
}

static int enter_userns(const struct ns_opts *o, struct error *err)
{
	char map[64];

	if (unshare(CLONE_NEWUSER) < 0)
		return userns_error(err);
	if (write_proc("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", o->remap_root ? 0 : (unsigned)outer_gid, (unsigned)outer_gid);
	if (write_proc("/proc/self/gid_map", map, err) < 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1\n", o->remap_root ? 0 : (unsigned)outer_uid, (unsigned)outer_uid);
	return write_proc("/proc/self/uid_map", map, err);
}

static int loopback_up(struct error *err)
{
	_cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (sock < 0)
		return error_errno(err, "failed to create socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return error_errno(err, "failed to get loopback flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return error_errno(err, "failed to bring loopback up");
	return 0;
}

int ns_enter(const struct ns_opts *o, struct error *err)
{
	int flags = CLONE_NEWNS;

	outer_uid = geteuid();
	outer_gid = getegid();
	if (o->userns && enter_userns(o, err) < 0)
		return -1;
	flags |= (o->pid ? CLONE_NEWPID : 0) | (o->net ? CLONE_NEWNET : 0) | (o->ipc ? CLONE_NEWIPC : 0) |
		 (o->uts ? CLONE_NEWUTS : 0);
	if (unshare(flags) < 0)
		return error_errno(err, "failed to create namespaces");
	/* Needed without a user namespace; harmless with one (security.md §3). */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return error_errno(err, "failed to set mount propagation of /");
	if (o->net && loopback_up(err) < 0)
		return -1;
	return 0;
}

static volatile pid_t forward_to;

static void forward_signal(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

static void install_forwarders(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Exit the way the child did, so the caller sees the same status. */
static void __attribute__((noreturn)) exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		signal(sig, SIG_DFL);
		prctl(PR_SET_DUMPABLE, 0);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(status));
}

/* The original process (outside) waits for init; init (PID 1 inside)
 * reaps orphans and leaves when the worker does, which kills the rest of
 * the namespace. Both forward the usual termination signals. */
static void __attribute__((noreturn)) wait_child(pid_t child, bool reap_all)
{
	int status = 0;

	forward_to = child;
	install_forwarders();
	for (;;) {
		pid_t p = waitpid(reap_all ? -1 : child, &status, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			_exit(1);
		if (p == child)
			break;
	}
	exit_like(status);
}

static pid_t fork_with_parent_death(struct error *err)
{
	pid_t pid = fork();

	if (pid < 0)
		return error_errno(err, "failed to fork");
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

int ns_fork_pid_init(struct error *err)
{
	pid_t init = fork_with_parent_death(err);
	pid_t worker;

	if (init < 0)
		return -1;
	if (init > 0)
		wait_child(init, false);
	worker = fork_with_parent_death(err);
	if (worker < 0)
		_exit(1);
	if (worker > 0)
		wait_child(worker, true);
	return 0;
}
