/* SPDX-License-Identifier: Apache-2.0 */
/* The SPANK container plugin: loaded by plugstack.conf, present, and built
 * for the installed Slurm (Slurm refuses a plugin of another major.minor at
 * load, and every srun then fails). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor/parse.h"
#include "doctor/slurm.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define PLUGIN_MAX (64u << 20)
/* Where Debian's Slurm looks for plugins named without a directory. */
#define DEFAULT_PLUGINDIR "/usr/lib/x86_64-linux-gnu/slurm-wlm"

static const char install_advice[] = "add the line of " CAPSA_DATADIR "/plugstack-capsa.conf (written by make "
				     "install) to plugstack.conf: 'required PATH/spank_capsa.so'";

/* The installed Slurm, from slurmd -V (srun -V needs a reachable
 * controller); 0 when unknown. */
static uint32_t installed_version(void)
{
	_cleanup_free_ char *slurmd = doctor_which("", "slurmd"), *out = NULL;
	char *const argv[] = {slurmd, (char *)"-V", NULL};

	if (slurmd == NULL || (out = doctor_output(argv, 256)) == NULL)
		return 0;
	return slurm_version_parse(out);
}

/* A relative plugin path is looked up in slurm.conf's PluginDir. */
static char *plugin_file(const struct doctor_env *env, const char *path)
{
	_cleanup_free_ char *conf = NULL;
	char dir[4096];

	if (path[0] == '/')
		return xstrdup(path);
	conf = slurm_read(env, "slurm.conf");
	if (conf == NULL || !slurm_conf_match(conf, "PluginDir", NULL, dir, sizeof(dir)))
		snprintf(dir, sizeof(dir), "%s", DEFAULT_PLUGINDIR);
	dir[strcspn(dir, ":")] = '\0';
	return xasprintf("%s/%s", dir, path);
}

static void check_version(struct doctor_report *r, const char *file)
{
	_cleanup_free_ char *data = NULL;
	struct error err = ERROR_INIT;
	uint32_t built, have;
	size_t len;

	if (read_file_at(AT_FDCWD, file, PLUGIN_MAX, &data, &len, &err) < 0) {
		doctor_add(r, "slurm-plugin", DOCTOR_FAIL, "install the plugin there or fix the plugstack line",
			   "%s: srun fails while plugstack.conf names it", err.msg);
		return;
	}
	if (elf_symbol_u32((const unsigned char *)data, len, "plugin_version", &built) < 0) {
		doctor_add(r, "slurm-plugin", DOCTOR_WARN, "rebuild and reinstall it (make && make install)",
			   "%s: no plugin_version symbol: not a Slurm plugin Slurm can load", file);
		return;
	}
	have = installed_version();
	if (have == 0)
		doctor_add(r, "slurm-plugin", DOCTOR_WARN, "run the check on a node with slurmd installed",
			   "%s is built for Slurm %u.%02u; the installed Slurm is unknown (no slurmd -V)", file,
			   built >> 16, (built >> 8) & 0xff);
	else if ((have >> 8) != (built >> 8))
		doctor_add(r, "slurm-plugin", DOCTOR_FAIL,
			   "rebuild it against this Slurm's spank.h (libslurm-dev) and reinstall: make && make install",
			   "%s is built for Slurm %u.%02u but Slurm %u.%02u.%u is installed: Slurm refuses to load it",
			   file, built >> 16, (built >> 8) & 0xff, have >> 16, (have >> 8) & 0xff, have & 0xff);
	else
		doctor_add(r, "slurm-plugin", DOCTOR_OK, "Slurm loads it", "%s matches Slurm %u.%02u.%u", file,
			   have >> 16, (have >> 8) & 0xff, have & 0xff);
}

/* The first container plugin of the list; both pyxis and capsa loaded
 * register the same options twice. */
static const char *pick(const struct strv *plugins, struct doctor_report *r)
{
	const char *found = NULL;
	char a[4096], b[4096];

	for (size_t i = 0; i < plugins->n; i++) {
		if (slurm_container_plugin(plugins->v[i]) == NULL)
			continue;
		if (found && strcmp(slurm_container_plugin(found), slurm_container_plugin(plugins->v[i]))) {
			slurm_plugin_split(found, a, sizeof(a));
			slurm_plugin_split(plugins->v[i], b, sizeof(b));
			doctor_add(r, "slurm-plugstack-dup", DOCTOR_FAIL, "keep one of them in plugstack.conf",
				   "both %s and %s are loaded: their --container-* options collide", a, b);
		}
		found = found ? found : plugins->v[i];
	}
	return found;
}

/* The capsa the plugin runs for every container step (its capsa_path=
 * argument, default BINDIR/capsa, as src/slurm/config.c). */
static void check_capsa_path(struct doctor_report *r, const char *args)
{
	char path[4096];

	if (!slurm_conf_match(args, "capsa_path", NULL, path, sizeof(path)))
		snprintf(path, sizeof(path), "%s/capsa", CAPSA_BINDIR);
	if (access(path, X_OK) == 0)
		doctor_add(r, "slurm-capsa-path", DOCTOR_OK, "container steps can start", "the plugin runs %s", path);
	else
		doctor_add(r, "slurm-capsa-path", DOCTOR_FAIL,
			   "install capsa there (make install) or give the plugin capsa_path=PATH in plugstack.conf",
			   "the plugin runs %s: %s: every container step fails", path, strerror(errno));
}

void doctor_check_slurm_plugin(const struct doctor_env *env, struct doctor_report *r)
{
	struct strv plugins = STRV_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *stack = NULL, *file = NULL;
	const char *found, *args;
	char path[4096];

	if (!slurm_present(env)) {
		doctor_add(r, "slurm", DOCTOR_OK, "run capsa doctor --slurm-conf-dir DIR where Slurm is configured elsewhere",
			   "no Slurm configuration in %s: Slurm checks skipped", env->slurm_dir);
		return;
	}
	if (slurm_plugstack(env, &plugins, &stack, &err) < 0) {
		doctor_add(r, "slurm-plugstack", DOCTOR_FAIL, "fix the file the message names", "%s", err.msg);
		strv_free(&plugins);
		return;
	}
	found = pick(&plugins, r);
	if (found == NULL) {
		doctor_add(r, "slurm-plugstack", DOCTOR_WARN, install_advice,
			   "%s loads neither spank_capsa.so nor spank_pyxis.so: srun has no --container-image", stack);
		strv_free(&plugins);
		return;
	}
	args = slurm_plugin_split(found, path, sizeof(path));
	doctor_add(r, "slurm-plugstack", DOCTOR_OK, "srun --container-image runs containers", "%s loads %s", stack,
		   path);
	file = plugin_file(env, path);
	check_version(r, file);
	if (!strcmp(slurm_container_plugin(found), "capsa"))
		check_capsa_path(r, args);
	strv_free(&plugins);
}
