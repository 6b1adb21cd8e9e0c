/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpu/require.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_COMPONENTS 8

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

static const struct {
	const char *s;
	enum op op;
} ops[] = {{">=", OP_GE}, {"<=", OP_LE}, {"!=", OP_NE}, {"=", OP_EQ}, {"<", OP_LT}, {">", OP_GT}};

static int split_version(const char *v, unsigned long out[MAX_COMPONENTS])
{
	size_t n = 0;

	memset(out, 0, MAX_COMPONENTS * sizeof(out[0]));
	if (*v == '\0' || strspn(v, "0123456789.") != strlen(v))
		return -1;
	while (*v) {
		char *end;

		if (n == MAX_COMPONENTS || *v == '.')
			return -1;
		errno = 0;
		out[n++] = strtoul(v, &end, 10);
		if (errno)
			return -1;
		v = end;
		if (*v == '.' && *++v == '\0')
			return -1;
	}
	return 0;
}

int gpu_version_cmp(const char *a, const char *b, int *ret)
{
	unsigned long va[MAX_COMPONENTS], vb[MAX_COMPONENTS];

	if (split_version(a, va) < 0 || split_version(b, vb) < 0)
		return -1;
	*ret = 0;
	for (size_t i = 0; i < MAX_COMPONENTS && *ret == 0; i++)
		*ret = va[i] < vb[i] ? -1 : va[i] > vb[i];
	return 0;
}

static bool op_holds(enum op op, int cmp)
{
	switch (op) {
	case OP_EQ:
		return cmp == 0;
	case OP_NE:
		return cmp != 0;
	case OP_LT:
		return cmp < 0;
	case OP_LE:
		return cmp <= 0;
	case OP_GT:
		return cmp > 0;
	case OP_GE:
		return cmp >= 0;
	}
	return false;
}

/* 1 holds, 0 does not, -1 malformed (why in *why). */
static int eval_cond(char *cond, const struct gpu_require_ctx *c, const char **why)
{
	size_t nlen = strcspn(cond, "=!<>");
	const char *value = NULL, *have;
	size_t k = 0;
	int cmp;

	while (k < ARRAY_SIZE(ops) && strncmp(cond + nlen, ops[k].s, strlen(ops[k].s)))
		k++;
	if (nlen == 0 || k == ARRAY_SIZE(ops))
		return *why = "expected NAME OP VALUE", -1;
	value = cond + nlen + strlen(ops[k].s);
	if (*value == '\0' || strchr("=!<>", *value))
		return *why = "bad operator or empty value", -1;
	cond[nlen] = '\0';
	if (!strcasecmp(cond, "brand")) {
		if (ops[k].op != OP_EQ && ops[k].op != OP_NE)
			return *why = "brand allows only = and !=", -1;
		if (c->brand == NULL)
			return !c->unknown_device_fails;
		return op_holds(ops[k].op, strcasecmp(c->brand, value) != 0);
	}
	if (!strcasecmp(cond, "cuda"))
		have = c->cuda;
	else if (!strcasecmp(cond, "driver"))
		have = c->driver;
	else if (!strcasecmp(cond, "arch"))
		have = c->arch;
	else
		return *why = "unknown name (cuda, driver, arch, brand)", -1;
	if (gpu_version_cmp(value, value, &cmp) < 0)
		return *why = "invalid version", -1;
	if (have == NULL && !strcasecmp(cond, "arch"))
		return !c->unknown_device_fails;
	if (have == NULL || gpu_version_cmp(have, value, &cmp) < 0)
		return 1; /* unknown on this host: not held against the image */
	return op_holds(ops[k].op, cmp);
}

/* 1 when every comma-separated condition of term holds. */
static int eval_term(const char *term, const struct gpu_require_ctx *c, const char **why)
{
	_cleanup_free_ char *copy = xstrdup(term);
	char *save = NULL;
	int all = 1;

	if (*term == ',' || term[strlen(term) - 1] == ',' || strstr(term, ",,"))
		return *why = "empty condition", -1;
	for (char *cond = strtok_r(copy, ",", &save); cond; cond = strtok_r(NULL, ",", &save)) {
		int r = eval_cond(cond, c, why);

		if (r < 0)
			return -1;
		all &= r;
	}
	return all;
}

int gpu_require_check(const char *expr, const struct gpu_require_ctx *c, struct error *err)
{
	_cleanup_free_ char *copy = NULL, *first = NULL;
	const char *why = NULL;
	char *save = NULL;
	int any = 0;

	if (strlen(expr) > GPU_REQUIRE_MAX_LEN)
		return error_set(err, 0, "invalid expression: longer than %d bytes", GPU_REQUIRE_MAX_LEN);
	copy = xstrdup(expr);
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		int r = eval_term(t, c, &why);

		if (r < 0)
			return error_set(err, 0, "invalid expression '%s': %s in '%s'", expr, why, t);
		if (first == NULL)
			first = xstrdup(t);
		any |= r;
	}
	if (first == NULL)
		return error_set(err, 0, "invalid expression '%s': empty", expr);
	if (any)
		return 1;
	error_set(err, 0, "unsatisfied condition: %s%s", first,
		  strstr(first, "cuda>") ? ", please update your driver to a newer version, or use an earlier cuda "
					   "container"
					 : "");
	return 0;
}

bool gpu_require_needs_device(const char *expr, const struct gpu_require_ctx *c)
{
	struct gpu_require_ctx pass = *c, fail = *c;
	struct error ignore = ERROR_INIT;
	int a, b;

	pass.unknown_device_fails = false;
	fail.unknown_device_fails = true;
	a = gpu_require_check(expr, &pass, &ignore);
	b = gpu_require_check(expr, &fail, &ignore);
	return a >= 0 && b >= 0 && a != b;
}
