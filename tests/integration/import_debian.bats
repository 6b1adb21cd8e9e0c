#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2034 # bats' run sets status/output/lines/stderr; helpers read CAPSA_TEST_TIMEOUT
# SPDX-License-Identifier: Apache-2.0
#
# capsa import docker:// of a real distribution tree: a debootstrap'ed Debian
# bookworm (minbase) plus a layer with whiteouts, an opaque directory and a
# whited-out hardlink target, pushed to the plain docker-registry by
# tests/registry/mkdebian.sh.  The first run debootstraps from the Debian
# mirror (CAPSA_DEBIAN_MIRROR, a few minutes, root); the tarball is cached in
# $CAPSA_TEST_CACHE (default tests/tmp/cache) for every later run.
#
# Ports: free ones (tests/registry/start.sh), or CAPSA_REGISTRY_*_PORT.

load helpers

setup_file() {
	local rc=0
	registry_bed_start import-debian unsquashfs
	[ -n "$REG_SKIP" ] && return 0
	"$REG/mkdebian.sh" "$REG_DIR" 2>"$REG_DIR/mkdebian.err" >&3 || rc=$?
	if [ "$rc" -eq 77 ]; then
		REG_SKIP=$(tail -n 1 "$REG_DIR/mkdebian.err")
		REG_SKIP="no Debian fixture: ${REG_SKIP#mkdebian.sh: }"
		return 0
	fi
	cat "$REG_DIR/mkdebian.err" >&3
	[ "$rc" -eq 0 ] || return "$rc"
	chmod -R a+rX "$REG_DIR"
}

teardown_file() { registry_bed_stop; }

setup() {
	registry_bed_setup
	# An ASan build imports ~120 MiB more slowly.
	CAPSA_TEST_TIMEOUT=300
}

teardown() { capsa_teardown; }

# Debian ships /etc/environment and /etc/fstab; the import replaces them (and
# adds /etc/rc, /etc/rc.local), so both sides leave enroot's files out and
# they are compared on their own.
dump_image() { python3 "$REG/tree_dump.py" --enroot "$@" --squashfs "$IMG"; }
expected() { python3 "$REG/tree_dump.py" --enroot --tsv "$EXP/debian.tsv"; }
info() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$EXP/debian.info" "$1"; }

# import_debian [TAG]: import debian:TAG to $T/debian-TAG.sqsh, set IMG to it.
import_debian() {
	IMG=$T/debian-${1:-latest}.sqsh
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y import -o "$IMG" "docker://$PLAIN#debian:${1:-latest}"
	assert_success
	assert_exists "$IMG"
}

# expect_line PATH TYPE MODE OWNER: the image's entry for PATH.
expect_line() {
	local got
	got=$(printf '%s\n' "$DUMP" | awk -F'\t' -v p="$1" '$1 == p { print $2, $3, $4 }')
	[ "$got" = "$2 $3 $4" ] || { echo "$1: got '$got', want '$2 $3 $4'" >&2; return 1; }
}

@test "import docker:// of a debootstrap Debian: exactly the expected tree (setuid, owners, whiteouts, hardlinks)" {
	local d
	import_debian latest
	DUMP=$(dump_image)
	diff <(expected) <(printf '%s\n' "$DUMP")
	# The entries a distro tree depends on, spelled out.
	expect_line /usr/bin/passwd f 4755 0:0
	expect_line /usr/bin/su f 4755 0:0
	expect_line /usr/bin/mount f 4755 0:0
	expect_line /usr/bin/chage f 2755 0:42
	expect_line /usr/sbin/unix_chkpwd f 2755 0:42
	expect_line /etc/shadow f 0640 0:42
	expect_line /var/mail d 2775 0:8
	expect_line /tmp d 1777 0:0
	expect_line /bin l 0777 0:0
	expect_line /home/debian d 0750 1000:1000
	expect_line /usr/local/bin/capsa-setgid f 2755 0:42
	# Layer 2: whiteouts (file, directory), opaque /usr/share/man.
	if printf '%s\n' "$DUMP" | grep -E $'^/(etc/motd|usr/share/doc/apt)(/|\t)'; then
		echo "whited-out paths are in the image" >&2
		false
	fi
	[ "$(printf '%s\n' "$DUMP" | grep -c '^/usr/share/man/')" -eq 2 ]
	[ "$(unsquashfs -cat "$IMG" /etc/capsa-fixture)" = "layer 2 of the capsa debian fixture" ]
	# Hardlinks stay one inode; the link whose tar target was whited out keeps the data.
	unsquashfs -no-xattrs -q -n -d "$T/x" "$IMG" /usr/bin >/dev/null
	[ "$(stat -c %i "$T/x/usr/bin/perl")" = "$(stat -c %i "$T/x/usr/bin/perl5.36.0")" ]
	[ "$(stat -c %h "$T/x/usr/bin/perl")" -eq 2 ]
	d=$(info hardlink_whited_out)
	[ ! -e "$T/x$d" ]
	d=$(info hardlink_kept)
	[ "$(stat -c %h "$T/x$d")" -eq 1 ]
	head -1 "$T/x$d" | grep -q '^#!/bin/sh'
	# enroot's configuration files from the image config.
	diff "$EXP/debian.environment" <(unsquashfs -cat "$IMG" /etc/environment)
	diff "$EXP/debian.fstab" <(unsquashfs -cat "$IMG" /etc/fstab)
	diff <(tail -n +2 "$EXP/debian.rc") <(unsquashfs -cat "$IMG" /etc/rc | tail -n +2)
	diff "$EXP/rc.local" <(unsquashfs -cat "$IMG" /etc/rc.local)
	# The same image pushed as Docker v2s2 gives the same squashfs.
	local oci=$IMG
	import_debian v2s2
	cmp "$oci" "$IMG" || diff <(IMG=$oci dump_image) <(dump_image)
}

