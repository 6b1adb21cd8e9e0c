/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "doctor/parse.h"

char kconfig_value(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, "CONFIG_", 7) && !strncmp(p + 7, name, n) && p[7 + n] == '=')
			return p[8 + n] == 'y' || p[8 + n] == 'm' ? p[8 + n] : 0;
	}
	return 0;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

static const char *word_end(const char *p, const char *end)
{
	while (p < end && !isspace((unsigned char)*p))
		p++;
	return p;
}

/* needle within [v, v+n), case-insensitive. */
static int contains(const char *v, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; k <= n && i <= n - k; i++) {
		if (!strncasecmp(v + i, needle, k))
			return 1;
	}
	return 0;
}

/* One word KEY=VALUE of [p, e): does it match, and copy the value. */
static int match_word(const char *p, const char *e, const char *key, const char *needle, char *first, size_t size,
		      int found)
{
	size_t k = strlen(key);
	const char *v = p + k + 1;

	if ((size_t)(e - p) <= k || strncasecmp(p, key, k) || p[k] != '=')
		return 0;
	if (needle && !contains(v, (size_t)(e - v), needle))
		return 0;
	if (!found && size > 0)
		snprintf(first, size, "%.*s", (int)(e - v), v);
	return 1;
}

int slurm_conf_match(const char *text, const char *key, const char *needle, char *first, size_t size)
{
	int found = 0;

	if (size > 0)
		first[0] = '\0';
	while (*text) {
		const char *nl = strchr(text, '\n'), *end = nl ? nl : text + strlen(text);
		const char *hash = memchr(text, '#', (size_t)(end - text)), *stop = hash ? hash : end;

		for (const char *p = skip_space(text, stop), *e; p < stop; p = skip_space(e, stop)) {
			e = word_end(p, stop);
			found += match_word(p, e, key, needle, first, size, found);
		}
		text = nl ? nl + 1 : end;
	}
	return found;
}

uint32_t slurm_version_parse(const char *text)
{
	unsigned a, b, c;
	const char *sp = strchr(text, ' ');

	if (sp == NULL || strncmp(text, "slurm", 5) || sscanf(sp + 1, "%u.%u.%u", &a, &b, &c) != 3)
		return 0;
	if (a > 255 || b > 255 || c > 255)
		return 0;
	return (a << 16) | (b << 8) | c;
}

/* Section i's header, copied (buf need not be aligned), bounds-checked. */
static int section(const unsigned char *buf, size_t len, const Elf64_Ehdr *eh, size_t i, Elf64_Shdr *ret)
{
	if (i >= eh->e_shnum || eh->e_shoff > len || (len - eh->e_shoff) / sizeof(*ret) <= i)
		return -1;
	memcpy(ret, buf + eh->e_shoff + i * sizeof(*ret), sizeof(*ret));
	return 0;
}

/* The value at a symbol's address, through the section that holds it. */
static int symbol_value(const unsigned char *buf, size_t len, const Elf64_Ehdr *eh, const Elf64_Sym *sym,
			uint32_t *ret)
{
	Elf64_Shdr sh;
	uint64_t off;

	if (section(buf, len, eh, sym->st_shndx, &sh) < 0 || sh.sh_type == SHT_NOBITS || sym->st_value < sh.sh_addr ||
	    sh.sh_size < 4 || sym->st_value - sh.sh_addr > sh.sh_size - 4)
		return -1;
	off = sh.sh_offset + (sym->st_value - sh.sh_addr);
	if (sh.sh_offset > len || off > len || len - off < 4)
		return -1;
	memcpy(ret, buf + off, 4);
	return 0;
}

static int find_in_symtab(const unsigned char *buf, size_t len, const Elf64_Ehdr *eh, const Elf64_Shdr *sym,
			  const char *name, uint32_t *ret)
{
	Elf64_Shdr str;
	size_t n = sym->sh_size / sizeof(Elf64_Sym);

	if (section(buf, len, eh, sym->sh_link, &str) < 0 || sym->sh_offset > len ||
	    n > (len - sym->sh_offset) / sizeof(Elf64_Sym) || str.sh_offset > len || str.sh_size > len - str.sh_offset)
		return -1;
	for (size_t i = 0; i < n; i++) {
		Elf64_Sym s;
		const char *nm;

		memcpy(&s, buf + sym->sh_offset + i * sizeof(s), sizeof(s));
		if (s.st_name >= str.sh_size)
			continue;
		nm = (const char *)buf + str.sh_offset + s.st_name;
		if (strnlen(nm, str.sh_size - s.st_name) < str.sh_size - s.st_name && !strcmp(nm, name))
			return symbol_value(buf, len, eh, &s, ret);
	}
	return -1;
}

int elf_symbol_u32(const unsigned char *buf, size_t len, const char *name, uint32_t *ret)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh;

	if (len < sizeof(eh) || memcmp(buf, ELFMAG, SELFMAG) || buf[EI_CLASS] != ELFCLASS64 ||
	    buf[EI_DATA] != ELFDATA2LSB)
		return -1;
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_shentsize != sizeof(Elf64_Shdr))
		return -1;
	for (size_t i = 0; i < eh.e_shnum; i++) {
		if (section(buf, len, &eh, i, &sh) < 0)
			return -1;
		if (sh.sh_type == SHT_DYNSYM)
			return find_in_symtab(buf, len, &eh, &sh, name, ret);
	}
	return -1;
}

int plugstack_line(const char *line, char *out, size_t size)
{
	char kw[16];
	int n = 0;

	if (sscanf(line, " %15s %n", kw, &n) != 1 || n == 0 || kw[0] == '#')
		return 0;
	line += n;
	if (*line == '\0')
		return 0;
	snprintf(out, size, "%.*s", (int)strcspn(line, "\r\n"), line);
	for (size_t len = strlen(out); len > 0 && isspace((unsigned char)out[len - 1]); len--)
		out[len - 1] = '\0';
	if (!strcmp(kw, "required") || !strcmp(kw, "optional"))
		return 1;
	if (!strcmp(kw, "include"))
		return 2;
	return 0;
}
