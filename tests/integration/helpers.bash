# shellcheck shell=bash disable=SC2034,SC2154,SC2015
# SPDX-License-Identifier: Apache-2.0
#
# Shared helpers for capsa's bats integration tests.  Every test file does:
#
#   load helpers
#   setup()    { capsa_setup; }
#   teardown() { capsa_teardown; }
#
# capsa_setup gives each test fresh directories under $T (owned by the
# unprivileged test user) and the variables
#   DATA RUNTIME CACHE CONFIG SYSCONF  the CAPSA_*_PATH directories
#   TEST_HOME WORK SHARED              $HOME, the cwd of capsa, a scratch dir
#   FIX PROBE                          fixtures dir (busybox*.sqsh, rootfs dirs)
#   TUID TGID TUSER                    the test user
# and capsa runs as that user with a clean environment (env -i) through
#   capsa ARGS...                      (or capsa_as_user)
#   capsa_env [-u NAME]... [NAME=VALUE]... ARGS...   extra/removed variables
#   capsa_as_root ARGS...              real root, same clean environment
#   capsa_bg OUTFILE ARGS...           in the background; sets BG_PID
# The sysconf dir is a copy of the repository's conf/ (capsa.conf, mounts.d,
# environ.d, hooks.d) when it exists.
#
# The CLI is written to the enroot specification (shared/spec/enroot.md).

bats_require_minimum_version 1.5.0

CAPSA_REPO=${CAPSA_REPO:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
if [ -z "${CAPSA_FIXTURES:-}" ] && [ -z "${CAPSA_SKIP_INTEGRATION:-}" ]; then
	# bats was run directly rather than through tests/run.
	# shellcheck source=tests/lib/setup.sh
	. "$CAPSA_REPO/tests/lib/setup.sh" >&2
fi

CAPSA_TEST_TIMEOUT=${CAPSA_TEST_TIMEOUT:-60}
CONTAINER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

capsa_setup() {
	[ -z "${CAPSA_SKIP_INTEGRATION:-}" ] || skip "$CAPSA_SKIP_INTEGRATION"
	if [ ! -x "$CAPSA_BIN" ]; then
		echo "capsa binary not found: $CAPSA_BIN (run make first)" >&2
		return 1
	fi
	TUSER=$CAPSA_TEST_USER TUID=$CAPSA_TEST_UID TGID=$CAPSA_TEST_GID
	FIX=$CAPSA_FIXTURES
	PROBE=$CAPSA_PROBE
	T=$(mktemp -d "${CAPSA_TEST_TMPDIR:-/tmp}/capsa-bats.XXXXXX")
	chmod 0755 "$T"
	DATA=$T/data
	RUNTIME=$T/runtime # created by capsa (mkdir -p, enroot.md §1.1.6)
	CACHE=$T/cache     # likewise
	CONFIG=$T/config
	SYSCONF=$T/sysconf
	TEST_HOME=$T/home
	WORK=$T/work
	SHARED=$T/shared
	mkdir -p "$DATA" "$CONFIG"/{hooks.d,mounts.d,environ.d} "$SYSCONF" "$TEST_HOME" "$WORK" "$SHARED" \
		"$T"/tmp "$T"/xdg/{data,config,cache,run}
	if [ -d "$CAPSA_REPO/conf" ]; then
		cp -a "$CAPSA_REPO/conf/." "$SYSCONF/"
	fi
	mkdir -p "$SYSCONF"/{hooks.d,mounts.d,environ.d}
	chmod 0700 "$T"/xdg/run
	capsa_chown "$T"
	BG_PIDS=()
}

capsa_teardown() {
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill_bg "$pid"
	done
	# Anything still running that belongs to this test (FUSE daemons, stray
	# containers) names $T in its command line: kill exactly those pids.
	for pid in $(pids_matching "$T"); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${CAPSA_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $T" >&3
		return 0
	fi
	chmod -R u+rwX "$T" 2>/dev/null || true
	rm -rf "$T" 2>/dev/null || { sleep 0.5; chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"; }
}

# Give PATH... to the test user (no-op when the tests run as that user).
capsa_chown() {
	if [ "${CAPSA_TEST_RUNUSER:-0}" = 1 ]; then
		chown -R "$CAPSA_TEST_UID:$CAPSA_TEST_GID" "$@"
	fi
}

# The clean environment capsa runs with.  Sanitizer options pass through.
_capsa_base_env() {
	_env=(
		"HOME=$TEST_HOME" "USER=$TUSER" "LOGNAME=$TUSER" "SHELL=/bin/sh" "PATH=$CONTAINER_PATH"
		"LC_ALL=C" "TMPDIR=$T/tmp"
		"XDG_RUNTIME_DIR=$T/xdg/run" "XDG_DATA_HOME=$T/xdg/data" "XDG_CONFIG_HOME=$T/xdg/config"
		"XDG_CACHE_HOME=$T/xdg/cache"
		"CAPSA_DATA_PATH=$DATA" "CAPSA_RUNTIME_PATH=$RUNTIME" "CAPSA_CACHE_PATH=$CACHE"
		"CAPSA_CONFIG_PATH=$CONFIG" "CAPSA_SYSCONF_PATH=$SYSCONF" "CAPSA_TEMP_PATH=$T/tmp"
	)
	local v
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS CAPSA_DEBUG; do
		[ -z "${!v:-}" ] || _env+=("$v=${!v}")
	done
}

# _capsa_cmd AS(user|root) [-u NAME]... [NAME=VALUE]... -- ARGS...
# Sets the array _cmd: timeout [runuser -u USER --] env -i ENV... capsa ARGS...
_capsa_cmd() {
	local as=$1 kv name e keep
	local -a drop=() extra=() _env=() prefix=()
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--) shift; break ;;
		-u) drop+=("$2"); shift 2 ;;
		*) extra+=("$1"); shift ;;
		esac
	done
	_capsa_base_env
	_env+=("${extra[@]}")
	if [ "$as" = user ] && [ "${CAPSA_TEST_RUNUSER:-0}" = 1 ]; then
		prefix=(runuser -u "$TUSER" --)
	fi
	_cmd=(timeout -k 5 "$CAPSA_TEST_TIMEOUT" "${prefix[@]}" env -i)
	for kv in "${_env[@]}"; do
		keep=1
		name=${kv%%=*}
		for e in "${drop[@]}"; do
			[ "$name" != "$e" ] || keep=0
		done
		[ "$keep" = 0 ] || _cmd+=("$kv")
	done
	_cmd+=("$CAPSA_BIN" "$@")
}

