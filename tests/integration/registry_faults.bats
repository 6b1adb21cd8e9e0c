# shellcheck shell=bash disable=SC2154,SC2153
# SPDX-License-Identifier: Apache-2.0
#
# capsa import docker:// under injected network faults: tests/registry/faultproxy.py
# sits in front of the real docker-registry instances of the test bed
# (tests/registry) and answers 429/5xx, cuts blob bodies, throttles them or
# redirects them to another host; its JSON-lines log is what the registry
# side saw.  Ports: free ones, unless fixed by the test bed's
# CAPSA_REGISTRY_*_PORT and CAPSA_FAULTPROXY_PORT (the Basic and Bearer
# proxies then use the next two ports, or CAPSA_FAULTPROXY_{BASIC,TOKEN}_PORT).
# Redirect targets listen on 127.0.0.2 at the same port.

load helpers


# wait_http URL CODE: until URL answers CODE (15 s).
wait_http() {
	local i code
	for ((i = 0; i < 150; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null) || true
		[ "$code" = "$2" ] && return 0
		sleep 0.1
	done
	echo "$1 did not answer $2" >&2
	return 1
}


# Builds big:latest (busybox + one 16 MiB layer of random bytes) and its
# expected tree, and pushes it to the plain registry.
make_big() {
	python3 - "$REG_DIR" <<-'EOF'
		import gzip, hashlib, io, json, os, sys, tarfile
		d = sys.argv[1]
		src, dst = d + "/layouts/busybox", d + "/layouts/big"
		def blob(root, dg):
		    return open("%s/blobs/sha256/%s" % (root, dg.split(":")[1]), "rb").read()
		def put(data):
		    h = hashlib.sha256(data).hexdigest()
		    with open("%s/blobs/sha256/%s" % (dst, h), "wb") as f:
		        f.write(data)
		    return "sha256:" + h
		os.makedirs(dst + "/blobs/sha256", exist_ok=True)
		idx = json.load(open(src + "/index.json"))
		man = json.loads(blob(src, idx["manifests"][0]["digest"]))
		cfg = json.loads(blob(src, man["config"]["digest"]))
		bb = man["layers"][0]
		put(blob(src, bb["digest"]))
		payload = os.urandom(16 << 20)
		buf = io.BytesIO()
		with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
		    ti = tarfile.TarInfo("big")
		    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
		    t.addfile(ti)
		    ti = tarfile.TarInfo("big/random.bin")
		    ti.size, ti.mode, ti.mtime = len(payload), 0o644, 1700000000
		    t.addfile(ti, io.BytesIO(payload))
		tar = buf.getvalue()
		gz = gzip.compress(tar, compresslevel=1, mtime=0)
		layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz), "size": len(gz)}
		cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
		cfg.setdefault("history", []).append({"created_by": "faultproxy test: big layer"})
		c = json.dumps(cfg).encode()
		man["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(c), "size": len(c)}
		man["layers"] = [bb, layer]
		m = json.dumps(man).encode()
		json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
		           "digest": put(m), "size": len(m),
		           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(dst + "/index.json", "w"))
		open(dst + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
		with open(d + "/expected/big.tsv", "w") as f:
		    f.write(open(d + "/expected/busybox.tsv").read().rstrip("\n") + "\n")
		    f.write("/big\td\t0755\t0:0\t-\t-\n")
		    f.write("/big/random.bin\tf\t0644\t0:0\t%d\t%s\n" % (len(payload), hashlib.sha256(payload).hexdigest()))
	EOF
	skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
		"oci:$REG_DIR/layouts/big:latest" "docker://$CAPSA_REGISTRY_PLAIN/big:latest"
}