@test "the imported Debian starts as the unprivileged user: debian_version, dpkg-query, apt-get, Cmd/Env/WorkingDir" {
	local want npkg
	import_debian latest
	want=$(unsquashfs -cat "$IMG" /etc/debian_version)
	[[ $want == 12.* ]] || { echo "unexpected debian_version: $want" >&2; false; }
	run --separate-stderr capsa start "$IMG" cat /etc/debian_version
	assert_success
	assert_output_eq "$want"
	npkg=$(unsquashfs -cat "$IMG" /var/lib/dpkg/status | grep -c '^Package: ')
	[ "$npkg" -gt 50 ]
	run --separate-stderr capsa start "$IMG" dpkg-query -W
	assert_success
	[ "${#lines[@]}" -eq "$npkg" ] || { echo "dpkg-query -W: ${#lines[@]} packages, status has $npkg" >&2; false; }
	[[ $output == *$'\n'bash$'\t'* && $output == *$'\n'dpkg$'\t'* ]]
	run --separate-stderr capsa start "$IMG" apt-get --version
	assert_success
	[[ ${lines[0]} == "apt 2."* ]] || { echo "$output" >&2; false; }
	# The default command: the image's Cmd, Env and WorkingDir.
	run --separate-stderr capsa start "$IMG"
	assert_success
	assert_output_eq "debian bookworm|/home/debian|$TUID"
	# --root: uid 0 in the container, and dpkg works on its database.
	run --separate-stderr capsa start --root "$IMG" sh -c 'id -u && dpkg -s base-files | grep -c "^Status: install ok installed"'
	assert_success
	assert_output_eq $'0\n1'
}

@test "the imported Debian: create, export round-trips the tree, start NAME" {
	import_debian latest
	capsa_chown "$IMG"
	# Setuid files are kept only when asked for (the round trip needs them).
	run --separate-stderr capsa CAPSA_KEEP_SETID=y create -n deb "$IMG"
	assert_success
	[ -d "$DATA/deb/usr/bin" ]
	[ "$(stat -c %a "$DATA/deb/usr/bin/passwd")" = 4755 ]
	# Export before anything starts (a start runs hooks that edit /etc).
	run --separate-stderr capsa export -o "$T/export.sqsh" deb
	assert_success
	# export writes every owner as 0:0; everything else is the same.
	diff <(dump_image --all-root) <(IMG=$T/export.sqsh dump_image --all-root)
	local f
	for f in /etc/rc /etc/rc.local /etc/environment /etc/fstab; do
		cmp <(unsquashfs -cat "$IMG" "$f") <(unsquashfs -cat "$T/export.sqsh" "$f")
	done
	run --separate-stderr capsa start deb cat /etc/debian_version
	assert_success
	assert_output_eq "$(unsquashfs -cat "$IMG" /etc/debian_version)"
	run --separate-stderr capsa start deb sh -c 'dpkg-query -W | wc -l'
	assert_success
	assert_output_eq "$(unsquashfs -cat "$IMG" /var/lib/dpkg/status | grep -c '^Package: ')"
	# The exported image starts too.
	capsa_chown "$T/export.sqsh"
	run --separate-stderr capsa start "$T/export.sqsh" apt-get --version
	assert_success
	[[ ${lines[0]} == "apt 2."* ]]
}
