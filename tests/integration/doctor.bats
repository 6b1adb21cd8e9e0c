#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa doctor (issue 9, gpu.md §5): every verdict and its advice against
# crafted roots (--proc-root, --sys-root, --dev-root, --root,
# --slurm-conf-dir), the real machine's run, --json, the exit status.
# The functional probes always run on this kernel, as the test user.

load helpers

setup() {
	capsa_setup
	EMPTY=$T/empty
	SLURM=$T/slurm
	mkdir -p "$EMPTY" "$SLURM"
	fake_proc
}
teardown() { capsa_teardown; }

# A /proc that says user namespaces are allowed; tests change one file.
fake_proc() {
	P=$T/proc
	mkdir -p "$P/sys/user" "$P/sys/kernel" "$P/self"
	echo 15000 >"$P/sys/user/max_user_namespaces"
	echo 15000 >"$P/sys/user/max_mnt_namespaces"
	echo "Linux version 6.1.0-test" >"$P/version"
	echo "0::/user.slice" >"$P/self/cgroup"
	capsa_chown "$P"
}

# capsa doctor with the roots crafted (empty unless the test fills it); the
# real /dev, which the machine's test finds usable.
doctor() {
	capsa doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY" --slurm-conf-dir "$SLURM" "$@"
}

json_status() { # ID: the status of check ID in the JSON on stdin
	python3 -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join(c["status"] for c in d["checks"] if c["id"] == sys.argv[1]))' "$1"
}

# --- the real machine -------------------------------------------------------

