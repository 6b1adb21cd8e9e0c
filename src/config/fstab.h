/* SPDX-License-Identifier: Apache-2.0 */
/* enroot's extended fstab format (enroot.md §5.9): missing fields are
 * completed, octal escapes decoded, x-* options understood. Pure parser. */
#ifndef CAPSA_CONFIG_FSTAB_H
#define CAPSA_CONFIG_FSTAB_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define FSTAB_MAX_LINE 4096
#define FSTAB_MAX_ENTRIES 4096

struct mount_entry {
	char *src;
	char *dst;
	char *type;
	char *opts;
	int pass;
	char *origin; /* "file:line" for messages */
	bool src_in_root; /* src is a path inside the container root, resolved clamped */
};

struct mount_list {
	struct mount_entry *v;
	size_t n, cap;
};

/* Parse one line. Returns 1 and fills *ret for an entry, 0 for a blank or
 * comment line, -1 with err set (naming origin and column) otherwise. */
int fstab_parse_line(const char *line, const char *origin, struct mount_entry *ret, struct error *err);
/* Parse a whole buffer, appending entries. name is used in messages. */
int fstab_parse(const char *buf, const char *name, struct mount_list *list, struct error *err);
/* Turn a -m a:b:c:d spec into a line ("a b c d"). */
char *fstab_from_spec(const char *spec);
/* Decode \NNN octal escapes in place (getmntent's \040 and \\). */
void fstab_unescape(char *s);
/* Is word a known mount option name (so it is taken as the options field)? */
bool fstab_is_option(const char *word);

void mount_entry_done(struct mount_entry *e);
void mount_list_free(struct mount_list *l);

#endif
