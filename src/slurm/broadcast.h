/* SPDX-License-Identifier: Apache-2.0 */
/* One registry pull per job: in a step over several nodes the first node
 * imports the image and sends it with sbcast into the other nodes'
 * runtime_path/<uid>, beside a state file that says how far it got:
 *   "importing" | "ready sha256:HEX" | "self" | "failed MESSAGE"
 * ("self": the first node did not need the image, each node imports it).
 * Everything here runs as the job user (child.c). */
#ifndef CAPSA_SLURM_BROADCAST_H
#define CAPSA_SLURM_BROADCAST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slurm/child.h"
#include "util/error.h"

struct bcast {
	const struct identity *id;
	const char *sbcast_path;
	char **envp;	    /* the children's environment */
	const char *dir;    /* runtime_path/<uid>, the same path on every node */
	uint32_t jobid, stepid;
	char image[PATH_MAX]; /* where the image arrives: dir/J.S.bcast.sqsh */
};

void bcast_init(struct bcast *b);

/* The first node: sends the state, or the image, to every node of the step
 * (sbcast -j JOB.STEP), retried for a few seconds while a node has not made
 * its runtime directory yet. */
int bcast_send_state(const struct bcast *b, const char *state, struct error *err);
int bcast_send_image(const struct bcast *b, const char *path, struct error *err);

/* The other nodes: waits until the state is final (ready, self, failed);
 * the state line is copied to state.  No word from the first node within a
 * minute is an error; once it said it is importing, the step's time limit
 * is the bound. */
int bcast_wait(const struct bcast *b, char *state, size_t size, struct error *err);

/* Removes this step's broadcast files on this node. */
void bcast_cleanup(const struct bcast *b);

#endif
