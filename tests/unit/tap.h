/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny TAP harness: each TEST runs in a forked child so a crash, an
 * unshare() or a chdir() cannot poison the next test. */
#ifndef CAPSA_TESTS_TAP_H
#define CAPSA_TESTS_TAP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tap_test {
	const char *name;
	void (*fn)(void);
};

#define TEST(name) static void test_##name(void)
#define T(name) {#name, test_##name}

#define TAP_FAIL(...)                                                                                        \
	do {                                                                                                 \
		printf("# %s:%d: ", __FILE__, __LINE__);                                                     \
		printf(__VA_ARGS__);                                                                         \
		printf("\n");                                                                                \
		fflush(stdout);                                                                              \
		_exit(1);                                                                                    \
	} while (0)

#define ASSERT_TRUE(c)                                                                                       \
	do {                                                                                                 \
		if (!(c))                                                                                    \
			TAP_FAIL("expected true: %s", #c);                                                   \
	} while (0)

#define ASSERT_EQ(a, b)                                                                                      \
	do {                                                                                                 \
		intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                             \
		if (_a != _b)                                                                                \
			TAP_FAIL("%s == %s: expected %jd, got %jd", #a, #b, _b, _a);                         \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                                   \
	do {                                                                                                 \
		const char *_a = (a), *_b = (b);                                                             \
		if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0)                                         \
			TAP_FAIL("%s: expected '%s', got '%s'", #a, _b ? _b : "(null)", _a ? _a : "(null)");  \
	} while (0)

#define ASSERT_OK(r, err)                                                                                    \
	do {                                                                                                 \
		if ((r) < 0)                                                                                 \
			TAP_FAIL("%s failed: %s", #r, (err)->msg);                                           \
	} while (0)

#define ASSERT_FAILS(r)                                                                                      \
	do {                                                                                                 \
		if ((r) >= 0)                                                                                \
			TAP_FAIL("%s succeeded, expected failure", #r);                                      \
	} while (0)

#define SKIP(reason)                                                                                         \
	do {                                                                                                 \
		printf("# SKIP %s\n", reason);                                                               \
		fflush(stdout);                                                                              \
		_exit(77);                                                                                   \
	} while (0)

static inline int tap_run(const struct tap_test *tests, size_t n, int argc, char **argv)
{
	int failed = 0, num = 0;

	for (size_t i = 0; i < n; i++) {
		int status = 0;
		pid_t pid;

		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			tests[i].fn();
			fflush(stdout);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		num++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d - %s\n", num, tests[i].name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			printf("ok %d - %s # SKIP\n", num, tests[i].name);
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("# killed by signal %d\n", WTERMSIG(status));
			printf("not ok %d - %s\n", num, tests[i].name);
		}
	}
	printf("1..%d\n", num);
	return failed ? 1 : 0;
}

#define TAP_MAIN(...)                                                                                        \
	int main(int argc, char **argv)                                                                      \
	{                                                                                                    \
		static const struct tap_test tests[] = {__VA_ARGS__};                                        \
		return tap_run(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);                         \
	}

#endif
