/* SPDX-License-Identifier: Apache-2.0 */
/* The squashfs server of a direct start, in a child of capsa: squashfuse's
 * low-level server is a library (libsquashfuse_ll), loaded with dlopen only
 * on this path so that `capsa start NAME` maps nothing more. Exec'ing the
 * squashfuse binary (and its dynamic linking) was most of a direct start's
 * cost. We mount /dev/fuse ourselves, so the mount is there when mount(2)
 * returns: the kernel queues requests until the server answers FUSE_INIT. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/sqfuse.h"
#include "util/cleanup.h"
#include "util/proc.h"
#include "util/xalloc.h"

#ifndef WITH_SQFUSE_LL

bool sqfuse_compiled(void)
{
	return false;
}

bool sqfuse_available(void)
{
	return false;
}

int sqfuse_mount(const char *image, uint64_t offset, const char *mountpoint, struct error *err)
{
	(void)image, (void)offset, (void)mountpoint, (void)err;
	return 1;
}

void sqfuse_setup_done(const char *command)
{
	(void)command;
}

#else

#include <squashfuse/ll.h>

/* libsquashfuse_ll exports it without installing its header (stat.h). */
typedef sqfs_err (*sqfs_stat_fn)(sqfs *fs, sqfs_inode *inode, struct stat *st);

/* 64 blocks (8 MiB with the default 128 KiB block): squashfuse keeps one
 * data block, so the kernel's readahead windows, which straddle blocks,
 * made it decompress most blocks of an executable several times. */
#define DATA_CACHE_BLOCKS 64
/* squashfuse's own entry and attribute timeout: an image never changes. */
#define SQFUSE_TIMEOUT 1e9

static struct sqfuse_lib {
	sqfs_ll *(*ll_open)(const char *path, size_t offset);
	sqfs_err (*ll_iget)(fuse_req_t req, sqfs_ll_i *lli, fuse_ino_t i);
	sqfs_stat_fn stat;
	void (*dentry_init)(sqfs_dir_entry *entry, char *namebuf);
	sqfs_err (*dir_lookup)(sqfs *fs, sqfs_inode *inode, const char *name, size_t namelen,
			       sqfs_dir_entry *entry, bool *found);
	sqfs_err (*inode_get)(sqfs *fs, sqfs_inode *inode, sqfs_inode_id id);
	sqfs_inode_id (*dentry_inode)(sqfs_dir_entry *entry);
	void (*cache_destroy)(sqfs_cache *cache);
	sqfs_err (*block_cache_init)(sqfs_cache *cache, size_t count);
	int (*reply_attr)(fuse_req_t req, const struct stat *attr, double timeout);
	int (*reply_entry)(fuse_req_t req, const struct fuse_entry_param *e);
	int (*reply_err)(fuse_req_t req, int err);
	struct fuse_session *(*session_new)(struct fuse_args *args, const struct fuse_lowlevel_ops *op,
					    size_t op_size, void *userdata);
	int (*session_mount)(struct fuse_session *se, const char *mountpoint);
	int (*session_loop)(struct fuse_session *se);
	struct fuse_lowlevel_ops ops;
	uid_t uid;
	gid_t gid;
} lib;

struct symbol {
	const char *name;
	void **slot;
};

#define SYM(name, field) {name, (void **)&lib.field}

