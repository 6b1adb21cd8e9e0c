# The rest of this header is src/image/bundle_header.sh: it unpacks the small
# runtime payload (capsa and the configuration it was built with) into a
# private directory and hands over to `capsa __bundle-run`, which starts the
# squashfs image in place (or extracts it with -k/-x) and removes the
# directory when the container exits.
set -u
umask 077

die() {
	printf '[ERROR] %s\n' "$*" >&2
	[ -z "${tmp:-}" ] || rm -rf -- "$tmp"
	exit 1
}

payload() {
	tail -c "+$(($1 + 1))" -- "$self" | head -c "$2"
}

case $0 in
/*) self=$0 ;;
*) self=$PWD/$0 ;;
esac
[ -f "$self" ] || die "cannot find this bundle's own file ($0): run it by its path"
tmpbase=${CAPSA_TEMP_PATH:-${ENROOT_TEMP_PATH:-${TMPDIR:-/tmp}}}
tmp=$(mktemp -d "$tmpbase/capsa-bundle.XXXXXXXXXX") ||
	die "cannot create a directory in $tmpbase: point TMPDIR (or CAPSA_TEMP_PATH) at a writable directory"
if [ "$runtime_sha256" != 0 ]; then
	sum=$(payload "$runtime_offset" "$runtime_size" | sha256sum) || die "sha256sum is needed to check this bundle"
	[ "${sum%% *}" = "$runtime_sha256" ] || die "Checksum validation failed: $self is corrupt"
fi
payload "$runtime_offset" "$runtime_size" | tar -xzf - -C "$tmp" ||
	die "failed to unpack the capsa runtime from $self (truncated download?)"
capsa=$tmp/bin/capsa
"$capsa" version >/dev/null 2>&1 && "$tmp/bin/capsa-image" version >/dev/null 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
	# 126: not executable there, typically a noexec /tmp on a cluster node.
	[ "$rc" -ne 126 ] || why="$tmpbase does not allow running programs (noexec): point TMPDIR or CAPSA_TEMP_PATH elsewhere"
	missing=$(ldd "$capsa" "$tmp/bin/capsa-image" 2>/dev/null | awk '/not found/ { printf "%s ", $1 }')
	capsa=$(command -v capsa) ||
		die "${why:-the capsa in this bundle cannot run on this host (missing: ${missing:-see ldd})} and no capsa is installed"
fi
exec "$capsa" __bundle-run --bundle "$self" --runtime-dir "$tmp" --target "$target" \
	--description "$description" --compression "$compression" --runtime-version "$runtime_version" \
	--uncompressed-kb "$uncompressed_kb" --image-offset "$image_offset" --image-size "$image_size" \
	--image-sha256 "$image_sha256" -- "$@"
exit 1
