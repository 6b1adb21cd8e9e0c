/* SPDX-License-Identifier: Apache-2.0 */
/* capsa doctor's pure parsers: kernel config, Slurm configuration words,
 * slurmd -V, plugstack lines and a plugin's plugin_version symbol. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "doctor/parse.h"
#include "doctor/probe.h"
#include "tap.h"

TEST(kconfig)
{
	const char *text = "# comment\nCONFIG_USER_NS=y\nCONFIG_OVERLAY_FS=m\n# CONFIG_FUSE_FS is not set\n"
			   "CONFIG_NAMESPACES_X=y\nCONFIG_SECCOMP=n\nCONFIG_LAST=y";

	ASSERT_EQ(kconfig_value(text, "USER_NS"), 'y');
	ASSERT_EQ(kconfig_value(text, "OVERLAY_FS"), 'm');
	ASSERT_EQ(kconfig_value(text, "FUSE_FS"), 0);
	ASSERT_EQ(kconfig_value(text, "NAMESPACES"), 0); /* a prefix of another name */
	ASSERT_EQ(kconfig_value(text, "SECCOMP"), 0);
	ASSERT_EQ(kconfig_value(text, "LAST"), 'y'); /* no final newline */
	ASSERT_EQ(kconfig_value("", "USER_NS"), 0);
}

TEST(slurm_conf)
{
	const char *text = "# ConstrainDevices=no\nconstraindevices=Yes # trailing\n"
			   "NodeName=n[1-2] Gres=gpu:a100:4 CPUs=8\nNodeName=n3 Gres=mps:100\n"
			   "GresTypes=gpu,mps\n  PluginDir=/a:/b";
	char v[16];

	ASSERT_EQ(slurm_conf_match(text, "ConstrainDevices", NULL, v, sizeof(v)), 1);
	ASSERT_STREQ(v, "Yes");
	ASSERT_EQ(slurm_conf_match(text, "Gres", "GPU", v, sizeof(v)), 1);
	ASSERT_STREQ(v, "gpu:a100:4");
	ASSERT_EQ(slurm_conf_match(text, "Gres", NULL, v, sizeof(v)), 2);
	ASSERT_EQ(slurm_conf_match(text, "GresTypes", "gpu", v, sizeof(v)), 1);
	ASSERT_EQ(slurm_conf_match(text, "PluginDir", NULL, v, sizeof(v)), 1);
	ASSERT_STREQ(v, "/a:/b");
	ASSERT_EQ(slurm_conf_match(text, "Missing", NULL, v, sizeof(v)), 0);
	ASSERT_STREQ(v, "");
	/* A value longer than the buffer is truncated, not overrun. */
	ASSERT_EQ(slurm_conf_match("Key=0123456789abcdefXYZ", "Key", NULL, v, 8), 1);
	ASSERT_STREQ(v, "0123456");
}

TEST(slurm_version)
{
	ASSERT_EQ(slurm_version_parse("slurm-wlm 22.05.8\n"), 0x160508u);
	ASSERT_EQ(slurm_version_parse("slurm 23.11.10"), 0x170b0au);
	ASSERT_EQ(slurm_version_parse("slurm 23.11"), 0u);
	ASSERT_EQ(slurm_version_parse("slurm 300.1.1"), 0u);
	ASSERT_EQ(slurm_version_parse("bash 5.2.15"), 0u);
	ASSERT_EQ(slurm_version_parse(""), 0u);
}

TEST(plugstack)
{
	char out[32], big[256];

	ASSERT_EQ(plugstack_line("required /usr/lib/slurm/spank_capsa.so a=b  \n", big, sizeof(big)), 1);
	ASSERT_STREQ(big, "/usr/lib/slurm/spank_capsa.so a=b");
	ASSERT_EQ(plugstack_line("required /usr/lib/slurm/spank_capsa.so a=b", out, sizeof(out)), 1);
	ASSERT_STREQ(out, "/usr/lib/slurm/spank_capsa.so a"); /* truncated */
	ASSERT_EQ(plugstack_line("  optional spank_pyxis.so", out, sizeof(out)), 1);
	ASSERT_STREQ(out, "spank_pyxis.so");
	ASSERT_EQ(plugstack_line("include /etc/slurm/plugstack.conf.d/*.conf", out, sizeof(out)), 2);
	ASSERT_EQ(plugstack_line("# required /x.so", out, sizeof(out)), 0);
	ASSERT_EQ(plugstack_line("", out, sizeof(out)), 0);
	ASSERT_EQ(plugstack_line("required", out, sizeof(out)), 0);
	ASSERT_EQ(plugstack_line("bogus /x.so", out, sizeof(out)), 0);
}

