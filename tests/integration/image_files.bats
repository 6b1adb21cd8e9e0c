#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # status/output/stderr come from bats' run; ${X} is literal on purpose
# SPDX-License-Identifier: Apache-2.0
# Files an image brings that capsa reads on the host side before pivot_root
# (security.md §0, §3 "Image-driven mounts", "Env injection", §7.1 X28/X29):
# /etc/fstab and /etc/environment under CAPSA_IMAGE_MOUNTS/CAPSA_IMAGE_ENVIRON,
# FIFOs and huge files where capsa expects a regular file, and control bytes
# in values that go into an fstab line.

load helpers

setup() {
	capsa_setup
	create_busybox
	ROOT=$DATA/busybox
}
teardown() { capsa_teardown; }

# image_file PATH-IN-ROOTFS <<< content: write a file into the container's rootfs.
image_file() {
	write_file "$ROOT$1" 0644
}

# image_fifo PATH-IN-ROOTFS: replace a file of the container's rootfs by a FIFO.
image_fifo() {
	rm -f "$ROOT$1"
	mkfifo -m 0644 "$ROOT$1"
	capsa_chown "$ROOT$1"
}

# A start that would block is cut short; 124 means it hung.
run_bounded() {
	local CAPSA_TEST_TIMEOUT=20
	run --separate-stderr "$@"
	[ "$status" -ne 124 ] && [ "$status" -ne 137 ] || {
		echo "capsa hung (killed after ${CAPSA_TEST_TIMEOUT}s): $stderr" >&2
		false
	}
}

# --- FIFOs and huge files where a regular file is expected ----------------------

@test "image files: a FIFO /etc/fstab fails the start with a clear error, no hang" {
	image_fifo /etc/fstab
	run_bounded capsa start busybox /probe id
	assert_error "/etc/fstab"
	[[ $stderr == *"regular file"* ]]
}

@test "image files: a FIFO /etc/environment fails the start with a clear error, no hang" {
	image_fifo /etc/environment
	run_bounded capsa start busybox /probe id
	assert_error "/etc/environment"
	[[ $stderr == *"regular file"* ]]
}

@test "image files: a FIFO /etc/passwd fails the start with a clear error, no hang" {
	image_fifo /etc/passwd
	run_bounded capsa start busybox /probe id
	assert_error "/etc/passwd"
	[[ $stderr == *"regular file"* ]]
}

@test "image files: a FIFO /etc/login.defs fails the start with a clear error, no hang" {
	image_fifo /etc/login.defs
	run_bounded capsa start busybox /probe id
	assert_error "/etc/login.defs"
	[[ $stderr == *"regular file"* ]]
}

@test "image files: a FIFO /etc/rc fails the start with a clear error, no hang" {
	image_fifo /etc/rc
	run_bounded capsa start busybox /probe id
	assert_error "/etc/rc"
	[[ $stderr == *"regular file"* ]]
}

@test "image files: a FIFO /.lock fails start with a clear error; remove still works" {
	image_fifo /.lock
	run_bounded capsa start busybox /probe id
	assert_error ".lock"
	[[ $stderr == *"regular file"* ]]
	run_bounded capsa remove -f busybox
	assert_success
	assert_not_exists "$ROOT"
}

@test "image files: a 100 MB /etc/group is refused with a clear error naming the limit" {
	rm -f "$ROOT/etc/group"
	truncate -s 100M "$ROOT/etc/group"
	capsa_chown "$ROOT/etc/group"
	run_bounded capsa start busybox /probe id
	assert_error "/etc/group"
	[[ $stderr == *"larger than"* ]]
}

@test "image files: a symlinked /etc/passwd is refused, the target outside is untouched" {
	echo 'outside:x:1:1::/:/bin/sh' >"$SHARED/passwd"
	capsa_chown "$SHARED/passwd"
	rm -f "$ROOT/etc/passwd"
	ln -s "../../../shared/passwd" "$ROOT/etc/passwd"
	capsa_chown "$ROOT/etc/passwd"
	run_bounded capsa start busybox /probe id
	[ "$(cat "$SHARED/passwd")" = 'outside:x:1:1::/:/bin/sh' ]
}

# --- control bytes in fstab values -------------------------------------------------

@test "MOUNT_HOME: a HOME with a newline fails with a clear error and mounts nothing" {
	local home
	for home in $'/tmp\n/ /mnt none bind,rw' $'/\nx' $'/tmp\n'; do
		run_bounded capsa_env ENROOT_MOUNT_HOME=y "HOME=$home" start busybox /probe mountinfo
		assert_failure || return 1
		[[ $stderr == *"control character"* || $stderr == *"blanks"* ]] || {
			echo "unclear error for HOME=${home@Q}: $stderr" >&2
			return 1
		}
		assert_output_not_contains " /mnt " || return 1
	done
}

@test "fstab: a control byte in a mounts.d entry or -m is an error naming the file and line" {
	printf '/tmp /mnt/a\001b none bind\n' >"$SYSCONF/mounts.d/50-ctl.fstab"
	run_bounded capsa start busybox /probe id
	assert_error "50-ctl.fstab:1"
	[[ $stderr == *"control character"* ]]
	rm "$SYSCONF/mounts.d/50-ctl.fstab"
	# an octal escape decodes to a newline: refused too
	printf '/tmp /mnt/a\\012b none bind\n' >"$SYSCONF/mounts.d/50-ctl.fstab"
	run_bounded capsa start busybox /probe id
	assert_error "control character"
	rm "$SYSCONF/mounts.d/50-ctl.fstab"
	run_bounded capsa start -m $'/tmp:/mnt/a\x7f' busybox /probe id
	assert_error "control character"
}
