/* SPDX-License-Identifier: Apache-2.0 */
/* The SPANK plugin's parsers and pure helpers (src/slurm/options.c, config.c,
 * container.c), without Slurm. */
#include "slurm/config.h"
#include "slurm/container.h"
#include "slurm/options.h"
#include "tap.h"

#define ARGS(a)                                                                                              \
	struct spank_args a;                                                                                 \
	struct error err = ERROR_INIT;                                                                       \
	spank_args_init(&a)

TEST(value_options_accept_the_same_value_twice)
{
	ARGS(a);

	ASSERT_OK(spank_args_set_image(&a, "ubuntu:24.04", &err), &err);
	ASSERT_OK(spank_args_set_image(&a, "ubuntu:24.04", &err), &err);
	ASSERT_FAILS(spank_args_set_image(&a, "debian", &err));
	ASSERT_STREQ(err.msg, "--container-image specified multiple times");
	ASSERT_OK(spank_args_set_name(&a, "n:exec", &err), &err);
	ASSERT_OK(spank_args_set_name(&a, "n:exec", &err), &err);
	ASSERT_STREQ(a.name, "n");
	ASSERT_EQ(a.name_flag, SPANK_NAME_EXEC);
	ASSERT_FAILS(spank_args_set_name(&a, "n", &err));
	spank_args_free(&a);
	spank_args_free(&a);
}

TEST(empty_long_and_control_values_are_refused)
{
	ARGS(a);
	char *big = malloc(100001);

	ASSERT_FAILS(spank_args_set_workdir(&a, "", &err));
	ASSERT_STREQ(err.msg, "--container-workdir: argument required");
	ASSERT_FAILS(spank_args_set_workdir(&a, NULL, &err));
	memset(big, 'a', 100000);
	big[100000] = '\0';
	ASSERT_FAILS(spank_args_set_image(&a, big, &err));
	ASSERT_STREQ(err.msg, "--container-image: argument too long (more than 4095 bytes)");
	ASSERT_FAILS(spank_args_add_mounts(&a, big, &err));
	big[5000] = '\0';
	ASSERT_FAILS(spank_args_add_mounts(&a, big, &err)); /* one 5000-byte source */
	ASSERT_FAILS(spank_args_set_image(&a, "a\nb", &err));
	ASSERT_STREQ(err.msg, "--container-image: argument contains a control character");
	ASSERT_TRUE(a.image == NULL && a.mounts_len == 0);
	free(big);
	spank_args_free(&a);
}

TEST(mounts_follow_pyxis_syntax)
{
	ARGS(a);

	ASSERT_OK(spank_args_add_mounts(&a, "/a:/b:ro+rprivate,/var/lib,tmpfs:/t,umount:/root,./x:/y:", &err), &err);
	ASSERT_OK(spank_args_add_mounts(&a, "/a:/b:ro+rprivate", &err), &err); /* de-duplicated */
	ASSERT_EQ(a.mounts_len, 5);
	ASSERT_STREQ(a.mounts[0].flags, "x-create=auto,rbind,ro,rprivate");
	ASSERT_STREQ(a.mounts[1].dst, "/var/lib");
	ASSERT_STREQ(a.mounts[2].flags, "x-create=dir");
	ASSERT_STREQ(a.mounts[3].flags, "x-detach");
	ASSERT_STREQ(a.mounts[4].flags, "x-create=auto,rbind");
	spank_args_free(&a);
}

TEST(bad_mounts_are_refused)
{
	static const char *const bad[] = {":/b", "/a:", "devpts:/x", "/a:mnt", "/a:/b:ro x", ",", "/a,"};
	ARGS(a);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_clear(&err);
		if (spank_args_add_mounts(&a, bad[i], &err) >= 0)
			TAP_FAIL("'%s' accepted", bad[i]);
		ASSERT_TRUE(strncmp(err.msg, "--container-mounts: ", 20) == 0);
	}
	ASSERT_FAILS(spank_args_add_mounts(&a, "devpts:/x", &err));
	ASSERT_TRUE(strstr(err.msg, "mount source must be a relative path") != NULL);
	ASSERT_FAILS(spank_args_add_mounts(&a, "/a:/b,/c:/d,devpts:/x", &err)); /* all or nothing */
	ASSERT_EQ(a.mounts_len, 0);
	spank_args_free(&a);
}

