/* SPDX-License-Identifier: Apache-2.0 */
/* The functional user-namespace probe and what its errno values mean. */
#ifndef CAPSA_DOCTOR_PROBE_H
#define CAPSA_DOCTOR_PROBE_H

/* errno of each step, 0 when it worked; ECANCELED when an earlier step
 * failed so it was not tried. */
struct doctor_probe {
	int userns;  /* unshare(CLONE_NEWUSER|CLONE_NEWNS) */
	int idmap;   /* setgroups deny, uid_map, gid_map */
	int tmpfs;   /* a tmpfs in the new mount namespace */
	int overlay; /* overlayfs with userxattr on it */
	int procfs;  /* a new procfs in a new PID namespace */
};

/* Fork a child that tries each step; -1 when it could not be forked or
 * died before reporting. */
int doctor_probe_run(struct doctor_probe *p);

/* The cause and fix of unshare(CLONE_NEWUSER) failing with err, one line. */
const char *doctor_userns_cause(int err);
/* Likewise for writing the id maps. */
const char *doctor_idmap_cause(int err);

#endif
