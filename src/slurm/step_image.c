/* SPDX-License-Identifier: Apache-2.0 */
/* The step's image (task_init, first task of the node, under the mutex):
 * capsa import into the image store (pulled once per job, broadcast.h),
 * pyxis's per-step import, an importer=, or capsa load; capsa create for a
 * container that gets a rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm/step.h"
#include "util/cleanup.h"

/* As the job user: unlink the step's temporary squashfs. */
void unlink_tmp_squashfs(void)
{
	pid_t pid;
	int status;

	if (!step.tmp_squashfs)
		return;
	if (child_spawn(&step.id, -1, child_unlink_fn, step.squashfs, &pid) == 0)
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
int fetch_image(char **job_env, const char *verb, const char *digest, const char *adopt)
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
		env_free(envp);
		slurm_error("capsa: could not prepare the importer command");
		return -1;
	}
	ex = (struct child_exec){step.config->importer, argv, envp};
	r = child_spawn2(&step.id, out_fd, err_fd, child_exec_fn, &ex, &pid);
	env_free(envp);
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
void importer_release(char **job_env)
{
	if (step.importer)
		run_importer(job_env, "release", NULL, NULL);
}

int importer_get(char **job_env)
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

int create_rootfs(char **job_env)
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

int store_fetch(char **job_env)
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
	env_free(step.bc.envp);
	step.bc.envp = NULL;
	return r;
}

/* A state sent by the first node outside the import: "self" when its
 * container exists (the others pull the image themselves), "failed ..."
 * when the step fails before the import. */
void send_state_alone(char **job_env, const char *state)
{
	if (!step.bcast || step.nodeid != 0)
		return;
	step.bc.envp = child_env(job_env);
	if (step.bc.envp != NULL)
		send_state(state);
	env_free(step.bc.envp);
	step.bc.envp = NULL;
}
