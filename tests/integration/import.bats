# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# capsa import / digest / cache against real docker-registry instances on
# 127.0.0.1 (tests/registry): plain HTTP, TLS + Basic, TLS + Bearer.

load helpers

setup_file() {
	registry_bed_start import zstd
	[ -n "$REG_SKIP" ] && return 0
	"$REG/push.sh" "$REG_DIR" >&3 2>&1
	chmod -R a+rX "$REG_DIR"
}

teardown_file() { registry_bed_stop; }

setup() { registry_bed_setup; }

teardown() { capsa_teardown; }

# dump_image SQSH: the tree as TSV, without enroot's four image files.
dump_image() { python3 "$REG/tree_dump.py" --enroot --squashfs "$1"; }
expected() { python3 "$REG/tree_dump.py" --tsv "$EXP/$1.tsv"; }

import_plain() { capsa_env CAPSA_ALLOW_HTTP=y import "$@"; }

@test "import docker://: the default output name and the exact tree of the image" {
	run --separate-stderr import_plain "docker://$PLAIN#busybox:latest"
	assert_success
	assert_exists "$WORK/busybox+latest.sqsh"
	diff <(expected busybox) <(dump_image "$WORK/busybox+latest.sqsh")
	# /etc/rc is enroot's, byte for byte after the provenance line.
	diff <(tail -n +2 "$EXP/busybox.rc") <(unsquashfs -cat "$WORK/busybox+latest.sqsh" /etc/rc | tail -n +2)
	unsquashfs -cat "$WORK/busybox+latest.sqsh" /etc/rc | head -1 | grep -qx "# enroot-provenance: docker://$PLAIN#busybox:latest"
}

@test "import: multi-layer OCI and Docker v2s2 images (whiteouts, opaque dirs, links, owners, config files)" {
	local tag
	for tag in latest v2s2; do
		run --separate-stderr import_plain -o "$T/ml-$tag.sqsh" "docker://$PLAIN#multilayer:$tag"
		assert_success
		# The WORKDIR is created on top of the layers, as enroot does.
		diff <(expected multilayer) <(dump_image "$T/ml-$tag.sqsh" | grep -v $'^/fx/work dir\t')
		diff "$EXP/multilayer.environment" <(unsquashfs -cat "$T/ml-$tag.sqsh" /etc/environment)
		diff "$EXP/multilayer.fstab" <(unsquashfs -cat "$T/ml-$tag.sqsh" /etc/fstab)
		diff <(tail -n +2 "$EXP/multilayer.rc") <(unsquashfs -cat "$T/ml-$tag.sqsh" /etc/rc | tail -n +2)
	done
}

@test "import: per-layer and squashfs progress bars on a terminal, none otherwise" {
	command -v script >/dev/null || skip "script(1) not installed"
	run --separate-stderr import_plain -o "$T/quiet.sqsh" "docker://$PLAIN#multilayer:latest"
	assert_success
	[[ $stderr != *$'\033['* && $stderr != *'[#'* ]] || { echo "progress drawn without a terminal: $stderr" >&2; false; }
	local -a _cmd
	_capsa_cmd user CAPSA_ALLOW_HTTP=y CAPSA_CACHE_PATH="$T/cache2" -- import -o "$T/tty.sqsh" "docker://$PLAIN#multilayer:latest"
	_cmd=(timeout --foreground "${_cmd[@]:1}")
	(cd "$WORK" && SHELL=/bin/sh timeout 60 script -qec "$(printf '%q ' "${_cmd[@]}")" /dev/null) >"$T/tty.out" 2>&1
	cat -v "$T/tty.out"
	assert_exists "$T/tty.sqsh"
	grep -q '^.*squashfs *\[#\{30\}\] 100%' "$T/tty.out"
	local digest
	for digest in $(skopeo inspect --tls-verify=false --raw "docker://$PLAIN/multilayer:latest" | jq -r '.layers[].digest'); do
		grep -q "${digest:7:12} *\[#\{30\}\] 100%" "$T/tty.out" || { echo "no full bar for $digest" >&2; false; }
	done
}

@test "import: gzip, zstd and plain layers; the image starts and runs its command" {
	run --separate-stderr import_plain -o "$T/zstd.sqsh" "docker://$PLAIN#zstd:latest"
	assert_success
	diff <(expected zstd) <(dump_image "$T/zstd.sqsh")
	capsa_chown "$T/zstd.sqsh"
	run capsa create -n zstd "$T/zstd.sqsh"
	assert_success
	run --separate-stderr capsa start zstd
	assert_success
	[ "${#lines[@]}" -eq 2 ] || { echo "expected the two hello files: $output" >&2; false; }
}

