#!/usr/bin/env bats
# shellcheck disable=SC2154 # status/output/lines are set by bats' run
# SPDX-License-Identifier: Apache-2.0
#
# The offline registry test bed itself (tests/registry/, testbed.md §2-§3),
# exercised with curl and skopeo only: three docker-registry instances (plain,
# TLS+Basic, TLS+Bearer), the token server and the pushed fixtures.  capsa's
# own `import docker://` tests build on this.
#
# Ports: free ones chosen by start.sh, or CAPSA_REGISTRY_{PLAIN,BASIC,TOKEN}_PORT
# and CAPSA_TOKEN_SERVER_PORT.  CAPSA_REGISTRY_KEEP=1 keeps the dir.

bats_require_minimum_version 1.5.0

REG=$BATS_TEST_DIRNAME/../registry

MT_V2S2=application/vnd.docker.distribution.manifest.v2+json
MT_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_OCI=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json

# bats 1.8 cannot skip from setup_file: record the reason, skip in setup.
setup_file() {
	local c
	export REG_SKIP=
	for c in docker-registry skopeo openssl htpasswd curl jq python3 zstd; do
		if ! command -v "$c" >/dev/null; then
			REG_SKIP="$c is not installed (apt-get install docker-registry skopeo openssl apache2-utils curl jq zstd python3-cryptography)"
			return 0
		fi
	done
	if ! python3 -c 'import cryptography' 2>/dev/null && ! /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
		REG_SKIP="python3-cryptography is not installed"
		return 0
	fi
	REG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/capsa-registry.XXXXXX")
	export REG_DIR
	chmod 0755 "$REG_DIR"
	"$REG/start.sh" "$REG_DIR" >&3 2>&1
	"$REG/push.sh" "$REG_DIR" >&3 2>&1
}

teardown_file() {
	[ -n "${REG_DIR:-}" ] || return 0
	"$REG/stop.sh" "$REG_DIR"
	[ -n "${CAPSA_REGISTRY_KEEP:-}" ] || rm -rf "$REG_DIR"
}

setup() {
	[ -z "$REG_SKIP" ] || skip "$REG_SKIP"
	# shellcheck source=/dev/null
	. "$REG_DIR/env.sh"
	P=http://$CAPSA_REGISTRY_PLAIN
	B=https://$CAPSA_REGISTRY_BASIC
	K=https://$CAPSA_REGISTRY_TOKEN
	TMP=$(mktemp -d "$REG_DIR/t.XXXXXX")
}

teardown() {
	[ -n "${REG_DIR:-}" ] || return 0
	rm -f "$CAPSA_TOKEN_TTL_FILE"
	rm -rf "$TMP"
}

