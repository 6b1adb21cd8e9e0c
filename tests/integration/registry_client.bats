#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
#
# src/image/registry/registry.c against Debian's docker-registry (testbed.md §2) on
# 127.0.0.1, through tests/unit/registry_driver.c (built here against
# $CAPSA_BUILD/libcore.a). Self-contained: its own registries on free ports,
# a tiny OCI image made with python3 tarfile, pushed with skopeo.
#   plain  http  (CAPSA_ALLOW_HTTP=y)
#   basic  https + htpasswd (bcrypt), self-signed CA
#   token  https + Bearer via tests/registry/token_server.py (skipped if absent)
#   on 127.0.0.2 (another host), tests/registry/faultproxy.py as
#   evil   http, always 401 naming the token server's realm with another
#          repository and push in the scope (a malicious registry)
#   fwd    http, forwards to token (a registry whose token service is on
#          another host)

bats_require_minimum_version 1.5.0

REPO=${CAPSA_REPO:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
BUILD=${CAPSA_BUILD:-$REPO/build/release}

free_port() { # [ADDR]
	python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' \
		"${1:-127.0.0.1}"
}

wait_up() { # URL [curl args]
	local url=$1; shift
	for _ in $(seq 100); do
		curl -s -o /dev/null "$@" "$url" && return 0
		sleep 0.1
	done
	echo "not up: $url" >&2
	return 1
}

start_bg() { # NAME CMD...
	local name=$1; shift
	setsid "$@" >>"$W/$name.log" 2>&1 </dev/null &
	echo $! >"$W/$name.pid"
}

registry_conf() { # NAME PORT [extra yaml]
	mkdir -p "$W/storage"
	cat >"$W/$1.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $W/storage}
  delete: {enabled: true}
  cache: {blobdescriptor: inmemory}
http:
  addr: 127.0.0.1:$2
  secret: capsa-test-secret
$3
EOF
}

make_image() {
	python3 - "$W/oci" <<'PY'
import hashlib, io, json, os, subprocess, sys, tarfile, gzip
d = sys.argv[1]
os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(data)
    return "sha256:" + h
def tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 1700000000
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()
def desc(mt, data, **kw):
    return dict(mediaType=mt, digest=blob(data), size=len(data), **kw)
L = "application/vnd.oci.image.layer.v1."
t1 = tar([("hello.txt", b"hello gzip\n"), ("big.bin", os.urandom(3 << 20))])
t2 = tar([("zstd/hello.txt", b"hello zstd\n")])
t3 = tar([("plain/hello.txt", b"hello plain\n")])
z2 = subprocess.run(["zstd", "-q", "-c"], input=t2, stdout=subprocess.PIPE, check=True).stdout
layers = [(desc(L + "tar+gzip", gzip.compress(t1, mtime=0)), t1), (desc(L + "tar+zstd", z2), t2),
          (desc(L + "tar", t3), t3)]
def image(arch, variant, ls):
    cfg = {"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for _, t in ls]}}
    if variant: cfg["variant"] = variant
    c = json.dumps(cfg).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": desc("application/vnd.oci.image.config.v1+json", c),
                    "layers": [l for l, _ in ls]}).encode()
    return m
m_amd = image("amd64", None, layers)
m_arm = image("arm64", "v8", layers[2:])
plat = lambda a, v: dict(os="linux", architecture=a, **({"variant": v} if v else {}))
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    desc("application/vnd.oci.image.manifest.v1+json", m_arm, platform=plat("arm64", "v8")),
    desc("application/vnd.oci.image.manifest.v1+json", m_amd, platform=plat("amd64", None))]}).encode()
ref = lambda name: {"org.opencontainers.image.ref.name": name}
top = {"schemaVersion": 2, "manifests": [
    desc("application/vnd.oci.image.manifest.v1+json", m_amd, annotations=ref("v1")),
    desc("application/vnd.oci.image.index.v1+json", idx, annotations=ref("multi"))]}
open(f"{d}/index.json", "w").write(json.dumps(top))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print("sha256:" + hashlib.sha256(m_amd).hexdigest(), "sha256:" + hashlib.sha256(m_arm).hexdigest(),
      "sha256:" + hashlib.sha256(idx).hexdigest())
PY
}

