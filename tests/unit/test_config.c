/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config/config.h"
#include "tap.h"
#include "util/fs.h"
#include "util/xalloc.h"

static char *current;

static void cleanup(void)
{
	char *cmd = xasprintf("rm -rf '%s'", current);
	ASSERT_TRUE(system(cmd) == 0);
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/capsa-test-XXXXXX");
	if (mkdtemp(d) == NULL)
		TAP_FAIL("mkdtemp");
	current = d;
	return d;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* A clean environment with every path under a fresh directory. */
static char *isolate(void)
{
	char *d = tmpdir();
	char *sys = xasprintf("%s/sys", d);

	clearenv();
	setenv("HOME", d, 1);
	mkdir(sys, 0755);
	setenv("CAPSA_SYSCONF_PATH", sys, 1);
	setenv("XDG_RUNTIME_DIR", d, 1);
	free(sys);
	return d;
}

TEST(parse_line)
{
	char *k, *v;
	ASSERT_TRUE(config_parse_line("ENROOT_DATA_PATH /x/y", &k, &v));
	ASSERT_STREQ(k, "ENROOT_DATA_PATH");
	ASSERT_STREQ(v, "/x/y");
	ASSERT_TRUE(config_parse_line("CAPSA_MOUNT_HOME=yes", &k, &v));
	ASSERT_STREQ(v, "yes");
	ASSERT_TRUE(config_parse_line("  NVIDIA_DRIVER_CAPABILITIES  compute,utility  ", &k, &v));
	ASSERT_STREQ(v, "compute,utility");
	ASSERT_TRUE(!config_parse_line("#ENROOT_DATA_PATH /x", &k, &v));
	ASSERT_TRUE(!config_parse_line("HTTP_PROXY x", &k, &v));
	ASSERT_TRUE(config_parse_line("https_proxy x", &k, &v));
	ASSERT_TRUE(!config_parse_line("ENROOT_lower x", &k, &v));
}

TEST(falsy)
{
	const char *f[] = {"n", "no", "N", "No", "NO", "f", "F", "false", "False", "FALSE"};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		ASSERT_TRUE(config_is_falsy(f[i]));
	ASSERT_TRUE(!config_is_falsy("0"));
	ASSERT_TRUE(!config_is_falsy("off"));
	ASSERT_TRUE(!config_is_falsy("nO"));
	ASSERT_TRUE(!config_is_falsy("y"));
}

TEST(expand)
{
	struct config cfg = {0};
	struct error err = ERROR_INIT;
	char *v;

	setenv("FOO", "bar", 1);
	unsetenv("UNSET_X");
	ASSERT_OK(config_expand(&cfg, "${FOO}/x", &v, &err), &err);
	ASSERT_STREQ(v, "bar/x");
	ASSERT_OK(config_expand(&cfg, "$FOO-${UNSET_X:-dflt}", &v, &err), &err);
	ASSERT_STREQ(v, "bar-dflt");
	ASSERT_OK(config_expand(&cfg, "'$FOO' \"a  b\"   c", &v, &err), &err);
	ASSERT_STREQ(v, "$FOO a  b c");
	ASSERT_OK(config_expand(&cfg, "/run/user-$(id -u)", &v, &err), &err);
	char *want = xasprintf("/run/user-%u", (unsigned)geteuid());
	ASSERT_STREQ(v, want);
	/* Anything else goes through bash. */
	ASSERT_OK(config_expand(&cfg, "$(echo hi)-$((1+2))", &v, &err), &err);
	ASSERT_STREQ(v, "hi-3");
}

TEST(precedence)
{
	char *d = isolate();
	char *sys = xasprintf("%s/sys", d);
	char *confd = xasprintf("%s/capsa.conf.d", sys);
	struct config cfg;
	struct error err = ERROR_INIT;

	mkdir(confd, 0755);
	write_text(xasprintf("%s/capsa.conf", sys), "ENROOT_MAX_CONNECTIONS 3\nCAPSA_CONNECT_TIMEOUT=7\n");
	write_text(xasprintf("%s/10-a.conf", confd), "ENROOT_MAX_CONNECTIONS 4\nENROOT_TRANSFER_RETRIES 5\n");
	write_text(xasprintf("%s/20-b.conf", confd), "ENROOT_TRANSFER_RETRIES 6\nENROOT_ZSTD_OPTIONS -9\n");
	setenv("ENROOT_CONNECT_TIMEOUT", "11", 1);
	setenv("CAPSA_ZSTD_OPTIONS", "", 1); /* empty counts as unset */
	ASSERT_OK(config_load(&cfg, &err), &err);
	ASSERT_STREQ(config_get(&cfg, "MAX_CONNECTIONS"), "3");
	ASSERT_STREQ(config_get(&cfg, "CONNECT_TIMEOUT"), "11");
	ASSERT_STREQ(config_get(&cfg, "TRANSFER_RETRIES"), "5");
	ASSERT_STREQ(config_get(&cfg, "ZSTD_OPTIONS"), "-9");
	ASSERT_STREQ(config_get(&cfg, "TEMP_PATH"), "/tmp");
	config_free(&cfg);
	cleanup();
}

TEST(capsa_beats_enroot_and_falsy_unsets)
{
	char *d = isolate();
	struct config cfg;
	struct error err = ERROR_INIT;
	char *data = xasprintf("%s/data", d);

	setenv("ENROOT_DATA_PATH", "/nonexistent-enroot", 1);
	setenv("CAPSA_DATA_PATH", data, 1);
	setenv("ENROOT_MOUNT_HOME", "n", 1);
	setenv("ENROOT_REMAP_ROOT", "0", 1);
	ASSERT_OK(config_load(&cfg, &err), &err);
	ASSERT_STREQ(config_get(&cfg, "DATA_PATH"), data);
	ASSERT_TRUE(path_is_dir(data));
	ASSERT_TRUE(!config_bool(&cfg, "MOUNT_HOME"));
	ASSERT_TRUE(config_bool(&cfg, "REMAP_ROOT"));
	ASSERT_TRUE(config_bool(&cfg, "LOGIN_SHELL"));
	ASSERT_TRUE(!config_bool(&cfg, "ROOTFS_WRITABLE"));
	config_free(&cfg);
	cleanup();
}

TEST(xdg_defaults_and_enroot_fallback)
{
	char *d = isolate();
	struct config cfg;
	struct error err = ERROR_INIT;
	char *enroot_data = xasprintf("%s/.local/share/enroot", d);
	char *cache = xasprintf("%s/.cache/capsa", d);

	ASSERT_OK(mkdir_p(enroot_data, 0755, &err), &err);
	ASSERT_OK(config_load(&cfg, &err), &err);
	ASSERT_STREQ(config_get(&cfg, "DATA_PATH"), enroot_data);
	ASSERT_STREQ(config_get(&cfg, "CACHE_PATH"), cache);
	config_free(&cfg);
	cleanup();
}

TEST(directives)
{
	char *d = isolate();
	char *conf = xasprintf("%s/job.conf", d);
	struct config cfg;
	struct error err = ERROR_INIT;

	write_text(conf, "#ENROOT_ROOTFS=myimage\n# ENROOT_ROOTFS_WRITABLE y\n#CAPSA_MOUNT_HOME no\nENROOT_X=1\n");
	setenv("ENROOT_MOUNT_HOME", "y", 1);
	ASSERT_OK(config_load(&cfg, &err), &err);
	ASSERT_TRUE(config_bool(&cfg, "MOUNT_HOME"));
	ASSERT_OK(config_apply_directives(&cfg, conf, &err), &err);
	ASSERT_STREQ(config_get(&cfg, "ROOTFS"), "myimage");
	ASSERT_TRUE(config_bool(&cfg, "ROOTFS_WRITABLE"));
	ASSERT_TRUE(!config_bool(&cfg, "MOUNT_HOME"));
	ASSERT_TRUE(config_get(&cfg, "X") == NULL);
	config_free(&cfg);
	cleanup();
}

TEST(foreign_owner_rejected)
{
	char *d = isolate();
	struct config cfg;
	struct error err = ERROR_INIT;

	if (geteuid() == 0) {
		cleanup();
		SKIP("needs a non-root user to meet a directory it does not own");
	}
	setenv("CAPSA_CACHE_PATH", "/", 1);
	ASSERT_FAILS(config_load(&cfg, &err));
	ASSERT_TRUE(strstr(err.msg, "not by you") != NULL);
	(void)d;
	cleanup();
}

/* A fake bash first in PATH that leaves a mark, and a BASH_ENV file that
 * does the same: neither may run when a value needs bash. */
static void plant_fake_bash(const char *d, char **ret_mark)
{
	char *bin = xasprintf("%s/fakebin", d);
	char *mark = xasprintf("%s/mark", d);

	mkdir(bin, 0755);
	write_text(xasprintf("%s/bash", bin), xasprintf("#!/bin/sh\necho fake-bash >>%s\necho fake\n", mark));
	chmod(xasprintf("%s/bash", bin), 0755);
	write_text(xasprintf("%s/bash_env", d), xasprintf("echo bash-env >>%s\n", mark));
	setenv("PATH", xasprintf("%s:/usr/bin:/bin", bin), 1);
	setenv("BASH_ENV", xasprintf("%s/bash_env", d), 1);
	setenv("ENV", xasprintf("%s/bash_env", d), 1);
	*ret_mark = mark;
}

TEST(shell_helper_absolute_path_and_clean_env)
{
	char *d = isolate(), *mark, *v = NULL;
	struct config cfg;
	struct error err = ERROR_INIT;

	plant_fake_bash(d, &mark);
	ASSERT_OK(config_load(&cfg, &err), &err);
	ASSERT_EQ(cfg.mode, CONFIG_USER);
	ASSERT_OK(config_expand(&cfg, "$(echo real)", &v, &err), &err);
	ASSERT_STREQ(v, "real");
	if (access(mark, F_OK) == 0)
		TAP_FAIL("the fake bash or BASH_ENV ran");
	/* /bin/bash by its path; the user's own PATH for what the value runs. */
	free(v);
	ASSERT_OK(config_expand(&cfg, "$(printf %s \"$PATH\")", &v, &err), &err);
	ASSERT_STREQ(v, getenv("PATH"));
	free(v);
	config_free(&cfg);
	cleanup();
}

/* The Slurm plugin loads the configuration as root: CAPSA_/ENROOT_
 * variables, HOME, XDG_* and TMPDIR and the user's capsa.conf are all the
 * user's, so root mode reads only the system files and the defaults. */
TEST(root_mode_ignores_environment)
{
	char *d = isolate();
	char *sys = xasprintf("%s/sys", d), *userconf = xasprintf("%s/.config/capsa", d);
	char *data = xasprintf("%s/data", d);
	struct config cfg;
	struct error err = ERROR_INIT;

	write_text(xasprintf("%s/capsa.conf", sys),
		   xasprintf("ENROOT_MAX_CONNECTIONS 3\nCAPSA_DATA_PATH %s\nNVIDIA_FROM_FILE y\n", data));
	ASSERT_OK(mkdir_p(userconf, 0755, &err), &err);
	write_text(xasprintf("%s/capsa.conf", userconf), "ENROOT_ZSTD_OPTIONS -19\n");
	setenv("ENROOT_CONNECT_TIMEOUT", "11", 1);
	setenv("CAPSA_MAX_CONNECTIONS", "99", 1);
	setenv("CAPSA_CONFIG_PATH", userconf, 1);
	setenv("CAPSA_CACHE_PATH", xasprintf("%s/cache", d), 1);
	setenv("TMPDIR", d, 1);
	ASSERT_OK(config_load_sysconf(&cfg, CONFIG_ROOT, sys, &err), &err);
	ASSERT_EQ(cfg.mode, CONFIG_ROOT);
	ASSERT_STREQ(config_get(&cfg, "MAX_CONNECTIONS"), "3");
	ASSERT_STREQ(config_get(&cfg, "CONNECT_TIMEOUT"), "30");
	ASSERT_STREQ(config_get(&cfg, "ZSTD_OPTIONS"), "-1");
	ASSERT_STREQ(config_get(&cfg, "TEMP_PATH"), "/tmp");
	ASSERT_STREQ(config_get(&cfg, "SYSCONF_PATH"), sys);
	ASSERT_TRUE(strncmp(config_get(&cfg, "CONFIG_PATH"), d, strlen(d)) != 0);
	ASSERT_TRUE(strncmp(config_get(&cfg, "CACHE_PATH"), d, strlen(d)) != 0);
	/* Nothing created, the process environment left alone. */
	ASSERT_STREQ(config_get(&cfg, "DATA_PATH"), data);
	ASSERT_TRUE(!path_is_dir(data));
	ASSERT_TRUE(getenv("XDG_DATA_HOME") == NULL);
	ASSERT_TRUE(getenv("NVIDIA_FROM_FILE") == NULL);
	ASSERT_STREQ(cfg.extra_env.v[0], "NVIDIA_FROM_FILE=y");
	config_free(&cfg);
	cleanup();
}

TEST(root_mode_never_runs_a_shell)
{
	char *d = isolate(), *mark;
	char *sys = xasprintf("%s/sys", d);
	struct config cfg;
	struct error err = ERROR_INIT;

	plant_fake_bash(d, &mark);
	write_text(xasprintf("%s/capsa.conf", sys), "ENROOT_MAX_CONNECTIONS $(echo 5)\n");
	ASSERT_FAILS(config_load_sysconf(&cfg, CONFIG_ROOT, sys, &err));
	ASSERT_TRUE(strstr(err.msg, "needs a shell") != NULL);
	ASSERT_TRUE(strstr(err.msg, "capsa.conf") != NULL);
	/* Built-in forms need no shell and still work. */
	write_text(xasprintf("%s/capsa.conf", sys), "ENROOT_MAX_CONNECTIONS $(nproc)\nENROOT_ZSTD_OPTIONS ${HOME:-x}\n");
	ASSERT_OK(config_load_sysconf(&cfg, CONFIG_ROOT, sys, &err), &err);
	ASSERT_TRUE(strcmp(config_get(&cfg, "ZSTD_OPTIONS"), d) != 0);
	config_free(&cfg);
	if (access(mark, F_OK) == 0)
		TAP_FAIL("a shell ran in root mode");
	cleanup();
}

TAP_MAIN(T(parse_line), T(falsy), T(expand), T(precedence), T(capsa_beats_enroot_and_falsy_unsets),
	 T(xdg_defaults_and_enroot_fallback), T(directives), T(foreign_owner_rejected),
	 T(shell_helper_absolute_path_and_clean_env), T(root_mode_ignores_environment), T(root_mode_never_runs_a_shell))
