#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
#
# Steps in containers through spank_capsa.so on the real Slurm bed
# (pyxis.md §6-§12): srun/sbatch --container-image, the capsa CLI run as the
# job user by the plugin, every task joining the container.

load helpers

setup_file() {
	slurm_bed_start 3
	[ -n "$SLURM_SKIP" ] && return 0
	registry_bed_start slurm
	if [ -z "$REG_SKIP" ]; then
		"$REG/push.sh" "$REG_DIR" >&3 2>&1
		chmod -R a+rX "$REG_DIR"
	fi
}

teardown_file() {
	registry_bed_stop
	slurm_bed_stop
}

setup() {
	slurm_bed_setup
	slurm_containers_setup
	SQSH=$FIX/busybox.sqsh
}

teardown() {
	slurm_plugin_remove
	capsa_teardown
}

need_registry() {
	[ -z "$REG_SKIP" ] || skip "$REG_SKIP"
	# shellcheck source=/dev/null
	. "$REG_DIR/env.sh"
	PLAIN=$CAPSA_REGISTRY_PLAIN
}

# Nothing of the step is left in the nodes' runtime_path/<uid>.
assert_runtime_clean() {
	local d left
	for d in $(slurm_node_runtime_dirs); do
		[ "$(stat -c '%U %a' "$d")" = "root 755" ] || { stat "$d" >&2; return 1; }
		[ ! -e "$d/$TUID" ] || [ "$(stat -c '%u %a' "$d/$TUID")" = "$TUID 700" ] || { stat "$d/$TUID" >&2; return 1; }
		left=$(find "$d/$TUID" -mindepth 1 2>/dev/null)
		[ -z "$left" ] || { echo "left in $d: $left" >&2; return 1; }
	done
}

# --- (1) one task ---------------------------------------------------------------------

@test "srun --container-image=SQUASHFS runs the task inside the image, as the user" {
	run slurm_as_user srun -N1 --container-image="$SQSH" sh -c 'cat /etc/os-release; id -u; ls /probe; pwd'
	assert_success
	assert_output_contains 'ID=capsa-busybox'
	assert_line_eq "$TUID"
	assert_line_eq "/probe"
	assert_output_not_contains "importing"
	assert_runtime_clean
	[ "$(slurm_node_runtime_dirs | wc -l)" -ge 1 ]
}

@test "srun --container-image=docker://REGISTRY#busybox imports once and runs inside the image" {
	need_registry
	run slurm_as_user srun -N1 --container-image="docker://$PLAIN#busybox:latest" cat /etc/os-release
	assert_success
	assert_output_contains "capsa: importing docker image: docker://$PLAIN#busybox:latest"
	assert_output_contains "capsa: imported docker image: docker://$PLAIN#busybox:latest"
	assert_line_eq 'ID=busybox'
	assert_runtime_clean
	# Without a scheme the image is a docker:// one, as in pyxis.
	run slurm_as_user srun -N1 --container-image="$PLAIN#busybox:latest" cat /etc/os-release
	assert_success
	assert_line_eq 'ID=busybox'
}
