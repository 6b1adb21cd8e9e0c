#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # bats sets status/output/stderr; container commands are single-quoted
# SPDX-License-Identifier: Apache-2.0
# capsa start --device: CDI specs as a device source (issue 9). A test
# vendor example.com/dev binds host stand-ins (/dev/null, /dev/zero) as its
# device nodes; specs live in a directory of the test (CAPSA_CDI_SPEC_DIRS).

load helpers

setup() {
	capsa_setup
	create_busybox
	CDI=$T/cdi
	mkdir -p "$CDI" "$SHARED/vendor"
	echo vendor-data >"$SHARED/vendor/lib.txt"
	capsa_chown "$SHARED"
}
teardown() { capsa_teardown; }

# cdi ARGS...: capsa with the test's spec dir and a fresh /dev (a tmpfs, so
# that /dev/exampleN can be created; the host /dev is not writable).
cdi() { capsa CAPSA_CDI_SPEC_DIRS="$CDI" CAPSA_RESTRICT_DEV=y "$@"; }

write_spec() { # FILE <<< spec
	write_file "$CDI/$1" 0644
}

example_spec() {
	write_spec example.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	containerEdits:
	  env: [EXAMPLE_TOP=top]
	  hooks:
	  - hookName: createContainer
	    path: /usr/bin/nvidia-cdi-hook
	    args: [nvidia-cdi-hook, create-symlinks, --link, /opt/vendor/lib.txt::/usr/lib/example/link.txt]
	devices:
	- name: "0"
	  containerEdits:
	    env: [EXAMPLE_DEV=zero, EXAMPLE_WITH_BLANK=a b]
	    deviceNodes:
	    - {path: /dev/example0, hostPath: /dev/zero, type: c, major: 1, minor: 5, permissions: rw}
	    mounts:
	    - {hostPath: "$SHARED/vendor", containerPath: /opt/vendor, options: [ro, nosuid, nodev, bind]}
	- name: "1"
	  containerEdits:
	    deviceNodes:
	    - {path: /dev/example1, hostPath: /dev/null}
	EOF
}

@test "cdi: --device applies the device's nodes, mounts, env and the create-symlinks hook" {
	example_spec
	run --separate-stderr cdi start --device example.com/dev=0 busybox sh -c '
		stat -c "%F %t:%T" /dev/example0
		head -c 4 /dev/example0 | od -An -tx1
		cat /opt/vendor/lib.txt /usr/lib/example/link.txt
		readlink /usr/lib/example/link.txt
		echo "$EXAMPLE_TOP $EXAMPLE_DEV $EXAMPLE_WITH_BLANK"
		[ -e /dev/example1 ] || echo "no example1"'
	assert_success
	assert_output_eq "character special file 1:5
 00 00 00 00
vendor-data
vendor-data
/opt/vendor/lib.txt
top zero a b
no example1"
}

@test "cdi: NVIDIA_VISIBLE_DEVICES with CDI names takes the devices from the specs; mixed with an index is an error" {
	example_spec
	run --separate-stderr cdi start -e NVIDIA_VISIBLE_DEVICES=example.com/dev=0,example.com/dev=1 busybox sh -c '
		stat -c "%F %t:%T" /dev/example0 /dev/example1; echo "$EXAMPLE_DEV"'
	assert_success
	assert_output_eq "character special file 1:5
character special file 1:3
zero"
	run --separate-stderr cdi start -e NVIDIA_VISIBLE_DEVICES=example.com/dev=0,1 busybox true
	assert_failure
	assert_error "NVIDIA_VISIBLE_DEVICES mixes CDI names ('example.com/dev=0') with other device ids ('1')"
}

@test "cdi: JSON specs, VENDOR/CLASS=all and several --device" {
	write_spec example.json <<-'EOF'
	{"cdiVersion": "0.5.0", "kind": "example.com/dev",
	 "devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/example0", "hostPath": "/dev/zero"}]}},
	             {"name": "b", "containerEdits": {"deviceNodes": [{"path": "/dev/example1", "hostPath": "/dev/null"}]}}]}
	EOF
	run --separate-stderr cdi start --device example.com/dev=all busybox stat -c '%n %t:%T' /dev/example0 /dev/example1
	assert_success
	assert_output_eq "/dev/example0 1:5
/dev/example1 1:3"
	run --separate-stderr cdi start --device example.com/dev=b --device example.com/dev=a busybox \
		stat -c '%n' /dev/example0 /dev/example1
	assert_success
}

