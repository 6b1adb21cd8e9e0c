/* SPDX-License-Identifier: Apache-2.0 */
/* A step in a container, split by stage: step.c (the SPANK entry points and
 * the container's start), capsa_cmd.c (capsa run as the user), step_image.c
 * (the image), step_join.c (tasks joining the container), step_attach.c
 * (unnamed containers a later step attaches to), keeper.c (the reaper of a
 * direct start's shell).  Internal to the plugin. */
#ifndef CAPSA_SLURM_STEP_H
#define CAPSA_SLURM_STEP_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "slurm/broadcast.h"
#include "slurm/child.h"
#include "slurm/container.h"
#include "slurm/plugin.h"
#include "util/error.h"

/* Shared by the tasks of the step on this node: mapped in user_init, before
 * slurmstepd forks them. */
struct shared {
	pthread_mutex_t mutex;
	atomic_int init_tasks;
	atomic_int started_tasks;
	atomic_int completed_tasks;
	pid_t pid;    /* the stopped container shell (environ, cwd) */
	pid_t keeper; /* slurmstepd's child that reaps the shell (keeper.h) */
	pid_t ns_pid; /* whose namespaces the tasks join */
	bool own_pid; /* pid is this step's (ended with it) */
	bool created; /* a temporary named rootfs exists (remove it) */
};

struct step {
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
};

extern struct step step;

/* capsa_cmd.c */
char **child_env(char **job_env);
void env_free(char **v);
void print_log_as(int log_fd, const char *what);
void print_log(int log_fd);
/* child_wait, logging a SIGTERM passed on; -1 or 0. */
int wait_logged(pid_t pid, bool untraced, int *status);
/* capsa ARGS... as the job user; 0 on exit 0.  With out, its standard
 * output is returned there (also on failure).  Its standard error is
 * returned in log_out if given, else printed on failure. */
int capsa_run_ex(char **job_env, const char *const *args, char **out, char **log_out);
int capsa_run(char **job_env, const char *const *args, char **out);

/* step_image.c */
void unlink_tmp_squashfs(void);
int fetch_image(char **job_env, const char *verb, const char *digest, const char *adopt);
int importer_get(char **job_env);
void importer_release(char **job_env);
int create_rootfs(char **job_env);
int store_fetch(char **job_env);
void send_state_alone(char **job_env, const char *state);

/* step_join.c */
int join_container(spank_t sp);

/* step_attach.c */
void attach_publish(void);
void attach_withdraw(void);
long attach_lookup(void);
bool attach_is_step_name(const char *name);

#endif
