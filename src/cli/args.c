/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_option *find_long(const struct cli_option *opts, const char *name, size_t len)
{
	for (; opts->long_name || opts->short_name; opts++) {
		if (opts->long_name && strlen(opts->long_name) == len && !strncmp(opts->long_name, name, len))
			return opts;
	}
	return NULL;
}

static const struct cli_option *find_short(const struct cli_option *opts, char c)
{
	for (; opts->long_name || opts->short_name; opts++) {
		if (opts->short_name == c)
			return opts;
	}
	return NULL;
}

static int bad(const char *fmt, const char *what)
{
	fprintf(stderr, "[ERROR] ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	return -1;
}

int cli_parse(int argc, char **argv, const struct cli_option *opts, int (*handle)(int id, const char *value, void *arg),
	      void *arg)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL, *eq = NULL;
		const struct cli_option *o;

		if (!strcmp(a, "--"))
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return -2;
		if (a[1] == '-') {
			eq = strchr(a, '=');
			o = find_long(opts, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		} else {
			o = a[2] == '\0' ? find_short(opts, a[1]) : NULL;
		}
		if (o == NULL)
			return bad("unknown option: %s", a);
		if (o->kind == ARG_FLAG && eq)
			return bad("option %s takes no value", a);
		if (o->kind == ARG_VALUE) {
			value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (value == NULL || *value == '\0')
				return bad("option %s requires a non-empty value", a);
		}
		if (handle(o->id, value, arg) < 0)
			return -1;
	}
	return i;
}

int cli_usage(const char *text, int code)
{
	fputs(text, stdout);
	return code;
}

int store_option(int id, const char *value, void *arg)
{
	struct store_args *a = arg;

	switch (id) {
	case STORE_NAME:
		a->name = value;
		break;
	case STORE_OUTPUT:
		a->output = value;
		break;
	case STORE_FORCE:
		a->force = true;
		break;
	case STORE_FANCY:
		a->fancy = true;
		break;
	default:
		return -1;
	}
	return 0;
}