make_tls() {
	local t=$W/tls
	mkdir -p "$t/certs.d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 -subj /CN=capsa-test-ca \
		-keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$t/ext"
	openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 30 \
		-sha256 -extfile "$t/ext" -out "$t/server.crt" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=capsa-token-signer \
		-keyout "$t/signing.key" -out "$t/signing.crt" 2>/dev/null
	cp "$t/ca.crt" "$t/certs.d/ca.crt"
}

# The two registries on 127.0.0.2 (see the header), in front of token.
start_proxies() {
	local evil fwd chal
	evil=$(free_port 127.0.0.2) fwd=$(free_port 127.0.0.2)
	printf '%s\n' "$evil" "$fwd" >"$W/proxy-ports"
	chal="Bearer realm=\"https://127.0.0.1:$P_TOKSRV/token?scope=repository:team/x:push\",service=\"capsa-registry\""
	chal+=",scope=\"repository:private/x:pull,push\""
	start_bg evil python3 "$REPO/tests/registry/faultproxy.py" --listen "127.0.0.2:$evil" \
		--upstream "https://127.0.0.1:$P_TOKEN" --cafile "$W/tls/ca.crt" --log "$W/evil.jsonl" \
		--rule "$(jq -cn --arg c "$chal" '{path: "^/v2/", action: "status", status: 401,
			headers: {"WWW-Authenticate": $c}}')"
	start_bg fwd python3 "$REPO/tests/registry/faultproxy.py" --listen "127.0.0.2:$fwd" \
		--upstream "https://127.0.0.1:$P_TOKEN" --cafile "$W/tls/ca.crt" --log "$W/fwd.jsonl"
	wait_up "http://127.0.0.2:$evil/v2/"
	wait_up "http://127.0.0.2:$fwd/v2/"
}

setup_file() {
	export W
	W=$(mktemp -d /tmp/capsa-regtest.XXXXXX)
	command -v docker-registry >/dev/null && command -v skopeo >/dev/null || return 0
	[ -f "$BUILD/libcore.a" ] || return 0
	# shellcheck disable=SC2046
	cc -D_GNU_SOURCE -std=gnu11 -I"$REPO/src" -g -o "$W/driver" "$REPO/tests/unit/registry_driver.c" \
		"$BUILD/libcore.a" $(pkg-config --cflags --libs libsquashfs1 libseccomp json-c libcurl libcrypto) \
		$(case "$BUILD" in *asan*) echo -fsanitize=address,undefined ;; esac)
	read -r AMD ARM IDX < <(make_image)
	printf '%s\n' "$AMD" "$ARM" "$IDX" >"$W/digests"
	make_tls

	P_PLAIN=$(free_port) P_BASIC=$(free_port) P_TOKEN=$(free_port) P_TOKSRV=$(free_port)
	printf '%s\n' "$P_PLAIN" "$P_BASIC" "$P_TOKEN" "$P_TOKSRV" >"$W/ports"
	htpasswd -Bbn alice secret >"$W/htpasswd" 2>/dev/null
	echo '{"alice": "secret"}' >"$W/users.json"
	local tls="  tls: {certificate: $W/tls/server.crt, key: $W/tls/server.key}"
	registry_conf plain "$P_PLAIN" ""
	registry_conf basic "$P_BASIC" "$tls
auth:
  htpasswd: {realm: capsa-basic, path: $W/htpasswd}"
	registry_conf token "$P_TOKEN" "$tls
