/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/rdma.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

static bool has_word(const char *value, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = value; *s; s += strcspn(s, ","), s += *s == ',') {
		const char *a = s, *b = s + strcspn(s, ",");

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if ((size_t)(b - a) == n && !strncmp(a, word, n))
			return true;
	}
	return false;
}

static int add_index(struct rdma_request *r, const char *a, const char *b, struct error *err)
{
	unsigned long v = 0;

	for (const char *p = a; p < b; p++) {
		if (!isdigit((unsigned char)*p) || v >= RDMA_MAX_DEVICES)
			return error_set(err, EINVAL, "Unknown MELLANOX device id: '%.*s' (MELLANOX_VISIBLE_DEVICES "
					 "takes all, none, void or indices such as 0,1)", (int)(b - a), a);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v >= RDMA_MAX_DEVICES)
		return error_set(err, EINVAL, "Unknown MELLANOX device id: %lu", v);
	for (size_t i = 0; i < r->n; i++)
		if (r->idx[i] == v)
			return 0;
	r->idx[r->n++] = (unsigned)v;
	return 0;
}

int rdma_request_parse(const char *value, struct rdma_request *ret, struct error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (value == NULL || has_word(value, "void") || has_word(value, "none"))
		return 0;
	ret->all = has_word(value, "all");
	for (const char *s = value; *s && !ret->all; s += strcspn(s, ","), s += *s == ',') {
		const char *a = s, *b = s + strcspn(s, ",");

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a && add_index(ret, a, b, err) < 0)
			return -1;
	}
	ret->active = ret->all || ret->n > 0;
	return 0;
}

/* The names in dir, bounded in number and length (a sysfs class is flat). */
static int list_names(const char *dir, struct strv *ret, struct error *err)
{
	if (list_dir_sorted(dir, NULL, ret, err) < 0)
		return -1;
	if (ret->n > RDMA_MAX_DEVICES * 4)
		return error_set(err, E2BIG, "%s: more than %d entries", dir, RDMA_MAX_DEVICES * 4);
	for (size_t i = 0; i < ret->n; i++)
		if (strlen(ret->v[i]) >= RDMA_MAX_NAME)
			return error_set(err, ENAMETOOLONG, "%s: name too long", dir);
	return 0;
}

static int select_ibdevs(const char *sys_root, const struct rdma_request *req, struct strv *ret,
			 struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/class/infiniband", sys_root);
	struct strv all = STRV_INIT;
	int r = list_names(dir, &all, err);

	for (size_t i = 0; r == 0 && req->all && i < all.n; i++)
		strv_push(ret, all.v[i]);
	for (size_t i = 0; r == 0 && !req->all && i < req->n; i++) {
		if (req->idx[i] < all.n)
			strv_push(ret, all.v[req->idx[i]]);
		else
			r = error_set(err, 0, "Unknown MELLANOX device id: %u (this node has %zu RDMA device%s in %s)",
				      req->idx[i], all.n, all.n == 1 ? "" : "s", dir);
	}
	strv_free(&all);
	return r;
}

static bool selected(const struct strv *ibdevs, const char *name)
{
	for (size_t i = 0; i < ibdevs->n; i++)
		if (!strcmp(ibdevs->v[i], name))
			return true;
	return false;
}

/* Entries of class whose name starts with prefix and whose ibdev file names
 * a selected HCA: their nodes and sysfs links. */
static void add_ports(const char *sys_root, const char *class, const char *prefix, struct rdma_plan *p)
{
	_cleanup_free_ char *dir = xasprintf("%s/class/%s", sys_root, class);
	struct strv names = STRV_INIT;
	struct error ignore = ERROR_INIT;

	if (list_names(dir, &names, &ignore) < 0)
		strv_free(&names);
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s/ibdev", dir, names.v[i]);
		_cleanup_free_ char *ibdev = NULL;

		if (strncmp(names.v[i], prefix, strlen(prefix)) ||
		    read_file_at(AT_FDCWD, path, RDMA_MAX_NAME, &ibdev, NULL, &ignore) < 0)
			continue;
		ibdev[strcspn(ibdev, "\n")] = '\0';
		if (!selected(&p->ibdevs, ibdev))
			continue;
		strv_push(&p->nodes, names.v[i]);
		strv_pushf(&p->links, "%s/%s", class, names.v[i]);
	}
	strv_free(&names);
}

int rdma_make_plan(const char *sys_root, const struct rdma_request *req, bool superuser, struct rdma_plan *ret,
		   struct error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (select_ibdevs(sys_root, req, &ret->ibdevs, err) < 0) {
		rdma_plan_done(ret);
		return -1;
	}
	for (size_t i = 0; i < ret->ibdevs.n; i++)
		strv_pushf(&ret->links, "infiniband/%s", ret->ibdevs.v[i]);
	add_ports(sys_root, "infiniband_verbs", "uverbs", ret);
	/* Management datagrams and the subnet manager port: a real root only,
	 * as enroot (a user could otherwise send MADs as the fabric's admin). */
	if (superuser) {
		add_ports(sys_root, "infiniband_mad", "umad", ret);
		add_ports(sys_root, "infiniband_mad", "issm", ret);
	}
	return 0;
}

void rdma_plan_done(struct rdma_plan *p)
{
	strv_free(&p->ibdevs);
	strv_free(&p->nodes);
	strv_free(&p->links);
}