@test "import: hostile layers write nothing outside the image" {
	rm -rf /tmp/capsa-escape
	run --separate-stderr import_plain -o "$T/esc.sqsh" "docker://$PLAIN#pathescape:latest"
	[ ! -e /tmp/capsa-escape ] || { echo "/tmp/capsa-escape was created" >&2; false; }
	if [ "$status" -eq 0 ]; then
		! unsquashfs -lln "$T/esc.sqsh" | grep -q 'squashfs-root/\.\./'
	else
		assert_error
		assert_not_exists "$T/esc.sqsh"
	fi
}

@test "import -a: platform selection from an OCI index and a Docker manifest list" {
	local tag
	for tag in latest list; do
		run --separate-stderr import_plain -a arm64 -o "$T/arm-$tag.sqsh" "docker://$PLAIN#multiarch:$tag"
		assert_success
		diff <(expected multiarch-arm64) <(dump_image "$T/arm-$tag.sqsh")
		run --separate-stderr import_plain -a x86_64 -o "$T/amd-$tag.sqsh" "docker://$PLAIN#multiarch:$tag"
		assert_success
		diff <(expected multiarch-amd64) <(dump_image "$T/amd-$tag.sqsh")
	done
	run --separate-stderr import_plain -a aarch64 -o "$T/a64.sqsh" "docker://$PLAIN#multiarch:latest"
	assert_success
	run --separate-stderr import_plain -a sparc -o "$T/x.sqsh" "docker://$PLAIN#multiarch:latest"
	assert_error "architecture"
	assert_not_exists "$T/x.sqsh"
}

@test "import: a blob that does not match its digest is refused and nothing is cached or written" {
	run --separate-stderr import_plain -o "$T/bad.sqsh" "docker://$PLAIN#baddigest:latest"
	assert_error "mismatch"
	assert_not_exists "$T/bad.sqsh"
	[ -z "$(find "$CACHE" -type f -path '*blobs*' -size +1k 2>/dev/null | head -1)" ] || {
		echo "a layer blob was cached:" >&2
		find "$CACHE" -type f >&2
		false
	}
	[ -z "$(ls -A "$CACHE/tmp" 2>/dev/null)" ]
}

# mk_two_layer_layout DIR: an OCI layout "bad" of two fresh gzip layers
# (MTIME 0 in their gzip headers), made here so corrupting one in the
# registry store touches no other fixture.
mk_two_layer_layout() {
	python3 - "$1" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open("%s/blobs/sha256/%s" % (out, d), "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def layer(name, size):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(name); info.size = size
        t.addfile(info, io.BytesIO(os.urandom(size)))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)
layers = [layer("bottom.bin", 3 << 20), layer("top.bin", 3 << 20)]
descs = [dict(blob(gz), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for _, gz in layers]
cfg = {"architecture": "amd64", "os": "linux", "config": {},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest() for raw, _ in layers]}}
cdesc = dict(blob(json.dumps(cfg).encode()), mediaType="application/vnd.oci.image.config.v1+json")
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": cdesc, "layers": descs}).encode()
mdesc = dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json",
             annotations={"org.opencontainers.image.ref.name": "bad"})