# code [CURL ARGS...] URL: print the HTTP status
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CAPSA_REGISTRY_CA" "$@"; }
# hdr NAME [CURL ARGS...] URL: print one response header's value
hdr() {
	local name=$1
	shift
	curl -s -o /dev/null -D - --cacert "$CAPSA_REGISTRY_CA" "$@" | tr -d '\r' |
		awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$name")" 'tolower($0) ~ "^"n":" { sub(/^[^:]*: */, ""); print; exit }'
}
# token [CURL ARGS...] SCOPE: fetch a token for SCOPE from the token server
token() {
	local scope=${*: -1}
	curl -sf --cacert "$CAPSA_REGISTRY_CA" "${@:1:$#-1}" \
		"https://$CAPSA_TOKEN_SERVER/token?service=$CAPSA_TOKEN_SERVICE&scope=$scope" | jq -r '.token // .access_token'
}
jwt_claims() { cut -d. -f2 <<<"$1" | tr '_-' '/+' | { b=$(cat); while [ $((${#b} % 4)) -ne 0 ]; do b+='='; done; base64 -d <<<"$b"; }; }

@test "plain registry answers /v2/ with the distribution API header" {
	[ "$(code "$P/v2/")" = 200 ]
	[ "$(hdr Docker-Distribution-Api-Version "$P/v2/")" = registry/2.0 ]
	run curl -sf "$P/v2/_catalog?n=100"
	[ "$status" -eq 0 ]
	for r in busybox library/busybox team/sub/busybox multilayer pathescape zstd multiarch baddigest; do
		jq -e --arg r "$r" '.repositories | index($r)' <<<"$output" >/dev/null
	done
}

@test "TLS registries present a certificate valid for 127.0.0.1 from the test CA only" {
	[ "$(code "$B/v2/")" = 401 ]
	run curl -s -o /dev/null "$B/v2/" # system CAs only
	[ "$status" -eq 60 ]
	run openssl s_client -connect "$CAPSA_REGISTRY_BASIC" -CAfile "$CAPSA_REGISTRY_CA" -verify_ip 127.0.0.1 \
		-verify_return_error </dev/null
	[ "$status" -eq 0 ]
}

@test "Basic registry: 401 with a Basic challenge without or with wrong credentials, 200 with them" {
	[ "$(code "$B/v2/")" = 401 ]
	[[ "$(hdr WWW-Authenticate "$B/v2/")" == 'Basic realm="capsa-basic"' ]]
	[ "$(code -u "$CAPSA_REGISTRY_USER:wrong" "$B/v2/")" = 401 ]
	[ "$(code -u "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" "$B/v2/")" = 200 ]
	[ "$(code -u "$CAPSA_REGISTRY_USER2:$CAPSA_REGISTRY_PASSWORD2" "$B/v2/")" = 200 ]
	[ "$(code --netrc-file "$CAPSA_REGISTRY_NETRC" -H "Accept: $MT_V2S2" "$B/v2/private/busybox/manifests/latest")" = 200 ]
}

@test "Bearer registry: challenge names the token realm, service and scope" {
	[ "$(code "$K/v2/")" = 401 ]
	[ "$(hdr WWW-Authenticate "$K/v2/")" = "Bearer realm=\"$CAPSA_TOKEN_REALM\",service=\"$CAPSA_TOKEN_SERVICE\"" ]
	run hdr WWW-Authenticate -H "Accept: $MT_V2S2" "$K/v2/busybox/manifests/latest"
	[ "$output" = "Bearer realm=\"$CAPSA_TOKEN_REALM\",service=\"$CAPSA_TOKEN_SERVICE\",scope=\"repository:busybox:pull\"" ]
}

@test "Bearer flow: token with credentials fetches a private manifest; the JWT is RS256 with x5c" {
	local t
	t=$(token -u "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" repository:private/busybox:pull,push)
	[ -n "$t" ]
	cut -d. -f1 <<<"$t" | tr '_-' '/+' | { b=$(cat); while [ $((${#b} % 4)) -ne 0 ]; do b+='='; done; base64 -d <<<"$b"; } |
		jq -e '.alg == "RS256" and .typ == "JWT" and (.x5c | length) == 1' >/dev/null
	jwt_claims "$t" | jq -e --arg s "$CAPSA_TOKEN_SERVICE" --arg i "$CAPSA_TOKEN_ISSUER" \
		'.aud == $s and .iss == $i and .sub == "capsa" and .access[0].actions == ["pull","push"]' >/dev/null
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/private/busybox/manifests/latest")" = 200 ]
	# the blob too
	local cfg
	cfg=$(curl -sf --cacert "$CAPSA_REGISTRY_CA" -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" \
		"$K/v2/private/busybox/manifests/latest" | jq -r .config.digest)
	[ "$(curl -sf --cacert "$CAPSA_REGISTRY_CA" -H "Authorization: Bearer $t" "$K/v2/private/busybox/blobs/$cfg" |
		sha256sum | cut -d' ' -f1)" = "${cfg#sha256:}" ]
	# the response carries both token fields and the expiry
	curl -sf --cacert "$CAPSA_REGISTRY_CA" -u "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" \
		"https://$CAPSA_TOKEN_SERVER/token?service=$CAPSA_TOKEN_SERVICE&scope=repository:busybox:pull" |
		jq -e '.token == .access_token and .expires_in == 300 and (.issued_at | test("Z$"))' >/dev/null
}

@test "Bearer flow: anonymous gets pull only, nothing under private/; wrong credentials get 401" {
	local t
	t=$(token repository:busybox:pull,push)
	jwt_claims "$t" | jq -e '.sub == "" and .access[0].actions == ["pull"]' >/dev/null
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/busybox/manifests/latest")" = 200 ]
	t=$(token repository:private/busybox:pull)
	jwt_claims "$t" | jq -e '.access[0].actions == []' >/dev/null
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/private/busybox/manifests/latest")" = 401 ]
	[ "$(code -u "$CAPSA_REGISTRY_USER:wrong" \
		"https://$CAPSA_TOKEN_SERVER/token?service=$CAPSA_TOKEN_SERVICE&scope=repository:busybox:pull")" = 401 ]
	# the token server logged both, without passwords
	grep -q '"result": 401' "$CAPSA_TOKEN_LOG"
	run ! grep -q -e "$CAPSA_REGISTRY_PASSWORD" -e wrong "$CAPSA_TOKEN_LOG"
}

@test "skopeo pulls through the Bearer registry; anonymous pull of private/ is refused" {
	run skopeo inspect --cert-dir "$CAPSA_REGISTRY_CERT_DIR" "docker://$CAPSA_REGISTRY_TOKEN/busybox:latest"
	[ "$status" -eq 0 ]
	run skopeo inspect --cert-dir "$CAPSA_REGISTRY_CERT_DIR" "docker://$CAPSA_REGISTRY_TOKEN/private/busybox:latest"
	[ "$status" -ne 0 ]
	[[ "$output" == *"denied"* || "$output" == *"unauthorized"* ]]
	run skopeo inspect --cert-dir "$CAPSA_REGISTRY_CERT_DIR" --authfile "$CAPSA_REGISTRY_AUTHFILE" \
		"docker://$CAPSA_REGISTRY_TOKEN/private/busybox:latest"
	[ "$status" -eq 0 ]
	run skopeo inspect --cert-dir "$CAPSA_REGISTRY_CERT_DIR" --creds "$CAPSA_REGISTRY_USER:wrong" \
		"docker://$CAPSA_REGISTRY_TOKEN/private/busybox:latest"
	[ "$status" -ne 0 ]
}

@test "tokens expire: TOKEN_TTL via the ttl file, refused by the registry after it" {
	echo 2 >"$CAPSA_TOKEN_TTL_FILE"
	local t
	t=$(token -u "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" repository:private/busybox:pull)
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/private/busybox/manifests/latest")" = 200 ]
	sleep 3.5
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/private/busybox/manifests/latest")" = 401 ]
	t=$(token -u "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD" repository:private/busybox:pull)
	[ "$(code -H "Authorization: Bearer $t" -H "Accept: $MT_V2S2" "$K/v2/private/busybox/manifests/latest")" = 200 ]
}

@test "manifests by tag: Docker v2s2, OCI (404 without an OCI Accept), index and list" {
	run curl -sf -H "Accept: $MT_V2S2" "$P/v2/busybox/manifests/latest"
	[ "$(jq -r .mediaType <<<"$output")" = "$MT_V2S2" ]
	[ "$(jq '.layers | length' <<<"$output")" = 1 ]
	[ "$(code "$P/v2/busybox/manifests/oci")" = 404 ]
	[ "$(code -H "Accept: $MT_V2S2" "$P/v2/busybox/manifests/oci")" = 404 ]
	[ "$(hdr Content-Type -H "Accept: $MT_OCI" "$P/v2/busybox/manifests/oci")" = "$MT_OCI" ]
	[ "$(code -H "Accept: $MT_V2S2" "$P/v2/library/busybox/manifests/latest")" = 200 ]
	[ "$(code -H "Accept: $MT_V2S2" "$P/v2/team/sub/busybox/manifests/1.35")" = 200 ]
	[ "$(code -H "Accept: $MT_V2S2" "$P/v2/busybox/manifests/nope")" = 404 ]
	run curl -sf -H "Accept: $MT_INDEX" "$P/v2/multiarch/manifests/latest"
	[ "$(jq -r .mediaType <<<"$output")" = "$MT_INDEX" ]
	[ "$(jq -c '[.manifests[].platform | [.os, .architecture, .variant // ""] | join("/")]' <<<"$output")" = \
		'["linux/amd64/","linux/arm64/v8"]' ]
	[ "$(code -H "Accept: $MT_LIST" "$P/v2/multiarch/manifests/latest")" = 404 ]
	run curl -sf -H "Accept: $MT_LIST" "$P/v2/multiarch/manifests/list"
	[ "$(jq -r .mediaType <<<"$output")" = "$MT_LIST" ]
	[ "$(jq -r '[.manifests[].mediaType] | unique | .[]' <<<"$output")" = "$MT_V2S2" ]
	run curl -sf -H "Accept: $MT_OCI" "$P/v2/zstd/manifests/latest"
	[ "$(jq -r '[.layers[].mediaType | sub(".*\\.tar"; "tar")] | join(" ")' <<<"$output")" = "tar+gzip tar+zstd tar" ]
	run curl -sf -H "Accept: $MT_OCI" "$P/v2/multilayer/manifests/latest"
	[ "$(jq '.layers | length' <<<"$output")" = 6 ]
	[ "$(jq -r '.layers[4].digest == .layers[5].digest' <<<"$output")" = true ]
	[ "$(jq '[.history[] | select(.empty_layer)] | length' <<<"$(curl -sf "$P/v2/multilayer/blobs/$(jq -r .config.digest <<<"$output")")")" = 2 ]
}

@test "manifests by digest: Docker-Content-Digest is the body's sha256 and resolves again" {
	local ref acc body d
	for ref in busybox:latest:$MT_V2S2 busybox:oci:$MT_OCI multiarch:latest:$MT_INDEX multiarch:list:$MT_LIST \
		zstd:latest:$MT_OCI; do
		IFS=: read -r name tag acc <<<"$ref"
		body=$(curl -sf -H "Accept: $acc" "$P/v2/$name/manifests/$tag")
		d=$(hdr Docker-Content-Digest -H "Accept: $acc" "$P/v2/$name/manifests/$tag")
		[ "$d" = "sha256:$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" ]
		grep -qxF "$CAPSA_REGISTRY_PLAIN/$name:$tag	$d" "$REG_DIR/refs.tsv"
		[ "$(curl -sf -H "Accept: $acc" "$P/v2/$name/manifests/$d" | sha256sum | cut -d' ' -f1)" = "${d#sha256:}" ]
		[ "$(code -I -H "Accept: $acc" "$P/v2/$name/manifests/$d")" = 200 ]
	done
	# an index entry resolves to its platform manifest
	d=$(curl -sf -H "Accept: $MT_INDEX" "$P/v2/multiarch/manifests/latest" |
		jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
	[ "$(code -H "Accept: $MT_OCI" "$P/v2/multiarch/manifests/$d")" = 200 ]
}

@test "baddigest: the registry serves a blob whose sha256 is not its digest; skopeo refuses it" {
	local m l
	m=$(curl -sf -H "Accept: $MT_OCI" "$P/v2/baddigest/manifests/latest")
	l=$(jq -r '.layers[0].digest' <<<"$m")
	[ "$(curl -sf "$P/v2/baddigest/blobs/$l" | sha256sum | cut -d' ' -f1)" != "${l#sha256:}" ]
	[ "$(curl -sf "$P/v2/baddigest/blobs/$l" | wc -c)" = "$(jq -r '.layers[0].size' <<<"$m")" ]
	# still a valid gzip of the expected tar: only a digest check can notice
	curl -sf "$P/v2/baddigest/blobs/$l" | gzip -dc | tar -t | grep -qx bad/file
	run skopeo --insecure-policy copy --src-tls-verify=false "docker://$CAPSA_REGISTRY_PLAIN/baddigest:latest" "oci:$TMP/bd:x"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Digest did not match"* ]]
	# and uploads with a wrong digest are refused (why the store is edited directly)
	local up
	up=$(curl -sf -D - -o /dev/null -X POST "$P/v2/uploadtest/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[ "$(printf hello | code -X PUT -H 'Content-Type: application/octet-stream' --data-binary @- \
		"$up&digest=sha256:$(printf x | sha256sum | cut -d' ' -f1)")" = 400 ]
}

@test "expected trees and enroot files exist for every fixture" {
	local n
	for n in busybox multilayer multilayer-chardev pathescape zstd multiarch-amd64 multiarch-arm64 baddigest; do
		[ -s "$REG_DIR/expected/$n.tsv" ]
		[ -s "$REG_DIR/expected/$n.rc" ]
		[ -e "$REG_DIR/expected/$n.environment" ]
		[ -e "$REG_DIR/expected/$n.fstab" ]
		awk -F'\t' 'NF != 6 { exit 1 }' "$REG_DIR/expected/$n.tsv"
	done
	[ "$(grep -c . "$REG_DIR/expected/busybox.tsv")" -gt 280 ]
	grep -q $'^/fx/opq/new1\tf\t0644\t0:0' "$REG_DIR/expected/multilayer.tsv"
	run ! grep -q -e '^/fx/opq/old1' -e '^/fx/wh/file1' -e '^/fx/wh/dir1' -e $'^/bin/vi\t' "$REG_DIR/expected/multilayer.tsv"
	grep -q "exec '/bin/echo' 'entry point' 'hello world' 'it'\\\\''s'" "$REG_DIR/expected/multilayer.rc"
	grep -qx 'SPACES=a b  c' "$REG_DIR/expected/multilayer.environment"
	# shellcheck disable=SC2016 # literal ${ENROOT_ROOTFS}
	[ "$(cat "$REG_DIR/expected/multilayer.fstab")" = '${ENROOT_ROOTFS}/data /data none x-create=dir,bind,rw,nosuid,nodev
${ENROOT_ROOTFS}/var/lib/app /var/lib/app none x-create=dir,bind,rw,nosuid,nodev' ]
}

@test "fixtures build deterministically" {
	python3 "$REG/mkimages.py" "$TMP/again" busybox zstd >/dev/null
	diff <(cat "$REG_DIR/layouts/busybox/index.json") <(cat "$TMP/again/layouts/busybox/index.json")
	diff <(cat "$REG_DIR/layouts/zstd/index.json") <(cat "$TMP/again/layouts/zstd/index.json")
	diff "$REG_DIR/expected/zstd.tsv" "$TMP/again/expected/zstd.tsv"
}

@test "pulled multilayer unpacked by umoci matches the expected tree (as root: owners too)" {
	command -v umoci >/dev/null || skip "umoci is not installed"
	[ "$(id -u)" -eq 0 ] || skip "needs root to keep owners"
	skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$CAPSA_REGISTRY_PLAIN/multilayer:latest" "oci:$TMP/oci:m"
	umoci unpack --image "$TMP/oci:m" "$TMP/bundle" >/dev/null
	diff <("$REG/tree_dump.py" --tsv "$REG_DIR/expected/multilayer.tsv") <("$REG/tree_dump.py" "$TMP/bundle/rootfs")
	# the Docker v2s2 copy carries the same layers
	skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$CAPSA_REGISTRY_PLAIN/multilayer:v2s2" "oci:$TMP/oci:v"
	umoci unpack --rootless --image "$TMP/oci:v" "$TMP/bundle2" >/dev/null
	diff <("$REG/tree_dump.py" --all-root --tsv "$REG_DIR/expected/multilayer.tsv") \
		<("$REG/tree_dump.py" --all-root "$TMP/bundle2/rootfs")
}

@test "pathescape: umoci confines every entry; the expected tree is the confined one" {
	command -v umoci >/dev/null || skip "umoci is not installed"
	[ ! -e /tmp/capsa-escape ] || skip "/tmp/capsa-escape exists before the test"
	skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$CAPSA_REGISTRY_PLAIN/pathescape:latest" "oci:$TMP/oci:p"
	umoci unpack --rootless --image "$TMP/oci:p" "$TMP/bundle" >/dev/null
	[ ! -e /tmp/capsa-escape ]
	diff <("$REG/tree_dump.py" --all-root --tsv "$REG_DIR/expected/pathescape.tsv") \
		<("$REG/tree_dump.py" --all-root "$TMP/bundle/rootfs")
}

@test "tree_dump: directory, squashfs and tar views of one tree agree" {
	command -v mksquashfs >/dev/null || skip "squashfs-tools is not installed"
	mkdir "$TMP/r"
	tar -C "$TMP/r" -xzf "$REG_DIR/layouts/busybox/blobs/sha256/$(jq -r '.busybox.layers[0].digest[7:]' "$REG_DIR/fixtures.json")"
	mkdir -p "$TMP/r/x/sp ace" && printf 'a\n' >"$TMP/r/x/sp ace/ü" && ln -s 'sp ace/ü' "$TMP/r/x/l -> odd" &&
		chmod 4755 "$TMP/r/x/sp ace/ü" && mkfifo "$TMP/r/x/fifo"
	mksquashfs "$TMP/r" "$TMP/r.sqsh" -quiet -no-progress -no-xattrs >/dev/null
	tar -C "$TMP/r" --numeric-owner -cf "$TMP/r.tar" .
	"$REG/tree_dump.py" "$TMP/r" >"$TMP/dir.tsv"
	[ -s "$TMP/dir.tsv" ]
	diff "$TMP/dir.tsv" <("$REG/tree_dump.py" --squashfs "$TMP/r.sqsh")
	diff "$TMP/dir.tsv" <("$REG/tree_dump.py" --tar "$TMP/r.tar")
	diff <(grep -v '^/x' "$TMP/dir.tsv") <("$REG/tree_dump.py" --tsv "$REG_DIR/expected/busybox.tsv")
}

@test "start.sh is idempotent: a second call keeps the same processes" {
	local before after
	before=$(cat "$REG_DIR"/run/*.pid)
	"$REG/start.sh" "$REG_DIR"
	after=$(cat "$REG_DIR"/run/*.pid)
	[ "$before" = "$after" ]
	[ "$(code "$P/v2/")" = 200 ]
}
