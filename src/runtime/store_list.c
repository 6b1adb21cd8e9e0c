/* SPDX-License-Identifier: Apache-2.0 */
/* `list` and running-container detection: a process whose root holds
 * /.lock belongs to the container whose directory is that root. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/xalloc.h"

struct proc_info {
	long pid;
	dev_t dev;
	ino_t ino;	   /* of /proc/PID/root */
	ino_t mntns, userns;
};

struct proc_set {
	struct proc_info *v;
	size_t n, cap;
};

static ino_t ns_ino(long pid, const char *ns)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%ld/ns/%s", pid, ns);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* One process per mount namespace (the lowest pid), like lsns -t mnt. */
static void add_proc(struct proc_set *s, long pid)
{
	char path[64];
	struct stat st;
	ino_t mnt = ns_ino(pid, "mnt");

	snprintf(path, sizeof(path), "/proc/%ld/root/.lock", pid);
	if (mnt == 0 || access(path, F_OK) < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/root", pid);
	if (stat(path, &st) < 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].mntns == mnt)
			return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct proc_info){pid, st.st_dev, st.st_ino, mnt, ns_ino(pid, "user")};
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static void scan_procs(struct proc_set *s)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	struct dirent *de;
	long *pids = NULL;
	size_t n = 0, cap = 0;

	while (d && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			pids = xrealloc(pids, cap * sizeof(long));
		}
		pids[n++] = strtol(de->d_name, NULL, 10);
	}
	/* Ascending, so that add_proc keeps the lowest pid of each namespace. */
	if (n > 1)
		qsort(pids, n, sizeof(*pids), cmp_long);
	for (size_t i = 0; i < n; i++)
		add_proc(s, pids[i]);
	free(pids);
}

static bool same_dir(const struct config *cfg, const char *name, const struct proc_info *p)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", config_get(cfg, "DATA_PATH"), name);
	struct stat st;

	return stat(path, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino;
}

long store_running_pid(const struct config *cfg, const char *name)
{
	struct proc_set s = {NULL, 0, 0};
	long pid = 0;

	scan_procs(&s);
	for (size_t i = 0; i < s.n && pid == 0; i++) {
		if (same_dir(cfg, name, &s.v[i]))
			pid = s.v[i].pid;
	}
	free(s.v);
	return pid;
}

static char *read_small(const char *fmt, long pid)
{
	char path[64];
	char *buf = NULL;
	size_t len = 0;
	struct error ignored = ERROR_INIT;

	snprintf(path, sizeof(path), fmt, pid);
	if (read_file_at(AT_FDCWD, path, 64 * 1024, &buf, &len, &ignored) < 0)
		return xstrdup("");
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* STATE, STARTED and TIME from /proc/PID/stat, formatted as ps(1) does. */
static void stat_fields(long pid, char *state, char *started, size_t slen, char *cputime, size_t clen)
{
	_cleanup_free_ char *st = read_small("/proc/%ld/stat", pid);
	const char *p = strrchr(st, ')');
	unsigned long utime = 0, stime = 0;
	unsigned long long start = 0;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec boot;
	time_t t;
	struct tm tm;

	*state = '?';
	if (p == NULL || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu",
				state, &utime, &stime, &start) != 4)
		start = 0;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	t = time(NULL) - boot.tv_sec + (time_t)(start / (unsigned long long)hz);
	localtime_r(&t, &tm);
	strftime(started, slen, "%H:%M", &tm);
	t = (time_t)((utime + stime) / (unsigned long)hz);
	snprintf(cputime, clen, "%02ld:%02ld:%02ld", (long)t / 3600, ((long)t / 60) % 60, (long)t % 60);
}

static void add_row(struct strv *cells, const char *name, const struct proc_info *p)
{
	char state[2] = {0, 0}, started[16], cputime[32];
	_cleanup_free_ char *comm = read_small("/proc/%ld/comm", p->pid);
	_cleanup_free_ char *cmd = read_small("/proc/%ld/cmdline", p->pid);

	stat_fields(p->pid, state, started, sizeof(started), cputime, sizeof(cputime));
	strv_push(cells, name);
	strv_pushf(cells, "%ld", p->pid);
	strv_push(cells, comm);
	strv_push(cells, state);
	strv_push(cells, started);
	strv_push(cells, cputime);
	strv_pushf(cells, "%lu", (unsigned long)p->mntns);
	strv_pushf(cells, "%lu", (unsigned long)p->userns);
	strv_push(cells, cmd);
}

#define NCOLS 9

/* column -t: cells padded to the widest, two spaces between columns. */
static void print_table(const struct strv *cells, FILE *out)
{
	size_t width[NCOLS] = {0};

	for (size_t i = 0; i < cells->n; i++) {
		size_t l = strlen(cells->v[i]);
		width[i % NCOLS] = l > width[i % NCOLS] ? l : width[i % NCOLS];
	}
	for (size_t i = 0; i < cells->n; i++) {
		bool last = i % NCOLS == NCOLS - 1;

		if (last)
			fprintf(out, "%s\n", cells->v[i]);
		else
			fprintf(out, "%-*s  ", (int)width[i % NCOLS], *cells->v[i] ? cells->v[i] : "");
	}
}

static void fancy_rows(const struct config *cfg, const struct strv *names, struct strv *cells)
{
	static const char *const header[NCOLS] = {"NAME", "PID", "COMM", "STATE", "STARTED",
						  "TIME", "MNTNS", "USERNS", "COMMAND"};
	struct proc_set s = {NULL, 0, 0};
	bool *used;

	scan_procs(&s);
	used = xcalloc(s.n + 1, sizeof(bool));
	for (size_t i = 0; i < NCOLS; i++)
		strv_push(cells, header[i]);
	for (size_t i = 0; i < names->n; i++) {
		bool first = true;

		for (size_t j = 0; j < s.n; j++) {
			if (used[j] || !same_dir(cfg, names->v[i], &s.v[j]))
				continue;
			used[j] = true;
			add_row(cells, first ? names->v[i] : "", &s.v[j]);
			first = false;
		}
		if (first) {
			strv_push(cells, names->v[i]);
			for (size_t k = 1; k < NCOLS; k++)
				strv_push(cells, "");
		}
	}
	/* Images started directly, or containers whose directory is gone, are
	 * listed together under "<unknown>", as enroot does. */
	for (size_t j = 0, unknown = 0; j < s.n; j++) {
		if (!used[j])
			add_row(cells, unknown++ == 0 ? "<unknown>" : "", &s.v[j]);
	}
	free(used);
	free(s.v);
}

int store_list(const struct config *cfg, bool fancy, FILE *out, struct error *err)
{
	struct strv names = STRV_INIT, cells = STRV_INIT;

	if (list_dir_sorted(config_get(cfg, "DATA_PATH"), NULL, &names, err) < 0)
		return -1;
	if (!fancy) {
		for (size_t i = 0; i < names.n; i++)
			fprintf(out, "%s\n", names.v[i]);
	} else {
		fancy_rows(cfg, &names, &cells);
		print_table(&cells, out);
	}
	strv_free(&names);
	strv_free(&cells);
	return 0;
}
