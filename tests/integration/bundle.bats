#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa bundle [-a] [-c] [-d TEXT] [-o BUNDLE] [-t DIR] [-f] IMAGE and the
# resulting .run file with its runtime flags (enroot.md §6).  Every bundle
# runs as the unprivileged test user, through sh, like a user would.

load helpers

setup() {
	capsa_setup
	IMG=$WORK/busybox.sqsh
	cp "$FIX/busybox.sqsh" "$IMG"
	capsa_chown "$IMG"
}
teardown() { capsa_teardown; }

# run_bundle [NAME=VALUE]... BUNDLE [ARG...]: sh BUNDLE ARGS as the test
# user, with the same clean environment capsa gets, from $WORK.
run_bundle() {
	local -a _cmd _pre _rest
	_capsa_split_env "$@"
	_capsa_cmd user "${_pre[@]}" -- "${_rest[@]}"
	# _cmd ends with: capsa ARGS...; run "sh BUNDLE ARGS..." in its place.
	_cmd=("${_cmd[@]:0:${#_cmd[@]}-${#_rest[@]}-1}" sh "${_rest[@]}")
	(cd "$WORK" && exec "${_cmd[@]}")
}

# Nothing of a run may stay in the temporary directory.
assert_tmp_clean() {
	local left
	sleep 0.2 # the reaper removes the runtime right after the container exits
	left=$(ls -A "$T/tmp")
	[ -z "$left" ] || { echo "left in TEMP_PATH: $left" >&2; false; }
}

@test "bundle IMAGE writes IMAGE.run; it runs a command and passes its exit code through" {
	run capsa bundle busybox.sqsh
	assert_success
	[ -x "$WORK/busybox.run" ]
	[ "$(head -n 1 "$WORK/busybox.run")" = "#!/bin/sh" ] || { head -3 "$WORK/busybox.run" >&2; false; }
	run --separate-stderr run_bundle busybox.run /bin/sh -c 'echo inside; cat /etc/hostname >/dev/null; exit 7'
	assert_status 7
	assert_output_eq inside
	assert_tmp_clean
	run --separate-stderr run_bundle busybox.run /probe id
	assert_success
	[[ $output == *"uid=$TUID "* ]] || { echo "not the caller's uid: $output" >&2; false; }
	if [ "${CAPSA_TEST_FUSE:-0}" = 1 ]; then
		# started in place: the root is the overlay over the bundle's image
		run --separate-stderr run_bundle busybox.run /bin/sh -c "grep -c '^overlay / ' /proc/mounts"
		assert_output_eq 1
	fi
}

@test "bundle -o -t -d: -i shows description, compression, target, size; -c adds the checksum" {
	run capsa bundle -o "$WORK/out.run" -t mytarget -d "it's a test" busybox.sqsh
	assert_success
	run --separate-stderr run_bundle out.run -i
	assert_success
	assert_line_eq "Description: it's a test"
	assert_line_eq "Compression: $(unsquashfs -s "$IMG" | awk '/^Compression/ { print $2 }')"
	assert_line_eq "Target directory: mytarget"
	assert_line_eq "Runtime version: $("$CAPSA_BIN" version)"
	assert_no_line_matching '^Checksum'
	local kb
	kb=$(unsquashfs -lln "$IMG" | awk '$1 ~ /^-/ { s += $3 } END { printf "%d", (s + 1023) / 1024 }')
	assert_line_eq "Uncompressed size: $kb KB"
	assert_tmp_clean
	run capsa bundle -c --output sum.run busybox.sqsh
	assert_success
	run --separate-stderr run_bundle sum.run --info
	assert_success
	assert_line_eq "Checksum: sha256:$(tail -c "$(stat -c %s "$IMG")" "$WORK/sum.run" | sha256sum | cut -d' ' -f1)"
}