static int load_library(void)
{
	const struct symbol syms[] = {
		SYM("sqfs_ll_open", ll_open), SYM("sqfs_ll_iget", ll_iget), SYM("sqfs_stat", stat),
		SYM("sqfs_dentry_init", dentry_init), SYM("sqfs_dir_lookup", dir_lookup),
		SYM("sqfs_inode_get", inode_get), SYM("sqfs_dentry_inode", dentry_inode),
		SYM("sqfs_cache_destroy", cache_destroy), SYM("sqfs_block_cache_init", block_cache_init),
		SYM("fuse_reply_attr", reply_attr), SYM("fuse_reply_entry", reply_entry),
		SYM("fuse_reply_err", reply_err), SYM("fuse_session_new", session_new),
		SYM("fuse_session_mount", session_mount), SYM("fuse_session_loop", session_loop),
		SYM("sqfs_ll_op_readlink", ops.readlink), SYM("sqfs_ll_op_opendir", ops.opendir),
		SYM("sqfs_ll_op_readdir", ops.readdir), SYM("sqfs_ll_op_releasedir", ops.releasedir),
		SYM("sqfs_ll_op_open", ops.open), SYM("sqfs_ll_op_read", ops.read),
		SYM("sqfs_ll_op_release", ops.release), SYM("sqfs_ll_op_forget", ops.forget),
		SYM("stfs_ll_op_statfs", ops.statfs),
	};
	void *handle = dlopen(SQFUSE_LIBRARY, RTLD_NOW | RTLD_LOCAL);

	if (handle == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(syms); i++) {
		*syms[i].slot = dlsym(handle, syms[i].name);
		if (*syms[i].slot == NULL) {
			dlclose(handle);
			return -1;
		}
	}
	return 0;
}

/* Every file is the caller's, as with squashfuse's -o uid=,gid=: an image's
 * root-owned files would otherwise show up unmapped (nobody) in the user
 * namespace, and overlayfs could not copy them up. */
static void own(struct stat *st, fuse_ino_t ino)
{
	st->st_ino = ino;
	st->st_uid = lib.uid;
	st->st_gid = lib.gid;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	sqfs_ll_i lli;
	struct stat st;

	(void)fi;
	if (lib.ll_iget(req, &lli, ino) != SQFS_OK)
		return; /* it replied */
	if (lib.stat(&lli.ll->fs, &lli.inode, &st) != SQFS_OK) {
		lib.reply_err(req, EIO);
		return;
	}
	own(&st, ino);
	lib.reply_attr(req, &st, SQFUSE_TIMEOUT);
}

static int lookup_entry(sqfs_ll_i *dir, const char *name, struct fuse_entry_param *e)
{
	sqfs_name namebuf;
	sqfs_dir_entry entry;
	sqfs_inode inode;
	bool found = false;

	if (!S_ISDIR(dir->inode.base.mode))
		return ENOTDIR;
	lib.dentry_init(&entry, namebuf);
	if (lib.dir_lookup(&dir->ll->fs, &dir->inode, name, strlen(name), &entry, &found) != SQFS_OK)
		return EIO;
	if (!found)
		return ENOENT;
	if (lib.inode_get(&dir->ll->fs, &inode, lib.dentry_inode(&entry)) != SQFS_OK ||
	    lib.stat(&dir->ll->fs, &inode, &e->attr) != SQFS_OK)
		return EIO;
	e->ino = dir->ll->ino_register(dir->ll, &entry);
	e->attr_timeout = e->entry_timeout = SQFUSE_TIMEOUT;
	own(&e->attr, e->ino);
	return 0;
}

/* A missing name is answered with inode 0, which the kernel caches as a
 * negative entry: a start asks for many names an image lacks. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	sqfs_ll_i dir;
	int r;

	memset(&e, 0, sizeof(e));
	if (lib.ll_iget(req, &dir, parent) != SQFS_OK)
		return;
	r = lookup_entry(&dir, name, &e);
	if (r == ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = SQFUSE_TIMEOUT;
		r = 0;
	}
	if (r != 0)
		lib.reply_err(req, r);
	else
		lib.reply_entry(req, &e);
}

/* Setup on one CPU (sqfuse_setup_done()): the caller's own CPUs, to go back
 * to, and the server that shares the one. */
static struct {
	bool pinned;
	pid_t server;
	cpu_set_t cpus;
} setup;

static void pin_setup(void)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	if (cpu < 0 || sched_getaffinity(0, sizeof(setup.cpus), &setup.cpus) < 0)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	setup.pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
}

