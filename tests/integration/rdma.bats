#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
#
# RDMA devices (MELLANOX_VISIBLE_DEVICES, enroot's 99-mellanox) against a
# fake sysfs and stand-in nodes from tests/fixtures/mkfakerdma.sh. The
# container's /sys is the fake one, so that its class directories exist and
# the links capsa makes there resolve.

load helpers

setup_file() {
	[ -z "${CAPSA_SKIP_INTEGRATION:-}" ] || return 0
	R=$(mktemp -d "${CAPSA_TEST_TMPDIR:-/tmp}/capsa-rdmafix.XXXXXX")
	"$CAPSA_REPO/tests/fixtures/mkfakerdma.sh" "$R" >&2
	chmod -R a+rX "$R"
	chmod 0755 "$R"
	export R
}

teardown_file() {
	[ -z "${R:-}" ] || rm -rf "$R"
}

setup() {
	capsa_setup
	sed -i "s|^/sys |$R/sys |" "$SYSCONF/mounts.d/10-system.fstab"
	create_busybox
}
teardown() { capsa_teardown; }

rdma() {
	capsa_env CAPSA_RESTRICT_DEV="${RESTRICT:-y}" CAPSA_RDMA_SYS_ROOT="$R/sys" \
		CAPSA_RDMA_DEV_ROOT="${DEVROOT:-$R/dev}" "$@"
}

# What the container sees: its /dev/infiniband and the four classes.
SHOW='echo "dev: $(ls /dev/infiniband 2>/dev/null | tr "\n" " ")"
for c in infiniband infiniband_verbs infiniband_cm infiniband_mad; do
	echo "$c: $(ls /sys/class/$c | tr "\n" " ")"
done'

@test "rdma: unset, empty, none or void does nothing (the classes are the host's)" {
	for v in UNSET "" none void "0,void"; do
		if [ "$v" = UNSET ]; then
			run --separate-stderr rdma start busybox sh -c "$SHOW"
		else
			run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES="$v" start busybox sh -c "$SHOW"
		fi
		assert_success
		assert_line_eq "dev: "
		assert_line_eq "infiniband: mlx5_0 mlx5_1 "
		assert_line_eq "infiniband_verbs: abi_version uverbs0 uverbs1 "
	done
}

@test "rdma: all binds every HCA's uverbs node and rdma_cm; umad/issm only for a real root" {
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=all start busybox sh -c "$SHOW"
	assert_success
	assert_line_eq "dev: rdma_cm uverbs0 uverbs1 "
	assert_line_eq "infiniband: mlx5_0 mlx5_1 "
	assert_line_eq "infiniband_verbs: abi_version uverbs0 uverbs1 "
	assert_line_eq "infiniband_cm: abi_version "
	assert_line_eq "infiniband_mad: abi_version "
}

@test "rdma: an index selects that HCA (sorted order) with its own ports, links resolve in the container" {
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=1 start busybox sh -c \
		"$SHOW; cat /sys/class/infiniband/mlx5_1/node_desc /sys/class/infiniband_verbs/uverbs0/ibdev
		 cat /sys/class/infiniband_verbs/abi_version; head -c 4 /dev/infiniband/uverbs0 | wc -c"
	assert_success
	assert_line_eq "dev: rdma_cm uverbs0 "
	assert_line_eq "infiniband: mlx5_1 "
	assert_line_eq "infiniband_verbs: abi_version uverbs0 "
	assert_line_eq "0000:86:00.0"
	assert_line_eq "mlx5_1"
	assert_line_eq "6"
	# uverbs0 is the stand-in for /dev/null: empty.
	assert_line_eq "0"
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=" 0 , 0" start busybox sh -c "$SHOW"
	assert_success
	assert_line_eq "dev: rdma_cm uverbs1 "
	assert_line_eq "infiniband: mlx5_0 "
	# The host's value wins over the image's (-e is the image's side).
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=0 start -e MELLANOX_VISIBLE_DEVICES=all busybox sh -c "$SHOW"
	assert_success
	assert_line_eq "infiniband: mlx5_0 "
}

