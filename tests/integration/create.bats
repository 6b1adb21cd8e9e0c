#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa create (enroot.md §3, §5.1).

load helpers

setup() { capsa_setup; }
teardown() { capsa_teardown; }

@test "create: the tree matches the source rootfs (files, symlink targets, modes)" {
	run capsa create "$FIX/busybox.sqsh"
	assert_success
	[ -d "$DATA/busybox" ]
	diff <(tree_dump "$FIX/busybox") <(tree_dump "$DATA/busybox")
	cmp "$FIX/busybox/bin/busybox" "$DATA/busybox/bin/busybox"
	cmp "$FIX/busybox/probe" "$DATA/busybox/probe"
	cmp "$FIX/busybox/etc/passwd" "$DATA/busybox/etc/passwd"
	[ "$(readlink "$DATA/busybox/bin/sh")" = busybox ]
	[ "$(readlink "$DATA/busybox/usr/bin/env")" = /bin/busybox ]
	[ "$(stat -c %a "$DATA/busybox/tmp")" = 1777 ]
	[ "$(stat -c %a "$DATA/busybox/root")" = 700 ]
}

@test "create: files are owned by the caller (the image is all-root)" {
	create_busybox
	[ "$(stat -c %u:%g "$DATA/busybox/bin/busybox")" = "$TUID:$TGID" ]
	[ "$(stat -c %u "$DATA/busybox/etc")" = "$TUID" ]
	[ "$(stat -c %u "$DATA/busybox")" = "$TUID" ]
}

@test "create: default name is the image basename without .sqsh" {
	cp "$FIX/busybox.sqsh" "$WORK/my-image_1.2.sqsh"
	capsa_chown "$WORK/my-image_1.2.sqsh"
	run capsa create "$WORK/my-image_1.2.sqsh"
	assert_success
	[ -x "$DATA/my-image_1.2/bin/busybox" ]
	# a relative path is resolved against the cwd
	run capsa create -n rel ./my-image_1.2.sqsh
	assert_success
	[ -x "$DATA/rel/bin/busybox" ]
}

@test "create: gzip squashfs works too" {
	run capsa create "$FIX/busybox-gzip.sqsh"
	assert_success
	diff <(tree_dump "$FIX/busybox") <(tree_dump "$DATA/busybox-gzip")
}

@test "create -n NAME and --name NAME" {
	run capsa create -n one "$FIX/busybox.sqsh"
	assert_success
	run capsa create --name two "$FIX/busybox.sqsh"
	assert_success
	[ -x "$DATA/one/bin/busybox" ]
	[ -x "$DATA/two/bin/busybox" ]
	assert_not_exists "$DATA/busybox"
}

@test "create: existing container without -f is an error and stays untouched" {
	create_busybox
	echo keep-me >"$DATA/busybox/marker"
	capsa_chown "$DATA/busybox/marker"
	rm "$DATA/busybox/bin/busybox"
	run --separate-stderr capsa create "$FIX/busybox.sqsh"
	assert_error
	[ "$(cat "$DATA/busybox/marker")" = keep-me ]
	assert_not_exists "$DATA/busybox/bin/busybox"
}

@test "create -f replaces an existing container" {
	create_busybox
	echo old >"$DATA/busybox/marker"
	mkdir -p "$DATA/busybox/ro/sub"
	chmod 0555 "$DATA/busybox/ro"
	capsa_chown "$DATA/busybox"
	run capsa create -f "$FIX/busybox.sqsh"
	assert_success
	assert_not_exists "$DATA/busybox/marker"
	assert_not_exists "$DATA/busybox/ro"
	diff <(tree_dump "$FIX/busybox") <(tree_dump "$DATA/busybox")
	run capsa create --force "$FIX/busybox.sqsh"
	assert_success
}

@test "create: a non-squashfs file is 'Invalid image format', nothing left behind" {
	printf 'this is not a squashfs image\n' >"$WORK/bogus.sqsh"
	capsa_chown "$WORK/bogus.sqsh"
	run --separate-stderr capsa create "$WORK/bogus.sqsh"
	assert_error "Invalid image format"
	assert_not_exists "$DATA/bogus"
	# an empty file, a directory and a missing file
	: >"$WORK/empty.sqsh"
	run --separate-stderr capsa create "$WORK/empty.sqsh"
	assert_error
	assert_not_exists "$DATA/empty"
	mkdir "$WORK/dir.sqsh"
	run --separate-stderr capsa create "$WORK/dir.sqsh"
	assert_error
	assert_not_exists "$DATA/dir"
	run --separate-stderr capsa create "$WORK/missing.sqsh"
	assert_error
	assert_not_exists "$DATA/missing"
}

@test "create: a truncated image fails and leaves no container behind" {
	local size
	size=$(stat -c %s "$FIX/busybox.sqsh")
	head -c $((size / 2)) "$FIX/busybox.sqsh" >"$WORK/trunc.sqsh"
	run --separate-stderr capsa create "$WORK/trunc.sqsh"
	assert_error
	assert_not_exists "$DATA/trunc"
	# only the superblock
	head -c 96 "$FIX/busybox.sqsh" >"$WORK/super.sqsh"
	run --separate-stderr capsa create "$WORK/super.sqsh"
	assert_error
	assert_not_exists "$DATA/super"
}

