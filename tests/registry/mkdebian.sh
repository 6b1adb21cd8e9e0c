#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A real distribution tree for the registry test bed: a debootstrap'ed Debian
# bookworm (minbase), pushed to the plain registry of start.sh DIR as a
# 2-layer image.
#
#   tests/registry/mkdebian.sh DIR       (after start.sh DIR; root needed for the first build)
#
# 1. The rootfs is made once with
#      debootstrap --variant=minbase --arch=amd64 bookworm ROOT $CAPSA_DEBIAN_MIRROR
#    (default http://deb.debian.org/debian, the only network used), cleaned
#    (apt archives and lists, /dev/*, bootstrap.log, host hostname/resolv.conf)
#    and packed with GNU tar (posix, numeric owners, sorted, no atime/ctime)
#    to $CAPSA_TEST_CACHE/debian-bookworm.tar.gz (default tests/tmp/cache).
#    Later runs reuse that file: delete it to debootstrap again.
# 2. DIR/layouts/debian: an OCI layout whose layer 1 is that tarball as is and
#    whose layer 2 (mkimages.py helpers) whites out a file (/etc/motd), a
#    directory (/usr/share/doc/apt) and /usr/bin/gunzip (the name under which
#    the tar stores the data of the hardlink pair gunzip = uncompress), makes
#    /usr/share/man opaque (with one new page), changes /etc/issue and adds
#    /etc/capsa-fixture, a setgid file and /home/debian (1000:1000, the
#    WorkingDir).  Config: Env, Cmd, WorkingDir.
# 3. DIR/expected/debian.{tsv,rc,environment,fstab} and rc.local, as
#    mkimages.py writes them (the TSV from mkimages.Tree applied to both
#    layers), and DIR/expected/debian.info (hardlink pairs, the whited-out one).
# 4. skopeo pushes it to the plain registry as debian:latest (OCI) and
#    debian:v2s2 (Docker v2s2).
#
# Exit status 77 (message on stderr) when the fixture cannot be built here:
# no cached tarball and debootstrap missing, not root, or the mirror unreachable.
set -euo pipefail