@test "rdma: the sysfs classes are read-only tmpfs mounts, the nodes read-only nosuid binds" {
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=all start busybox sh -c \
		'touch /sys/class/infiniband/x 2>/dev/null || echo sealed
		 awk "\$5 ~ /^\/(sys\/class\/infiniband|dev\/infiniband\/uverbs0)\$/ {print \$5, \$6, \$9}" /proc/self/mountinfo'
	assert_success
	assert_line_eq sealed
	assert_output_contains "/sys/class/infiniband ro,nosuid,nodev,noexec"
	assert_output_contains " tmpfs"
	assert_output_contains "/dev/infiniband/uverbs0 ro,nosuid"
}

@test "rdma: an unknown index or word is an error naming it" {
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=2 start busybox true
	assert_failure
	[[ $stderr == *"Unknown MELLANOX device id: 2"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=mlx5_0 start busybox true
	assert_failure
	[[ $stderr == *"Unknown MELLANOX device id: 'mlx5_0'"* ]] || { echo "$stderr" >&2; false; }
}

@test "rdma: a node that cannot be opened is one clear error naming it" {
	cp -a "$R/dev" "$T/dev"
	ln -sf /dev/kmsg "$T/dev/infiniband/uverbs1"
	[ "$(id -u)" -ne 0 ] || [ -n "${CAPSA_TEST_USER:-}" ] || skip "root opens /dev/kmsg"
	DEVROOT=$T/dev run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=0 start busybox true
	assert_failure
	[[ $stderr == *"RDMA device $T/dev/infiniband/uverbs1: cannot open"* ]] || { echo "$stderr" >&2; false; }
	# A missing node too.
	rm "$T/dev/infiniband/uverbs1"
	DEVROOT=$T/dev run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=0 start busybox true
	assert_failure
	[[ $stderr == *"uverbs1: cannot open: No such file or directory"* ]] || { echo "$stderr" >&2; false; }
}

@test "rdma: with the host's /dev (no RESTRICT_DEV), a node missing there is never created in it" {
	[ ! -e /dev/infiniband/uverbs1 ] || skip "this host has RDMA devices"
	RESTRICT=n run --separate-stderr rdma MELLANOX_VISIBLE_DEVICES=0 start busybox true
	assert_failure
	[[ $stderr == *"CAPSA_RESTRICT_DEV=y"* ]] || { echo "$stderr" >&2; false; }
	[[ $stderr == *"CAPSA_RDMA_DEV_ROOT"* ]] || { echo "$stderr" >&2; false; }
	[ ! -e /dev/infiniband/uverbs1 ]
}

@test "rdma: a real root (no user namespace) also gets the HCA's umad and issm nodes; root in a user namespace does not" {
	require_root
	run --separate-stderr capsa_as_root create -n rootbox "$FIX/busybox.sqsh"
	assert_success
	run --separate-stderr capsa_as_root CAPSA_ALLOW_SUPERUSER=y CAPSA_RESTRICT_DEV=y CAPSA_RDMA_SYS_ROOT="$R/sys" \
		CAPSA_RDMA_DEV_ROOT="$R/dev" MELLANOX_VISIBLE_DEVICES=1 start rootbox sh -c "$SHOW"
	assert_success
	assert_line_eq "dev: issm0 rdma_cm umad0 uverbs0 "
	assert_line_eq "infiniband_mad: abi_version issm0 umad0 "
	run --separate-stderr capsa_as_root CAPSA_RESTRICT_DEV=y CAPSA_RDMA_SYS_ROOT="$R/sys" \
		CAPSA_RDMA_DEV_ROOT="$R/dev" MELLANOX_VISIBLE_DEVICES=1 start rootbox sh -c "$SHOW"
	assert_success
	assert_line_eq "dev: rdma_cm uverbs0 "
	assert_line_eq "infiniband_mad: abi_version "
}
