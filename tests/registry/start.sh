#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Start capsa's offline registry test bed (testbed.md §2) into DIR:
#
#   tests/registry/start.sh DIR        (idempotent; stop with stop.sh DIR)
#
#   plain   http://127.0.0.1:$CAPSA_REGISTRY_PLAIN_PORT  (5000)  no auth
#   basic   https://127.0.0.1:$CAPSA_REGISTRY_BASIC_PORT (5443)  TLS + htpasswd Basic (bcrypt)
#   token   https://127.0.0.1:$CAPSA_REGISTRY_TOKEN_PORT (5444)  TLS + Bearer, storage shared with basic
#   tokensrv https://127.0.0.1:$CAPSA_TOKEN_SERVER_PORT  (5001)  /token (token_server.py)
#
# Other knobs: TOKEN_TTL (token lifetime, default 300; DIR/run/token_ttl, when
# present, overrides it per request), TOKEN_LEEWAY (see token_server.py),
# CAPSA_PYTHON (a python3 with the cryptography module).
#
# Layout of DIR: tls/ (ca.crt, server.{crt,key}, signing.{crt,key},
# certs.d/ca.crt for skopeo --cert-dir), auth/ (htpasswd, users.json, netrc,
# auth.json), conf/*.yml, storage/{plain,secure}, logs/*.log, run/*.pid,
# env.sh (source it: addresses, CA, credentials).  Everything is 0644/0755 so
# a non-root test user can read it.
set -euo pipefail

