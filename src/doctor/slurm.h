/* SPDX-License-Identifier: Apache-2.0 */
/* What the Slurm checks share: where the configuration is and which SPANK
 * plugins plugstack.conf loads. */
#ifndef CAPSA_DOCTOR_SLURM_H
#define CAPSA_DOCTOR_SLURM_H

#include <stdbool.h>
#include <stddef.h>

#include "doctor/doctor.h"
#include "util/error.h"
#include "util/strv.h"

#define SLURM_CONF_MAX (1u << 20)

/* Whether env->slurm_dir holds slurm.conf or plugstack.conf at all. */
bool slurm_present(const struct doctor_env *env);
/* slurm_dir/name read whole (at most SLURM_CONF_MAX), or NULL. */
char *slurm_read(const struct doctor_env *env, const char *name);
/* plugstack.conf (slurm.conf's PlugStackConfig, else slurm_dir's), with its
 * includes, as a list of "PATH [ARGS...]" entries; *ret_file names it. A
 * missing file is an empty list. */
int slurm_plugstack(const struct doctor_env *env, struct strv *plugins, char **ret_file, struct error *err);
/* The PATH of an entry, copied into path; returns its ARGS ("" if none). */
const char *slurm_plugin_split(const char *entry, char *path, size_t size);
/* The container plugin of an entry: "capsa", "pyxis" or NULL. */
const char *slurm_container_plugin(const char *entry);

#endif
