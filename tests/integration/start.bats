#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines/stderr are set by bats' run
# SPDX-License-Identifier: Apache-2.0
# capsa start / exec / batch (enroot.md §3, §5.2–§5.9, §7.1, §9).
# All containers run as the unprivileged test user; /probe is the static
# helper from tests/fixtures/probe.c.

load helpers

setup() {
	capsa_setup
	create_busybox
}
teardown() { capsa_teardown; }

# --- identity, namespaces, exit status ---------------------------------------

@test "start: runs as the caller with a single-id user map" {
	run --separate-stderr capsa start busybox /probe id -- uidmap -- gidmap
	assert_success
	assert_output_eq "$(printf 'uid=%s gid=%s euid=%s egid=%s\n%s %s 1\n%s %s 1' \
		"$TUID" "$TGID" "$TUID" "$TGID" "$TUID" "$TUID" "$TGID" "$TGID")"
}

@test "start --root / -r / ENROOT_REMAP_ROOT=y: uid 0 mapped to the caller" {
	local want
	want=$(printf 'uid=0 gid=0 euid=0 egid=0\n0 %s 1\n0 %s 1' "$TUID" "$TGID")
	run --separate-stderr capsa start --root busybox /probe id -- uidmap -- gidmap
	assert_success
	assert_output_eq "$want"
	run --separate-stderr capsa start -r busybox /probe id -- uidmap -- gidmap
	assert_output_eq "$want"
	run --separate-stderr capsa_env ENROOT_REMAP_ROOT=y start busybox /probe id -- uidmap -- gidmap
	assert_output_eq "$want"
	# falsy values (n, no, false, ...) mean off (enroot.md §1.1.5)
	run --separate-stderr capsa_env ENROOT_REMAP_ROOT=n start busybox /probe id
	assert_output_eq "uid=$TUID gid=$TGID euid=$TUID egid=$TGID"
}

@test "start: the container's exit status passes through" {
	run capsa start busybox sh -c 'exit 7'
	assert_status 7
	run capsa start busybox /probe exit 42
	assert_status 42
	run capsa start busybox /probe exit 0
	assert_status 0
	run capsa start busybox /probe kill-self KILL
	assert_status 137
	run capsa start busybox /probe kill-self TERM
	assert_status 143
}

@test "start: a missing command exits 127" {
	# enroot runs `sh -c 'exec "$@"' sh CMD`, so the shell reports 127
	run -127 capsa start busybox /no/such/command
}

@test "start: SIGTERM to the capsa pid (which is the container process) gives 143" {
	capsa_bg "$T/bg.out" start busybox /probe sleep 30
	local cpid pcomm rc=0
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	# no fork: the process runuser (or timeout) started is the container itself
	pcomm=$(comm_of "$(ppid_of "$cpid")")
	[ "$pcomm" = runuser ] || [ "$pcomm" = timeout ] || {
		echo "container's parent is '$pcomm', expected the launcher (capsa must exec, not fork)" >&2
		false
	}
	kill -TERM "$cpid"
	wait "$BG_PID" || rc=$?
	[ "$rc" -eq 143 ] || { echo "exit status $rc, want 143" >&2; cat "$T/bg.out" >&2; false; }
}

@test "start: stdin and stdout pass through" {
	run capsa start busybox /bin/cat <<<"through-stdin"
	assert_success
	assert_output_eq through-stdin
	run --separate-stderr capsa start busybox sh -c 'echo to-out; echo to-err >&2'
	assert_output_eq to-out
	[ "$stderr" = to-err ] || { echo "stderr: $stderr" >&2; false; }
}

# --- rootfs -------------------------------------------------------------------

@test "start: the rootfs is read-only by default" {
	run capsa start busybox /probe write /x text
	assert_failure
	assert_output_contains "Read-only file system"
	run capsa start busybox touch /etc/x
	assert_failure
	assert_not_exists "$DATA/busybox/x"
	assert_not_exists "$DATA/busybox/etc/x"
}

@test "start --rw / -w / ENROOT_ROOTFS_WRITABLE=y: the rootfs is writable and persistent" {
	run capsa start --rw busybox /probe write /x one
	assert_success
	[ "$(cat "$DATA/busybox/x")" = one ]
	[ "$(stat -c %u "$DATA/busybox/x")" = "$TUID" ]
	run capsa start -w busybox /probe write /y two
	assert_success
	[ "$(cat "$DATA/busybox/y")" = two ]
	run capsa_env ENROOT_ROOTFS_WRITABLE=y start busybox /probe write /z three
	assert_success
	[ "$(cat "$DATA/busybox/z")" = three ]
	run capsa start busybox /probe cat /x
	assert_output_eq one
}