TEST(name_save_env_unshare)
{
	ARGS(a);

	ASSERT_FAILS(spank_args_set_name(&a, ":exec", &err));
	ASSERT_STREQ(err.msg, "--container-name: empty name");
	ASSERT_FAILS(spank_args_set_name(&a, "x:attach", &err));
	ASSERT_FAILS(spank_args_set_name(&a, "/tmp/foo", &err));
	ASSERT_FAILS(spank_args_set_save(&a, "/tmp/", &err));
	ASSERT_STREQ(err.msg, "--container-save: target is a directory");
	ASSERT_FAILS(spank_args_add_env(&a, "FOO,", &err));
	ASSERT_STREQ(err.msg, "--container-env: invalid format: FOO,");
	ASSERT_OK(spank_args_add_env(&a, "A,B,A", &err), &err);
	ASSERT_EQ(a.env_len, 2);
	ASSERT_FAILS(spank_args_add_unshare(&a, "net,foo", &err));
	ASSERT_STREQ(err.msg, "--container-unshare: unknown namespace 'foo'");
	ASSERT_FAILS(spank_args_add_unshare(&a, "net,", &err));
	ASSERT_EQ(a.unshare, 0);
	ASSERT_OK(spank_args_add_unshare(&a, "ipc,uts", &err), &err);
	ASSERT_EQ(a.unshare, SPANK_UNSHARE_IPC | SPANK_UNSHARE_UTS);
	spank_args_free(&a);
}

TEST(flags_conflict_only_with_their_negation)
{
	ARGS(a);

	ASSERT_OK(spank_args_set_flag(&a, SPANK_WRITABLE, 1, &err), &err);
	ASSERT_OK(spank_args_set_flag(&a, SPANK_WRITABLE, 1, &err), &err);
	ASSERT_FAILS(spank_args_set_flag(&a, SPANK_WRITABLE, 0, &err));
	ASSERT_STREQ(err.msg, "both --container-writable and --container-readonly were specified");
	ASSERT_OK(spank_args_set_flag(&a, SPANK_MOUNT_HOME, 0, &err), &err);
	ASSERT_FAILS(spank_args_set_flag(&a, SPANK_MOUNT_HOME, 1, &err));
	ASSERT_STREQ(err.msg, "both --container-mount-home and --no-container-mount-home were specified");
	spank_args_free(&a);
}

TEST(plugstack_arguments)
{
	struct spank_config c;
	struct error err = ERROR_INIT;
	char *good[] = {(char *)"runtime_path=/raid/pyxis", (char *)"container_scope=job", (char *)"sbatch_support=no",
			(char *)"execute_entrypoint=y", (char *)"importer=/usr/bin/imp", (char *)"use_squashfuse=1"};
	char *unknown[] = {(char *)"remap_root=1"};
	char *badbool[] = {(char *)"use_enroot_load=maybe"};
	char *relative[] = {(char *)"runtime_path=run"};

	ASSERT_OK(spank_config_parse(&c, 0, NULL, &err), &err);
	ASSERT_STREQ(c.runtime_path, "/run/pyxis");
	ASSERT_TRUE(c.sbatch_support && c.container_scope == SPANK_SCOPE_GLOBAL);
	ASSERT_OK(spank_config_parse(&c, 6, good, &err), &err);
	ASSERT_STREQ(c.runtime_path, "/raid/pyxis");
	ASSERT_TRUE(!c.sbatch_support && c.execute_entrypoint && c.use_squashfuse);
	ASSERT_EQ(c.container_scope, SPANK_SCOPE_JOB);
	ASSERT_FAILS(spank_config_parse(&c, 1, unknown, &err));
	ASSERT_STREQ(err.msg, "unknown configuration option: remap_root=1");
	ASSERT_FAILS(spank_config_parse(&c, 1, badbool, &err));
	ASSERT_FAILS(spank_config_parse(&c, 1, relative, &err));
	ASSERT_STREQ(c.sysconf_path, "");
	char *capsa[] = {(char *)"capsa_path=/opt/capsa/bin/capsa", (char *)"sysconf_path=/etc/capsa-slurm"};
	ASSERT_OK(spank_config_parse(&c, 2, capsa, &err), &err);
	ASSERT_STREQ(c.capsa_path, "/opt/capsa/bin/capsa");
	ASSERT_STREQ(c.sysconf_path, "/etc/capsa-slurm");
	ASSERT_TRUE(c.image_store);
	ASSERT_STREQ(c.sbcast_path, "/usr/bin/sbcast");
	char *store[] = {(char *)"image_store=0", (char *)"sbcast_path="};
	ASSERT_OK(spank_config_parse(&c, 2, store, &err), &err);
	ASSERT_TRUE(!c.image_store);
	ASSERT_STREQ(c.sbcast_path, "");
	char *relsbcast[] = {(char *)"sbcast_path=sbcast"};
	ASSERT_FAILS(spank_config_parse(&c, 1, relsbcast, &err));
	ASSERT_STREQ(err.msg, "sbcast_path: must be an absolute path: 'sbcast'");
}

