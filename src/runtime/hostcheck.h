/* SPDX-License-Identifier: Apache-2.0 */
/* What a host needs to run containers (enroot-check --verify, bundle -v). */
#ifndef CAPSA_RUNTIME_HOSTCHECK_H
#define CAPSA_RUNTIME_HOSTCHECK_H

/* Calls emit once per section (label NULL) and once per checked item, with
 * a status such as "OK", "OK (module)", "KO" or "KO (optional)". */
void hostcheck_run(void (*emit)(const char *section, const char *label, const char *status, void *arg), void *arg);

#endif
