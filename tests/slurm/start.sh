#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Start a real Slurm cluster on 127.0.0.1 into DIR (testbed.md §4):
#
#   tests/slurm/start.sh DIR [NODES]     (NODES default 3; stop with stop.sh DIR)
#
# munged, slurmctld and NODES slurmd daemons (Debian builds Slurm with
# --enable-multiple-slurmd), each slurmd in its own UTS + mount namespace with
# its own hostname and /etc/hosts.  Ports are picked free at start.  Node names
# carry a per-bed prefix (CAPSA_SLURM_NODE_PREFIX, default random, e.g.
# "cqzkvn1"), so a second bed or a developer's own Slurm does not share node
# names, spool or cgroup directories (/sys/fs/cgroup/*/slurm_<node>).
#
# Knobs: CAPSA_SLURM_CGROUP=auto|yes|no (proctrack/cgroup + task/cgroup when
# the cgroup v1 freezer, cpuset, memory and devices controllers are mounted;
# "no" forces proctrack/linuxproc + task/affinity), CAPSA_SLURM_START_TIMEOUT
# (seconds, default 30), CAPSA_SLURM_NODE_PREFIX.
#
# Layout of DIR: etc/ (slurm.conf, cgroup.conf, mpi.conf, plugstack.conf, which
# includes etc/plugstack.conf.d/*.conf), munge/, ctld/ (state), nodes/<node>/{spool,hosts},
# log/, run/*.pid, env.sh (source it: SLURM_CONF and CAPSA_SLURM_*).
set -euo pipefail

die() { printf 'slurm/start.sh: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: start.sh DIR [NODES]"
NNODES=${2:-3}
[[ $NNODES =~ ^[1-9][0-9]?$ ]] || die "NODES must be 1..99, got '$NNODES'"
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd, namespaces, cgroups)"
for c in munged mungekey slurmctld slurmd scontrol sinfo unshare ss; do
	command -v "$c" >/dev/null || die "$c is not installed (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)"
done
mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=tests/slurm/lib.sh
. "$HERE/lib.sh"
T0=$(date +%s%N)

if [ -s "$DIR/env.sh" ] && bed_all_alive "$DIR"; then
	echo "slurm/start.sh: already running in $DIR" >&2
	exit 0
fi
"$HERE/stop.sh" "$DIR" # leftovers of a half-started bed

