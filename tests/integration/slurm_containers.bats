#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # status/output/lines are set by bats' run; single quotes are for the container's shell
# SPDX-License-Identifier: Apache-2.0
#
# Steps in containers through spank_capsa.so on the real Slurm bed
# (pyxis.md §6-§12): srun/sbatch --container-image, the capsa CLI run as the
# job user by the plugin, every task joining the container.

load helpers

setup_file() {
	slurm_and_registry_beds_start slurmreg
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

# --- (2) several tasks, several nodes: one import per node and step ------------------------

@test "srun -n2: two tasks in one container, started once" {
	run slurm_as_user srun -N1 -n2 --container-image="$SQSH" sh -c 'echo "task $SLURM_PROCID $(cat /proc/1/comm 2>/dev/null) $(readlink /proc/self/ns/mnt)"; grep -c "^ID=capsa-busybox" /etc/os-release'
	assert_success
	[ "$(grep -c '^task [01] ' <<<"$output")" -eq 2 ] || { echo "$output" >&2; return 1; }
	# Both tasks are in the same mount namespace.
	[ "$(grep '^task' <<<"$output" | awk '{ print $NF }' | sort -u | wc -l)" -eq 1 ] || { echo "$output" >&2; return 1; }
	assert_runtime_clean
}

@test "srun IMAGE.sqsh: the container shell and its squashfs server live under capsa's keeper, a child of slurmstepd" {
	# From the task: its parent is slurmstepd; among slurmstepd's children
	# the keeper, whose child is the stopped shell, whose child is the
	# server. The keeper reaps both at the step's end, not pid 1.
	run slurm_as_user srun -N1 --container-image="$SQSH" sh -c '
kids() { cat /proc/$1/task/*/children 2>/dev/null; }
name() { cat /proc/$1/comm 2>/dev/null; }
echo "parent $(name $PPID)"
for k in $(kids $PPID); do
	[ "$(name $k)" = capsa-keeper ] || continue
	for s in $(kids $k); do echo "shell $(name $s) $(cut -d" " -f3 /proc/$s/stat)"; for f in $(kids $s); do echo "server $(name $f)"; done; done
done'
	assert_success
	assert_line_eq "parent slurmstepd"
	assert_line_eq "shell sh T"
	assert_line_eq "server capsa"
	assert_runtime_clean
	# The keeper was reaped with the step, and with it the shell and server.
	! pgrep -u "$TUSER" -x capsa-keeper || { ps -u "$TUSER" -o pid,ppid,stat,comm >&2; false; }
}

@test "srun -N3 -n6 --container-image=docker://...: one import per node, every task inside" {
	need_registry
	run slurm_as_user srun -N3 -n6 --container-image="docker://$PLAIN#busybox:latest" \
		sh -c 'echo "in $SLURMD_NODENAME $SLURM_PROCID $(grep ^ID= /etc/os-release)"'
	assert_success
	[ "$(grep -c ' ID=busybox$' <<<"$output")" -eq 6 ] || { echo "$output" >&2; return 1; }
	[ "$(grep '^in ' <<<"$output" | awk '{ print $3 }' | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 " ]
	# pyxis prints "importing" only for a single task, "imported" once per node.
	assert_output_not_contains "importing docker image"
	[ "$(grep -c "capsa: imported docker image: docker://$PLAIN#busybox:latest" <<<"$output")" -eq 3 ] ||
		{ echo "$output" >&2; return 1; }
	assert_runtime_clean
}

# --- (3) options ------------------------------------------------------------------------

@test "--container-name: created once, reused by later steps, flags create/exec/no_exec" {
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=keep --container-writable \
		sh -c 'echo kept >/marker'
	assert_success
	run capsa list
	assert_success
	assert_line_eq "pyxis_keep"
	# No image: the existing rootfs (with the marker) is used.
	run slurm_as_user srun -N1 --container-name=keep cat /marker
	assert_success
	assert_line_eq "kept"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=keep:no_exec cat /marker
	assert_success
	assert_line_eq "kept"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=keep:create true
	assert_failure
	assert_output_contains 'capsa: "create" flag was passed to --container-name but the container already exists'
	run slurm_as_user srun -N1 --container-name=keep:exec true
	assert_failure
	assert_output_contains 'capsa: "exec" flag was passed to --container-name but the container is not running'
	run slurm_as_user srun -N1 --container-name=nothere true
	assert_failure
	assert_output_contains 'capsa: a container with name "pyxis_nothere" does not exist, and --container-image is not set'
	assert_runtime_clean
}

@test "--container-name=NAME:exec and auto join a running container's namespaces (mounts ignored)" {
	local node=${CAPSA_SLURM_NODES%%,*}
	slurm_as_user srun -N1 -w "$node" -J live --container-image="$SQSH" --container-name=live \
		sh -c 'echo inside >/tmp/inside; sleep 30' >"$T/live.out" 2>&1 &
	for _ in $(seq 100); do
		capsa list -f | grep -q '^pyxis_live  *[0-9]' && break
		sleep 0.1
	done
	run slurm_as_user srun -N1 -w "$node" --container-name=live:exec cat /tmp/inside
	assert_success
	assert_line_eq "inside"
	run slurm_as_user srun -N1 -w "$node" --container-name=live --container-mounts=/etc:/host-etc cat /tmp/inside
	assert_success
	assert_line_eq "inside"
	assert_output_contains "capsa: ignoring --container-mounts when attaching to a running container"
	slurm_as_user scancel -n live
	wait
}

@test "--container-name=JOBID.STEPID attaches to a running unnamed container started from its squashfs" {
	local node=${CAPSA_SLURM_NODES%%,*} job
	slurm_as_user srun -N1 -w "$node" -J unnamed --container-image="$SQSH" \
		sh -c 'echo inside >/tmp/inside; readlink /proc/self/ns/mnt; sleep 30' >"$T/unnamed.out" 2>&1 &
	for _ in $(seq 100); do
		grep -q '^mnt:' "$T/unnamed.out" && break
		sleep 0.1
	done
	job=$(squeue -h -n unnamed -o %i)
	[ -n "$job" ]
	run slurm_as_user srun -N1 -w "$node" --container-name="$job.0" sh -c 'cat /tmp/inside; readlink /proc/self/ns/mnt'
	assert_success
	assert_line_eq "inside"
	assert_line_eq "$(grep '^mnt:' "$T/unnamed.out")"
	slurm_as_user scancel -n unnamed
	wait || true
	assert_runtime_clean
	# Ended: the name is gone with it.
	run slurm_as_user srun -N1 -w "$node" --container-name="$job.0" true
	assert_failure
	assert_output_contains "does not exist"
}

@test "--container-mounts, --container-workdir, --container-env, LANG stripped" {
	echo "from the host" >"$SWORK/hostfile"
	chown "$TUID" "$SWORK/hostfile"
	run slurm_as_user env LANG=C.UTF-8 FOO=host srun -N1 --container-image="$SQSH" \
		--container-mounts="$SWORK:/w:ro" --container-workdir=/w sh -c 'pwd; cat hostfile; echo "LANG=${LANG-unset} FOO=$FOO"; touch /w/x 2>&1 || true'
	assert_success
	assert_line_eq "/w"
	assert_line_eq "from the host"
	assert_line_eq "LANG=unset FOO=host"
	assert_output_contains "Read-only file system"
	run slurm_as_user env LANG=C.UTF-8 srun -N1 --container-image="$SQSH" --container-env=LANG sh -c 'echo "$LANG"'
	assert_success
	assert_line_eq "C.UTF-8"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-workdir=/nonexistent true
	assert_failure
	assert_output_contains "capsa: couldn't chdir to /nonexistent: No such file or directory"	# Repeated --container-mounts accumulate (Slurm forwards only the last
	# value; the plugin carries the rest), in srun and sbatch.
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-mounts="$SWORK:/w1" \
		--container-mounts="$SWORK:/w2:ro" sh -c 'cat /w1/hostfile /w2/hostfile; echo "all=${CAPSA_CONTAINER_MOUNTS_ALL-unset}"'
	assert_success
	[ "$(grep -c '^from the host$' <<<"$output")" -eq 2 ] || { echo "$output" >&2; false; }
	assert_line_eq "all=unset"
	printf '#!/bin/sh\n#SBATCH --container-image=%s\n#SBATCH --container-mounts=%s:/b1\n#SBATCH --container-mounts=%s:/b2\ncat /b1/hostfile /b2/hostfile\n' \
		"$SQSH" "$SWORK" "$SWORK" >"$SWORK/mounts.sh"
	chown "$TUID" "$SWORK/mounts.sh"
	run slurm_as_user sbatch --wait -N1 -o "$SWORK/mounts.out" "$SWORK/mounts.sh"
	assert_success
	[ "$(grep -c '^from the host$' "$SWORK/mounts.out")" -eq 2 ] || { cat "$SWORK/mounts.out" >&2; false; }
}

@test "--container-remap-root, --container-writable/readonly, seccomp filter" {
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-remap-root sh -c 'id -u; grep ^Seccomp: /proc/self/status'
	assert_success
	assert_line_eq "0"
	[[ $output =~ Seccomp:[[:space:]]+2 ]] || { echo "$output" >&2; return 1; }
	run slurm_as_user srun -N1 --container-image="$SQSH" sh -c 'id -u; chown 0 /tmp && echo chown-ok'
	assert_success
	assert_line_eq "$TUID"
	assert_line_eq "chown-ok"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=rw --container-writable sh -c 'touch /new && echo wrote'
	assert_success
	assert_line_eq "wrote"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=ro --container-readonly sh -c 'touch /new 2>&1'
	assert_failure
	assert_output_contains "Read-only file system"
}

@test "--container-remap-root --container-writable: apt-get installs a package in a Debian image" {
	local tarball=${CAPSA_TEST_CACHE:-$BATS_TEST_DIRNAME/../tmp/cache}/debian-bookworm.tar.gz
	[ -f "$tarball" ] || skip "no Debian tarball yet (tests/registry/mkdebian.sh makes it, e.g. in import_debian.bats)"
	mkdir -p "$T/deb" "$T/pkg/DEBIAN" "$T/pkg/usr/share/capsa-hello"
	tar -xzf "$tarball" -C "$T/deb"
	mksquashfs "$T/deb" "$T/deb.sqsh" -noappend -quiet -all-root -no-progress >/dev/null
	printf 'Package: capsa-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n' \
		>"$T/pkg/DEBIAN/control"
	echo "installed by apt" >"$T/pkg/usr/share/capsa-hello/hi"
	dpkg-deb -b "$T/pkg" "$SWORK/hello.deb" >/dev/null
	chmod a+r "$T/deb.sqsh" "$SWORK/hello.deb"
	run slurm_as_user srun -N1 --container-image="$T/deb.sqsh" --container-remap-root --container-writable \
		--container-mounts="$SWORK:/mnt" sh -c 'apt-get install -y /mnt/hello.deb >/tmp/apt.log 2>&1 || cat /tmp/apt.log
			cat /usr/share/capsa-hello/hi; dpkg-query -W -f "\${Status}\n" capsa-hello; id -u'
	assert_success
	assert_line_eq "installed by apt"
	assert_line_eq "install ok installed"
	assert_line_eq "0"
	assert_runtime_clean
}

@test "--container-save exports the container after the step; unnamed ones are removed" {
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-writable --container-save="$T/saved.sqsh" \
		sh -c 'echo saved >/marker'
	assert_success
	assert_output_contains "capsa: exported container pyxis_"
	assert_exists "$T/saved.sqsh"
	unsquashfs -cat "$T/saved.sqsh" /marker | grep -qx saved
	run capsa list
	assert_success
	assert_no_line_matching '^pyxis_'
	assert_runtime_clean
}

@test "container_scope=job: pyxis_<jobid>_NAME lives as long as the job; the epilog removes it as the user" {
	slurm_containers_setup container_scope=job
	run slurm_as_user sbatch --wait -N1 -o "$SWORK/scope.out" --wrap "
		srun --container-image=$SQSH --container-name=jc --container-writable sh -c 'echo x >/marker' &&
		srun --container-name=jc cat /marker &&
		CAPSA_SYSCONF_PATH=$SYSCONF $CAPSA_BIN list && echo job \$SLURM_JOB_ID"
	assert_success
	run cat "$SWORK/scope.out"
	assert_line_eq "x"
	local job
	job=$(awk '$1 == "job" { print $2 }' "$SWORK/scope.out")
	assert_line_eq "pyxis_${job}_jc"
	for _ in $(seq 100); do
		capsa list | grep -qx "pyxis_${job}_jc" || break
		sleep 0.1
	done
	run capsa list
	assert_success
	assert_no_line_matching "^pyxis_${job}_"
	run grep -h "capsa: epilog: removing container pyxis_${job}_jc" "$CAPSA_SLURM_DIR"/log/slurmd-*.log
	assert_success
}

# An enroot-format image (busybox fixture + /etc/rc, /etc/environment)
# with WORKDIR "/srv/work dir", ENTRYPOINT echo, Env SPACES and KV.
make_entrypoint_image() {
	local root=$T/eproot
	cp -a "$FIX/busybox" "$root"
	mkdir -p "$root/srv/work dir"
	printf 'SPACES=a b  c\nKV=k=v=w\n' >"$root/etc/environment"
	cat >"$root/etc/rc" <<-'RC'
		mkdir -p "/srv/work dir" 2> /dev/null
		cd "/srv/work dir" && unset OLDPWD || exit 1
		if [ -s /etc/rc.local ]; then
		    . /etc/rc.local
		fi
		exec '/bin/echo' 'entry point' "$@"
	RC
	mksquashfs "$root" "$T/entry.sqsh" -quiet -noappend -all-root >/dev/null
	chmod 0644 "$T/entry.sqsh"
}

@test "image WORKDIR and Env; the entrypoint is skipped unless --container-entrypoint" {
	command -v mksquashfs >/dev/null || skip "mksquashfs is not installed"
	make_entrypoint_image
	run slurm_as_user env SPACES=host HOSTONLY=h srun -N1 --container-image="$T/entry.sqsh" \
		sh -c 'pwd; echo "SPACES=$SPACES KV=$KV HOSTONLY=$HOSTONLY"'
	assert_success
	assert_line_eq "/srv/work dir"
	assert_line_eq "SPACES=a b  c KV=k=v=w HOSTONLY=h"
	assert_output_not_contains "entry point"
	# --container-env keeps the host's value.
	run slurm_as_user env SPACES=host srun -N1 --container-image="$T/entry.sqsh" --container-env=SPACES \
		sh -c 'echo "SPACES=$SPACES"'
	assert_success
	assert_line_eq "SPACES=host"
	# The entrypoint (echo) runs instead of the stopping shell: pyxis's hint.
	run slurm_as_user srun -N1 --container-image="$T/entry.sqsh" --container-entrypoint true
	assert_failure
	assert_output_contains "capsa: container exited too soon"
	assert_output_contains "capsa: if the image has an unusual entrypoint, try using --no-container-entrypoint"
	assert_output_contains "entry point sh -c"
	assert_runtime_clean
}

@test "use_enroot_load=1: named containers come from capsa load" {
	need_registry
	slurm_containers_setup use_enroot_load=1
	run slurm_as_user srun -N1 --container-image="docker://$PLAIN#busybox:latest" --container-name=loaded \
		grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=busybox"
	assert_output_contains "capsa: imported docker image: docker://$PLAIN#busybox:latest"
	run capsa list
	assert_line_eq "pyxis_loaded"
	run slurm_as_user srun -N1 --container-image="docker://$PLAIN#busybox:latest" --container-save="$T/l.sqsh" true
	assert_success
	assert_exists "$T/l.sqsh"
	run capsa list
	assert_no_line_matching '^pyxis_[0-9]'
	assert_runtime_clean
}

# An importer (pyxis.md §11) that "imports" by copying the busybox fixture
# and logs its calls and environment to $T/importer.log.
make_importer() {
	cat >"$T/importer" <<-EOF
		#!/bin/sh
		echo "\$* uid=\$(id -u) job=\$SLURM_JOB_ID step=\$SLURM_STEP_ID rt=\$PYXIS_RUNTIME_PATH" >>"$T/importer.log"
		out=\$PYXIS_RUNTIME_PATH/\$SLURM_JOB_UID/\$SLURM_JOB_ID.\$SLURM_STEP_ID.imp.sqsh
		case "\$1" in
		get) [ "\$2" != docker://bad ] || { echo "no such image: \$2" >&2; exit 3; }
		     cp "$SQSH" "\$out" && echo "\$out" ;;
		release) rm -f "\$PYXIS_RUNTIME_PATH/\$SLURM_JOB_UID/"*.imp.sqsh ;;
		esac
	EOF
	chmod 0755 "$T/importer"
	chown "$TUID" "$T/importer"
}

@test "importer=: get then release (twice for a created rootfs), as the user; its errors reach srun" {
	make_importer
	slurm_containers_setup "importer=$T/importer"
	run slurm_as_user srun -N1 --container-image=someimage grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=capsa-busybox"
	assert_output_contains "capsa: imported docker image: someimage"
	run cat "$T/importer.log"
	[ "${#lines[@]}" -eq 2 ] || { echo "$output" >&2; return 1; }
	[[ ${lines[0]} == "get docker://someimage uid=$TUID job="[0-9]*" step=0 rt=$RT" ]] || { echo "$output" >&2; return 1; }
	[[ ${lines[1]} == "release uid=$TUID "* ]]
	rm "$T/importer.log"
	run slurm_as_user srun -N1 --container-image=someimage --container-name=imp true
	assert_success
	[ "$(grep -c ^release "$T/importer.log")" -eq 2 ]
	run slurm_as_user srun -N1 --container-image=bad true
	assert_failure
	assert_output_contains "capsa: importer get failed with exit code 3"
	assert_output_contains "capsa:     no such image: docker://bad"
	assert_output_contains "capsa: failed to import docker image: bad (importer: $T/importer)"
	assert_runtime_clean
}

# --- (4) sbatch, salloc -----------------------------------------------------------------

@test "scancel during an import: SIGTERM is passed on to the importer; the step ends cleanly" {
	local job i
	install -d -m 0777 "$T/imp"
	cat >"$T/slow-importer" <<-EOF
		#!/bin/sh
		[ "\$1" = get ] || exit 0
		trap 'echo term >"$T/imp/got-term"; exit 143' TERM
		echo started >"$T/imp/started"
		while :; do sleep 0.1; done
	EOF
	chmod 0755 "$T/slow-importer"
	slurm_containers_setup "importer=$T/slow-importer"
	slurm_as_user srun -N1 -J slowimport --container-image=slow true >"$T/srun.out" 2>&1 &
	for ((i = 0; i < 200; i++)); do
		[ -e "$T/imp/started" ] && break
		sleep 0.1
	done
	assert_exists "$T/imp/started"
	job=$(squeue -h -n slowimport -o %i)
	[ -n "$job" ]
	scancel "$job"
	wait || true
	assert_exists "$T/imp/got-term"
	grep -q "capsa: received SIGTERM, forwarding to child" "$CAPSA_SLURM_DIR"/log/slurmd-*.log ||
		{ tail -20 "$CAPSA_SLURM_DIR"/log/slurmd-*.log >&2; cat "$T/srun.out" >&2; false; }
	assert_runtime_clean
}

@test "sbatch with #SBATCH --container-image: the script runs inside, its srun inherits" {
	printf '#!/bin/sh\n#SBATCH --container-image=%s\ngrep ^ID= /etc/os-release\ntest -r "$0" && echo script-visible\n' "$SQSH" >"$SWORK/job.sh"
	chown "$TUID" "$SWORK/job.sh"
	run slurm_as_user sbatch --wait -N1 -o "$SWORK/job.out" "$SWORK/job.sh"
	assert_success
	run cat "$SWORK/job.out"
	assert_line_eq "ID=capsa-busybox"
	assert_line_eq "script-visible"
}

@test "salloc --container-image: every srun inside runs in the container" {
	run slurm_as_user salloc -N1 --container-image="$SQSH" srun grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=capsa-busybox"
}

# --- (5) bad input ----------------------------------------------------------------------

@test "an unknown image fails the step fast with capsa's error; nothing is left behind" {
	need_registry
	local t0=$SECONDS
	run slurm_as_user srun -N1 --container-image="docker://$PLAIN#doesnotexist:latest" true
	assert_failure
	assert_output_contains "capsa: importing docker image: docker://$PLAIN#doesnotexist:latest"
	assert_output_contains "capsa: failed to import docker image: docker://$PLAIN#doesnotexist:latest"
	assert_output_contains "capsa: printing capsa log file:"
	assert_output_contains "task_init() failed"
	[ $((SECONDS - t0)) -lt 20 ]
	assert_runtime_clean
	run slurm_as_user srun -N1 --container-image=/nonexistent.sqsh true
	assert_failure
	assert_output_contains "capsa: container start failed with error code"
	assert_runtime_clean
}

@test "runtime_path/<uid>: a symlink or another owner's directory is refused, never followed; errors reach srun" {
	local node=${CAPSA_SLURM_NODES%%,*} d
	d=$CAPSA_SLURM_DIR/nodes/$node/local/$(basename "$RT")
	mkdir -m 0755 "$d"
	mkdir -p "$T/elsewhere"
	ln -s "$T/elsewhere" "$d/$TUID"
	run slurm_as_user srun -N1 -w "$node" --container-image="$SQSH" true
	assert_failure
	assert_output_contains "capsa: couldn't open $RT/$TUID: Not a directory"
	[ "$(stat -c %u "$T/elsewhere")" = 0 ]
	rm "$d/$TUID"
	mkdir -m 0700 "$d/$TUID"
	run slurm_as_user srun -N1 -w "$node" --container-image="$SQSH" true
	assert_failure
	assert_output_contains "capsa: $RT/$TUID is not a directory owned by uid $TUID"
	rmdir "$d/$TUID"
	run slurm_as_user srun -N1 -w "$node" --container-image="$SQSH" true
	assert_success
	[ "$(stat -c '%u %a' "$d/$TUID")" = "$TUID 700" ]
	slurm_containers_setup runtime_path=/proc/nope
	run slurm_as_user srun -N1 --container-image="$SQSH" true
	assert_failure
	assert_output_contains "capsa: couldn't create /proc/nope: No such file or directory"
}

@test "make install: the installed plugin, capsa and capsa-image run steps from the sample plugstack line" {
	local inst=$T/inst src build
	src=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	build=install-test-$$
	make -C "$src" -s -j2 BUILD="$build" PREFIX="$inst" SYSCONFDIR="$inst/etc" install >/dev/null
	rm -rf "${src:?}/build/$build"
	assert_exists "$inst/lib/slurm/spank_capsa.so"
	assert_exists "$inst/libexec/capsa/capsa-image"
	[ "$(cat "$inst/share/capsa/plugstack-capsa.conf")" = \
		"required $inst/lib/slurm/spank_capsa.so capsa_path=$inst/bin/capsa" ]
	echo "$(cat "$inst/share/capsa/plugstack-capsa.conf") runtime_path=$RT sysconf_path=$SYSCONF" \
		>"$CAPSA_SLURM_PLUGSTACK_DIR/capsa.conf"
	run slurm_as_user srun -N1 --container-image="$SQSH" grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=capsa-busybox"
	# A named container is `capsa create`d: capsa-image found in LIBEXECDIR.
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=installed grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=capsa-busybox"
	assert_runtime_clean
}

@test "a capsa_path that does not exist fails the step, saying so" {
	slurm_containers_setup capsa_path=/nonexistent/capsa
	run slurm_as_user srun -N1 --container-image="$SQSH" true
	assert_failure
	assert_output_contains "capsa: could not execute the capsa binary: /nonexistent/capsa: No such file or directory"
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-name=x true
	assert_failure
	assert_output_contains "capsa: couldn't get list of containers: capsa: could not execute the capsa binary"
}

@test "a missing mount source fails the step with pyxis's message" {
	run slurm_as_user srun -N1 --container-image="$SQSH" --container-mounts=/does/not/exist:/x true
	assert_failure
	assert_output_contains "capsa: --container-mounts: source path does not exist: /does/not/exist"
	assert_runtime_clean
}
