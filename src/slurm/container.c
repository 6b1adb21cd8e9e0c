/* SPDX-License-Identifier: Apache-2.0 */
/* Pure helpers of the container life-cycle (container.h).  Loaded into
 * slurmstepd: malloc only (NULL on ENOMEM), bounded, never exits. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/container.h"
#include "util/cleanup.h"

int container_name(char *buf, size_t size, enum spank_scope scope, uint32_t jobid, uint32_t stepid,
		   const char *name)
{
	char job[32] = "";
	int n;

	if (scope == SPANK_SCOPE_JOB)
		snprintf(job, sizeof(job), "%" PRIu32 "_", jobid);
	if (name != NULL)
		n = snprintf(buf, size, "pyxis_%s%s", job, name);
	else
		n = snprintf(buf, size, "pyxis_%s%" PRIu32 ".%" PRIu32, job, jobid, stepid);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

long container_lookup(const char *list_output, const char *name)
{
	const char *line = list_output, *next, *p;
	size_t nlen = strlen(name);
	bool header = true;

	for (; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			next++;
		if (header) {
			header = false;
			continue;
		}
		if (strncmp(line, name, nlen) != 0 || (line[nlen] != ' ' && line[nlen] != '\n' && line[nlen] != '\0'))
			continue;
		p = line + nlen;
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			return 0;
		return strtol(p, NULL, 10);
	}
	return -1;
}

bool image_is_path(const char *image)
{
	return image[0] == '/' || image[0] == '.';
}

char *image_uri(const char *image)
{
	char *uri;

	if (strstr(image, "://") != NULL)
		return strdup(image);
	if (asprintf(&uri, "docker://%s", image) < 0)
		return NULL;
	return uri;
}

/* A growing string; on ENOMEM it frees itself and stays NULL. */
struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	char *p;

	if (b->s == NULL)
		return;
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		p = realloc(b->s, b->cap);
		if (p == NULL) {
			free(b->s);
			b->s = NULL;
			return;
		}
		b->s = p;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* A path as one fstab field (space, tab, newline, backslash in octal, as
 * pyxis writes them), inside a single-quoted shell word: nothing in it is
 * expanded by the shell that evaluates the script. */
static void buf_fstab_field(struct buf *b, const char *s)
{
	char oct[8];

	for (; *s != '\0'; s++) {
		switch (*s) {
		case ' ':
		case '\t':
		case '\n':
		case '\\':
			snprintf(oct, sizeof(oct), "\\%03o", (unsigned char)*s);
			buf_str(b, oct);
			break;
		case '\'':
			buf_str(b, "'\\''");
			break;
		default:
			buf_add(b, s, 1);
		}
	}
}

char *container_conf(const struct spank_mount *mounts, size_t mounts_len, char *const *env, size_t env_len,
		     bool entrypoint)
{
	struct buf b = {malloc(256), 0, 256};

	if (b.s == NULL)
		return NULL;
	b.s[0] = '\0';
	if (mounts_len > 0) {
		buf_str(&b, "mounts() {\n");
		for (size_t i = 0; i < mounts_len; i++) {
			buf_str(&b, "\tprintf '%s\\n' '");
			buf_fstab_field(&b, mounts[i].src);
			buf_str(&b, " ");
			buf_fstab_field(&b, mounts[i].dst);
			buf_str(&b, " ");
			buf_fstab_field(&b, mounts[i].flags);
			buf_str(&b, "'\n");
		}
		buf_str(&b, "}\n");
	}
	/* The names were checked to be identifiers (options.c). */
	if (env_len > 0) {
		buf_str(&b, "environ() {\n");
		for (size_t i = 0; i < env_len; i++) {
			buf_str(&b, "\tif [ -n \"${");
			buf_str(&b, env[i]);
			buf_str(&b, "-}\" ]; then printf '%s\\n' \"");
			buf_str(&b, env[i]);
			buf_str(&b, "=${");
			buf_str(&b, env[i]);
			buf_str(&b, "}\"; fi\n");
		}
		buf_str(&b, "}\n");
	}
	/* Without the entrypoint: what /etc/rc does before it (cd WORKDIR),
	 * then the command itself. */
	if (!entrypoint)
		buf_str(&b, "rc() {\n"
			    "\tif [ -f /etc/rc ]; then\n"
			    "\t\twhile IFS= read -r l; do case \"$l\" in \"cd \"*) eval \"$l\" ;; esac; done </etc/rc\n"
			    "\tfi\n"
			    "\texec \"$@\"\n"
			    "}\n");
	return b.s;
}

bool env_denied(const char *entry)
{
	static const char *const denied[] = {
		"PATH=",	   "LD_LIBRARY_PATH=", "LD_PRELOAD=",   "SLURM_PROCID=", "SLURM_LOCALID=",
		"SLURM_TASK_PID=", "PMIX_RANK=",       "PMI_FD=",
	};
	/* Settings the admin's configuration decides, as ENROOT_X (pyxis) and
	 * as capsa's CAPSA_X. */
	static const char *const settings[] = {
		"LIBRARY_PATH=",    "SYSCONF_PATH=",	  "RUNTIME_PATH=",	"CACHE_PATH=",
		"DATA_PATH=",	    "TEMP_PATH=",	  "ZSTD_OPTIONS=",	"TRANSFER_RETRIES=",
		"CONNECT_TIMEOUT=", "MAX_CONNECTIONS=", "ALLOW_HTTP=",
	};
	const char *rest = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
		if (strncmp(entry, denied[i], strlen(denied[i])) == 0)
			return true;
	if (strncmp(entry, "ENROOT_", 7) == 0)
		rest = entry + 7;
	else if (strncmp(entry, "CAPSA_", 6) == 0)
		rest = entry + 6;
	for (size_t i = 0; rest != NULL && i < ARRAY_SIZE(settings); i++)
		if (strncmp(rest, settings[i], strlen(settings[i])) == 0)
			return true;
	return strchr(entry, '=') == NULL;
}

int environ_foreach(char *buf, size_t len, env_entry_fn fn, void *data)
{
	size_t i = 0, n;
	char *eq;
	int r;

	while (i < len) {
		n = strnlen(buf + i, len - i);
		if (i + n >= len)
			break; /* unterminated tail */
		eq = strchr(buf + i, '=');
		if (eq != NULL && eq != buf + i) {
			*eq = '\0';
			r = fn(buf + i, eq + 1, data);
			*eq = '=';
			if (r < 0)
				return r;
		}
		i += n + 1;
	}
	return 0;
}