# --- names and ports --------------------------------------------------------------
random_prefix() {
	local letters=abcdefghijklmnopqrstuvwxyz p=c
	for _ in 1 2 3 4; do p+=${letters:$((RANDOM % 26)):1}; done
	echo "${p}n"
}
PREFIX=${CAPSA_SLURM_NODE_PREFIX:-$(random_prefix)}
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,14}[a-z]$ ]] || die "node prefix '$PREFIX' must be [a-z][a-z0-9]*[a-z], at most 16 characters"
NODES=()
for ((i = 1; i <= NNODES; i++)); do NODES+=("$PREFIX$i"); done
for n in "${NODES[@]}"; do
	# Node names are machine-global: cgroup dirs and any other slurmd.
	for d in /sys/fs/cgroup/*/"slurm_$n"; do
		[ -e "$d" ] && die "$d exists: another Slurm uses node name $n (set CAPSA_SLURM_NODE_PREFIX)"
	done
	[ -z "$(pids_with_arg "-N" "$n")" ] || die "a slurmd for node $n is already running (set CAPSA_SLURM_NODE_PREFIX)"
done
mapfile -t PORTS < <(free_ports $((NNODES + 1))) || true
[ "${#PORTS[@]}" -eq $((NNODES + 1)) ] || die "could not find $((NNODES + 1)) free TCP ports on 127.0.0.1"
CTLD_PORT=${PORTS[0]}

# --- cgroups --------------------------------------------------------------------------
CG=${CAPSA_SLURM_CGROUP:-auto}
case $CG in
auto) if cgroup_v1_usable; then CG=yes; else CG=no; fi ;;
yes) cgroup_v1_usable || die "CAPSA_SLURM_CGROUP=yes but the cgroup v1 freezer, cpuset, memory and devices controllers are not all mounted under /sys/fs/cgroup" ;;
no) ;;
*) die "CAPSA_SLURM_CGROUP must be auto, yes or no, got '$CG'" ;;
esac

# --- files ----------------------------------------------------------------------------------
umask 022
rm -rf "$DIR/ctld" "$DIR/nodes" "$DIR/run"
mkdir -p "$DIR"/{etc/plugstack.conf.d,munge/sock,ctld,log,run}
chmod 0755 "$DIR" "$DIR/munge/sock"
chmod 0711 "$DIR/munge"
[ -s "$DIR/munge/munge.key" ] || mungekey -c -b 1024 -k "$DIR/munge/munge.key"
chmod 0400 "$DIR/munge/munge.key"

read -r CPUS SOCKETS CORES THREADS MEM < <(node_hardware) || die "slurmd -C failed"
MEM=$((MEM * 9 / 10)) # above slurmd -C's value the node is drained
CONF=$DIR/etc/slurm.conf
write_slurm_conf >"$CONF"
write_cgroup_conf >"$DIR/etc/cgroup.conf"
# srun --mpi=pmix: slurmstepd makes the PMIx client directory
# spmix_appdir_<uid>_<job>.<step> under TmpFS (/tmp), which every node of the
# bed shares, so the second node of a step fails with EEXIST.  The node-local
# DIR/local gives each node its own.  slurmd reads mpi.conf at start only;
# without libpmix (libpmix-dev) it ignores it.
printf 'PMIxCliTmpDirBase=%s/local\n' "$DIR" >"$DIR/etc/mpi.conf"
printf 'include %s/etc/plugstack.conf.d/*.conf\n' "$DIR" >"$DIR/etc/plugstack.conf"
# A plugin that slurmd itself must load (its job_prolog/job_epilog only run
# when slurmd found them at start): "optional|required /path/x.so ARGS".
if [ -n "${CAPSA_SLURM_PLUGSTACK_LINE:-}" ]; then
	printf '%s\n' "$CAPSA_SLURM_PLUGSTACK_LINE" >"$DIR/etc/plugstack.conf.d/capsa.conf"
fi
mkdir -p "$DIR/local"
for i in "${!NODES[@]}"; do
	mkdir -p "$DIR/nodes/${NODES[$i]}/spool" "$DIR/nodes/${NODES[$i]}/local"
	{
		echo "127.0.0.1 localhost ${NODES[*]}"
		echo "::1 localhost ip6-localhost ip6-loopback"
	} >"$DIR/nodes/${NODES[$i]}/hosts"
done
write_env_sh >"$DIR/env.sh"
export SLURM_CONF=$CONF CAPSA_SLURM_BED_DAEMON=$DIR # stop.sh finds leftover slurmstepd by it

# --- daemons ------------------------------------------------------------------------------
fail() { # MESSAGE: show the logs, stop what was started, exit
	echo "slurm/start.sh: $*" >&2
	show_logs "$DIR" >&2
	"$HERE/stop.sh" "$DIR" >&2 || true
	exit 1
}
munged -S "$DIR/munge/sock/munge.socket.2" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/run/munged.pid" \
	--log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" </dev/null >>"$DIR/log/start.log" 2>&1 ||
	fail "munged failed to start"
wait_until 10 "munged socket" test -S "$DIR/munge/sock/munge.socket.2" || fail "munged did not create its socket"

slurmctld -f "$CONF" </dev/null >>"$DIR/log/start.log" 2>&1 || fail "slurmctld failed to start"
wait_until "${CAPSA_SLURM_START_TIMEOUT:-30}" "slurmctld" ctld_up || fail "slurmctld does not answer scontrol ping"

for n in "${NODES[@]}"; do
	# A private UTS and mount namespace per node: its own hostname,
	# /etc/hosts and node-local directory DIR/local (a node's /run, e.g.
	# for a plugin's runtime_path), which the steps it starts inherit.
	# shellcheck disable=SC2016 # $1..$5 are the inner sh's arguments
	setsid unshare --uts --mount --propagation slave -- sh -c \
		'hostname "$1" && mount --bind "$2" /etc/hosts && mount --bind "$4" "$5" && exec slurmd -N "$1" -f "$3"' \
		sh "$n" "$DIR/nodes/$n/hosts" "$CONF" "$DIR/nodes/$n/local" "$DIR/local" </dev/null >>"$DIR/log/start.log" 2>&1 ||
		fail "slurmd -N $n failed to start"
done
wait_until "${CAPSA_SLURM_START_TIMEOUT:-30}" "nodes idle" nodes_idle "$NNODES" ||
	fail "nodes not idle after ${CAPSA_SLURM_START_TIMEOUT:-30}s: $(sinfo -h -N -o '%N=%t' 2>&1 | tr '\n' ' ')"
printf 'slurm/start.sh: %d node(s) %s idle in %d ms (slurmctld 127.0.0.1:%s, cgroup=%s)\n' "$NNODES" \
	"${NODES[*]}" $((($(date +%s%N) - T0) / 1000000)) "$CTLD_PORT" "$CG" >&2