@test "start: /proc, /sys and /dev/null are present" {
	run capsa start busybox sh -c 'test -r /proc/self/status && test -d /sys/kernel && test -c /dev/null && echo x >/dev/null && echo fine'
	assert_success
	assert_output_eq fine
	run capsa start busybox /probe mounts
	assert_line_eq /proc
	assert_line_eq /sys
	assert_line_eq /dev
}

@test "start: NoNewPrivs is 1 and all capabilities are dropped for a non-root user" {
	run --separate-stderr capsa start busybox /probe nnp -- caps
	assert_success
	assert_line_eq 1
	assert_line_eq CapEff=0000000000000000
	assert_line_eq CapPrm=0000000000000000
	assert_line_eq CapBnd=0000000000000000
	assert_line_eq CapAmb=0000000000000000
}

@test "start --root: NoNewPrivs is 1, capabilities kept inside the user namespace" {
	run --separate-stderr capsa start --root busybox /probe nnp -- status CapEff
	assert_success
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" != 0000000000000000 ] || { echo "no capabilities with --root" >&2; false; }
}

@test "start: only fds 0, 1, 2 are open inside even if the caller leaked fd 9" {
	exec 9</
	# control: fd 9 does reach a program started the same way
	if [ "${CAPSA_TEST_RUNUSER:-0}" = 1 ]; then
		run runuser -u "$TUSER" -- "$FIX/busybox/probe" fds
	else
		run "$FIX/busybox/probe" fds
	fi
	[[ " $output " == *" 9 "* ]] || skip "fd 9 is not inherited by the launcher ($output)"
	run --separate-stderr capsa start busybox /probe fds
	exec 9<&-
	assert_success
	assert_output_eq "0 1 2"
}

# --- name resolution -------------------------------------------------------

@test "start: a nonexistent container is an error naming it" {
	run --separate-stderr capsa start nosuchcontainer /probe id
	assert_error
	[[ $stderr == *nosuchcontainer* ]] || { echo "error does not name it: $stderr" >&2; false; }
}

@test "start: a name with '/' that is not an image is 'Invalid argument'" {
	run --separate-stderr capsa start foo/bar /probe id
	assert_error
	run --separate-stderr capsa start ../busybox /probe id
	assert_error
}

@test "start: a symlink in \$DATA is followed (readlink -f)" {
	ln -s "$DATA/busybox" "$DATA/alias"
	capsa_chown "$DATA/alias"
	run capsa start alias /probe cat /etc/capsa-fixture
	assert_success
	assert_output_eq capsa-fixture-marker
}

# --- starting a squashfs image directly (enroot.md §5.6) -----------------------

@test "start IMAGE.sqsh: runs without create; writes go to a tmpfs and vanish" {
	require_fuse
	local sum
	sum=$(sha256sum <"$FIX/busybox.sqsh")
	run --separate-stderr capsa start "$FIX/busybox.sqsh" /probe id
	assert_success
	assert_output_eq "uid=$TUID gid=$TGID euid=$TUID egid=$TGID"
	# read-only by default, like a created container
	run capsa start "$FIX/busybox.sqsh" /probe write /x y
	assert_failure
	run capsa start --rw "$FIX/busybox.sqsh" sh -c 'echo hi >/newfile && cat /newfile'
	assert_success
	assert_output_eq hi
	run capsa start "$FIX/busybox.sqsh" /probe stat /newfile
	assert_failure
	[ "$(sha256sum <"$FIX/busybox.sqsh")" = "$sum" ]
	# nothing was created in $DATA but the container made by setup
	[ "$(ls -A "$DATA")" = busybox ]
	# the FUSE helpers are gone once the container exits
	local i
	for ((i = 0; i < 30; i++)); do
		[ -n "$(pids_matching "$T")" ] || break
		sleep 0.1
	done
	[ -z "$(pids_matching "$T")" ] || { echo "leftover processes:" >&2; for i in $(pids_matching "$T"); do tr '\0' ' ' <"/proc/$i/cmdline" >&2; echo >&2; done; false; }
}

@test "start IMAGE.sqsh: served from capsa's own child (libsquashfuse_ll), files are the caller's, copy-up works" {
	require_fuse
	[ -e /usr/include/squashfuse/ll.h ] || skip "built without libsquashfuse-dev"
	# the FUSE server is the container process's child, and it is capsa, not an exec'd squashfuse
	run --separate-stderr capsa start "$FIX/busybox.sqsh" sh -c 'for p in $(cat /proc/$$/task/*/children); do cat /proc/$p/comm 2>/dev/null; done; true'
	assert_success
	assert_output_eq capsa
	run --separate-stderr capsa start "$FIX/busybox.sqsh" stat -c '%u:%g %N' /etc/passwd /bin/sh
	assert_success
	assert_output_eq "$TUID:$TGID /etc/passwd
$TUID:$TGID '/bin/sh' -> 'busybox'"
	run --separate-stderr capsa start -r "$FIX/busybox.sqsh" stat -c %u:%g /etc/passwd
	assert_success
	assert_output_eq "0:0"
	run --separate-stderr capsa start --rw "$FIX/busybox.sqsh" sh -c 'echo added >>/etc/passwd && tail -n1 /etc/passwd && stat -c %u /etc/passwd; ls /no-such-name 2>/dev/null || echo missing'
	assert_success
	assert_output_eq "added
$TUID
missing"
}

