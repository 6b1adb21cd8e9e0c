/* SPDX-License-Identifier: Apache-2.0 */
/* MELLANOX_VISIBLE_DEVICES, as enroot's 99-mellanox hook (enroot.md §7.1):
 * which RDMA (InfiniBand/RoCE) devices a container gets. The request parser
 * is pure; the planner only reads the host's sysfs under a settable root. */
#ifndef CAPSA_GPU_RDMA_H
#define CAPSA_GPU_RDMA_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strv.h"

/* Bounds on what an image may ask for and on what a host may list. */
#define RDMA_MAX_DEVICES 64
#define RDMA_MAX_NAME 64

/* The sysfs classes shown in the container (tmpfs over each, then links). */
#define RDMA_CLASSES {"infiniband", "infiniband_verbs", "infiniband_cm", "infiniband_mad"}

struct rdma_request {
	bool active;                  /* false: unset, empty, void or none */
	bool all;
	unsigned idx[RDMA_MAX_DEVICES]; /* indices into the sorted class/infiniband */
	size_t n;
};

/* Parse the value (NULL: unset). Indices are decimal, comma-separated,
 * whitespace trimmed, duplicates ignored; void or none anywhere turns it off. */
int rdma_request_parse(const char *value, struct rdma_request *ret, struct error *err);

struct rdma_plan {
	struct strv ibdevs; /* selected HCAs, e.g. mlx5_0 */
	struct strv nodes;  /* /dev/infiniband names: uverbsN (+ umadN, issmN) */
	struct strv links;  /* "class/name" entries to link in the container's sysfs */
};

/* Select from sys_root/class/infiniband (C-locale order: index i is the
 * i-th name) and find each one's uverbs (and, for a real superuser, umad
 * and issm) through their ibdev files. */
int rdma_make_plan(const char *sys_root, const struct rdma_request *req, bool superuser, struct rdma_plan *ret,
		   struct error *err);
void rdma_plan_done(struct rdma_plan *p);

#endif
