/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sqfs/compressor.h>

#include "bundle_header.h"
#include "image/registry/blobcache.h"
#include "image/bundle.h"
#include "image/squashfs/sqfs_image.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define ALIGN 4096u
#define MAX_CONF_FILE (16u << 20)
#define MAX_EXE (512u << 20)

extern char **environ;

static const char *const conf_dirs[] = {"hooks.d", "mounts.d", "environ.d"};

struct payload {
	int fd;
	uint64_t size;
	char sha256[65]; /* "0" when not checked */
};

struct header_vars {
	const char *description, *compression, *target;
	uint64_t uncompressed_kb, runtime_offset, image_offset;
	const struct payload *runtime, *image;
};

static uint64_t align_up(uint64_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static time_t bundle_mtime(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	return sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
}

static int tar_add(struct archive *a, const char *name, mode_t mode, const void *data, size_t len,
		   struct error *err)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, data ? AE_IFREG : AE_IFDIR);
	archive_entry_set_perm(e, mode & 07777);
	archive_entry_set_size(e, data ? (la_int64_t)len : 0);
	archive_entry_set_mtime(e, bundle_mtime(), 0);
	r = archive_write_header(a, e);
	if (r == ARCHIVE_OK && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
		r = ARCHIVE_FATAL;
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return error_set(err, 0, "failed to write the bundle runtime: %s", archive_error_string(a));
	return 0;
}

static int tar_add_file(struct archive *a, const char *name, const char *path, size_t max, struct error *err)
{
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len;

	if (stat(path, &st) < 0)
		return error_set(err, errno, "failed to stat '%s'", path);
	if (read_file_at(AT_FDCWD, path, max, &data, &len, err) < 0)
		return -1;
	return tar_add(a, name, st.st_mode, data, len, err);
}

/* A configuration directory, flat as enroot reads it; missing ones are left
 * out so that capsa's built-in defaults apply to them at run time. */
static int tar_add_conf_dir(struct archive *a, const char *prefix, const char *base, const char *sub,
			    struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", base, sub);
	_cleanup_free_ char *dirname = xasprintf("%s/%s", prefix, sub);
	struct strv names = STRV_INIT;
	int r;

	if (!path_is_dir(dir))
		return 0;
	r = list_dir_sorted(dir, NULL, &names, err);
	if (r == 0)
		r = tar_add(a, dirname, 0755, NULL, 0, err);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names.v[i]);
		_cleanup_free_ char *name = xasprintf("%s/%s/%s", prefix, sub, names.v[i]);

		if (path_is_reg(path))
			r = tar_add_file(a, name, path, MAX_CONF_FILE, err);
	}
	strv_free(&names);
	return r;
}

/* -a: the settings of the building environment, as enroot's `export -p`
 * of ENROOT_* minus the paths, which belong to the running host. */
static char *settings_text(void)
{
	struct strbuf sb = STRBUF_INIT;

	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n = eq ? (size_t)(eq - *e) : 0;

		if (n == 0 || strchr(eq, '\n') || (strncmp(*e, "CAPSA_", 6) && strncmp(*e, "ENROOT_", 7)))
			continue;
		if (n >= 5 && !strncmp(eq - 5, "_PATH", 5))
			continue;
		strbuf_addf(&sb, "%s\n", *e);
	}
	return strbuf_detach(&sb);
}

/* bin/capsa is the lean binary that launched us, bin/capsa-image this one:
 * the lean one finds the image binary beside itself. */
static int runtime_entries(struct archive *a, const struct config *cfg, const struct bundle_opts *o,
			   struct error *err)
{
	static const char *const dirs[] = {"bin", "etc", "etc/system", "etc/user"};
	int r = 0;

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dirs); i++)
		r = tar_add(a, dirs[i], 0755, NULL, 0, err);
	if (r == 0 && (o->launcher == NULL || o->launcher[0] != '/'))
		r = error_set(err, 0, "run 'capsa bundle', not the image binary directly: the bundle carries capsa");
	if (r == 0)
		r = tar_add_file(a, "bin/capsa", o->launcher, MAX_EXE, err);
	if (r == 0)
		r = tar_add_file(a, "bin/capsa-image", "/proc/self/exe", MAX_EXE, err);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(conf_dirs); i++)
		r = tar_add_conf_dir(a, "etc/system", config_get(cfg, "SYSCONF_PATH"), conf_dirs[i], err);
	for (size_t i = 0; o->all && r == 0 && i < ARRAY_SIZE(conf_dirs); i++)
		r = tar_add_conf_dir(a, "etc/user", config_get(cfg, "CONFIG_PATH"), conf_dirs[i], err);
	if (o->all && r == 0) {
		_cleanup_free_ char *text = settings_text();

		r = tar_add(a, "etc/config", 0600, text, strlen(text), err);
	}
	return r;
}

