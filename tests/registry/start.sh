#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Start capsa's offline registry test bed (testbed.md §2) into DIR:
#
#   tests/registry/start.sh DIR        (idempotent; stop with stop.sh DIR)
#
#   plain    http://127.0.0.1:PORT   no auth                     CAPSA_REGISTRY_PLAIN_PORT
#   basic    https://127.0.0.1:PORT  TLS + htpasswd Basic        CAPSA_REGISTRY_BASIC_PORT
#   token    https://127.0.0.1:PORT  TLS + Bearer, storage       CAPSA_REGISTRY_TOKEN_PORT
#                                    shared with basic
#   tokensrv https://127.0.0.1:PORT/token (token_server.py)      CAPSA_TOKEN_SERVER_PORT
#
# Ports: a *_PORT variable fixes that port (start.sh fails if something else
# listens there).  Unset, the kernel picks a free loopback port (freeport.py),
# released right before the daemon binds it; a daemon that loses the race
# ("address already in use") is restarted on another port, at most 5 times.
# A second call for the same DIR reuses its ports and its live daemons.  So
# several beds (other DIRs) can run at once, beside anything else on the
# machine: start.sh never signals a process it did not start (only pids in
# DIR/run/*.pid whose command line names DIR).  The chosen addresses are in
# DIR/env.sh, the ports also in DIR/run/NAME.port.
#
# Other knobs: TOKEN_TTL (token lifetime, default 300; DIR/run/token_ttl, when
# present, overrides it per request), TOKEN_LEEWAY (see token_server.py),
# CAPSA_PYTHON (a python3 with the cryptography module),
# CAPSA_REGISTRY_START_TIMEOUT (seconds per daemon, default 15).
#
# Layout of DIR: tls/ (ca.crt, server.{crt,key}, signing.{crt,key},
# certs.d/ca.crt for skopeo --cert-dir), auth/ (htpasswd, users.json, netrc,
# auth.json), conf/*.yml, storage/{plain,secure}, logs/*.log, run/*.{pid,port},
# env.sh (source it: addresses, CA, credentials).  Everything is 0644/0755 so
# a non-root test user can read it.
set -euo pipefail