auth:
  token:
    realm: https://127.0.0.1:$P_TOKSRV/token
    service: capsa-registry
    issuer: capsa-token-issuer
    rootcertbundle: $W/tls/signing.crt"
	start_bg plain docker-registry serve "$W/plain.yml"
	start_bg basic docker-registry serve "$W/basic.yml"
	wait_up "http://127.0.0.1:$P_PLAIN/v2/"
	wait_up "https://127.0.0.1:$P_BASIC/v2/" --cacert "$W/tls/ca.crt"
	if [ -f "$REPO/tests/registry/token_server.py" ] && python3 -c 'import cryptography' 2>/dev/null; then
		TOKEN_LEEWAY=${TOKEN_LEEWAY:-60} start_bg toksrv python3 "$REPO/tests/registry/token_server.py" \
			--port "$P_TOKSRV" --cert "$W/tls/server.crt" --key "$W/tls/server.key" \
			--signing-cert "$W/tls/signing.crt" --signing-key "$W/tls/signing.key" \
			--users "$W/users.json" --ttl-file "$W/ttl" --log "$W/token.jsonl"
		start_bg token docker-registry serve "$W/token.yml"
		wait_up "https://127.0.0.1:$P_TOKSRV/token" --cacert "$W/tls/ca.crt"
		wait_up "https://127.0.0.1:$P_TOKEN/v2/" --cacert "$W/tls/ca.crt"
		start_proxies
		touch "$W/token-enabled"
	fi
	local s=(skopeo --insecure-policy copy -q --preserve-digests)
	"${s[@]}" "oci:$W/oci:v1" "docker://127.0.0.1:$P_PLAIN/x:v1" --dest-tls-verify=false
	"${s[@]}" --all "oci:$W/oci:multi" "docker://127.0.0.1:$P_PLAIN/x:multi" --dest-tls-verify=false
	"${s[@]}" "oci:$W/oci:v1" "docker://127.0.0.1:$P_BASIC/team/x:v1" --dest-cert-dir "$W/tls/certs.d" \
		--dest-creds alice:secret
	"${s[@]}" "oci:$W/oci:v1" "docker://127.0.0.1:$P_BASIC/private/x:v1" --dest-cert-dir "$W/tls/certs.d" \
		--dest-creds alice:secret
	touch "$W/ready"
}

teardown_file() {
	local f pid
	for f in "$W"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		# Only our own children: check the command line before killing.
		if grep -qa -e docker-registry -e token_server -e faultproxy "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
		fi
	done
	[ -n "${W:-}" ] && rm -rf "$W"
}

setup() {
	[ -f "$W/ready" ] || skip "docker-registry/skopeo or $BUILD/libcore.a missing"
	{ read -r AMD; read -r ARM; read -r IDX; } <"$W/digests"
	{ read -r P_PLAIN; read -r P_BASIC; read -r P_TOKEN; read -r P_TOKSRV; } <"$W/ports"
	CONF=$(mktemp -d "$W/conf.XXXXXX")
	HOMED=$(mktemp -d "$W/home.XXXXXX")
	OUT=$(mktemp -d "$W/out.XXXXXX")
}

# Run the driver with a clean environment.
drv() {
	env -i PATH="$PATH" HOME="$HOMED" CAPSA_CONFIG_PATH="$CONF" CAPSA_CACHE_PATH="$W/cache" \
		CAPSA_DATA_PATH="$W/data" CAPSA_RUNTIME_PATH="$W/run" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		"${DRV_ENV[@]}" "$W/driver" "$@"
}
DRV_ENV=()

plain() { DRV_ENV=(CAPSA_ALLOW_HTTP=y); drv "$@"; }

@test "plain: resolve an OCI manifest by tag (gzip, zstd, plain tar layers)" {
	run -0 plain resolve "docker://127.0.0.1:$P_PLAIN/x:v1"
	echo "$output"
	[[ "${lines[1]}" == "manifest $AMD application/vnd.oci.image.manifest.v1+json" ]]
	[[ "$output" == *" gzip"* && "$output" == *" zstd"* && "$output" == *" tar"* ]]
	[ "$(grep -c '^layer ' <<<"$output")" -eq 3 ]
}

