/* SPDX-License-Identifier: Apache-2.0 */
/* A step in a container, pyxis-style (pyxis.md §6): slurmstepd prepares
 * (init_post_opt as root, user_init as the user), every task joins the
 * container the first one started (task_init, as the user), the last one to
 * exit saves and cleans up (task_exit, in slurmstepd).  All image and
 * container work is the capsa CLI run as the job user (child.c): nothing
 * here follows a user path as root, and slurmstepd never loads capsa's
 * image libraries. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm/broadcast.h"
#include "slurm/child.h"
#include "slurm/container.h"
#include "slurm/plugin.h"
#include "slurm/seccomp.h"
#include "util/cleanup.h"

/* Shared by the tasks of the step on this node: mapped in user_init, before
 * slurmstepd forks them. */
struct shared {
	pthread_mutex_t mutex;
	atomic_int init_tasks;
	atomic_int started_tasks;
	atomic_int completed_tasks;
	pid_t pid;    /* the stopped container shell (environ, cwd) */
	pid_t ns_pid; /* whose namespaces the tasks join */
	bool own_pid; /* pid is this step's (ended with it) */
	bool created; /* a temporary named rootfs exists (remove it) */
};

static struct step {
	bool enabled;
	const struct spank_config *config;
	const struct spank_args *args;
	struct identity id;
	uint32_t jobid, stepid, local_tasks, total_tasks, nodeid, nnodes;
	char cwd[PATH_MAX]; /* the job's PWD, "" if unknown */
	bool privileged;

	char name[NAME_MAX + 1]; /* capsa's container name */
	bool named;		 /* --container-name: kept after the step */
	long existing;		 /* -1 absent, 0 exists, >0 running pid */
	bool reuse_rootfs;
	bool attach;		    /* join the namespaces of existing */
	bool attach_direct;	    /* existing is another step's unnamed container */
	bool direct;		    /* start the squashfs itself (no rootfs) */
	char squashfs[PATH_MAX];    /* the image to start or create from */
	bool tmp_squashfs;	    /* squashfs is our import */
	bool importer;		    /* squashfs comes from config->importer */
	bool load;		    /* capsa load: import and create in one */
	bool store;		    /* squashfs comes from the image store */
	bool bcast;		    /* the first node sends the image (broadcast.h) */
	struct bcast bc;
	char user_dir[PATH_MAX];    /* runtime_path/<uid> */
	char **job_env;		    /* copy of S_JOB_ENV */
	struct shared *shm;

	struct error deferred; /* user_init's error, reported by task_init */
	bool has_deferred;
} step = {.existing = -1};

/* --- environment of the capsa children ------------------------------------ */

struct env {
	char **v;
	size_t n, cap;
	bool oom;
};