@test "start IMAGE.sqsh: set up on one CPU with its server, the command and the server get the caller's CPUs back" {
	require_fuse
	[ -e /usr/include/squashfuse/ll.h ] || skip "built without libsquashfuse-dev"
	[ "$(nproc)" -ge 2 ] || skip "one CPU: nothing is narrowed"
	# The command, then its children that are capsa: the server.
	local script='grep Cpus_allowed_list /proc/self/status; c=$(cat /proc/$$/task/*/children)
for p in $c; do [ "$(cat /proc/$p/comm 2>/dev/null)" = capsa ] && grep Cpus_allowed_list /proc/$p/status; done; true'
	local all
	all=$(grep Cpus_allowed_list /proc/self/status)
	run --separate-stderr capsa start "$FIX/busybox.sqsh" sh -c "$script"
	assert_success
	assert_output_eq "$all
$all"
	# A caller bound to one CPU (Slurm's task binding) stays bound to it.
	taskset -pc 1 "$BASHPID" >/dev/null
	run --separate-stderr capsa start "$FIX/busybox.sqsh" sh -c "$script"
	taskset -pc "${all##*:	}" "$BASHPID" >/dev/null
	assert_success
	assert_output_eq "Cpus_allowed_list:	1
Cpus_allowed_list:	1"
}

@test "start IMAGE.sqsh: gzip image and a relative path" {
	require_fuse
	cp "$FIX/busybox-gzip.sqsh" "$WORK/img.sqsh"
	capsa_chown "$WORK/img.sqsh"
	run capsa start ./img.sqsh /probe cat /etc/capsa-fixture
	assert_success
	assert_output_eq capsa-fixture-marker
	[ "$(ls -A "$DATA")" = busybox ]
}

# --- environment (enroot.md §5.4) ------------------------------------------------

@test "start -e: variables are set; the host environment is not inherited" {
	run --separate-stderr capsa_env HOST_SECRET=s3cret ENROOT_LEAK=1 CAPSA_LEAK=1 \
		start -e FOO=bar --env BAZ=qux -e 'SPACES=a b  c' -e EMPTY= busybox /probe env
	assert_success
	assert_line_eq FOO=bar
	assert_line_eq BAZ=qux
	assert_line_eq 'SPACES=a b  c'
	assert_line_eq EMPTY=
	assert_output_not_contains s3cret
	assert_no_line_matching '^HOST_SECRET='
	assert_no_line_matching '^ENROOT_'
	assert_no_line_matching '^CAPSA_'
	# nor the per-test paths given to capsa
	assert_output_not_contains "$DATA"
}

@test "start -e KEY takes the host value; -e ENROOT_*/CAPSA_* never reach the container" {
	run --separate-stderr capsa_env HOST_SECRET=s3cret start -e HOST_SECRET -e UNSET_ONE \
		-e ENROOT_X=1 -e CAPSA_X=1 busybox /probe env
	assert_success
	assert_line_eq HOST_SECRET=s3cret
	assert_line_eq UNSET_ONE=
	assert_no_line_matching '^ENROOT_'
	assert_no_line_matching '^CAPSA_'
}

@test "start -e: an invalid name is 'Invalid argument'" {
	local e
	for e in 1BAD=x 'BAD-NAME=x' '=x' 'A B=c'; do
		run --separate-stderr capsa start -e "$e" busybox /probe id
		assert_error || { echo "-e '$e' accepted" >&2; false; }
	done
}

@test "start: environ.d/*.env files are loaded and normalised" {
	write_file "$SYSCONF/environ.d/50-test.env" 0644 <<-'EOF'
	# a comment

	FROM_ENVIRON_D=yes
	   LEADING=space
	QUOTED="q v"
	SINGLE='s v'
	export DROPPED=1
	not a variable
	ENROOT_DROPPED=1
	SUBST=${HOME}
	ORDER=sys
	EOF
	write_file "$CONFIG/environ.d/60-user.env" 0644 <<-'EOF'
	FROM_USER_ENV=yes
	ORDER=user
	EOF
	run --separate-stderr capsa start -e ORDER=cli busybox /probe env
	assert_success
	assert_line_eq FROM_ENVIRON_D=yes
	assert_line_eq LEADING=space
	assert_line_eq 'QUOTED=q v'
	assert_line_eq 'SINGLE=s v'
	assert_line_eq "SUBST=$TEST_HOME"
	assert_line_eq FROM_USER_ENV=yes
	# order: sysconf, user config, -e: the last one wins
	assert_line_eq ORDER=cli
	assert_no_line_matching '^DROPPED='
	assert_no_line_matching '^ENROOT_'
}

