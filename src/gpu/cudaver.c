/* SPDX-License-Identifier: Apache-2.0 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "gpu/cudaver.h"
#include "gpu/helper.h"

#define CUDAVER_TIMEOUT_MS 5000

void gpu_cuda_version_str(int v, char *out, size_t len)
{
	snprintf(out, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

static int child(void *arg, int fd)
{
	void *h = dlopen(arg, RTLD_NOW | RTLD_LOCAL);
	int (*get)(int *) = h ? (int (*)(int *))dlsym(h, "cuDriverGetVersion") : NULL;
	int v = 0;

	return get == NULL || get(&v) != 0 || write(fd, &v, sizeof(v)) != sizeof(v);
}

int gpu_cuda_version(const char *libcuda, char *out, size_t len, struct error *err)
{
	int v = 0;
	size_t n = 0;

	if (gpu_helper_run(child, (void *)libcuda, &v, sizeof(v), &n, CUDAVER_TIMEOUT_MS, libcuda, err) < 0 ||
	    n != sizeof(v) || v <= 0)
		return error_set(err, 0, "cannot get the CUDA version from %s (cuDriverGetVersion)", libcuda);
	gpu_cuda_version_str(v, out, len);
	return 0;
}
