/* SPDX-License-Identifier: Apache-2.0 */
/* capsa doctor: the checks of src/doctor, printed as [OK|WARN|FAIL] lines
 * with advice, or as JSON written here by hand (the lean binary links no
 * JSON library). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "doctor/doctor.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const char doctor_usage[] =
	"Usage: capsa doctor [options]\n"
	"\n"
	"Check whether this node can run capsa containers and, if not, what to change.\n"
	"Prints one [OK], [WARN] or [FAIL] line per check with one line of advice;\n"
	"the exit status is 1 if any check fails.\n"
	"\n"
	" Options:\n"
	"   --json                 Print the checks as JSON\n"
	"   --root DIR             Look for /.dockerenv, /run, /var/run/secrets, /boot and\n"
	"                          nvidia-container-cli under DIR\n"
	"   --proc-root DIR        Read sysctls, /proc/config.gz, self/cgroup under DIR (/proc)\n"
	"   --sys-root DIR         Read fs/cgroup under DIR (/sys)\n"
	"   --dev-root DIR         Check DIR/fuse (/dev)\n"
	"   --slurm-conf-dir DIR   Slurm's configuration (the directory of $SLURM_CONF, else /etc/slurm)\n"
	"\n"
	"The functional probes (user namespaces, overlayfs, procfs) always run on this kernel.\n";

enum { OPT_JSON = 1, OPT_ROOTDIR, OPT_PROC, OPT_SYS, OPT_DEV, OPT_SLURM };

struct doctor_args {
	struct doctor_env env;
	bool json;
};

static int doctor_option(int id, const char *value, void *arg)
{
	struct doctor_args *a = arg;

	switch (id) {
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_ROOTDIR:
		a->env.root = value;
		break;
	case OPT_PROC:
		a->env.proc_root = value;
		break;
	case OPT_SYS:
		a->env.sys_root = value;
		break;
	case OPT_DEV:
		a->env.dev_root = value;
		break;
	case OPT_SLURM:
		a->env.slurm_dir = value;
		break;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at s (2-4 bytes, s[0] >= 0x80), 0 if
 * it is not one: no overlong forms, surrogates or code points past U+10FFFF
 * (RFC 3629), so any decoder accepts what is printed. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/* Paths and file contents may hold any byte: invalid UTF-8 becomes U+FFFD
 * so the output always parses. */
static void json_string(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		size_t n = *s < 0x80 ? 1 : utf8_len(s);

		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s < 0x20)
			printf("\\u%04x", *s);
		else if (n == 0)
			fputs("\\ufffd", stdout);
		else
			fwrite(s, 1, n, stdout);
		s += n ? n : 1;
	}
	putchar('"');
}

static void print_json(const struct doctor_report *r)
{
	unsigned count[3] = {0};

	printf("{\"checks\": [");
	for (size_t i = 0; i < r->n; i++) {
		count[r->v[i].verdict]++;
		printf("%s\n  {\"id\": ", i ? "," : "");
		json_string(r->v[i].id);
		printf(", \"status\": \"%s\", \"summary\": ", doctor_verdict_name(r->v[i].verdict));
		json_string(r->v[i].summary);
		printf(", \"advice\": ");
		json_string(r->v[i].advice);
		putchar('}');
	}
	printf("\n], \"ok\": %u, \"warn\": %u, \"fail\": %u, \"status\": \"%s\"}\n", count[DOCTOR_OK],
	       count[DOCTOR_WARN], count[DOCTOR_FAIL], doctor_verdict_name(doctor_worst(r)));
}

static const char *verdict_tag(enum doctor_verdict v)
{
	return v == DOCTOR_OK ? "[OK]" : v == DOCTOR_WARN ? "[WARN]" : "[FAIL]";
}

/* Coloured on a terminal, as the [INFO]/[WARN]/[ERROR] lines of log.c. */
void doctor_print(const struct doctor_report *r)
{
	static const char *const colors[] = {"32", "33", "31"};
	unsigned count[3] = {0};
	bool tty = isatty(STDOUT_FILENO);

	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_result *c = &r->v[i];
		int pad = 7 - (int)strlen(verdict_tag(c->verdict));

		count[c->verdict]++;
		if (tty)
			printf("\033[%sm%s\033[0m%*s%s\n       %s\n", colors[c->verdict], verdict_tag(c->verdict), pad, "",
			       c->summary, c->advice);
		else
			printf("%s%*s%s\n       %s\n", verdict_tag(c->verdict), pad, "", c->summary, c->advice);
	}
	printf("%u OK, %u WARN, %u FAIL\n", count[DOCTOR_OK], count[DOCTOR_WARN], count[DOCTOR_FAIL]);
}

int cmd_doctor(struct config *cfg, int argc, char **argv)
{
	static const struct cli_option opts[] = {
		{0, "json", ARG_FLAG, OPT_JSON},	 {0, "root", ARG_VALUE, OPT_ROOTDIR},
		{0, "proc-root", ARG_VALUE, OPT_PROC},	 {0, "sys-root", ARG_VALUE, OPT_SYS},
		{0, "dev-root", ARG_VALUE, OPT_DEV},	 {0, "slurm-conf-dir", ARG_VALUE, OPT_SLURM},
		{0, NULL, ARG_FLAG, 0},
	};
	struct doctor_args a = {0};
	struct doctor_report r = DOCTOR_REPORT_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *slurm_conf = getenv("SLURM_CONF") ? xstrdup(getenv("SLURM_CONF")) : NULL;
	int i = cli_parse(argc, argv, opts, doctor_option, &a), code;

	if (i == -2)
		return cli_usage(doctor_usage, 0);
	if (i < 0 || i != argc)
		return cli_usage(doctor_usage, 1);
	if (a.env.slurm_dir == NULL && slurm_conf && slurm_conf[0])
		a.env.slurm_dir = dirname(slurm_conf);
	/* A configuration that does not load is a finding, not the end. */
	if (config_load(cfg, &err) == 0)
		a.env.cfg = cfg;
	else
		a.env.config_error = err.msg;
	doctor_run(&a.env, &r);
	if (a.json)
		print_json(&r);
	else
		doctor_print(&r);
	code = doctor_worst(&r) == DOCTOR_FAIL;
	doctor_report_free(&r);
	return code;
}
