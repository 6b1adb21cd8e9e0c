# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# Idempotent environment setup for capsa's integration tests and benchmarks.
# Sourced (not executed) by tests/run, by tests/integration/helpers.bash when
# bats is run directly, and by bench/start.  Never exits the caller: when the
# integration tests cannot run, it sets CAPSA_SKIP_INTEGRATION to the reason.
#
# Root:     creates the unprivileged user $CAPSA_TEST_USER (default capsatest,
#           `useradd -m`), makes /dev/fuse usable (chmod 666, testbed.md §6.3),
#           enables unprivileged user namespaces if they are switched off.
# Anybody:  builds the fixtures (tests/fixtures/mkrootfs.sh + the static probe)
#           once into tests/tmp/fixtures, and makes the fixtures and the capsa
#           binary reachable by the test user (staging copies under
#           $CAPSA_TEST_TMPDIR when the repository is not traversable, e.g. a
#           clone under /root).
# Not root: the tests run as the calling user, but only when CAPSA_TEST_USER
#           names the calling user (or the caller is capsatest); otherwise
#           integration tests are skipped with a reason.
#
# Exports:  CAPSA_REPO CAPSA_BUILD CAPSA_BIN CAPSA_PROBE CAPSA_FIXTURES
#           CAPSA_TEST_USER CAPSA_TEST_UID CAPSA_TEST_GID CAPSA_TEST_HOME
#           CAPSA_TEST_RUNUSER (1: switch with runuser; 0: already that user)
#           CAPSA_TEST_TMPDIR CAPSA_TEST_FUSE (1 if /dev/fuse usable)
#           CAPSA_SKIP_INTEGRATION (empty, or why integration tests cannot run)
#           CAPSA_TEST_CLEANUP (newline-separated staging dirs to remove)
# Set CAPSA_SETUP_FUNCTIONS_ONLY=1 before sourcing to only define functions.

_capsa_setup_log() { printf '[setup] %s\n' "$*" >&2; }

# Can the test user read PATH (and traverse all its parents)?
capsa_user_can() { # TEST-ARGS... (as for test(1))
	if [ "${CAPSA_TEST_RUNUSER:-0}" = 1 ]; then
		runuser -u "$CAPSA_TEST_USER" -- test "$@" 2>/dev/null
	else
		test "$@"
	fi
}

capsa_setup_user() {
	local user=${CAPSA_TEST_USER:-capsatest}

	if [ "$(id -u)" -eq 0 ]; then
		if ! id -u "$user" >/dev/null 2>&1; then
			_capsa_setup_log "creating user $user"
			useradd -m "$user" || { CAPSA_SKIP_INTEGRATION="useradd $user failed"; return 1; }
		fi
		if [ "$(id -u "$user")" -eq 0 ]; then
			CAPSA_SKIP_INTEGRATION="test user $user must not be root"
			return 1
		fi
		CAPSA_TEST_RUNUSER=1
	else
		local me
		me=$(id -un)
		if [ "$user" != "$me" ]; then
			if id -u "$user" >/dev/null 2>&1; then
				CAPSA_SKIP_INTEGRATION="not root: cannot switch to $user (run as root, or set CAPSA_TEST_USER=$me to test as yourself)"
			else
				CAPSA_SKIP_INTEGRATION="not root and user $user is missing (run as root to create it, or set CAPSA_TEST_USER=$me to test as yourself)"
			fi
			return 1
		fi
		CAPSA_TEST_RUNUSER=0
	fi
	CAPSA_TEST_USER=$user
	CAPSA_TEST_UID=$(id -u "$user")
	CAPSA_TEST_GID=$(id -g "$user")
	CAPSA_TEST_HOME=$(getent passwd "$user" | cut -d: -f6)
	export CAPSA_TEST_USER CAPSA_TEST_UID CAPSA_TEST_GID CAPSA_TEST_HOME CAPSA_TEST_RUNUSER
}

