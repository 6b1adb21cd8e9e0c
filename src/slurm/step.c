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

#include "slurm/keeper.h"
#include "slurm/step.h"
#include "util/cleanup.h"

struct step step = {.existing = -1};

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
			env_free(copy);
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
	shm->keeper = -1;
	shm->ns_pid = -1;
	return shm;
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
	if (step.existing < 0 && attach_is_step_name(step.args->name)) {
		step.existing = attach_lookup();
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
/* The container shell, until it stops (or exits: *status says); -2 if it
 * could not be forked.  Started
 * directly, the shell (and its squashfs server) lives until the step's end,
 * so a keeper (keeper.h) starts it and reaps them then; otherwise the shell
 * ends as soon as the tasks have joined, and stays the first task's child,
 * as in pyxis (an extra child of slurmstepd ending mid-step delayed the
 * step's end by 100 ms). */
static int spawn_shell(struct child_exec *ex, int log_fd, pid_t *pid, int *status)
{
	int fd, r;

	if (!step.direct) {
		if (child_spawn(&step.id, log_fd, child_exec_fn, ex, pid) < 0) {
			slurm_error("capsa: could not fork: %s", strerror(errno));
			return -2;
		}
		return wait_logged(*pid, true, status);
	}
	if (keeper_start(&step.id, log_fd, child_exec_fn, ex, &step.shm->keeper, &fd) < 0) {
		slurm_error("capsa: could not fork: %s", strerror(errno));
		return -2;
	}
	r = keeper_wait(fd, pid, status);
	close(fd);
	if (r > 0)
		slurm_info("capsa: received SIGTERM, forwarding to child %ld", (long)*pid);
	return r < 0 ? -1 : 0;
}

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
	pid_t pid = -1;
	int status = 0, r;

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
	r = spawn_shell(&ex, log_fd, &pid, &status);
	env_free(envp);
	unlink(conf);
	if (r < -1)
		return -1;
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
		attach_publish();
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
		env_free(job_env);
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
 * meanwhile is never signalled.  Their keeper reaps them (no zombie is
 * left to pid 1) and is reaped here. */
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
	keeper_reap(step.shm->keeper, (int)(left > 0 ? left : 0) + 100);
}

static void cleanup(void)
{
	if (step.direct && step.shm->own_pid)
		attach_withdraw();
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
	env_free(step.job_env);
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
