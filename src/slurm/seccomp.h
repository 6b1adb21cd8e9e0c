/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CAPSA_SLURM_SECCOMP_H
#define CAPSA_SLURM_SECCOMP_H

/* Installs the task filter (seccomp.c): 0, or -1 with errno. */
int seccomp_install_tasks(void);

#endif