static int payload_finish(struct payload *p, bool checksum, struct error *err)
{
	off_t end = lseek(p->fd, 0, SEEK_END);

	if (end < 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return error_errno(err, "failed to seek in a bundle payload");
	p->size = (uint64_t)end;
	strcpy(p->sha256, "0");
	if (checksum && (sha256_fd(p->fd, UINT64_MAX, p->sha256, err) < 0 || lseek(p->fd, 0, SEEK_SET) < 0))
		return -1;
	return 0;
}

static int build_runtime(const struct config *cfg, const struct bundle_opts *o, struct payload *p, struct error *err)
{
	struct archive *a = archive_write_new();
	int r;

	p->fd = memfd_create("capsa-bundle-runtime", MFD_CLOEXEC);
	if (p->fd < 0 || a == NULL) {
		archive_write_free(a);
		return error_errno(err, "failed to create the bundle runtime");
	}
	r = archive_write_add_filter_gzip(a) == ARCHIVE_OK && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
			    archive_write_open_fd(a, p->fd) == ARCHIVE_OK
		    ? 0
		    : error_set(err, 0, "failed to write the bundle runtime: %s", archive_error_string(a));
	if (r == 0)
		r = runtime_entries(a, cfg, o, err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = error_set(err, 0, "failed to write the bundle runtime: %s", archive_error_string(a));
	archive_write_free(a);
	return r < 0 ? -1 : payload_finish(p, o->checksum, err);
}

/* POSIX sh single quotes: the header runs under dash as well as bash. */
static void sh_quote(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_addstr(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

static void add_var(struct strbuf *sb, const char *name, const char *value)
{
	strbuf_addf(sb, "%s=", name);
	sh_quote(sb, value);
	strbuf_addch(sb, '\n');
}

static char *render_header(const struct header_vars *v)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "#!/bin/sh\n# A container image that runs itself, made by `capsa bundle` (capsa %s).\n"
			 "# Run it with --help for its options.\n",
		    CAPSA_VERSION);
	add_var(&sb, "description", v->description);
	add_var(&sb, "compression", v->compression);
	add_var(&sb, "target", v->target);
	add_var(&sb, "runtime_version", CAPSA_VERSION);
	strbuf_addf(&sb, "uncompressed_kb=%ju\n", (uintmax_t)v->uncompressed_kb);
	strbuf_addf(&sb, "runtime_offset=%ju\nruntime_size=%ju\nruntime_sha256=%s\n", (uintmax_t)v->runtime_offset,
		    (uintmax_t)v->runtime->size, v->runtime->sha256);
	strbuf_addf(&sb, "image_offset=%ju\nimage_size=%ju\nimage_sha256=%s\n", (uintmax_t)v->image_offset,
		    (uintmax_t)v->image->size, v->image->sha256);
	strbuf_addstr(&sb, bundle_header);
	return strbuf_detach(&sb);
}

/* The offsets are in the header, so its length depends on them: iterate
 * until the aligned length stops changing (twice at most in practice). */
static char *layout_header(struct header_vars *v)
{
	char *text = NULL;
	uint64_t len = ALIGN;

	for (int i = 0; i < 8; i++) {
		v->runtime_offset = len;
		v->image_offset = align_up(len + v->runtime->size);
		free(text);
		text = render_header(v);
		if (align_up(strlen(text)) == len)
			break;
		len = align_up(strlen(text));
	}
	return text;
}

static int copy_payload(int out, uint64_t at, const struct payload *p, struct error *err)
{
	if (copy_fd_range(p->fd, 0, out, at, p->size) == 0)
		return 0;
	return errno == EIO ? error_set(err, EIO, "the image shrank while it was bundled")
			    : error_errno(err, "failed to write the bundle");
}

static int write_bundle(int out, const char *header, const struct header_vars *v, struct error *err)
{
	size_t len = strlen(header);

	if (pwrite(out, header, len, 0) != (ssize_t)len)
		return error_errno(err, "failed to write the bundle header");
	if (copy_payload(out, v->runtime_offset, v->runtime, err) < 0 || copy_payload(out, v->image_offset, v->image, err) < 0)
		return -1;
	if (ftruncate(out, (off_t)(v->image_offset + v->image->size)) < 0 || fchmod(out, 0755) < 0)
		return error_errno(err, "failed to finish the bundle");
	return 0;
}

/* The compressor's name from the raw superblock: the bundle only records it. */
static const char *compressor_name(const char *path, struct error *err)
{
	unsigned char sb[24];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	const char *name;

	if (fd < 0 || pread(fd, sb, sizeof(sb), 0) != (ssize_t)sizeof(sb)) {
		error_set(err, errno, "failed to read '%s'", path);
		return NULL;
	}
	name = sqfs_compressor_name_from_id((SQFS_COMPRESSOR)(sb[20] | sb[21] << 8));
	return name ? name : "unknown";
}

struct bundle_build {
	const struct bundle_opts *o;
	char *output, *target, *tmp;
	struct payload runtime, image;
	struct header_vars v;
};

static char *strip_suffix(const char *path, const char *suffix)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *base = basename(copy);
	size_t n = strlen(base), k = strlen(suffix);

	if (n > k && !strcmp(base + n - k, suffix))
		base[n - k] = '\0';
	return xstrdup(base);
}

static int inspect_image(struct bundle_build *b, struct error *err)
{
	uint64_t bytes = 0;
	struct stat st;

	if (sqfs_image_data_size(b->o->image, 0, &bytes, err) < 0)
		return -1;
	b->v.uncompressed_kb = (bytes + 1023) / 1024;
	b->v.compression = compressor_name(b->o->image, err);
	if (b->v.compression == NULL)
		return -1;
	b->image.fd = open(b->o->image, O_RDONLY | O_CLOEXEC);
	if (b->image.fd < 0 || fstat(b->image.fd, &st) < 0)
		return error_set(err, errno, "failed to open '%s'", b->o->image);
	return payload_finish(&b->image, b->o->checksum, err);
}

static int create_output(struct bundle_build *b, int *ret_fd, struct error *err)
{
	struct stat st;

	if (b->o->output) {
		b->output = xstrdup(b->o->output);
	} else {
		_cleanup_free_ char *name = strip_suffix(b->o->image, ".sqsh");

		b->output = xasprintf("%s.run", name);
	}
	b->target = b->o->target ? xstrdup(b->o->target) : strip_suffix(b->output, ".run");
	if (!b->o->force && lstat(b->output, &st) == 0)
		return error_set(err, EEXIST, "file already exists: %s (use -f to overwrite it)", b->output);
	b->tmp = xasprintf("%s.XXXXXX", b->output);
	*ret_fd = mkostemp(b->tmp, O_CLOEXEC);
	if (*ret_fd < 0) {
		int e = errno;

		free(b->tmp);
		b->tmp = NULL;
		return error_set(err, e, "failed to create a file beside '%s'", b->output);
	}
	return 0;
}

static int publish(struct bundle_build *b, struct error *err)
{
	int r = b->o->force ? rename(b->tmp, b->output) : rename_noreplace(b->tmp, b->output);

	if (r < 0)
		return error_set(err, errno, errno == EEXIST ? "file already exists: %s (use -f to overwrite it)"
							     : "failed to rename the bundle to '%s'",
				 b->output);
	free(b->tmp);
	b->tmp = NULL;
	return 0;
}

int bundle_build(const struct config *cfg, const struct bundle_opts *o, char **ret_output, struct error *err)
{
	struct bundle_build b = {.o = o, .runtime = {.fd = -1}, .image = {.fd = -1}};
	_cleanup_free_ char *header = NULL;
	_cleanup_close_ int out = -1;
	int r;

	b.v.description = o->description ? o->description : "none";
	b.v.runtime = &b.runtime;
	b.v.image = &b.image;
	r = inspect_image(&b, err);
	if (r == 0)
		r = create_output(&b, &out, err);
	if (r == 0) {
		b.v.target = b.target;
		r = build_runtime(cfg, o, &b.runtime, err);
	}
	if (r == 0) {
		header = layout_header(&b.v);
		r = write_bundle(out, header, &b.v, err);
	}
	if (r == 0)
		r = publish(&b, err);
	if (b.tmp)
		unlink(b.tmp);
	if (r == 0)
		*ret_output = TAKE_PTR(b.output);
	free(b.output);
	free(b.target);
	free(b.tmp);
	if (b.runtime.fd >= 0)
		close(b.runtime.fd);
	if (b.image.fd >= 0)
		close(b.image.fd);
	return r;
}