json.dump({"schemaVersion": 2, "manifests": [mdesc]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
print(descs[0]["digest"][7:])
PY
}

@test "import: a corrupt lower layer fails even when the merge read it while downloading; nothing published" {
	local hex data
	hex=$(mk_two_layer_layout "$T/layout")
	skopeo --insecure-policy copy -q "oci:$T/layout:bad" "docker://$PLAIN/badtwo:latest" --dest-tls-verify=false
	data=$CAPSA_REGISTRY_STORAGE_PLAIN/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	printf '\001' | dd of="$data" bs=1 seek=4 count=1 conv=notrunc status=none
	run --separate-stderr import_plain -o "$T/badtwo.sqsh" "docker://$PLAIN#badtwo:latest"
	assert_error "sha256:$hex"
	assert_not_exists "$T/badtwo.sqsh"
	run ls -A "$T"
	[[ $output != *badtwo.sqsh* ]] || { echo "a temporary was left: $output" >&2; false; }
	assert_not_exists "$CACHE/blobs/sha256/$hex"
	[ -z "$(ls -A "$CACHE/tmp")" ] || { ls -la "$CACHE/tmp" >&2; false; }
}

@test "import: the cache makes a second import download nothing; cache list and prune" {
	local log=$REG_DIR/logs/plain.log before
	run --separate-stderr import_plain -o "$T/one.sqsh" "docker://$PLAIN#busybox:latest"
	assert_success
	before=$(grep -c '"GET /v2/busybox/blobs/' "$log")
	run --separate-stderr import_plain -o "$T/two.sqsh" "docker://$PLAIN#busybox:latest"
	assert_success
	[[ $stderr == *"Found all layers in cache"* ]] || { echo "$stderr" >&2; false; }
	# Neither a layer nor the config is fetched again: only the manifest.
	[ "$(grep -c '"GET /v2/busybox/blobs/' "$log")" = "$before" ] || { tail -5 "$log" >&2; false; }
	cmp "$T/one.sqsh" "$T/two.sqsh" || diff <(dump_image "$T/one.sqsh") <(dump_image "$T/two.sqsh")
	run --separate-stderr capsa cache list
	assert_success
	[[ $output == sha256:* ]] || { echo "no entry listed: $output" >&2; false; }
	run --separate-stderr capsa cache verify
	assert_success
	run --separate-stderr capsa cache prune
	assert_success
	run --separate-stderr capsa cache list
	assert_output_eq ""
}

@test "import: bad input gives a clear error and leaves nothing" {
	: >"$WORK/exists.sqsh"
	capsa_chown "$WORK/exists.sqsh"
	run --separate-stderr import_plain -o "$WORK/exists.sqsh" "docker://$PLAIN#busybox:latest"
	assert_error "already exists"
	[ ! -s "$WORK/exists.sqsh" ]
	run --separate-stderr import_plain "docker://$PLAIN#Busy Box"
	assert_error "invalid image reference"
	run --separate-stderr import_plain -o "$T/nope.sqsh" "docker://$PLAIN#no/such:image"
	assert_error "404"
	assert_not_exists "$T/nope.sqsh"
	# Without ALLOW_HTTP capsa insists on https.
	run --separate-stderr capsa import -o "$T/https.sqsh" "docker://$PLAIN#busybox:latest"
	assert_failure
	assert_not_exists "$T/https.sqsh"
}

@test "import over TLS with Basic auth: credentials from .credentials, CA from SSL_CERT_FILE" {
	local ref="docker://$CAPSA_REGISTRY_BASIC#private/busybox:latest"
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/anon.sqsh" "$ref"
	assert_failure
	assert_not_exists "$T/anon.sqsh"
	printf 'machine 127.0.0.1 login %s password %s\n' "$CAPSA_REGISTRY_USER" "$CAPSA_REGISTRY_PASSWORD" \
		>"$CONFIG/.credentials"
	chmod 0600 "$CONFIG/.credentials"
	capsa_chown "$CONFIG/.credentials"
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/basic.sqsh" "$ref"
	assert_success
	diff <(expected busybox) <(dump_image "$T/basic.sqsh")
	# Without the CA the error says how to provide it.
	run --separate-stderr capsa import -o "$T/noca.sqsh" "$ref"
	assert_error "SSL_CERT_FILE"
}

@test "import over TLS with Bearer tokens: anonymous public pull, private needs credentials" {
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/pub.sqsh" \
		"docker://$CAPSA_REGISTRY_TOKEN#busybox:latest"
	assert_success
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/priv.sqsh" \
		"docker://$CAPSA_REGISTRY_TOKEN#private/busybox:latest"
	assert_failure
	assert_not_exists "$T/priv.sqsh"
	printf 'machine 127.0.0.1 login %s password %s\n' "$CAPSA_REGISTRY_USER" "$CAPSA_REGISTRY_PASSWORD" \
		>"$CONFIG/.credentials"
	chmod 0600 "$CONFIG/.credentials"
	capsa_chown "$CONFIG/.credentials"
	run --separate-stderr capsa_env SSL_CERT_FILE="$CAPSA_REGISTRY_CA" import -o "$T/priv.sqsh" \
		"docker://$CAPSA_REGISTRY_TOKEN#private/busybox:latest"
	assert_success
	diff <(expected busybox) <(dump_image "$T/priv.sqsh")
}

@test "digest prints the platform manifest digest" {
	local want
	want=$(awk -v r="$PLAIN/busybox:latest" '$1 == r { print $2 }' "$REG_DIR/refs.tsv")
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y digest "docker://$PLAIN#busybox:latest"
	assert_success
	assert_output_eq "$want"
}

@test "load: import and create in one step; the container starts; -f replaces" {
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y load "docker://$PLAIN#zstd:latest"
	assert_success
	[ -d "$DATA/zstd+latest" ] || { ls "$DATA" >&2; false; }
	run --separate-stderr capsa start zstd+latest
	assert_success
	[ "${#lines[@]}" -eq 2 ] || { echo "$output" >&2; false; }
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y load --name zstd+latest "docker://$PLAIN#busybox:latest"
	assert_error "already exists"
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y load -f -n zstd+latest "docker://$PLAIN#busybox:latest"
	assert_success
	[ -x "$DATA/zstd+latest/bin/busybox" ]
	# No temporary image is left behind.
	[ -z "$(find "$T/tmp" -name 'capsa-load.*' 2>/dev/null)" ]
}

@test "import oci://DIR[:NAME]: an OCI layout on disk, verified blob by blob" {
	run --separate-stderr capsa import -o "$T/ml.sqsh" "oci://$REG_DIR/layouts/multilayer"
	assert_success
	diff <(expected multilayer) <(dump_image "$T/ml.sqsh" | grep -v $'^/fx/work dir\t')
	run --separate-stderr capsa import -a arm64 -o "$T/arm.sqsh" "oci://$REG_DIR/layouts/multiarch:latest"
	assert_success
	diff <(expected multiarch-arm64) <(dump_image "$T/arm.sqsh")
	run --separate-stderr capsa import -o "$T/x.sqsh" "oci://$REG_DIR/layouts/multiarch"
	assert_error "name one"
	# A tampered layer blob is caught before anything is written.
	cp -a "$REG_DIR/layouts/zstd" "$T/zstd"
	local blob
	blob=$(find "$T/zstd/blobs/sha256" -type f -size +1k | head -1)
	printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
	capsa_chown "$T/zstd"
	run --separate-stderr capsa import -o "$T/tampered.sqsh" "oci://$T/zstd"
	assert_error "mismatch"
	assert_not_exists "$T/tampered.sqsh"
	run --separate-stderr capsa import -o "$T/none.sqsh" "oci://$T/no-such-dir"
	assert_error "no OCI image layout"
}

@test "import oci:// and docker-archive://: each layer is read through the fd that verified it, never reopened" {
	command -v strace >/dev/null || skip "strace is not installed"
	local -a _cmd
	local blob n uses lay=$REG_DIR/layouts/multilayer
	_capsa_cmd user "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" -- import -o "$T/ml.sqsh" "oci://$lay"
	run strace -f -qq -e trace=open,openat -e signal=none -o "$T/open.log" "${_cmd[@]}"
	assert_success
	diff <(expected multilayer) <(dump_image "$T/ml.sqsh" | grep -v $'^/fx/work dir\t')
	# One open per use of a blob (a layer may be used twice by a manifest).
	for blob in "$lay"/blobs/sha256/*; do
		n=$(grep -c "${blob##*/}\"" "$T/open.log" || true)
		uses=$(cat "$lay/index.json" "$lay"/blobs/sha256/* | grep -ao "sha256:${blob##*/}" | wc -l)
		[ "$n" -le "$uses" ] || { echo "$uses uses" >&2; grep "${blob##*/}" "$T/open.log" >&2; false; }
	done
	# An unpacked (compressed) docker save: its layer tars likewise.
	skopeo --insecure-policy copy -q "oci:$REG_DIR/layouts/multilayer:latest" "docker-archive:$T/ml-docker.tar:ml:v1"
	gzip "$T/ml-docker.tar"
	capsa_chown "$T/ml-docker.tar.gz"
	_capsa_cmd user "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" -- import -o "$T/dk.sqsh" "docker-archive://$T/ml-docker.tar.gz"
	run strace -f -qq -e trace=open,openat -e signal=none -o "$T/open2.log" "${_cmd[@]}"
	assert_success
	diff <(expected multilayer) <(dump_image "$T/dk.sqsh" | grep -v $'^/fx/work dir\t')
	# Opened exactly as often as manifest.json lists them.
	diff <(tar -xzOf "$T/ml-docker.tar.gz" manifest.json | grep -o '[0-9a-f]\{64\}\.tar' | sort) \
		<(grep -o 'capsa-archive\.[^/]*/[0-9a-f]\{64\}\.tar' "$T/open2.log" | sed 's,.*/,,' | sort)
}