# --- mounts (enroot.md §5.3, §5.9) -------------------------------------------------

@test "start -m SRC:DST bind-mounts a host directory" {
	echo data >"$SHARED/file"
	capsa_chown "$SHARED/file"
	run capsa start -m "$SHARED:/mnt/shared" busybox /probe cat /mnt/shared/file
	assert_success
	assert_output_eq data
	# rw bind: writes reach the host
	run capsa start --mount "$SHARED:/mnt/shared" busybox /probe write /mnt/shared/back written
	assert_success
	[ "$(cat "$SHARED/back")" = written ]
}

@test "start -m SRC:DST:TYPE:OPTS and a relative source" {
	echo data >"$SHARED/file"
	echo cwd >"$WORK/cwdfile"
	capsa_chown "$SHARED/file" "$WORK/cwdfile"
	run capsa start -m "$SHARED:/mnt/ro:none:x-create=dir,bind,ro" busybox /probe write /mnt/ro/new x
	assert_failure
	assert_not_exists "$SHARED/new"
	run capsa start -m "$SHARED:/mnt/ro:none:x-create=dir,bind,ro" busybox /probe cat /mnt/ro/file
	assert_output_eq data
	# a relative source is resolved against the caller's cwd (-m .:mnt)
	run capsa start -m .:/mnt/cwd busybox /probe cat /mnt/cwd/cwdfile
	assert_success
	assert_output_eq cwd
	# several -m, in order
	run capsa start -m "$SHARED:/mnt/a" -m "$WORK:/mnt/b" busybox /probe ls /mnt/a -- ls /mnt/b
	assert_success
	assert_line_eq file
	assert_line_eq cwdfile
}

@test "start -m: a malformed spec is 'Invalid argument'" {
	run --separate-stderr capsa start -m "$SHARED /mnt/x" busybox /probe id
	assert_error
	run --separate-stderr capsa start -m "$(printf '%s\t/mnt/x' "$SHARED")" busybox /probe id
	assert_error
}

@test "start: mounts.d/*.fstab entries are mounted (with \${VAR} substitution)" {
	echo data >"$SHARED/file"
	capsa_chown "$SHARED/file"
	write_file "$SYSCONF/mounts.d/50-test.fstab" 0644 <<-EOF
	# comment line

	$SHARED /mnt/fstab-ro none x-create=dir,bind,ro
	tmpfs /mnt/fstab-tmp tmpfs x-create=dir,size=1m
	\${MY_SRC} /mnt/subst none x-create=dir,bind
	EOF
	write_file "$CONFIG/mounts.d/60-user.fstab" 0644 <<-EOF
	$SHARED /mnt/user-fstab none x-create=dir,bind,ro
	EOF
	run capsa_env MY_SRC="$SHARED" start busybox sh -c '
		cat /mnt/fstab-ro/file &&
		! touch /mnt/fstab-ro/new 2>/dev/null &&
		echo t >/mnt/fstab-tmp/new && cat /mnt/fstab-tmp/new &&
		cat /mnt/subst/file && cat /mnt/user-fstab/file'
	assert_success
	assert_output_eq "$(printf 'data\nt\ndata\ndata')"
	assert_not_exists "$SHARED/new"
	run capsa_env MY_SRC="$SHARED" start busybox /probe mountinfo
	assert_output_contains "/mnt/fstab-tmp tmpfs"
}

@test "start: /tmp is a private tmpfs (10-system.fstab)" {
	run capsa start busybox sh -c 'echo x >/tmp/f && cat /tmp/f'
	assert_success
	assert_output_eq x
	assert_not_exists "$DATA/busybox/tmp/f"
}

# --- hooks, config scripts, batch -----------------------------------------------