static void env_push(struct env *e, char *s)
{
	char **p;

	if (s == NULL || e->oom) {
		e->oom = true;
		free(s);
		return;
	}
	if (e->n + 2 > e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		p = realloc(e->v, e->cap * sizeof(*p));
		if (p == NULL) {
			e->oom = true;
			free(s);
			return;
		}
		e->v = p;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

static void env_pushf(struct env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_pushf(struct env *e, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	env_push(e, s);
}

static void strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void env_flag(struct env *e, const char *setting, int value)
{
	if (value == SPANK_UNSET)
		return;
	env_pushf(e, "CAPSA_%s=%s", setting, value ? "y" : "n");
	env_pushf(e, "ENROOT_%s=%s", setting, value ? "y" : "n");
}

/* pyxis's enroot_set_env: PATH, the job environment minus the deny list,
 * the job identity, the user's choices as settings.  NULL on ENOMEM. */
static char **child_env(char **job_env)
{
	const struct spank_args *a = step.args;
	const char *path = getenv("PATH");
	struct env e = {NULL, 0, 0, false};

	env_pushf(&e, "PATH=%s", path != NULL && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin");
	for (size_t i = 0; job_env != NULL && job_env[i] != NULL; i++) {
		if (env_denied(job_env[i]) || strncmp(job_env[i], "SLURM_JOB_UID=", 14) == 0 ||
		    strncmp(job_env[i], "SLURM_JOB_GID=", 14) == 0 || strncmp(job_env[i], "SLURM_JOB_ID=", 13) == 0 ||
		    strncmp(job_env[i], "SLURM_STEP_ID=", 14) == 0)
			continue;
		env_push(&e, strdup(job_env[i]));
	}
	env_pushf(&e, "SLURM_JOB_UID=%u", (unsigned)step.id.uid);
	env_pushf(&e, "SLURM_JOB_GID=%u", (unsigned)step.id.gid);
	env_pushf(&e, "SLURM_JOB_ID=%" PRIu32, step.jobid);
	if (a != NULL)
		env_pushf(&e, "SLURM_STEP_ID=%" PRIu32, step.stepid);
	if (a != NULL) { /* NULL in the job epilog */
		env_flag(&e, "MOUNT_HOME", a->mount_home);
		env_flag(&e, "REMAP_ROOT", a->remap_root);
		env_flag(&e, "ROOTFS_WRITABLE", a->writable);
		if (a->unshare & SPANK_UNSHARE_NET)
			env_flag(&e, "UNSHARE_NET", 1);
		if (a->unshare & SPANK_UNSHARE_IPC)
			env_flag(&e, "UNSHARE_IPC", 1);
		if (a->unshare & SPANK_UNSHARE_UTS)
			env_flag(&e, "UNSHARE_UTS", 1);
	}
	if (step.config->sysconf_path[0] != '\0')
		env_pushf(&e, "CAPSA_SYSCONF_PATH=%s", step.config->sysconf_path);
	env_pushf(&e, "PYXIS_RUNTIME_PATH=%s", step.config->runtime_path);
	env_pushf(&e, "PYXIS_VERSION=capsa-%s", CAPSA_VERSION);
	if (e.oom) {
		strv_free(e.v);
		return NULL;
	}
	return e.v;
}

/* --- running capsa --------------------------------------------------------- */

static void print_log_as(int log_fd, const char *what)
{
	_cleanup_free_ char *log = child_log_read(log_fd, NULL);
	char *line, *rest = log;

	if (log == NULL)
		return;
	slurm_error("capsa: printing %s log file:", what);
	while ((line = strsep(&rest, "\n")) != NULL) {
		if (*line != '\0' || rest != NULL)
			slurm_error("capsa:     %s", line);
	}
}

static void print_log(int log_fd)
{
	print_log_as(log_fd, "capsa");
}

static void print_status(pid_t pid, int status)
{
	if (WIFEXITED(status))
		slurm_error("capsa: child %ld failed with error code: %d", (long)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		slurm_error("capsa: child %ld terminated with signal %d", (long)pid, WTERMSIG(status));
}

static int wait_logged(pid_t pid, bool untraced, int *status)
{
	int r = child_wait(pid, untraced, status);

	if (r > 0)
		slurm_info("capsa: received SIGTERM, forwarding to child %ld", (long)pid);
	return r < 0 ? -1 : 0;
}

/* capsa's warnings reach the user, as on a terminal. */
static void forward_warnings(int log_fd)
{
	_cleanup_free_ char *log = child_log_read(log_fd, NULL);
	char *line, *rest = log;

	while (log != NULL && (line = strsep(&rest, "\n")) != NULL)
		if (strstr(line, "[WARN]") != NULL)
			slurm_spank_log("capsa: %s", line);
}

/* capsa ARGS... as the job user; 0 on exit 0.  With out, its standard
 * output is returned there (also on failure).  Its standard error is
 * returned in log_out if given, else printed on failure. */
static int capsa_run_ex(char **job_env, const char *const *args, char **out, char **log_out)
{
	_cleanup_close_ int log_fd = child_log_open(), out_fd = out != NULL ? child_log_open() : -1;
	char *argv[16];
	char **envp;
	struct child_exec ex;
	size_t n = 0;
	pid_t pid;
	int status, r;

	argv[n++] = (char *)"capsa";
	for (; args[n - 1] != NULL && n < ARRAY_SIZE(argv) - 1; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	envp = child_env(job_env);
	if (envp == NULL || log_fd < 0 || (out != NULL && out_fd < 0)) {
		strv_free(envp);
		slurm_error("capsa: could not prepare the capsa command: %s", strerror(envp ? errno : ENOMEM));
		return -1;
	}
	ex = (struct child_exec){step.config->capsa_path, argv, envp};
	slurm_verbose("capsa: running capsa command: %s %s", argv[1], argv[2] ? argv[2] : "");
	r = child_spawn2(&step.id, out != NULL ? out_fd : log_fd, log_fd, child_exec_fn, &ex, &pid);
	strv_free(envp);
	if (r < 0) {
		slurm_error("capsa: could not fork: %s", strerror(errno));
		return -1;
	}
	if (wait_logged(pid, false, &status) < 0) {
		slurm_error("capsa: waitpid failed: %s", strerror(errno));
		return -1;
	}
	if (out != NULL)
		*out = child_log_read(out_fd, NULL);
	if (log_out != NULL)
		*log_out = child_log_read(log_fd, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		forward_warnings(log_fd);
		return 0;
	}
	if (log_out == NULL) {
		print_status(pid, status);
		print_log(log_fd);
	}
	return -1;
}

static int capsa_run(char **job_env, const char *const *args, char **out)
{
	return capsa_run_ex(job_env, args, out, NULL);
}

static int defer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- init_post_opt (root): the user's directory under runtime_path ------- */

/* runtime_path/<uid>, made the user's in one step: created under a
 * temporary name, chowned, then renamed into place, so a concurrent step
 * never sees it root's. */
static int create_user_dir(int dfd, const char *uid)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), ".%s.%ld", uid, (long)getpid());
	if (mkdirat(dfd, tmp, 0700) < 0)
		return -1;
	if (fchownat(dfd, tmp, step.id.uid, step.id.gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (renameat2(dfd, tmp, dfd, uid, RENAME_NOREPLACE) < 0 && errno != EEXIST)) {
		int e = errno;

		unlinkat(dfd, tmp, AT_REMOVEDIR);
		errno = e;
		return -1;
	}
	unlinkat(dfd, tmp, AT_REMOVEDIR); /* another step's won: ours is left */
	return 0;
}

static int runtime_dir(void)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	char uid[16];
	struct stat st;

	snprintf(uid, sizeof(uid), "%u", (unsigned)step.id.uid);
	/* runtime_path is the admin's: created like slurmd does in pyxis, and
	 * it must be root's and not writable by others (users must not be able
	 * to put their own entries in it). */
	if (mkdir(step.config->runtime_path, 0755) < 0 && errno != EEXIST)
		return defer("couldn't create %s: %s", step.config->runtime_path, strerror(errno));
	dfd = open(step.config->runtime_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0)
		return defer("couldn't open %s: %s", step.config->runtime_path, strerror(errno));
	if (st.st_uid != 0 || (st.st_mode & 022) != 0)
		return defer("%s must be owned by root and not writable by others", step.config->runtime_path);
	if (fstatat(dfd, uid, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT && create_user_dir(dfd, uid) < 0)
		return defer("couldn't create %s/%s: %s", step.config->runtime_path, uid, strerror(errno));
	fd = openat(dfd, uid, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return defer("couldn't open %s/%s: %s", step.config->runtime_path, uid, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != step.id.uid)
		return defer("%s/%s is not a directory owned by uid %s", step.config->runtime_path, uid, uid);
	return 0;
}

static int get_u32(spank_t sp, spank_item_t item, uint32_t *ret, const char *what)
{
	spank_err_t rc = spank_get_item(sp, item, ret);

	if (rc != ESPANK_SUCCESS) {
		slurm_error("capsa: couldn't get %s: %s", what, spank_strerror(rc));
		return -1;
	}
	return 0;
}

static void read_privileged(spank_t sp)
{
	char buf[6];
	int b;

	step.privileged = false;
	if (step.id.uid != 0)
		return;
	if (spank_getenv(sp, "ENROOT_ALLOW_SUPERUSER", buf, sizeof(buf)) != ESPANK_SUCCESS &&
	    spank_getenv(sp, "CAPSA_ALLOW_SUPERUSER", buf, sizeof(buf)) != ESPANK_SUCCESS)
		return;
	for (char *c = buf; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	b = spank_parse_bool(buf);
	step.privileged = b != 0 && strcmp(buf, "f") != 0;
}

/* Registry images (not dockerd:// or podman://) for the image store, when
 * neither importer= nor use_enroot_load= takes over. */
static bool store_capable(void)
{
	const char *image = step.args->image;

	return step.config->image_store && image != NULL && !image_is_path(image) &&
	       step.config->importer[0] == '\0' &&
	       !(step.config->use_enroot_load && (step.args->name != NULL || step.args->save != NULL)) &&
	       (strstr(image, "://") == NULL || strncmp(image, "docker://", 9) == 0);
}

/* The same answer on every node of the step: it depends only on the
 * configuration and the options, never on what this node has. */
static void choose_broadcast(void)
{
	step.bcast = store_capable() && step.nnodes > 1 && step.config->sbcast_path[0] != '\0';
	if (!step.bcast)
		return;
	step.bc = (struct bcast){.id = &step.id, .sbcast_path = step.config->sbcast_path, .dir = step.user_dir,
				 .jobid = step.jobid, .stepid = step.stepid};
	bcast_init(&step.bc);
}

int step_init_post_opt(spank_t sp, const struct spank_config *config)
{
	gid_t *gids = NULL;
	int ngids = 0;

	step.config = config;
	step.args = args_get();
	step.enabled = step.args->image != NULL || step.args->name != NULL;
	if (!step.enabled)
		return 0;
	if (spank_get_item(sp, S_JOB_UID, &step.id.uid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_GID, &step.id.gid) != ESPANK_SUCCESS) {
		slurm_error("capsa: couldn't get job uid/gid");
		return -1;
	}
	if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &gids, &ngids) == ESPANK_SUCCESS && ngids > 0) {
		step.id.gids = malloc((size_t)ngids * sizeof(*gids));
		if (step.id.gids == NULL) {
			slurm_error("capsa: could not allocate memory");
			return -1;
		}
		memcpy(step.id.gids, gids, (size_t)ngids * sizeof(*gids));
		step.id.ngids = ngids;
	}
	if (get_u32(sp, S_JOB_ID, &step.jobid, "job id") < 0 || get_u32(sp, S_JOB_STEPID, &step.stepid, "step id") < 0 ||
	    get_u32(sp, S_JOB_LOCAL_TASK_COUNT, &step.local_tasks, "local task count") < 0 ||
	    get_u32(sp, S_JOB_TOTAL_TASK_COUNT, &step.total_tasks, "total task count") < 0 ||
	    get_u32(sp, S_JOB_NODEID, &step.nodeid, "node id") < 0 ||
	    get_u32(sp, S_JOB_NNODES, &step.nnodes, "node count") < 0)
		return -1;
	if (spank_getenv(sp, "PWD", step.cwd, sizeof(step.cwd)) != ESPANK_SUCCESS) {
		step.cwd[0] = '\0';
		slurm_info("capsa: couldn't get the job's PWD");
	}
	read_privileged(sp);
	snprintf(step.user_dir, sizeof(step.user_dir), "%s/%u", config->runtime_path, (unsigned)step.id.uid);
	choose_broadcast();
	/* A failure here would only say "Plugin initialization failed" to
	 * srun: it is reported by task_init, as user_init's are. */
	return runtime_dir();
}

/* --- user_init (as the user): name, existence, import mode --------------- */

/* Errors of init_post_opt and user_init are kept for task_init: Slurm
 * does not show them to the user (schedmd bug 7573). */
static int defer(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(step.deferred.msg, sizeof(step.deferred.msg), fmt, ap);
	va_end(ap);
	step.has_deferred = true;
	slurm_debug("capsa: postponing error: %s", step.deferred.msg);
	return 0;
}

static int copy_job_env(spank_t sp, char ***ret)
{
	char **env = NULL, **copy;
	size_t n = 0;

	if (spank_get_item(sp, S_JOB_ENV, &env) != ESPANK_SUCCESS || env == NULL)
		return -1;
	while (env[n] != NULL)
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	if (copy == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(env[i]);
		if (copy[i] == NULL) {
			strv_free(copy);
			return -1;
		}
	}
	*ret = copy;
	return 0;
}

static struct shared *shared_create(void)
{
	struct shared *shm;
	pthread_mutexattr_t attr;

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return NULL;
	if (pthread_mutexattr_init(&attr) != 0 || pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&shm->mutex, &attr) != 0) {
		munmap(shm, sizeof(*shm));
		return NULL;
	}
	pthread_mutexattr_destroy(&attr);
	atomic_init(&shm->init_tasks, 0);
	atomic_init(&shm->started_tasks, 0);
	atomic_init(&shm->completed_tasks, 0);
	shm->pid = -1;
	shm->ns_pid = -1;
	return shm;
}

/* --- unnamed containers a later step attaches to by JOBID.STEPID --------- */

static int unlink_fn(void *data)
{
	return unlink(data) == 0 || errno == ENOENT ? 0 : 1;
}

/* Started directly, an unnamed container has no rootfs for `capsa list` to
 * find: runtime_path/<uid>/<its name>.pid holds its shell's pid while it
 * runs.  Written and read as the user, in children (only system calls). */
struct marker {
	char path[PATH_MAX];
	char text[32];
};

static int marker_write_fn(void *data)
{
	const struct marker *m = data;
	int fd = open(m->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t n = strlen(m->text);

	return fd < 0 || write(fd, m->text, n) != (ssize_t)n || close(fd) < 0 ? 1 : 0;
}

static int marker_read_fn(void *data)
{
	const struct marker *m = data;
	char buf[32];
	int fd = open(m->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	return n > 0 && write(1, buf, (size_t)n) == n ? 0 : 1;
}

static void marker_path(struct marker *m)
{
	snprintf(m->path, sizeof(m->path), "%s/%s.pid", step.user_dir, step.name);
}

static void marker_write(void)
{
	struct marker m;
	pid_t pid;
	int status;

	marker_path(&m);
	snprintf(m.text, sizeof(m.text), "%ld\n", (long)step.shm->pid);
	if (child_spawn(&step.id, -1, marker_write_fn, &m, &pid) == 0)
		child_wait(pid, false, &status);
}

static void marker_unlink(void)
{
	struct marker m;
	pid_t pid;
	int status;

	marker_path(&m);
	if (child_spawn(&step.id, -1, unlink_fn, m.path, &pid) == 0)
		child_wait(pid, false, &status);
}

/* The running unnamed container's shell, or -1. */
static long marker_read(void)
{
	_cleanup_close_ int log_fd = child_log_open();
	_cleanup_free_ char *text = NULL;
	struct marker m;
	char proc[32];
	struct stat st;
	pid_t pid;
	int status;
	long v;

	marker_path(&m);
	if (log_fd < 0 || child_spawn2(&step.id, log_fd, -1, marker_read_fn, &m, &pid) < 0 ||
	    child_wait(pid, false, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	text = child_log_read(log_fd, NULL);
	v = text != NULL ? strtol(text, NULL, 10) : 0;
	snprintf(proc, sizeof(proc), "/proc/%ld", v);
	/* A stale pid reused by another process is not the container. */
	if (v <= 1 || stat(proc, &st) < 0 || st.st_uid != step.id.uid)
		return -1;
	return v;
}

static bool is_step_name(const char *name)
{
	const char *p = name;

	if (name == NULL || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '\0' || *p == ':';
}

static int lookup_container(void)
{
	static const char *const list[] = {"list", "-f", NULL};
	_cleanup_free_ char *out = NULL, *log = NULL;
	char *nl;

	if (capsa_run_ex(step.job_env, list, &out, &log) < 0) {
		/* The user sees the deferred error only: capsa's first line in it. */
		if (log != NULL && (nl = strchr(log, '\n')) != NULL)
			*nl = '\0';
		return defer("couldn't get list of containers%s%s", log && *log ? ": " : "", log ? log : "");
	}
	step.existing = container_lookup(out != NULL ? out : "", step.name);
	if (step.existing < 0 && is_step_name(step.args->name)) {
		step.existing = marker_read();
		step.attach_direct = step.existing > 0;
	}
	return 0;
}

static int batch_script_mount(spank_t sp)
{
	char **argv = NULL;
	int argc = 0;
	_cleanup_free_ char *mount = NULL;

	if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS || argc == 0 || argv == NULL)
		return defer("couldn't get sbatch script: argc == 0");
	if (asprintf(&mount, "%s:%s:x-create=file+bind+ro+nosuid+nodev+private", argv[0], argv[0]) < 0)
		return defer("could not allocate memory");
	if (args_add_mounts(mount) < 0)
		return defer("couldn't add the sbatch script mount");
	return 0;
}

int step_user_init(spank_t sp)
{
	const struct spank_args *a = step.args;

	if (!step.enabled || step.has_deferred)
		return 0;
	step.shm = shared_create();
	if (step.shm == NULL)
		return defer("couldn't create the shared memory of the step: %s", strerror(errno));
	if (copy_job_env(sp, &step.job_env) < 0)
		return defer("couldn't read the job environment");
	if (step.stepid == SPANK_BATCH_STEP && batch_script_mount(sp) < 0)
		return 0;

	step.named = a->name != NULL;
	if (container_name(step.name, sizeof(step.name), step.config->container_scope, step.jobid, step.stepid,
			   a->name) < 0)
		return defer("container name too long");
	if (step.named && lookup_container() < 0)
		return 0;
	if (step.has_deferred)
		return 0;

	if (step.named) {
		if (a->name_flag == SPANK_NAME_CREATE && step.existing >= 0)
			return defer("\"create\" flag was passed to --container-name but the container already exists");
		if (a->name_flag == SPANK_NAME_EXEC && step.existing <= 0)
			return defer("\"exec\" flag was passed to --container-name but the container is not running");
		if (a->name_flag == SPANK_NAME_NO_EXEC && step.existing > 0)
			step.existing = 0;
		if (step.existing > 0) {
			slurm_info("capsa: reusing existing container namespaces");
			step.attach = true;
			step.reuse_rootfs = true;
		} else if (step.existing == 0) {
			slurm_info("capsa: reusing existing container filesystem");
			step.reuse_rootfs = true;
		} else if (a->image == NULL) {
			return defer("a container with name \"%s\" does not exist, and --container-image is not set",
				     step.name);
		}
	}
	if (step.attach && a->mounts_len > 0) {
		slurm_spank_log("capsa: ignoring --container-mounts when attaching to a running container");
		args_drop_mounts();
	}
	if (step.reuse_rootfs)
		return 0;

	/* Unnamed and not saved: the squashfs is started itself (squashfuse),
	 * nothing is unpacked. */
	step.direct = !step.named && a->save == NULL;
	if (image_is_path(a->image)) {
		snprintf(step.squashfs, sizeof(step.squashfs), "%s", a->image);
		return 0;
	}
	if (step.config->importer[0] != '\0') {
		step.importer = true;
		return 0;
	}
	if (step.config->use_enroot_load && !step.direct && strncmp(a->image, "dockerd://", 10) != 0) {
		step.load = true;
		return 0;
	}
	if (store_capable()) {
		step.store = true;
		return 0;
	}
	snprintf(step.squashfs, sizeof(step.squashfs), "%s/%" PRIu32 ".%" PRIu32 ".squashfs", step.user_dir,
		 step.jobid, step.stepid);
	step.tmp_squashfs = true;
	return 0;
}

/* --- task_init (every task, as the user) --------------------------------- */

/* As the job user: unlink the step's temporary squashfs. */
static void unlink_tmp_squashfs(void)
{
	pid_t pid;
	int status;

	if (!step.tmp_squashfs)
		return;
	if (child_spawn(&step.id, -1, unlink_fn, step.squashfs, &pid) == 0)
		child_wait(pid, false, &status);
}

/* The last line capsa import --store printed: the stored image. */
static int stored_path(char *out)
{
	char *end, *line;

	if (out == NULL)
		return -1;
	end = out + strlen(out);
	while (end > out && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(out, '\n');
	line = line != NULL ? line + 1 : out;
	if (line[0] != '/' || strlen(line) >= sizeof(step.squashfs)) {
		slurm_error("capsa: capsa import --store did not print the stored image's path");
		return -1;
	}
	snprintf(step.squashfs, sizeof(step.squashfs), "%s", line);
	return 0;
}

/* capsa import or load of the image, with pyxis's messages around it.
 * verb "store": import --store, with the digest (and the file) the step's
 * first node sent if any. */
static int fetch_image(char **job_env, const char *verb, const char *digest, const char *adopt)
{
	_cleanup_free_ char *uri = image_uri(step.args->image), *out = NULL;
	bool store = strcmp(verb, "store") == 0;
	const char *argv[10] = {"import"};
	size_t n = 1;

	if (uri == NULL) {
		slurm_error("capsa: could not allocate memory");
		return -1;
	}
	if (strcmp(verb, "load") == 0) {
		argv[0] = "load";
		argv[n++] = "--name";
		argv[n++] = step.name;
	} else if (!store) {
		argv[n++] = "-o";
		argv[n++] = step.squashfs;
	} else {
		argv[n++] = "--store";
		if (digest != NULL) {
			argv[n++] = "--digest";
			argv[n++] = digest;
		}
		if (adopt != NULL) {
			argv[n++] = "--adopt";
			argv[n++] = adopt;
		}
	}
	argv[n++] = "--";
	argv[n++] = uri;
	if (step.total_tasks <= 1)
		slurm_spank_log("capsa: importing docker image: %s", step.args->image);
	if (capsa_run(job_env, argv, store ? &out : NULL) < 0) {
		slurm_error("capsa: failed to import docker image: %s", step.args->image);
		return -1;
	}
	if (store && stored_path(out) < 0)
		return -1;
	slurm_spank_log("capsa: imported docker image: %s", step.args->image);
	return 0;
}

/* IMPORTER VERB [URI] as the user (pyxis.md §11): stdout returned, stderr
 * printed on failure. */
static int run_importer(char **job_env, const char *verb, const char *uri, char **ret_out)
{
	_cleanup_close_ int out_fd = child_log_open(), err_fd = child_log_open();
	char *argv[] = {(char *)step.config->importer, (char *)verb, (char *)uri, NULL};
	struct child_exec ex;
	char **envp = child_env(job_env);
	pid_t pid;
	int status, r;

	if (envp == NULL || out_fd < 0 || err_fd < 0) {
		strv_free(envp);
		slurm_error("capsa: could not prepare the importer command");
		return -1;
	}
	ex = (struct child_exec){step.config->importer, argv, envp};
	r = child_spawn2(&step.id, out_fd, err_fd, child_exec_fn, &ex, &pid);
	strv_free(envp);
	if (r < 0 || wait_logged(pid, false, &status) < 0) {
		slurm_error("capsa: couldn't run the importer: %s", strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			slurm_error("capsa: importer %s failed with exit code %d", verb, WEXITSTATUS(status));
		else
			slurm_error("capsa: importer %s terminated with signal %d", verb, WTERMSIG(status));
		print_log_as(err_fd, "importer");
		return -1;
	}
	if (ret_out != NULL)
		*ret_out = child_log_read(out_fd, NULL);
	return 0;
}

/* Idempotent, called after create and again at cleanup (pyxis's contract). */
static void importer_release(char **job_env)
{
	if (step.importer)
		run_importer(job_env, "release", NULL, NULL);
}

static int importer_get(char **job_env)
{
	_cleanup_free_ char *uri = image_uri(step.args->image), *out = NULL;
	char *nl;

	if (uri == NULL) {
		slurm_error("capsa: could not allocate memory");
		return -1;
	}
	if (step.total_tasks <= 1)
		slurm_spank_log("capsa: importing docker image: %s", step.args->image);
	if (run_importer(job_env, "get", uri, &out) < 0) {
		slurm_error("capsa: failed to import docker image: %s (importer: %s)", step.args->image,
			    step.config->importer);
		importer_release(job_env);
		return -1;
	}
	if (out != NULL && (nl = strchr(out, '\n')) != NULL)
		*nl = '\0';
	if (out == NULL || out[0] != '/' || strlen(out) >= sizeof(step.squashfs)) {
		slurm_error("capsa: importer did not return a squashfs path");
		importer_release(job_env);
		return -1;
	}
	snprintf(step.squashfs, sizeof(step.squashfs), "%s", out);
	slurm_spank_log("capsa: imported docker image: %s", step.args->image);
	return 0;
}

static int create_rootfs(char **job_env)
{
	const char *argv[] = {"create", "--name", step.name, "--", step.squashfs, NULL};

	slurm_info("capsa: creating container filesystem: %s", step.name);
	if (capsa_run(job_env, argv, NULL) < 0) {
		slurm_error("capsa: failed to create container filesystem for image: %s", step.args->image);
		return -1;
	}
	step.shm->created = !step.named;
	return 0;
}

static int stat_mount_sources(void)
{
	const struct spank_args *a = step.args;
	struct stat st;

	for (size_t i = 0; i < a->mounts_len; i++) {
		if (a->mounts[i].src[0] != '/')
			continue;
		if (stat(a->mounts[i].src, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			slurm_error("capsa: --container-mounts: source path does not exist: %s", a->mounts[i].src);
			return -1;
		}
	}
	return 0;
}

static int write_conf(char *path, size_t size)
{
	const struct spank_args *a = step.args;
	bool entrypoint = a->entrypoint != SPANK_UNSET ? a->entrypoint == SPANK_YES : step.config->execute_entrypoint;
	_cleanup_free_ char *conf = container_conf(a->mounts, a->mounts_len, a->env, a->env_len, entrypoint);
	_cleanup_close_ int fd = -1;
	size_t len;

	if (conf == NULL)
		return -1;
	snprintf(path, size, "/tmp/.enroot_config_XXXXXX");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = strlen(conf);
	if (write(fd, conf, len) != (ssize_t)len) {
		unlink(path);
		return -1;
	}
	for (char *line = conf, *rest = conf; (line = strsep(&rest, "\n")) != NULL;)
		if (*line != '\0')
			slurm_verbose("capsa: container config: %s", line);
	return 0;
}

/* capsa start -c CONF IMAGE|NAME sh -c 'kill -STOP $$; exit 0', waited for
 * until it stops. */
static int start_container(char **job_env)
{
	const struct spank_args *a = step.args;
	bool entrypoint = a->entrypoint != SPANK_UNSET ? a->entrypoint == SPANK_YES : step.config->execute_entrypoint;
	char conf[64];
	char *argv[] = {(char *)"capsa", (char *)"start", (char *)"-c", conf, (char *)"--",
			step.direct ? step.squashfs : step.name, (char *)"sh", (char *)"-c",
			(char *)"kill -STOP $$ ; exit 0", NULL};
	_cleanup_close_ int log_fd = child_log_open();
	struct child_exec ex;
	char **envp;
	pid_t pid;
	int status, r;

	if (stat_mount_sources() < 0)
		return -1;
	if (log_fd < 0 || write_conf(conf, sizeof(conf)) < 0) {
		slurm_error("capsa: couldn't write the container configuration: %s", strerror(errno));
		return -1;
	}
	envp = child_env(job_env);
	if (envp == NULL) {
		unlink(conf);
		slurm_error("capsa: could not allocate memory");
		return -1;
	}
	ex = (struct child_exec){step.config->capsa_path, argv, envp};
	r = child_spawn(&step.id, log_fd, child_exec_fn, &ex, &pid);
	strv_free(envp);
	if (r < 0) {
		unlink(conf);
		slurm_error("capsa: could not fork: %s", strerror(errno));
		return -1;
	}
	r = wait_logged(pid, true, &status);
	unlink(conf);
	if (r == 0 && WIFSTOPPED(status)) {
		step.shm->pid = pid;
		step.shm->own_pid = true;
		if (a->entrypoint_log == SPANK_YES) {
			_cleanup_free_ char *log = child_log_read(log_fd, NULL);
			for (char *line, *rest = log; log != NULL && (line = strsep(&rest, "\n")) != NULL;)
				if (*line != '\0')
					slurm_spank_log("%s", line);
		}
		return 0;
	}
	if (r == 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
		slurm_error("capsa: container start failed with error code: %d", WEXITSTATUS(status));
	else
		slurm_error("capsa: container exited too soon");
	if (entrypoint)
		slurm_error("capsa: if the image has an unusual entrypoint, try using --no-container-entrypoint");
	print_log(log_fd);
	return -1;
}

/* --- the image store, pulled once per job (broadcast.h) ----------------- */

static void send_state(const char *state)
{
	struct error err = ERROR_INIT;

	if (bcast_send_state(&step.bc, state, &err) < 0)
		slurm_error("capsa: %s", err.msg);
}

/* The first node: import, then send the image and "ready DIGEST";
 * when the image cannot be sent, the others pull it themselves. */
static int store_import_and_send(char **job_env)
{
	struct error err = ERROR_INIT;
	char state[1024], host[256] = "?";
	const char *base;

	if (bcast_send_state(&step.bc, "importing", &err) < 0) {
		slurm_error("capsa: %s", err.msg);
		return -1;
	}
	if (fetch_image(job_env, "store", NULL, NULL) < 0) {
		gethostname(host, sizeof(host) - 1);
		snprintf(state, sizeof(state), "failed the import on node %s failed (see its error)", host);
		send_state(state);
		return -1;
	}
	base = strrchr(step.squashfs, '/');
	base = base != NULL ? base + 1 : "";
	if (bcast_send_image(&step.bc, step.squashfs, &err) < 0) {
		slurm_spank_log("capsa: [WARN] %s: every node pulls the image itself", err.msg);
		send_state("self");
		return 0;
	}
	snprintf(state, sizeof(state), "ready sha256:%.64s", base);
	send_state(state);
	bcast_cleanup(&step.bc);
	return 0;
}

/* The other nodes: the image the first node stored, kept in this node's
 * store (where that digest may be already).  They wait for the end of the
 * broadcast even then: nothing arrives after their cleanup, and the step
 * cannot run before the first node is done anyway. */
static int store_receive(char **job_env)
{
	struct error err = ERROR_INIT;
	char state[1024];
	int r;

	if (bcast_wait(&step.bc, state, sizeof(state), &err) < 0)
		goto fail;
	if (strncmp(state, "ready ", 6) == 0) {
		r = fetch_image(job_env, "store", state + 6, step.bc.image);
		bcast_cleanup(&step.bc);
		return r;
	}
	if (strcmp(state, "self") == 0)
		return fetch_image(job_env, "store", NULL, NULL);
	error_set(&err, 0, "%s", strncmp(state, "failed ", 7) == 0 ? state + 7 : state);
fail:
	slurm_error("capsa: failed to import docker image: %s: %s", step.args->image, err.msg);
	return -1;
}

static int store_fetch(char **job_env)
{
	int r;

	if (!step.bcast)
		return fetch_image(job_env, "store", NULL, NULL);
	step.bc.envp = child_env(job_env);
	if (step.bc.envp == NULL) {
		slurm_error("capsa: could not allocate memory");
		return -1;
	}
	r = step.nodeid == 0 ? store_import_and_send(job_env) : store_receive(job_env);
	strv_free(step.bc.envp);
	step.bc.envp = NULL;
	return r;
}

/* A state sent by the first node outside the import: "self" when its
 * container exists (the others pull the image themselves), "failed ..."
 * when the step fails before the import. */
static void send_state_alone(char **job_env, const char *state)
{
	if (!step.bcast || step.nodeid != 0)
		return;
	step.bc.envp = child_env(job_env);
	if (step.bc.envp != NULL)
		send_state(state);
	strv_free(step.bc.envp);
	step.bc.envp = NULL;
}

/* The first task: import, create, start.  Under the mutex. */
static int setup_container(char **job_env)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!step.reuse_rootfs) {
		if (step.importer && importer_get(job_env) < 0)
			return -1;
		/* A leftover of a killed step with the same ids would make
		 * import refuse to overwrite it. */
		unlink_tmp_squashfs();
		if (step.tmp_squashfs && fetch_image(job_env, "import", NULL, NULL) < 0) {
			unlink_tmp_squashfs();
			return -1;
		}
		if (step.store && store_fetch(job_env) < 0)
			return -1;
		if (step.load) {
			if (fetch_image(job_env, "load", NULL, NULL) < 0)
				return -1;
			step.shm->created = !step.named;
		}
		if (!step.direct && !step.load && create_rootfs(job_env) < 0) {
			unlink_tmp_squashfs();
			importer_release(job_env);
			return -1;
		}
		/* Started directly, the image must stay until the cleanup. */
		if (!step.direct)
			importer_release(job_env);
	} else {
		send_state_alone(job_env, "self");
	}
	if (step.attach_direct) {
		/* Its stopped shell has the container's environment and cwd. */
		step.shm->pid = (pid_t)step.existing;
	} else if (start_container(job_env) < 0) {
		unlink_tmp_squashfs();
		return -1;
	} else if (step.direct) {
		marker_write();
	}
	/* squashfuse holds the image open: its name can go now, so nothing is
	 * left behind in runtime_path even if the step is killed. */
	unlink_tmp_squashfs();
	step.shm->ns_pid = step.attach ? (pid_t)step.existing : step.shm->pid;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	slurm_info("capsa: completed container setup in %ld ms",
		   (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return 0;
}

static int start_once(spank_t sp)
{
	char **job_env = NULL;
	int r, ret = 0;

	r = pthread_mutex_lock(&step.shm->mutex);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&step.shm->mutex);
		pthread_mutex_unlock(&step.shm->mutex);
		slurm_error("capsa: a previous task terminated unexpectedly during container setup");
		return -1;
	}
	if (r != 0) {
		slurm_error("capsa: couldn't lock the step's mutex: %s", strerror(r));
		return -1;
	}
	if (atomic_fetch_add(&step.shm->init_tasks, 1) == 0) {
		/* Re-read: now with the PMI variables of the MPI plugin. */
		if (copy_job_env(sp, &job_env) < 0) {
			job_env = step.job_env;
			step.job_env = NULL;
		}
		ret = setup_container(job_env);
		strv_free(job_env);
		if (ret < 0) {
			pthread_mutex_unlock(&step.shm->mutex);
			return -1;
		}
	}
	if (step.shm->pid < 0 || step.shm->ns_pid < 0) {
		slurm_error("capsa: container was not started successfully by another task");
		ret = -1;
	}
	pthread_mutex_unlock(&step.shm->mutex);
	return ret;
}

static int ns_open(pid_t pid, const char *ns, int *ret, bool only_if_different, bool optional)
{
	char path[64];
	struct stat mine, theirs;
	int fd;

	*ret = -1;
	snprintf(path, sizeof(path), "/proc/%ld/ns/%s", (long)pid, ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return optional && errno == ENOENT ? 0 : -1;
	if (only_if_different) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
		if (stat(path, &mine) == 0 && fstat(fd, &theirs) == 0 && mine.st_dev == theirs.st_dev &&
		    mine.st_ino == theirs.st_ino) {
			close(fd);
			return 0;
		}
	}
	*ret = fd;
	return 0;
}

static char *read_environ(pid_t pid, size_t *len)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	return child_log_read(fd, len);
}

struct env_import {
	spank_t sp;
};

static bool in_container_env(const char *name)
{
	for (size_t i = 0; i < step.args->env_len; i++)
		if (strcmp(step.args->env[i], name) == 0)
			return true;
	return false;
}

/* Per-task values of Slurm and its MPI plugins (and its GPU binding): the
 * container has the first task's, so the task's own win (pyxis lets the
 * first task's through: its #73, #47). */
static bool task_owned(const char *name)
{
	static const char *const exact[] = {"CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"};

	if (strncmp(name, "SLURM_", 6) == 0 || strncmp(name, "PMI_", 4) == 0 || strncmp(name, "PMIX_", 5) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return false;
}

static int import_entry(const char *name, const char *value, void *data)
{
	struct env_import *imp = data;
	spank_err_t rc = spank_setenv(imp->sp, name, value, in_container_env(name) || task_owned(name) ? 0 : 1);

	if (rc != ESPANK_SUCCESS && rc != ESPANK_ENV_EXISTS) {
		slurm_error("capsa: failed to set %s: %s", name, spank_strerror(rc));
		return -1;
	}
	return 0;
}

/* pyxis.md §7: the container's environment wins, except --container-env. */
static int import_environ(spank_t sp, char *environ_buf, size_t len)
{
	static const char *const locale[] = {"LANG", "LANGUAGE", "LC_ALL"};
	struct env_import imp = {sp};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(locale); i++)
		if (!in_container_env(locale[i]))
			spank_unsetenv(sp, locale[i]);
	if (environ_foreach(environ_buf, len, import_entry, &imp) < 0)
		return -1;
	if (spank_getenv(sp, "PYTORCH_VERSION", buf, sizeof(buf)) == ESPANK_SUCCESS) {
		if (spank_getenv(sp, "SLURM_PROCID", buf, sizeof(buf)) == ESPANK_SUCCESS)
			spank_setenv(sp, "RANK", buf, 1);
		if (spank_getenv(sp, "SLURM_LOCALID", buf, sizeof(buf)) == ESPANK_SUCCESS)
			spank_setenv(sp, "LOCAL_RANK", buf, 1);
	}
	return 0;
}

enum { NS_USER, NS_CGROUP, NS_MNT, NS_IPC, NS_UTS, NS_NET, NS_COUNT };

static int join_container(spank_t sp)
{
	static const struct {
		const char *name, *what;
		int type;
		bool if_different, optional;
		unsigned unshare;
	} nss[NS_COUNT] = {
		{"user", "user", CLONE_NEWUSER, false, false, 0},
		{"cgroup", "cgroup", CLONE_NEWCGROUP, false, true, 0},
		{"mnt", "mount", CLONE_NEWNS, false, false, 0},
		{"ipc", "IPC", CLONE_NEWIPC, true, false, SPANK_UNSHARE_IPC},
		{"uts", "UTS", CLONE_NEWUTS, true, false, SPANK_UNSHARE_UTS},
		{"net", "network", CLONE_NEWNET, true, false, SPANK_UNSHARE_NET},
	};
	int fds[NS_COUNT];
	pid_t pid = step.shm->pid, ns_pid = step.shm->ns_pid;
	char cwd[PATH_MAX], path[64];
	_cleanup_free_ char *environ_buf = NULL;
	size_t environ_len = 0;
	ssize_t n;
	int ret = -1;

	for (int i = 0; i < NS_COUNT; i++)
		fds[i] = -1;
	for (int i = 0; i < NS_COUNT; i++) {
		if (ns_open(ns_pid, nss[i].name, &fds[i], nss[i].if_different, nss[i].optional) < 0) {
			slurm_error("capsa: couldn't get container namespaces: %s", strerror(errno));
			goto out;
		}
		if ((step.args->unshare & nss[i].unshare) && fds[i] < 0) {
			slurm_error("capsa: --container-unshare=%s requested but the container is not in a separate %s "
				    "namespace",
				    nss[i].name, nss[i].what);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	n = readlink(path, cwd, sizeof(cwd) - 1);
	if (n < 0) {
		slurm_error("capsa: couldn't get the container's working directory: %s", strerror(errno));
		goto out;
	}
	cwd[n] = '\0';
	environ_buf = read_environ(pid, &environ_len);
	if (environ_buf == NULL) {
		slurm_error("capsa: couldn't read container environment: %s", strerror(errno));
		goto out;
	}
	if (import_environ(sp, environ_buf, environ_len) < 0)
		goto out;
	for (int i = 0; i < NS_COUNT; i++) {
		if (fds[i] < 0 || (i == NS_USER && step.privileged))
			continue;
		if (setns(fds[i], nss[i].type) < 0) {
			slurm_error("capsa: couldn't join %s namespace: %s", nss[i].what, strerror(errno));
			goto out;
		}
	}
	if (chdir(step.args->workdir ? step.args->workdir : cwd) < 0) {
		slurm_error("capsa: couldn't chdir to %s: %s", step.args->workdir ? step.args->workdir : cwd,
			    strerror(errno));
		goto out;
	}
	if (!step.privileged && seccomp_install_tasks() < 0) {
		slurm_error("capsa: seccomp filter failed: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	for (int i = 0; i < NS_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}

/* The first node fails before its import: the others stop waiting. */
static void send_deferred(void)
{
	char state[1024];

	if (step.shm != NULL && atomic_fetch_add(&step.shm->init_tasks, 1) != 0)
		return;
	snprintf(state, sizeof(state), "failed %s", step.deferred.msg);
	state[strcspn(state, "\n")] = '\0';
	send_state_alone(step.job_env, state);
}

int step_task_init(spank_t sp)
{
	if (!step.enabled)
		return 0;
	if (step.has_deferred) {
		slurm_error("capsa: %s", step.deferred.msg);
		send_deferred();
		return -1;
	}
	if (start_once(sp) < 0 || join_container(sp) < 0)
		return -1;
	/* The last task lets the container shell exit; the tasks hold the
	 * namespaces.  Started directly, it keeps squashfuse (the rootfs)
	 * alive instead, until Slurm ends the step. */
	if ((uint32_t)atomic_fetch_add(&step.shm->started_tasks, 1) + 1 == step.local_tasks && !step.direct &&
	    step.shm->own_pid)
		kill(step.shm->pid, SIGCONT);
	return 0;
}

/* --- task_exit, exit (slurmstepd) ---------------------------------------- */

static int save_container(void)
{
	const char *save = step.args->save;
	_cleanup_free_ char *path = NULL;

	if (save[0] == '/')
		path = strdup(save);
	else if (step.cwd[0] == '\0') {
		slurm_error("capsa: container export: relative path used, but job's cwd is unset");
		return -1;
	} else if (asprintf(&path, "%s/%s", step.cwd, save) < 0)
		path = NULL;
	if (path == NULL) {
		slurm_error("capsa: could not allocate memory");
		return -1;
	}
	const char *argv[] = {"export", "-f", "-o", path, "--", step.name, NULL};
	if (capsa_run(step.job_env, argv, NULL) < 0) {
		slurm_error("capsa: failed to export container %s to %s", step.name, path);
		return -1;
	}
	slurm_spank_log("capsa: exported container %s to %s", step.name, save);
	return 0;
}

/* The children of pid (squashfuse, for a container started directly). */
static size_t children_of(pid_t pid, pid_t *out, size_t max)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -1;
	ssize_t len;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (len = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[len] = '\0';
	for (char *tok, *rest = buf; n < max && (tok = strsep(&rest, " \n")) != NULL;)
		if (*tok != '\0')
			out[n++] = (pid_t)strtol(tok, NULL, 10);
	return n;
}

/* The container shell (and, started directly, its squashfuse, which holds
 * the rootfs) may outlive the tasks: ended here and waited for (at most a
 * second), or Slurm's process tracking would sleep a second or more at the
 * end of the step before it kills them itself.  pidfds: a pid reused
 * meanwhile is never signalled. */
static void end_container_shell(void)
{
	pid_t pids[17];
	struct pollfd fds[17];
	size_t n;
	struct timespec t0, t;
	long left = 1000;

	if (step.shm->pid <= 0 || !step.shm->own_pid)
		return;
	pids[0] = step.shm->pid;
	n = 1 + children_of(pids[0], pids + 1, ARRAY_SIZE(pids) - 1);
	for (size_t i = 0; i < n; i++) {
		fds[i] = (struct pollfd){(int)syscall(SYS_pidfd_open, pids[i], 0), POLLIN, 0};
		if (fds[i].fd >= 0)
			syscall(SYS_pidfd_send_signal, fds[i].fd, SIGKILL, NULL, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++) {
		while (fds[i].fd >= 0 && left > 0 && poll(&fds[i], 1, (int)left) < 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = 1000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	}
	step.shm->pid = -1;
}

static void cleanup(void)
{
	if (step.direct && step.shm->own_pid)
		marker_unlink();
	end_container_shell();
	unlink_tmp_squashfs();
	if (step.bcast)
		bcast_cleanup(&step.bc);
	importer_release(step.job_env);
	if (step.shm->created) {
		const char *argv[] = {"remove", "-f", "--", step.name, NULL};
		slurm_info("capsa: removing container filesystem: %s", step.name);
		capsa_run(step.job_env, argv, NULL);
		step.shm->created = false;
	}
}

int step_task_exit(spank_t sp)
{
	int ret = 0;

	(void)sp;
	if (!step.enabled || step.shm == NULL)
		return 0;
	if ((uint32_t)atomic_fetch_add(&step.shm->completed_tasks, 1) + 1 != step.local_tasks)
		return 0;
	if (step.args->save != NULL && (uint32_t)atomic_load(&step.shm->started_tasks) == step.local_tasks &&
	    !step.direct)
		ret = save_container();
	cleanup();
	return ret;
}

void step_exit(void)
{
	if (step.shm != NULL) {
		pthread_mutex_destroy(&step.shm->mutex);
		munmap(step.shm, sizeof(*step.shm));
		step.shm = NULL;
	}
	strv_free(step.job_env);
	step.job_env = NULL;
	free(step.id.gids);
	step.id.gids = NULL;
	step.enabled = false;
}

/* --- job_epilog (root, container_scope=job): remove pyxis_<jobid>_* ------ */

/* Names in `capsa list` output that belong to the job. */
static size_t job_containers(char *list, char **names, size_t max)
{
	char prefix[32];
	size_t n = 0;
	char *line, *rest = list;

	snprintf(prefix, sizeof(prefix), "pyxis_%" PRIu32 "_", step.jobid);
	while ((line = strsep(&rest, "\n")) != NULL && n < max) {
		if (strncmp(line, prefix, strlen(prefix)) == 0 && line[strlen(prefix)] != '\0' &&
		    strchr(line, ' ') == NULL && strchr(line, '/') == NULL)
			names[n++] = line;
	}
	return n;
}

int step_job_epilog(spank_t sp, const struct spank_config *config)
{
	static const char *const list[] = {"list", NULL};
	_cleanup_free_ char *out = NULL, *again = NULL;
	char *env[4] = {NULL, NULL, NULL, NULL}, *names[1024], *left[1024];
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];
	size_t n, nleft;
	bool failed = false;
	int ret = 0;

	step.config = config;
	step.args = NULL;
	if (get_u32(sp, S_JOB_ID, &step.jobid, "job id") < 0 ||
	    spank_get_item(sp, S_JOB_UID, &step.id.uid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_GID, &step.id.gid) != ESPANK_SUCCESS) {
		slurm_error("capsa: epilog: couldn't get the job's identity");
		return -1;
	}
	step.id.gids = NULL;
	step.id.ngids = 0;
	/* The user's HOME and names from the passwd entry, never from the
	 * (root) epilog's environment. */
	if (getpwuid_r(step.id.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp != NULL) {
		if (asprintf(&env[0], "HOME=%s", pw.pw_dir) < 0 || asprintf(&env[1], "USER=%s", pw.pw_name) < 0 ||
		    asprintf(&env[2], "LOGNAME=%s", pw.pw_name) < 0) {
			slurm_error("capsa: epilog: could not allocate memory");
			ret = -1;
			goto out;
		}
	}
	if (capsa_run(env, list, &out) < 0) {
		slurm_error("capsa: epilog: couldn't get list of containers");
		ret = -1;
		goto out;
	}
	n = job_containers(out, names, ARRAY_SIZE(names));
	for (size_t i = 0; i < n; i++) {
		const char *argv[] = {"remove", "-f", "--", names[i], NULL};
		slurm_info("capsa: epilog: removing container %s", names[i]);
		if (capsa_run(env, argv, NULL) < 0)
			failed = true;
	}
	if (failed) {
		if (capsa_run(env, list, &again) < 0) {
			slurm_error("capsa: epilog: couldn't get list of containers");
		} else {
			nleft = job_containers(again, left, ARRAY_SIZE(left));
			for (size_t i = 0; i < nleft; i++)
				slurm_error("capsa: epilog: container %s was not removed", left[i]);
		}
		ret = -1;
	}
out:
	for (size_t i = 0; i < ARRAY_SIZE(env); i++)
		free(env[i]);
	return ret;
}