@test "plain: pull verifies every blob; files hash to their names" {
	run -0 plain pull "docker://127.0.0.1:$P_PLAIN/x:v1" "$OUT"
	[ "$(grep -c '^fetched ' <<<"$output")" -eq 3 ]
	for f in "$OUT"/*; do
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ]
	done
}

@test "plain: index platform selection (amd64, arm64 -> v8, missing platform)" {
	run -0 plain digest "docker://127.0.0.1:$P_PLAIN/x:multi" amd64
	[ "${lines[1]}" = "$AMD" ]
	run -0 plain digest "docker://127.0.0.1:$P_PLAIN/x:multi" arm64
	[ "${lines[1]}" = "$ARM" ]
	run -1 plain resolve "docker://127.0.0.1:$P_PLAIN/x:multi" ppc64le
	[[ "$output" == *"no image for platform linux/ppc64le (available: linux/arm64/v8, linux/amd64)"* ]]
}

@test "plain: pinned digests are verified; enroot-style 404 message" {
	run -0 plain resolve "docker://127.0.0.1:$P_PLAIN/x@$AMD"
	[[ "${lines[1]}" == "manifest $AMD "* ]]
	run -1 plain resolve "docker://127.0.0.1:$P_PLAIN/x:nope"
	[[ "$output" == *"URL http://127.0.0.1:$P_PLAIN/v2/x/manifests/nope returned error code: 404 Not Found"* ]]
}

@test "plain: blob size bounds (size-1 aborts, size+1 is a size mismatch)" {
	run -0 plain resolve "docker://127.0.0.1:$P_PLAIN/x:v1"
	read -r _ dg size < <(grep '^config ' <<<"$output")
	run -0 plain blob "docker://127.0.0.1:$P_PLAIN/x:v1" "$dg" "$size" "$OUT/c"
	run -1 plain blob "docker://127.0.0.1:$P_PLAIN/x:v1" "$dg" $((size - 1)) "$OUT/c"
	[[ "$output" == *"more than the expected $((size - 1)) bytes"* ]]
	run -1 plain blob "docker://127.0.0.1:$P_PLAIN/x:v1" "$dg" $((size + 1)) "$OUT/c"
	[[ "$output" == *"size mismatch"* ]]
	run -1 plain blob "docker://127.0.0.1:$P_PLAIN/x:v1" "sha256:../../etc/passwd" 1 "$OUT/c"
	[[ "$output" == *"invalid blob digest"* ]]
}

@test "plain: no http without ALLOW_HTTP (no fallback)" {
	run -1 drv resolve "docker://127.0.0.1:$P_PLAIN/x:v1"
	[[ "$output" == *"https://127.0.0.1:$P_PLAIN/"* ]]
}

@test "basic: TLS without the CA fails and says how to provide it" {
	run -1 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "$output" == *"TLS verification failed"*"SSL_CERT_FILE"* ]]
}

@test "basic: credentials from .credentials (user inferred), anonymous and wrong password" {
	DRV_ENV=(SSL_CERT_FILE="$W/tls/ca.crt")
	run -1 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "$output" == *"anonymous access denied"* ]]
	printf 'machine 127.0.0.1 login alice password secret\n' >"$CONF/.credentials"
	chmod 600 "$CONF/.credentials"
	run -0 drv pull "docker://127.0.0.1:$P_BASIC/team/x:v1" "$OUT"
	[[ "$output" == *"user: alice"* ]]
	[ "$(grep -c '^fetched ' <<<"$output")" -eq 3 ]
	printf 'machine 127.0.0.1 login alice password $(echo wrong)\n' >"$CONF/.credentials"
	run -1 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "$output" == *"authentication failed for alice at 127.0.0.1:$P_BASIC: check $CONF/.credentials"* ]]
}

@test "basic: a .credentials machine with a port is used only for that port" {
	DRV_ENV=(SSL_CERT_FILE="$W/tls/ca.crt")
	printf 'machine 127.0.0.1:%s login alice password secret\n' "$P_PLAIN" >"$CONF/.credentials"
	chmod 600 "$CONF/.credentials"
	run -1 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "$output" == *"anonymous access denied"* ]]
	printf 'machine 127.0.0.1:%s login alice password secret\n' "$P_BASIC" >"$CONF/.credentials"
	run -0 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "$output" == *"user: alice"* ]]
}

@test "basic: Docker config.json auths" {
	DRV_ENV=(SSL_CERT_FILE="$W/tls/ca.crt")
	mkdir -p "$HOMED/.docker"
	printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$P_BASIC" "$(printf alice:secret | base64)" \
		>"$HOMED/.docker/config.json"
	run -0 drv resolve "docker://127.0.0.1:$P_BASIC/team/x:v1"
	[[ "${lines[1]}" == "manifest $AMD "* ]]
}

@test "token: anonymous pull, then with credentials" {
	[ -f "$W/token-enabled" ] || skip "token server unavailable"
	DRV_ENV=(SSL_CERT_FILE="$W/tls/ca.crt")
	run -0 drv pull "docker://127.0.0.1:$P_TOKEN/team/x:v1" "$OUT"
	[ "$(grep -c '^fetched ' <<<"$output")" -eq 3 ]
	grep -q '"user": null' "$W/token.jsonl" || grep -q '"user": ""' "$W/token.jsonl"
	printf 'machine 127.0.0.1 login alice password secret\n' >"$CONF/.credentials"
	chmod 600 "$CONF/.credentials"
	run -0 drv resolve "docker://127.0.0.1:$P_TOKEN/team/x:v1"
	[[ "$output" == *"user: alice"* ]]
	printf 'machine 127.0.0.1 login alice password nope\n' >"$CONF/.credentials"
	run -1 drv resolve "docker://127.0.0.1:$P_TOKEN/team/x:v1"
	[[ "$output" == *"authentication failed for alice"* ]]
}

# Every token request so far: anonymous, for repository:IMAGE:pull only.
token_requests_anonymous_pull_only() { # IMAGE
	jq -se --arg s "repository:$1:pull" 'length > 0 and all(.[]; .authorization == false and .scopes == [$s])' \
		"$W/token.jsonl" || { cat "$W/token.jsonl"; return 1; }
}

@test "token: a registry naming another host's token service gets no token made with credentials" {
	[ -f "$W/token-enabled" ] || skip "token server unavailable"
	read -r P_EVIL _ < <(paste -s "$W/proxy-ports")
	DRV_ENV=(CAPSA_ALLOW_HTTP=y SSL_CERT_FILE="$W/tls/ca.crt")
	# The user has credentials for the real token service (127.0.0.1) only.
	printf 'machine 127.0.0.1 login alice password secret\n' >"$CONF/.credentials"
	chmod 600 "$CONF/.credentials"
	: >"$W/token.jsonl"
	run -1 drv resolve "docker://127.0.0.2:$P_EVIL/x:v1"
	token_requests_anonymous_pull_only x
	[[ "$output" == *"no credentials were sent to the token service on 127.0.0.1"*"AUTH_REALMS"* ]]
	# Its own credentials do not go to that other host either.
	printf 'machine 127.0.0.2 login alice password secret\n' >"$CONF/.credentials"
	: >"$W/token.jsonl"
	run -1 drv resolve "docker://127.0.0.2:$P_EVIL/x:v1"
	token_requests_anonymous_pull_only x
	[[ "$output" == *"AUTH_REALMS"* ]]
}

@test "token: realm-host credentials need an AUTH_REALMS pairing; with one they work" {
	[ -f "$W/token-enabled" ] || skip "token server unavailable"
	read -r _ P_FWD < <(paste -s "$W/proxy-ports")
	DRV_ENV=(CAPSA_ALLOW_HTTP=y SSL_CERT_FILE="$W/tls/ca.crt")
	printf 'machine 127.0.0.1 login alice password secret\n' >"$CONF/.credentials"
	chmod 600 "$CONF/.credentials"
	: >"$W/token.jsonl"
	run -1 drv resolve "docker://127.0.0.2:$P_FWD/private/x:v1"
	token_requests_anonymous_pull_only private/x
	[[ "$output" == *"AUTH_REALMS"* ]]
	# A pairing for another port of the registry does not count.
	DRV_ENV+=(CAPSA_AUTH_REALMS="127.0.0.2:1=127.0.0.1")
	run -1 drv resolve "docker://127.0.0.2:$P_FWD/private/x:v1"
	token_requests_anonymous_pull_only private/x
	DRV_ENV[2]="CAPSA_AUTH_REALMS=other.example=127.0.0.9 127.0.0.2:$P_FWD=127.0.0.1"
	: >"$W/token.jsonl"
	run -0 drv pull "docker://127.0.0.2:$P_FWD/private/x:v1" "$OUT"
	[ "$(grep -c '^fetched ' <<<"$output")" -eq 3 ]
	jq -se 'length > 0 and all(.[]; .authorization and .user == "alice" and .scopes == ["repository:private/x:pull"])' \
		"$W/token.jsonl"
}

@test "token: a short-lived token is refreshed during a pull (enroot#278)" {
	[ -f "$W/token-enabled" ] || skip "token server unavailable"
	DRV_ENV=(SSL_CERT_FILE="$W/tls/ca.crt")
	echo 2 >"$W/ttl"
	: >"$W/token.jsonl"
	run -0 drv pull "docker://127.0.0.1:$P_TOKEN/team/x:v1" "$OUT" 3
	rm -f "$W/ttl"
	echo "$output"
	[ "$(grep -c '^fetched ' <<<"$output")" -eq 3 ]
	[ "$(grep -c '"method"' "$W/token.jsonl")" -ge 3 ]
}
