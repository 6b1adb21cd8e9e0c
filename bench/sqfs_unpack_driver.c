/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark driver: "unpack IMAGE DIR" runs sqfs_unpack() into a new DIR,
 * "pack DIR IMAGE" runs sqfs_pack_dir() with zstd level 3. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/squashfs/sqfs_pack.h"
#include "image/squashfs/sqfs_unpack.h"
#include "util/cleanup.h"

static int do_unpack(const char *image, const char *dir, struct error *err)
{
	_cleanup_close_ int fd = -1;

	if (mkdir(dir, 0755) < 0)
		return error_set(err, errno, "failed to create '%s'", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", dir);
	return sqfs_unpack(image, NULL, fd, err);
}

static int do_pack(const char *dir, const char *image, struct error *err)
{
	struct sqfs_pack_opts opts = {.compressor = "zstd", .level = 3};
	_cleanup_close_ int fd = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", dir);
	return sqfs_pack_dir(fd, image, &opts, err);
}

int main(int argc, char **argv)
{
	struct error err = ERROR_INIT;
	int r = -1;

	if (argc == 4 && strcmp(argv[1], "unpack") == 0)
		r = do_unpack(argv[2], argv[3], &err);
	else if (argc == 4 && strcmp(argv[1], "pack") == 0)
		r = do_pack(argv[2], argv[3], &err);
	else if (argc == 3 && strcmp(argv[1], "probe") == 0)
		r = sqfs_image_probe(argv[2], 0, &err);
	else
		error_set(&err, 0, "usage: %s unpack IMAGE DIR | pack DIR IMAGE | probe IMAGE", argv[0]);
	if (r < 0) {
		fprintf(stderr, "sqfs_unpack_driver: %s\n", err.msg);
		return 1;
	}
	return 0;
}