@test "doctor: this machine can run capsa (exit 0), user namespaces probed as the test user" {
	run --separate-stderr capsa doctor
	assert_success
	assert_output_contains "[OK]   User and mount namespaces for this user: unshare, id maps and mounts work"
	assert_output_contains "[OK]   overlayfs mounts in a user namespace"
	assert_output_contains "[OK]   DATA_PATH: $DATA"
	assert_output_contains "[OK]   RUNTIME_PATH: $RUNTIME"
	[[ ${lines[-1]} =~ ^[0-9]+\ OK,\ [0-9]+\ WARN,\ 0\ FAIL$ ]]
	assert_no_line_matching '^\[FAIL\]'
	# every verdict line is followed by one indented advice line
	local i
	for ((i = 0; i < ${#lines[@]} - 1; i += 2)); do
		[[ ${lines[i]} =~ ^\[(OK|WARN|FAIL)\]\ +[^\ ] ]]
		[[ ${lines[i + 1]} =~ ^\ {7}[^\ ] ]]
	done
}

@test "doctor --json: parses, one entry per check with id/status/summary/advice, same verdicts as the text" {
	run --separate-stderr capsa doctor --json
	assert_success
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["status"] in ("OK", "WARN") and d["fail"] == 0, d
assert len(d["checks"]) == d["ok"] + d["warn"] + d["fail"]
for c in d["checks"]:
    assert set(c) == {"id", "status", "summary", "advice"}, c
    assert c["status"] in ("OK", "WARN", "FAIL") and c["advice"], c
assert [c["status"] for c in d["checks"] if c["id"] == "userns"] == ["OK"]' "$output"
}

@test "doctor --json: control characters and bytes that are not UTF-8 in a path still give strict JSON" {
	local dir
	dir=$T/$(printf 'caf\xc3\xa9 "q"\\ \t\xff\xed\xa0\x80')
	mkdir "$dir"
	run --separate-stderr doctor --json --slurm-conf-dir "$dir"
	assert_success
	python3 -c 'import json, sys
d = json.loads(sys.argv[1].encode("utf-8", "surrogateescape").decode("utf-8"))
s = [c["summary"] for c in d["checks"] if c["id"] == "slurm"][0]
assert s.endswith("/caf\u00e9 \"q\"\\ \t\ufffd\ufffd\ufffd\ufffd: Slurm checks skipped"), s' "$output"
}

@test "doctor: well under a second" {
	local start end
	start=$(date +%s%N)
	run capsa doctor
	end=$(date +%s%N)
	[ $(((end - start) / 1000000)) -lt 1000 ]
}

@test "doctor runs in the lean capsa binary: it maps libc and libseccomp, no image library" {
	local libs
	run --separate-stderr capsa LD_DEBUG=libs doctor
	assert_success
	libs=$(printf '%s\n' "$stderr" | sed -n 's/.*find library=\([^ ;]*\).*/\1/p' | sort -u)
	grep -q '^libseccomp' <<<"$libs"
	if grep -E '^lib(curl|ssl|crypto|archive|json-c|squashfs|isal|lzo2|z\.)' <<<"$libs"; then
		echo "an image library was mapped" >&2
		false
	fi
}

@test "doctor --help documents the roots; bad usage exits 1" {
	run capsa doctor --help
	assert_success
	for o in --json --root --proc-root --sys-root --dev-root --slurm-conf-dir; do
		assert_output_contains "$o"
	done
	run capsa doctor --no-such-option
	assert_status 1
	run capsa doctor extra-arg
	assert_status 1
	run capsa --help
	assert_output_contains "doctor [options]"
}

# --- user namespaces and sysctls ---------------------------------------------

@test "doctor: user.max_user_namespaces=0 fails naming the sysctl and the fix; exit 1" {
	echo 0 >"$P/sys/user/max_user_namespaces"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] user.max_user_namespaces = 0: unprivileged user namespaces are disabled"
	assert_output_contains "       sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)"
	assert_output_contains "[OK]   user.max_mnt_namespaces = 15000"
	run doctor --json
	assert_status 1
	[ "$(json_status user.max_user_namespaces <<<"$output")" = FAIL ]
	[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' <<<"$output")" = FAIL ]
}

# doctor_wrapped WRAPPER...: capsa doctor (crafted roots) run by WRAPPER as
# the test user, e.g. inside a user namespace prepared by a shell snippet.
doctor_wrapped() {
	local -a _cmd
	local i
	_capsa_cmd user -- doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY" --slurm-conf-dir "$SLURM"
	for i in "${!_cmd[@]}"; do
		[ "${_cmd[i]}" != env ] || break
	done
	(cd "$WORK" && exec "${_cmd[@]:0:i}" "$@" "${_cmd[@]:i}")
}

@test "doctor: the probe decodes ENOSPC into user.max_user_namespaces (run where the limit is 0)" {
	# The limit is per user namespace: 0 in the one capsa runs in.
	run doctor_wrapped unshare -Ur sh -c 'echo 0 >/proc/sys/user/max_user_namespaces && exec "$@"' sh
	assert_status 1
	assert_output_contains "[FAIL] User and mount namespaces for this user: unshare failed: No space left on device"
	assert_output_contains "       namespace limit reached: raise user.max_user_namespaces / user.max_mnt_namespaces"
}

@test "doctor: the probe decodes EPERM into its causes (run in a chroot, where unshare is refused)" {
	mkdir "$T/chroot"
	run doctor_wrapped unshare -Urm sh -c 'mount --rbind / "$0" && exec chroot "$0" "$@"' "$T/chroot"
	assert_status 1
	assert_output_contains "[FAIL] User and mount namespaces for this user: unshare failed: Operation not permitted"
	assert_output_contains "       forbidden: check kernel.unprivileged_userns_clone, the AppArmor restriction below"
	# the mounts are not tried without a namespace
	assert_output_not_contains "overlayfs"
}

@test "doctor: user.max_mnt_namespaces=0 and kernel.unprivileged_userns_clone=0 fail with their fixes" {
	echo 0 >"$P/sys/user/max_mnt_namespaces"
	echo 0 >"$P/sys/kernel/unprivileged_userns_clone"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] user.max_mnt_namespaces = 0"
	assert_output_contains "sysctl -w user.max_mnt_namespaces=15000"
	assert_output_contains "[FAIL] kernel.unprivileged_userns_clone = 0"
	assert_output_contains "sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)"
}

@test "doctor: absent sysctls are fine; kernel.unprivileged_userns_clone=1 is OK" {
	run doctor
	assert_success
	assert_output_contains "[OK]   kernel.unprivileged_userns_clone: not present"
	assert_output_contains "[OK]   kernel.apparmor_restrict_unprivileged_userns: not present"
	echo 1 >"$P/sys/kernel/unprivileged_userns_clone"
	run doctor
	assert_success
	assert_output_contains "[OK]   kernel.unprivileged_userns_clone = 1"
}

@test "doctor: AppArmor's restriction=1 is a WARN with the fix (the probe still works: a profile allows it)" {
	echo 1 >"$P/sys/kernel/apparmor_restrict_unprivileged_userns"
	echo 1 >"$P/sys/kernel/apparmor_restrict_unprivileged_unconfined"
	run doctor
	assert_success
	assert_output_contains "[WARN] kernel.apparmor_restrict_unprivileged_userns = 1: AppArmor restricts unprivileged user namespaces (the probe still worked"
	assert_output_contains "install an AppArmor profile granting 'userns,' to capsa (/etc/apparmor.d/capsa), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
	assert_output_contains "or sysctl -w kernel.apparmor_restrict_unprivileged_unconfined=0"
	echo 0 >"$P/sys/kernel/apparmor_restrict_unprivileged_userns"
	run doctor
	assert_output_contains "[OK]   kernel.apparmor_restrict_unprivileged_userns = 0"
}

@test "doctor: kernel.unprivileged_bpf_disabled is information only" {
	echo 2 >"$P/sys/kernel/unprivileged_bpf_disabled"
	run doctor
	assert_success
	assert_output_contains "[OK]   kernel.unprivileged_bpf_disabled = 2"
	assert_output_contains "irrelevant for GPU access: capsa loads no BPF and never edits device cgroups"
}

@test "doctor: kernel config read from config.gz (info); missing is a WARN, not a FAIL" {
	run doctor
	assert_success
	assert_output_contains "[WARN] kernel configuration not found"
	assert_output_contains "[OK]   Linux version 6.1.0-test"
	printf 'CONFIG_NAMESPACES=y\nCONFIG_USER_NS=y\nCONFIG_SECCOMP_FILTER=y\nCONFIG_OVERLAY_FS=m\nCONFIG_FUSE_FS=y\n' |
		gzip >"$P/config.gz"
	capsa_chown "$P/config.gz"
	run doctor
	assert_success
	assert_output_not_contains "vsyscall"
	assert_output_contains "[OK]   kernel configuration ($P/config.gz): CONFIG_NAMESPACES=y CONFIG_USER_NS=y CONFIG_SECCOMP_FILTER=y CONFIG_OVERLAY_FS=m CONFIG_FUSE_FS=y"
	printf 'CONFIG_NAMESPACES=y\n# CONFIG_USER_NS is not set\n' >"$T/kconfig"
	mkdir -p "$EMPTY/boot"
	cp "$T/kconfig" "$EMPTY/boot/config-$(uname -r)"
	rm "$P/config.gz"
	capsa_chown "$EMPTY"
	run doctor
	assert_output_contains "[WARN] kernel configuration ($EMPTY/boot/config-$(uname -r)): CONFIG_NAMESPACES=y CONFIG_USER_NS=n"
}

@test "doctor: vsyscall mode (info) from the command line, else the kernel config, for glibc <= 2.13 images" {
	printf 'CONFIG_USER_NS=y\nCONFIG_LEGACY_VSYSCALL_XONLY=y\n' | gzip >"$P/config.gz"
	capsa_chown "$P/config.gz"
	run doctor
	assert_output_contains "[OK]   vsyscall=xonly"
	assert_output_contains "images with glibc <= 2.13 (CentOS 6 era) crash: they need vsyscall=emulate on the kernel command line"
	echo "ro quiet vsyscall=emulate" >"$P/cmdline"
	run doctor
	assert_output_contains "[OK]   vsyscall=emulate"
	assert_output_contains "images with glibc <= 2.13 (CentOS 6 era) run"
}

@test "doctor: RHEL 7's kernel without the userns boot switches fails with the grubby fix" {
	echo "3.10.0-1160.el7.x86_64" >"$P/sys/kernel/osrelease"
	echo "BOOT_IMAGE=/vmlinuz ro quiet" >"$P/cmdline"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] kernel 3.10 (RHEL/CentOS 7) without namespace.unpriv_enable=1 user_namespace.enable=1"
	assert_output_contains "grubby --update-kernel=ALL --args='namespace.unpriv_enable=1 user_namespace.enable=1', then reboot"
	echo "ro namespace.unpriv_enable=1 user_namespace.enable=1" >"$P/cmdline"
	run doctor
	assert_success
	assert_output_contains "[OK]   kernel 3.10 command line enables user namespaces"
	echo "6.1.0-13-amd64" >"$P/sys/kernel/osrelease"
	run doctor
	assert_output_not_contains "kernel 3.10"
}

@test "doctor: SELinux enforcing is a WARN with where to look; permissive and absent are OK" {
	mkdir -p "$T/sys/fs/selinux"
	echo 1 >"$T/sys/fs/selinux/enforce"
	capsa_chown "$T/sys"
	run doctor --sys-root "$T/sys"
	assert_success
	assert_output_contains "[WARN] SELinux is enforcing"
	assert_output_contains "ausearch -m avc"
	echo 0 >"$T/sys/fs/selinux/enforce"
	run doctor --sys-root "$T/sys"
	assert_output_contains "[OK]   SELinux is permissive"
	run doctor
	assert_output_contains "[OK]   SELinux is not enabled"
}

# --- FUSE ---------------------------------------------------------------------

@test "doctor: /dev/fuse mode 000 fails with chmod 0666 as the fix; missing fails with modprobe" {
	require_root
	run doctor --dev-root "$EMPTY"
	assert_status 1
	assert_output_contains "[FAIL] $EMPTY/fuse: No such file or directory"
	assert_output_contains "modprobe fuse"
	mknod "$EMPTY/fuse" c 10 229
	chmod 000 "$EMPTY/fuse"
	run doctor --dev-root "$EMPTY"
	assert_status 1
	assert_output_contains "[FAIL] $EMPTY/fuse (mode 0000, c 10:229) cannot be opened: Permission denied"
	assert_output_contains "as root: chmod 0666 /dev/fuse"
	run capsa doctor
	assert_success
	assert_output_contains "[OK]   /dev/fuse opens read-write"
	assert_output_contains "[OK]   libsquashfuse_ll.so.0 is installed"
}

# --- nesting --------------------------------------------------------------------

@test "doctor: nested in docker, podman, Kubernetes (file, env, cgroup) with the securityContext advice" {
	run doctor
	assert_output_contains "[OK]   not inside a container"
	touch "$EMPTY/.dockerenv"
	run doctor
	assert_output_contains "[OK]   inside docker (/.dockerenv exists); user namespaces work in it"
	assert_output_contains "--security-opt seccomp=unconfined"
	rm "$EMPTY/.dockerenv"
	mkdir -p "$EMPTY/run" && touch "$EMPTY/run/.containerenv"
	run doctor
	assert_output_contains "inside podman (/run/.containerenv exists)"
	rm -r "$EMPTY/run"
	mkdir -p "$EMPTY/var/run/secrets/kubernetes.io"
	run doctor
	assert_output_contains "[OK]   inside Kubernetes (/var/run/secrets/kubernetes.io exists)"
	assert_output_contains "the pod's securityContext must allow user namespaces and mounts: privileged: true"
	rm -r "${EMPTY:?}/var"
	run capsa_env KUBERNETES_SERVICE_HOST=10.0.0.1 doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY" \
		--slurm-conf-dir "$SLURM"
	assert_output_contains "inside Kubernetes (KUBERNETES_SERVICE_HOST is set)"
	echo "0::/kubepods/besteffort/pod1234/abcd" >"$P/self/cgroup"
	run doctor
	assert_output_contains "inside Kubernetes (the cgroup path names kubepods)"
}

# --- cgroups --------------------------------------------------------------------

@test "doctor: cgroup v2 says BPF decides device access and capsa loads none" {
	mkdir -p "$T/sys/fs/cgroup"
	touch "$T/sys/fs/cgroup/cgroup.controllers"
	capsa_chown "$T/sys"
	run doctor --sys-root "$T/sys"
	assert_output_contains "[OK]   cgroup v2, this process in /user.slice"
	assert_output_contains "[OK]   device cgroup (v2): BPF programs decide, unreadable without privileges"
	assert_output_contains "capsa loads no BPF"
}

@test "doctor: cgroup v1 device policy: unrestricted, or restricted rules and whether GPUs are among them" {
	local d=$T/sys/fs/cgroup/devices/slurm/job_1
	mkdir -p "$d"
	printf '5:devices:/slurm/job_1\n0::/\n' >"$P/self/cgroup"
	echo 'a *:* rwm' >"$d/devices.list"
	capsa_chown "$T/sys"
	run doctor --sys-root "$T/sys"
	assert_output_contains "[OK]   cgroup v1, this process in /slurm/job_1"
	assert_output_contains "[OK]   device cgroup (v1) /slurm/job_1: all devices allowed (a *:* rwm)"
	printf 'c 1:3 rwm\nc 10:229 rwm\n' >"$d/devices.list"
	run doctor --sys-root "$T/sys"
	assert_output_contains "device cgroup (v1) /slurm/job_1: 2 allow rules, NVIDIA GPUs (c 195:*) not allowed"
	assert_output_contains "capsa never edits device rules: a GPU outside them fails to open with EPERM"
	echo 'c 195:0 rw' >>"$d/devices.list"
	run doctor --sys-root "$T/sys"
	assert_output_contains "3 allow rules, NVIDIA GPUs (c 195:*) among them"
}

# --- capsa's own directories -----------------------------------------------------

@test "doctor: a data directory writable by others fails with the path and the fix; exit 1" {
	chmod 0777 "$DATA"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] capsa's configuration: CAPSA_DATA_PATH: '$DATA' is writable by group or others (mode 0777): run chmod go-w '$DATA'"
	assert_output_contains "fix the file or setting the message names"
	# the other areas still run
	assert_output_contains "[OK]   User and mount namespaces for this user"
	assert_output_contains "Slurm checks skipped"
}

