#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # status/output/lines are set by bats' run; single quotes are for the container's shell
# SPDX-License-Identifier: Apache-2.0
#
# MPI across nodes in capsa containers through spank_capsa.so on the real
# Slurm bed (pyxis.md §7 "PMIx/PMI2", §14.2 "mpi"): an Open MPI hello world
# started by srun --mpi=pmix on two nodes, each node's tasks in one container
# of an image that carries its own Open MPI, as pyxis users' images do.
#
# Needs Debian's openmpi-bin, libopenmpi-dev (mpicc) and libpmix-dev: Slurm's
# mpi/pmix_v4 dlopens /usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so, which
# only libpmix-dev ships.  PMI-2 is checked without MPI: Debian's Open MPI is
# built without Slurm's libpmi2 (no --with-pmi), so its MPI_Init fails under
# --mpi=pmi2 ("install PMI-2 ... build Open MPI using --with-pmi").
#
# The bed's nodes share /tmp; start.sh's mpi.conf puts the PMIx client
# directory (spmix_appdir_<uid>_<job>.<step>) on each node's own DIR/local.
# The image is made offline from the host's own Open MPI and PMIx (ldd), so
# the client libraries in the container match Slurm's PMIx server exactly.
# setup enables capsa's conf/hooks-extra/50-slurm-pmi.sh (enroot's extra hook),
# which binds the step's PMIx server directory and passes SLURM_*, PMIX_* and
# PMI_* into the container; the tasks keep their own per-task values (the
# pmi2 test fails if the first task's PMI_RANK leaks).  Without the hook, MPI still starts here:
# the client reaches the server over tcp4://127.0.0.1 (capsa containers share
# the host's network) and falls back from the ds21 shared-memory store, whose
# files it cannot see, to gds/hash.

load helpers

PMIX_LIB=/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so

setup_file() {
	SLURM_BED_PLUGIN=1 slurm_bed_start 2
	export MPI_SKIP='' PMIX_SKIP=''
	[ -z "$SLURM_SKIP" ] || return 0
	if [ ! -e "$PMIX_LIB" ]; then
		PMIX_SKIP="Slurm's mpi/pmix needs $PMIX_LIB (apt-get install libpmix-dev)"
		MPI_SKIP=$PMIX_SKIP
		return 0
	fi
	if ! command -v mpicc >/dev/null || ! command -v ompi_info >/dev/null; then
		MPI_SKIP="Open MPI is not installed (apt-get install openmpi-bin libopenmpi-dev)"
		return 0
	fi
	MPI_IMAGE=$SLURM_DIR/lib/openmpi.sqsh
	export MPI_IMAGE
	mkdir -p "$SLURM_DIR/mpi"
	if ! mpi_image_build "$SLURM_DIR/mpi" "$MPI_IMAGE" >"$SLURM_DIR/mpi/build.log" 2>&1; then
		cat "$SLURM_DIR/mpi/build.log" >&2
		return 1
	fi
	echo "# $(tail -n 1 "$SLURM_DIR/mpi/build.log")" >&3
}

teardown_file() {
	slurm_bed_stop
}

setup() {
	slurm_bed_setup
	slurm_containers_setup
	# The PMIx hook capsa ships (enroot's extra 50-slurm-pmi.sh), enabled
	# as a site does: copied into hooks.d.  It binds the step's PMIx server
	# directory, with the gds/ds21 shared-memory store, into the container.
	install -m 0755 "$BATS_TEST_DIRNAME/../../conf/hooks-extra/50-slurm-pmi.sh" "$SYSCONF/hooks.d/"
	SQSH=$FIX/busybox.sqsh
}

teardown() {
	slurm_plugin_remove
	capsa_teardown
}

# mpi_image_build WORKDIR IMAGE: compile the hello world with mpicc and pack,
# offline, the busybox fixture plus it, Open MPI (libraries, MCA components,
# help texts, configuration), PMIx and every library they load (ldd) at the
# host's paths, with Debian's merged-/usr links, into the squashfs IMAGE.
mpi_image_build() {
	local work=$1 image=$2 root=$1/rootfs f d real
	local -a libs
	mkdir -p "$work"
	cat >"$work/hello.c" <<-'EOF'
		#include <mpi.h>
		#include <stdio.h>
		#include <stdlib.h>

		int main(int argc, char **argv)
		{
			char host[MPI_MAX_PROCESSOR_NAME];
			int rank, size, len, sum = -1;
			const char *pmix = getenv("PMIX_RANK"), *procid = getenv("SLURM_PROCID");

			MPI_Init(&argc, &argv);
			MPI_Comm_rank(MPI_COMM_WORLD, &rank);
			MPI_Comm_size(MPI_COMM_WORLD, &size);
			MPI_Get_processor_name(host, &len);
			MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
			printf("mpi-hello rank=%d size=%d host=%s sum=%d pmix_rank=%s procid=%s\n", rank, size, host,
			       sum, pmix ? pmix : "-", procid ? procid : "-");
			MPI_Finalize();
			return 0;
		}
	EOF
	mpicc -O2 -o "$work/mpi-hello" "$work/hello.c"

	rm -rf "$root"
	cp -a "$CAPSA_FIXTURES/busybox" "$root"
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"
	install -m 0755 "$work/mpi-hello" "$root/usr/local/bin/mpi-hello"
	# Components and plugins are dlopened: copy the directories whole.
	for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi \
		/usr/share/pmix /etc/openmpi; do
		[ -e "$d" ] || continue
		mkdir -p "$root$(dirname "$d")"
		cp -a "$d" "$root$d"
	done
	# No headers or static libraries: a runtime image.
	rm -rf "$root"/usr/lib/x86_64-linux-gnu/{openmpi,pmix2}/include
	find "$root" -name '*.a' -delete
	mapfile -t libs < <(
		{
			ldd "$work/mpi-hello"
			find /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 -type f -name '*.so*' -exec ldd {} +
		} 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u
	)
	for f in "${libs[@]}"; do
		# Each library at its real path, and the name the loader asks for
		# (a soname link, /etc/alternatives...) as a relative link to it,
		# both under their canonical directory (/lib is /usr/lib).
		real=$(readlink -f "$f")
		mkdir -p "$root$(dirname "$real")"
		cp -a "$real" "$root$real"
		d=$(readlink -f "$(dirname "$f")")
		if [ "$d/${f##*/}" != "$real" ]; then
			mkdir -p "$root$d"
			ln -sfr "$root$real" "$root$d/${f##*/}"
		fi
	done
	rm -f "$image"
	mksquashfs "$root" "$image" -all-root -comp zstd -noappend -quiet -no-progress -no-xattrs >/dev/null
	chmod 0644 "$image"
	rm -rf "$root"
	echo "$(basename "$image"): $(du -h "$image" | cut -f1), ${#libs[@]} libraries"
}

