/* SPDX-License-Identifier: Apache-2.0 */
/* CAPSA_IMAGE_MOUNTS / CAPSA_IMAGE_ENVIRON: what an image's own fstab and
 * environment file may reach on the host (security.md X28). */
#include "runtime/image_policy.h"
#include "tap.h"
#include "util/xalloc.h"

#define ROOTFS "/home/u/.local/share/capsa/data/img"

static struct mount_entry parse(const char *line)
{
	struct mount_entry e = {0};
	struct error err = ERROR_INIT;

	if (fstab_parse_line(line, "image /etc/fstab:3", &e, &err) != 1)
		TAP_FAIL("'%s' did not parse: %s", line, err.msg);
	return e;
}

/* Does the restricted policy refuse line, naming the origin and setting? */
static bool refused(const char *line)
{
	struct mount_entry e = parse(line);
	struct error err = ERROR_INIT;
	int r = image_policy_check_mount(ROOTFS, &e, &err);

	if (r == 0) {
		mount_entry_done(&e);
		return false;
	}
	ASSERT_TRUE(strstr(err.msg, "image /etc/fstab:3: ") == err.msg);
	ASSERT_TRUE(strstr(err.msg, "CAPSA_IMAGE_MOUNTS=enroot") != NULL);
	mount_entry_done(&e);
	return true;
}

TEST(sources_outside_the_rootfs_are_refused)
{
	ASSERT_TRUE(refused("/home/u/.ssh /mnt/k none x-create=dir,bind,rw"));
	ASSERT_TRUE(refused("/ /mnt/host"));
	ASSERT_TRUE(refused("./ /mnt/cwd none rbind"));
	ASSERT_TRUE(refused("tmp /mnt/t none bind"));
	ASSERT_TRUE(refused(ROOTFS "x/etc /mnt/sibling none bind"));
	ASSERT_TRUE(refused("/home/u/.local/share/capsa/data /mnt/d none bind"));
}

TEST(binds_inside_the_rootfs_become_in_root_paths)
{
	struct error err = ERROR_INIT;
	struct mount_entry e = parse(ROOTFS "/data /data none x-create=dir,bind,rw,nosuid,nodev");

	ASSERT_OK(image_policy_check_mount(ROOTFS, &e, &err), &err);
	ASSERT_STREQ(e.src, "/data");
	ASSERT_TRUE(e.src_in_root);
	mount_entry_done(&e);
	e = parse(ROOTFS " /mnt/root none rbind");
	ASSERT_OK(image_policy_check_mount(ROOTFS "/", &e, &err), &err);
	ASSERT_STREQ(e.src, "/");
	mount_entry_done(&e);
	/* ".." is resolved inside the root later, clamped at its top */
	e = parse(ROOTFS "/../../x /mnt/x none bind");
	ASSERT_OK(image_policy_check_mount(ROOTFS, &e, &err), &err);
	ASSERT_STREQ(e.src, "/../../x");
	mount_entry_done(&e);
}

TEST(pseudo_filesystems_only_without_a_path)
{
	ASSERT_TRUE(!refused("tmpfs /mnt/t tmpfs x-create=dir,size=1m"));
	ASSERT_TRUE(!refused("none /mnt/n tmpfs mode=700"));
	ASSERT_TRUE(!refused("proc /mnt/p proc"));
	ASSERT_TRUE(!refused("devpts /dev/pts devpts newinstance,ptmxmode=0666"));
	/* none/tmpfs + bind would bind a relative host path */
	ASSERT_TRUE(refused("none /mnt/x none bind"));
	ASSERT_TRUE(refused("tmpfs /mnt/x tmpfs bind"));
	ASSERT_TRUE(refused("none /mnt/x none rshared"));
	ASSERT_TRUE(refused("none /mnt/x overlay lowerdir=/home/u,upperdir=/u,workdir=/w"));
	ASSERT_TRUE(refused("/dev/sda1 /mnt/x ext4"));
	ASSERT_TRUE(refused("foo /mnt/x tmpfs"));
	ASSERT_TRUE(refused("none /proc none remount,rw"));
	ASSERT_TRUE(refused(ROOTFS "/a /mnt/x none x-move"));
	ASSERT_TRUE(refused("none /proc none x-detach"));
}

