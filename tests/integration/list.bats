#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa list [-f] (enroot.md §5.1; pyxis parses `list -f`, §9).

load helpers

setup() { capsa_setup; }
teardown() { capsa_teardown; }

@test "list: no containers, no output" {
	run --separate-stderr capsa list
	assert_success
	[ -z "$output" ] || { echo "unexpected output: $output" >&2; false; }
}

@test "list prints the container names, one per line, sorted" {
	create_busybox zeta
	create_busybox alpha
	create_busybox mid
	run --separate-stderr capsa list
	assert_success
	assert_output_eq "$(printf 'alpha\nmid\nzeta')"
	run capsa remove -f mid
	assert_success
	run --separate-stderr capsa list
	assert_output_eq "$(printf 'alpha\nzeta')"
}

@test "list -f: header, and a container without processes shows only its name" {
	create_busybox idle
	run --separate-stderr capsa list -f
	assert_success
	local -a hdr
	read -r -a hdr <<<"${lines[0]}"
	[ "${hdr[*]}" = "NAME PID COMM STATE STARTED TIME MNTNS USERNS COMMAND" ] || {
		echo "bad header: ${lines[0]}" >&2
		false
	}
	local -a row
	read -r -a row <<<"${lines[1]}"
	[ "${row[0]}" = idle ]
	[ "${#row[@]}" -eq 1 ] || { echo "idle container has process columns: ${lines[1]}" >&2; false; }
	run --separate-stderr capsa list --fancy
	assert_success
	read -r -a hdr <<<"${lines[0]}"
	[ "${hdr[0]}" = NAME ] && [ "${hdr[1]}" = PID ]
}

@test "list -f: a running container shows its PID in column 2 (pyxis parsing)" {
	create_busybox running
	create_busybox other
	capsa_bg "$T/bg.out" start running /probe sleep 30
	local cpid
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	run --separate-stderr capsa list -f
	assert_success
	# pyxis: skip the header, split on spaces, token 1 = name, token 2 = PID
	local line found=
	local -a tok
	for line in "${lines[@]:1}"; do
		read -r -a tok <<<"$line"
		if [ "${tok[0]}" = running ]; then
			[ "${tok[1]}" = "$cpid" ] || { echo "PID column is '${tok[1]}', want $cpid: $line" >&2; false; }
			found=1
		fi
	done
	[ -n "$found" ] || { echo "no row for 'running':" >&2; echo "$output" >&2; false; }
	# the plain listing is unaffected
	run --separate-stderr capsa list
	assert_output_eq "$(printf 'other\nrunning')"
	kill_bg "$BG_PID"
}

@test "list -f: an image started directly is listed under <unknown> with its PID" {
	require_fuse
	capsa_bg "$T/bg.out" start "$FIX/busybox.sqsh" /probe sleep 30
	local cpid
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	run --separate-stderr capsa list -f
	assert_success
	# Its row is in the <unknown> group (which other processes of the test
	# user on this machine may share): the group's first row names it.
	local line group= found=
	for line in "${lines[@]:1}"; do
		[[ $line == " "* ]] || group=${line%% *}
		if [ "$(awk '{ print ($1 ~ /^[0-9]+$/) ? $1 : $2 }' <<<"$line")" = "$cpid" ]; then
			found=$group
		fi
	done
	[ "$found" = "<unknown>" ] || { echo "want $cpid under <unknown>, got:" >&2; echo "$output" >&2; false; }
	kill_bg "$BG_PID"
}

@test "list -f: a container with several processes is listed once, under its lowest PID" {
	create_busybox multi
	capsa_bg "$T/bg.out" start multi sh -c '/probe sleep 30 & /probe sleep 30 & exec /probe sleep 30'
	local main others p
	main=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	for _ in $(seq 50); do
		others=$(descendants "$BG_PID" | while read -r p; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = probe ] && echo "$p"; done | wc -l)
		[ "$others" -ge 3 ] && break
		sleep 0.1
	done
	[ "$others" -ge 3 ] || { echo "only $others probe processes" >&2; false; }
	local lowest
	lowest=$(descendants "$BG_PID" | while read -r p; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = probe ] && echo "$p"; done | sort -n | head -1)
	run --separate-stderr capsa list -f
	assert_success
	local -a tok rows=()
	local line
	for line in "${lines[@]:1}"; do
		read -r -a tok <<<"$line"
		[ "${tok[0]}" != multi ] || rows+=("${tok[1]}")
	done
	[ "${#rows[@]}" -eq 1 ] && [ "${rows[0]}" = "$lowest" ] || { echo "rows: ${rows[*]}, lowest $lowest" >&2; echo "$output" >&2; false; }
	kill_bg "$BG_PID"
}
