#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
#
# spank_capsa.so and the image store on the real Slurm bed: a repeated
# `srun --container-image=docker://...` is one manifest request and a start
# from the stored squashfs; a step over several nodes pulls the image once
# (the first node imports, sbcast carries it to the others' node-local
# stores).  Every node has its own cache directory, as on a cluster with
# node-local disks; requests are counted in the registry's own log.

load helpers

setup_file() {
	slurm_and_registry_beds_start slurmstore
	if [ -z "$SLURM_SKIP" ] && [ -z "$REG_SKIP" ]; then
		# A fault proxy in front of the registry, to take it down.
		mkdir -p "$REG_DIR/fp"
		# shellcheck source=/dev/null
		. "$REG_DIR/env.sh"
		start_proxy slurm "" "http://$CAPSA_REGISTRY_PLAIN"
		export FP_SLURM_PORT=$FP_STARTED_PORT
	fi
}

teardown_file() {
	[ -z "${REG_DIR:-}" ] || stop_proxies
	registry_bed_stop
	slurm_bed_stop
}

setup() {
	slurm_bed_setup
	[ -z "$REG_SKIP" ] || skip "$REG_SKIP"
	slurm_containers_setup
	# shellcheck source=/dev/null
	. "$REG_DIR/env.sh"
	PLAIN=$CAPSA_REGISTRY_PLAIN
	# Node-local caches: each slurmd sees its own DIR/nodes/<node>/local on
	# $CAPSA_SLURM_NODE_LOCAL.
	NCACHE=cache-$(basename "$T")
	local d
	for d in "$CAPSA_SLURM_DIR"/nodes/*/local; do
		install -d -m 0700 -o "$TUID" -g "$TUID" "$d/$NCACHE"
	done
	sed -i "s|^CAPSA_CACHE_PATH .*|CAPSA_CACHE_PATH $CAPSA_SLURM_NODE_LOCAL/$NCACHE|" "$SYSCONF/capsa.conf"
	RLOG=$REG_DIR/logs/plain.log
}

teardown() {
	local d
	for d in "$CAPSA_SLURM_DIR"/nodes/*/local/"${NCACHE:-none}"; do
		[ -d "$d" ] && rm -rf "$d"
	done
	slurm_plugin_remove
	capsa_teardown
}

# The stored images of a node's cache: "sha256:HEX" lines.
node_images() {
	local d=$CAPSA_SLURM_DIR/nodes/$1/local/$NCACHE/images/sha256
	[ -d "$d" ] || return 0
	find "$d" -maxdepth 1 -name '*.sqsh' -printf '%f\n' | sed 's/\.sqsh$//; s/^/sha256:/' | sort
}

# Registry requests since mark_log: "METHOD PATH STATUS" from the
# registry's access log lines.
mark_log() { LOGMARK=$(stat -c %s "$RLOG"); }
requests() {
	tail -c "+$((LOGMARK + 1))" "$RLOG" | sed -n 's/^[0-9.]* - - \[[^]]*\] "\([A-Z]*\) \([^ ]*\) HTTP[^"]*" \([0-9]*\) .*/\1 \2 \3/p'
}
count_requests() { requests | grep -c "$1" || true; }

assert_runtime_clean() {
	local d left
	for d in $(slurm_node_runtime_dirs); do
		left=$(find "$d/$TUID" -mindepth 1 2>/dev/null)
		[ -z "$left" ] || { echo "left in $d: $left" >&2; return 1; }
	done
}