@test "start: hooks.d scripts see ENROOT_PID/ROOTFS/MOUNTS/ENVIRON; ENVIRON and MOUNTS appends apply" {
	mkdir -p "$SHARED/hookmnt"
	echo via-hook >"$SHARED/hookmnt/file"
	capsa_chown "$SHARED/hookmnt"
	write_file "$SYSCONF/hooks.d/50-test.sh" 0755 <<-EOF
	#!/bin/bash
	set -eu
	env | grep '^ENROOT_' | sort >"$SHARED/hook-env"
	echo "HOOKVAR=from-hook" >>"\$ENROOT_ENVIRON"
	echo "CLIVAR=hook-wins" >>"\$ENROOT_ENVIRON"
	echo "$SHARED/hookmnt /mnt/from-hook none x-create=dir,bind,ro" >>"\$ENROOT_MOUNTS"
	echo HOOK-STDOUT-MARKER
	echo HOOK-STDERR-MARKER >&2
	EOF
	# not executable, or not *.sh: ignored
	write_file "$SYSCONF/hooks.d/40-noexec.sh" 0644 <<-EOF
	#!/bin/bash
	touch "$SHARED/noexec-ran"
	EOF
	write_file "$SYSCONF/hooks.d/60-notsh" 0755 <<-EOF
	#!/bin/bash
	touch "$SHARED/notsh-ran"
	EOF
	run --separate-stderr capsa start -e CLIVAR=cli busybox /probe pid -- env -- cat /mnt/from-hook/file
	assert_success
	local cpid=${lines[0]}
	assert_line_eq HOOKVAR=from-hook
	assert_line_eq CLIVAR=hook-wins
	assert_line_eq via-hook
	# hook stdout is discarded, stderr is shown
	[[ $stderr == *HOOK-STDERR-MARKER* ]] || { echo "hook stderr not shown: $stderr" >&2; false; }
	assert_output_not_contains HOOK-STDOUT-MARKER
	[[ $stderr != *HOOK-STDOUT-MARKER* ]] || { echo "hook stdout not discarded" >&2; false; }
	assert_not_exists "$SHARED/noexec-ran"
	assert_not_exists "$SHARED/notsh-ran"
	run cat "$SHARED/hook-env"
	assert_line_eq "ENROOT_PID=$cpid"
	assert_output_contains "ENROOT_ROOTFS=/"
	assert_output_contains "ENROOT_MOUNTS=/"
	assert_output_contains "ENROOT_ENVIRON=/"
}

@test "start: user hooks.d (CAPSA_CONFIG_PATH) run after the system ones" {
	write_file "$SYSCONF/hooks.d/50-sys.sh" 0755 <<-EOF
	#!/bin/bash
	echo sys >>"$SHARED/order"
	EOF
	write_file "$CONFIG/hooks.d/10-user.sh" 0755 <<-EOF
	#!/bin/bash
	echo user >>"$SHARED/order"
	EOF
	run capsa start busybox /probe id
	assert_success
	[ "$(cat "$SHARED/order")" = "$(printf 'sys\nuser')" ]
}

@test "start -c CONF: mounts(), environ() and hooks() (pyxis style)" {
	create_enroot_format
	echo data >"$SHARED/file"
	capsa_chown "$SHARED/file"
	write_file "$T/pyxis.conf" 0644 <<-EOF
	mounts() {
	    echo "$SHARED /mnt/from-conf none x-create=dir,bind,rw"
	}
	environ() {
	    echo "FROM_CONF=yes"
	    [ -n "\${HOSTVAR-}" ] && echo "HOSTVAR=\${HOSTVAR}" || :
	    [ -n "\${NOT_SET_VAR-}" ] && echo "NOT_SET_VAR=\${NOT_SET_VAR}" || :
	}
	hooks() {
	    echo 'exec "\$@"' > \${ENROOT_ROOTFS}/etc/rc.local
	}
	EOF
	# without the config, /etc/rc runs the image entrypoint
	run capsa start busybox-enroot /probe cwd
	assert_success
	assert_output_contains capsa-entrypoint
	assert_line_eq /workdir
	run capsa_env HOSTVAR=hv start -c "$T/pyxis.conf" busybox-enroot /probe env -- cat /mnt/from-conf/file -- cwd
	assert_success
	assert_line_eq FROM_CONF=yes
	assert_line_eq HOSTVAR=hv
	assert_no_line_matching '^NOT_SET_VAR='
	assert_line_eq data
	assert_line_eq /workdir
	# hooks() disabled the entrypoint
	assert_output_not_contains capsa-entrypoint
	run capsa start --conf "$T/pyxis.conf" busybox-enroot /probe id
	assert_success
}

@test "start -c CONF: #ENROOT_ directives beat the environment" {
	write_file "$T/directives.conf" 0644 <<-'EOF'
	#ENROOT_ROOTFS_WRITABLE=y
	# ENROOT_REMAP_ROOT=y
	EOF
	run --separate-stderr capsa_env ENROOT_ROOTFS_WRITABLE=n start -c "$T/directives.conf" busybox /probe write /from-directive x -- id
	assert_success
	assert_output_eq "uid=0 gid=0 euid=0 egid=0"
	assert_exists "$DATA/busybox/from-directive"
}

@test "start -c CONF: a config with a syntax error is rejected" {
	write_file "$T/broken.conf" 0644 <<-'EOF'
	environ() {
	    echo "unterminated
	}
	EOF
	run --separate-stderr capsa start -c "$T/broken.conf" busybox /probe id
	assert_error
	run --separate-stderr capsa start -c "$T/missing.conf" busybox /probe id
	assert_error
}

