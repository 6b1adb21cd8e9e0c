/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/registry/blobcache.h"
#include "image/layers/imgconfig.h"
#include "image/image_store.h"
#include "image/import.h"
#include "image/sources/archive_source.h"
#include "image/layers/layers.h"
#include "image/sources/oci_layout.h"
#include "image/registry/reference.h"
#include "image/registry/registry.h"
#include "image/squashfs/sqfs_options.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define MAX_FETCHERS 64

struct import {
	const struct config *cfg;
	const struct import_opts *o;
	struct image_ref ref;
	struct registry *reg;
	struct blobcache cache;
	struct manifest manifest;
	struct image_config config;
	const char *arch, *variant;
	struct oci_ref oci;       /* set for oci:// sources */
	struct strv layer_paths; /* local sources: the layer files, for messages */
	struct local_layer {
		int fd; /* the blob as verified: never reopened by path */
		uint64_t offset, length; /* inside an archive; length 0: the whole file */
	} *local;                /* one per layer_paths entry */
	struct archive_index archive; /* oci-archive/docker-archive read in place */
	char *provenance;
	char *tmpdir; /* archive sources are unpacked here */
	pid_t fetchers[MAX_FETCHERS];
	size_t n_fetchers;
	int fetch_errfd;
	bool fetch_failed;
	bool into_store; /* the output is the image store's entry */
	/* Shared with the download workers (MAP_SHARED), one per layer. */
	struct layer_progress *progress;
	size_t n_progress;
	/* Shared too: the cache temporary each worker is filling, so the merge
	 * can read a layer while it downloads. */
	struct fetch_slot {
		char tmpname[96];
	} *slots;
	bool is_worker; /* in a download worker: only the parent reports */
};