@test "cdi: a device node whose path is the host's, under the host /dev (no RESTRICT_DEV)" {
	write_spec null.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	devices: [{name: null, containerEdits: {deviceNodes: [{path: /dev/null}]}}]
	EOF
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI" start --device example.com/dev=null busybox \
		stat -c '%F %t:%T' /dev/null
	assert_success
	assert_output_eq "character special file 1:3"
	# A node the host's /dev lacks cannot be made there: the fix is named.
	example_spec
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI" start --device example.com/dev=1 busybox true
	assert_error "set CAPSA_RESTRICT_DEV=y"
}

@test "cdi: a malformed spec is an error naming the file" {
	write_spec bad.json <<<'{"cdiVersion": "0.6.0", "kind": '
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "$CDI/bad.json"
	write_spec bad.json <<<'{"cdiVersion": "7.0.0", "kind": "example.com/dev", "devices": [{"name": "0"}]}'
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "'7.0.0' is not a known cdiVersion"
	[[ $stderr == *"$CDI/bad.json"* ]]
}

@test "cdi: two specs of one directory defining a device conflict; a later directory overrides" {
	example_spec
	write_spec other.json <<<'{"cdiVersion": "0.6.0", "kind": "example.com/dev", "devices": [{"name": "0", "containerEdits": {"env": ["OTHER=1"]}}]}'
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "defined by both"
	[[ $stderr == *"$CDI/example.yaml"* && $stderr == *"$CDI/other.json"* ]]
	mkdir -p "$T/cdi2"
	mv "$CDI/other.json" "$T/cdi2/"
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI $T/cdi2" start --device example.com/dev=0 \
		busybox sh -c 'echo "${OTHER:-unset} ${EXAMPLE_DEV:-unset}"'
	assert_success
	assert_output_eq "1 unset"
}

@test "cdi: an unknown or invalid device is an error naming it" {
	example_spec
	run --separate-stderr cdi start --device example.com/dev=7 busybox true
	assert_error "'example.com/dev=7' not found"
	run --separate-stderr cdi start --device nvidia.com/gpu=0 busybox true
	assert_error "'nvidia.com/gpu=0' not found"
	run --separate-stderr cdi start --device gpu0 busybox true
	assert_error "invalid CDI device 'gpu0'"
}

@test "cdi: a spec's foreign hook is refused, never run" {
	write_spec evil.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	devices:
	- name: "0"
	  containerEdits:
	    hooks: [{hookName: createContainer, path: $T/evil, args: [evil]}]
	EOF
	write_file "$T/evil" 0755 <<-EOF
	#!/bin/sh
	touch $T/ran
	EOF
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "hook '$T/evil' refused"
	assert_not_exists "$T/ran"
	write_spec evil.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	devices:
	- name: "0"
	  containerEdits:
	    hooks: [{hookName: createContainer, path: /usr/bin/nvidia-ctk, args: [nvidia-ctk, hook, chmod, --mode, "777"]}]
	EOF
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "/usr/bin/nvidia-ctk chmod' refused"
}

@test "cdi: a device node that is not the spec's device is refused" {
	write_spec wrong.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	devices:
	- {name: file, containerEdits: {deviceNodes: [{path: /dev/example0, hostPath: /etc/hostname}]}}
	- {name: minor, containerEdits: {deviceNodes: [{path: /dev/example0, hostPath: /dev/null, major: 1, minor: 5}]}}
	- {name: gone, containerEdits: {deviceNodes: [{path: /dev/example0, hostPath: /dev/no-such-node}]}}
	EOF
	run --separate-stderr cdi start --device example.com/dev=file busybox true
	assert_error "is not a character device"
	run --separate-stderr cdi start --device example.com/dev=minor busybox true
	assert_error "is 1:3, the spec says 1:5"
	run --separate-stderr cdi start --device example.com/dev=gone busybox true
	assert_error "host node '/dev/no-such-node': No such file"
}

@test "cdi: a plain start maps no libyaml; a --device start loads it" {
	example_spec
	run --separate-stderr capsa LD_DEBUG=libs start busybox true
	assert_success
	[[ $stderr != *libyaml* ]] || { echo "libyaml mapped by a plain start" >&2; false; }
	run --separate-stderr cdi LD_DEBUG=libs start --device example.com/dev=1 busybox true
	assert_success
	[[ $stderr == *libyaml* ]]
}

