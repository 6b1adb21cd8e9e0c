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

# --- CAPSA_IMAGE_MOUNTS ---------------------------------------------------------

secret_home() {
	mkdir -p "$TEST_HOME/.ssh"
	echo host-secret >"$TEST_HOME/.ssh/id_rsa"
	capsa_chown "$TEST_HOME/.ssh"
}

@test "image mounts: by default an image fstab cannot bind \${HOME}/.ssh (error names file, line, setting)" {
	secret_home
	image_file /etc/fstab <<-'EOF'
	# a comment
	${HOME}/.ssh /mnt/k none x-create=dir,bind,rw
	EOF
	run --separate-stderr capsa start busybox /probe cat /mnt/k/id_rsa
	assert_error "image /etc/fstab:2"
	[[ $stderr == *CAPSA_IMAGE_MOUNTS=enroot* ]] || { echo "setting not named: $stderr" >&2; false; }
	assert_output_not_contains host-secret
	# ${HOME} is allowed in the text, but the source is then a host path
	image_file /etc/fstab <<<"$TEST_HOME/.ssh /mnt/k none x-create=dir,bind,ro"
	run --separate-stderr capsa start busybox /probe cat /mnt/k/id_rsa
	assert_error "not inside the container rootfs"
}

@test "image mounts: host paths, / and relative sources are refused; site mounts are not affected" {
	local src
	for src in / /etc ./ tmp ../../shared; do
		image_file /etc/fstab <<<"$src /mnt/h none x-create=dir,rbind"
		run --separate-stderr capsa start busybox /probe ls /mnt/h
		assert_error "image /etc/fstab:1" || return 1
		[[ $stderr == *CAPSA_IMAGE_MOUNTS=enroot* ]] || { echo "source $src: $stderr" >&2; return 1; }
	done
	# the same line from mounts.d is the site's choice
	echo site >"$SHARED/file"
	capsa_chown "$SHARED/file"
	: >"$ROOT/etc/fstab"
	write_file "$SYSCONF/mounts.d/50-site.fstab" 0644 <<<"\${MY_SRC} /mnt/site none x-create=dir,bind,ro"
	run --separate-stderr capsa_env MY_SRC="$SHARED" start busybox /probe cat /mnt/site/file
	assert_success
	assert_output_eq site
}

@test "image mounts: a symlink inside the rootfs cannot lead a source out" {
	mkdir -p "$SHARED/escape-target" "$ROOT/shared"
	echo outside >"$SHARED/marker"
	echo inside >"$ROOT/shared/marker"
	ln -s ../../shared "$ROOT/escape"
	ln -s "$SHARED" "$ROOT/escape-abs"
	capsa_chown "$SHARED" "$ROOT/shared" "$ROOT/escape" "$ROOT/escape-abs"
	image_file /etc/fstab <<<'${ENROOT_ROOTFS}/escape /mnt/e none x-create=dir,bind,ro'
	run --separate-stderr capsa start busybox /probe cat /mnt/e/marker
	assert_success
	assert_output_eq inside
	# an absolute link restarts at the container root, where $SHARED is missing
	image_file /etc/fstab <<<'${CAPSA_ROOTFS}/escape-abs /mnt/e none x-create=dir,bind,ro'
	run --separate-stderr capsa start busybox /probe cat /mnt/e/marker
	assert_failure
	assert_output_not_contains outside
	# and .. never climbs above the rootfs
	image_file /etc/fstab <<<'${ENROOT_ROOTFS}/../../shared /mnt/e none x-create=dir,bind,ro'
	run --separate-stderr capsa start busybox /probe cat /mnt/e/marker
	assert_success
	assert_output_eq inside
}

@test "image mounts: pseudo filesystems are allowed; bind of none/tmpfs and path-carrying types are not" {
	image_file /etc/fstab <<-'EOF'
	tmpfs /mnt/t tmpfs x-create=dir,size=1m
	none /mnt/n tmpfs x-create=dir,mode=700
	EOF
	run --separate-stderr capsa start busybox /probe mountinfo
	assert_success
	assert_output_contains "/mnt/t tmpfs"
	assert_output_contains "/mnt/n tmpfs"
	local line
	for line in 'none /mnt/x none x-create=dir,bind' 'tmpfs /mnt/x tmpfs x-create=dir,bind' \
		'none /mnt/x none x-create=dir,x-move' 'none /proc none remount,rw' 'none /mnt/x none rshared' \
		"none /mnt/x overlay x-create=dir,lowerdir=$SHARED,upperdir=/u,workdir=/w"; do
		image_file /etc/fstab <<<"$line"
		run --separate-stderr capsa start busybox /probe id
		assert_error "image /etc/fstab:1" || { echo "line: $line" >&2; return 1; }
		[[ $stderr == *CAPSA_IMAGE_MOUNTS=enroot* ]] || { echo "line $line: $stderr" >&2; return 1; }
	done
}

@test "image mounts: image volumes (\${ENROOT_ROOTFS}/VOL) still work in restricted mode" {
	create_enroot_format
	run --separate-stderr capsa start busybox-enroot /probe write /data/vol ok
	assert_success
	[ "$(cat "$DATA/busybox-enroot/data/vol")" = ok ]
}

@test "image mounts: an image volume missing from the tree is created and bound onto itself (restricted mode)" {
	image_file /etc/fstab <<<'${ENROOT_ROOTFS}/novol /novol none x-create=dir,bind,rw,nosuid,nodev'
	[ ! -e "$ROOT/novol" ]
	run --separate-stderr capsa start busybox /probe mountinfo
	assert_success
	grep -q "^/novol " <<<"$output" || { echo "$output" >&2; false; }
	[ -d "$ROOT/novol" ]
}