@test "start --rc SCRIPT replaces /etc/rc" {
	write_file "$T/my.rc" 0644 <<-'EOF'
	echo from-custom-rc
	exec "$@"
	EOF
	create_enroot_format
	run capsa start --rc "$T/my.rc" busybox-enroot /probe cwd
	assert_success
	assert_line_eq from-custom-rc
	assert_output_not_contains capsa-entrypoint
}

@test "start -c CONF: an rc() function replaces /etc/rc and gets the arguments" {
	write_file "$T/rc.conf" 0644 <<-'EOF'
	rc() {
	    echo "rc-function: $*"
	    exec "$@"
	}
	EOF
	create_enroot_format
	run capsa start -c "$T/rc.conf" busybox-enroot /probe exit 3
	assert_status 3
	assert_line_eq "rc-function: /probe exit 3"
	assert_output_not_contains capsa-entrypoint
}

@test "batch CONFIG: rootfs from #ENROOT_ROOTFS=, directives and functions apply" {
	write_file "$T/batch.conf" 0644 <<-'EOF'
	#!/usr/bin/env capsa-batch-is-not-used-here
	#ENROOT_ROOTFS=busybox
	#ENROOT_ROOTFS_WRITABLE=y
	environ() {
	    echo "FROM_BATCH=yes"
	}
	EOF
	run capsa batch "$T/batch.conf" /probe getenv FROM_BATCH -- write /batch-was-here x
	assert_success
	assert_output_eq yes
	assert_exists "$DATA/busybox/batch-was-here"
	run capsa batch "$T/batch.conf" sh -c 'exit 5'
	assert_status 5
}

@test "batch CONFIG without #ENROOT_ROOTFS is an error" {
	write_file "$T/nodirective.conf" 0644 <<-'EOF'
	environ() { echo A=1; }
	EOF
	run --separate-stderr capsa batch "$T/nodirective.conf" /probe id
	assert_error "Missing directive ENROOT_ROOTFS"
}

# --- exec (enroot.md §5.8) ------------------------------------------------------

@test "exec PID joins a running container (same mount namespace)" {
	capsa_bg "$T/bg.out" start busybox sh -c 'echo inside >/tmp/only-here && exec /probe sleep 30'
	local cpid
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	run --separate-stderr capsa exec "$cpid" /probe cat /tmp/only-here
	assert_success
	assert_output_eq inside
	assert_not_exists "$DATA/busybox/tmp/only-here"
	run --separate-stderr capsa exec -e EXECVAR=1 "$cpid" /probe uidmap -- getenv EXECVAR
	assert_success
	assert_output_eq "$(printf '%s %s 1\n1' "$TUID" "$TUID")"
	run capsa exec "$cpid" sh -c 'exit 9'
	assert_status 9
	kill_bg "$BG_PID"
}

# exec_matches_start [START-OPTION]: a process joined by exec is locked down
# exactly as the container's own (no_new_privs, seccomp, capabilities).
exec_matches_start() {
	local cpid expect
	run --separate-stderr capsa start "$@" busybox /probe nnp -- status Seccomp -- status CapEff
	assert_success
	expect=$output
	[ "${lines[0]}" = 1 ] && [ "${lines[1]}" = 2 ] || { echo "start: $expect" >&2; false; }
	capsa_bg "$T/bg.out" start "$@" busybox /probe sleep 30
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	run --separate-stderr capsa exec "$cpid" /probe nnp -- status Seccomp -- status CapEff
	assert_success
	[ "$output" = "$expect" ] || { echo "exec: '$output', start: '$expect'" >&2; false; }
	kill_bg "$BG_PID"
}

@test "exec: no_new_privs, the seccomp filter and capabilities as in start" {
	exec_matches_start
}

@test "exec into a --root container: no_new_privs and the seccomp filter too" {
	exec_matches_start --root
}

@test "exec: only fds 0, 1, 2 reach the command even if the caller leaked fd 9" {
	capsa_bg "$T/bg.out" start busybox /probe sleep 30
	local cpid
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	exec 9</
	run --separate-stderr capsa exec "$cpid" /probe fds
	exec 9<&-
	assert_success
	assert_output_eq "0 1 2"
	kill_bg "$BG_PID"
}

@test "exec: a nonexistent PID is 'Process not found'" {
	run --separate-stderr capsa exec 999999999 /probe id
	assert_error "Process not found"
}

# --- hooks shipped in conf/ (enroot.md §7.1) -------------------------------------

