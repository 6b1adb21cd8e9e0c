# capsa: one non-recursive Makefile. `make`, `make check`, `make install
# PREFIX=...`, `make BUILD=asan check` for the sanitizer build.
VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/capsa
SYSCONFDIR ?= /etc/capsa
DATADIR    ?= $(PREFIX)/share/capsa
MANDIR     ?= $(PREFIX)/share/man
# Where pyxis installs spank_pyxis.so; plugstack.conf names the full path.
SLURM_PLUGINDIR ?= $(PREFIX)/lib/slurm
DESTDIR    ?=

BUILD ?= release
O     := build/$(BUILD)

CC      ?= gcc
PKGS    := libsquashfs1 libseccomp json-c libcurl libcrypto libarchive libisal
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -ldl

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wwrite-strings -Wpointer-arith -Wlogical-op -Winit-self -Wundef -Wvla -Wno-format-nonliteral -Wno-format-truncation
CPPFLAGS += -D_GNU_SOURCE -Isrc -DCAPSA_VERSION='"$(VERSION)"' -DCAPSA_SYSCONFDIR='"$(SYSCONFDIR)"' \
            -DCAPSA_BINDIR='"$(BINDIR)"' -DCAPSA_DATADIR='"$(DATADIR)"' \
            -DCAPSA_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -fstack-protector-strong -fPIE $(WARN) $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now,-z,noexecstack

ifeq ($(BUILD),asan)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
CPPFLAGS += -D_FORTIFY_SOURCE=2
endif