@test "a repeated srun --container-image=docker://... is one manifest request and a start from the stored squashfs" {
	local node img
	node=$(cut -d, -f1 <<<"$CAPSA_SLURM_NODES")
	mark_log
	run slurm_as_user srun -N1 -w "$node" --container-image="docker://$PLAIN#multilayer:latest" sh -c 'grep " / " /proc/mounts'
	assert_success
	assert_output_contains "capsa: imported docker image: docker://$PLAIN#multilayer:latest"
	[ "$(count_requests '/blobs/')" -ge 2 ] || { requests >&2; false; }
	img=$(node_images "$node")
	[ "$(wc -l <<<"$img")" -eq 1 ] && [[ $img == sha256:* ]] || { echo "store: $img" >&2; false; }
	# Started from the squashfs itself: no rootfs was unpacked.
	[ -z "$(ls -A "$DATA")" ] || { ls -la "$DATA" >&2; false; }
	assert_output_contains "overlay / overlay"
	assert_runtime_clean
	mark_log
	run slurm_as_user srun -N1 -w "$node" --container-image="docker://$PLAIN#multilayer:latest" cat /etc/os-release
	assert_success
	[ "$(count_requests '/manifests/')" -eq 1 ] || { requests >&2; false; }
	[ "$(count_requests '/blobs/')" -eq 0 ] || { requests >&2; false; }
	[ "$(node_images "$node")" = "$img" ]
	assert_runtime_clean
}

