/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark driver: "layers_driver OUT LAYER..." runs layers_to_squashfs()
 * (zstd level 3) over the layer blobs, bottom first; warnings on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "image/layers/layers.h"
#include "util/xalloc.h"

static void print_warning(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct layers_opts opts = {.pack = {.compressor = "zstd", .level = 3}, .warn = print_warning};
	struct error err = ERROR_INIT;
	struct layer_src *l;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT LAYER...\n", argv[0]);
		return 2;
	}
	l = xcalloc((size_t)argc - 2, sizeof(*l));
	for (int i = 2; i < argc; i++)
		l[i - 2] = (struct layer_src){argv[i], LAYER_SRC_AUTO, 0, 0};
	r = layers_to_squashfs(l, (size_t)argc - 2, argv[1], &opts, &err);
	free(l);
	if (r < 0) {
		fprintf(stderr, "layers_driver: %s\n", err.msg);
		return 1;
	}
	return 0;
}