@test "import oci-archive:// and docker-archive:// (docker save) files" {
	tar -C "$REG_DIR/layouts/multilayer" -cf "$T/ml-oci.tar" .
	skopeo --insecure-policy copy -q "oci:$REG_DIR/layouts/multilayer:latest" "docker-archive:$T/ml-docker.tar:ml:v1"
	capsa_chown "$T/ml-oci.tar" "$T/ml-docker.tar"
	# Plain tars are read in place: nothing goes to TEMP_PATH (made unusable).
	run --separate-stderr capsa CAPSA_TEMP_PATH=/nonexistent import -o "$T/a.sqsh" "oci-archive://$T/ml-oci.tar"
	assert_success
	diff <(expected multilayer) <(dump_image "$T/a.sqsh" | grep -v $'^/fx/work dir\t')
	run --separate-stderr capsa CAPSA_TEMP_PATH=/nonexistent import -o "$T/b.sqsh" "docker-archive://$T/ml-docker.tar:ml:v1"
	assert_success
	diff <(expected multilayer) <(dump_image "$T/b.sqsh" | grep -v $'^/fx/work dir\t')
	# A compressed one is unpacked to TEMP_PATH first, then removed.
	gzip -c "$T/ml-oci.tar" >"$T/ml-oci.tar.gz"
	capsa_chown "$T/ml-oci.tar.gz"
	run --separate-stderr capsa import -o "$T/gz.sqsh" "oci-archive://$T/ml-oci.tar.gz"
	assert_success
	[[ $stderr == *"Unpacking"* ]] || { echo "$stderr" >&2; false; }
	diff <(expected multilayer) <(dump_image "$T/gz.sqsh" | grep -v $'^/fx/work dir\t')
	[ -z "$(ls -A "$T/tmp")" ] || { ls -la "$T/tmp" >&2; false; }
	# Default name from the file; no temporary tree is left behind.
	run --separate-stderr capsa import "docker-archive://$T/ml-docker.tar"
	assert_success
	assert_exists "$WORK/ml-docker.sqsh"
	[ -z "$(find "$T/tmp" -maxdepth 1 -name 'capsa-archive.*')" ]
	run --separate-stderr capsa import -o "$T/c.sqsh" "docker-archive://$T/ml-docker.tar:other:tag"
	assert_error "no image tagged"
	# An entry that would land outside is refused.
	mkdir -p "$T/evil" && printf '{}' >"$T/evil/index.json"
	tar -C "$T/evil" -cf "$T/evil.tar" index.json --transform 's,^,../,'
	capsa_chown "$T/evil.tar"
	run --separate-stderr capsa import -o "$T/d.sqsh" "oci-archive://$T/evil.tar"
	assert_error "unexpected entry"
	assert_not_exists "$T/d.sqsh"
}

