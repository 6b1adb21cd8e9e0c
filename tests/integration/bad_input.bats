#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# Hostile or broken input: fstab files, mount sources, hooks, running as root.

load helpers

setup() {
	capsa_setup
	create_busybox
}
teardown() { capsa_teardown; }

# enroot-mount: a line that is only an options field leaves source and target
# empty -> "invalid fstab entry: "<line>" at <file>" (enroot.md §5.9).  enroot
# names its concatenated $RUNTIME/fstab; capsa should name the original file
# (and the line), which is what this test asserts.
@test "a bad fstab line in mounts.d is an error naming the file and the line" {
	write_file "$SYSCONF/mounts.d/50-bad.fstab" 0644 <<-'EOF'
	# first line is a comment
	rw,nosuid
	EOF
	run --separate-stderr capsa start busybox /probe write /dev/null ran
	assert_failure
	[[ $stderr == *50-bad.fstab* ]] || { echo "error does not name the file: $stderr" >&2; false; }
	[[ $stderr == *rw,nosuid* || $stderr =~ 50-bad\.fstab:[0-9]+ ]] || {
		echo "error shows neither the line nor its number: $stderr" >&2
		false
	}
	assert_output_not_contains ran
}

@test "an fstab entry that fails to mount is an error naming the target" {
	write_file "$SYSCONF/mounts.d/50-fail.fstab" 0644 <<-'EOF'
	tmpfs /mnt/badtmp tmpfs x-create=dir,size=not-a-size
	EOF
	run --separate-stderr capsa start busybox /probe id
	assert_failure
	[[ $stderr == */mnt/badtmp* ]] || { echo "error does not name the target: $stderr" >&2; false; }
	[ -z "$output" ] || { echo "the container ran: $output" >&2; false; }
}

@test "nofail makes a failing fstab entry non-fatal" {
	write_file "$SYSCONF/mounts.d/50-nofail.fstab" 0644 <<-'EOF'
	/nonexistent-capsa-src /mnt/nofail none x-create=dir,bind,nofail,silent
	EOF
	run --separate-stderr capsa start busybox /probe id
	assert_success
	assert_output_eq "uid=$TUID gid=$TGID euid=$TUID egid=$TGID"
}

@test "a missing mount source is an error (-m and mounts.d)" {
	run --separate-stderr capsa start -m /nonexistent-capsa-src:/mnt/x busybox /probe id
	assert_failure
	[[ $stderr == *nonexistent-capsa-src* ]] || { echo "error does not name the source: $stderr" >&2; false; }
	[ -z "$output" ] || { echo "the container ran: $output" >&2; false; }
	write_file "$SYSCONF/mounts.d/50-missing.fstab" 0644 <<-'EOF'
	/nonexistent-capsa-src2 /mnt/y none x-create=dir,bind
	EOF
	run --separate-stderr capsa start busybox /probe id
	assert_failure
	[[ $stderr == *nonexistent-capsa-src2* ]] || { echo "error does not name the source: $stderr" >&2; false; }
}

@test "a mount target that escapes the rootfs through a symlink stays inside" {
	# enroot-mount resolves targets inside --root: an absolute symlink restarts
	# at the rootfs (enroot.md §5.9).  Nothing may be mounted on the host path.
	ln -s "$SHARED/outside" "$DATA/busybox/mnt/escape"
	mkdir -p "$SHARED/outside"
	capsa_chown "$DATA/busybox/mnt/escape" "$SHARED/outside"
	echo data >"$WORK/src"
	capsa_chown "$WORK/src"
	run --separate-stderr capsa start -m "$WORK:/mnt/escape/target" busybox /probe cat /mnt/escape/target/src
	# either it is mounted inside the rootfs at $SHARED/outside/target, or refused
	if [ "$status" -eq 0 ]; then
		assert_output_eq data
	fi
	[ -z "$(ls -A "$SHARED/outside")" ] || { echo "something was created outside the rootfs" >&2; ls -la "$SHARED/outside" >&2; false; }
}

@test "a failing hook is an error: '<file> exited with return code N', the command does not run" {
	write_file "$SYSCONF/hooks.d/50-fail.sh" 0755 <<-'EOF'
	#!/bin/bash
	exit 3
	EOF
	run --separate-stderr capsa start busybox /probe write /dev/null ran
	assert_error "exited with return code 3"
	[[ $stderr == *50-fail.sh* ]]
	assert_output_not_contains ran
}

