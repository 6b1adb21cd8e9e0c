/* SPDX-License-Identifier: Apache-2.0 */
/* Closing host fds before a container command runs, with and without
 * close_range (kernels before 5.9). Each test runs in its own child. */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/proc.h"
#include "tap.h"

/* Open fds at 3, 10 and 700; check that only 0-2 are left afterwards. */
static void check_closes_all(void)
{
	int fd = open("/dev/null", O_RDONLY);

	ASSERT_TRUE(fd >= 3);
	ASSERT_EQ(dup2(fd, 10), 10);
	ASSERT_EQ(dup2(fd, 700), 700);
	close_fds_from(3);
	ASSERT_TRUE(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	ASSERT_TRUE(fcntl(10, F_GETFD) < 0 && errno == EBADF);
	ASSERT_TRUE(fcntl(700, F_GETFD) < 0 && errno == EBADF);
	ASSERT_TRUE(fcntl(2, F_GETFD) >= 0);
}

TEST(close_fds_with_close_range)
{
	check_closes_all();
}

/* As on RHEL 8: close_range fails with ENOSYS, /proc/self/fd is walked. */
TEST(close_fds_without_close_range)
{
	scmp_filter_ctx sc = seccomp_init(SCMP_ACT_ALLOW);

	ASSERT_TRUE(sc != NULL);
	ASSERT_EQ(seccomp_rule_add(sc, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range), 0), 0);
	ASSERT_EQ(seccomp_load(sc), 0);
	seccomp_release(sc);
	ASSERT_TRUE(syscall(SYS_close_range, 5U, 5U, 0U) < 0 && errno == ENOSYS);
	check_closes_all();
}

TAP_MAIN(T(close_fds_with_close_range), T(close_fds_without_close_range))