die() { printf 'start.sh: %s\n' "$*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: start.sh DIR"
mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

ADDR=127.0.0.1
PLAIN_PORT=${CAPSA_REGISTRY_PLAIN_PORT:-5000}
BASIC_PORT=${CAPSA_REGISTRY_BASIC_PORT:-5443}
TOKEN_PORT=${CAPSA_REGISTRY_TOKEN_PORT:-5444}
TOKSRV_PORT=${CAPSA_TOKEN_SERVER_PORT:-5001}
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
printf '{"auths":{"%s:%s":{"auth":"%s"},"%s:%s":{"auth":"%s"},"%s:%s":{"auth":"%s"}}}\n' \
	"$ADDR" "$BASIC_PORT" "$B64" "$ADDR" "$TOKEN_PORT" "$B64" "$ADDR" "$TOKSRV_PORT" "$B64" >"$A/auth.json"

# --- registry configs ------------------------------------------------------------
regconf() { # NAME PORT STORAGE [auth yaml...]
	local name=$1 port=$2 storage=$3
	shift 3
	{
		printf '%s\n' 'version: 0.1' 'log:' '  level: info' '  fields:' "    service: $name" \
			'storage:' '  filesystem:' "    rootdirectory: $storage" '  delete:' '    enabled: true' \
			'  cache:' '    blobdescriptor: inmemory' '  maintenance:' '    uploadpurging:' '      enabled: false' \
			'http:' "  addr: $ADDR:$port" "  secret: capsa-testbed-$name" '  headers:' \
			'    X-Content-Type-Options: [nosniff]'
		printf '%s\n' "$@"
	} >"$DIR/conf/$name.yml"
}
regconf plain "$PLAIN_PORT" "$DIR/storage/plain"
regconf basic "$BASIC_PORT" "$DIR/storage/secure" '  tls:' "    certificate: $T/server.crt" "    key: $T/server.key" \
	'auth:' '  htpasswd:' '    realm: capsa-basic' "    path: $A/htpasswd"
regconf token "$TOKEN_PORT" "$DIR/storage/secure" '  tls:' "    certificate: $T/server.crt" "    key: $T/server.key" \
	'auth:' '  token:' "    realm: https://$ADDR:$TOKSRV_PORT/token" "    service: $SERVICE" "    issuer: $ISSUER" \
	"    rootcertbundle: $T/signing.crt"

# --- processes -------------------------------------------------------------------
# A pid counts as ours if alive (not a zombie: PID 1 reaps late) and its
# cmdline names this DIR's config (registries) or users file (token server).
alive() { # PID MARKER
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ "$st" != Z ] || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
killwait() { # PID MARKER
	alive "$1" "$2" || return 0
	kill "$1" 2>/dev/null || true
	for _ in $(seq 50); do alive "$1" "$2" || return 0; sleep 0.05; done
	kill -9 "$1" 2>/dev/null || true
	for _ in $(seq 40); do alive "$1" "$2" || return 0; sleep 0.05; done
}
# A listener left on PORT by an earlier test bed whose DIR is gone (a deleted
# mktemp dir) is killed; any other listener is an error.
free_port() { # PORT
	local pid cmd f
	for pid in $(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		case "$cmd" in
		*docker-registry\ serve\ *) f=${cmd#*docker-registry serve }; f=${f%% *} ;;
		*token_server.py*--users\ *) f=${cmd#*--users }; f=${f%% *} ;;
		*) die "port $1 is in use by pid $pid ($cmd); set CAPSA_REGISTRY_*_PORT" ;;
		esac
		[ -e "$f" ] && die "port $1 is in use by another test bed (pid $pid: $cmd); stop it first"
		echo "start.sh: killing leftover pid $pid on port $1 ($cmd)" >&2
		killwait "$pid" "$f"
	done
}
mapfile -t UNSET < <(compgen -e | grep '^REGISTRY_' | sed 's/^/-u/' || true)

launch() { # NAME PORT MARKER CMD...
	local name=$1 port=$2 marker=$3 pid=
	shift 3
	local pidf=$DIR/run/$name.pid
	[ -s "$pidf" ] && pid=$(cat "$pidf")
	if [ -n "$pid" ] && alive "$pid" "$marker"; then
		return 0
	fi
	rm -f "$pidf"
	free_port "$port"
	setsid env ${UNSET[@]+"${UNSET[@]}"} "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$pidf"
}
launch plain "$PLAIN_PORT" "$DIR/conf/plain.yml" docker-registry serve "$DIR/conf/plain.yml"
launch basic "$BASIC_PORT" "$DIR/conf/basic.yml" docker-registry serve "$DIR/conf/basic.yml"
launch token "$TOKEN_PORT" "$DIR/conf/token.yml" docker-registry serve "$DIR/conf/token.yml"
launch tokensrv "$TOKSRV_PORT" "$A/users.json" "$PY" "$HERE/token_server.py" --addr "$ADDR" --port "$TOKSRV_PORT" \
	--cert "$T/server.crt" --key "$T/server.key" --signing-cert "$T/signing.crt" --signing-key "$T/signing.key" \
	--users "$A/users.json" --service "$SERVICE" --issuer "$ISSUER" --log "$DIR/logs/token-requests.jsonl" \
	--ttl-file "$DIR/run/token_ttl"

# --- env.sh -------------------------------------------------------------------------
{
	echo "# generated by tests/registry/start.sh; source it"
	for kv in \
		"CAPSA_REGISTRY_DIR=$DIR" \
		"CAPSA_REGISTRY_PLAIN=$ADDR:$PLAIN_PORT" \
		"CAPSA_REGISTRY_BASIC=$ADDR:$BASIC_PORT" \
		"CAPSA_REGISTRY_TOKEN=$ADDR:$TOKEN_PORT" \
		"CAPSA_TOKEN_SERVER=$ADDR:$TOKSRV_PORT" \
		"CAPSA_TOKEN_REALM=https://$ADDR:$TOKSRV_PORT/token" \
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

# --- wait until every instance answers ---------------------------------------------
ready() { # URL CODE...
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$T/ca.crt" "$1" 2>/dev/null) || true
	shift
	for c in "$@"; do [ "$code" = "$c" ] && return 0; done
	return 1
}
deadline=$((SECONDS + ${CAPSA_REGISTRY_START_TIMEOUT:-15}))
for spec in "plain http://$ADDR:$PLAIN_PORT/v2/ 200" "basic https://$ADDR:$BASIC_PORT/v2/ 401" \
	"token https://$ADDR:$TOKEN_PORT/v2/ 401" "tokensrv https://$ADDR:$TOKSRV_PORT/token 200"; do
	read -r name url code <<<"$spec"
	until ready "$url" "$code"; do
		pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
		if [ -z "$pid" ] || [ ! -d "/proc/$pid" ] || [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)" = Z ]; then
			tail -n 20 "$DIR/logs/$name.log" >&2 || true
			die "$name (pid ${pid:-?}) died; log: $DIR/logs/$name.log"
		fi
		[ $SECONDS -lt $deadline ] || die "$name did not answer $url with $code; log: $DIR/logs/$name.log"
		sleep 0.05
	done
done