@test "import: CAPSA_REGISTRY_MIRROR sends Docker Hub (or a named registry) to a site mirror" {
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y CAPSA_REGISTRY_MIRROR="$PLAIN" import docker://busybox:latest
	assert_success
	assert_exists "$WORK/busybox+latest.sqsh"
	diff <(expected busybox) <(dump_image "$WORK/busybox+latest.sqsh")
	# The image keeps its identity: provenance names Docker Hub.
	unsquashfs -cat "$WORK/busybox+latest.sqsh" /etc/rc | head -1 |
		grep -qx "# enroot-provenance: docker://registry-1.docker.io#library/busybox:latest"
	run --separate-stderr capsa_env CAPSA_ALLOW_HTTP=y CAPSA_REGISTRY_MIRROR="nvcr.io=$PLAIN" \
		import -o "$T/n.sqsh" docker://nvcr.io#team/sub/busybox:1.35
	assert_success
	diff <(expected busybox) <(dump_image "$T/n.sqsh")
}

@test "import podman://IMAGE through podman save (real podman, as root)" {
	command -v podman >/dev/null || skip "podman is not installed"
	require_root
	podman pull -q --tls-verify=false "$PLAIN/busybox:latest" >/dev/null
	run --separate-stderr capsa_as_root import -o "$T/pm.sqsh" "podman://$PLAIN/busybox:latest"
	assert_success
	diff <(expected busybox) <(dump_image "$T/pm.sqsh")
	unsquashfs -cat "$T/pm.sqsh" /etc/rc | head -1 | grep -qx "# enroot-provenance: podman://$PLAIN/busybox:latest"
	run --separate-stderr capsa_as_root import -o "$T/none.sqsh" "podman://$PLAIN/no-such-image:x"
	assert_error "podman save"
	assert_not_exists "$T/none.sqsh"
}