@test "cdi: start --help documents --device" {
	run capsa start --help
	assert_success
	assert_output_contains "--device"
}

# fake_ldconfig: the image's /sbin/ldconfig records its arguments and
# environment (update-ldcache runs it chrooted with an empty environment).
fake_ldconfig() {
	rm -f "$DATA/busybox/sbin/ldconfig"
	write_file "$DATA/busybox/sbin/ldconfig" 0755 <<-'EOF'
	#!/bin/sh
	echo "$0 $*" >/etc/ldconfig.args
	env >/etc/ldconfig.env
	[ -e /etc/ld.so.conf.d/00-cuda-compat.conf ] && cat /etc/ld.so.conf.d/00-cuda-compat.conf >>/etc/ldconfig.args
	exit 0
	EOF
}

ldcache_spec() { # HOST_DRIVER_VERSION
	write_spec nvidia.yaml <<-EOF
	cdiVersion: 0.8.0
	kind: nvidia.com/gpu
	devices: [{name: "0", containerEdits: {deviceNodes: [{path: /dev/null}]}}]
	containerEdits:
	  hooks:
	  - {hookName: createContainer, path: /usr/bin/nvidia-cdi-hook,
	     args: [nvidia-cdi-hook, enable-cuda-compat, --host-driver-version=$1]}
	  - {hookName: createContainer, path: /usr/bin/nvidia-ctk,
	     args: [nvidia-ctk, hook, update-ldcache, --folder, /usr/lib/x86_64-linux-gnu, --folder, /usr/lib64]}
	  - {hookName: createContainer, path: /usr/bin/nvidia-cdi-hook,
	     args: [nvidia-cdi-hook, disable-device-node-modification]}
	EOF
}

@test "cdi: update-ldcache runs the image's ldconfig on the folders, chrooted, with an empty environment" {
	fake_ldconfig
	ldcache_spec 550.54.15
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI" LD_PRELOAD=/nonexistent.so start --rw \
		--device nvidia.com/gpu=0 busybox sh -c 'cat /etc/ldconfig.args; grep -c -E "^(LD_|HOME|USER)" /etc/ldconfig.env'
	assert_status 1 # grep counted 0 lines
	assert_output_eq "/sbin/ldconfig /usr/lib/x86_64-linux-gnu /usr/lib64
0"
}

@test "cdi: enable-cuda-compat adds /usr/local/cuda/compat only when newer than the host driver" {
	fake_ldconfig
	mkdir -p "$DATA/busybox/usr/local/cuda/compat"
	: >"$DATA/busybox/usr/local/cuda/compat/libcuda.so.575.51.03"
	ln -s libcuda.so.575.51.03 "$DATA/busybox/usr/local/cuda/compat/libcuda.so.1"
	capsa_chown "$DATA/busybox/usr"
	ldcache_spec 550.54.15
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI" start --rw --device nvidia.com/gpu=0 busybox \
		cat /etc/ldconfig.args
	assert_success
	assert_output_eq "/sbin/ldconfig /usr/lib/x86_64-linux-gnu /usr/lib64
/usr/local/cuda/compat"
	rm -f "$DATA/busybox/etc/ld.so.conf.d/00-cuda-compat.conf"
	ldcache_spec 580.65.06
	run --separate-stderr capsa CAPSA_CDI_SPEC_DIRS="$CDI" start --rw --device nvidia.com/gpu=0 busybox \
		sh -c 'cat /etc/ldconfig.args; ls /etc/ld.so.conf.d'
	assert_success
	assert_output_eq "/sbin/ldconfig /usr/lib/x86_64-linux-gnu /usr/lib64"
}

@test "cdi: a device node the caller cannot open is one message naming it and the errno" {
	[ -c /dev/hwrng ] && [ "$(stat -c %a /dev/hwrng)" = 600 ] || skip "no root-only /dev/hwrng here"
	write_spec denied.yaml <<-EOF
	cdiVersion: 0.6.0
	kind: example.com/dev
	devices: [{name: "0", containerEdits: {deviceNodes: [{path: /dev/example0, hostPath: /dev/hwrng}]}}]
	EOF
	run --separate-stderr cdi start --device example.com/dev=0 busybox true
	assert_error "CDI device node '/dev/example0' (host '/dev/hwrng') cannot be opened"
	[[ $stderr == *"Permission denied"* && $stderr == *"file mode"* ]]
}