setup_file() {
	export FP_ALT=''
	registry_bed_start faults setsid unsquashfs
	[ -n "$REG_SKIP" ] && return 0
	mkdir -p "$REG_DIR/fp"
	"$REG/push.sh" "$REG_DIR" >&3 2>&1
	# shellcheck source=/dev/null
	. "$REG_DIR/env.sh"
	make_big >&3 2>&1
	chmod -R a+rX "$REG_DIR"
	# The redirect target: another host address on the loopback, same port.
	python3 -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' 2>/dev/null && FP_ALT=127.0.0.2
	local p=${CAPSA_FAULTPROXY_PORT:-}
	start_proxy plain "$p" "http://$CAPSA_REGISTRY_PLAIN"
	export FP_PORT=$FP_STARTED_PORT
	start_proxy basic "${CAPSA_FAULTPROXY_BASIC_PORT:-${p:+$((p + 1))}}" "https://$CAPSA_REGISTRY_BASIC" \
		--cafile "$CAPSA_REGISTRY_CA"
	export FP_BASIC_PORT=$FP_STARTED_PORT
	start_proxy token "${CAPSA_FAULTPROXY_TOKEN_PORT:-${p:+$((p + 2))}}" "https://$CAPSA_REGISTRY_TOKEN" \
		--cafile "$CAPSA_REGISTRY_CA"
	export FP_TOKEN_PORT=$FP_STARTED_PORT
	wait_http "http://127.0.0.1:$FP_PORT/v2/" 200
	wait_http "http://127.0.0.1:$FP_BASIC_PORT/v2/" 401
	wait_http "http://127.0.0.1:$FP_TOKEN_PORT/v2/" 401
}

teardown_file() {
	[ -n "${REG_DIR:-}" ] || return 0
	stop_proxies
	registry_bed_stop
}

setup() {
	registry_bed_setup
	FP=127.0.0.1:$FP_PORT
	local n
	for n in plain basic token; do
		rules "$n" '[]'
		: >"$REG_DIR/fp/$n.log"
	done
}

teardown() { capsa_teardown; }


# plog NAME PYTHON-EXPR: evaluate EXPR over the proxy's log, L = the records.
plog() {
	python3 -c 'import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$REG_DIR/fp/$1.log" "$2"
}

# plog_eq NAME EXPR WANT: fail with the log shown unless EXPR prints WANT.
plog_eq() {
	local got
	got=$(plog "$1" "$2")
	[ "$got" = "$3" ] && return 0
	printf 'proxy log (%s): %s\n  expected: %s\n  got:      %s\nlog:\n' "$1" "$2" "$3" "$got" >&2
	cut -c1-400 "$REG_DIR/fp/$1.log" >&2
	return 1
}

# digests REPO TAG: "config layer..." of a single-platform image, from the
# registry itself (not through the proxy).
digests() {
	curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$PLAIN/v2/$1/manifests/$2" |
		python3 -c 'import json, sys; m = json.load(sys.stdin)
print(" ".join([m["config"]["digest"]] + [l["digest"] for l in m["layers"]]))'
}

dump_image() { python3 "$REG/tree_dump.py" --enroot --squashfs "$1"; }
expected() { python3 "$REG/tree_dump.py" --tsv "$EXP/$1.tsv"; }

# import_fp [NAME=VALUE]... ARGS...: capsa import, http allowed.
import_fp() {
	local -a e=()
	while [[ ${1:-} =~ ^[A-Z_]+= ]]; do
		e+=("$1")
		shift
	done
	capsa_env CAPSA_ALLOW_HTTP=y "${e[@]}" import "$@"
}

# assert_nothing_left OUTPUT: no image at OUTPUT, no temporary next to it, no
# temporary in the cache and every cached blob verifies.
assert_nothing_left() {
	local out=$1 dir left
	dir=$(dirname "$out")
	assert_not_exists "$out"
	left=$(find "$dir" -maxdepth 1 -name ".$(basename "$out")*" -o -maxdepth 1 -name "$(basename "$out").*")
	[ -z "$left" ] || { echo "temporary output left: $left" >&2; false; }
	left=$(find "$CACHE/tmp" -mindepth 1 2>/dev/null)
	[ -z "$left" ] || { echo "cache temporaries left: $left" >&2; false; }
	run --separate-stderr capsa cache verify
	assert_success
}

# capsa_pids STRING: live capsa processes whose command line contains STRING.
capsa_pids() {
	local p st
	for p in $(pids_matching "$1"); do
		case "$(comm_of "$p" 2>/dev/null)" in capsa | capsa-image) ;; *) continue ;; esac
		{ read -r st <"/proc/$p/stat"; } 2>/dev/null || continue
		st=${st##*) }
		[ "${st%% *}" = Z ] || echo "$p"
	done
	return 0
}

# blob_statuses NAME DIGEST: statuses of the GETs of that blob, in order.
blob_statuses() { plog "$1" "[r['status'] for r in L if r['method'] == 'GET' and r['path'].endswith('/blobs/$2')]"; }