@test "image mounts: CAPSA_IMAGE_MOUNTS=enroot (or ENROOT_IMAGE_MOUNTS) restores enroot's behaviour" {
	secret_home
	image_file /etc/fstab <<<'${HOME}/.ssh /mnt/k none x-create=dir,bind,ro'
	run --separate-stderr capsa_env CAPSA_IMAGE_MOUNTS=enroot start busybox /probe cat /mnt/k/id_rsa
	assert_success
	assert_output_eq host-secret
	run --separate-stderr capsa_env ENROOT_IMAGE_MOUNTS=enroot start busybox /probe cat /mnt/k/id_rsa
	assert_success
	assert_output_eq host-secret
	run --separate-stderr capsa_env CAPSA_IMAGE_MOUNTS=restricted start busybox /probe cat /mnt/k/id_rsa
	assert_error "CAPSA_IMAGE_MOUNTS"
	run --separate-stderr capsa_env CAPSA_IMAGE_MOUNTS=bogus start busybox /probe id
	assert_error "CAPSA_IMAGE_MOUNTS"
}

# --- CAPSA_IMAGE_ENVIRON --------------------------------------------------------

@test "image environ: \${VAR} in /etc/environment sees only the allowlist by default" {
	image_file /etc/environment <<-'EOF'
	K=${AWS_SECRET_ACCESS_KEY}
	S=${CAPSA_DATA_PATH}
	H=${HOME}
	R=${ENROOT_ROOTFS}
	L=${LC_ALL}
	EOF
	run --separate-stderr capsa_env AWS_SECRET_ACCESS_KEY=hunter2 start busybox \
		/probe getenv K -- getenv S -- getenv H -- getenv R -- getenv L
	assert_success
	assert_output_eq "$(printf '\n\n%s\n%s\nC' "$TEST_HOME" "$ROOT")"
	[[ $stderr == *AWS_SECRET_ACCESS_KEY* ]] || { echo "no warning: $stderr" >&2; false; }
	[[ $stderr == *CAPSA_IMAGE_ENVIRON* ]] || { echo "setting not named: $stderr" >&2; false; }
	[[ $stderr != *hunter2* ]]
}

@test "image environ: CAPSA_IMAGE_ENVIRON=enroot substitutes the host environment; environ.d is not affected" {
	image_file /etc/environment <<<'K=${AWS_SECRET_ACCESS_KEY}'
	run --separate-stderr capsa_env AWS_SECRET_ACCESS_KEY=hunter2 CAPSA_IMAGE_ENVIRON=enroot start busybox /probe getenv K
	assert_success
	assert_output_eq hunter2
	run --separate-stderr capsa_env AWS_SECRET_ACCESS_KEY=hunter2 ENROOT_IMAGE_ENVIRON=enroot start busybox /probe getenv K
	assert_output_eq hunter2
	: >"$ROOT/etc/environment"
	write_file "$CONFIG/environ.d/50-site.env" 0644 <<<'K=${AWS_SECRET_ACCESS_KEY}'
	run --separate-stderr capsa_env AWS_SECRET_ACCESS_KEY=hunter2 start busybox /probe getenv K
	assert_success
	assert_output_eq hunter2
	run --separate-stderr capsa_env CAPSA_IMAGE_ENVIRON=nonsense start busybox /probe id
	assert_error "CAPSA_IMAGE_ENVIRON"
}

@test "image environ: the image fstab's \${VAR} sees only the allowlist too" {
	mkdir -p "$ROOT/vol"
	capsa_chown "$ROOT/vol"
	# MY_DIR is not allowed: it expands to empty, so the source is the rootfs itself
	image_file /etc/fstab <<<'${ENROOT_ROOTFS}${MY_DIR} /mnt/v none x-create=dir,bind,ro'
	run --separate-stderr capsa_env MY_DIR=/vol start busybox /probe ls /mnt/v
	assert_success
	assert_line_eq probe
}

# --- FIFOs and huge files where a regular file is expected ----------------------

@test "image files: a FIFO at /etc/fstab, environment, passwd, login.defs or rc fails the start clearly, no hang" {
	local f
	for f in /etc/fstab /etc/environment /etc/passwd /etc/login.defs /etc/rc; do
		cp -a "$ROOT$f" "$T/saved" 2>/dev/null || rm -f "$T/saved"
		image_fifo "$f"
		run_bounded capsa start busybox /probe id
		assert_error "$f" || return 1
		[[ $stderr == *"regular file"* ]] || { echo "$f: $stderr" >&2; return 1; }
		rm -f "$ROOT$f"
		[ ! -e "$T/saved" ] || mv "$T/saved" "$ROOT$f"
	done
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

@test "image files: a symlinked /etc/passwd is followed inside the rootfs only; the file outside is untouched" {
	echo 'outside:x:1:1::/:/bin/sh' >"$SHARED/passwd"
	capsa_chown "$SHARED/passwd"
	mv "$ROOT/etc/passwd" "$ROOT/etc/passwd.real"
	ln -s "../../../shared/passwd" "$ROOT/etc/passwd"
	capsa_chown "$ROOT/etc/passwd"
	run_bounded capsa start busybox /probe cat /etc/passwd
	[[ $output != *outside:x:* ]] || { echo "read the host's file: $output" >&2; false; }
	[ "$(cat "$SHARED/passwd")" = 'outside:x:1:1::/:/bin/sh' ]
	# A link that stays inside is read like the file itself (enroot follows it).
	rm "$ROOT/etc/passwd"
	ln -s passwd.real "$ROOT/etc/passwd"
	capsa_chown "$ROOT/etc/passwd"
	run_bounded capsa start busybox /probe cat /etc/passwd
	assert_success
	[[ $output == *"$TUSER:x:$TUID:"* ]] || { echo "$output" >&2; false; }
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