need_pmix() { [ -z "$PMIX_SKIP" ] || skip "$PMIX_SKIP"; }
need_mpi() { [ -z "$MPI_SKIP" ] || skip "$MPI_SKIP"; }

@test "srun -N2 -n4 --mpi=pmix --container-image: Open MPI hello world across two nodes" {
	need_mpi
	# mpi-hello and its Open MPI exist only in the image.
	run slurm_as_user srun -N2 -n4 --mpi=pmix --container-image="$MPI_IMAGE" \
		sh -c 'grep -q "^ID=capsa-busybox$" /etc/os-release && exec mpi-hello'
	assert_success
	local hello
	hello=$(grep '^mpi-hello ' <<<"$output")
	[ "$(wc -l <<<"$hello")" -eq 4 ] || { echo "$output" >&2; return 1; }
	# Ranks 0..3 of one world of 4; every rank took part in the Allreduce.
	[ "$(sed -n 's/.* rank=\([0-9]*\) .*/\1/p' <<<"$hello" | sort -n | tr '\n' ' ')" = "0 1 2 3 " ] ||
		{ echo "$output" >&2; return 1; }
	[ "$(grep -c ' size=4 .* sum=6 ' <<<"$hello")" -eq 4 ] || { echo "$output" >&2; return 1; }
	# The MPI rank is the task's PMIx rank and Slurm rank.
	[ "$(grep -cE ' rank=([0-9]) .* pmix_rank=\1 procid=\1$' <<<"$hello")" -eq 4 ] || { echo "$output" >&2; return 1; }
	# Two nodes, two ranks each (block distribution), by their own hostnames.
	local n1=${CAPSA_SLURM_NODES%%,*} n2=${CAPSA_SLURM_NODES#*,}
	[ "$(grep -cE " rank=[01] .* host=$n1 " <<<"$hello")" -eq 2 ] || { echo "$output" >&2; return 1; }
	[ "$(grep -cE " rank=[23] .* host=$n2 " <<<"$hello")" -eq 2 ] || { echo "$output" >&2; return 1; }
}

@test "srun --mpi=pmix: per-task PMIx variables; the PMIx server's ds21 store is inside the container" {
	need_pmix
	run slurm_as_user srun -N2 -n4 --mpi=pmix --container-image="$SQSH" sh -c \
		'echo "task $SLURM_PROCID pmix=$PMIX_RANK ns=$PMIX_NAMESPACE $(hostname) $(grep ^ID= /etc/os-release)"
		 [ -d "$PMIX_DSTORE_21_BASE_PATH" ] && [ "${PMIX_DSTORE_21_BASE_PATH#"$PMIX_SERVER_TMPDIR"}" != "$PMIX_DSTORE_21_BASE_PATH" ] &&
			echo "ds21 $PMIX_DSTORE_21_BASE_PATH"'
	assert_success
	[ "$(grep -c '^task ' <<<"$output")" -eq 4 ] || { echo "$output" >&2; return 1; }
	[ "$(grep -cE '^task ([0-3]) pmix=\1 ns=slurm\.pmix\.[0-9]+\.0 .* ID=capsa-busybox$' <<<"$output")" -eq 4 ] ||
		{ echo "$output" >&2; return 1; }
	[ "$(grep '^task ' <<<"$output" | awk '{ print $5 }' | sort -u | wc -l)" -eq 2 ] || { echo "$output" >&2; return 1; }
	[ "$(grep -c '^ds21 /' <<<"$output")" -eq 4 ] || { echo "$output" >&2; return 1; }
}

@test "srun --mpi=pmi2: PMI_RANK, PMI_SIZE and the PMI_FD socket reach every task in the container" {
	run slurm_as_user srun -N2 -n4 --mpi=pmi2 --container-image="$SQSH" sh -c \
		'[ -S "/proc/self/fd/$PMI_FD" ] && s=socket || s="no socket"; echo "pmi $SLURM_PROCID $PMI_RANK $PMI_SIZE $s"'
	assert_success
	[ "$(grep -cE '^pmi ([0-3]) \1 4 socket$' <<<"$output")" -eq 4 ] || { echo "$output" >&2; return 1; }
}