@test "faults: 429 with Retry-After and a few 5xx are retried; the image is exact" {
	local config layer
	read -r config layer <<<"$(digests busybox latest)"
	rules plain '[
	  {"path": "/v2/busybox/manifests/latest$", "action": "status", "status": 429, "headers": {"Retry-After": "1"}, "count": 2},
	  {"path": "/blobs/'"$layer"'$", "method": "GET", "action": "status", "status": 503, "count": 2},
	  {"path": "/blobs/'"$config"'$", "method": "GET", "action": "status", "status": 500, "count": 1}]'
	run --separate-stderr import_fp -o "$T/bb.sqsh" "docker://$FP#busybox:latest"
	assert_success
	diff <(expected busybox) <(dump_image "$T/bb.sqsh")
	plog_eq plain "[r['status'] for r in L if r['path'] == '/v2/busybox/manifests/latest']" "[429, 429, 200]"
	# Retry-After: 1 was honoured: at least ~1 s between the attempts.
	plog_eq plain "(lambda ts: all(b - a >= 0.9 for a, b in zip(ts, ts[1:])))(
	  [r['t'] for r in L if r['path'] == '/v2/busybox/manifests/latest'])" "true"
	[ "$(blob_statuses plain "$layer")" = "[503, 503, 200]" ] || { cat "$REG_DIR/fp/plain.log" >&2; false; }
	[ "$(blob_statuses plain "$config")" = "[500, 200]" ] || { cat "$REG_DIR/fp/plain.log" >&2; false; }
	run --separate-stderr capsa cache verify
	assert_success
}

@test "faults: persistent 503/429 fail with the HTTP status named; nothing is left behind" {
	local config layer ml
	read -r config layer <<<"$(digests busybox latest)"
	# TRANSFER_RETRIES=0 still means 2 retries (GNU parallel --retries 2 in enroot): 3 attempts.
	rules plain '[{"path": "/blobs/'"$layer"'$", "method": "GET", "action": "status", "status": 503}]'
	run --separate-stderr import_fp CAPSA_TRANSFER_RETRIES=0 -o "$T/bb.sqsh" "docker://$FP#busybox:latest"
	assert_error "503 Service Unavailable"
	[[ $stderr == *"$layer"* ]] || { echo "the error does not name the blob: $stderr" >&2; false; }
	[ "$(blob_statuses plain "$layer")" = "[503, 503, 503]" ] || { cat "$REG_DIR/fp/plain.log" >&2; false; }
	assert_nothing_left "$T/bb.sqsh"
	# Only the verified config is cached, not the failed layer.
	[ "$(ls -A "$CACHE/blobs/sha256")" = "${config#sha256:}" ] || { ls -l "$CACHE/blobs/sha256" >&2; false; }

	# Several download workers (multilayer): one layer is rate-limited for good
	# (TRANSFER_RETRIES=1 is raised to the same minimum of 2).
	read -r -a ml <<<"$(digests multilayer latest)"
	: >"$REG_DIR/fp/plain.log"
	rules plain '[{"path": "/blobs/'"${ml[2]}"'$", "method": "GET", "action": "status", "status": 429, "headers": {"Retry-After": "1"}}]'
	run --separate-stderr import_fp CAPSA_TRANSFER_RETRIES=1 -o "$T/ml.sqsh" "docker://$FP#multilayer:latest"
	assert_error "429 Too Many Requests"
	[ "$(blob_statuses plain "${ml[2]}")" = "[429, 429, 429]" ] || { cat "$REG_DIR/fp/plain.log" >&2; false; }
	assert_nothing_left "$T/ml.sqsh"
	assert_not_exists "$CACHE/blobs/sha256/${ml[2]#sha256:}"
}