static void info(const struct import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void info(const struct import *im, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (im->o->info == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	im->o->info(msg, im->o->info_arg);
	free(msg);
}

static int resolve_arch(const char *arg, const char **ret_arch, const char **ret_variant, struct error *err)
{
	struct utsname u;

	if (arg == NULL) {
		uname(&u);
		arg = u.machine;
		*ret_arch = image_arch_normalize(arg, ret_variant);
		if (*ret_arch == NULL)
			return error_set(err, 0, "unsupported architecture: %s (use -a/--arch)", arg);
		return 0;
	}
	*ret_arch = image_arch_normalize(arg, ret_variant);
	if (*ret_arch == NULL)
		return error_set(err, 0, "unsupported architecture: %s (use x86_64, aarch64, ppc64le or amd64, arm64)",
				 arg);
	return 0;
}

static void report(struct import *im)
{
	struct import_progress p = {im->n_progress, im->progress};

	if (im->o->progress && im->progress && !im->is_worker)
		im->o->progress(&p, im->o->progress_arg);
}

struct counting_sink {
	struct import *im;
	int fd;
	uint64_t *count;
	/* Written back as it comes: the merge drops what it read (clean
	 * pages only) and the commit's fsync has little left to do. */
	struct writeback wb;
	uint64_t written;
};

static int counting_sink(const void *data, size_t len, void *arg, struct error *err)
{
	struct counting_sink *s = arg;

	s->written += len;
	if (write_all(s->fd, data, len) < 0 || writeback_advance(&s->wb, s->written) < 0)
		return error_errno(err, "failed to write to the layer cache");
	/* Workers share the counter with the parent, which only reads it. */
	if (s->count)
		__atomic_add_fetch(s->count, (uint64_t)len, __ATOMIC_RELEASE);
	report(s->im);
	return 0;
}

/* A cached blob, or one fetched now into the cache (verified on commit). */
static int ensure_blob(struct import *im, size_t index, struct error *err)
{
	const struct descriptor *d = &im->manifest.layers[index].d;
	uint64_t *count = im->progress ? &im->progress[index].downloaded : NULL;
	struct counting_sink sink = {.im = im, .fd = -1, .count = count};
	struct blob_writer w;
	enum blob_format fmt;
	int fd = -1;
	int r = blobcache_lookup(&im->cache, d->digest, &fd, &fmt, err);

	if (r != 0) {
		if (fd >= 0)
			close(fd);
		if (r > 0 && count)
			__atomic_store_n(count, d->size, __ATOMIC_RELAXED);
		return r < 0 ? -1 : 0;
	}
	r = blobcache_begin(&im->cache, d->digest, config_long(im->cfg, "LOCK_TIMEOUT", 30) * 20, &w, err);
	if (r > 0 && count)
		__atomic_store_n(count, d->size, __ATOMIC_RELAXED);
	if (r != 0)
		return r < 0 ? -1 : 0;
	sink.fd = w.fd;
	sink.wb = (struct writeback){.fd = w.fd};
	if (im->slots)
		memcpy(im->slots[index].tmpname, w.tmpname, sizeof(w.tmpname));
	if (registry_fetch_blob_cb(im->reg, d->digest, d->size, counting_sink, &sink, err) < 0) {
		blobcache_abort(&w);
		/* A retry restarts from zero: the bar should not overshoot. */
		if (count)
			__atomic_store_n(count, 0, __ATOMIC_RELAXED);
		return -1;
	}
	/* registry_fetch_blob_cb hashed every byte it handed to the sink. */
	return blobcache_commit(&w, d->digest + 7, err);
}

/* Our cache entry, or enroot's when only that one exists (it may be
 * about to appear: a download worker publishes under our name). */
static char *blob_path(const struct import *im, const char *digest, bool *enroot_format)
{
	_cleanup_free_ char *ours = xasprintf("%s/blobs/sha256/%s", im->cache.path, digest + 7);
	_cleanup_free_ char *theirs = xasprintf("%s/%s", im->cache.path, digest + 7);

	*enroot_format = access(ours, F_OK) < 0 && access(theirs, F_OK) == 0;
	return *enroot_format ? TAKE_PTR(theirs) : TAKE_PTR(ours);
}

static int parse_config(struct import *im, const char *json, size_t len, struct error *err)
{
	if (image_config_parse(json, len, &im->config, err) < 0)
		return -1;
	if (im->config.architecture && strcmp(im->config.architecture, im->arch))
		info(im, "[WARN] Image architecture doesn't match the requested one: %s != %s",
		     im->config.architecture, im->arch);
	return 0;
}

/* Cached like the layers, so that importing an image again downloads
 * nothing but its manifest. */
static void cache_config(struct import *im, const char *json, size_t len)
{
	struct blob_writer w;
	struct error ignored = ERROR_INIT;

	if (blobcache_begin(&im->cache, im->manifest.config.digest, 0, &w, &ignored) != 0)
		return;
	if (write_all(w.fd, json, len) == 0)
		blobcache_commit(&w, NULL, &ignored);
	else
		blobcache_abort(&w);
}

static int load_config(struct import *im, struct error *err)
{
	_cleanup_free_ char *json = NULL;
	size_t len;
	int fd = -1;
	enum blob_format fmt;
	int r = blobcache_lookup(&im->cache, im->manifest.config.digest, &fd, &fmt, err);

	if (r > 0 && fmt == BLOB_VERBATIM) {
		r = read_fd(fd, CONFIG_MAX_BYTES, &json, &len, err);
		close(fd);
		return r < 0 ? -1 : parse_config(im, json, len, err);
	}
	if (fd >= 0)
		close(fd);
	if (registry_fetch_blob_mem(im->reg, im->manifest.config.digest, im->manifest.config.size, &json, &len,
				    err) < 0)
		return error_prefix(err, "image config");
	cache_config(im, json, len);
	return parse_config(im, json, len, err);
}

/* Worker w of n fetches layers top-down (n_layers-1-w, then n steps lower)
 * over its own connection, in the order the merge reads them; the cache's
 * per-digest locks make concurrent fetches of one blob safe. */
static void __attribute__((noreturn)) fetch_worker(struct import *im, size_t w, size_t n, int errfd)
{
	struct registry *reg = NULL;
	struct error err = ERROR_INIT;
	size_t total = im->manifest.n_layers;
	int r = registry_open(&reg, im->cfg, &im->ref, &err);

	im->is_worker = true;
	if (r == 0)
		im->reg = reg;
	for (size_t k = w; r == 0 && k < total; k += n) {
		const struct descriptor *d = &im->manifest.layers[total - 1 - k].d;

		r = ensure_blob(im, total - 1 - k, &err);
		if (r < 0)
			error_prefix(&err, "layer %s", d->digest);
	}
	if (r < 0 && write(errfd, err.msg, strlen(err.msg)) < 0)
		r = -1;
	_exit(r < 0 ? 1 : 0);
}

static int fetchers_start(struct import *im, size_t n, struct error *err)
{
	pid_t parent = getpid();
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return error_errno(err, "failed to create a pipe");
	im->fetch_errfd = pfd[0];
	for (im->n_fetchers = 0; im->n_fetchers < n; im->n_fetchers++) {
		pid_t pid = fork();

		if (pid < 0) {
			close(pfd[1]);
			return error_errno(err, "failed to start a download worker");
		}
		if (pid == 0) {
			/* A worker dies with its import (kill -9 of capsa): an
			 * orphan would go on downloading unseen and hold the lock. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
				_exit(1);
			close(pfd[0]);
			fetch_worker(im, im->n_fetchers, n, pfd[1]);
		}
		im->fetchers[im->n_fetchers] = pid;
	}
	close(pfd[1]);
	return 0;
}

/* Reap finished workers; the first failure's message becomes err. */
static int fetchers_reap(struct import *im, bool block, struct error *err)
{
	for (size_t i = 0; i < im->n_fetchers; i++) {
		int status;
		pid_t p;

		if (im->fetchers[i] <= 0)
			continue;
		do
			p = waitpid(im->fetchers[i], &status, block ? 0 : WNOHANG);
		while (p < 0 && errno == EINTR);
		if (p == 0)
			continue;
		im->fetchers[i] = 0;
		if (p > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0) && !im->fetch_failed) {
			ssize_t len = read(im->fetch_errfd, err->msg, sizeof(err->msg) - 1);

			err->msg[len > 0 ? len : 0] = '\0';
			if (len <= 0)
				error_set(err, 0, "a download worker failed");
			im->fetch_failed = true;
		}
	}
	return im->fetch_failed ? -1 : 0;
}

/* Workers are waited for even after a failed merge: what they publish is
 * verified, and killing them would leave temporaries. */
static int fetchers_finish(struct import *im, struct error *err)
{
	int r = 0;

	if (im->n_fetchers == 0)
		return 0;
	r = fetchers_reap(im, true, err);
	close(im->fetch_errfd);
	im->n_fetchers = 0;
	return r;
}

static bool fetchers_running(const struct import *im)
{
	for (size_t i = 0; i < im->n_fetchers; i++) {
		if (im->fetchers[i] > 0)
			return true;
	}
	return false;
}

/* Is a worker still at it? -1 (err set) when one failed or none is left. */
static int fetch_pending(struct import *im, const char *digest, struct error *err)
{
	bool running = fetchers_running(im);

	if (fetchers_reap(im, false, err) < 0)
		return -1;
	if (!running)
		return error_set(err, 0, "layer %s was not downloaded", digest);
	report(im);
	return 1;
}

/* The cached blob, or the temporary a worker is filling; waits for one. */
static int layer_open(size_t index, void *arg, struct error *err)
{
	struct import *im = arg;
	const char *digest = im->manifest.layers[index].d.digest;

	for (;;) {
		bool enroot_format;
		_cleanup_free_ char *path = blob_path(im, digest, &enroot_format);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

		if (fd < 0 && im->slots[index].tmpname[0])
			fd = openat(im->cache.tmpfd, im->slots[index].tmpname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			return fd;
		if (fetch_pending(im, digest, err) < 0)
			return -1;
		usleep(1000);
	}
}

/* A local layer: the verified fd again, at the blob's start. */
static int local_layer_open(size_t index, void *arg, struct error *err)
{
	const struct local_layer *l = &((struct import *)arg)->local[index];
	int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return error_errno(err, "failed to reopen a layer");
	if (lseek(fd, (off_t)l->offset, SEEK_SET) < 0) {
		close(fd);
		return error_errno(err, "failed to seek in a layer");
	}
	return fd;
}

/* Every byte is written once the counter reaches the size: the merge may
 * finish the layer; its digest is checked before the image is published. */
static int layer_more(size_t index, void *arg, struct error *err)
{
	struct import *im = arg;
	const struct layer_progress *p = &im->progress[index];
	bool enroot_format;
	_cleanup_free_ char *path = NULL;

	if (__atomic_load_n(&p->downloaded, __ATOMIC_ACQUIRE) >= p->size)
		return 0;
	path = blob_path(im, p->digest, &enroot_format);
	if (access(path, F_OK) == 0)
		return 0;
	return fetch_pending(im, p->digest, err);
}

/* Memory the download workers share with us (zeroed), or NULL. */
static void *shared_alloc(size_t bytes)
{
	void *p = bytes ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;

	return p == MAP_FAILED ? NULL : p;
}

static void progress_setup(struct import *im, size_t n)
{
	im->progress = shared_alloc(n * sizeof(*im->progress));
	im->n_progress = im->progress ? n : 0;
}

static int fetch_layers(struct import *im, struct error *err)
{
	size_t missing = 0, workers;

	progress_setup(im, im->manifest.n_layers);
	for (size_t i = 0; i < im->manifest.n_layers; i++) {
		bool enroot_format;
		_cleanup_free_ char *p = blob_path(im, im->manifest.layers[i].d.digest, &enroot_format);
		bool cached = access(p, F_OK) == 0;

		missing += !cached;
		if (im->progress) {
			im->progress[i].digest = im->manifest.layers[i].d.digest;
			im->progress[i].size = im->manifest.layers[i].d.size;
			im->progress[i].downloaded = cached ? im->progress[i].size : 0;
		}
	}
	if (missing == 0) {
		info(im, "Found all layers in cache");
		return 0;
	}
	info(im, "Downloading %zu missing layers...", missing);
	workers = (size_t)config_long(im->cfg, "MAX_CONNECTIONS", 10);
	workers = workers < missing ? workers : missing;
	workers = workers > MAX_FETCHERS ? MAX_FETCHERS : workers;
	/* With several workers the merge runs right behind the download of
	 * the top layer, then of the next one, and so on. */
	if (workers > 1 && im->progress) {
		im->slots = shared_alloc(im->manifest.n_layers * sizeof(*im->slots));
		if (im->slots)
			return fetchers_start(im, workers, err);
	}
	for (size_t i = 0; i < im->manifest.n_layers; i++) {
		if (ensure_blob(im, i, err) < 0)
			return error_prefix(err, "layer %s", im->manifest.layers[i].d.digest);
	}
	return 0;
}

static void merge_progress(size_t index, uint64_t offset, void *arg)
{
	struct import *im = arg;

	if (index < im->n_progress && offset > im->progress[index].merged)
		im->progress[index].merged = offset;
	report(im);
}

/* The rows the merge reports into: the download rows, or for local sources
 * (oci://, archives), which download nothing, rows made here. Returns -1
 * when there is no progress to report. */
static int progress_for_merge(struct import *im, const struct layer_src *src, size_t n)
{
	struct stat st;

	if (im->o->progress == NULL)
		return -1;
	if (im->progress == NULL) {
		progress_setup(im, n);
		for (size_t i = 0; im->progress && i < n; i++) {
			const char *base = strrchr(src[i].path, '/') ? strrchr(src[i].path, '/') + 1 : src[i].path;

			im->progress[i].digest = im->manifest.n_layers == n ? im->manifest.layers[i].d.digest : base;
			im->progress[i].size = src[i].length			  ? src[i].length
					       : stat(src[i].path, &st) == 0 ? (uint64_t)st.st_size
									   : 0;
			im->progress[i].downloaded = im->progress[i].size;
		}
	}
	return im->progress && im->n_progress == n ? 0 : -1;
}

/* Two imports to one path: the first to finish wins, the other fails
 * cleanly instead of replacing it (enroot has no lock here). */
static int publish(const struct import *im, const char *tmp, const char *output, struct error *err)
{
	if (rename_noreplace(tmp, output) < 0) {
		int e = errno;

		unlink(tmp);
		/* The store holds one image per digest: the same bytes won. */
		if (e == EEXIST && im->into_store)
			return 0;
		if (e == EEXIST)
			return error_set(err, 0, "file already exists: %s (another import finished first)", output);
		return error_set(err, e, "failed to publish '%s'", output);
	}
	return 0;
}

static int write_squashfs(struct import *im, const char *output, struct error *err)
{
	char *files[4] = {image_config_rc(&im->config, im->provenance), image_config_rc_local(),
			  image_config_environment(&im->config), image_config_fstab(&im->config)};
	static const char *const paths[4] = {"/etc/rc", "/etc/rc.local", "/etc/environment", "/etc/fstab"};
	struct extra_file extra[4];
	size_t n = im->layer_paths.n ? im->layer_paths.n : im->manifest.n_layers;
	struct layer_src *src = xcalloc(n, sizeof(*src));
	struct strv storage = STRV_INIT;
	const char *dirs[1] = {im->config.workdir};
	struct layers_opts lo = {0};
	_cleanup_free_ char *optstore = NULL;
	struct sqfs_pack_opts po = {0};
	int r;

	for (size_t i = 0; i < 4; i++)
		extra[i] = (struct extra_file){paths[i], files[i], strlen(files[i]), 0644};
	for (size_t i = 0; i < n; i++) {
		bool enroot_format;
		struct local_layer l = {-1, 0, 0};

		if (im->layer_paths.n > i)
			strv_push(&storage, im->layer_paths.v[i]);
		else
			strv_push_take(&storage, blob_path(im, im->manifest.layers[i].d.digest, &enroot_format));
		if (im->layer_paths.n > i)
			l = im->local[i];
		src[i] = (struct layer_src){storage.v[i], LAYER_SRC_AUTO, l.offset, l.length};
	}
	r = sqfs_parse_options(config_get(im->cfg, im->into_store ? "STORE_SQUASH_OPTIONS" : "SQUASH_OPTIONS"), &po,
			       &optstore, err);
	lo = (struct layers_opts){.pack = po,
				  .extra = extra, .n_extra = 4, .extra_dirs = dirs, .n_extra_dirs = 1};
	if (im->n_fetchers > 0) {
		lo.layer_open = layer_open;
		lo.layer_more = layer_more;
		lo.source_arg = im;
	} else if (im->layer_paths.n > 0) {
		lo.layer_open = local_layer_open;
		lo.source_arg = im;
	}
	if (progress_for_merge(im, src, n) == 0) {
		lo.progress = merge_progress;
		lo.progress_arg = im;
	}
	if (r == 0) {
		_cleanup_free_ char *tmp = xasprintf("%s.capsa-%d", output, (int)getpid());

		info(im, "Creating squashfs filesystem...");
		r = layers_to_squashfs(src, n, tmp, &lo, err);
		/* The merge may have read layers still downloading: publish only
		 * once every worker has verified and cached its blobs. */
		if (r == 0 && fetchers_finish(im, err) < 0) {
			unlink(tmp);
			r = -1;
		}
		if (r == 0)
			r = publish(im, tmp, output, err);
	}
	for (size_t i = 0; i < 4; i++)
		free(files[i]);
	free(src);
	strv_free(&storage);
	return r;
}

/* CAPSA_REGISTRY_MIRROR: "HOST[:PORT]" (a mirror of Docker Hub) or a comma
 * list of "REGISTRY=HOST[:PORT]" pairs. Only the endpoint changes: names,
 * provenance and digests stay those of the original reference. */
static void apply_mirror(struct import *im)
{
	const char *setting = config_get(im->cfg, "REGISTRY_MIRROR");
	_cleanup_free_ char *copy = setting ? xstrdup(setting) : NULL;
	char *save = NULL;

	for (char *item = copy ? strtok_r(copy, ", ", &save) : NULL; item; item = strtok_r(NULL, ", ", &save)) {
		char *eq = strchr(item, '=');
		const char *from = eq ? item : "docker.io";

		if (eq)
			*eq = '\0';
		if (strcmp(from, im->ref.registry) && !(!strcmp(from, "docker.io") && !strcmp(im->ref.registry, DOCKER_HUB)))
			continue;
		info(im, "Using mirror %s for %s", eq ? eq + 1 : item, im->ref.registry);
		free(im->ref.registry);
		im->ref.registry = xstrdup(eq ? eq + 1 : item);
		return;
	}
}

static int resolve_manifest(struct import *im, char **ret_digest, struct error *err)
{
	apply_mirror(im);
	if (registry_open(&im->reg, im->cfg, &im->ref, err) < 0)
		return -1;
	info(im, "Fetching image manifest");
	return registry_resolve(im->reg, im->arch, im->variant, &im->manifest, ret_digest, err);
}

static int build_image(struct import *im, const char *output, struct error *err)
{
	int r;

	if (blobcache_open(config_get(im->cfg, "CACHE_PATH"), &im->cache, err) < 0)
		return -1;
	if (load_config(im, err) < 0 || fetch_layers(im, err) < 0)
		return -1;
	r = write_squashfs(im, output, err);
	if (r < 0) {
		struct error ignored = ERROR_INIT;

		fetchers_finish(im, &ignored);
	}
	return r;
}

static int run_import(struct import *im, const char *output, struct error *err)
{
	_cleanup_free_ char *mdigest = NULL;

	return resolve_manifest(im, &mdigest, err) < 0 ? -1 : build_image(im, output, err);
}

/* The store's key for the reference: a tag names another image per platform. */
static char *store_key(const struct import *im)
{
	return xasprintf("%s %s/%s", im->provenance, im->arch, im->variant ? im->variant : "");
}

/* An unreachable registry (no connection, 5xx): the image last stored for
 * this reference, if any and if STORE_OFFLINE allows it. */
static int store_offline(struct import *im, const struct image_store *st, const char *key, char **ret_digest,
			 struct error *err)
{
	struct error e = ERROR_INIT;

	if (err->code != ENETUNREACH || !config_bool(im->cfg, "STORE_OFFLINE"))
		return -1;
	if (image_store_ref_get(st, key, ret_digest, &e) < 0 || *ret_digest == NULL ||
	    !image_store_has(st, *ret_digest))
		return -1;
	info(im, "[WARN] %s: using the image stored for %s (%s)", err->msg, im->provenance, *ret_digest);
	error_clear(err);
	return 0;
}

/* The digest came from the step's first node: no registry request. */
static int store_known_digest(const struct import *im, const struct image_store *st, const char *digest,
			      struct error *err)
{
	if (!digest_valid(digest))
		return error_set(err, EINVAL, "invalid image digest '%s' (expected sha256:HEX)", digest);
	if (im->o->adopt != NULL)
		return image_store_adopt(st, digest, im->o->adopt, err);
	if (!image_store_has(st, digest))
		return error_set(err, ENOENT, "image %s is not in the image store", digest);
	return 0;
}

static int run_import_store(struct import *im, char **ret_output, struct error *err)
{
	_cleanup_free_ char *key = store_key(im), *digest = NULL;
	struct image_store st;
	int r;

	if (image_store_open(config_get(im->cfg, "CACHE_PATH"), &st, err) < 0)
		return -1;
	if (im->o->digest != NULL) {
		digest = xstrdup(im->o->digest);
		r = store_known_digest(im, &st, digest, err);
	} else if ((r = resolve_manifest(im, &digest, err)) < 0)
		r = store_offline(im, &st, key, &digest, err);
	else if (image_store_has(&st, digest))
		info(im, "Using the stored image %s", digest);
	else {
		_cleanup_free_ char *path = image_store_path(&st, digest);

		im->into_store = true;
		r = build_image(im, path, err);
	}
	if (r == 0)
		r = image_store_ref_set(&st, key, digest, err);
	if (r == 0)
		*ret_output = image_store_path(&st, digest);
	image_store_close(&st);
	return r;
}

/* Takes fd, the verified blob: a file swapped after the check is never read. */
static void add_local_layer(struct import *im, char *path, int fd, uint64_t offset, uint64_t length)
{
	size_t n = im->layer_paths.n;

	strv_push_take(&im->layer_paths, path);
	im->local = xrealloc(im->local, (n + 1) * sizeof(*im->local));
	im->local[n] = (struct local_layer){fd, offset, length};
}

static int run_import_oci(struct import *im, const char *output, struct error *err)
{
	_cleanup_free_ char *config = NULL;
	size_t len = 0;

	info(im, "Reading OCI image layout %s", im->oci.dir);
	if (oci_layout_resolve(&im->oci, im->arch, im->variant, &im->manifest, &config, &len, err) < 0 ||
	    parse_config(im, config, len, err) < 0)
		return -1;
	for (size_t i = 0; i < im->manifest.n_layers; i++) {
		char *path;
		uint64_t offset;
		int fd = oci_layout_blob(&im->oci, &im->manifest.layers[i].d, &path, &offset, err);

		if (fd < 0)
			return error_prefix(err, "layer %zu", i);
		add_local_layer(im, path, fd, offset, im->oci.archive ? im->manifest.layers[i].d.size : 0);
	}
	return write_squashfs(im, output, err);
}

/* FILE[:NAME]: the longest prefix that is an existing file is the archive. */
static char *split_archive(const char *rest, char **ret_name)
{
	_cleanup_free_ char *copy = xstrdup(rest);

	*ret_name = NULL;
	for (char *colon = copy + strlen(copy);; colon--) {
		if (*colon == ':' || *colon == '\0') {
			char saved = *colon;

			*colon = '\0';
			if (path_is_reg(copy)) {
				if (saved == ':')
					*ret_name = xstrdup(colon + 1);
				return TAKE_PTR(copy);
			}
			*colon = saved;
		}
		if (colon == copy)
			return NULL;
	}
}

/* A private temporary directory, removed at the end of the import. */
static int make_tmpdir(struct import *im, struct error *err)
{
	im->tmpdir = xasprintf("%s/capsa-archive.XXXXXX", config_get(im->cfg, "TEMP_PATH"));
	if (mkdtemp(im->tmpdir) == NULL) {
		int e = errno;

		free(im->tmpdir);
		im->tmpdir = NULL;
		return error_set(err, e, "failed to create a temporary directory in '%s'", config_get(im->cfg, "TEMP_PATH"));
	}
	return 0;
}

/* docker save: layers are plain tars checked against the config's diff_ids. */
/* A `docker save` tree, unpacked in dir or indexed in idx. */
static int docker_archive_layers(struct import *im, const struct archive_index *idx, const char *dir, const char *name,
				 struct error *err)
{
	_cleanup_free_ char *json = NULL, *config_name = NULL, *config = NULL;
	struct strv layers = STRV_INIT;
	size_t len = 0, clen = 0;
	int r = archive_source_read(idx, dir, "manifest.json", MANIFEST_MAX_BYTES, &json, &len, err);

	if (r == 0)
		r = docker_archive_select(json, len, name, &config_name, &layers, err);
	if (r == 0)
		r = archive_source_read(idx, dir, config_name, CONFIG_MAX_BYTES, &config, &clen, err);
	if (r == 0)
		r = parse_config(im, config, clen, err);
	if (r == 0 && im->config.diff_ids.n != layers.n)
		r = error_set(err, 0, "the image config lists %zu layers, the archive %zu", im->config.diff_ids.n, layers.n);
	for (size_t i = 0; r == 0 && i < layers.n; i++) {
		const char *want = im->config.diff_ids.v[i] + (strncmp(im->config.diff_ids.v[i], "sha256:", 7) ? 0 : 7);
		uint64_t offset = 0, size = 0;
		_cleanup_close_ int fd = archive_source_open(idx, dir, layers.v[i], &offset, &size, err);
		char hex[65];

		r = fd < 0 ? error_prefix(err, "missing layer") : sha256_fd(fd, size, hex, err);
		if (r == 0 && strcmp(want, hex))
			r = error_set(err, 0, "Checksum mismatch: layer '%s' is not %s", layers.v[i], im->config.diff_ids.v[i]);
		if (r == 0)
			add_local_layer(im, idx ? xstrdup(idx->file) : xasprintf("%s/%s", dir, layers.v[i]), TAKE_FD(fd),
					offset, idx ? size : 0);
	}
	strv_free(&layers);
	return r;
}

/* dockerd:// and podman://: the engine writes a `docker save` archive,
 * which then goes the docker-archive:// way (no daemon-specific code). */
static int engine_save(struct import *im, const char *engine, const char *image, const char *file,
		       struct error *err)
{
	char *argv[] = {(char *)engine, (char *)"save", (char *)"-o", (char *)file, (char *)image, NULL};
	extern char **environ;
	struct proc_opts o = PROC_OPTS_INIT;
	struct proc_output res = PROC_OUTPUT_INIT;
	int r = 0;

	o.stderr_fd = 1;
	info(im, "Fetching image from %s", engine);
	if (proc_capture(argv, environ, &o, 4096, &res, err) < 0)
		return -1;
	if (WIFEXITED(res.status) && WEXITSTATUS(res.status) == 127) {
		r = error_set(err, 0, "'%s' is not installed: it is needed to import %s", engine, im->o->uri);
	} else if (res.status != 0) {
		/* Only the first line goes into the message: truncation is harmless. */
		res.out[strcspn(res.out, "\n")] = '\0';
		r = error_set(err, 0, "%s save %s failed: %s", engine, image, res.out);
	}
	proc_output_done(&res);
	return r;
}

/* A plain tar is read in place; a compressed one is unpacked into a
 * private temporary directory (im->tmpdir) first. */
static int open_archive(struct import *im, const char *file, struct error *err)
{
	struct error probe = ERROR_INIT;

	if (archive_index_open(file, &im->archive, &probe) == 0)
		return 0;
	if (probe.code != ENOTSUP) {
		*err = probe;
		return -1;
	}
	if (im->tmpdir == NULL && make_tmpdir(im, err) < 0)
		return -1;
	info(im, "Unpacking %s", file);
	return archive_unpack(file, im->tmpdir, err);
}

static int run_import_engine(struct import *im, const char *output, struct error *err)
{
	bool podman = !strncmp(im->o->uri, "podman://", 9);
	const char *image = im->o->uri + (podman ? 9 : 10);
	_cleanup_free_ char *tar = NULL;

	if (*image == '\0' || image[strspn(image, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:@-")])
		return error_set(err, 0, "invalid image reference: %s", im->o->uri);
	if (make_tmpdir(im, err) < 0)
		return -1;
	tar = xasprintf("%s/image.tar", im->tmpdir);
	if (engine_save(im, podman ? "podman" : "docker", image, tar, err) < 0)
		return -1;
	if (open_archive(im, tar, err) < 0 ||
	    docker_archive_layers(im, im->archive.file ? &im->archive : NULL, im->tmpdir, NULL, err) < 0)
		return -1;
	return write_squashfs(im, output, err);
}

static int run_import_archive(struct import *im, const char *output, struct error *err)
{
	bool oci = !strncmp(im->o->uri, "oci-archive://", 14);
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *file = split_archive(im->o->uri + (oci ? 14 : 17), &name);

	if (file == NULL)
		return error_set(err, ENOENT, "no such archive: %s", im->o->uri);
	if (open_archive(im, file, err) < 0)
		return -1;
	if (!oci) {
		if (docker_archive_layers(im, im->archive.file ? &im->archive : NULL, im->tmpdir, name, err) < 0)
			return -1;
		return write_squashfs(im, output, err);
	}
	im->oci.dir = xstrdup(im->archive.file ? file : im->tmpdir);
	im->oci.archive = im->archive.file ? &im->archive : NULL;
	im->oci.name = TAKE_PTR(name);
	return run_import_oci(im, output, err);
}

/* oci://DIR[:NAME] -> "DIR[+NAME].sqsh", in the spirit of enroot's names. */
static char *oci_default_name(const struct oci_ref *r)
{
	const char *base = strrchr(r->dir, '/') ? strrchr(r->dir, '/') + 1 : r->dir;

	return r->name ? xasprintf("%s+%s.sqsh", base, r->name) : xasprintf("%s.sqsh", base);
}

/* oci-archive://x/foo.tar -> foo.sqsh; podman://a/b:c -> a+b+c.sqsh (enroot) */
static char *archive_default_name(const char *uri)
{
	const char *path = strstr(uri, "://") + 3;

	if (!strncmp(uri, "dockerd://", 10) || !strncmp(uri, "podman://", 9)) {
		char *name = xasprintf("%s.sqsh", path);

		for (char *p = name; *p; p++) {
			if (*p == ':' || *p == '/')
				*p = '+';
		}
		return name;
	}
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t len = strcspn(base, ":");

	if (len > 4 && !strncmp(base + len - 4, ".tar", 4))
		len -= 4;
	return xasprintf("%.*s.sqsh", (int)len, base);
}

static char *output_path(const struct import *im, struct error *err)
{
	_cleanup_free_ char *name = im->o->output	? xstrdup(im->o->output)
				     : im->oci.dir ? oci_default_name(&im->oci)
				     : im->ref.image ? image_ref_default_name(&im->ref, true)
						     : archive_default_name(im->o->uri);
	char *abs = path_absolute(name);

	if (abs == NULL) {
		error_set(err, ENOENT, "invalid output '%s': its directory does not exist", name);
		return NULL;
	}
	if (access(abs, F_OK) == 0) {
		error_set(err, 0, "file already exists: %s", abs);
		free(abs);
		return NULL;
	}
	return abs;
}

int image_import(const struct config *cfg, const struct import_opts *o, char **ret_output, struct error *err)
{
	struct import im = {.cfg = cfg, .o = o};
	_cleanup_free_ char *output = NULL;
	int r;

	bool oci = !strncmp(o->uri, "oci://", 6);
	bool archive = !strncmp(o->uri, "oci-archive://", 14) || !strncmp(o->uri, "docker-archive://", 17);
	bool engine = !strncmp(o->uri, "dockerd://", 10) || !strncmp(o->uri, "podman://", 9);

	im.cache.dirfd = im.cache.blobsfd = im.cache.tmpfd = im.cache.locksfd = -1;
	if (archive || engine)
		r = 0;
	else
		r = oci ? oci_ref_parse(o->uri, &im.oci, err) : image_ref_parse(o->uri, &im.ref, err);
	if (r < 0 || resolve_arch(o->arch, &im.arch, &im.variant, err) < 0) {
		oci_ref_done(&im.oci);
		image_ref_done(&im.ref);
		return -1;
	}
	im.provenance = oci || archive || engine ? xstrdup(o->uri) : image_ref_canonical(&im.ref);
	if (o->store && (oci || archive || engine))
		r = error_set(err, 0, "--store takes docker:// images only");
	else if (o->store)
		r = run_import_store(&im, &output, err);
	else if ((output = output_path(&im, err)) == NULL)
		r = -1;
	else if (archive)
		r = run_import_archive(&im, output, err);
	else if (engine)
		r = run_import_engine(&im, output, err);
	else
		r = oci ? run_import_oci(&im, output, err) : run_import(&im, output, err);
	if (r == 0)
		*ret_output = TAKE_PTR(output);
	if (im.reg)
		registry_close(im.reg);
	if (im.cache.path)
		blobcache_close(&im.cache);
	/* The slots are sized by the manifest: unmapped before it is freed. */
	if (im.slots)
		munmap(im.slots, im.manifest.n_layers * sizeof(*im.slots));
	if (im.progress)
		munmap(im.progress, im.n_progress * sizeof(*im.progress));
	manifest_done(&im.manifest);
	image_config_done(&im.config);
	image_ref_done(&im.ref);
	oci_ref_done(&im.oci);
	for (size_t i = 0; i < im.layer_paths.n; i++)
		close(im.local[i].fd);
	strv_free(&im.layer_paths);
	free(im.local);
	archive_index_done(&im.archive);
	free(im.provenance);
	if (im.tmpdir) {
		struct error ignored = ERROR_INIT;

		rm_rf_at(AT_FDCWD, im.tmpdir, &ignored);
		free(im.tmpdir);
	}
	return r;
}

int image_digest(const struct config *cfg, const char *uri, const char *arch, char **ret, struct error *err)
{
	struct image_ref ref;
	struct registry *reg = NULL;
	const char *a, *variant = NULL;
	int r;

	if (image_ref_parse(uri, &ref, err) < 0)
		return -1;
	r = resolve_arch(arch, &a, &variant, err);
	if (r == 0)
		r = registry_open(&reg, cfg, &ref, err);
	if (r == 0)
		r = registry_digest(reg, a, variant, ret, err);
	if (reg)
		registry_close(reg);
	image_ref_done(&ref);
	return r;
}
