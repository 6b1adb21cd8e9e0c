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
teardown() {
	slurm_plugin_remove
	capsa_teardown
}

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
		skip "the bed runs without cgroups (no v1 freezer/cpuset/memory/devices, or CAPSA_SLURM_CGROUP=no): proctrack/linuxproc + task/affinity"
	fi
	run slurm_as_user srun -N1 -c1 sh -c 'grep -E "^[0-9]+:freezer:" /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status'
	assert_success
	[[ $output =~ :freezer:/slurm_${CAPSA_SLURM_NODE_PREFIX}[0-9]+/uid_${TUID}/job_[0-9]+/step_0 ]] ||
		{ echo "$output" >&2; return 1; }
	[[ $output =~ Cpus_allowed_list:[[:space:]]+[0-9]+$ ]] || { echo "$output" >&2; return 1; }
}

# --- spank_capsa.so --------------------------------------------------------------------

# pyxis's options as srun --help shows them: "--NAME[=ARGINFO]", a tab, then
# the help text (pyxis.md §4; texts from pyxis's README and args.c).
PYXIS_OPTIONS=(
	"--container-image=[USER@][REGISTRY#]IMAGE[:TAG]|PATH"$'\t'"[pyxis] the image to use for the container filesystem. Can be either a docker image given as an enroot URI, or a path to a squashfs file on the remote host filesystem."
	"--container-mounts=SRC:DST[:FLAGS][,SRC:DST...]"$'\t'"[pyxis] bind mount[s] inside the container. Mount flags are separated with \"+\", e.g. \"ro+rprivate\""
	"--container-workdir=PATH"$'\t'"[pyxis] working directory inside the container"
	"--container-name=NAME"$'\t'"[pyxis] name to use for saving and loading the container on the host. Unnamed containers are removed after the slurm task is complete; named containers are not. If a container with this name already exists, the existing container is used and the import is skipped."
	"--container-save=PATH"$'\t'"[pyxis] Save the container state to a squashfs file on the remote host filesystem."
	"--container-mount-home"$'\t'"[pyxis] bind mount the user's home directory. System-level enroot settings might cause this directory to be already-mounted."
	"--no-container-mount-home"$'\t'"[pyxis] do not bind mount the user's home directory"
	"--container-remap-root"$'\t'"[pyxis] ask to be remapped to root inside the container. Does not grant elevated system permissions, despite appearances."
	"--no-container-remap-root"$'\t'"[pyxis] do not remap to root inside the container"
	"--container-entrypoint"$'\t'"[pyxis] execute the entrypoint from the container image"
	"--no-container-entrypoint"$'\t'"[pyxis] do not execute the entrypoint from the container image"
	"--container-entrypoint-log"$'\t'"[pyxis] print the output of the entrypoint script"
	"--container-writable"$'\t'"[pyxis] make the container filesystem writable"
	"--container-readonly"$'\t'"[pyxis] make the container filesystem read-only"
	"--container-env=NAME[,NAME...]"$'\t'"[pyxis] names of environment variables to override with the host environment and set at the entrypoint. By default, all exported host environment variables are set in the container after the entrypoint is run, but their existing values in the image take precedence; the variables specified with this flag are preserved from the host and set before the entrypoint runs"
	"--container-unshare=NS[,NS...]"$'\t'"[pyxis] unshare additional namespaces in the container"
)

@test "spank_capsa.so: links none of curl, OpenSSL, libarchive, json-c, libsquashfs" {
	local so=$CAPSA_BUILD/spank_capsa.so
	[ -f "$so" ] || skip "spank_capsa.so was not built (needs /usr/include/slurm/spank.h from libslurm-dev)"
	run readelf -d "$so"
	assert_success
	assert_no_line_matching 'NEEDED.*(curl|ssl|crypto|archive|json-c|squashfs)'
	run readelf --dyn-syms --wide "$so"
	assert_output_contains " plugin_name"
	assert_output_contains " slurm_spank_init"
	assert_no_line_matching 'GLOBAL +DEFAULT +[0-9]+ +(spank_args_|error_set|args_)'
}