@test "faults: a connection cut mid-blob is resumed with Range; the cached blob verifies" {
	local config layer size
	read -r config layer <<<"$(digests busybox latest)"
	size=$(curl -sfI "http://$PLAIN/v2/busybox/blobs/$layer" | tr -d '\r' | awk 'tolower($1) == "content-length:" { print $2 }')
	# Cut twice: after 300000 bytes of the first answer, and 300000 bytes into the resumed one.
	rules plain '[{"path": "/blobs/'"$layer"'$", "method": "GET", "action": "cut", "after": 300000, "count": 2}]'
	run --separate-stderr import_fp -o "$T/bb.sqsh" "docker://$FP#busybox:latest"
	assert_success
	diff <(expected busybox) <(dump_image "$T/bb.sqsh")
	local sel="[r for r in L if r['method'] == 'GET' and r['path'].endswith('/blobs/$layer')]"
	plog_eq plain "[(r['range'], r['status'], r['bytes'], r['complete']) for r in $sel]" \
		"[[null, 200, 300000, false], [\"bytes=300000-\", 206, 300000, false], [\"bytes=600000-\", 206, $((size - 600000)), true]]"
	run --separate-stderr capsa cache list
	assert_success
	[[ $output == *"$layer"* ]] || { echo "not cached: $output" >&2; false; }
	run --separate-stderr capsa cache verify
	assert_success
	[ -z "$(ls -A "$CACHE/tmp")" ]
}

# redirect_run NAME REF TO CREDS [ENV...]: import REF through proxy NAME with every
# blob GET redirected to host TO; checks the tree and where credentials went
# (CREDS: true when the registry side must have seen Authorization).
redirect_run() {
	local name=$1 ref=$2 to=$3 creds=$4
	shift 4
	: >"$REG_DIR/fp/$name.log"
	rules "$name" '[{"path": "/blobs/sha256:", "method": "GET", "action": "redirect", "to": "'"$to"'"}]'
	run --separate-stderr import_fp "$@" -o "$T/$name-$to.sqsh" "docker://$ref"
	assert_success
	diff <(expected busybox) <(dump_image "$T/$name-$to.sqsh")
	# config + layer: each redirected once, and fetched once at the target.
	plog_eq "$name" "[r['status'] for r in L if r['action'] == 'redirect']" "[307, 307]"
	plog_eq "$name" "[(r['status'], r['host'].split(':')[0], r['auth']) for r in L if r['action'] == 'redirected']" \
		"[[200, \"$to\", false], [200, \"$to\", false]]"
	# With credentials, the registry side did get them (so the test means something).
	plog_eq "$name" "all(r['auth'] for r in L if r['action'] == 'redirect')" "$creds"
	run --separate-stderr capsa cache prune
	assert_success
}

@test "faults: blob downloads redirected to another host; Authorization never follows" {
	[ -n "$FP_ALT" ] || skip "127.0.0.2 is not usable on this machine"
	redirect_run plain "$FP#busybox:latest" 127.0.0.2 false
	printf 'machine 127.0.0.1 login %s password %s\n' "$CAPSA_REGISTRY_USER" "$CAPSA_REGISTRY_PASSWORD" \
		>"$CONFIG/.credentials"
	chmod 0600 "$CONFIG/.credentials"
	capsa_chown "$CONFIG/.credentials"
	# Basic: the real htpasswd registry behind the proxy; only the host changes (same port).
	redirect_run basic "127.0.0.1:$FP_BASIC_PORT#private/busybox:latest" 127.0.0.2 true
	redirect_run basic "127.0.0.1:$FP_BASIC_PORT#private/busybox:latest" localhost true
	plog_eq basic "sorted(set(r['status'] for r in L if r['action'] == 'forward' and not r['auth']))" "[401]"
	# Bearer: a token from the real token server, never sent to the redirect target.
	redirect_run token "127.0.0.1:$FP_TOKEN_PORT#private/busybox:latest" 127.0.0.2 true \
		SSL_CERT_FILE="$CAPSA_REGISTRY_CA"
}