@test "start: /etc/passwd inside has the host user's entry (10-shadow)" {
	run --separate-stderr capsa start busybox /probe cat /etc/passwd
	assert_success
	[[ $output =~ (^|$'\n')"$TUSER":x:"$TUID":"$TGID": ]] || { echo "no $TUSER entry with uid $TUID" >&2; false; }
	[[ $output =~ (^|$'\n')root:x:0:0: ]]
	run --separate-stderr capsa start busybox /probe cat /etc/group
	[[ $output =~ (^|$'\n')[^:]+:x:"$TGID": ]] || { echo "no group entry for gid $TGID" >&2; false; }
	# a second start finds the entries in place and rewrites neither file
	local before
	before=$(stat -c %i:%Y "$DATA/busybox/etc/passwd" "$DATA/busybox/etc/group")
	run --separate-stderr capsa start busybox /probe id
	assert_success
	[ "$(stat -c %i:%Y "$DATA/busybox/etc/passwd" "$DATA/busybox/etc/group")" = "$before" ]
}

@test "start: ENROOT_MOUNT_HOME=y makes \$HOME visible" {
	echo at-home >"$TEST_HOME/marker"
	capsa_chown "$TEST_HOME/marker"
	run --separate-stderr capsa_env ENROOT_MOUNT_HOME=y start busybox /probe cat "$TEST_HOME/marker" -- getenv HOME
	assert_success
	assert_output_eq "$(printf 'at-home\n%s' "$TEST_HOME")"
	run capsa_env ENROOT_MOUNT_HOME=n start busybox /probe stat "$TEST_HOME/marker"
	assert_failure
	run capsa start busybox /probe stat "$TEST_HOME/marker"
	assert_failure
}

# --- locking ------------------------------------------------------------------------

# enroot holds `flock -w 30` on ROOTFS/.lock around config, hooks and mounts
# (enroot.md §5.2 step 4).  A hook makes the first start hold the lock for a
# few seconds; the second start must wait for it (or fail with "Could not
# acquire rootfs lock") and never hang.
@test "start: a concurrent start waits for the rootfs lock and then proceeds" {
	write_file "$SYSCONF/hooks.d/50-hold.sh" 0755 <<-EOF
	#!/bin/bash
	if [ -n "\${HOLD_LOCK:-}" ]; then
	    date +%s%N >"$SHARED/a-in"
	    sleep 3
	    date +%s%N >"$SHARED/a-out"
	else
	    date +%s%N >"$SHARED/b-in"
	fi
	EOF
	capsa_bg "$T/a.out" HOLD_LOCK=1 start busybox /probe id
	wait_for_file "$SHARED/a-in" 20 "$BG_PID" || { cat "$T/a.out" >&2; false; }
	local t0=$SECONDS
	run capsa start busybox /probe id
	local took=$((SECONDS - t0))
	[ "$took" -lt 45 ] || { echo "second start took ${took}s" >&2; false; }
	if [ "$status" -eq 0 ]; then
		[ -f "$SHARED/b-in" ] && [ -f "$SHARED/a-out" ]
		[ "$(cat "$SHARED/b-in")" -ge "$(cat "$SHARED/a-out")" ] || {
			echo "the second start ran its hooks while the first held the lock" >&2
			false
		}
	else
		assert_output_contains "lock"
	fi
	local rc=0
	wait "$BG_PID" || rc=$?
	[ "$rc" -eq 0 ] || { echo "first start: status $rc" >&2; cat "$T/a.out" >&2; false; }
}

# --- configuration names ----------------------------------------------------------

@test "ENROOT_* variable names are accepted as well as CAPSA_*" {
	run capsa_env -u CAPSA_DATA_PATH ENROOT_DATA_PATH="$T/alt-data" create -n alt "$FIX/busybox.sqsh"
	assert_success
	[ -x "$T/alt-data/alt/bin/busybox" ]
	assert_not_exists "$DATA/alt"
	run capsa_env -u CAPSA_DATA_PATH ENROOT_DATA_PATH="$T/alt-data" start alt /probe cat /etc/capsa-fixture
	assert_success
	assert_output_eq capsa-fixture-marker
	run capsa_env -u CAPSA_DATA_PATH ENROOT_DATA_PATH="$T/alt-data" list
	assert_output_eq alt
	# the sysconf dir too
	cp -a "$SYSCONF" "$T/alt-sysconf"
	write_file "$T/alt-sysconf/environ.d/50-alt.env" 0644 <<<"FROM_ALT_SYSCONF=yes"
	run capsa_env -u CAPSA_SYSCONF_PATH ENROOT_SYSCONF_PATH="$T/alt-sysconf" start busybox /probe getenv FROM_ALT_SYSCONF
	assert_success
	assert_output_eq yes
}

# --- --pid (enroot.md §5.2, post-4.1.2) ---------------------------------------------

@test "start --pid: the container has its own pid namespace" {
	run --separate-stderr capsa start --pid busybox /probe pid
	assert_success
	# enroot: the command is PID 1; capsa may put a minimal init in front of it
	[ "$output" -le 2 ] || { echo "pid inside is $output" >&2; false; }
	run --separate-stderr capsa start --pid busybox /probe ls /proc
	assert_success
	local n
	n=$(printf '%s\n' "${lines[@]}" | grep -cE '^[0-9]+$')
	[ "$n" -le 3 ] || { echo "$n pids visible in /proc" >&2; false; }
	run capsa start --pid busybox sh -c 'exit 7'
	assert_status 7
}

