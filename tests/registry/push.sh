#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the fixtures (mkimages.py, unless DIR/layouts exists; --rebuild forces
# it) and push them with skopeo to the test bed started by start.sh DIR.
#
#   tests/registry/push.sh [--rebuild] DIR
#
# Plain registry (http://$CAPSA_REGISTRY_PLAIN):
#   busybox:latest          Docker v2s2        library/busybox:latest   v2s2
#   busybox:oci             OCI manifest       team/sub/busybox:1.35    v2s2
#   multilayer:latest       OCI                multilayer:v2s2          v2s2
#   multilayer-chardev:latest OCI (has a char device 1:3)
#   pathescape:latest       OCI                zstd:latest              OCI, gzip+zstd+tar layers
#   multiarch:latest        OCI index (amd64, arm64/v8)
#   multiarch:list          Docker manifest list made from it (skopeo --all --format v2s2)
#   baddigest:latest        OCI; its layer blob in the registry store has one byte flipped
#                           (gzip header MTIME: still a valid gzip of the same tar, wrong sha256)
# Auth registries (shared storage: push via Basic $CAPSA_REGISTRY_BASIC, pull via it or
# Bearer $CAPSA_REGISTRY_TOKEN):
#   busybox:latest, private/busybox:latest (v2s2)
#
# Writes DIR/refs.tsv: "REGISTRY/NAME:TAG <TAB> manifest digest", one line per push.
set -euo pipefail

die() { printf 'push.sh: %s\n' "$*" >&2; exit 1; }
REBUILD=
[ "${1-}" = --rebuild ] && { REBUILD=1; shift; }
[ $# -eq 1 ] || die "usage: push.sh [--rebuild] DIR"
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
[ -r "$DIR/env.sh" ] || die "$DIR/env.sh missing: run start.sh $DIR first"
# shellcheck source=/dev/null
. "$DIR/env.sh"
command -v skopeo >/dev/null || die "skopeo not installed"
PY=${CAPSA_PYTHON:-python3}

if [ -n "$REBUILD" ] || [ ! -s "$DIR/fixtures.json" ]; then
	"$PY" "$HERE/mkimages.py" "$DIR"
fi
L=$DIR/layouts
P=$CAPSA_REGISTRY_PLAIN
S=$CAPSA_REGISTRY_BASIC
mkdir -p "$DIR/digests"
: >"$DIR/refs.tsv"

# copy SRC-LAYOUT:REF DEST-REPO:TAG [skopeo copy options...]
copy() {
	local src=$1 dst=$2 df
	shift 2
	df=$DIR/digests/$(printf '%s' "$dst" | tr '/:' '__')
	local tls=(--dest-tls-verify=false)
	case $dst in
	"$S"/*) tls=(--dest-cert-dir "$CAPSA_REGISTRY_CERT_DIR" --dest-creds "$CAPSA_REGISTRY_USER:$CAPSA_REGISTRY_PASSWORD") ;;
	esac
	skopeo --insecure-policy copy --quiet --retry-times 2 "${tls[@]}" --digestfile "$df" "$@" \
		"oci:$L/$src" "docker://$dst" || die "skopeo copy oci:$L/$src docker://$dst failed"
	printf '%s\t%s\n' "$dst" "$(cat "$df")" >"$df.tsv"
}

# Busybox first (its blob is reused by multilayer and zstd), then the rest in
# parallel batches; a failed job fails the script.
copy busybox:latest "$P/busybox:latest" --format v2s2
copy busybox:latest "$S/busybox:latest" --format v2s2
pids=()
copy busybox:latest "$P/library/busybox:latest" --format v2s2 & pids+=($!)
copy busybox:latest "$P/busybox:oci" --format oci & pids+=($!)
copy busybox:latest "$P/team/sub/busybox:1.35" --format v2s2 & pids+=($!)
copy busybox:latest "$S/private/busybox:latest" --format v2s2 & pids+=($!)
copy multilayer:latest "$P/multilayer:latest" --format oci & pids+=($!)
copy pathescape:latest "$P/pathescape:latest" --format oci & pids+=($!)
copy zstd:latest "$P/zstd:latest" --preserve-digests & pids+=($!)
copy multiarch:latest "$P/multiarch:latest" --all --preserve-digests & pids+=($!)
copy baddigest:latest "$P/baddigest:latest" --format oci & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || die "a push failed"; done
pids=()
copy multilayer:latest "$P/multilayer:v2s2" --format v2s2 & pids+=($!)
copy multilayer-chardev:latest "$P/multilayer-chardev:latest" --format oci & pids+=($!)
copy multiarch:latest "$P/multiarch:list" --all --format v2s2 & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || die "a push failed"; done
cat "$DIR"/digests/*.tsv | sort >"$DIR/refs.tsv"

# Corrupt the baddigest layer in the plain registry's store.  distribution
# verifies digests on upload (a PUT with a mismatching ?digest= gets 400
# DIGEST_INVALID), but serves stored blobs without re-hashing them, so the
# bytes are changed on disk.  Byte 4 is the first byte of the gzip MTIME
# field (0 from Python's gzip): the blob still decompresses to the same tar,
# so only a digest check can catch it.
hex=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["baddigest"]["layers"][0]["digest"][7:])' \
	"$DIR/fixtures.json")
data=$CAPSA_REGISTRY_STORAGE_PLAIN/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
[ -f "$data" ] || die "baddigest blob not found in the store: $data"
if [ "$(sha256sum <"$data" | cut -d' ' -f1)" = "$hex" ]; then
	printf '\001' | dd of="$data" bs=1 seek=4 count=1 conv=notrunc status=none
fi
[ "$(sha256sum <"$data" | cut -d' ' -f1)" != "$hex" ] || die "could not corrupt $data"