@test "create: a corrupt image (garbage after the superblock) fails, nothing left behind" {
	cp "$FIX/busybox.sqsh" "$WORK/corrupt.sqsh"
	# 64 KiB of text over the first data blocks (zstd-compressed busybox)
	yes capsa-corruption | head -c 65536 | dd of="$WORK/corrupt.sqsh" bs=96 seek=1 conv=notrunc status=none
	run --separate-stderr capsa create "$WORK/corrupt.sqsh"
	assert_error
	assert_not_exists "$DATA/corrupt"
	# and nothing else appeared in $DATA (no temporary directories left over)
	[ -z "$(ls -A "$DATA")" ] || { ls -la "$DATA" >&2; false; }
}

@test "create: NAME with '/' or '..' is rejected" {
	local n
	for n in a/b ../escape /abs .. .; do
		run --separate-stderr capsa create -n "$n" "$FIX/busybox.sqsh"
		assert_error || { echo "name '$n' was accepted" >&2; false; }
	done
	# with -f, '..' and '.' must not remove $DATA or its parent
	for n in .. .; do
		run --separate-stderr capsa create -f -n "$n" "$FIX/busybox.sqsh"
		assert_error || { echo "name '$n' was accepted with -f" >&2; false; }
	done
	[ -d "$WORK" ] && [ -d "$DATA" ] && [ -d "$SYSCONF" ]
	assert_not_exists "$T/escape"
	assert_not_exists "$DATA/a"
	assert_not_exists /abs
	# $DATA itself was not replaced or filled
	[ -z "$(ls -A "$DATA")" ] || { ls -la "$DATA" >&2; false; }
}

@test "create: the container starts" {
	create_busybox
	run capsa start busybox /probe cat /etc/capsa-fixture
	assert_success
	assert_output_eq capsa-fixture-marker
}

@test "create: an lzo image (enroot's default compression) is extracted and starts" {
	mksquashfs "$FIX/busybox" "$T/lzo.sqsh" -all-root -comp lzo -noD -noappend -quiet -no-progress >/dev/null
	capsa_chown "$T/lzo.sqsh"
	run capsa create -n lzo "$T/lzo.sqsh"
	assert_success
	[ -x "$DATA/lzo/bin/busybox" ] || { echo "busybox missing after create" >&2; false; }
	run capsa start lzo /probe exit 4
	assert_status 4
	require_fuse
	run capsa start "$T/lzo.sqsh" /probe exit 5
	assert_status 5
}

@test "create: lzo images are read in-process, never extracted by the host's unsquashfs (CVE-2021-40153/41072)" {
	command -v strace >/dev/null || skip "strace is not installed"
	mksquashfs "$FIX/busybox" "$T/lzo.sqsh" -all-root -comp lzo -noappend -quiet -no-progress >/dev/null
	capsa_chown "$T/lzo.sqsh"
	local -a _cmd
	_capsa_cmd user "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" -- create -n lzo "$T/lzo.sqsh" # LSan cannot run under ptrace
	run strace -f -qq -e trace=execve -e signal=none -o "$T/exec.log" "${_cmd[@]}"
	assert_success
	diff <(tree_dump "$FIX/busybox") <(tree_dump "$DATA/lzo")
	run grep -c 'execve("[^"]*capsa"' "$T/exec.log"
	[ "$output" -ge 1 ] || { cat "$T/exec.log" >&2; false; }
	if grep -v 'execve("[^"]*\(capsa\|capsa-image\|runuser\|env\|timeout\)"' "$T/exec.log" | grep execve; then
		echo "create ran another program" >&2
		false
	fi
}

@test "create: setuid/setgid bits of files are dropped unless CAPSA_KEEP_SETID (ENROOT_KEEP_SETID) is set" {
	mkdir -p "$T/suid/d"
	printf x >"$T/suid/su" && chmod 4755 "$T/suid/su"
	printf x >"$T/suid/sg" && chmod 2711 "$T/suid/sg"
	chmod 2775 "$T/suid/d"
	mksquashfs "$T/suid" "$T/suid.sqsh" -all-root -noappend -quiet -no-progress >/dev/null
	capsa_chown "$T/suid.sqsh"
	run capsa create -n plain "$T/suid.sqsh"
	assert_success
	[ "$(stat -c %a "$DATA/plain/su")" = 755 ]
	[ "$(stat -c %a "$DATA/plain/sg")" = 711 ]
	[ "$(stat -c %a "$DATA/plain/d")" = 2775 ]
	run capsa ENROOT_KEEP_SETID=y create -n kept "$T/suid.sqsh"
	assert_success
	[ "$(stat -c %a "$DATA/kept/su")" = 4755 ]
	[ "$(stat -c %a "$DATA/kept/sg")" = 2711 ]
}