@test "spank_capsa.so: srun --help lists every pyxis option with pyxis's help text" {
	slurm_plugin_install
	run slurm_as_user srun --help
	assert_success
	local section opt
	section=$(sed -n '/^Options provided by plugins:/,$p' <<<"$output" | tr -s ' \n' '  ')
	[ -n "$section" ] || { echo "no 'Options provided by plugins' in srun --help:" >&2; echo "$output" >&2; return 1; }
	for opt in "${PYXIS_OPTIONS[@]}"; do
		if [[ $section != *" ${opt%%$'\t'*} ${opt#*$'\t'}"* ]]; then
			printf 'missing from srun --help: %s\nsection: %s\n' "$opt" "$section" >&2
			return 1
		fi
	done
	[ "$(grep -cE -- '^ +--(no-)?container-' <<<"$output")" -eq 16 ]
}

@test "spank_capsa.so: every option is accepted in srun and (twice) in slurmstepd" {
	slurm_containers_setup
	run slurm_as_user srun -N1 -n2 --container-image="$FIX/busybox.sqsh" \
		--container-mounts=/etc:/host-etc:ro+rprivate,tmpfs:/t,/var/lib --container-workdir=/host-etc \
		--container-name=named:no_exec --container-save="$T/x.sqsh" --no-container-mount-home \
		--container-remap-root --container-entrypoint --container-entrypoint-log --container-writable \
		--container-env=A,B --container-unshare=net,uts echo ran
	assert_success
	[ "$(grep -cx ran <<<"$output")" -eq 2 ]
	assert_output_not_contains "error"
}