@test "a broken capsa.conf is 'Invalid configuration file'" {
	write_file "$SYSCONF/capsa.conf" 0644 <<-'EOF'
	ENROOT_ROOTFS_WRITABLE $(
	EOF
	run capsa list
	assert_status 1
	# enroot prints this on stdout; either stream is fine here
	assert_output_contains_i "Invalid configuration file"
}

@test "an unwritable runtime path aborts with an error, not a crash" {
	mkdir -p "$T/ro-parent"
	chmod 0555 "$T/ro-parent"
	run --separate-stderr capsa_env CAPSA_RUNTIME_PATH="$T/ro-parent/runtime" start busybox /probe id
	assert_error
}

# security.md §3 "Caches, tmp, umask" / K09: /tmp/capsa-runtime-UID (the
# fallback runtime path) is predictable, so another user can create it first.
@test "a runtime path planted by another user as a symlink is refused, naming the path and the fix" {
	require_root
	[ ! -d "/run/user/$TUID" ] || skip "/run/user/$TUID exists: the /tmp fallback is not used"
	chmod 1777 "$T/tmp" # as /tmp is
	local rt=$T/tmp/capsa-runtime-$TUID
	mkdir -m 0700 "$T/users-dir" "$T/roots-dir"
	chown "$TUID:$TGID" "$T/users-dir"
	for target in "$T/users-dir" "$T/roots-dir"; do
		ln -sfn "$target" "$rt"
		run --separate-stderr capsa_env -u CAPSA_RUNTIME_PATH -u XDG_RUNTIME_DIR TMPDIR="$T/tmp" list
		assert_error "CAPSA_RUNTIME_PATH: '$rt' is a symbolic link owned by uid 0, not by you: remove it or use another directory"
	done
	rm "$rt"
	run --separate-stderr capsa_env -u CAPSA_RUNTIME_PATH -u XDG_RUNTIME_DIR TMPDIR="$T/tmp" list
	assert_success
	[ "$(stat -c '%u %a %F' "$rt")" = "$TUID 700 directory" ]
}

@test "a runtime directory owned by another user, or writable by others, is refused" {
	require_root
	rm -rf "$RUNTIME" # made by create_busybox
	mkdir -m 0755 "$RUNTIME" # root's
	run --separate-stderr capsa list
	assert_error "CAPSA_RUNTIME_PATH: '$RUNTIME' is owned by uid 0, not by you: remove it or use another directory"
	chmod 0700 "$RUNTIME" # not even traversable: still named as root's
	run --separate-stderr capsa list
	assert_error "'$RUNTIME' is owned by uid 0, not by you"
	# Ours but group-writable: refused rather than fixed, as something may
	# already have been planted in it.
	chown "$TUID:$TGID" "$RUNTIME"
	chmod 0770 "$RUNTIME"
	run --separate-stderr capsa list
	assert_error "CAPSA_RUNTIME_PATH: '$RUNTIME' is writable by group or others (mode 0770): run chmod go-w '$RUNTIME'"
	chmod 0700 "$RUNTIME"
	run --separate-stderr capsa list
	assert_success
	# The same rule for the data and cache paths.
	chmod 0777 "$DATA"
	run --separate-stderr capsa list
	assert_error "CAPSA_DATA_PATH: '$DATA' is writable by group or others (mode 0777)"
}

@test "as real root without CAPSA_ALLOW_SUPERUSER a user namespace is still used" {
	require_root
	run --separate-stderr capsa_as_root create -n rootbox "$FIX/busybox.sqsh"
	assert_success
	run --separate-stderr capsa_as_root start rootbox /probe uidmap -- id
	assert_success
	assert_output_eq "$(printf '0 0 1\nuid=0 gid=0 euid=0 egid=0')"
	# ENROOT_ALLOW_SUPERUSER / CAPSA_ALLOW_SUPERUSER: no user namespace at all
	run --separate-stderr capsa_as_root CAPSA_ALLOW_SUPERUSER=y start rootbox /probe uidmap
	assert_success
	assert_output_eq "0 0 4294967295"
	run --separate-stderr capsa_as_root ENROOT_ALLOW_SUPERUSER=y start rootbox /probe uidmap
	assert_output_eq "0 0 4294967295"
	run --separate-stderr capsa_as_root CAPSA_ALLOW_SUPERUSER=n start rootbox /probe uidmap
	assert_output_eq "0 0 1"
}

@test "a rootfs without /bin/sh still runs an absolute command, or fails cleanly" {
	rm "$DATA/busybox/bin/sh"
	run capsa start busybox /probe id
	# enroot needs a shell (switchroot execs SHELL -c); either way no hang, and
	# a failure must be reported
	if [ "$status" -ne 0 ]; then
		[ -n "$output" ] || { echo "failed silently" >&2; false; }
	else
		assert_output_eq "uid=$TUID gid=$TGID euid=$TUID egid=$TGID"
	fi
}