# --- the enroot image format (/etc/rc, /etc/environment, /etc/fstab) ----------------

@test "start: /etc/rc runs (WORKDIR, entrypoint, /etc/environment, default CMD)" {
	create_enroot_format
	run capsa start busybox-enroot /probe cwd -- getenv IMAGE_VAR -- getenv IMAGE_SPACES
	assert_success
	assert_output_contains capsa-entrypoint
	assert_line_eq /workdir
	assert_line_eq from-image
	assert_line_eq 'a b  c'
	# no command: Entrypoint + Cmd
	run capsa start busybox-enroot
	assert_success
	assert_line_eq capsa-default-cmd
}

@test "start: image volumes from /etc/fstab stay writable on a read-only rootfs" {
	create_enroot_format
	run capsa start busybox-enroot /probe write /data/vol ok
	assert_success
	[ "$(cat "$DATA/busybox-enroot/data/vol")" = ok ]
	run capsa start busybox-enroot /probe write /notvol x
	assert_failure
}

@test "start: ENROOT_RESTRICT_DEV=y gives a minimal /dev" {
	run capsa_env ENROOT_RESTRICT_DEV=y start busybox /probe ls /dev
	assert_success
	for d in null zero full random urandom tty pts shm fd stdin stdout stderr ptmx; do
		assert_line_eq "$d" || return 1
	done
	assert_output_not_contains vda
	assert_output_not_contains kmsg
	# Without it, the host /dev is there.
	run capsa start busybox /probe ls /dev
	assert_success
	assert_output_contains kmsg
}

@test "start: a site's enroot.conf in CAPSA_SYSCONF_PATH is read" {
	rm -f "$SYSCONF/capsa.conf"
	write_file "$SYSCONF/enroot.conf" 0644 <<-'EOF'
	ENROOT_ROOTFS_WRITABLE yes
	EOF
	run capsa start busybox /probe write /written-by-enroot-conf x
	assert_success
	assert_exists "$DATA/busybox/written-by-enroot-conf"
}

@test "start IMAGE.sqsh: an unusable /dev/fuse gives an error with the fix" {
	require_root
	local -a _cmd
	_capsa_cmd user -- start "$FIX/busybox.sqsh" /probe id
	: >"$T/nofuse"
	chmod 000 "$T/nofuse"
	run --separate-stderr unshare -m --propagation private sh -c \
		'mount --bind "$0" /dev/fuse && cd "$1" && shift && exec "$@"' "$T/nofuse" "$WORK" "${_cmd[@]}"
	assert_error "/dev/fuse"
	[[ $stderr == *"capsa create"* ]] || { echo "no fix suggested: $stderr" >&2; false; }
}

# --- a lean start path -----------------------------------------------------------

# loaded_libs ARGS...: the libraries the dynamic loader maps for capsa ARGS.
loaded_libs() {
	run --separate-stderr capsa LD_DEBUG=libs "$@"
	printf '%s\n' "$stderr" | sed -n 's/.*find library=\([^ ;]*\).*/\1/p' | sort -u
}

assert_lean() { # LIBS
	grep -q '^libseccomp' <<<"$1" || { echo "LD_DEBUG saw no libseccomp: '$1'" >&2; return 1; }
	! grep -E '^lib(curl|ssl|crypto|archive|json-c|squashfs|isal|lzo2|xml2|icu)' <<<"$1" ||
		{ echo "an image library was mapped" >&2; return 1; }
}

@test "start, exec, batch and version map no image library (libcurl, OpenSSL, libarchive, json-c, libsquashfs)" {
	local libs cpid
	libs=$(loaded_libs start busybox /probe exit 0)
	assert_status 0
	assert_lean "$libs"
	libs=$(loaded_libs version)
	assert_lean "$libs"
	write_file "$T/b.conf" 0644 <<-EOF
	#ENROOT_ROOTFS=$DATA/busybox
	EOF
	libs=$(loaded_libs batch "$T/b.conf" /probe exit 0)
	assert_status 0
	assert_lean "$libs"
	capsa_bg "$T/bg.out" start busybox /probe sleep 30
	cpid=$(wait_for_comm "$BG_PID" probe) || { cat "$T/bg.out" >&2; false; }
	libs=$(loaded_libs exec "$cpid" /probe exit 0)
	assert_status 0
	assert_lean "$libs"
	kill_bg "$BG_PID"
	# The image verbs still work, through capsa-image beside capsa.
	run --separate-stderr capsa cache list
	assert_success
}
