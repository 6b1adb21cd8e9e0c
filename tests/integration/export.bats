#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa export [-o FILE] [-f] NAME (enroot.md §3, §5.1).

load helpers

setup() { capsa_setup; }
teardown() { capsa_teardown; }

# unsquashfs -lln listing: "MODE UID/GID SIZE DATE TIME PATH"
sqsh_list() { unsquashfs -lln "$1" | grep ' squashfs-root' ; }

@test "export NAME writes ./NAME.sqsh, all-root, that create accepts" {
	create_busybox
	run capsa export busybox
	assert_success
	[ -f "$WORK/busybox.sqsh" ]
	unsquashfs -s "$WORK/busybox.sqsh" >/dev/null
	# every entry owned by 0/0
	run sqsh_list "$WORK/busybox.sqsh"
	[ "${#lines[@]}" -gt 100 ]
	local notroot
	notroot=$(printf '%s\n' "${lines[@]}" | awk '$2 != "0/0"')
	[ -z "$notroot" ] || { echo "entries not owned by 0/0:" >&2; echo "$notroot" >&2; false; }
	# round trip: the re-created tree equals the original
	run capsa create -n again "$WORK/busybox.sqsh"
	assert_success
	diff <(tree_dump "$DATA/busybox") <(tree_dump "$DATA/again")
	cmp "$DATA/busybox/bin/busybox" "$DATA/again/bin/busybox"
}

@test "export -o FILE and --output FILE" {
	create_busybox
	run capsa export -o "$T/shared/out.sqsh" busybox
	assert_success
	unsquashfs -s "$T/shared/out.sqsh" >/dev/null
	run capsa export --output rel.sqsh busybox
	assert_success
	unsquashfs -s "$WORK/rel.sqsh" >/dev/null
	assert_not_exists "$WORK/busybox.sqsh"
}

@test "export: existing output without -f is an error and the file is untouched" {
	create_busybox
	echo original >"$WORK/busybox.sqsh"
	capsa_chown "$WORK/busybox.sqsh"
	run --separate-stderr capsa export busybox
	assert_error
	[ "$(cat "$WORK/busybox.sqsh")" = original ]
}

@test "export -f overwrites the output" {
	create_busybox
	echo original >"$WORK/busybox.sqsh"
	capsa_chown "$WORK/busybox.sqsh"
	run capsa export -f busybox
	assert_success
	unsquashfs -s "$WORK/busybox.sqsh" >/dev/null
	run capsa export --force -o "$WORK/busybox.sqsh" busybox
	assert_success
}

@test "export excludes dev/ contents, mode-0000 mountpoints, /.lock" {
	create_busybox
	local r=$DATA/busybox
	echo x >"$r/dev/leftover"
	mkdir -p "$r/dev/sub"
	mkdir "$r/mnt/mp-dir"
	: >"$r/mnt/mp-file"
	: >"$r/.lock"
	echo keep >"$r/mnt/normal-file"
	capsa_chown "$r"
	chmod 0000 "$r/mnt/mp-dir" "$r/mnt/mp-file"
	run capsa export busybox
	assert_success
	run sqsh_list "$WORK/busybox.sqsh"
	assert_no_line_matching ' squashfs-root/dev/.'
	assert_no_line_matching ' squashfs-root/mnt/mp-dir$'
	assert_no_line_matching ' squashfs-root/mnt/mp-file$'
	assert_no_line_matching ' squashfs-root/\.lock$'
	assert_output_contains ' squashfs-root/mnt/normal-file'
	assert_output_contains ' squashfs-root/etc/passwd'
}

@test "export: nonexistent container is an error, no output file" {
	run --separate-stderr capsa export nosuch
	assert_error
	assert_not_exists "$WORK/nosuch.sqsh"
}

@test "export: a started container's changes are exported" {
	create_busybox
	run capsa start --rw busybox /probe write /added.txt hello
	assert_success
	run capsa export busybox
	assert_success
	run capsa create -n copy "$WORK/busybox.sqsh"
	assert_success
	[ "$(cat "$DATA/copy/added.txt")" = hello ]
}
