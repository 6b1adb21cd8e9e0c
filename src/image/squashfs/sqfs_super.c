/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/super.h>

#include "image/squashfs/sqfs_super.h"
#include "util/cleanup.h"

/* The header's struct gives the on-disk layout (little endian); only the
 * header is used, the library is not linked in. */
static int check_fields(const char *path, const sqfs_super_t *sb, uint64_t size, struct error *err)
{
	uint32_t block_size = le32toh(sb->block_size);
	uint16_t comp = le16toh(sb->compression_id), block_log = le16toh(sb->block_log);
	uint64_t used = le64toh(sb->bytes_used);

	if (le32toh(sb->magic) != SQFS_MAGIC)
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs image", path);
	if (le16toh(sb->version_major) != SQFS_VERSION_MAJOR || le16toh(sb->version_minor) != SQFS_VERSION_MINOR)
		return error_set(err, 0, "invalid image format: '%s' has a bad superblock: not squashfs 4.0", path);
	if (block_size < SQFS_MIN_BLOCK_SIZE || block_size > SQFS_MAX_BLOCK_SIZE || block_log >= 32 ||
	    (1u << block_log) != block_size)
		return error_set(err, 0, "invalid image format: '%s' has a bad block size %u", path, block_size);
	if (comp < SQFS_COMP_MIN || comp > SQFS_COMP_MAX)
		return error_set(err, 0, "invalid image format: '%s' uses an unsupported compressor %u", path, comp);
	if (used > size)
		return error_set(err, 0, "invalid image format: '%s' is truncated (%ju of %ju bytes)", path,
				 (uintmax_t)size, (uintmax_t)used);
	return 0;
}

int sqfs_super_check(const char *path, uint64_t offset, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	sqfs_super_t sb;
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return error_set(err, errno, "failed to open '%s'", path);
	if (fstat(fd, &st) < 0)
		return error_set(err, errno, "failed to stat '%s'", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < offset)
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs image", path);
	n = pread(fd, &sb, sizeof(sb), (off_t)offset);
	if (n < 0)
		return error_set(err, errno, "failed to read '%s'", path);
	if ((size_t)n < sizeof(sb))
		return error_set(err, 0, "invalid image format: '%s' is not a squashfs image", path);
	return check_fields(path, &sb, (uint64_t)st.st_size - offset, err);
}