# _capsa_split_env ARGS...: sets _pre (-u NAME / NAME=VALUE words) and _rest.
_capsa_split_env() {
	_pre=() _rest=()
	while [ $# -gt 0 ]; do
		case "$1" in
		-u) _pre+=("$1" "$2"); shift 2 ;;
		[A-Za-z_]*=*) _pre+=("$1"); shift ;;
		*) break ;;
		esac
	done
	_rest=("$@")
}

# capsa_env [-u NAME]... [NAME=VALUE]... ARGS...
capsa_env() {
	local -a _cmd _pre _rest
	_capsa_split_env "$@"
	_capsa_cmd user "${_pre[@]}" -- "${_rest[@]}"
	(cd "$WORK" && exec "${_cmd[@]}")
}

capsa() { capsa_env "$@"; }
capsa_as_user() { capsa_env "$@"; }

# capsa_as_root [-u NAME]... [NAME=VALUE]... ARGS...: as real root, no runuser.
capsa_as_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	local -a _cmd _pre _rest
	_capsa_split_env "$@"
	_capsa_cmd root "${_pre[@]}" -- "${_rest[@]}"
	(cd "$WORK" && exec "${_cmd[@]}")
}

# capsa_bg OUTFILE [-u NAME]... [NAME=VALUE]... ARGS...: run capsa as the test
# user in the background, stdout+stderr to OUTFILE, bats' fd 3 closed.
# BG_PID is the pid of the `timeout` wrapper, which leads its own process
# group; the container process is a descendant (see wait_for_comm).
capsa_bg() {
	local out=$1
	local -a _cmd _pre _rest
	shift
	_capsa_split_env "$@"
	_capsa_cmd user "${_pre[@]}" -- "${_rest[@]}"
	(cd "$WORK" && exec "${_cmd[@]}") >"$out" 2>&1 3>&- </dev/null &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# wait_bg PID: wait for a background capsa and return its exit status.
wait_bg() {
	local rc=0
	wait "$1" || rc=$?
	return "$rc"
}

# kill_bg PID: kill a background capsa, its descendants and its process group
# (SIGKILL: runuser would otherwise spend 2 s forwarding a SIGTERM).
kill_bg() {
	local p
	for p in $(descendants "$1"); do
		kill -KILL "$p" 2>/dev/null || true
	done
	kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true
	wait_gone "$1" 3 || true
}

# --- process helpers ---------------------------------------------------------

# These run often: builtins only, no forks (a fork costs milliseconds here).

# pids_matching STRING: pids whose command line contains STRING.
pids_matching() {
	local p pid
	local -a args
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" != "$$" ] && [ "$pid" != "$BASHPID" ] || continue
		mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
		[[ "${args[*]}" == *"$1"* ]] && echo "$pid"
	done
	return 0
}

# ppid_of PID
ppid_of() {
	local stat
	local -a f
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	read -r -a f <<<"$stat"
	echo "${f[1]}"
}

comm_of() {
	local c
	{ read -r c <"/proc/$1/comm"; } 2>/dev/null || return 1
	echo "$c"
}

# descendants PID: all live descendants of PID.
descendants() {
	local p pid stat
	local -a f queue=("$1")
	local -A kids=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		{ read -r stat <"$p/stat"; } 2>/dev/null || continue
		stat=${stat##*) }
		read -r -a f <<<"$stat"
		kids[${f[1]}]+="$pid "
	done
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		for pid in ${kids[$p]:-}; do
			echo "$pid"
			queue+=("$pid")
		done
	done
}

# wait_for_comm PID COMM [SECONDS]: print the pid of a descendant of PID whose
# comm is COMM, waiting up to SECONDS (default 20).
wait_for_comm() {
	local root=$1 comm=$2 secs=${3:-20} i p
	for ((i = 0; i < secs * 10; i++)); do
		for p in $(descendants "$root"); do
			local c=
			{ read -r c <"/proc/$p/comm"; } 2>/dev/null || continue
			if [ "$c" = "$comm" ]; then
				echo "$p"
				return 0
			fi
		done
		kill -0 "$root" 2>/dev/null || break
		sleep 0.1
	done
	echo "no '$comm' process under $root" >&2
	return 1
}

# wait_for_file PATH [SECONDS] [PID]: wait for PATH to appear; give up early
# when PID (e.g. BG_PID) has exited.
wait_for_file() {
	local i
	for ((i = 0; i < ${2:-20} * 10; i++)); do
		[ -e "$1" ] && return 0
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
			[ -e "$1" ] && return 0
			echo "process $3 exited before $1 appeared" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# wait_gone PID [SECONDS]: wait until PID has exited (or is a zombie).
wait_gone() {
	local i st
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 0
		st=${st##*) }
		[ "${st%% *}" != Z ] || return 0
		sleep 0.1
	done
	return 1
}

# --- fixtures -------------------------------------------------------------------

# create_busybox [NAME] [IMAGE]: capsa create the fixture (default: busybox
# from busybox.sqsh) and fail loudly if that does not work.
create_busybox() {
	local name=${1:-busybox} img=${2:-$FIX/busybox.sqsh}
	run capsa create -n "$name" "$img"
	if [ "$status" -ne 0 ] || [ ! -d "$DATA/$name" ]; then
		echo "capsa create -n $name $img failed (status $status):" >&2
		echo "$output" >&2
		return 1
	fi
}

create_enroot_format() { create_busybox "${1:-busybox-enroot}" "$FIX/busybox-enroot.sqsh"; }

# tree_dump DIR: "path type mode link" for every entry, sorted (owner ignored).
tree_dump() {
	(cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%l\n' | LC_ALL=C sort)
}

# write_file PATH MODE <<< content: write stdin to PATH, give it to the test user.
write_file() {
	mkdir -p "$(dirname "$1")"
	cat >"$1"
	chmod "$2" "$1"
	capsa_chown "$1"
}

require_fuse() {
	[ "${CAPSA_TEST_FUSE:-0}" = 1 ] || skip "FUSE is not usable by $TUSER (needs /dev/fuse 0666 and squashfuse)"
}

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# --- assertions (print what went wrong; bats shows it on failure) -------------

assert_status() {
	if [ "$status" -ne "$1" ]; then
		printf 'expected exit status %s, got %s\noutput:\n%s\n' "$1" "$status" "$output" >&2
		[ -z "${stderr:-}" ] || printf 'stderr:\n%s\n' "$stderr" >&2
		return 1
	fi
}

assert_failure() {
	if [ "$status" -eq 0 ]; then
		printf 'expected failure, got exit status 0\noutput:\n%s\n' "$output" >&2
		return 1
	fi
}

assert_success() { assert_status 0; }

assert_output_contains() {
	if [[ $output != *"$1"* ]]; then
		printf 'expected output to contain: %s\noutput:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

# assert_output_contains_i STRING: case-insensitive.
assert_output_contains_i() {
	if [[ ${output,,} != *"${1,,}"* ]]; then
		printf 'expected output to contain (any case): %s\noutput:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

assert_output_not_contains() {
	if [[ $output == *"$1"* ]]; then
		printf 'expected output NOT to contain: %s\noutput:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

assert_output_eq() {
	if [ "$output" != "$1" ]; then
		printf 'expected output:\n%s\ngot:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

# assert_line_eq LINE: some line of $output equals LINE exactly.
assert_line_eq() {
	local l
	for l in "${lines[@]}"; do
		[ "$l" != "$1" ] || return 0
	done
	printf 'expected a line equal to: %s\noutput:\n%s\n' "$1" "$output" >&2
	return 1
}

assert_no_line_matching() { # REGEX
	local l
	for l in "${lines[@]}"; do
		if [[ $l =~ $1 ]]; then
			printf 'unexpected line matching %s: %s\n' "$1" "$l" >&2
			return 1
		fi
	done
}

# assert_error: enroot's error convention — "[ERROR] ..." on stderr, exit 1.
# Use after `run --separate-stderr`.
assert_error() {
	assert_status 1 || return 1
	if [[ ${stderr:-} != *"[ERROR] "* ]]; then
		printf 'expected "[ERROR] ..." on stderr\nstdout:\n%s\nstderr:\n%s\n' "$output" "${stderr:-}" >&2
		return 1
	fi
	# The message text is compared case-insensitively: enroot says
	# "Invalid image format: X", capsa may say "invalid image format: ...".
	if [ -n "${1:-}" ] && [[ ${stderr,,} != *"${1,,}"* ]]; then
		printf 'expected stderr to contain (any case): %s\nstderr:\n%s\n' "$1" "$stderr" >&2
		return 1
	fi
}

assert_exists() { [ -e "$1" ] || [ -L "$1" ] || { echo "expected $1 to exist" >&2; return 1; }; }
assert_not_exists() { ! [ -e "$1" ] && ! [ -L "$1" ] || { echo "expected $1 not to exist" >&2; return 1; }; }

# --- the registry test bed (tests/registry), for the import suites ----------

REG=$CAPSA_REPO/tests/registry

# registry_bed_start NAME [TOOL...]: in setup_file, start the registries in a
# new $REG_DIR. bats cannot skip from setup_file: a missing tool is recorded
# in REG_SKIP (status 0) and registry_bed_setup skips each test with it.
registry_bed_start() {
	local name=$1 c
	shift
	export REG_SKIP=
	for c in docker-registry skopeo openssl htpasswd curl python3 "$@"; do
		command -v "$c" >/dev/null || { REG_SKIP="$c is not installed"; return 0; }
	done
	python3 -c 'import cryptography' 2>/dev/null || { REG_SKIP="python3-cryptography is not installed"; return 0; }
	REG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/capsa-$name.XXXXXX")
	export REG_DIR
	chmod 0755 "$REG_DIR"
	"$REG/start.sh" "$REG_DIR" >&3 2>&1
}

registry_bed_stop() {
	[ -n "${REG_DIR:-}" ] || return 0
	"$REG/stop.sh" "$REG_DIR"
	rm -rf "$REG_DIR"
}

# In setup: skip without a test bed, else capsa_setup and the bed's
# addresses ($PLAIN, $EXP and everything in env.sh).
registry_bed_setup() {
	[ -z "$REG_SKIP" ] || skip "$REG_SKIP"
	capsa_setup
	# shellcheck source=/dev/null
	. "$REG_DIR/env.sh"
	EXP=$REG_DIR/expected
	PLAIN=$CAPSA_REGISTRY_PLAIN
}

# --- the Slurm test bed (tests/slurm), for the SPANK plugin suites ----------

SLURM_BED=$CAPSA_REPO/tests/slurm

# slurm_bed_start [NODES]: in setup_file, start a cluster of NODES (default
# 3) slurmd in a new $SLURM_DIR.  A missing package or privilege is recorded
# in SLURM_SKIP (bats cannot skip from setup_file); a bed that fails to start
# fails setup_file, with the logs start.sh shows.
slurm_bed_start() {
	local c
	export SLURM_SKIP=
	if [ -n "${CAPSA_SKIP_INTEGRATION:-}" ]; then
		SLURM_SKIP=$CAPSA_SKIP_INTEGRATION
		return 0
	fi
	for c in munged mungekey slurmctld slurmd srun sbatch salloc sinfo scontrol; do
		if ! command -v "$c" >/dev/null; then
			SLURM_SKIP="$c is not installed (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)"
			return 0
		fi
	done
	if [ "$(id -u)" -ne 0 ] || [ "${CAPSA_TEST_RUNUSER:-0}" != 1 ]; then
		SLURM_SKIP="the Slurm test bed needs root (daemons, namespaces, cgroups)"
		return 0
	fi
	SLURM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/capsa-slurm.XXXXXX")
	export SLURM_DIR
	chmod 0755 "$SLURM_DIR"
	# SLURM_BED_PLUGIN=1: slurmd starts with spank_capsa.so in its plugstack,
	# so that it runs the plugin's job_epilog (tests then change its
	# arguments freely: the epilog re-reads plugstack.conf).
	local line=
	if [ "${SLURM_BED_PLUGIN:-0}" = 1 ] && [ -f "$CAPSA_BUILD/spank_capsa.so" ]; then
		mkdir -p "$SLURM_DIR/lib"
		install -m 0644 "$CAPSA_BUILD/spank_capsa.so" "$SLURM_DIR/lib/spank_capsa.so"
		line="optional $SLURM_DIR/lib/spank_capsa.so"
	fi
	CAPSA_SLURM_PLUGSTACK_LINE=$line "$SLURM_BED/start.sh" "$SLURM_DIR" "${1:-3}" >&3 2>&1
	# The cwd of every job: writable by the test user (sbatch writes
	# slurm-%j.out there, slurmstepd chdirs there).
	mkdir -p "$SLURM_DIR/work" "$SLURM_DIR/lib"
	chown "$CAPSA_TEST_UID:$CAPSA_TEST_GID" "$SLURM_DIR/work"
}

slurm_bed_stop() {
	[ -n "${SLURM_DIR:-}" ] || return 0
	"$SLURM_BED/stop.sh" "$SLURM_DIR"
	if [ "${CAPSA_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $SLURM_DIR" >&3
		return 0
	fi
	rm -rf "$SLURM_DIR"
}

# In setup: skip without a bed, else the bed's variables (env.sh: SLURM_CONF,
# CAPSA_SLURM_NODES...), TUSER/TUID and SWORK (the jobs' cwd).
slurm_bed_setup() {
	[ -z "$SLURM_SKIP" ] || skip "$SLURM_SKIP"
	# shellcheck source=/dev/null
	. "$SLURM_DIR/env.sh"
	TUSER=$CAPSA_TEST_USER TUID=$CAPSA_TEST_UID
	SWORK=$SLURM_DIR/work
}

# slurm_as_user CMD [ARGS...]: run a Slurm client (srun, sbatch, salloc...)
# as the unprivileged test user, from $SWORK, with a clean environment that
# has SLURM_CONF (testbed.md §6.2) and no stdin (salloc waits on it).
slurm_as_user() {
	(cd "$SWORK" && exec timeout -k 5 "${CAPSA_SLURM_TIMEOUT:-60}" runuser -u "$TUSER" -- env -i \
		"HOME=$CAPSA_TEST_HOME" "USER=$TUSER" "LOGNAME=$TUSER" "PATH=/usr/local/bin:/usr/bin:/bin" \
		"LANG=C" "SLURM_CONF=$SLURM_CONF" "$@" </dev/null)
}

# slurm_plugin_install [ARGS...]: put a copy of this build's spank_capsa.so
# (readable by srun as the test user) into the bed's plugstack with ARGS;
# srun and slurmstepd read plugstack.conf at every step, so no restart.
slurm_plugin_install() {
	local so=$CAPSA_BUILD/spank_capsa.so
	[ -f "$so" ] || skip "spank_capsa.so was not built (needs /usr/include/slurm/spank.h from libslurm-dev)"
	install -m 0644 "$so" "$SLURM_DIR/lib/spank_capsa.so"
	echo "required $SLURM_DIR/lib/spank_capsa.so${*:+ $*}" >"$CAPSA_SLURM_PLUGSTACK_DIR/capsa.conf"
}

slurm_plugin_remove() {
	[ -n "${CAPSA_SLURM_PLUGSTACK_DIR:-}" ] && rm -f "$CAPSA_SLURM_PLUGSTACK_DIR/capsa.conf"
	return 0
}

# slurm_containers_setup [PLUGSTACK-ARGS...]: in setup, after slurm_bed_setup:
# capsa_setup's private directories, a system capsa.conf ($SYSCONF) that
# points capsa's data, cache, runtime and temp paths at them (HTTP allowed
# for the registry bed), and spank_capsa.so with runtime_path on the nodes'
# own DIR/local (RT), capsa_path=$CAPSA_BIN and sysconf_path=$SYSCONF.
# Called again in a test, it only reinstalls the plugin with new arguments.
slurm_containers_setup() {
	if [ -n "${RT:-}" ] && [ -d "${T:-}" ]; then
		slurm_plugin_install "runtime_path=$RT" "capsa_path=$CAPSA_BIN" "sysconf_path=$SYSCONF" "$@"
		return 0
	fi
	capsa_setup
	cat >>"$SYSCONF/capsa.conf" <<-CONF
		CAPSA_DATA_PATH $DATA
		CAPSA_CACHE_PATH $CACHE
		CAPSA_RUNTIME_PATH $RUNTIME
		CAPSA_TEMP_PATH $T/tmp
		CAPSA_ALLOW_HTTP yes
	CONF
	RT=$CAPSA_SLURM_NODE_LOCAL/pyxis-$(basename "$T")
	slurm_plugin_install "runtime_path=$RT" "capsa_path=$CAPSA_BIN" "sysconf_path=$SYSCONF" "$@"
}

# slurm_and_registry_beds_start NAME: in setup_file, a 3-node Slurm bed whose
# slurmd loads the plugin at start (for its job_epilog) and a registry bed
# with the fixtures pushed.  A registry bed that fails to start (it happens
# under load) is tried once more, then only the registry tests are skipped.
slurm_and_registry_beds_start() {
	SLURM_BED_PLUGIN=1 slurm_bed_start 3
	[ -n "$SLURM_SKIP" ] && return 0
	if ! registry_bed_start "$1"; then
		registry_bed_stop
		registry_bed_start "$1" || { registry_bed_stop; REG_SKIP="the registry bed failed to start"; }
	fi
	if [ -z "$REG_SKIP" ]; then
		"$REG/push.sh" "$REG_DIR" >&3 2>&1
		chmod -R a+rX "$REG_DIR"
	fi
}

# The runtime_path directories of every node (they are node-local).
slurm_node_runtime_dirs() {
	local d
	for d in "$CAPSA_SLURM_DIR"/nodes/*/local/"$(basename "$RT")"; do
		[ -d "$d" ] && echo "$d"
	done
}

# --- the fault proxy (tests/registry/faultproxy.py) in front of the registry bed ---

# start_proxy NAME PORT UPSTREAM [ARGS...]: a faultproxy with rules
# $REG_DIR/fp/NAME.rules and log $REG_DIR/fp/NAME.log, on PORT or, when PORT is
# empty, on a port free on 127.0.0.1 and $FP_ALT (tried again on another one
# if something takes it before the proxy binds it).  Sets FP_STARTED_PORT.
start_proxy() {
	local name=$1 fixed=$2 up=$3 port pid st alt=() addrs=(--addr 127.0.0.1) i try
	shift 3
	[ -z "${FP_ALT:-}" ] || addrs+=(--addr "$FP_ALT")
	echo '[]' >"$REG_DIR/fp/$name.rules"
	for try in 1 2 3 4 5; do
		port=$fixed
		[ -n "$port" ] || port=$(python3 "$REG/freeport.py" "${addrs[@]}") || return 1
		[ -z "${FP_ALT:-}" ] || alt=(--alt-listen "$FP_ALT:$port")
		rm -f "$REG_DIR/fp/$name.pid"
		setsid python3 "$REG/faultproxy.py" --listen "127.0.0.1:$port" "${alt[@]}" --upstream "$up" \
			--rules "$REG_DIR/fp/$name.rules" --log "$REG_DIR/fp/$name.log" \
			--pidfile "$REG_DIR/fp/$name.pid" "$@" >>"$REG_DIR/fp/$name.err" 2>&1 </dev/null &
		pid=$!
		# The pid file appears once every listener is bound.
		for ((i = 0; i < 150; i++)); do
			if [ -s "$REG_DIR/fp/$name.pid" ]; then
				FP_STARTED_PORT=$port
				return 0
			fi
			{ read -r st <"/proc/$pid/stat"; } 2>/dev/null || break
			st=${st##*) }
			[ "${st%% *}" != Z ] || break
			sleep 0.1
		done
		[ -z "$fixed" ] || break
	done
	echo "faultproxy $name did not start on port $port (attempt $try):" >&2
	tail -n 5 "$REG_DIR/fp/$name.err" >&2
	return 1
}

# rules NAME JSON: replace the proxy's rules (its counters start again).
rules() {
	printf '%s\n' "$2" >"$REG_DIR/fp/$1.rules.new"
	mv -f "$REG_DIR/fp/$1.rules.new" "$REG_DIR/fp/$1.rules"
}

# stop_proxies: the proxies started for this registry bed (their command line
# names its directory), never another process.
stop_proxies() {
	local f pid
	for f in "$REG_DIR"/fp/*.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$REG_DIR/fp/"; then
			kill "$pid" 2>/dev/null || true
		fi
	done
}

# patch_plugin_version SO VALUE: overwrite a plugin's plugin_version symbol
# (what Slurm compares with its own major.minor at load), e.g. 0x170b00 for
# 23.11.
patch_plugin_version() {
	python3 - "$1" "$2" <<-'PY'
		import re, struct, subprocess, sys
		so, value_to_write = sys.argv[1], int(sys.argv[2], 0)
		sym = next(l.split() for l in subprocess.run(["readelf", "-sW", so], capture_output=True, text=True,
		           check=True).stdout.splitlines() if l.split()[-1:] == ["plugin_version"])
		value, ndx = int(sym[1], 16), int(sym[6])
		for l in subprocess.run(["readelf", "-SW", so], capture_output=True, text=True, check=True).stdout.splitlines():
		    m = re.match(r"\s*\[\s*(\d+)\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", l)
		    if m and int(m.group(1)) == ndx:
		        off = value - int(m.group(2), 16) + int(m.group(3), 16)
		b = bytearray(open(so, "rb").read())
		struct.pack_into("<I", b, off, value_to_write)
		open(so, "wb").write(b)
	PY
}