@test "import dockerd://IMAGE without a running daemon is a clear error" {
	run --separate-stderr capsa import -o "$T/dk.sqsh" "dockerd://busybox:latest"
	assert_error
	[[ $stderr == *"docker' is not installed"* || $stderr == *"docker save busybox:latest failed"* ]] || {
		echo "unclear error: $stderr" >&2
		false
	}
	assert_not_exists "$T/dk.sqsh"
	[ -z "$(find "$T/tmp" -maxdepth 1 -name 'capsa-archive.*')" ]
	run --separate-stderr capsa import "dockerd://bad name"
	assert_error "invalid image reference"
}

@test "import: two imports to one output: one wins, the other fails cleanly, no partial file" {
	capsa_bg "$T/a.out" CAPSA_ALLOW_HTTP=y import -o "$T/same.sqsh" "docker://$PLAIN#multilayer:latest"
	local a=$BG_PID
	capsa_bg "$T/b.out" CAPSA_ALLOW_HTTP=y import -o "$T/same.sqsh" "docker://$PLAIN#multilayer:latest"
	local b=$BG_PID ra=0 rb=0
	wait_bg "$a" || ra=$?
	wait_bg "$b" || rb=$?
	# Exactly one succeeds; the other says why.
	[ $((ra == 0)) -ne $((rb == 0)) ] || { cat "$T/a.out" "$T/b.out" >&2; false; }
	grep -qh "already exists" "$T/a.out" "$T/b.out"
	diff <(expected multilayer) <(dump_image "$T/same.sqsh" | grep -v $'^/fx/work dir\t')
	[ -z "$(find "$T" -maxdepth 1 -name 'same.sqsh.*')" ]
	# Both used one cache: every blob is there once and verifies.
	run --separate-stderr capsa cache verify
	assert_success
}

@test "import: a big image and its layers leave the page cache as they go (no gigabyte of dirty pages)" {
	command -v fincore >/dev/null || skip "fincore (util-linux) is not installed"
	python3 "$BATS_TEST_DIRNAME/../../bench/mkbig.py" "$T/big" 160 >/dev/null
	sync # clean pages: a dirty one is never dropped
	capsa_chown "$T/big"
	run --separate-stderr capsa_env CAPSA_SQUASH_OPTIONS="-comp zstd -noD" import -o "$T/big.sqsh" "oci://$T/big:big"
	assert_success
	local size resident
	size=$(stat -c %s "$T/big.sqsh")
	resident=$(fincore -b -n -o RES "$T/big.sqsh" | tr -d ' ')
	echo "image $size bytes, $resident in the page cache" >&3
	[ "$size" -gt $((96 << 20)) ]
	# Two 8 MiB windows, the tail and the tables at most.
	[ "$resident" -lt $((40 << 20)) ]
	# The layers it read leave the page cache too (their last window stays).
	local blob
	blob=$(find "$T/big/blobs" -type f -size +32M | head -1)
	[ -n "$blob" ]
	resident=$(fincore -b -n -o RES "$blob" | tr -d ' ')
	[ "$resident" -lt $((24 << 20)) ]
	# What was written back and dropped reads back as the layers have it.
	mkdir "$T/ref"
	python3 -c 'import json, sys; m = json.load(open(sys.argv[1] + "/index.json"))["manifests"][0]["digest"]
print("\n".join(l["digest"][7:] for l in json.load(open(sys.argv[1] + "/blobs/sha256/" + m[7:]))["layers"]))' "$T/big" |
		while read -r d; do tar -xzf "$T/big/blobs/sha256/$d" -C "$T/ref"; done
	unsquashfs -no-progress -d "$T/tree" "$T/big.sqsh" >/dev/null
	for d in text rand mixed small zeros.bin text.txt; do diff -r "$T/ref/$d" "$T/tree/$d"; done
}
