/* SPDX-License-Identifier: Apache-2.0 */
/* The --container-* option values of one srun/sbatch/salloc or step, parsed
 * and validated with pyxis's rules (shared/spec/pyxis.md §4, §8).  Pure: no
 * Slurm headers, no I/O, so the parsers are unit-tested without Slurm. */
#ifndef CAPSA_SLURM_OPTIONS_H
#define CAPSA_SLURM_OPTIONS_H

#include <stddef.h>

#include "util/error.h"

/* Bounds on user-controlled sizes: option values come from any user and are
 * parsed inside slurmstepd (root), so nothing may grow without limit. */
#define SPANK_VALUE_MAX 4095  /* a path-like value: PATH_MAX - 1 */
#define SPANK_LIST_MAX 65536  /* a whole comma-separated list */
#define SPANK_ENTRIES_MAX 512 /* mounts, or --container-env names */
/* The container is named "pyxis_<jobid>_<name>" in a directory: the whole
 * name must fit NAME_MAX with a 20-digit job id. */
#define SPANK_NAME_MAX 228

enum spank_tristate { SPANK_UNSET = -1, SPANK_NO = 0, SPANK_YES = 1 };

enum spank_name_flag { SPANK_NAME_AUTO, SPANK_NAME_CREATE, SPANK_NAME_EXEC, SPANK_NAME_NO_EXEC };

enum spank_unshare { SPANK_UNSHARE_NET = 1, SPANK_UNSHARE_IPC = 2, SPANK_UNSHARE_UTS = 4 };

/* One --container-mounts entry, as enroot's fstab line "src dst flags". */
struct spank_mount {
	char *src;
	char *dst;
	char *flags; /* defaults ("x-create=auto,rbind", ...) then the user's */
};

struct spank_args {
	char *image;
	struct spank_mount *mounts;
	size_t mounts_len;
	char *workdir;
	char *name;
	enum spank_name_flag name_flag;
	char *name_arg; /* "NAME[:FLAG]" as given, to accept it again */
	char *save;
	int mount_home; /* enum spank_tristate, likewise below */
	int remap_root;
	int entrypoint;
	int entrypoint_log;
	int writable;
	char **env; /* --container-env names, de-duplicated */
	size_t env_len;
	unsigned unshare; /* enum spank_unshare bits */
};

void spank_args_init(struct spank_args *a);
/* Frees everything and re-initialises (safe to call twice). */
void spank_args_free(struct spank_args *a);

/* The setters take one option value as given on the command line (or from a
 * PYXIS_CONTAINER_* variable).  Value options accept the same value twice:
 * Slurm calls the callbacks twice in remote context.  Each returns 0, or -1
 * with err->msg in pyxis's words ("--container-name: empty name"). */
int spank_args_set_image(struct spank_args *a, const char *v, struct error *err);
int spank_args_add_mounts(struct spank_args *a, const char *v, struct error *err);
int spank_args_set_workdir(struct spank_args *a, const char *v, struct error *err);
int spank_args_set_name(struct spank_args *a, const char *v, struct error *err);
int spank_args_set_save(struct spank_args *a, const char *v, struct error *err);
int spank_args_add_env(struct spank_args *a, const char *v, struct error *err);
int spank_args_add_unshare(struct spank_args *a, const char *v, struct error *err);

enum spank_flag { SPANK_MOUNT_HOME, SPANK_REMAP_ROOT, SPANK_ENTRYPOINT, SPANK_ENTRYPOINT_LOG, SPANK_WRITABLE };
/* --X (on=1) / --no-X (on=0); both given is an error, except for
 * --container-entrypoint-log, which has no negative form. */
int spank_args_set_flag(struct spank_args *a, enum spank_flag f, int on, struct error *err);

/* "1 true yes y" -> 1, "0 false no n" -> 0, else -1 (pyxis's booleans). */
int spank_parse_bool(const char *s);

#endif