@test "doctor: capsa without capsa-image beside it (and none installed) fails: the image verbs would" {
	[ ! -e /usr/local/libexec/capsa/capsa-image ] || skip "capsa-image is installed in /usr/local/libexec/capsa"
	run doctor
	assert_output_contains "[OK]   capsa-image: $(dirname "$CAPSA_BIN")/capsa-image"
	mkdir -p "$T/bin"
	cp "$CAPSA_BIN" "$T/bin/capsa"
	capsa_chown "$T/bin"
	CAPSA_BIN=$T/bin/capsa run doctor
	assert_status 1
	assert_output_contains "[FAIL] capsa-image is neither beside this capsa nor in /usr/local/libexec/capsa: import, create, export and bundle fail"
	assert_output_contains "install capsa completely (make install), or put capsa-image beside capsa"
}

@test "doctor: a noexec TEMP_PATH is a WARN: bundles cannot run their runtime there" {
	require_root
	local -a _cmd
	mkdir -p "$T/noexec"
	_capsa_cmd user TMPDIR="$T/noexec" CAPSA_TEMP_PATH="$T/noexec" -- doctor --slurm-conf-dir "$SLURM"
	run unshare -m --propagation private sh -c \
		'mount -t tmpfs -o noexec,mode=1777 tmpfs "$0" && cd "$1" && shift && exec "$@"' "$T/noexec" "$WORK" "${_cmd[@]}"
	assert_success
	assert_output_contains "[WARN] TEMP_PATH: $T/noexec is on a noexec filesystem"
	assert_output_contains "set CAPSA_TEMP_PATH (or TMPDIR) to a directory on an exec filesystem"
}