/* A minimal ELF64 shared object: .data holding the value, .dynstr, .dynsym
 * (one symbol), then the section headers. */
enum { DATA_OFF = 64, STR_OFF = 72, SYM_OFF = 88, SH_OFF = 136, ELF_LEN = SH_OFF + 4 * sizeof(Elf64_Shdr) };

static void make_elf(unsigned char *buf, uint32_t value)
{
	Elf64_Ehdr eh = {0};
	Elf64_Shdr sh[4] = {{0}};
	Elf64_Sym sym[2] = {{0}};

	memset(buf, 0, ELF_LEN);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_DYN;
	eh.e_shoff = SH_OFF;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 4;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + DATA_OFF, &value, 4);
	memcpy(buf + STR_OFF, "\0plugin_version", 16);
	sym[1].st_name = 1;
	sym[1].st_value = 0x1000;
	sym[1].st_shndx = 1;
	memcpy(buf + SYM_OFF, sym, sizeof(sym));
	sh[1] = (Elf64_Shdr){.sh_type = SHT_PROGBITS, .sh_addr = 0x1000, .sh_offset = DATA_OFF, .sh_size = 4};
	sh[2] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = STR_OFF, .sh_size = 16};
	sh[3] = (Elf64_Shdr){.sh_type = SHT_DYNSYM, .sh_offset = SYM_OFF, .sh_size = sizeof(sym), .sh_link = 2};
	memcpy(buf + SH_OFF, sh, sizeof(sh));
}

TEST(elf_symbol)
{
	unsigned char buf[ELF_LEN];
	uint32_t v = 0;

	make_elf(buf, 0x160508);
	ASSERT_EQ(elf_symbol_u32(buf, sizeof(buf), "plugin_version", &v), 0);
	ASSERT_EQ(v, 0x160508u);
	ASSERT_EQ(elf_symbol_u32(buf, sizeof(buf), "plugin_name", &v), -1);
	ASSERT_EQ(elf_symbol_u32((const unsigned char *)"#!/bin/sh\n", 10, "plugin_version", &v), -1);
}

/* Every truncation and every corrupted byte is refused or read in bounds
 * (ASan watches the reads). */
TEST(elf_symbol_hostile)
{
	unsigned char buf[ELF_LEN], bad[ELF_LEN];
	uint32_t v;

	make_elf(buf, 1);
	for (size_t len = 0; len < sizeof(buf); len++) {
		unsigned char *copy = malloc(len ? len : 1);

		memcpy(copy, buf, len);
		ASSERT_EQ(elf_symbol_u32(copy, len, "plugin_version", &v), -1);
		free(copy);
	}
	for (size_t i = 0; i < sizeof(buf); i++) {
		memcpy(bad, buf, sizeof(buf));
		bad[i] ^= 0xff;
		(void)elf_symbol_u32(bad, sizeof(bad), "plugin_version", &v);
	}
}

TEST(userns_causes)
{
	ASSERT_TRUE(strstr(doctor_userns_cause(ENOSPC), "user.max_user_namespaces") != NULL);
	ASSERT_TRUE(strstr(doctor_userns_cause(EPERM), "kernel.unprivileged_userns_clone") != NULL);
	ASSERT_TRUE(strstr(doctor_userns_cause(EINVAL), "CONFIG_USER_NS") != NULL);
	ASSERT_TRUE(strstr(doctor_idmap_cause(EPERM), "apparmor_restrict_unprivileged_userns") != NULL);
}

TAP_MAIN(T(kconfig), T(slurm_conf), T(slurm_version), T(plugstack), T(elf_symbol), T(elf_symbol_hostile),
	 T(userns_causes))