@test "srun -N3: one registry pull per job; every node keeps the image in its own store" {
	local n img first
	mark_log
	run slurm_as_user srun -N3 -n3 --container-image="docker://$PLAIN#multilayer:latest" \
		sh -c 'echo "in $SLURMD_NODENAME $(ls /fx 2>/dev/null | wc -l)"'
	assert_success
	[ "$(grep -c '^in ' <<<"$output")" -eq 3 ] || { echo "$output" >&2; false; }
	# Each blob was fetched once, by one node.
	[ "$(requests | grep '/blobs/' | grep -c '^GET')" -ge 2 ] || { requests >&2; false; }
	[ -z "$(requests | grep '^GET .*/blobs/' | cut -d' ' -f1,2 | sort | uniq -d)" ] || { requests >&2; false; }
	[ "$(count_requests '/manifests/')" -le 2 ] || { requests >&2; false; }
	first=
	for n in ${CAPSA_SLURM_NODES//,/ }; do
		img=$(node_images "$n")
		[ -n "$img" ] && [ "$(wc -l <<<"$img")" -eq 1 ] || { echo "$n: $img" >&2; false; }
		[ -z "$first" ] || [ "$img" = "$first" ] || { echo "$n: $img != $first" >&2; false; }
		first=$img
	done
	assert_runtime_clean
	# Again: one manifest request for the whole job, no blob.
	mark_log
	run slurm_as_user srun -N3 -n3 --container-image="docker://$PLAIN#multilayer:latest" true
	assert_success
	[ "$(count_requests '/manifests/')" -eq 1 ] || { requests >&2; false; }
	[ "$(count_requests '/blobs/')" -eq 0 ] || { requests >&2; false; }
	assert_runtime_clean
}

@test "srun -N3: a node that has the image keeps its copy; the others get it from the first node" {
	local nodes=(${CAPSA_SLURM_NODES//,/ }) img
	# Only the last node has it (the first node imports it from the registry).
	run slurm_as_user srun -N1 -w "${nodes[2]}" --container-image="docker://$PLAIN#busybox:latest" true
	assert_success
	img=$(node_images "${nodes[2]}")
	mark_log
	run slurm_as_user srun -N3 --container-image="docker://$PLAIN#busybox:latest" grep ^ID= /etc/os-release
	assert_success
	[ "$(grep -c '^ID=busybox$' <<<"$output")" -eq 3 ] || { echo "$output" >&2; false; }
	[ -z "$(requests | grep '^GET .*/blobs/' | cut -d' ' -f1,2 | sort | uniq -d)" ] || { requests >&2; false; }
	for n in "${nodes[@]}"; do
		[ "$(node_images "$n")" = "$img" ] || { echo "$n: $(node_images "$n")" >&2; false; }
	done
	assert_runtime_clean
}

@test "srun -N3: an import failing on the first node fails every node fast, with its error" {
	local t0=$SECONDS
	run slurm_as_user srun -N3 --container-image="docker://$PLAIN#doesnotexist:latest" true
	assert_failure
	assert_output_contains "capsa: failed to import docker image: docker://$PLAIN#doesnotexist:latest"
	assert_output_contains "the import on node $(cut -d, -f1 <<<"$CAPSA_SLURM_NODES") failed (see its error)"
	[ "$(grep -c 'capsa: failed to import docker image' <<<"$output")" -eq 3 ] || { echo "$output" >&2; false; }
	[ $((SECONDS - t0)) -lt 30 ]
	assert_runtime_clean
}

@test "sbcast_path= (empty): every node pulls the image itself; image_store=0: a temporary import per step" {
	slurm_containers_setup sbcast_path=
	mark_log
	run slurm_as_user srun -N3 --container-image="docker://$PLAIN#busybox:latest" true
	assert_success
	# Three node-local caches, three pulls of the layer.
	[ "$(requests | grep '^GET .*/blobs/' | cut -d' ' -f1,2 | sort | uniq -c | awk '{ print $1 }' | sort -u)" = 3 ] ||
		{ requests >&2; false; }
	assert_runtime_clean
	# image_store=0: imported for the step only (pyxis's way), the store is untouched.
	slurm_containers_setup image_store=0
	mark_log
	run slurm_as_user srun -N3 --container-image="docker://$PLAIN#multilayer:latest" cat /fx/wh/keep
	assert_success
	[ "$(count_requests '/blobs/')" -ge 1 ] || { requests >&2; false; }
	for n in ${CAPSA_SLURM_NODES//,/ }; do
		[ "$(node_images "$n" | wc -l)" -eq 1 ] || { echo "$n: $(node_images "$n")" >&2; false; }
	done
	assert_runtime_clean
}

@test "registry down: a stored tag starts with capsa's warning; an unknown one fails fast; nothing is left" {
	local fp=127.0.0.1:$FP_SLURM_PORT node=${CAPSA_SLURM_NODES%%,*} t0
	rules slurm '[]'
	run slurm_as_user srun -N1 -w "$node" --container-image="docker://$fp#busybox:latest" true
	assert_success
	rules slurm '[{"path": "/v2/", "action": "status", "status": 503}]'
	run slurm_as_user srun -N1 -w "$node" --container-image="docker://$fp#busybox:latest" grep ^ID= /etc/os-release
	assert_success
	assert_line_eq "ID=busybox"
	assert_output_contains "[WARN]"
	assert_output_contains "using the image stored for"
	t0=$SECONDS
	run slurm_as_user srun -N1 -w "$node" --container-image="docker://$fp#other:latest" true
	assert_failure
	assert_output_contains "capsa: failed to import docker image: docker://$fp#other:latest"
	assert_output_contains "503"
	[ $((SECONDS - t0)) -lt 30 ]
	assert_runtime_clean
	rules slurm '[]'
}

@test "concurrent steps importing one image on a node: all run, one stored image, each layer fetched once" {
	local node=${CAPSA_SLURM_NODES%%,*} i config
	# The small config blob is fetched by each import that finds it missing.
	config=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$PLAIN/v2/multilayer/manifests/latest" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])')
	mark_log
	for i in 1 2 3 4; do
		slurm_as_user srun -N1 -w "$node" --overlap --container-image="docker://$PLAIN#multilayer:latest" \
			cat /fx/wh/keep >"$T/c$i.out" 2>&1 &
	done
	wait
	for i in 1 2 3 4; do
		grep -qx keep "$T/c$i.out" || { cat "$T/c$i.out" >&2; false; }
	done
	[ "$(node_images "$node" | wc -l)" -eq 1 ]
	[ -z "$(requests | grep '^GET .*/blobs/' | grep -v "$config" | cut -d' ' -f1,2 | sort | uniq -d)" ] ||
		{ requests >&2; false; }
	assert_runtime_clean
}