CORE_SRC := $(wildcard src/util/*.c src/config/*.c src/runtime/*.c src/runtime/hooks/*.c src/doctor/*.c src/gpu/*.c src/image/*.c src/image/*/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(O)/%.o)
# Two binaries: capsa runs the container verbs and maps only libc and
# libseccomp (--as-needed drops the rest), capsa-image the image verbs.
CLI_COMMON := args log dispatch cmd_start cmd_doctor
LEAN_OBJ   := $(patsubst %,$(O)/src/cli/%.o,main cmd_store cmd_gpu $(CLI_COMMON))
IMAGE_OBJ  := $(patsubst %,$(O)/src/cli/%.o,image_main progress cmd_bundle cmd_cache cmd_import cmd_create $(CLI_COMMON))
CLI_OBJ    := $(sort $(LEAN_OBJ) $(IMAGE_OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

all: $(O)/capsa $(O)/capsa-image capsa

capsa: $(O)/capsa
	ln -sf $(O)/capsa capsa

$(O)/capsa: $(LEAN_OBJ) $(O)/libcore.a
	$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)

$(O)/capsa-image: $(IMAGE_OBJ) $(O)/libcore.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/libcore.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(O)/gen $(CFLAGS) -c -o $@ $<

$(O)/gen/builtin_conf.h: conf/embed.sh $(wildcard conf/mounts.d/*.fstab conf/environ.d/*.env)
	@mkdir -p $(dir $@)
	{ conf/embed.sh builtin_mounts conf/mounts.d/*.fstab && \
	  conf/embed.sh builtin_environ conf/environ.d/*.env; } > $@.tmp && mv $@.tmp $@

$(O)/gen/bundle_header.h: conf/embed.sh src/image/bundle_header.sh
	@mkdir -p $(dir $@)
	conf/embed.sh bundle_header src/image/bundle_header.sh > $@.tmp && mv $@.tmp $@

$(O)/src/runtime/defaults.o: $(O)/gen/builtin_conf.h
# Direct starts serve the squashfs from libsquashfuse_ll, loaded with dlopen
# (headers only at build time); without them, the squashfuse binary.
SQFUSE_H       := $(wildcard /usr/include/squashfuse/ll.h)
WITH_SQFUSE_LL ?= $(if $(SQFUSE_H),1,0)
ifeq ($(WITH_SQFUSE_LL),1)
$(O)/src/runtime/sqfuse.o: CPPFLAGS += -DWITH_SQFUSE_LL
endif
$(O)/src/image/bundle.o: $(O)/gen/bundle_header.h

$(O)/tests/%: tests/unit/%.c tests/unit/tap.h $(O)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/libcore.a $(PKG_LIBS)

# The SPANK plugin (src/slurm), built against the installed Slurm's spank.h:
# Slurm loads only plugins built for its own major.minor (testbed.md §5).
# It links nothing (spank_* and slurm_* come from the loading process, so
# no -z defs) and compiles in only src/util/error.c: never libcore's curl,
# OpenSSL, libarchive, json-c or libsquashfs.  It is never sanitized, in
# BUILD=asan too: srun, sbatch and slurmstepd are not ASan-instrumented and
# cannot dlopen() an ASan-instrumented object; its parsers run under ASan
# in the unit test test_slurm_args instead.  WITH_SLURM=0 skips it.
SPANK_H    := $(wildcard /usr/include/slurm/spank.h)
WITH_SLURM ?= $(if $(SPANK_H),1,0)
PLUGIN_SRC := $(wildcard src/slurm/*.c) src/util/error.c
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(O)/plugin/%.o)
PLUGIN_CFLAGS := -std=gnu11 -O2 -g -fPIC -fstack-protector-strong $(WARN) -MMD -MP
PLUGIN_LDFLAGS := -shared -Wl,--version-script=src/slurm/plugin.lds -Wl,-z,relro,-z,now,-z,noexecstack
ifeq ($(WITH_SLURM),1)
PLUGIN := $(O)/spank_capsa.so
else
PLUGIN := plugin-skipped
endif
all: $(PLUGIN)

$(O)/spank_capsa.so: $(PLUGIN_OBJ) src/slurm/plugin.lds
	$(CC) $(PLUGIN_CFLAGS) $(PLUGIN_LDFLAGS) -o $@ $(PLUGIN_OBJ)

$(O)/plugin/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Isrc -DCAPSA_VERSION='"$(VERSION)"' -DCAPSA_BINDIR='"$(BINDIR)"' $(PLUGIN_CFLAGS) -c -o $@ $<

plugin-skipped:
	@echo "spank_capsa.so not built: /usr/include/slurm/spank.h is missing (apt-get install libslurm-dev)"

# The plugin's pure parsers, unit-tested with this build's flags (ASan too).
SLURM_UNIT_OBJ := $(O)/src/slurm/options.o $(O)/src/slurm/config.o $(O)/src/slurm/container.o
$(O)/tests/test_slurm_args: tests/unit/test_slurm_args.c tests/unit/tap.h $(SLURM_UNIT_OBJ) $(O)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(SLURM_UNIT_OBJ) $(O)/libcore.a $(PKG_LIBS)

unit: $(UNIT_BIN)

# The probe is static so that it runs inside any test rootfs.
$(O)/tests/probe: tests/fixtures/probe.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static -o $@ $<

check: all unit $(O)/tests/probe
	CAPSA_BUILD=$(O) tests/run

check-unit: unit
	CAPSA_BUILD=$(O) tests/run --unit

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/capsa.conf.d $(DESTDIR)$(SYSCONFDIR)/hooks.d \
	           $(DESTDIR)$(SYSCONFDIR)/mounts.d $(DESTDIR)$(SYSCONFDIR)/environ.d $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(O)/capsa $(DESTDIR)$(BINDIR)/capsa
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 755 $(O)/capsa-image $(DESTDIR)$(LIBEXECDIR)/capsa-image
	install -m 644 conf/capsa.conf $(DESTDIR)$(SYSCONFDIR)/capsa.conf
	install -m 644 conf/mounts.d/*.fstab $(DESTDIR)$(SYSCONFDIR)/mounts.d/
	install -m 644 conf/environ.d/*.env $(DESTDIR)$(SYSCONFDIR)/environ.d/
	install -m 644 man/capsa.1 $(DESTDIR)$(MANDIR)/man1/capsa.1
	install -d $(DESTDIR)$(DATADIR)/hooks.d
	install -m 755 conf/hooks-extra/*.sh $(DESTDIR)$(DATADIR)/hooks.d/
ifeq ($(WITH_SLURM),1)
	install -d $(DESTDIR)$(SLURM_PLUGINDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(O)/spank_capsa.so $(DESTDIR)$(SLURM_PLUGINDIR)/spank_capsa.so
	printf 'required %s/spank_capsa.so capsa_path=%s/capsa\n' '$(SLURM_PLUGINDIR)' '$(BINDIR)' \
		>$(DESTDIR)$(DATADIR)/plugstack-capsa.conf
endif

clean:
	rm -rf build capsa

-include $(CORE_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(PLUGIN_OBJ:.o=.d) $(SLURM_UNIT_OBJ:.o=.d)

.PHONY: all unit check check-unit install clean plugin-skipped

# The main job on a small image made offline: a busybox rootfs, packed to
# squashfs, created as a container and started as the calling user.
demo: all
	@rm -rf build/demo && mkdir -p build/demo
	tests/fixtures/mkrootfs.sh build/demo >/dev/null
	CAPSA_DATA_PATH=$(CURDIR)/build/demo/data ./capsa create -f -n demo build/demo/busybox.sqsh
	CAPSA_DATA_PATH=$(CURDIR)/build/demo/data ./capsa start demo sh -c \
		'echo "hello from $$(cat /etc/hostname 2>/dev/null || hostname) as uid $$(id -u): $$(. /etc/os-release; echo $$PRETTY_NAME)"'
	./capsa start build/demo/busybox.sqsh sh -c 'echo "started the squashfs image directly: $$(ls /bin | wc -l) entries in /bin"'

.PHONY: demo