# --- Slurm ----------------------------------------------------------------------

@test "doctor: no Slurm configuration skips the Slurm checks" {
	run doctor
	assert_success
	assert_output_contains "[OK]   no Slurm configuration in $SLURM: Slurm checks skipped"
	assert_output_not_contains "oci.conf"
}

@test "doctor: SLURM_CONF's directory is where Slurm's configuration is looked for" {
	echo "required /nonexistent/spank_capsa.so" >"$SLURM/plugstack.conf"
	run capsa_env SLURM_CONF="$SLURM/slurm.conf" doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY"
	assert_output_contains "$SLURM/plugstack.conf loads /nonexistent/spank_capsa.so"
}

@test "doctor: a plugstack without capsa's or pyxis's plugin is a WARN with the line to add" {
	printf '# nothing\nrequired /usr/lib/slurm/spank_other.so\ninclude %s/plugstack.conf.d/*.conf\n' "$SLURM" \
		>"$SLURM/plugstack.conf"
	mkdir -p "$SLURM/plugstack.conf.d"
	run doctor
	assert_success
	assert_output_contains "[WARN] $SLURM/plugstack.conf loads neither spank_capsa.so nor spank_pyxis.so: srun has no --container-image"
	assert_output_contains "plugstack-capsa.conf (written by make install) to plugstack.conf: 'required PATH/spank_capsa.so'"
}