TEST(allowlist)
{
	static const char *const yes[] = {"ENROOT_ROOTFS", "CAPSA_ROOTFS", "ENROOT_PID", "HOME", "USER",
					  "LOGNAME",	   "TERM",	   "LANG",	 "LC_ALL", "TZ", "PATH"};
	static const char *const no[] = {"AWS_SECRET_ACCESS_KEY", "CAPSA_DATA_PATH", "ENROOT_CONFIG_PATH",
					 "SSH_AUTH_SOCK",	  "HOMEX",	     "LC",
					 "ENROOT_MOUNTS"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ASSERT_TRUE(image_policy_var_allowed(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ASSERT_TRUE(!image_policy_var_allowed(no[i]));
}

TEST(subst_restricted_and_enroot)
{
	char *env[] = {(char *)"HOME=/home/u", (char *)"AWS_SECRET_ACCESS_KEY=hunter2",
		       (char *)"CAPSA_DATA_PATH=/d", NULL};
	char *warning = NULL;
	char *s = image_policy_subst(IMAGE_POLICY_RESTRICTED, "H=${HOME}\nK=${AWS_SECRET_ACCESS_KEY}${CAPSA_DATA_PATH}\n",
				     env, "image /etc/environment", "IMAGE_ENVIRON", &warning);

	ASSERT_STREQ(s, "H=/home/u\nK=\n");
	ASSERT_TRUE(warning != NULL);
	ASSERT_TRUE(strstr(warning, "image /etc/environment: ${AWS_SECRET_ACCESS_KEY}, ${CAPSA_DATA_PATH}") == warning);
	ASSERT_TRUE(strstr(warning, "CAPSA_IMAGE_ENVIRON=enroot") != NULL);
	ASSERT_TRUE(strstr(warning, "hunter2") == NULL);
	free(s);
	free(warning);
	s = image_policy_subst(IMAGE_POLICY_RESTRICTED, "H=${HOME}", env, "f", "IMAGE_ENVIRON", &warning);
	ASSERT_TRUE(warning == NULL);
	free(s);
	s = image_policy_subst(IMAGE_POLICY_ENROOT, "K=${AWS_SECRET_ACCESS_KEY}", env, "f", "IMAGE_ENVIRON", &warning);
	ASSERT_STREQ(s, "K=hunter2");
	ASSERT_TRUE(warning == NULL);
	free(s);
}

TEST(setting_values)
{
	struct config cfg = {0};
	struct error err = ERROR_INIT;
	enum image_policy p = IMAGE_POLICY_ENROOT;

	ASSERT_OK(image_policy_get(&cfg, "IMAGE_MOUNTS", &p, &err), &err);
	ASSERT_EQ(p, IMAGE_POLICY_RESTRICTED);
	config_set(&cfg, "IMAGE_MOUNTS", "enroot");
	ASSERT_OK(image_policy_get(&cfg, "IMAGE_MOUNTS", &p, &err), &err);
	ASSERT_EQ(p, IMAGE_POLICY_ENROOT);
	config_set(&cfg, "IMAGE_MOUNTS", "restricted");
	ASSERT_OK(image_policy_get(&cfg, "IMAGE_MOUNTS", &p, &err), &err);
	ASSERT_EQ(p, IMAGE_POLICY_RESTRICTED);
	config_set(&cfg, "IMAGE_MOUNTS", "Enroot");
	ASSERT_FAILS(image_policy_get(&cfg, "IMAGE_MOUNTS", &p, &err));
	ASSERT_TRUE(strstr(err.msg, "CAPSA_IMAGE_MOUNTS") != NULL);
	config_free(&cfg);
}

TAP_MAIN(T(sources_outside_the_rootfs_are_refused), T(binds_inside_the_rootfs_become_in_root_paths),
	 T(pseudo_filesystems_only_without_a_path), T(allowlist), T(subst_restricted_and_enroot), T(setting_values))
