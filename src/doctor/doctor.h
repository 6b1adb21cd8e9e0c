/* SPDX-License-Identifier: Apache-2.0 */
/* capsa doctor: can this node run capsa containers, and if not, what to
 * change. Each area (user namespaces, FUSE, cgroups, Slurm, ...) is one file
 * with one check function in the table of doctor.c; a check never fails, it
 * adds verdicts. Every host path is read under an injectable root so tests
 * can craft the conditions.
 *
 * Adding an area (e.g. NVIDIA): one file with one doctor_check_X function,
 * declared below and listed in doctor.c's table; its settings come from
 * env->cfg (config_get; cfg is NULL when the configuration did not load),
 * its host paths from the roots here when the settings leave them unset.
 * Ids are stable (--json consumers key on them). */
#ifndef CAPSA_DOCTOR_DOCTOR_H
#define CAPSA_DOCTOR_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

enum doctor_verdict { DOCTOR_OK = 0, DOCTOR_WARN, DOCTOR_FAIL };

/* Where the checks look. NULL members take the defaults noted. */
struct doctor_env {
	const char *root;      /* "": /.dockerenv, /run, /var/run/secrets, /boot, nvidia-container-cli */
	const char *proc_root; /* "/proc" */
	const char *sys_root;  /* "/sys" */
	const char *dev_root;  /* "/dev" */
	const char *slurm_dir; /* dirname of $SLURM_CONF, else /etc/slurm */
	const struct config *cfg; /* NULL when the configuration did not load */
	const char *config_error; /* why, when cfg is NULL */
	bool host_only;           /* bundle -v: no Slurm or capsa-path checks */
};

struct doctor_result {
	char id[64];         /* stable name for --json, e.g. "userns" */
	enum doctor_verdict verdict;
	char summary[512];   /* what was found */
	char advice[512];    /* one line: what to change, or why it is fine */
};

struct doctor_report {
	struct doctor_result *v;
	size_t n, cap;
};

#define DOCTOR_REPORT_INIT {NULL, 0, 0}

void doctor_add(struct doctor_report *r, const char *id, enum doctor_verdict verdict, const char *advice,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The result called id, or NULL. */
const struct doctor_result *doctor_find(const struct doctor_report *r, const char *id);
void doctor_report_free(struct doctor_report *r);
/* Run every check of the table in order. */
void doctor_run(const struct doctor_env *env, struct doctor_report *r);
/* The worst verdict of the report. */
enum doctor_verdict doctor_worst(const struct doctor_report *r);
const char *doctor_verdict_name(enum doctor_verdict v);

/* env->proc_root + "/" + rel (and likewise), newly allocated. */
char *doctor_path(const char *root, const char *rel);
/* Read a small file under a root: 0, or -1 with errno (ENOENT: missing). */
int doctor_read(const char *root, const char *rel, size_t max, char **ret);

/* The path of a host tool in PROC_HELPER_PATH under root ("" for the host),
 * whatever the caller's PATH (a job step's lacks /usr/sbin), or NULL. */
char *doctor_which(const char *root, const char *name);
/* The standard output of argv (stderr dropped, PATH=PROC_HELPER_PATH),
 * NUL-terminated, when it exits 0 within max bytes; else NULL. */
char *doctor_output(char *const argv[], size_t max);

/* The check areas, in the order they run (doctor.c's table). */
void doctor_check_userns(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_kernel(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_lsm(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_fuse(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_nested(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_cgroup(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_nvidia(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_rdma(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_toolkit(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_paths(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_cdi(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_slurm_plugin(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_slurm_conf(const struct doctor_env *env, struct doctor_report *r);
void doctor_check_slurm_job(const struct doctor_env *env, struct doctor_report *r);

#endif