@test "doctor: the plugin found through plugstack.conf.d matches the installed Slurm; another version fails" {
	local so=$CAPSA_BUILD/spank_capsa.so
	[ -f "$so" ] || skip "spank_capsa.so not built"
	command -v slurmd >/dev/null || skip "slurmd not installed"
	local want
	want=$(slurmd -V | awk '{print $2}')
	mkdir -p "$SLURM/plugstack.conf.d" "$T/lib"
	cp "$so" "$T/lib/spank_capsa.so"
	echo "include plugstack.conf.d/*.conf" >"$SLURM/plugstack.conf"
	echo "required $T/lib/spank_capsa.so capsa_path=$CAPSA_BIN runtime_path=/run/pyxis" \
		>"$SLURM/plugstack.conf.d/capsa.conf"
	capsa_chown "$T/lib" "$SLURM"
	run doctor
	assert_success
	assert_output_contains "[OK]   $SLURM/plugstack.conf loads $T/lib/spank_capsa.so"
	assert_output_contains "[OK]   $T/lib/spank_capsa.so matches Slurm $want"
	assert_output_contains "[OK]   the plugin runs $CAPSA_BIN"
	# plugin_version is what Slurm compares with its own: make it 23.11.
	patch_plugin_version "$T/lib/spank_capsa.so" 0x170b00
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] $T/lib/spank_capsa.so is built for Slurm 23.11 but Slurm $want is installed: Slurm refuses to load it"
	assert_output_contains "rebuild it against this Slurm's spank.h (libslurm-dev) and reinstall"
	echo "not an ELF file" >"$T/lib/spank_capsa.so"
	run doctor
	assert_output_contains "[WARN] $T/lib/spank_capsa.so: no plugin_version symbol"
}

@test "doctor: a plugstack naming a missing plugin fails; relative names are looked up in PluginDir" {
	echo "required spank_pyxis.so" >"$SLURM/plugstack.conf"
	echo "PluginDir=$T/plugins:/usr/lib/slurm" >"$SLURM/slurm.conf"
	run doctor
	assert_status 1
	assert_output_contains "[OK]   $SLURM/plugstack.conf loads spank_pyxis.so"
	assert_output_contains "[FAIL] failed to open '$T/plugins/spank_pyxis.so': No such file or directory: srun fails while plugstack.conf names it"
}

@test "doctor: the capsa the plugin runs (capsa_path=, default BINDIR/capsa) must be there" {
	echo "required /x/spank_capsa.so runtime_path=/run/pyxis capsa_path=$T/nothere/capsa" >"$SLURM/plugstack.conf"
	run doctor
	assert_status 1
	assert_output_contains "[OK]   $SLURM/plugstack.conf loads /x/spank_capsa.so"
	assert_output_contains "[FAIL] the plugin runs $T/nothere/capsa: No such file or directory: every container step fails"
	assert_output_contains "install capsa there (make install) or give the plugin capsa_path=PATH in plugstack.conf"
	echo "optional /x/spank_capsa.so" >"$SLURM/plugstack.conf"
	run doctor
	assert_output_contains "the plugin runs /usr/local/bin/capsa"
	echo "optional /x/spank_pyxis.so capsa_path=/nothere" >"$SLURM/plugstack.conf"
	run doctor
	assert_output_not_contains "the plugin runs"
}

@test "doctor: slurm.conf's PlugStackConfig names the plugstack file" {
	mkdir -p "$T/stack"
	echo "required /opt/x/spank_pyxis.so" >"$T/stack/plug.conf"
	echo "PlugStackConfig=$T/stack/plug.conf" >"$SLURM/slurm.conf"
	run doctor
	assert_output_contains "[OK]   $T/stack/plug.conf loads /opt/x/spank_pyxis.so"
}

@test "doctor: pyxis and capsa loaded together fail: their options collide" {
	printf 'required /x/spank_pyxis.so\nrequired /x/spank_capsa.so\n' >"$SLURM/plugstack.conf"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] both /x/spank_pyxis.so and /x/spank_capsa.so are loaded"
}

@test "doctor: include loops are bounded and named" {
	echo "include $SLURM/plugstack.conf" >"$SLURM/plugstack.conf"
	run doctor
	assert_status 1
	assert_output_contains "includes nested deeper than 4"
}

@test "doctor: inside a Slurm job it names the job's GPUs and what NVIDIA_VISIBLE_DEVICES=all means" {
	run doctor
	assert_output_not_contains "Slurm job"
	run capsa_env SLURM_JOB_ID=42 SLURM_STEP_GPUS=0,2 CUDA_VISIBLE_DEVICES=0,1 doctor --root "$EMPTY" \
		--proc-root "$P" --sys-root "$EMPTY" --slurm-conf-dir "$SLURM"
	assert_output_contains "[OK]   inside Slurm job 42, GPUs: 0,2, CUDA_VISIBLE_DEVICES=0,1"
	assert_output_contains "NVIDIA_VISIBLE_DEVICES=all gives the container the GPUs of this job"
	run capsa_env SLURM_JOB_ID=43 doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY" --slurm-conf-dir "$SLURM"
	assert_output_contains "[OK]   inside Slurm job 43, GPUs: none allocated"
	assert_output_contains "request GPUs with --gres=gpu:N"
}

@test "doctor: oci.conf with a SPANK container plugin fails (Slurm docs); without one it is a WARN" {
	touch "$SLURM/oci.conf"
	echo "required /usr/lib/slurm/spank_other.so" >"$SLURM/plugstack.conf"
	run doctor
	assert_output_contains "[WARN] $SLURM/oci.conf exists: Slurm's native OCI containers are configured"
	echo "optional /usr/local/lib/slurm/spank_pyxis.so" >>"$SLURM/plugstack.conf"
	run doctor
	assert_status 1
	assert_output_contains "[FAIL] $SLURM/oci.conf exists while plugstack.conf loads a SPANK container plugin"
	assert_output_contains "remove it: Slurm's native --container support conflicts with the SPANK container plugin"
	rm "$SLURM/oci.conf"
	run doctor
	assert_output_contains "[OK]   no $SLURM/oci.conf"
}

