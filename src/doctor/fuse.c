/* SPDX-License-Identifier: Apache-2.0 */
/* FUSE: starting a .sqsh image in place needs /dev/fuse and squashfuse;
 * without them 'capsa create' still works. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "gpu/ldcache.h"
#include "runtime/image_mount.h"
#include "runtime/sqfuse.h"
#include "util/cleanup.h"
#include "util/fs.h"

static const char *open_advice(int err)
{
	switch (err) {
	case EACCES:
		return "as root: chmod 0666 /dev/fuse (udev: KERNEL==\"fuse\", MODE=\"0666\"); until then 'capsa "
		       "create' an image and start it by name";
	case EPERM:
		return "the device cgroup denies c 10:229 (docker: --device /dev/fuse; Kubernetes: a FUSE device "
		       "plugin or a privileged pod)";
	case ENXIO:
	case ENODEV:
		return "the fuse module is not loaded: as root, modprobe fuse";
	default:
		return "ask an administrator to make /dev/fuse usable (mode 0666)";
	}
}

static void check_dev(const struct doctor_env *env, struct doctor_report *r)
{
	_cleanup_free_ char *path = doctor_path(env->dev_root, "fuse");
	struct stat st;
	int fd;

	if (stat(path, &st) < 0) {
		doctor_add(r, "fuse", DOCTOR_FAIL,
			   "as root: modprobe fuse (docker: --device /dev/fuse); until then 'capsa create' an image "
			   "and start it by name",
			   "%s: %s", path, strerror(errno));
		return;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		doctor_add(r, "fuse", DOCTOR_FAIL, open_advice(errno), "%s (mode %04o, c %u:%u) cannot be opened: %s",
			   path, (unsigned)(st.st_mode & 07777), major(st.st_rdev), minor(st.st_rdev), strerror(errno));
		return;
	}
	close(fd);
	doctor_add(r, "fuse", DOCTOR_OK, "images start in place without being unpacked", "%s opens read-write",
		   path);
}

/* Is soname in the loader's cache? Loading it would map its decompressors
 * into doctor, which must stay lean. */
static bool in_ldcache(const char *soname)
{
	_cleanup_free_ char *buf = NULL;
	struct error err = ERROR_INIT;
	struct ldcache cache = {NULL, 0};
	size_t len = 0;
	bool found = false;

	if (read_file_at(AT_FDCWD, "/etc/ld.so.cache", LDCACHE_MAX_SIZE, &buf, &len, &err) < 0 ||
	    ldcache_parse(buf, len, &cache, &err) < 0) {
		error_clear(&err);
		return false;
	}
	for (size_t i = 0; i < cache.n && !found; i++)
		found = (cache.v[i].flags & LDCACHE_ARCH_MASK) == (ldcache_native_arch() & LDCACHE_ARCH_MASK) &&
			!strcmp(cache.v[i].key, soname);
	ldcache_done(&cache);
	return found;
}

void doctor_check_fuse(const struct doctor_env *env, struct doctor_report *r)
{
	const char *sqfuse = image_mount_squashfuse();

	check_dev(env, r);
	if (sqfuse_compiled() && in_ldcache(SQFUSE_LIBRARY))
		doctor_add(r, "squashfuse", DOCTOR_OK, "images start in place, served by capsa itself",
			   "%s is installed", SQFUSE_LIBRARY);
	else if (sqfuse)
		doctor_add(r, "squashfuse", DOCTOR_OK,
			   "images start in place; installing libsquashfuse0 makes that faster (no squashfuse exec)",
			   "squashfuse: %s", sqfuse);
	else
		doctor_add(r, "squashfuse", DOCTOR_FAIL,
			   "as root: apt-get install squashfuse (or dnf install squashfuse); until then 'capsa "
			   "create' an image and start it by name",
			   "neither libsquashfuse_ll.so.0 nor squashfuse (/usr/bin, /usr/local/bin, /bin) is installed");
}