void sqfuse_setup_done(const char *command)
{
	int fd;

	if (!setup.pinned)
		return;
	/* Its pages come in on this CPU, as a burst the server answers
	 * without sleeping; the exec then finds them in the page cache. */
	fd = open(command, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		close(fd);
	}
	if (setup.server > 0)
		sched_setaffinity(setup.server, sizeof(setup.cpus), &setup.cpus);
	sched_setaffinity(0, sizeof(setup.cpus), &setup.cpus);
	setup.pinned = false;
}

/* The kernel keeps symlink targets only when asked to. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

/* The server keeps only the fuse fd and the image's fd: nothing of the
 * container (its lock, the caller's pipes) may stay open after it. */
static void close_other_fds(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a, devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int fd = 0; fd < 3 && devnull >= 0; fd++)
		dup2(devnull, fd);
	if (lo > 3)
		close_range(3, lo - 1, 0);
	if (hi > lo + 1)
		close_range(lo + 1, hi - 1, 0);
	close_range(hi + 1, ~0U, 0);
}

/* The server dies with the process that becomes the container's command
 * (PDEATHSIG survives its exec) and ignores the terminal's signals: a ^C or
 * ^Z for the command must not take the rootfs away under it. */
static _Noreturn void serve(struct fuse_session *se, int fuse_fd, int image_fd, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	setsid();
	close_other_fds(fuse_fd, image_fd);
	_exit(lib.session_loop(se) < 0 ? 1 : 0);
}

static int start_server(sqfs_ll *ll, int fuse_fd, struct error *err)
{
	char *argv[] = {(char *)"capsa", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	char dev[32];
	struct fuse_session *se;
	pid_t parent = getpid(), pid;

	lib.ops.init = op_init;
	lib.ops.lookup = op_lookup;
	lib.ops.getattr = op_getattr;
	se = lib.session_new(&args, &lib.ops, sizeof(lib.ops), ll);
	snprintf(dev, sizeof(dev), "/dev/fd/%d", fuse_fd);
	if (se == NULL || lib.session_mount(se, dev) < 0)
		return error_set(err, 0, "failed to start the squashfs server");
	pid = fork();
	if (pid < 0)
		return error_errno(err, "fork");
	if (pid == 0)
		serve(se, fuse_fd, ll->fs.fd, parent);
	setup.server = pid;
	return 0;
}

static int mount_fuse(const char *mountpoint, struct error *err)
{
	_cleanup_free_ char *opts = NULL;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return error_set(err, errno, "cannot open /dev/fuse");
	opts = xasprintf("fd=%d,rootmode=40000,user_id=%u,group_id=%u", fd, (unsigned)geteuid(),
			 (unsigned)getegid());
	if (mount("squashfuse", mountpoint, "fuse.squashfuse", MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0) {
		error_set(err, errno, "failed to mount FUSE on '%s'", mountpoint);
		close(fd);
		return -1;
	}
	return fd;
}

bool sqfuse_compiled(void)
{
	return true;
}

bool sqfuse_available(void)
{
	return lib.ll_open != NULL || load_library() == 0;
}

int sqfuse_mount(const char *image, uint64_t offset, const char *mountpoint, struct error *err)
{
	sqfs_ll *ll;
	int fd, r;

	if (!sqfuse_available())
		return 1;
	ll = lib.ll_open(image, offset);
	if (ll == NULL)
		return error_set(err, 0, "'%s' is not a squashfs image that squashfuse can read", image);
	lib.cache_destroy(&ll->fs.data_cache);
	if (lib.block_cache_init(&ll->fs.data_cache, DATA_CACHE_BLOCKS) != SQFS_OK)
		return error_set(err, ENOMEM, "out of memory");
	lib.uid = geteuid();
	lib.gid = getegid();
	pin_setup();
	fd = mount_fuse(mountpoint, err);
	if (fd < 0)
		return -1;
	r = start_server(ll, fd, err);
	/* The session and the image belong to the server now; the container
	 * must not hold the fuse fd (it could answer requests itself). */
	close(fd);
	close(ll->fs.fd);
	return r;
}

#endif