@test "doctor: ConstrainDevices=yes is reported; GPU gres without it is a WARN; gres.conf is checked" {
	printf 'ConstrainCores=yes\nconstraindevices=yes\n' >"$SLURM/cgroup.conf"
	echo "ClusterName=c" >"$SLURM/slurm.conf"
	run doctor
	assert_success
	assert_output_contains "[OK]   cgroup.conf: ConstrainDevices=yes"
	assert_output_contains "jobs open only the GPUs they requested (--gres=gpu:N)"
	assert_output_contains "[OK]   no GPU gres configured (GresTypes has no gpu)"
	printf 'GresTypes=gpu\nNodeName=n[1-4] Gres=gpu:4 CPUs=8\n' >"$SLURM/slurm.conf"
	echo "ConstrainDevices=no" >"$SLURM/cgroup.conf"
	run doctor
	assert_success
	assert_output_contains "[WARN] cgroup.conf: ConstrainDevices is no: every job can open every device of the node"
	assert_output_contains "set ConstrainDevices=yes in cgroup.conf"
	assert_output_contains "[WARN] GresTypes=gpu but gres.conf declares no GPU (1 node lines with Gres=gpu)"
	echo "Name=gpu File=/dev/nvidia[0-3]" >"$SLURM/gres.conf"
	run doctor
	assert_output_contains "[OK]   GPU gres: GresTypes=gpu, 1 node lines with Gres=gpu, 1 gres.conf lines"
}

@test "doctor: CDI specs are loaded as a start would: counted when valid, the file named when malformed or in conflict" {
	local cdi=$WORK/cdi
	mkdir -p "$cdi"
	capsa_chown "$cdi"
	run capsa_env CAPSA_CDI_SPEC_DIRS="$cdi" doctor
	assert_output_contains "[OK]   no CDI specs in $cdi"
	printf '{"cdiVersion": "0.6.0", "kind": "example.com/dev", "devices": [{"name": "0", "containerEdits": {"env": ["A=1"]}}, {"name": "1", "containerEdits": {"env": ["A=2"]}}]}\n' >"$cdi/a.json"
	chmod 0644 "$cdi/a.json"
	run capsa_env CAPSA_CDI_SPEC_DIRS="$cdi" doctor
	assert_output_contains "[OK]   1 CDI spec file(s) in $cdi define 2 device(s), none in conflict"
	cp "$cdi/a.json" "$cdi/b.json"
	run capsa_env CAPSA_CDI_SPEC_DIRS="$cdi" doctor
	assert_status 1
	assert_output_contains "[FAIL] "
	assert_output_contains "$cdi/a.json"
	assert_output_contains "$cdi/b.json"
	assert_output_contains "nvidia-ctk cdi generate"
	printf 'cdiVersion: 0.6.0\nkind: [oops\n' >"$cdi/b.json"
	run capsa_env CAPSA_CDI_SPEC_DIRS="$cdi" doctor
	assert_status 1
	assert_output_contains "$cdi/b.json"
}

# --- NVIDIA (gpu.md §5.3), against tests/fixtures/mkfakedriver.sh's driver ---

setup_file() {
	[ -z "${CAPSA_SKIP_INTEGRATION:-}" ] || return 0
	G=$(mktemp -d "${CAPSA_TEST_TMPDIR:-/tmp}/capsa-doctorgpu.XXXXXX")
	chmod 0755 "$G"
	"$CAPSA_REPO/tests/fixtures/mkfakedriver.sh" "$G/fake" >&2
	chmod -R a+rX "$G"
	chmod 0700 "$G/fake/root-only"
	export G
}

teardown_file() {
	[ -z "${G:-}" ] || rm -rf "$G"
}

# doctor with the fake driver's settings; DRV, LDC, NPROC, DEVROOT replace a
# part, NVML names another fake NVML fixture.
nvdoctor() {
	capsa_env CAPSA_NVIDIA_DRIVER_ROOT="${DRV:-$G/fake/root}" CAPSA_NVIDIA_PROC_ROOT="${NPROC:-$G/fake/proc}" \
		CAPSA_NVIDIA_LDCACHE="${LDC:-${DRV:-$G/fake/root}/etc/ld.so.cache}" \
		CAPSA_NVIDIA_DEV_ROOT="${DEVROOT:-$G/fake/dev}" FAKE_NVML_FIXTURE="${NVML:-}" doctor --root "$EMPTY" --proc-root "$P" \
		--sys-root "$EMPTY" --slurm-conf-dir "$SLURM" "$@"
}

# A copy of the fake /proc (for a test to change), in NPROC.
copy_proc() {
	NPROC=$T/nvproc
	cp -a "$G/fake/proc" "$NPROC"
	capsa_chown "$NPROC"
}