TEST(container_names_follow_pyxis)
{
	char b[64];

	ASSERT_TRUE(container_name(b, sizeof(b), SPANK_SCOPE_GLOBAL, 12, 3, "web") == 0);
	ASSERT_STREQ(b, "pyxis_web");
	ASSERT_TRUE(container_name(b, sizeof(b), SPANK_SCOPE_JOB, 12, 3, "web") == 0);
	ASSERT_STREQ(b, "pyxis_12_web");
	ASSERT_TRUE(container_name(b, sizeof(b), SPANK_SCOPE_GLOBAL, 12, SPANK_BATCH_STEP, NULL) == 0);
	ASSERT_STREQ(b, "pyxis_12.4294967291");
	ASSERT_TRUE(container_name(b, sizeof(b), SPANK_SCOPE_JOB, 12, 0, NULL) == 0);
	ASSERT_STREQ(b, "pyxis_12_12.0");
	ASSERT_FAILS(container_name(b, 8, SPANK_SCOPE_GLOBAL, 12, 0, "toolong"));
}

TEST(list_output_lookup)
{
	const char *out = "NAME  PID  COMM\n"
			  "pyxis_a\n"
			  "pyxis_ab  4242  sleep\n"
			  "pyxis_b     \n";

	ASSERT_EQ(container_lookup(out, "pyxis_a"), 0);
	ASSERT_EQ(container_lookup(out, "pyxis_ab"), 4242);
	ASSERT_EQ(container_lookup(out, "pyxis_b"), 0);
	ASSERT_EQ(container_lookup(out, "pyxis_c"), -1);
	ASSERT_EQ(container_lookup(out, "NAME"), -1);
	ASSERT_EQ(container_lookup("", "pyxis_a"), -1);
}

TEST(images_and_conf_script)
{
	struct spank_mount m[] = {{(char *)"/a b", (char *)"/it's", (char *)"x-create=auto,rbind,ro"}};
	char *env[] = {(char *)"FOO"};
	char *uri, *conf;

	ASSERT_TRUE(image_is_path("/x.sqsh") && image_is_path("./x.sqsh") && !image_is_path("ubuntu"));
	uri = image_uri("ubuntu:24.04");
	ASSERT_STREQ(uri, "docker://ubuntu:24.04");
	free(uri);
	uri = image_uri("dockerd://ubuntu");
	ASSERT_STREQ(uri, "dockerd://ubuntu");
	free(uri);
	conf = container_conf(m, 1, env, 1, true);
	ASSERT_STREQ(conf, "mounts() {\n\tprintf '%s\\n' '/a\\040b /it'\\''s x-create=auto,rbind,ro'\n}\n"
			   "environ() {\n\tif [ -n \"${FOO-}\" ]; then printf '%s\\n' \"FOO=${FOO}\"; fi\n}\n");
	free(conf);
	conf = container_conf(NULL, 0, NULL, 0, false);
	ASSERT_TRUE(strncmp(conf, "rc() {\n", 7) == 0 && strstr(conf, "exec \"$@\"") != NULL);
	free(conf);
}

static int collect(const char *name, const char *value, void *data)
{
	char *out = data;

	strcat(out, name);
	strcat(out, "|");
	strcat(out, value);
	strcat(out, ";");
	return 0;
}

TEST(environment_rules)
{
	char buf[] = "A=1\0=bad\0B=x=y\0noeq\0C=";
	char out[128] = "";

	ASSERT_TRUE(env_denied("PATH=/bin") && env_denied("LD_PRELOAD=x") && env_denied("SLURM_PROCID=1"));
	ASSERT_TRUE(env_denied("ENROOT_DATA_PATH=/x") && env_denied("CAPSA_ALLOW_HTTP=y") &&
		    env_denied("CAPSA_SYSCONF_PATH=/x"));
	ASSERT_TRUE(!env_denied("CAPSA_REMAP_ROOT=y") && !env_denied("PATHX=1") && !env_denied("HOME=/h"));
	ASSERT_TRUE(environ_foreach(buf, sizeof(buf) - 1, collect, out) == 0);
	ASSERT_STREQ(out, "A|1;B|x=y;");
}

TAP_MAIN(T(value_options_accept_the_same_value_twice), T(empty_long_and_control_values_are_refused),
	 T(mounts_follow_pyxis_syntax), T(bad_mounts_are_refused), T(name_save_env_unshare),
	 T(flags_conflict_only_with_their_negation), T(plugstack_arguments), T(container_names_follow_pyxis),
	 T(list_output_lookup), T(images_and_conf_script), T(environment_rules))
