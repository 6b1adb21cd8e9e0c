#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Stop the Slurm test bed started by start.sh DIR.  Jobs are cancelled first;
# then only the daemons recorded in DIR/run/*.pid are signalled, each after
# /proc/PID/cmdline shows it belongs to this DIR.  slurmstepd processes left
# behind are recognised by CAPSA_SLURM_BED_DAEMON=DIR in their environment (they are
# forked by this bed's slurmd), tasks by the bed's own cgroup directories,
# which are then removed (Slurm leaves the empty slurm_<node> dirs behind).
# Data in DIR is kept (rm -rf it yourself).
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: stop.sh DIR" >&2; exit 1; }
[ -d "$1" ] || exit 0
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=tests/slurm/lib.sh
. "$HERE/lib.sh"

ctld_alive() {
	[ -s "$DIR/run/slurmctld.pid" ] && alive "$(cat "$DIR/run/slurmctld.pid")" "$(pid_marker "$DIR" slurmctld)"
}

# bed_stepds: slurmstepd processes of this bed (start.sh marks its daemons'
# environment, which slurmd passes on to the slurmstepd it forks).
bed_stepds() {
	local p c
	for p in /proc/[0-9]*; do
		{ read -r c <"$p/comm"; } 2>/dev/null || continue
		[ "$c" = slurmstepd ] || continue
		{ tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF -- "CAPSA_SLURM_BED_DAEMON=$DIR" && echo "${p#/proc/}"
	done
}

# The bed's cgroup dirs, deepest first.
bed_cgroups() {
	local n
	for n in ${CAPSA_SLURM_NODES//,/ }; do
		find /sys/fs/cgroup/*/"slurm_$n" -depth -type d 2>/dev/null
	done
}

if [ -s "$DIR/env.sh" ]; then
	# shellcheck source=/dev/null
	. "$DIR/env.sh"
fi
CAPSA_SLURM_NODES=${CAPSA_SLURM_NODES:-}

# 1. Cancel jobs while slurmctld can still tell the nodes.
mapfile -t jobs < <(ctld_alive && squeue -h -o %i 2>/dev/null)
if [ "${#jobs[@]}" -gt 0 ]; then
	scancel --quiet --full "${jobs[@]}" 2>/dev/null || true
	for _ in $(seq 100); do
		[ -z "$(bed_stepds)" ] && break
		sleep 0.05
	done
fi

# 2. The recorded daemons, in order: slurmd, slurmctld, then munged (a
# daemon shutting down still talks to the others; killing them all at
# once made slurmd hang until SIGKILL).
files=()
stop_recorded() { # PIDFILE...
	local f name pid marker i
	local -a pids=() markers=()
	for f in "$@"; do
		[ -s "$f" ] || continue
		name=$(basename "$f" .pid)
		pid=$(cat "$f")
		marker=$(pid_marker "$DIR" "$name")
		if alive "$pid" "$marker"; then
			kill "$pid" 2>/dev/null
			pids+=("$pid") markers+=("$marker")
		fi
		files+=("$f")
	done
	for i in "${!pids[@]}"; do
		for _ in $(seq 100); do alive "${pids[$i]}" "${markers[$i]}" || break; sleep 0.05; done
		alive "${pids[$i]}" "${markers[$i]}" && kill -9 "${pids[$i]}" 2>/dev/null
	done
	return 0
}
stop_recorded "$DIR"/run/slurmd-*.pid
stop_recorded "$DIR/run/slurmctld.pid"
stop_recorded "$DIR/run/munged.pid"

# 3. Steps and tasks that outlived their slurmd.
for pid in $(bed_stepds); do
	kill -9 "$pid" 2>/dev/null
done
for d in $(bed_cgroups); do
	[ -r "$d/cgroup.procs" ] || continue
	while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$d/cgroup.procs"
done
for d in $(bed_cgroups); do
	for _ in $(seq 20); do rmdir "$d" 2>/dev/null && break; [ -d "$d" ] || break; sleep 0.05; done
done
rm -f ${files[@]+"${files[@]}"}
leftover=$(bed_cgroups)
[ -z "$leftover" ] || { echo "slurm/stop.sh: could not remove: $leftover" >&2; exit 1; }
exit 0