@test "doctor nvidia: the fake driver: module, uvm, nodes, libraries with their versions, IPC, firmware" {
	local R=550.54.14
	run --separate-stderr nvdoctor
	assert_output_contains "[OK]   NVIDIA kernel module $R, 2 GPU(s)"
	assert_output_contains "[OK]   nvidia_uvm is loaded (char major 1)"
	assert_output_contains "[OK]   $G/fake/dev/{nvidiactl, nvidia1, nvidia0, nvidia-uvm} open read-write"
	assert_output_contains "[OK]   libcuda.so.$R, libnvidia-ml.so.$R match the kernel module $R"
	# the decoy libnvidia-encode of another version does not serve video
	assert_output_contains "[WARN] capabilities without all their $R libraries: video (libnvidia-encode.so); graphics (libEGL_nvidia.so"
	assert_output_contains "[OK]   NVIDIA IPC endpoints: persistenced, MPS found; absent: fabricmanager"
	assert_output_contains "[OK]   2 GSP firmware file(s) for $R in $G/fake/root/lib/firmware/nvidia/$R"
	assert_no_line_matching '^\[FAIL\] .*(NVIDIA|nvidia|GPU)'
	assert_output_contains "[OK]   NVML answers: driver $R, as the kernel module"
	assert_output_contains "[OK]   MIG: 2 MIG-capable GPU(s), 1 in MIG mode with 2 MIG device(s); nvidia-caps char major 1"
	assert_output_contains "[OK]   the caps nodes of 2 MIG device(s) open"
	run --separate-stderr nvdoctor --json
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
st = {c["id"]: c["status"] for c in d["checks"]}
for i in ("nvidia", "nvidia-uvm", "nvidia-dev", "nvidia-libs", "nvidia-ipc", "nvidia-firmware", "nvidia-nvml", "nvidia-mig"):
    assert st[i] == "OK", (i, st)
assert st["nvidia-caps"] == "WARN", st' "$output"
}

@test "doctor nvidia: no /proc/driver/nvidia is no GPU on this node, not a failure" {
	run --separate-stderr doctor
	assert_success
	assert_output_contains "[OK]   no NVIDIA GPU on this node (no $P/driver/nvidia/version)"
	assert_no_line_matching 'nvidia_uvm|libcuda'
}

@test "doctor nvidia: a kernel module of another version than the libraries is a mismatch naming both" {
	copy_proc
	sed -i 's/550\.54\.14/560.35.03/' "$NPROC/driver/nvidia/version"
	run --separate-stderr nvdoctor
	assert_status 1
	assert_output_contains "[FAIL] driver/library version mismatch: kernel module 560.35.03, libcuda.so.550.54.14 in the ld cache"
	assert_output_contains "[FAIL] driver/library version mismatch: kernel module 560.35.03, libnvidia-ml.so.550.54.14"
	assert_output_contains "reboot, or reload the nvidia modules"
}

@test "doctor nvidia: a library the ld cache lists but the driver root lacks is a FAIL naming it" {
	DRV=$T/drv
	cp -a "$G/fake/root" "$DRV"
	rm -f "$DRV"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so*
	capsa_chown "$DRV"
	run --separate-stderr nvdoctor
	assert_status 1
	assert_output_contains "[FAIL] libnvidia-ml.so.550.54.14 is missing: not in the ld cache '$DRV/etc/ld.so.cache'"
	assert_output_contains "utility (libnvidia-ml.so)"
}

@test "doctor nvidia: a node the user cannot open is a FAIL naming the node, errno and cause" {
	[ "$TUID" -ne 0 ] || skip "root opens /dev/kmsg"
	DEVROOT=$G/fake/dev-denied
	run --separate-stderr nvdoctor
	assert_status 1
	assert_output_contains "[FAIL] GPU device $G/fake/dev-denied/nvidia1, c 1:11: cannot open: Permission denied (EACCES): the file mode 0644 "
	assert_output_contains "0660 root:video"
	assert_no_line_matching 'open read-write'
}

@test "doctor nvidia: nvidia-uvm missing from /proc/devices is a WARN (CUDA error 999)" {
	copy_proc
	sed -i '/nvidia-uvm/d' "$NPROC/devices"
	run --separate-stderr nvdoctor
	assert_output_contains "[WARN] nvidia_uvm is not loaded: no nvidia-uvm in $NPROC/devices"
	assert_output_contains "CUDA fails with error 999"
	assert_output_contains "[OK]   $G/fake/dev/{nvidiactl, nvidia1, nvidia0} open read-write"
}

