#!/usr/bin/env bats
# shellcheck disable=SC2154,SC1091 # status/output are set by bats' run; env.sh is generated
# SPDX-License-Identifier: Apache-2.0
#
# The registry test bed (tests/registry/start.sh) on a machine that is not
# ours alone: the usual ports (5000, 5443, 5444, 5001) are taken by a
# stand-in for a site's own registry, two beds run at once, and nothing
# start.sh or stop.sh did not start is signalled.  (registry_faults.bats
# puts its fault proxies on free ports the same way.)

load helpers

DEFAULT_PORTS=(5000 5443 5444 5001)

# A stand-in for somebody else's server: listens on every port of ARGS it can
# get (those held by others are just as taken) and answers any connection
# with "HTTP/1.0 418"; writes the ports it holds to FILE.
DUMMY='
import selectors, socket, sys, time
held = []
for p in map(int, sys.argv[2:]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        s.listen(16)
        held.append(s)
    except OSError:
        s.close()
with open(sys.argv[1] + ".new", "w") as f:
    f.write(" ".join(str(s.getsockname()[1]) for s in held) + "\n")
import os
os.rename(sys.argv[1] + ".new", sys.argv[1])
sel = selectors.DefaultSelector()
for s in held:
    sel.register(s, selectors.EVENT_READ)
while True:
    if not held:
        time.sleep(60)
        continue
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        try:
            c.recv(4096)
            c.sendall(b"HTTP/1.0 418 dummy\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        c.close()
'

setup() {
	local c
	for c in docker-registry skopeo openssl htpasswd curl python3 ss; do
		command -v "$c" >/dev/null || skip "$c is not installed"
	done
	python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
	capsa_setup
	BEDS=()
	DUMMY_PID=
}

teardown() {
	local d
	for d in "${BEDS[@]}"; do
		"$REG/stop.sh" "$d" || true
	done
	[ -z "$DUMMY_PID" ] || kill_bg "$DUMMY_PID"
	capsa_teardown
}

# start_dummy PORT...: run DUMMY in the background; DUMMY_PID, DUMMY_PORTS.
start_dummy() {
	setsid python3 -c "$DUMMY" "$T/dummy.ports" "$@" >"$T/dummy.err" 2>&1 </dev/null 3>&- &
	DUMMY_PID=$!
	wait_for_file "$T/dummy.ports" 10 "$DUMMY_PID"
	read -r -a DUMMY_PORTS <"$T/dummy.ports"
	echo "# the dummy holds: ${DUMMY_PORTS[*]:-none (all taken already)}" >&3
}

# assert_dummy_alive: the same process, still answering on every port it held.
assert_dummy_alive() {
	local st p code
	{ read -r st <"/proc/$DUMMY_PID/stat"; } 2>/dev/null || { echo "the dummy listener was killed" >&2; return 1; }
	st=${st##*) }
	[ "${st%% *}" != Z ] || { echo "the dummy listener was killed" >&2; return 1; }
	for p in "${DUMMY_PORTS[@]}"; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$p/") || true
		[ "$code" = 418 ] || { echo "port $p: answer $code, not the dummy's 418" >&2; return 1; }
	done
}

# new_bed NAME: a directory for a test bed, stopped by teardown.
new_bed() {
	local d=$T/$1
	mkdir -p "$d"
	chmod 0755 "$d"
	BEDS+=("$d")
	echo "$d"
}

# bed_ports DIR: its four ports, from env.sh.
bed_ports() {
	(
		# shellcheck source=/dev/null
		. "$1/env.sh"
		echo "${CAPSA_REGISTRY_PLAIN##*:} ${CAPSA_REGISTRY_BASIC##*:} ${CAPSA_REGISTRY_TOKEN##*:} ${CAPSA_TOKEN_SERVER##*:}"
	)
}

# assert_bed_owns DIR: each recorded daemon listens on its recorded port.
assert_bed_owns() {
	local n pid port
	for n in plain basic token tokensrv; do
		pid=$(cat "$1/run/$n.pid") port=$(cat "$1/run/$n.port")
		ss -Hltnp "src 127.0.0.1:$port" | grep -q "pid=$pid," ||
			{ echo "$n (pid $pid) does not listen on $port: $(ss -Hltnp "src 127.0.0.1:$port")" >&2; return 1; }
	done
}

@test "registry bed: the default ports are taken by another server; the bed picks free ones and imports work" {
	start_dummy "${DEFAULT_PORTS[@]}"
	local d p
	d=$(new_bed bed)
	run env -u CAPSA_REGISTRY_PLAIN_PORT -u CAPSA_REGISTRY_BASIC_PORT -u CAPSA_REGISTRY_TOKEN_PORT \
		-u CAPSA_TOKEN_SERVER_PORT "$REG/start.sh" "$d" 3>&-
	assert_success
	assert_output_not_contains "killing"
	for p in $(bed_ports "$d"); do
		[[ " ${DEFAULT_PORTS[*]} " != *" $p "* ]] || { echo "the bed uses the taken port $p" >&2; false; }
	done
	assert_bed_owns "$d"
	assert_dummy_alive

	# One image, pushed to the plain and (shared storage) the auth registries.
	# shellcheck source=/dev/null
	. "$d/env.sh"
	python3 "$REG/mkimages.py" "$d" busybox >/dev/null
	skopeo --insecure-policy copy -q --dest-tls-verify=false \
		"oci:$d/layouts/busybox:latest" "docker://$CAPSA_REGISTRY_PLAIN/busybox:latest"
	skopeo --insecure-policy copy -q --dest-cert-dir "$CAPSA_REGISTRY_CERT_DIR" \
		--dest-creds "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" \
		"oci:$d/layouts/busybox:latest" "docker://$CAPSA_REGISTRY_BASIC/busybox:latest"
	chmod -R a+rX "$d"

	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y import -o "$T/plain.sqsh" "docker://$CAPSA_REGISTRY_PLAIN#busybox:latest"
	assert_success
	# Through the Bearer registry: its challenge names the token server's port.
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/token.sqsh" \
		"docker://$CAPSA_REGISTRY_TOKEN#busybox:latest"
	assert_success
	grep -q 'repository:busybox:pull' "$CAPSA_TOKEN_LOG"
	diff <(python3 "$REG/tree_dump.py" --tsv "$d/expected/busybox.tsv") \
		<(python3 "$REG/tree_dump.py" --enroot --squashfs "$T/token.sqsh")

	"$REG/stop.sh" "$d"
	assert_dummy_alive
	for p in $(bed_ports "$d"); do
		! ss -Hltn "src 127.0.0.1:$p" | grep -q . || { echo "port $p still listened on after stop.sh" >&2; false; }
	done
}

@test "registry bed: two beds start at the same time, on distinct ports, and stop independently" {
	local a b ra=0 rb=0 pa pb all
	a=$(new_bed a) b=$(new_bed b)
	"$REG/start.sh" "$a" >"$T/a.log" 2>&1 3>&- &
	pa=$!
	"$REG/start.sh" "$b" >"$T/b.log" 2>&1 3>&- &
	pb=$!
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	[ "$ra" = 0 ] || { cat "$T/a.log" >&2; false; }
	[ "$rb" = 0 ] || { cat "$T/b.log" >&2; false; }
	all=$(echo "$(bed_ports "$a") $(bed_ports "$b")" | tr ' ' '\n' | sort -u | wc -l)
	[ "$all" = 8 ] || { echo "ports shared: $(bed_ports "$a") / $(bed_ports "$b")" >&2; false; }
	assert_bed_owns "$a"
	assert_bed_owns "$b"
	# Each Bearer registry sends clients to its own token server.
	local d realm code
	for d in "$a" "$b"; do
		realm=$(. "$d/env.sh" && curl -s -o /dev/null -D - --cacert "$CAPSA_REGISTRY_CA" \
			"https://$CAPSA_REGISTRY_TOKEN/v2/" | tr -d '\r' | sed -n 's/^www-authenticate: Bearer realm="\([^"]*\)".*/\1/ip')
		[ "$realm" = "$(. "$d/env.sh" && echo "$CAPSA_TOKEN_REALM")" ]
	done

	"$REG/stop.sh" "$a"
	assert_bed_owns "$b"
	code=$(. "$b/env.sh" && curl -s -o /dev/null -w '%{http_code}' "http://$CAPSA_REGISTRY_PLAIN/v2/")
	[ "$code" = 200 ]
	# A second start.sh of a running bed keeps its daemons and ports.
	local before
	before=$(cat "$b"/run/*.pid "$b"/run/*.port)
	"$REG/start.sh" "$b" 3>&-
	[ "$(cat "$b"/run/*.pid "$b"/run/*.port)" = "$before" ]
}

@test "registry bed: start.sh and stop.sh never signal a process they did not start" {
	start_dummy 0
	[ ${#DUMMY_PORTS[@]} = 1 ]
	local d n
	d=$(new_bed stale)
	mkdir -p "$d/run"
	# Pid files naming somebody else's process (a reused pid, a copied DIR).
	for n in plain basic token tokensrv; do
		echo "$DUMMY_PID" >"$d/run/$n.pid"
		echo "${DUMMY_PORTS[0]}" >"$d/run/$n.port"
	done
	run "$REG/stop.sh" "$d"
	assert_success
	assert_dummy_alive
	# A port fixed by the caller but taken: a clear error, nobody killed.
	run env CAPSA_REGISTRY_PLAIN_PORT="${DUMMY_PORTS[0]}" "$REG/start.sh" "$d" 3>&-
	assert_failure
	assert_output_contains "port ${DUMMY_PORTS[0]} (CAPSA_REGISTRY_PLAIN_PORT) is in use"
	assert_dummy_alive
	# Without it the bed starts elsewhere, the stale pid files replaced.
	for n in plain basic token tokensrv; do
		echo "$DUMMY_PID" >"$d/run/$n.pid"
	done
	run "$REG/start.sh" "$d" 3>&-
	assert_success
	assert_bed_owns "$d"
	[ "$(cat "$d/run/plain.port")" != "${DUMMY_PORTS[0]}" ]
	"$REG/stop.sh" "$d"
	assert_dummy_alive
}
