#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa doctor against the Slurm test bed (tests/slurm): the bed's real
# configuration found through SLURM_CONF (PlugStackConfig, includes,
# cgroup.conf), the built spank_capsa.so checked against the running Slurm,
# and doctor run inside a job step.

load helpers

setup_file() { slurm_bed_start 1; }
teardown_file() { slurm_bed_stop; }
setup() {
	slurm_bed_setup
	capsa_setup
}
teardown() {
	slurm_plugin_remove
	capsa_teardown
}

@test "doctor with the bed's SLURM_CONF: its plugstack loads the built plugin, which matches this Slurm" {
	local want
	slurm_plugin_install "capsa_path=$CAPSA_BIN"
	want=$(slurmd -V | awk '{print $2}')
	run capsa_env SLURM_CONF="$SLURM_CONF" doctor
	assert_success
	assert_output_contains "[OK]   $SLURM_DIR/etc/plugstack.conf loads $SLURM_DIR/lib/spank_capsa.so"
	assert_output_contains "[OK]   $SLURM_DIR/lib/spank_capsa.so matches Slurm $want"
	assert_output_contains "[OK]   the plugin runs $CAPSA_BIN"
	assert_output_contains "[OK]   no $(dirname "$SLURM_CONF")/oci.conf"
	if grep -qi '^ConstrainDevices=yes' "$(dirname "$SLURM_CONF")/cgroup.conf"; then
		assert_output_contains "[OK]   cgroup.conf: ConstrainDevices=yes"
	fi
	slurm_plugin_remove
	run capsa_env SLURM_CONF="$SLURM_CONF" doctor
	assert_output_contains "[WARN] $SLURM_DIR/etc/plugstack.conf loads neither spank_capsa.so nor spank_pyxis.so"
}

@test "doctor in a job step: it names the job, and the plugin loaded by srun does not disturb it" {
	slurm_plugin_install "capsa_path=$CAPSA_BIN"
	run slurm_as_user srun -N1 "$CAPSA_BIN" doctor --json
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
ids = {c["id"]: c for c in d["checks"]}
assert ids["userns"]["status"] == "OK", ids["userns"]
assert ids["slurm-job"]["summary"].startswith("inside Slurm job "), ids["slurm-job"]
assert ids["slurm-plugin"]["status"] == "OK", ids["slurm-plugin"]' "$output"
}
