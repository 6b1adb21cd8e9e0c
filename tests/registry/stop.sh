#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Stop the registry test bed started by start.sh DIR.  Only the pids recorded
# in DIR/run/*.pid are signalled, and only after /proc/PID/cmdline shows that
# the process belongs to this DIR.  Data in DIR is kept (rm -rf it yourself).
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: stop.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
DIR=$(cd -- "$1" && pwd -P)

alive() { # PID MARKER; zombies count as dead (PID 1 reaps late)
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ "$st" != Z ] || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

pids=() markers=() files=()
for name in plain basic token tokensrv; do
	f=$DIR/run/$name.pid
	[ -s "$f" ] || continue
	pid=$(cat "$f")
	case $name in
	tokensrv) marker=$DIR/auth/users.json ;;
	*) marker=$DIR/conf/$name.yml ;;
	esac
	if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" "$marker"; then
		kill "$pid" 2>/dev/null
		pids+=("$pid") markers+=("$marker")
	fi
	files+=("$f")
done
for i in "${!pids[@]}"; do
	for _ in $(seq 60); do alive "${pids[$i]}" "${markers[$i]}" || break; sleep 0.05; done
	if alive "${pids[$i]}" "${markers[$i]}"; then
		kill -9 "${pids[$i]}" 2>/dev/null
	fi
done
rm -f ${files[@]+"${files[@]}"}
exit 0
