/* SPDX-License-Identifier: Apache-2.0 */
/* doctor's pure parsers (unit-tested in tests/unit/test_doctor.c). */
#ifndef CAPSA_DOCTOR_PARSE_H
#define CAPSA_DOCTOR_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* 'y', 'm' or 0 for CONFIG_name in a kernel configuration text. */
char kconfig_value(const char *text, const char *name);

/* Slurm's configuration syntax: KEY=VALUE words, keys case-insensitive, '#'
 * starts a comment. Counts the words whose key is key and whose value
 * contains needle (case-insensitive; NULL: any), and copies the first such
 * value into first (truncated to size). */
int slurm_conf_match(const char *text, const char *key, const char *needle, char *first, size_t size);

/* "slurm 22.05.8" / "slurm-wlm 22.05.8" (what -V prints) as Slurm's
 * SLURM_VERSION_NUM(22, 5, 8); 0 when it is none. */
uint32_t slurm_version_parse(const char *text);

/* The 4-byte value of the dynamic symbol name in an ELF64 little-endian
 * shared object held in buf (Slurm plugins export plugin_version). 0, or -1
 * when buf is not such a file or has no such symbol with file contents. */
int elf_symbol_u32(const unsigned char *buf, size_t len, const char *name, uint32_t *ret);

/* One line of plugstack.conf: "PATH [ARGS...]" of a "required|optional
 * PATH [ARGS...]" line or the glob of an "include GLOB" line, copied into
 * out (truncated to size). Returns 1 for a plugin, 2 for an include, 0 for
 * anything else (comment, blank, junk). */
int plugstack_line(const char *line, char *out, size_t size);

#endif