@test "bundle: an existing output needs -f; a non-image is refused; nothing partial is left" {
	echo original >"$WORK/busybox.run"
	capsa_chown "$WORK/busybox.run"
	run --separate-stderr capsa bundle busybox.sqsh
	assert_error "already exists"
	[ "$(cat "$WORK/busybox.run")" = original ]
	run capsa bundle -f busybox.sqsh
	assert_success
	run --separate-stderr run_bundle busybox.run /bin/true
	assert_success
	head -c 100000 /dev/urandom >"$WORK/junk.sqsh"
	capsa_chown "$WORK/junk.sqsh"
	run --separate-stderr capsa bundle junk.sqsh
	assert_error "not a squashfs"
	run ls -A "$WORK"
	[ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "busybox.run busybox.sqsh junk.sqsh " ] ||
		{ echo "unexpected files: ${lines[*]}" >&2; false; }
}

@test "bundle -c: a corrupt or truncated bundle is refused before anything runs" {
	run capsa bundle -c busybox.sqsh
	assert_success
	cp "$WORK/busybox.run" "$WORK/bad.run"
	# flip one byte in the middle of the image payload
	local size off
	size=$(stat -c %s "$WORK/bad.run")
	off=$((size - $(stat -c %s "$IMG") / 2))
	printf '\xff' | dd of="$WORK/bad.run" bs=1 seek="$off" conv=notrunc status=none
	capsa_chown "$WORK/bad.run"
	run --separate-stderr run_bundle bad.run /bin/sh -c 'echo ran'
	assert_error "Checksum validation failed"
	assert_output_not_contains ran
	assert_tmp_clean
	head -c $((size - 4096)) "$WORK/busybox.run" >"$WORK/short.run"
	capsa_chown "$WORK/short.run"
	run --separate-stderr run_bundle short.run /bin/sh -c 'echo ran'
	assert_error "truncated"
	assert_tmp_clean
}

@test "bundle -x extracts into the target (the image's tree); -k runs from it; an existing target is refused" {
	run capsa bundle -t kept busybox.sqsh
	assert_success
	run --separate-stderr run_bundle busybox.run -x -q
	assert_success
	[ -d "$WORK/kept" ] && [ -d "$WORK/.kept" ]
	[ "$(stat -c %a "$WORK/kept")" = 700 ]
	unsquashfs -q -d "$T/ref" "$IMG" >/dev/null
	diff <(tree_dump "$T/ref" | grep -v '^	') <(tree_dump "$WORK/kept" | grep -v '^	')
	cmp "$T/ref/bin/busybox" "$WORK/kept/bin/busybox"
	run --separate-stderr run_bundle busybox.run -k /bin/true
	assert_error "already exists"
	rm -rf "${WORK:?}/kept" "$WORK/.kept"
	run --separate-stderr run_bundle busybox.run -k -q -w /bin/sh -c 'echo made >/made-here'
	assert_success
	[ "$(cat "$WORK/kept/made-here")" = made ]
	assert_tmp_clean
}

# .NAME beside the target becomes the runtime path: another user's is refused.
@test "bundle -x/-k: a .NAME runtime directory planted by another user is refused" {
	require_root
	run capsa bundle -t kept busybox.sqsh
	assert_success
	mkdir -m 0700 "$T/users-dir"
	chown "$TUID:$TGID" "$T/users-dir"
	ln -s "$T/users-dir" "$WORK/.kept"
	run --separate-stderr run_bundle busybox.run -x -q
	assert_error "'$WORK/.kept' is a symbolic link owned by uid 0, not by you: remove it"
	assert_not_exists "$WORK/kept"
	rm "$WORK/.kept"
	mkdir -m 0755 "$WORK/.kept"
	run --separate-stderr run_bundle busybox.run -k -q /bin/true
	assert_error "'$WORK/.kept' is owned by uid 0, not by you: remove it"
	assert_not_exists "$WORK/kept"
	rmdir "$WORK/.kept"
	run --separate-stderr run_bundle busybox.run -k -q /bin/true
	assert_success
	[ "$(stat -c '%u %a' "$WORK/.kept")" = "$TUID 700" ]
}

@test "bundle run: start options pass through (-e, -m, -w, --rc); no -w means read-only" {
	run capsa bundle busybox.sqsh
	assert_success
	mkdir -p "$SHARED/in"
	echo hostdata >"$SHARED/in/f"
	capsa_chown "$SHARED"
	run --separate-stderr run_bundle busybox.run -e FOO=bar -m "$SHARED/in:/mnt/in" /bin/sh -c \
		'echo "$FOO"; cat /mnt/in/f; touch /ro 2>/dev/null && echo writable || echo readonly'
	assert_success
	assert_output_eq "bar
hostdata
readonly"
	run --separate-stderr run_bundle busybox.run -w /bin/sh -c 'touch /rw && echo writable'
	assert_success
	assert_output_eq writable
	write_file "$WORK/rc" 0644 <<<'echo "from rc: $*"'
	run --separate-stderr run_bundle busybox.run --rc "$WORK/rc" a b
	assert_success
	assert_output_eq "from rc: a b"
}

