#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
#
# The Slurm test bed (tests/slurm, testbed.md §4) and capsa's SPANK plugin
# spank_capsa.so loaded into it (pyxis.md §3-§5): a real slurmctld and three
# slurmd on 127.0.0.1, every job submitted by the unprivileged test user.

load helpers

setup_file() { slurm_bed_start 3; }
teardown_file() { slurm_bed_stop; }
setup() { slurm_bed_setup; }
teardown() { slurm_plugin_remove; }

# --- the test bed ----------------------------------------------------------------

@test "slurm bed: srun -N1 hostname runs on a bed node as the unprivileged user" {
	run slurm_as_user srun -N1 sh -c 'echo "$(hostname) $(id -un) $SLURMD_NODENAME"'
	assert_success
	local host user node
	read -r host user node <<<"${lines[-1]}"
	[[ ,$CAPSA_SLURM_NODES, == *,"$host",* ]] || { echo "hostname '$host' not in $CAPSA_SLURM_NODES" >&2; return 1; }
	[ "$user" = "$TUSER" ]
	[ "$node" = "$host" ]
}

@test "slurm bed: srun -N3 -n6 puts two tasks on each of three nodes with distinct hostnames" {
	run slurm_as_user srun -N3 -n6 sh -c 'echo "$(hostname) $SLURMD_NODENAME $SLURM_PROCID"'
	assert_success
	local hosts
	hosts=$(printf '%s\n' "${lines[@]}" | awk '$1 == $2 { print $1 }' | sort | uniq -c | awk '{ print $1 }' | tr '\n' ' ')
	[ "$hosts" = "2 2 2 " ] || { printf 'tasks per node: %s\n%s\n' "$hosts" "$output" >&2; return 1; }
	[ "$(printf '%s\n' "${lines[@]}" | awk '{ print $3 }' | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 " ]
}

@test "slurm bed: sbatch --wait runs a batch script as the test user" {
	printf '#!/bin/sh\necho "batch $(id -u) on $(hostname)"\nsrun -N1 true && echo "step ok"\n' >"$SWORK/job.sh"
	chown "$TUID" "$SWORK/job.sh"
	run slurm_as_user sbatch --wait -N1 -o "$SWORK/job.out" "$SWORK/job.sh"
	assert_success
	assert_output_contains "Submitted batch job"
	run cat "$SWORK/job.out"
	[[ ${lines[0]} == "batch $TUID on ${CAPSA_SLURM_NODE_PREFIX}"* ]] || { echo "$output" >&2; return 1; }
	assert_line_eq "step ok"
}

@test "slurm bed: salloc -N2 srun hostname runs one task on each of two nodes" {
	run slurm_as_user salloc -N2 srun hostname
	assert_success
	local hosts
	hosts=$(printf '%s\n' "${lines[@]}" | grep -x "${CAPSA_SLURM_NODE_PREFIX}[0-9]*" | sort -u | wc -l)
	[ "$hosts" -eq 2 ] || { echo "$output" >&2; return 1; }
}

@test "slurm bed: steps are confined to the bed's own cgroups (or the bed said why not)" {
	if [ "$CAPSA_SLURM_CGROUP" != yes ]; then
		skip "no cgroup v1 freezer/cpuset/memory/devices here: proctrack/linuxproc + task/affinity"
	fi
	run slurm_as_user srun -N1 -c1 sh -c 'grep -E "^[0-9]+:freezer:" /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status'
	assert_success
	[[ $output =~ :freezer:/slurm_${CAPSA_SLURM_NODE_PREFIX}[0-9]+/uid_${TUID}/job_[0-9]+/step_0 ]] ||
		{ echo "$output" >&2; return 1; }
	[[ $output =~ Cpus_allowed_list:[[:space:]]+[0-9]+$ ]] || { echo "$output" >&2; return 1; }
}