die() { printf 'start.sh: %s\n' "$*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: start.sh DIR"
mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

ADDR=127.0.0.1
NAMES=(plain basic tokensrv token)
declare -A PORTVAR=([plain]=CAPSA_REGISTRY_PLAIN_PORT [basic]=CAPSA_REGISTRY_BASIC_PORT
	[token]=CAPSA_REGISTRY_TOKEN_PORT [tokensrv]=CAPSA_TOKEN_SERVER_PORT)
declare -A PORT=() FIXED=() LOGOFF=()
for name in "${NAMES[@]}"; do
	v=${PORTVAR[$name]}
	if [ -n "${!v:-}" ]; then
		if ! [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${!v}" -gt 65535 ]; then
			die "$v=${!v}: not a port number"
		fi
		FIXED[$name]=${!v}
	fi
done
SERVICE=capsa-registry
ISSUER=capsa-token-issuer
USER1=capsa PASS1=s3cret
USER2=second PASS2='an0ther:p@ss'

command -v docker-registry >/dev/null || die "docker-registry not installed (apt-get install docker-registry)"
for c in openssl htpasswd curl setsid; do command -v "$c" >/dev/null || die "$c not installed"; done
PY=${CAPSA_PYTHON:-python3}
if ! "$PY" -c 'import cryptography' 2>/dev/null; then
	if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
		PY=/usr/bin/python3
	else
		die "python3 with the cryptography module is needed (apt-get install python3-cryptography)"
	fi
fi

umask 022
mkdir -p "$DIR"/{tls/certs.d,auth,conf,logs,run,storage/plain,storage/secure}

# --- certificates (made once per DIR) ----------------------------------------
T=$DIR/tls
if [ ! -s "$T/server.crt" ] || [ ! -s "$T/signing.crt" ] || [ ! -s "$T/ca.crt" ]; then
	rm -f "$T"/*.crt "$T"/*.key "$T"/*.csr "$T"/*.srl
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj /CN=capsa-test-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$T/ca.key" -out "$T/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null
	printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth' \
		'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' >"$T/server.ext"
	openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 3650 \
		-sha256 -extfile "$T/server.ext" -out "$T/server.crt" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj /CN=capsa-token-signer \
		-keyout "$T/signing.key" -out "$T/signing.crt" 2>/dev/null
	cp "$T/ca.crt" "$T/certs.d/ca.crt"
	chmod 0644 "$T"/*.key   # throwaway keys, readable by a non-root test user
fi

# --- credentials ---------------------------------------------------------------
A=$DIR/auth
if [ ! -s "$A/htpasswd" ]; then
	{ htpasswd -Bbn "$USER1" "$PASS1"; htpasswd -Bbn "$USER2" "$PASS2"; } | grep -v '^$' >"$A/htpasswd"
fi
printf '{"%s": "%s", "%s": "%s"}\n' "$USER1" "$PASS1" "$USER2" "$PASS2" >"$A/users.json"
printf 'machine %s login %s password %s\n' "$ADDR" "$USER1" "$PASS1" >"$A/netrc"
B64=$(printf '%s:%s' "$USER1" "$PASS1" | base64 -w0)

# --- registry configs ------------------------------------------------------------
regconf() { # NAME PORT STORAGE [auth yaml...]: the config on stdout
	local name=$1 port=$2 storage=$3
	shift 3
	printf '%s\n' 'version: 0.1' 'log:' '  level: info' '  fields:' "    service: $name" \
		'storage:' '  filesystem:' "    rootdirectory: $storage" '  delete:' '    enabled: true' \
		'  cache:' '    blobdescriptor: inmemory' '  maintenance:' '    uploadpurging:' '      enabled: false' \
		'http:' "  addr: $ADDR:$port" "  secret: capsa-testbed-$name" '  headers:' \
		'    X-Content-Type-Options: [nosniff]'
	printf '%s\n' "$@"
}
conf_text() { # NAME: the config of a registry at ${PORT[NAME]}
	local tlsconf=('  tls:' "    certificate: $T/server.crt" "    key: $T/server.key")
	case $1 in
	plain) regconf plain "${PORT[plain]}" "$DIR/storage/plain" ;;
	basic) regconf basic "${PORT[basic]}" "$DIR/storage/secure" "${tlsconf[@]}" \
		'auth:' '  htpasswd:' '    realm: capsa-basic' "    path: $A/htpasswd" ;;
	token) regconf token "${PORT[token]}" "$DIR/storage/secure" "${tlsconf[@]}" \
		'auth:' '  token:' "    realm: https://$ADDR:${PORT[tokensrv]}/token" "    service: $SERVICE" \
		"    issuer: $ISSUER" "    rootcertbundle: $T/signing.crt" ;;
	esac
}

# --- processes -------------------------------------------------------------------
# A pid counts as ours if alive (not a zombie: PID 1 reaps late) and its
# cmdline names this DIR's config (registries) or users file (token server).
running() { # PID: exists and is not a zombie
	local st
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ "$st" != Z ]
}
alive() { # PID MARKER
	running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
marker() { # NAME
	case $1 in
	tokensrv) echo "$A/users.json" ;;
	*) echo "$DIR/conf/$1.yml" ;;
	esac
}
recorded() { # NAME pid|port: the value recorded in DIR/run, or nothing
	local v=
	[ -s "$DIR/run/$1.$2" ] && v=$(cat "$DIR/run/$1.$2" 2>/dev/null)
	[[ $v =~ ^[0-9]+$ ]] && echo "$v"
	return 0
}
ours_alive() { # NAME
	local pid
	pid=$(recorded "$1" pid)
	[ -n "$pid" ] && alive "$pid" "$(marker "$1")"
}
stop_ours() { # NAME: stop the daemon this DIR recorded, if it is still ours
	local pid m
	pid=$(recorded "$1" pid) m=$(marker "$1")
	if [ -n "$pid" ] && alive "$pid" "$m"; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do alive "$pid" "$m" || break; sleep 0.05; done
		! alive "$pid" "$m" || kill -9 "$pid" 2>/dev/null || true
		for _ in $(seq 40); do alive "$pid" "$m" || break; sleep 0.05; done
	fi
	rm -f "$DIR/run/$1.pid"
}
freeport() { "$PY" "$HERE/freeport.py" --addr "$ADDR" "$@"; }

choose_port() { # NAME: set PORT[NAME]
	local name=$1 rec p others=()
	if [ -n "${FIXED[$name]:-}" ]; then
		PORT[$name]=${FIXED[$name]}
		return 0
	fi
	for p in "${!PORT[@]}"; do
		[ "$p" = "$name" ] || others+=(--exclude "${PORT[$p]}")
	done
	rec=$(recorded "$name" port)
	# This DIR's port again when our daemon holds it or it is free.
	if [ -n "$rec" ] && [[ " ${others[*]} " != *" $rec "* ]] &&
		{ ours_alive "$name" || freeport --check "$rec"; }; then
		PORT[$name]=$rec
		return 0
	fi
	PORT[$name]=$(freeport ${others[@]+"${others[@]}"}) || die "no free port for $name"
}

mapfile -t UNSET < <(compgen -e | grep '^REGISTRY_' | sed 's/^/-u/' || true)

launch() { # NAME: (re)start NAME on ${PORT[NAME]} unless our daemon already serves it
	local name=$1 port=${PORT[$1]} log=$DIR/logs/$1.log cmd=() changed=1 text
	if [ "$name" = tokensrv ]; then
		cmd=("$PY" "$HERE/token_server.py" --addr "$ADDR" --port "$port" \
			--cert "$T/server.crt" --key "$T/server.key" --signing-cert "$T/signing.crt" \
			--signing-key "$T/signing.key" --users "$A/users.json" --service "$SERVICE" \
			--issuer "$ISSUER" --log "$DIR/logs/token-requests.jsonl" --ttl-file "$DIR/run/token_ttl")
		[ "$(recorded "$name" port)" != "$port" ] || changed=0
	else
		text=$(conf_text "$name")
		if [ -f "$DIR/conf/$name.yml" ] && [ "$text" = "$(cat "$DIR/conf/$name.yml")" ] &&
			[ "$(recorded "$name" port)" = "$port" ]; then
			changed=0
		fi
		cmd=(docker-registry serve "$DIR/conf/$name.yml")
	fi
	if [ "$changed" = 0 ] && ours_alive "$name"; then
		return 0
	fi
	stop_ours "$name"
	[ "$name" = tokensrv ] || printf '%s\n' "$text" >"$DIR/conf/$name.yml"
	echo "$port" >"$DIR/run/$name.port"
	LOGOFF[$name]=$(stat -c %s "$log" 2>/dev/null || echo 0)
	setsid env ${UNSET[@]+"${UNSET[@]}"} "${cmd[@]}" >>"$log" 2>&1 </dev/null &
	echo $! >"$DIR/run/$name.pid"
}

# --- wait until an instance answers, on its own socket ----------------------------
ready() { # URL CODE...
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$T/ca.crt" "$1" 2>/dev/null) || true
	shift
	for c in "$@"; do [ "$code" = "$c" ] && return 0; done
	return 1
}
# listens PID PORT: PID is the listener on ADDR:PORT (ss shows the owner of
# each socket; without ss, assume so).  Without it a bed whose daemon lost a
# port to another bed could take the other bed's answer for its own.
HAVE_SS=0
command -v ss >/dev/null && HAVE_SS=1
listens() {
	[ "$HAVE_SS" = 1 ] || return 0
	ss -Hltnp "src $ADDR:$2" 2>/dev/null | grep -q "pid=$1,"
}
# await NAME: 0 when ready, 2 when the daemon died because its port was taken.
await() {
	local name=$1 port=${PORT[$1]} url code pid log=$DIR/logs/$1.log
	local deadline=$((SECONDS + ${CAPSA_REGISTRY_START_TIMEOUT:-15}))
	case $name in
	plain) url=http://$ADDR:$port/v2/ code=200 ;;
	basic | token) url=https://$ADDR:$port/v2/ code=401 ;;
	tokensrv) url=https://$ADDR:$port/token code=200 ;;
	esac
	pid=$(recorded "$name" pid)
	while :; do
		# Just launched, the pid may still be the forked shell (not yet
		# exec'd, so without the marker): only a pid that is gone is dead.
		if [ -z "$pid" ] || ! running "$pid"; then
			if tail -c "+$((${LOGOFF[$name]:-0} + 1))" "$log" 2>/dev/null | grep -qi 'address already in use'; then
				return 2
			fi
			tail -n 20 "$log" >&2 || true
			die "$name (pid ${pid:-?}) died; log: $log"
		fi
		listens "$pid" "$port" && ready "$url" "$code" && return 0
		[ $SECONDS -lt $deadline ] || die "$name did not answer $url with $code; log: $log"
		sleep 0.05
	done
}

# start_all NAME...: launch them together, then wait for each; one whose port was
# taken meanwhile starts again on a new port.
start_all() {
	local todo=("$@") retry name rc attempt
	for attempt in 1 2 3 4 5; do
		for name in "${todo[@]}"; do
			choose_port "$name"
			launch "$name"
		done
		retry=()
		for name in "${todo[@]}"; do
			rc=0
			await "$name" || rc=$?
			[ "$rc" = 2 ] || continue
			if [ -n "${FIXED[$name]:-}" ]; then
				die "port ${PORT[$name]} (${PORTVAR[$name]}) is in use by another process: unset ${PORTVAR[$name]} to use a free port"
			fi
			echo "start.sh: port ${PORT[$name]} of $name was taken meanwhile; trying another (attempt $attempt)" >&2
			rm -f "$DIR/run/$name.port" "$DIR/run/$name.pid"
			unset "PORT[$name]"
			retry+=("$name")
		done
		[ ${#retry[@]} -gt 0 ] || return 0
		todo=("${retry[@]}")
	done
	die "no free port for ${todo[*]} after 5 attempts"
}
# A fixed port that something else listens on fails now, with its owner.
for name in "${!FIXED[@]}"; do
	ours_alive "$name" && [ "$(recorded "$name" port)" = "${FIXED[$name]}" ] && continue
	freeport --check "${FIXED[$name]}" ||
		die "port ${FIXED[$name]} (${PORTVAR[$name]}) is in use: $(ss -Hltnp "sport = :${FIXED[$name]}" 2>/dev/null | head -n 1 | grep -o 'users:.*' || echo 'by another process'); unset ${PORTVAR[$name]} to use a free port"
done
# The Bearer registry's config names the token server's port: it goes second.
start_all plain basic tokensrv
start_all token

printf '{"auths":{"%s:%s":{"auth":"%s"},"%s:%s":{"auth":"%s"},"%s:%s":{"auth":"%s"}}}\n' \
	"$ADDR" "${PORT[basic]}" "$B64" "$ADDR" "${PORT[token]}" "$B64" "$ADDR" "${PORT[tokensrv]}" "$B64" >"$A/auth.json"

# --- env.sh -------------------------------------------------------------------------
{
	echo "# generated by tests/registry/start.sh; source it"
	for kv in \
		"CAPSA_REGISTRY_DIR=$DIR" \
		"CAPSA_REGISTRY_PLAIN=$ADDR:${PORT[plain]}" \
		"CAPSA_REGISTRY_BASIC=$ADDR:${PORT[basic]}" \
		"CAPSA_REGISTRY_TOKEN=$ADDR:${PORT[token]}" \
		"CAPSA_TOKEN_SERVER=$ADDR:${PORT[tokensrv]}" \
		"CAPSA_TOKEN_REALM=https://$ADDR:${PORT[tokensrv]}/token" \
		"CAPSA_TOKEN_SERVICE=$SERVICE" \
		"CAPSA_TOKEN_ISSUER=$ISSUER" \
		"CAPSA_TOKEN_TTL_FILE=$DIR/run/token_ttl" \
		"CAPSA_TOKEN_LOG=$DIR/logs/token-requests.jsonl" \
		"CAPSA_REGISTRY_CA=$T/ca.crt" \
		"CAPSA_REGISTRY_CERT_DIR=$T/certs.d" \
		"CAPSA_REGISTRY_USER=$USER1" \
		"CAPSA_REGISTRY_PASSWORD=$PASS1" \
		"CAPSA_REGISTRY_USER2=$USER2" \
		"CAPSA_REGISTRY_PASSWORD2=$PASS2" \
		"CAPSA_REGISTRY_NETRC=$A/netrc" \
		"CAPSA_REGISTRY_AUTHFILE=$A/auth.json" \
		"CAPSA_REGISTRY_STORAGE_PLAIN=$DIR/storage/plain" \
		"CAPSA_REGISTRY_STORAGE_SECURE=$DIR/storage/secure"; do
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
	done
} >"$DIR/env.sh"
