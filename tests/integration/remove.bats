#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa remove [-f] NAME... (enroot.md §3, §5.1).

load helpers

setup() { capsa_setup; }
teardown() { capsa_teardown; }

@test "remove -f deletes the container" {
	create_busybox
	run capsa remove -f busybox
	assert_success
	assert_not_exists "$DATA/busybox"
	[ -d "$DATA" ]
}

@test "remove -f deletes a tree with 0555 and 0000 directories and 0000 files" {
	create_busybox
	local r=$DATA/busybox
	mkdir -p "$r/ro/sub/deeper" "$r/zero/sub" "$r/a/b/c/d/e/f/g/h/locked"
	echo x >"$r/ro/sub/file"
	echo y >"$r/zero/sub/file"
	: >"$r/nullmode"
	capsa_chown "$r"
	chmod 0555 "$r/ro" "$r/ro/sub"
	chmod 0000 "$r/zero" "$r/nullmode" "$r/a/b/c/d/e/f/g/h/locked"
	chmod 0500 "$r/a/b/c/d/e/f/g/h"
	run capsa remove -f busybox
	assert_success
	assert_not_exists "$r"
}

@test "remove --force works too; several names are removed in order" {
	create_busybox one
	create_busybox two
	run capsa remove --force one two
	assert_success
	assert_not_exists "$DATA/one"
	assert_not_exists "$DATA/two"
}

@test "remove: the first error stops the rest" {
	create_busybox first
	create_busybox third
	run --separate-stderr capsa remove -f first nosuch third
	assert_error
	assert_not_exists "$DATA/first"
	[ -d "$DATA/third" ]
}

# enroot prompts "Do you really want to delete <abs>? [y/N] " and, with stdin
# at EOF (no terminal), `read` fails under set -e: exit 1, silently, nothing
# deleted (enroot.md §3).  capsa keeps the exit status and the directory but
# should say why: confirmation needs a terminal, or -f.
# answer TEXT ARGS...: capsa ARGS... with TEXT piped to its stdin.
answer() {
	local text=$1
	shift
	printf '%s' "$text" | capsa "$@"
}

@test "remove without -f reads the answer from a pipe: y deletes, n keeps, /dev/null keeps with exit 1" {
	create_busybox gone
	create_busybox keep
	run --separate-stderr answer $'y\n' remove gone
	assert_success
	assert_not_exists "$DATA/gone"
	# As enroot's `read -p`: the prompt only when stdin is a terminal.
	[ -z "$stderr" ] || { echo "unexpected stderr: $stderr" >&2; false; }

	run --separate-stderr answer $'n\n' remove keep
	assert_success
	[ -x "$DATA/keep/bin/busybox" ]

	# End of input: nothing deleted, exit 1 (enroot is silent; capsa says why).
	run --separate-stderr capsa remove keep </dev/null
	assert_error "not deleted"
	[ -x "$DATA/keep/bin/busybox" ]
}

@test "remove: only a whole line 'y' or 'Y' deletes; answers are read one line per name" {
	local n
	for n in a b c d e; do create_busybox "$n"; done
	run --separate-stderr answer $'Y\n' remove a
	assert_success
	assert_not_exists "$DATA/a"
	# Not exactly y: kept, status 0 (enroot compares the whole line).
	for n in yes ' y' 'y ' Yes 1; do
		run --separate-stderr answer "$n"$'\n' remove b
		assert_success
		[ -d "$DATA/b" ] || { echo "answer '$n' deleted b" >&2; false; }
	done
	# A last line without its newline is end of input for bash's read.
	run --separate-stderr answer y remove b
	assert_status 1
	[ -d "$DATA/b" ]
	# One line per name, in order; a 'n' goes on with the next name.
	run --separate-stderr answer $'y\nn\ny\n' remove b c d
	assert_success
	assert_not_exists "$DATA/b"
	[ -d "$DATA/c" ]
	assert_not_exists "$DATA/d"
	# Input ends before the last name: it is kept and the status is 1.
	create_busybox d
	run --separate-stderr answer $'y\n' remove c d
	assert_error "$DATA/d not deleted"
	assert_not_exists "$DATA/c"
	[ -d "$DATA/d" ]
	[ -d "$DATA/e" ]
}

@test "remove without -f on a terminal: 'n' keeps, 'y' deletes" {
	command -v script >/dev/null || skip "script(1) not installed"
	create_busybox keep
	create_busybox gone
	local -a _cmd _pre _rest
	_capsa_cmd user -- remove keep
	# timeout(1) moves its child to a background process group, where a
	# read from the terminal stops on SIGTTIN unless the shell that script(1)
	# starts happens to exec it; --foreground keeps capsa on the terminal.
	_cmd=(timeout --foreground "${_cmd[@]:1}")
	printf 'n\n' | (cd "$WORK" && SHELL=/bin/sh timeout 30 script -qec "$(printf '%q ' "${_cmd[@]}")" /dev/null) >"$T/keep.out" 2>&1 || true
	cat "$T/keep.out"
	grep -q 'Do you really want to delete' "$T/keep.out"
	[ -d "$DATA/keep" ]
	_capsa_cmd user -- remove gone
	_cmd=(timeout --foreground "${_cmd[@]:1}")
	printf 'y\n' | (cd "$WORK" && SHELL=/bin/sh timeout 30 script -qec "$(printf '%q ' "${_cmd[@]}")" /dev/null) >"$T/gone.out" 2>&1
	cat "$T/gone.out"
	assert_not_exists "$DATA/gone"
}

@test "remove: nonexistent name is an error" {
	run --separate-stderr capsa remove -f nosuch
	assert_error
	assert_output_not_contains nosuch_should_not_appear
	[[ $stderr == *nosuch* ]] || { echo "error does not name the container: $stderr" >&2; false; }
}

@test "remove: NAME with '/' or '..' is rejected, nothing outside \$DATA removed" {
	create_busybox
	mkdir -p "$T/victim"
	echo precious >"$T/victim/file"
	capsa_chown "$T/victim"
	local n
	for n in ../victim busybox/etc .. . /tmp; do
		run --separate-stderr capsa remove -f "$n"
		assert_error || { echo "remove -f '$n' was accepted" >&2; false; }
	done
	[ "$(cat "$T/victim/file")" = precious ]
	[ -f "$DATA/busybox/etc/passwd" ]
	[ -d "$DATA" ]
}

@test "remove: a symlink in \$DATA is not followed out of it" {
	mkdir -p "$T/outside/keep"
	echo precious >"$T/outside/keep/file"
	ln -s "$T/outside" "$DATA/link"
	capsa_chown "$T/outside" "$DATA/link"
	run capsa remove -f link
	# removing the link itself or refusing are both fine; the target survives
	[ "$(cat "$T/outside/keep/file")" = precious ]
}
