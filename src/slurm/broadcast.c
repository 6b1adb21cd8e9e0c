/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm/broadcast.h"
#include "util/cleanup.h"

#define STATE_MAX 1024
#define SEND_TRIES 20
#define SEND_RETRY_MS 250
#define FIRST_WORD_S 60

void bcast_init(struct bcast *b)
{
	snprintf(b->image, sizeof(b->image), "%s/%" PRIu32 ".%" PRIu32 ".bcast.sqsh", b->dir, b->jobid, b->stepid);
}

static void step_file(const struct bcast *b, const char *suffix, char *out, size_t size)
{
	snprintf(out, size, "%s/%" PRIu32 ".%" PRIu32 ".%s", b->dir, b->jobid, b->stepid, suffix);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct send {
	const char *state; /* NULL: src is the image */
	const char *src;
	struct child_exec ex;
};

/* In the child: only system calls (slurmstepd is multi-threaded). */
static int send_fn(void *data)
{
	const struct send *s = data;

	if (s->state != NULL) {
		int fd = open(s->src, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t n = strlen(s->state);

		if (fd < 0 || write(fd, s->state, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || close(fd) < 0)
			return 125;
	}
	return child_exec_fn((void *)&s->ex);
}

/* The first line of a child's log, for an error message. */
static void first_line(int log_fd, char *out, size_t size)
{
	char buf[512];
	ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(out, size, "%s", buf[0] != '\0' ? buf : "no output");
}

static int bcast_sbcast(const struct bcast *b, const char *state, const char *src, const char *dest, struct error *err)
{
	char jobstep[32], why[512] = "";
	char *argv[] = {(char *)"sbcast", (char *)"-j", jobstep, (char *)"-f", (char *)src, (char *)dest, NULL};
	struct send s = {state, src, {b->sbcast_path, argv, b->envp}};
	int status = 0;

	snprintf(jobstep, sizeof(jobstep), "%" PRIu32 ".%" PRIu32, b->jobid, b->stepid);
	for (int i = 0; i < SEND_TRIES; i++) {
		_cleanup_close_ int log_fd = child_log_open();
		pid_t pid;

		if (log_fd < 0 || child_spawn(b->id, log_fd, send_fn, &s, &pid) < 0)
			return error_set(err, errno, "couldn't run sbcast");
		if (child_wait(pid, false, &status) < 0)
			return error_set(err, errno, "waitpid failed");
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
		first_line(log_fd, why, sizeof(why));
		/* Not worth retrying: it cannot run or cannot write the state. */
		if (WIFEXITED(status) && (WEXITSTATUS(status) == 127 || WEXITSTATUS(status) == 125))
			break;
		sleep_ms(SEND_RETRY_MS);
	}
	return error_set(err, 0, "sbcast of %s to the step's nodes failed: %s", state ? "the import state" : "the image",
			 WIFEXITED(status) && WEXITSTATUS(status) == 125 ? "couldn't write the state file" : why);
}

int bcast_send_state(const struct bcast *b, const char *state, struct error *err)
{
	char src[PATH_MAX], dest[PATH_MAX];

	step_file(b, "bcast-out", src, sizeof(src));
	step_file(b, "bcast", dest, sizeof(dest));
	return bcast_sbcast(b, state, src, dest, err);
}

int bcast_send_image(const struct bcast *b, const char *path, struct error *err)
{
	return bcast_sbcast(b, NULL, path, b->image, err);
}

/* --- waiting (in a child, as the user) ----------------------------------- */

struct wait {
	char path[PATH_MAX];
	const char *dir;
};

/* The state's first complete line, or 0 (absent, or still being written). */
static size_t read_state(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;
	char *nl;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	nl = memchr(buf, '\n', (size_t)n);
	return nl == NULL ? 0 : (size_t)(nl - buf) + 1;
}

static bool is_final(const char *s, size_t n)
{
	return (n > 6 && memcmp(s, "ready ", 6) == 0) || (n > 7 && memcmp(s, "failed ", 7) == 0) ||
	       (n == 5 && memcmp(s, "self\n", 5) == 0);
}

static long now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* Exit 0 with the state on stdout, 2 when the first node never spoke. */
static int wait_fn(void *data)
{
	const struct wait *w = data;
	char buf[STATE_MAX], events[4096];
	long deadline = now_s() + FIRST_WORD_S;
	bool heard = false;
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	if (in >= 0 && inotify_add_watch(in, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY) < 0) {
		close(in);
		in = -1;
	}
	for (;;) {
		size_t n = read_state(w->path, buf, sizeof(buf));
		struct pollfd p = {in, POLLIN, 0};

		if (n > 0 && is_final(buf, n))
			return write(1, buf, n) == (ssize_t)n ? 0 : 3;
		heard = heard || n > 0;
		if (!heard && now_s() >= deadline)
			return 2;
		/* inotify wakes us at once; the timeout covers filesystems
		 * without it. */
		if (poll(&p, in >= 0 ? 1 : 0, 500) > 0)
			while (read(in, events, sizeof(events)) > 0)
				;
	}
}

int bcast_wait(const struct bcast *b, char *state, size_t size, struct error *err)
{
	_cleanup_close_ int log_fd = child_log_open();
	struct wait w = {.dir = b->dir};
	pid_t pid;
	int status;
	ssize_t n;

	step_file(b, "bcast", w.path, sizeof(w.path));
	if (log_fd < 0 || child_spawn(b->id, log_fd, wait_fn, &w, &pid) < 0)
		return error_set(err, errno, "couldn't wait for the step's first node");
	if (child_wait(pid, false, &status) < 0)
		return error_set(err, errno, "waitpid failed");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		return error_set(err, ETIMEDOUT,
				 "no word from the step's first node within %d s (does sbcast work on this cluster?)",
				 FIRST_WORD_S);
	n = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? pread(log_fd, state, size - 1, 0) : -1;
	if (n <= 0)
		return error_set(err, 0, "waiting for the step's first node failed");
	state[n] = '\0';
	state[strcspn(state, "\n")] = '\0';
	return 0;
}

static int cleanup_fn(void *data)
{
	char *const *paths = data;

	for (size_t i = 0; paths[i] != NULL; i++)
		unlink(paths[i]);
	return 0;
}

void bcast_cleanup(const struct bcast *b)
{
	char state[PATH_MAX], out[PATH_MAX];
	char *paths[] = {state, out, (char *)b->image, NULL};
	pid_t pid;
	int status;

	step_file(b, "bcast", state, sizeof(state));
	step_file(b, "bcast-out", out, sizeof(out));
	if (child_spawn(b->id, -1, cleanup_fn, paths, &pid) == 0)
		child_wait(pid, false, &status);
}