capsa_setup_system() {
	local f

	# testbed.md §6.3: /dev/fuse is 0600 root without udev.
	CAPSA_TEST_FUSE=0
	if [ -c /dev/fuse ]; then
		if [ "$(id -u)" -eq 0 ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
			_capsa_setup_log "chmod 666 /dev/fuse"
			chmod 666 /dev/fuse || true
		fi
		if capsa_user_can -r /dev/fuse -a -w /dev/fuse && command -v squashfuse >/dev/null; then
			CAPSA_TEST_FUSE=1
		fi
	fi
	export CAPSA_TEST_FUSE

	# Unprivileged user namespaces (Debian kernels before 6.x had a knob).
	f=/proc/sys/kernel/unprivileged_userns_clone
	if [ -r "$f" ] && [ "$(cat "$f")" = 0 ]; then
		if [ "$(id -u)" -eq 0 ]; then
			_capsa_setup_log "enabling kernel.unprivileged_userns_clone"
			echo 1 >"$f" || true
		fi
		[ "$(cat "$f")" != 0 ] || _capsa_setup_log "WARNING: kernel.unprivileged_userns_clone=0"
	fi
	f=/proc/sys/user/max_user_namespaces
	if [ -r "$f" ] && [ "$(cat "$f")" -lt 16 ]; then
		if [ "$(id -u)" -eq 0 ]; then
			_capsa_setup_log "raising user.max_user_namespaces to 15000"
			echo 15000 >"$f" || true
		fi
		[ "$(cat "$f")" -ge 16 ] || _capsa_setup_log "WARNING: user.max_user_namespaces=$(cat "$f")"
	fi
	if ! capsa_user_can_unshare; then
		CAPSA_SKIP_INTEGRATION="unprivileged user namespaces do not work for $CAPSA_TEST_USER"
		return 1
	fi
}

capsa_user_can_unshare() {
	command -v unshare >/dev/null || return 0 # cannot check; let the tests tell
	if [ "${CAPSA_TEST_RUNUSER:-0}" = 1 ]; then
		(cd / && runuser -u "$CAPSA_TEST_USER" -- unshare -Urm true) >/dev/null 2>&1
	else
		(cd / && unshare -Urm true) >/dev/null 2>&1
	fi
}

# Builds (or reuses) the static probe; prints its path.
capsa_setup_probe() {
	local out=$CAPSA_REPO/tests/tmp/probe src=$CAPSA_REPO/tests/fixtures/probe.c

	if [ -n "${CAPSA_BUILD:-}" ] && [ -x "$CAPSA_BUILD/tests/probe" ] && [ "$CAPSA_BUILD/tests/probe" -nt "$src" ]; then
		echo "$CAPSA_BUILD/tests/probe"
		return 0
	fi
	if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
		_capsa_setup_log "building $out"
		mkdir -p "$(dirname "$out")"
		gcc -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static -o "$out.tmp" "$src" || return 1
		mv -f "$out.tmp" "$out"
	fi
	echo "$out"
}

capsa_setup_fixtures() {
	local dir=$CAPSA_REPO/tests/tmp/fixtures stamp want

	CAPSA_PROBE=$(capsa_setup_probe) || { CAPSA_SKIP_INTEGRATION="cannot build tests/fixtures/probe.c"; return 1; }
	mkdir -p "$CAPSA_REPO/tests/tmp"
	want=$(cat "$CAPSA_REPO/tests/fixtures/mkrootfs.sh" "$CAPSA_PROBE" /bin/busybox 2>/dev/null | sha256sum | cut -d' ' -f1)
	stamp=$dir/.stamp
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		(
			# One builder at a time (release and asan runs may overlap).
			flock 9
			if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
				_capsa_setup_log "building fixtures in $dir"
				rm -rf "$dir"
				"$CAPSA_REPO/tests/fixtures/mkrootfs.sh" "$dir" --probe "$CAPSA_PROBE" --enroot-format >&2 || exit 1
				echo "$want" >"$stamp"
			fi
		) 9>"$CAPSA_REPO/tests/tmp/.fixtures.lock" || { CAPSA_SKIP_INTEGRATION="building fixtures failed"; return 1; }
	fi
	chmod a+rx "$dir"; chmod a+r "$dir"/*.sqsh
	CAPSA_FIXTURES=$dir
	export CAPSA_PROBE CAPSA_FIXTURES
}

# Make sure the test user can reach the fixtures and the binary; stage copies
# under $CAPSA_TEST_TMPDIR otherwise.
capsa_setup_access() {
	local stage

	if ! capsa_user_can -r "$CAPSA_FIXTURES/busybox.sqsh"; then
		stage=$(mktemp -d "$CAPSA_TEST_TMPDIR/capsa-fixtures.XXXXXX") || return 1
		chmod 0755 "$stage"
		_capsa_setup_log "repository not readable by $CAPSA_TEST_USER: staging fixtures in $stage"
		cp -a "$CAPSA_FIXTURES/." "$stage/"
		# Only the top level: a recursive a+rX would change the modes the
		# tests compare inside the rootfs trees (busybox/root is 0700).
		chmod a+rX "$stage"/*
		CAPSA_FIXTURES=$stage
		CAPSA_TEST_CLEANUP+=$stage$'\n'
	fi
	if [ -x "$CAPSA_BIN" ] && ! capsa_user_can -x "$CAPSA_BIN"; then
		stage=$(mktemp -d "$CAPSA_TEST_TMPDIR/capsa-bin.XXXXXX") || return 1
		chmod 0755 "$stage"
		_capsa_setup_log "$CAPSA_BIN not executable by $CAPSA_TEST_USER: staging a copy in $stage"
		# capsa runs the image verbs through capsa-image beside it.
		cp "$CAPSA_BIN" "$stage/capsa"
		cp "$(dirname "$CAPSA_BIN")/capsa-image" "$stage/capsa-image"
		chmod 0755 "$stage/capsa" "$stage/capsa-image"
		CAPSA_BIN=$stage/capsa
		CAPSA_TEST_CLEANUP+=$stage$'\n'
	fi
	export CAPSA_FIXTURES CAPSA_BIN CAPSA_TEST_CLEANUP
}

capsa_setup_cleanup() {
	local d
	while IFS= read -r d; do
		[ -n "$d" ] && [ -d "$d" ] && rm -rf -- "$d"
	done <<<"${CAPSA_TEST_CLEANUP:-}"
	CAPSA_TEST_CLEANUP=
}

capsa_setup_main() {
	CAPSA_REPO=${CAPSA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	CAPSA_BUILD=${CAPSA_BUILD:-build/release}
	case "$CAPSA_BUILD" in /*) ;; *) CAPSA_BUILD=$CAPSA_REPO/$CAPSA_BUILD ;; esac
	CAPSA_BIN=${CAPSA_BIN:-${CAPSA:-$CAPSA_BUILD/capsa}}
	case "$CAPSA_BIN" in /*) ;; *) CAPSA_BIN=$PWD/$CAPSA_BIN ;; esac
	CAPSA_TEST_TMPDIR=${CAPSA_TEST_TMPDIR:-/tmp}
	CAPSA_SKIP_INTEGRATION=${CAPSA_SKIP_INTEGRATION:-}
	CAPSA_TEST_CLEANUP=${CAPSA_TEST_CLEANUP:-}
	export CAPSA_REPO CAPSA_BUILD CAPSA_BIN CAPSA_TEST_TMPDIR CAPSA_SKIP_INTEGRATION

	capsa_setup_user &&
		capsa_setup_system &&
		capsa_setup_fixtures &&
		capsa_setup_access
	export CAPSA_SKIP_INTEGRATION
	[ -z "$CAPSA_SKIP_INTEGRATION" ]
}

if [ "${CAPSA_SETUP_FUNCTIONS_ONLY:-0}" != 1 ]; then
	capsa_setup_main || true
fi