@test "spank_capsa.so: invalid option values fail srun with a capsa: error" {
	slurm_plugin_install
	local spec args want
	for spec in \
		'--container-mounts=devpts:/x|capsa: --container-mounts: could not add mount entry devpts:/x: mount source must be a relative path, an absolute path, "tmpfs" or "umount"' \
		'--container-mounts=/a:mnt|mount target must be a relative path or an absolute path' \
		'--container-mounts=:/b|capsa: --container-mounts: invalid format: :/b' \
		'--container-name=x:attach|capsa: --container-name: flag must be "auto", "create", "exec" or "no_exec"' \
		'--container-name=:exec|capsa: --container-name: empty name' \
		'--container-save=/tmp/|capsa: --container-save: target is a directory' \
		'--container-env=FOO,|capsa: --container-env: invalid format: FOO,' \
		'--container-unshare=net,foo|capsa: --container-unshare: unknown namespace '"'foo'" \
		'--container-image=a --container-image=b|capsa: --container-image specified multiple times' \
		'--container-writable --container-readonly|capsa: both --container-writable and --container-readonly were specified' \
		'--container-remap-root --no-container-remap-root|capsa: both --container-remap-root and --no-container-remap-root were specified'; do
		read -r -a args <<<"${spec%%|*}"
		want=${spec#*|}
		run slurm_as_user srun -N1 "${args[@]}" true
		assert_failure || { echo "for: ${args[*]}" >&2; return 1; }
		assert_output_contains "$want" || { echo "for: ${args[*]}" >&2; return 1; }
	done
}

@test "spank_capsa.so: options without --container-image or --container-name are ignored with a warning" {
	slurm_plugin_install
	run slurm_as_user srun -N1 --container-workdir=/w --container-writable echo ran
	assert_success
	assert_line_eq "ran"
	assert_output_contains "capsa: ignoring --container-workdir because neither --container-image nor --container-name is set"
	assert_output_contains "capsa: ignoring --container-writable because"
}

@test "spank_capsa.so: a 100 KB option value is refused cleanly" {
	slurm_plugin_install
	local big
	big=$(head -c 102400 /dev/zero | tr '\0' a)
	# srun echoes the whole value back ("Invalid --X argument: ..."): only
	# the lines without it are shown on failure.
	run slurm_as_user srun -N1 "--container-image=/$big" true
	output=$(grep -v aaaaaaaa <<<"$output")
	assert_status 255 # srun's status for a refused option, not a signal
	assert_output_contains "capsa: --container-image: argument too long (more than 4095 bytes)"
	run slurm_as_user srun -N1 "--container-mounts=/$big:/x" true
	output=$(grep -v aaaaaaaa <<<"$output")
	assert_status 255
	assert_output_contains "capsa: --container-mounts: argument too long (more than 65536 bytes)"
	# Through the job environment, in srun and in slurmstepd (spank_getenv
	# into a bounded buffer): reported, ignored (pyxis's rule for
	# PYXIS_CONTAINER_*), and no crash.
	local logs=("$CAPSA_SLURM_DIR"/log/slurmd-*.log)
	run slurm_as_user env "PYXIS_CONTAINER_WORKDIR=/$big" srun -N1 echo ran
	output=$(grep -v aaaaaaaa <<<"$output")
	assert_success
	assert_line_eq "ran"
	assert_output_contains "capsa: --container-workdir: argument too long (more than 4095 bytes)"
	run grep -h "capsa: PYXIS_CONTAINER_WORKDIR: value too long" "${logs[@]}"
	assert_success
}

@test "spank_capsa.so: sbatch and salloc validate the options too (and pass them to the job as pyxis's)" {
	slurm_plugin_install
	run slurm_as_user sbatch --container-name=x:attach --wrap true
	assert_failure
	assert_output_contains 'sbatch: error: capsa: --container-name: flag must be'
	run slurm_as_user salloc -N1 --container-env=A, true
	assert_failure
	assert_output_contains 'capsa: --container-env: invalid format: A,'
	slurm_containers_setup
	run slurm_as_user sbatch --wait -o "$SWORK/spank.out" --container-image="$FIX/busybox.sqsh" \
		--wrap 'env | grep ^SLURM_SPANK_'
	assert_success
	run cat "$SWORK/spank.out"
	assert_line_eq "SLURM_SPANK__SLURM_SPANK_OPTION_pyxis_container_image=$FIX/busybox.sqsh"
	# ... which every srun in such a job inherits (here: a bad one).
	run slurm_as_user env SLURM_SPANK__SLURM_SPANK_OPTION_pyxis_container_mounts=devpts:/x srun -N1 true
	assert_failure
	assert_output_contains "capsa: --container-mounts: could not add mount entry devpts:/x"
}

@test "spank_capsa.so: plugstack arguments are parsed; an unknown or malformed one fails srun naming it" {
	slurm_containers_setup container_scope=job execute_entrypoint=0 sbatch_support=1 \
		use_enroot_load=1 importer=/usr/bin/true use_squashfuse=yes
	run slurm_as_user srun -N1 --container-image="$FIX/busybox.sqsh" echo ran
	assert_success
	assert_line_eq "ran"

	slurm_plugin_install runtime_path=/run/capsa-test bogus_key=1
	run slurm_as_user srun -N1 true
	assert_failure
	assert_output_contains "capsa: unknown configuration option: bogus_key=1"
	assert_output_contains "capsa: failed to parse configuration"

	slurm_plugin_install container_scope=node
	run slurm_as_user srun -N1 true
	assert_failure
	assert_output_contains "capsa: container_scope: must be \"job\" or \"global\", not 'node'"

	slurm_plugin_install use_squashfuse=maybe
	run slurm_as_user srun -N1 true
	assert_failure
	assert_output_contains "capsa: use_squashfuse: invalid boolean value 'maybe'"
}

@test "spank_capsa.so: sbatch_support=0 leaves the options out of sbatch" {
	slurm_containers_setup sbatch_support=0
	run slurm_as_user sbatch --container-image=busybox --wrap true
	assert_failure
	assert_output_contains "unrecognized option '--container-image=busybox'"
	run slurm_as_user srun -N1 --container-image="$FIX/busybox.sqsh" echo ran
	assert_success
}

@test "spank_capsa.so: a plugin built for another Slurm version is refused at load, naming the version; no step runs" {
	local so
	slurm_plugin_install
	so=$SLURM_DIR/lib/spank_capsa.so
	# plugin_version is what Slurm compares with its own: make it 23.11.
	patch_plugin_version "$so" 0x170b00
	run slurm_as_user srun -N1 --container-image=/nonexistent.sqsh sh -c 'echo ran'
	assert_failure
	assert_output_contains "Incompatible Slurm plugin $so version (23.11.0)"
	assert_output_contains "Plug-in initialization failed"
	assert_output_not_contains "ran"
	[ -z "$(squeue -h)" ]
}
