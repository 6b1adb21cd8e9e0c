/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <sys/stat.h>

#include "image/registry/blobcache.h"
#include "tap.h"
#include "util/xalloc.h"

/* sha256("hello\n") */
#define HELLO_HEX "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static char dir[] = "/tmp/capsa-cache-XXXXXX";

static void cleanup(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	ASSERT_TRUE(system(cmd) == 0);
}

static struct blobcache open_cache(void)
{
	struct blobcache bc;
	struct error err = ERROR_INIT;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	ASSERT_OK(blobcache_open(dir, &bc, &err), &err);
	return bc;
}

static int put(struct blobcache *bc, const char *digest, const char *data, struct error *err)
{
	struct blob_writer w;
	int r = blobcache_begin(bc, digest, 5, &w, err);

	if (r != 0)
		return r;
	ASSERT_EQ(write(w.fd, data, strlen(data)), (ssize_t)strlen(data));
	return blobcache_commit(&w, NULL, err);
}

TEST(publish_and_lookup)
{
	struct blobcache bc = open_cache();
	struct error err = ERROR_INIT;
	enum blob_format fmt;
	int fd;

	ASSERT_EQ(blobcache_lookup(&bc, "sha256:" HELLO_HEX, &fd, &fmt, &err), 0);
	ASSERT_OK(put(&bc, "sha256:" HELLO_HEX, "hello\n", &err), &err);
	ASSERT_EQ(blobcache_lookup(&bc, "sha256:" HELLO_HEX, &fd, &fmt, &err), 1);
	ASSERT_EQ(fmt, BLOB_VERBATIM);
	/* A second writer finds it published and does nothing. */
	ASSERT_EQ(put(&bc, "sha256:" HELLO_HEX, "other", &err), 1);
	ASSERT_OK(blobcache_verify(&bc, HELLO_HEX, &err), &err);
	cleanup();
}

TEST(mismatch_caches_nothing)
{
	struct blobcache bc = open_cache();
	struct error err = ERROR_INIT;
	enum blob_format fmt;
	int fd;

	ASSERT_FAILS(put(&bc, "sha256:" HELLO_HEX, "tampered\n", &err));
	ASSERT_TRUE(strstr(err.msg, "checksum mismatch") != NULL);
	ASSERT_EQ(blobcache_lookup(&bc, "sha256:" HELLO_HEX, &fd, &fmt, &err), 0);
	/* No temporary file is left behind. */
	ASSERT_EQ(system(xasprintf("test -z \"$(ls -A '%s/tmp')\"", dir)), 0);
	cleanup();
}

TEST(corrupt_entry_detected)
{
	struct blobcache bc = open_cache();
	struct error err = ERROR_INIT;
	enum blob_format fmt;
	int fd;

	ASSERT_OK(put(&bc, "sha256:" HELLO_HEX, "hello\n", &err), &err);
	ASSERT_EQ(system(xasprintf("chmod 600 '%s/blobs/sha256/" HELLO_HEX "' && echo bad > '%s/blobs/sha256/" HELLO_HEX "'",
				   dir, dir)),
		  0);
	ASSERT_FAILS(blobcache_verify(&bc, HELLO_HEX, &err));
	ASSERT_EQ(blobcache_lookup(&bc, "sha256:" HELLO_HEX, &fd, &fmt, &err), 0);
	cleanup();
}

TEST(concurrent_writers_download_once)
{
	struct blobcache bc = open_cache();
	struct error err = ERROR_INIT;
	struct blob_writer w;
	pid_t pid;
	int status;

	ASSERT_EQ(blobcache_begin(&bc, "sha256:" HELLO_HEX, 5, &w, &err), 0);
	pid = fork();
	if (pid == 0) {
		struct blob_writer w2;
		struct error e2 = ERROR_INIT;

		/* The inherited descriptors would keep the parent's lock alive. */
		close(w.lockfd);
		close(w.fd);
		/* Waits for the first writer, then finds the entry. */
		_exit(blobcache_begin(&bc, "sha256:" HELLO_HEX, 5, &w2, &e2) == 1 ? 0 : 1);
	}
	usleep(100000);
	ASSERT_EQ(write(w.fd, "hello\n", 6), 6);
	ASSERT_OK(blobcache_commit(&w, NULL, &err), &err);
	waitpid(pid, &status, 0);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cleanup();
}

TEST(prune_and_list)
{
	struct blobcache bc = open_cache();
	struct error err = ERROR_INIT;
	uint64_t freed = 0;
	char buf[256] = {0};
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	ASSERT_OK(put(&bc, "sha256:" HELLO_HEX, "hello\n", &err), &err);
	ASSERT_OK(blobcache_list(&bc, f, &err), &err);
	fclose(f);
	ASSERT_STREQ(buf, "sha256:" HELLO_HEX " 6\n");
	/* A temporary file left by a killed import. */
	ASSERT_EQ(system(xasprintf("echo partial > '%s/tmp/" HELLO_HEX ".999999'", dir)), 0);
	ASSERT_OK(blobcache_prune(&bc, &freed, &err), &err);
	ASSERT_EQ(freed, 6 + 8);
	ASSERT_EQ(system(xasprintf("test -z \"$(find '%s/tmp' '%s/blobs/sha256' -mindepth 1)\"", dir, dir)), 0);
	cleanup();
}

TEST(foreign_owned_dir_refused)
{
	struct error err = ERROR_INIT;
	struct blobcache bc;

	if (geteuid() != 0)
		SKIP("needs root to create a directory owned by someone else");
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	ASSERT_EQ(system(xasprintf("mkdir '%s/tmp' && chown 65534 '%s/tmp'", dir, dir)), 0);
	/* Root may use it; check the message path with a non-root effective uid. */
	if (seteuid(65534) == 0) {
		ASSERT_EQ(system("true"), 0);
		ASSERT_FAILS(blobcache_open(dir, &bc, &err));
		ASSERT_TRUE(seteuid(0) == 0);
	}
	cleanup();
}

TAP_MAIN(T(publish_and_lookup), T(mismatch_caches_nothing), T(corrupt_entry_detected),
	 T(concurrent_writers_download_once), T(prune_and_list), T(foreign_owned_dir_refused))