@test "doctor nvidia: MIG (GPUs, caps major, config/monitor access) is information; NVML failing or of another version is named" {
	# The config/monitor caps lead through a root-only directory.
	run --separate-stderr nvdoctor
	if [ "$TUID" -ne 0 ]; then
		assert_output_contains "[OK]   MIG caps this user cannot open (root-only, the driver's default): config $G/fake/dev/nvidia-caps/nvidia-cap1, monitor $G/fake/dev/nvidia-caps/nvidia-cap2"
		assert_output_contains "NVIDIA_MIG_CONFIG_DEVICES/NVIDIA_MIG_MONITOR_DEVICES=all are refused for this user"
	fi
	run --separate-stderr capsa_as_root CAPSA_NVIDIA_DRIVER_ROOT="$G/fake/root" CAPSA_NVIDIA_PROC_ROOT="$G/fake/proc" \
		CAPSA_NVIDIA_DEV_ROOT="$G/fake/dev" doctor --root "$EMPTY" --proc-root "$P" --sys-root "$EMPTY" \
		--slurm-conf-dir "$SLURM"
	assert_output_contains "[OK]   MIG caps this user can open: config $G/fake/dev/nvidia-caps/nvidia-cap1, monitor $G/fake/dev/nvidia-caps/nvidia-cap2"
	# NVML of another version than the kernel module; NVML crashing.
	printf '%s\n' "driver 560.35.03" >"$T/nvml.conf"
	grep '^gpu\|^mig' "$G/fake/nvml.conf" >>"$T/nvml.conf"
	chmod 0644 "$T/nvml.conf"
	NVML=$T/nvml.conf run --separate-stderr nvdoctor
	assert_status 1
	assert_output_contains "[FAIL] driver/library version mismatch: NVML reports driver 560.35.03, the kernel module is 550.54.14"
	echo crash >"$T/nvml.conf"
	NVML=$T/nvml.conf run --separate-stderr nvdoctor
	assert_output_contains "[WARN] NVML ($G/fake/root/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14) failed: the helper process was killed by signal 6"
	# Without NVML, the driver's instances still count.
	assert_output_contains "[OK]   MIG: 1 GPU(s) in MIG mode with 2 MIG device(s) (without NVML: MIG-capable GPUs unknown); nvidia-caps char major 1"
	# A MIG device's caps node missing: a WARN naming it, with the way to create it.
	DEVROOT=$T/nvdev
	cp -a "$G/fake/dev" "$DEVROOT"
	rm "$DEVROOT/nvidia-caps/nvidia-cap13"
	run --separate-stderr nvdoctor
	assert_output_contains "[WARN] MIG caps nodes that do not open: GPU device $DEVROOT/nvidia-caps/nvidia-cap13: cannot open: No such file or directory (ENOENT)"
	assert_output_contains "nvidia-modprobe -f /proc/driver/nvidia/capabilities/gpuN/mig/giG[/ciC]/access"
	DEVROOT=
	# No nvidia-caps module with GPUs in MIG mode: a WARN.
	copy_proc
	sed -i '/nvidia-caps$/d' "$NPROC/devices"
	run --separate-stderr nvdoctor
	assert_output_contains "[WARN] 1 GPU(s) in MIG mode but no nvidia-caps in $NPROC/devices"
}

@test "doctor nvidia: a missing node, a node of another driver and an unreadable ld cache are FAILs that say what to do" {
	DEVROOT=$T/nvdev
	cp -a "$G/fake/dev" "$DEVROOT"
	rm "$DEVROOT/nvidia0"
	ln -sfn /dev/tty "$DEVROOT/nvidiactl" # a char device, not the driver's
	capsa_chown "$DEVROOT"
	LDC=$T/no-such-cache
	run --separate-stderr nvdoctor
	assert_status 1
	assert_output_contains "[FAIL] GPU device $DEVROOT/nvidia0: cannot open: No such file or directory (ENOENT): the node is missing on the host"
	assert_output_contains "nvidia-modprobe -c0 -u"
	assert_output_contains "[FAIL] invalid device node $DEVROOT/nvidiactl: c 5:0, not of the NVIDIA driver (major 1)"
	assert_output_contains "remove that file and let nvidia-modprobe (or udev) create the driver's node"
	assert_output_contains "[OK]   NVIDIA kernel module 550.54.14, 2 GPU(s)"
	assert_output_contains "[FAIL] ld cache '$T/no-such-cache'"
}

@test "doctor rdma: the HCAs MELLANOX_VISIBLE_DEVICES would give, their verbs nodes opened; none is fine; a denied node fails" {
	local r=$WORK/rdma
	run doctor
	assert_output_contains "[OK]   no RDMA devices ($EMPTY/class/infiniband)"
	"$CAPSA_REPO/tests/fixtures/mkfakerdma.sh" "$r"
	chmod -R a+rX "$WORK"
	run capsa_env CAPSA_RDMA_SYS_ROOT="$r/sys" CAPSA_RDMA_DEV_ROOT="$r/dev" doctor
	assert_output_contains "[OK]   2 RDMA device(s): mlx5_0, mlx5_1"
	assert_output_contains "[OK]   2 RDMA node(s) in $r/dev/infiniband open read-write"
	[ "$TUID" -ne 0 ] || skip "root opens /dev/kmsg"
	ln -sf /dev/kmsg "$r/dev/infiniband/uverbs0"
	run capsa_env CAPSA_RDMA_SYS_ROOT="$r/sys" CAPSA_RDMA_DEV_ROOT="$r/dev" doctor
	assert_status 1
	assert_output_contains "[FAIL] $r/dev/infiniband/uverbs"
	assert_output_contains "cannot be opened: Permission denied"
	assert_output_contains "mode 0666, as rdma-core's udev rules set"
}

@test "doctor: an installed nvidia-container-cli is information; 1.17.7 and 1.18.0 are a WARN with the upgrade" {
	run doctor
	assert_output_contains "[OK]   no nvidia-container-cli on this node"
	mkdir -p "$EMPTY/usr/bin"
	cli=$EMPTY/usr/bin/nvidia-container-cli
	printf '#!/bin/sh\necho "cli-version: 1.17.8"\necho "lib-version: 1.17.8"\n' >"$cli"
	chmod 0755 "$cli"
	run doctor
	assert_success
	assert_output_contains "[OK]   $cli 1.17.8 is installed"
	sed -i 's/1\.17\.8/1.17.7/g' "$cli"
	run doctor
	assert_success
	assert_output_contains "[WARN] $cli 1.17.7 fails in user namespaces with 'bpf_prog_query(BPF_CGROUP_DEVICE) failed"
	assert_output_contains "upgrade it to 1.17.8 or later"
	printf '#!/bin/sh\nexit 3\n' >"$cli"
	run doctor
	assert_output_contains "[OK]   $cli is installed; its version is unknown (--version failed)"
}