@test "bundle: the building host's configuration travels, the running host's is not used; -a adds user settings" {
	echo BUILT=yes >"$SYSCONF/environ.d/50-built.env"
	echo FROMUSER=yes >"$CONFIG/environ.d/50-user.env"
	capsa_chown "$SYSCONF" "$CONFIG"
	run capsa bundle -o plain.run busybox.sqsh
	assert_success
	run capsa CAPSA_ROOTFS_WRITABLE=y bundle -a -o all.run busybox.sqsh
	assert_success
	echo HOSTONLY=yes >"$SYSCONF/environ.d/60-host.env"
	capsa_chown "$SYSCONF"
	local show='echo "BUILT=${BUILT:-} FROMUSER=${FROMUSER:-} HOSTONLY=${HOSTONLY:-}"; touch /w 2>/dev/null && echo rw || echo ro'
	run --separate-stderr run_bundle plain.run /bin/sh -c "$show"
	assert_success
	assert_output_eq "BUILT=yes FROMUSER= HOSTONLY=
ro"
	run --separate-stderr run_bundle all.run /bin/sh -c "$show"
	assert_success
	assert_output_eq "BUILT=yes FROMUSER=yes HOSTONLY=
rw"
}

@test "bundle run: without a usable /dev/fuse the image is extracted to TEMP_PATH and removed afterwards" {
	require_root
	run capsa bundle busybox.sqsh
	assert_success
	local -a _cmd
	_capsa_cmd user -- busybox.run /bin/sh -c "grep -c '^overlay / ' /proc/mounts; exit 5"
	_cmd=("${_cmd[@]:0:${#_cmd[@]}-5}" sh busybox.run /bin/sh -c "grep -c '^overlay / ' /proc/mounts; exit 5")
: >"$T/nofuse"
	chmod 000 "$T/nofuse"
	run --separate-stderr unshare -m --propagation private sh -c \
		'mount --bind "$0" /dev/fuse && cd "$1" && shift && exec "$@"' "$T/nofuse" "$WORK" "${_cmd[@]}"
	assert_status 5
	assert_output_eq 0
	assert_tmp_clean
}

@test "bundle run: an unknown option prints the usage and exits 0 (as enroot); -v checks the host" {
	run capsa bundle busybox.sqsh
	assert_success
	run --separate-stderr run_bundle busybox.run --no-such-option
	assert_success
	assert_output_contains "Usage:"
	assert_output_contains "--extract"
	run --separate-stderr run_bundle busybox.run -v
	assert_success
	assert_output_contains "Kernel version:"
	assert_output_contains "User and mount namespaces for this user"
	assert_tmp_clean
}

@test "bundle run: a noexec TMPDIR gives an error with the fix and leaves nothing" {
	require_root
	run capsa bundle busybox.sqsh
	assert_success
	local -a _cmd
	mkdir -p "$T/noexec"
	_capsa_cmd user TMPDIR="$T/noexec" CAPSA_TEMP_PATH="$T/noexec" PATH=/usr/bin:/bin -- busybox.run /bin/true
	_cmd=("${_cmd[@]:0:${#_cmd[@]}-3}" sh busybox.run /bin/true)
	run --separate-stderr unshare -m --propagation private sh -c \
		'mount -t tmpfs -o noexec,mode=1777 tmpfs "$0" && cd "$1" && shift && "$@"; rc=$?; ls -A "$0" >&2; exit $rc' \
		"$T/noexec" "$WORK" "${_cmd[@]}"
	assert_error "noexec"
	[[ $stderr == *"CAPSA_TEMP_PATH"* ]] || { echo "$stderr" >&2; false; }
	[[ $stderr != *capsa-bundle.* ]] || { echo "left in TMPDIR: $stderr" >&2; false; }
}
