/* SPDX-License-Identifier: Apache-2.0 */
/* The command line: the only code that prints to the user or exits. */
#ifndef CAPSA_CLI_CLI_H
#define CAPSA_CLI_CLI_H

#include <stdbool.h>

#include "config/config.h"
#include "util/error.h"

/* [INFO] / [WARN] / [ERROR] on stderr, coloured on a terminal, as enroot. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print err as an [ERROR] line and return the exit code 1. */
int cli_fail(const struct error *err);

enum arg_kind { ARG_FLAG, ARG_VALUE };

struct cli_option {
	char short_name; /* 0: none */
	const char *long_name;
	enum arg_kind kind;
	int id;
};

/* enroot's grammar: options before positionals, "-o X", "--output X" and
 * "--output=X"; "--" ends options; an empty value is a usage error.
 * Calls handle(id, value) for each option; returns the index of the first
 * positional, -1 for a usage error, -2 for -h/--help. */
int cli_parse(int argc, char **argv, const struct cli_option *opts, int (*handle)(int id, const char *value, void *arg),
	      void *arg);

/* Print usage on stdout and return code. */
int cli_usage(const char *text, int code);

/* start's options, shared with the bundle runner. */
enum { OPT_CONF = 1, OPT_ENV, OPT_RC, OPT_ROOT, OPT_RW, OPT_MOUNT, OPT_PID, OPT_NET, OPT_IPC, OPT_UTS, OPT_DEVICE };

struct start_opts;
struct start_args {
	struct start_opts *o;
	unsigned flags; /* bit i: the i-th flag setting (-r, -w, --pid...) was given */
};

/* cli_parse handler for the OPT_* options above. */
int start_option(int id, const char *value, void *arg);
/* Apply -c directives, then the flags; returns only on failure (exit code). */
int start_run(struct config *cfg, struct start_opts *o, unsigned flags);

/* create/export/list/remove options. */
enum { STORE_NAME = 1, STORE_FORCE, STORE_OUTPUT, STORE_FANCY };

struct store_args {
	const char *name;
	const char *output;
	bool force;
	bool fancy;
};

/* cli_parse handler for the store options above. */
int store_option(int id, const char *value, void *arg);

struct cli_command {
	const char *name;
	int (*run)(struct config *cfg, int argc, char **argv);
	bool needs_config;
};

/* The command called name, or NULL. */
const struct cli_command *cli_find(const struct cli_command *cmds, size_t n, const char *name);
/* Load the configuration if the command needs it, run it; the exit code. */
int cli_run(const struct cli_command *cmd, int argc, char **argv);

/* The image commands live in a second binary (capsa-image), so that start,
 * exec and batch map only what they use (no libcurl, OpenSSL, libarchive,
 * json-c or libsquashfs). CAPSA_IMAGE_HELPER is its file name. */
#define CAPSA_IMAGE_HELPER "capsa-image"
/* The path of the running capsa binary, as the image binary was told it
 * (bundles carry both binaries). */
extern const char *cli_launcher;

int cmd_version(struct config *cfg, int argc, char **argv);
int cmd_create(struct config *cfg, int argc, char **argv);
int cmd_start(struct config *cfg, int argc, char **argv);
int cmd_batch(struct config *cfg, int argc, char **argv);
int cmd_exec(struct config *cfg, int argc, char **argv);
int cmd_gpu(struct config *cfg, int argc, char **argv);
int cmd_export(struct config *cfg, int argc, char **argv);
int cmd_list(struct config *cfg, int argc, char **argv);
int cmd_remove(struct config *cfg, int argc, char **argv);
int cmd_info(struct config *cfg, int argc, char **argv);
int cmd_cache(struct config *cfg, int argc, char **argv);
int cmd_import(struct config *cfg, int argc, char **argv);
int cmd_digest(struct config *cfg, int argc, char **argv);
int cmd_load(struct config *cfg, int argc, char **argv);
int cmd_bundle(struct config *cfg, int argc, char **argv);
int cmd_bundle_run(struct config *cfg, int argc, char **argv);
int cmd_doctor(struct config *cfg, int argc, char **argv);
struct doctor_report;
/* The [OK|WARN|FAIL] lines of a report and a count (doctor, bundle -v). */
void doctor_print(const struct doctor_report *r);

#endif