die() { printf 'mkdebian.sh: %s\n' "$*" >&2; exit 1; }
skip() { printf 'mkdebian.sh: %s\n' "$*" >&2; exit 77; }
[ $# -eq 1 ] || die "usage: mkdebian.sh DIR"
DIR=$(cd -- "$1" && pwd -P)
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/../.." && pwd -P)
[ -r "$DIR/env.sh" ] || die "$DIR/env.sh missing: run start.sh $DIR first"
# shellcheck source=/dev/null
. "$DIR/env.sh"
command -v skopeo >/dev/null || die "skopeo not installed"
PY=${CAPSA_PYTHON:-python3}

SUITE=bookworm
MIRROR=${CAPSA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${CAPSA_TEST_CACHE:-$REPO/tests/tmp/cache}
TARBALL=$CACHE/debian-$SUITE.tar.gz

# --- 1. the debootstrap tarball (cached) --------------------------------------
build_tarball() {
	command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
	[ "$(id -u)" -eq 0 ] || skip "debootstrap needs root"
	curl -fsS -o /dev/null --max-time 20 "$MIRROR/dists/$SUITE/Release" ||
		skip "the Debian mirror $MIRROR is unreachable"
	local tmp root t0 rc=0
	tmp=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
	root=$tmp/root
	t0=$(date +%s)
	printf 'mkdebian.sh: debootstrap --variant=minbase %s from %s (once; cached in %s)\n' "$SUITE" "$MIRROR" "$TARBALL"
	debootstrap --variant=minbase --arch=amd64 "$SUITE" "$root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || rc=$?
	# debootstrap mounts /proc and /sys inside while it works; never pack or
	# delete through a mount left behind.
	if grep -q " $root/" /proc/self/mounts; then
		awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
	fi
	if [ "$rc" -ne 0 ]; then
		tail -n 20 "$tmp/debootstrap.log" "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
		rm -rf --one-file-system "$tmp"
		die "debootstrap failed (status $rc)"
	fi
	# testbed.md §3: what a registry image of Debian does not carry.
	rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/cache/apt/*.bin "${root:?}"/var/lib/apt/lists/* \
		"${root:?}"/dev/* "${root:?}"/var/log/bootstrap.log "${root:?}"/debootstrap
	mkdir -p "$root"/var/lib/apt/lists/partial
	printf 'localhost\n' >"$root/etc/hostname"
	: >"$root/etc/resolv.conf"
	(cd "$root" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) >"$tmp/top"
	tar -C "$root" -cf - --numeric-owner --sort=name --xattrs --format=posix \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -T "$tmp/top" |
		gzip -n -6 >"$tmp/layer.tar.gz"
	mv -f "$tmp/layer.tar.gz" "$TARBALL"
	rm -rf --one-file-system "$tmp"
	printf 'mkdebian.sh: debootstrap and pack took %ds\n' "$(($(date +%s) - t0))"
}

mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
	command -v flock >/dev/null || die "flock not installed (util-linux)"
	exec 9>"$CACHE/.debian-$SUITE.lock"
	flock 9
	[ -s "$TARBALL" ] || build_tarball
	exec 9>&-
fi

# --- 2./3. layout and expected tree ---------------------------------------------
"$PY" - "$HERE" "$DIR" "$TARBALL" <<'PYEOF'
import gzip, hashlib, io, json, os, sys, tarfile

here, top, tarball = sys.argv[1:4]
sys.path.insert(0, here)
import mkimages as mk  # noqa: E402

with open(tarball, "rb") as f:
    blob = f.read()
raw = gzip.decompress(blob)

# Layer 1: the cached tarball as is; its entries for mkimages.Tree.
TYPE = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l",
        tarfile.LNKTYPE: "h", tarfile.FIFOTYPE: "p", tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b"}
entries, meta, inodes = [], {}, {}
with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
    for ti in tf:
        t = TYPE.get(ti.type)
        if t is None:
            sys.exit("mkdebian: unexpected tar entry type %r for %s" % (ti.type, ti.name))
        data = tf.extractfile(ti).read() if t == "f" else b""
        e = mk.E(ti.name, t, ti.mode & 0o7777, ti.uid, ti.gid, data=data, link=ti.linkname,
                 mtime=int(ti.mtime), dev=(ti.devmajor, ti.devminor))
        entries.append(e)
        name = "/".join(mk.clean(ti.name))
        meta[name] = e
        if t == "h":
            inodes.setdefault("/".join(mk.clean(ti.linkname)), []).append(name)


class Blob:
    def __init__(self, entries, blob, raw):
        self.entries, self.blob, self.kind = entries, blob, "gzip"
        self.digest, self.diff_id, self.media_type = mk.sha(blob), mk.sha(raw), mk.MT_GZIP


layer1 = Blob(entries, blob, raw)


def need(p, t):
    if p not in meta or meta[p].type != t:
        sys.exit("mkdebian: the debootstrap tree has no %s %r: rebuild the cached tarball" % (t, p))


def parents(p):
    """Directory entries for p's parents, with the metadata of the lower layer
    (what a layer diff carries)."""
    out, parts = [], p.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        q = "/".join(parts[:i])
        m = meta[q]
        out.append(mk.E(q + "/", "d", m.mode, m.uid, m.gid, mtime=m.mtime))
    return out


for p, t in (("etc/motd", "f"), ("usr/share/doc/apt", "d"), ("usr/share/man", "d"), ("etc/issue", "f"),
             ("usr/bin/passwd", "f"), ("usr/bin/su", "f")):
    need(p, t)
# Hardlinks in bookworm's /usr/bin: gunzip = uncompress, perl = perl5.36.0.
# White out the first name of the gzip pair, the one the tar stores the data
# under: the link entry (uncompress) must keep the content.
need("usr/bin/gunzip", "f")
if inodes.get("usr/bin/gunzip") != ["usr/bin/uncompress"] or "usr/bin/perl" not in inodes:
    sys.exit("mkdebian: expected the hardlinks gunzip = uncompress and perl = perl5.36.0 in /usr/bin")
hl_gone, hl_keep = "usr/bin/gunzip", "usr/bin/uncompress"

l2 = []
l2 += parents("etc/x") + [mk.E("etc/.wh.motd"),
                          mk.F("etc/capsa-fixture", "layer 2 of the capsa debian fixture\n"),
                          mk.F("etc/issue", "Debian GNU/Linux 12 (capsa fixture) \\n \\l\n\n",
                               meta["etc/issue"].mode)]
l2 += parents("usr/share/doc/x") + [mk.E("usr/share/doc/.wh.apt")]
l2 += parents("usr/share/man/x") + [mk.E("usr/share/man/.wh..wh..opq"), mk.D("usr/share/man/man1"),
                                    mk.F("usr/share/man/man1/capsa-fixture.1", ".TH CAPSA-FIXTURE 1\n")]
l2 += [mk.E(hl_gone.rsplit("/", 1)[0] + "/.wh." + hl_gone.rsplit("/", 1)[1])]
l2 += [mk.D("usr/local/bin", meta["usr/local/bin"].mode) if "usr/local/bin" in meta else mk.D("usr/local/bin"),
       mk.F("usr/local/bin/capsa-setgid", "#!/bin/sh\nid\n", 0o2755, gid=42)]
l2 += [mk.D("home/debian", 0o750, uid=1000, gid=1000),
       mk.F("home/debian/.profile", "# capsa fixture\n", uid=1000, gid=1000)]
# Sorted, parents first, each directory once (a tar of a layer diff).
seen, uniq = set(), []
for e in sorted(l2, key=lambda e: e.name.rstrip("/")):
    k = e.name.rstrip("/")
    if k not in seen:
        seen.add(k)
        uniq.append(e)
layer2 = mk.Layer(uniq)

cfg = mk.base_config({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                              "LANG=C.UTF-8", "FIXTURE=debian bookworm"],
                      "Cmd": ["/bin/bash", "-c", 'printf "%s|%s|%s\\n" "$FIXTURE" "$PWD" "$(id -u)"'],
                      "WorkingDir": "/home/debian"},
                     [("debootstrap --variant=minbase bookworm", False), ("capsa fixture changes", False),
                      ("CMD [...]", True)])
lay_dir, exp_dir = os.path.join(top, "layouts"), os.path.join(top, "expected")
os.makedirs(lay_dir, exist_ok=True)
os.makedirs(exp_dir, exist_ok=True)
lo = mk.Layout(os.path.join(lay_dir, "debian"))
lo.ref("latest", lo.image([layer1, layer2], cfg))
lo.close()
mk.write_expected(exp_dir, "debian", [layer1, layer2], cfg)
with open(os.path.join(exp_dir, "rc.local"), "w") as f:
    f.write(mk.RC_LOCAL)
with open(os.path.join(exp_dir, "debian.info"), "w") as f:
    json.dump({"hardlink_kept": "/" + hl_keep, "hardlink_whited_out": "/" + hl_gone,
               "hardlinks": sorted(["/" + s] + ["/" + d for d in ds] for s, ds in inodes.items()),
               "layers": [layer1.digest, layer2.digest], "tar_entries": len(entries)}, f, indent=1)
    f.write("\n")
PYEOF

# --- 4. push ---------------------------------------------------------------------
P=$CAPSA_REGISTRY_PLAIN
for tag in latest v2s2; do
	fmt=oci
	[ "$tag" = latest ] || fmt=v2s2
	skopeo --insecure-policy copy --quiet --retry-times 2 --dest-tls-verify=false --format "$fmt" \
		"oci:$DIR/layouts/debian:latest" "docker://$P/debian:$tag" || die "skopeo copy to $P/debian:$tag failed"
done