@test "faults: an import SIGKILLed mid-blob leaves no image and no partial cache entry; a rerun succeeds" {
	local big main n=0
	read -r _ _ big <<<"$(digests big latest)"
	rules plain '[{"path": "/blobs/'"$big"'$", "method": "GET", "action": "throttle", "rate": 1048576}]'
	capsa_bg "$T/kill.out" CAPSA_ALLOW_HTTP=y import -o "$T/big.sqsh" "docker://$FP#big:latest"
	main=$(wait_for_comm "$BG_PID" capsa-image) # capsa runs the image verbs there
	# Wait until a good part of the 16 MiB layer has arrived (its temporary grows).
	while [ "$(find "$CACHE/tmp" -name "${big#sha256:}.*" -size +1024k 2>/dev/null | wc -l)" -eq 0 ]; do
		kill -0 "$BG_PID" 2>/dev/null || { cat "$T/kill.out" >&2; false; }
		((n++ < 200)) || { echo "the download never got going" >&2; cat "$T/kill.out" >&2; false; }
		sleep 0.05
	done
	kill -KILL "$main"
	# Its download workers stop too (they must not outlive the import).
	local left deadline=$((SECONDS + 3))
	while left=$(capsa_pids "$T/big.sqsh") && [ -n "$left" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	[ -z "$left" ] || { echo "download workers outlived the import: $left" >&2; false; }
	kill_bg "$BG_PID"
	# Nothing beside the output, not even a hidden temporary: the squashfs
	# is written to an unnamed O_TMPFILE.  (What SIGKILL cannot clean up is
	# the layer's $CACHE/tmp file, removed by `cache prune`.)
	assert_not_exists "$T/big.sqsh"
	[ -z "$(find "$T" -maxdepth 1 -name '*big*')" ] || { find "$T" -maxdepth 1 -name '*big*' >&2; false; }
	assert_not_exists "$CACHE/blobs/sha256/${big#sha256:}"
	# Whatever is in the blobs dir is complete and verifies.
	run --separate-stderr capsa cache verify
	assert_success
	plog_eq plain "[r['complete'] for r in L if r['path'].endswith('/blobs/$big')]" "[false]"

	rules plain '[]'
	: >"$REG_DIR/fp/plain.log"
	run --separate-stderr import_fp -o "$T/big.sqsh" "docker://$FP#big:latest"
	assert_success
	diff <(expected big) <(dump_image "$T/big.sqsh")
	plog_eq plain "[(r['status'], r['complete']) for r in L if r['path'].endswith('/blobs/$big')]" "[[200, true]]"
	run --separate-stderr capsa cache verify
	assert_success
	# The killed download's temporary is garbage that prune collects.
	[ -n "$(ls -A "$CACHE/tmp")" ] || { echo "no leftover of the killed download?" >&2; false; }
	run --separate-stderr capsa cache prune
	assert_success
	[ -z "$(ls -A "$CACHE/tmp")" ] || { ls -l "$CACHE/tmp" >&2; false; }
}

@test "faults: two simultaneous imports of one image download each layer once; both images are exact" {
	local -a d
	read -r -a d <<<"$(digests multilayer latest)"
	# Slow blobs down so that both imports are surely downloading at the same time.
	rules plain '[{"path": "/blobs/sha256:", "method": "GET", "action": "throttle", "rate": 524288}]'
	capsa_bg "$T/a.out" CAPSA_ALLOW_HTTP=y import -o "$T/a.sqsh" "docker://$FP#multilayer:latest"
	local a=$BG_PID
	capsa_bg "$T/b.out" CAPSA_ALLOW_HTTP=y import -o "$T/b.sqsh" "docker://$FP#multilayer:latest"
	local b=$BG_PID ra=0 rb=0
	wait_bg "$a" || ra=$?
	wait_bg "$b" || rb=$?
	[ "$ra" = 0 ] && [ "$rb" = 0 ] || { cat "$T/a.out" "$T/b.out" >&2; false; }
	diff <(expected multilayer) <(dump_image "$T/a.sqsh" | grep -v $'^/fx/work dir\t')
	diff <(expected multilayer) <(dump_image "$T/b.sqsh" | grep -v $'^/fx/work dir\t')
	# Both were really fetching: two manifest GETs, and each layer blob was GET once.
	plog_eq plain "len([r for r in L if r['path'] == '/v2/multilayer/manifests/latest' and r['method'] == 'GET'])" 2
	local l
	for l in $(printf '%s\n' "${d[@]:1}" | sort -u); do
		plog_eq plain "[r['status'] for r in L if r['method'] == 'GET' and r['path'].endswith('/blobs/$l')]" "[200]"
	done
	# The config is cached too, but not under a download lock: the second
	# import fetches it again unless the first had already cached it.
	plog_eq plain "len([r for r in L if r['method'] == 'GET' and r['path'].endswith('/blobs/${d[0]}')]) in (1, 2)" true
	run --separate-stderr capsa cache verify
	assert_success
}

# push_as LAYOUT REPO: push a test layout to the plain registry as REPO:latest.
push_as() {
	skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
		"oci:$REG_DIR/layouts/$1:latest" "docker://$CAPSA_REGISTRY_PLAIN/$2:latest"
}

@test "import --store: a stored image costs one manifest request; a moved tag imports anew; an unreachable registry falls back" {
	local first second
	push_as multilayer moving
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store "docker://$FP#moving:latest"
	assert_success
	first=$output
	[[ $first == "$CACHE/images/sha256/"*.sqsh ]] || { echo "path: $first" >&2; false; }
	diff <(expected multilayer) <(dump_image "$first" | grep -v $'^/fx/work dir\t')
	# Again: one manifest request, no blob, the same file.
	: >"$REG_DIR/fp/plain.log"
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store "docker://$FP#moving:latest"
	assert_success
	[ "$output" = "$first" ]
	plog_eq plain "len([r for r in L if '/manifests/' in r['path']])" 1
	plog_eq plain "len([r for r in L if '/blobs/' in r['path']])" 0
	# The tag moves: the new image is imported beside the old one.
	push_as busybox moving
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store "docker://$FP#moving:latest"
	assert_success
	second=$output
	[ "$second" != "$first" ] && [ -f "$first" ]
	diff <(expected busybox) <(dump_image "$second")
	# The registry is down (503 on every try): the image stored for the tag, with a warning.
	rules plain '[{"path": "/manifests/", "action": "status", "status": 503}]'
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store "docker://$FP#moving:latest"
	assert_success
	[ "$output" = "$second" ]
	[[ $stderr == *"[WARN]"*"503"*"using the image stored for"* ]] || { echo "$stderr" >&2; false; }
	# ... unless switched off; and an unknown tag never falls back.
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y CAPSA_STORE_OFFLINE=n import --store "docker://$FP#moving:latest"
	assert_error "503"
	rules plain '[]'
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store "docker://$FP#nosuchrepo:latest"
	assert_failure
	# cache list shows the stored images, prune removes them.
	run --separate-stderr capsa cache list
	assert_success
	[ "$(grep -c ' image$' <<<"$output")" -eq 2 ] || { echo "$output" >&2; false; }
	run --separate-stderr capsa cache prune
	assert_success
	assert_not_exists "$first"
	assert_not_exists "$second"
}

@test "import --store --digest [--adopt FILE]: no registry request; a received image is moved into the store" {
	local digest stored
	push_as busybox adopted
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import -o "$T/received.sqsh" "docker://$FP#adopted:latest"
	assert_success
	cp "$T/received.sqsh" "$T/copy.sqsh"
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y digest "docker://$FP#adopted:latest"
	assert_success
	digest=$output
	stored=$CACHE/images/sha256/${digest#sha256:}.sqsh
	: >"$REG_DIR/fp/plain.log"
	# Not stored, nothing to adopt: an error, and no request.
	run --separate-stderr capsa CAPSA_ALLOW_HTTP=y import --store --digest "$digest" "docker://$FP#adopted:latest"
	assert_error "image $digest is not in the image store"
	# A file that is not an image is refused and left alone; so is a bad digest.
	echo junk >"$T/junk"
	run --separate-stderr capsa import --store --digest "$digest" --adopt "$T/junk" "docker://$FP#adopted:latest"
	assert_error "invalid image format"
	assert_exists "$T/junk"
	run --separate-stderr capsa import --store --digest sha256:nothex --adopt "$T/received.sqsh" "docker://$FP#adopted:latest"
	assert_error "invalid image digest 'sha256:nothex'"
	assert_exists "$T/received.sqsh"
	# Adopted: moved into the store under the digest, the same bytes.
	run --separate-stderr capsa import --store --digest "$digest" --adopt "$T/received.sqsh" "docker://$FP#adopted:latest"
	assert_success
	[ "$output" = "$stored" ] || { echo "path: $output" >&2; false; }
	assert_not_exists "$T/received.sqsh"
	cmp "$T/copy.sqsh" "$stored"
	# Stored now: --digest alone finds it; adopting again keeps the stored file.
	run --separate-stderr capsa import --store --digest "$digest" "docker://$FP#adopted:latest"
	assert_success
	[ "$output" = "$stored" ]
	run --separate-stderr capsa import --store --digest "$digest" --adopt "$T/copy.sqsh" "docker://$FP#adopted:latest"
	assert_success
	assert_not_exists "$T/copy.sqsh"
	plog_eq plain "len(L)" 0
	run --separate-stderr capsa import --digest "$digest" "docker://$FP#adopted:latest"
	assert_error "--digest needs --store"
}
