#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Build capsa's registry test images offline (testbed.md §3).

    mkimages.py DIR            build every fixture
    mkimages.py DIR NAME...    only these fixtures (busybox is always built)

Writes, deterministically (PAX tar, mtime 1700000000, uid/gid 0 unless a test
says otherwise, gzip level 6 with mtime 0 through Python's gzip, zstd -3
through the zstd CLI):

  DIR/layouts/NAME/              OCI image layouts (blobs/sha256/<hex>, index.json,
                                 references in org.opencontainers.image.ref.name)
  DIR/expected/NAME.tsv          the final rootfs the layers must produce (OCI
                                 whiteout semantics), one line per entry:
                                 path, type, mode, uid:gid, size, sha256|target
  DIR/expected/NAME.rc           /etc/rc per enroot.md §4.6, for
                                 docker://$CAPSA_REGISTRY_PLAIN#NAME:latest (line 1 is the
                                 provenance: compare from line 2 for other refs)
  DIR/expected/NAME.environment  /etc/environment
  DIR/expected/NAME.fstab        /etc/fstab
  DIR/expected/rc.local          /etc/rc.local (the same for every image)
  DIR/fixtures.json              digests, media types and push targets, for push.sh

Fixtures: busybox, multilayer, multilayer-chardev (same plus a char device
1:3, layout only), pathescape, zstd, multiarch (OCI index amd64 + arm64/v8),
baddigest (a normal image; push.sh corrupts its layer in the registry store).

The arm64 image of `multiarch` holds a small placeholder /bin/busybox (no
arm64 busybox offline), unless CAPSA_ARM64_BUSYBOX names a real binary.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"
ESCAPE_DIR = "capsa-escape"          # the path-escape fixture aims at /tmp/capsa-escape
# the provenance line of DIR/expected/NAME.rc (push.sh sources env.sh first)
PLAIN_REGISTRY = os.environ.get("CAPSA_REGISTRY_PLAIN", "127.0.0.1:5000")

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_GZIP = MT_TAR + "+gzip"
MT_ZSTD = MT_TAR + "+zstd"


# --------------------------------------------------------------------------------------
# tar entries and layers

class E:
    """One tar entry.  type: f d l h p c."""

    def __init__(self, name, type="f", mode=None, uid=0, gid=0, data=b"", link="", mtime=MTIME,
                 xattrs=None, dev=(0, 0)):
        self.name = name
        self.type = type
        self.mode = mode if mode is not None else {"d": 0o755, "l": 0o777, "p": 0o644, "c": 0o666}.get(type, 0o644)
        self.uid, self.gid = uid, gid
        self.data = data.encode() if isinstance(data, str) else data
        self.link = link
        self.mtime = mtime
        self.xattrs = xattrs or {}
        self.dev = dev


def F(name, data="", mode=0o644, **kw):
    return E(name, "f", mode, data=data, **kw)


def D(name, mode=0o755, **kw):
    return E(name.rstrip("/") + "/", "d", mode, **kw)


def L(name, target, **kw):
    return E(name, "l", 0o777, link=target, **kw)


def H(name, target, **kw):
    return E(name, "h", 0o644, link=target, **kw)


TYPES = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
         "p": tarfile.FIFOTYPE, "c": tarfile.CHRTYPE}


def make_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = TYPES[e.type]
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.uname = ti.gname = ""
            ti.mtime = e.mtime
            if e.type in ("l", "h"):
                ti.linkname = e.link
            if e.type == "c":
                ti.devmajor, ti.devminor = e.dev
            if e.xattrs:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e.xattrs.items()}
            if e.type == "f":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def compress(data, kind):
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(["zstd", "-3", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layer:
    def __init__(self, entries, kind="gzip"):
        self.entries = entries
        self.kind = kind
        self.tar = make_tar(entries)
        self.blob = compress(self.tar, kind)
        self.diff_id = sha(self.tar)
        self.digest = sha(self.blob)
        self.media_type = {"gzip": MT_GZIP, "zstd": MT_ZSTD, "tar": MT_TAR}[kind]


# --------------------------------------------------------------------------------------
# OCI layout writer

def cjson(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Layout:
    def __init__(self, path):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(os.path.join(path, "blobs", "sha256"))
        self.path = path
        self.refs = []
        with open(os.path.join(path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data):
        d = sha(data)
        p = os.path.join(self.path, "blobs", "sha256", d[7:])
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
        return {"digest": d, "size": len(data)}

    def image(self, layers, config, platform=None):
        """Write config + manifest; returns the manifest descriptor."""
        config = dict(config)
        config["rootfs"] = {"type": "layers", "diff_ids": [ly.diff_id for ly in layers]}
        cdesc = self.blob(cjson(config))
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, **cdesc},
                    "layers": [{"mediaType": ly.media_type, **self.blob(ly.blob)} for ly in layers]}
        desc = {"mediaType": MT_OCI_MANIFEST, **self.blob(cjson(manifest))}
        if platform:
            desc["platform"] = platform
        return desc

    def index(self, descs):
        idx = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": descs}
        return {"mediaType": MT_OCI_INDEX, **self.blob(cjson(idx))}

    def ref(self, name, desc):
        d = {k: v for k, v in desc.items() if k != "platform"}
        d["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(d)

    def close(self):
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(cjson({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": self.refs}))


def base_config(cfg, history, arch="amd64", variant=None):
    c = {"created": CREATED, "architecture": arch, "os": "linux"}
    if variant:
        c["variant"] = variant
    c["config"] = cfg
    c["history"] = [dict({"created": CREATED, "created_by": h[0]}, **({"empty_layer": True} if h[1] else {}))
                    for h in history]
    return c


# --------------------------------------------------------------------------------------
# Expected rootfs: apply layers with OCI whiteout semantics

class Node:
    def __init__(self, type, mode, uid, gid, data=b"", link="", dev=(0, 0)):
        self.type, self.mode, self.uid, self.gid = type, mode, uid, gid
        self.data, self.link, self.dev = data, link, dev


def clean(name):
    """Lexical clean inside a root: '..' at the root stays at the root (securejoin)."""
    out = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return out


class Tree:
    def __init__(self):
        self.nodes = {}

    def resolve_parent(self, parts, depth=0):
        """Resolve every component but the last inside the root, following symlinks
        confined to the root (what umoci / securejoin do).  Returns a list of parts."""
        if depth > 40:
            raise ValueError("symlink loop")
        cur = []
        for i, part in enumerate(parts[:-1]):
            cand = cur + [part]
            node = self.nodes.get("/".join(cand))
            if node is not None and node.type == "l":
                base = [] if node.link.startswith("/") else cur
                target = clean("/".join(base) + "/" + node.link)
                cur = self.resolve_parent(target + ["x"], depth + 1)[:-1]
            else:
                cur = cand
        return cur + parts[-1:]

    def path(self, name):
        parts = clean(name)
        if not parts:
            return None
        return "/".join(self.resolve_parent(parts))

    def remove(self, p):
        self.nodes.pop(p, None)
        prefix = p + "/"
        for k in [k for k in self.nodes if k.startswith(prefix)]:
            del self.nodes[k]

    def ensure_parents(self, p):
        parts = p.split("/")
        for i in range(1, len(parts)):
            q = "/".join(parts[:i])
            if q not in self.nodes or self.nodes[q].type != "d":
                self.remove(q)
                self.nodes[q] = Node("d", 0o755, 0, 0)

    def apply(self, entries):
        whiteouts, opaques, regular = [], [], []
        for e in entries:
            base = e.name.rstrip("/").rsplit("/", 1)[-1]
            if base == ".wh..wh..opq":
                opaques.append(e)
            elif base.startswith(".wh."):
                whiteouts.append(e)
            else:
                regular.append(e)
        # whiteouts apply to the lower layers only: first, before this layer's entries
        for e in opaques:
            p = self.path(e.name)
            d = p.rsplit("/", 1)[0] if "/" in p else ""
            for k in [k for k in self.nodes if d == "" or k.startswith(d + "/")]:
                del self.nodes[k]
        for e in whiteouts:
            p = self.path(e.name)
            head, _, base = p.rpartition("/")
            self.remove((head + "/" if head else "") + base[4:])
        for e in regular:
            p = self.path(e.name)
            if p is None:
                continue
            old = self.nodes.get(p)
            if e.type == "h":
                src = self.nodes[self.path(e.link)]
                node = src  # same inode: same metadata and content
            else:
                node = Node(e.type, e.mode, e.uid, e.gid, e.data, e.link, e.dev)
            if old is not None and not (old.type == "d" and node.type == "d"):
                self.remove(p)
            self.ensure_parents(p)
            self.nodes[p] = node

    def tsv(self):
        lines = []
        for p in sorted(self.nodes, key=lambda s: s.encode()):
            n = self.nodes[p]
            lines.append(tsv_line("/" + p, n.type, n.mode, n.uid, n.gid, n.data, n.link, n.dev))
        return "".join(lines)


def tsv_escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def tsv_line(path, type, mode, uid, gid, data=b"", link="", dev=(0, 0)):
    """The format tree_dump.py prints too."""
    if type == "l":
        mode, size, last = 0o777, "-", tsv_escape(link)
    elif type == "f":
        size, last = str(len(data)), hashlib.sha256(data).hexdigest()
    elif type in ("c", "b"):
        size, last = "-", "%d,%d" % dev
    else:
        size, last = "-", "-"
    return "%s\t%s\t%04o\t%d:%d\t%s\t%s\n" % (tsv_escape(path), type, mode & 0o7777, uid, gid, size, last)


# --------------------------------------------------------------------------------------
# enroot image configuration files (enroot.md §4.6), rc quoting by bash ${x@Q}

RC_SCRIPT = r'''
workdir=$1 ne=$2; shift 2
entrypoint=("${@:1:ne}"); cmd=("${@:ne+1}")
[ "$ne" -eq 0 ] && entrypoint=()
if [ "${#entrypoint[@]}" -eq 0 ] && [ "${#cmd[@]}" -eq 0 ]; then cmd=("/bin/sh"); fi
cat <<EOF
mkdir -p "${workdir:-/}" 2> /dev/null
cd "${workdir:-/}" && unset OLDPWD || exit 1

if [ -s /etc/rc.local ]; then
    . /etc/rc.local
fi

if [ \$# -gt 0 ]; then
    exec ${entrypoint[@]+${entrypoint[@]@Q}} "\$@"
else
    exec ${entrypoint[@]+${entrypoint[@]@Q}} ${cmd[@]+${cmd[@]@Q}}
fi
EOF
'''

RC_LOCAL = ("# This file is sourced by /etc/rc when the container starts.\n"
            "# It can be used to manipulate the entrypoint or the command of the container.\n")


def enroot_files(config, uri):
    c = config.get("config", {})
    rc = "# enroot-provenance: %s\n" % uri
    for k, v in (c.get("Labels") or {}).items():
        rc += "# %s %s\n" % (k, v.replace("\n", " "))
    rc += "\n"
    ep, cmd = c.get("Entrypoint") or [], c.get("Cmd") or []
    out = subprocess.run(["bash", "-c", RC_SCRIPT, "bash", c.get("WorkingDir") or "", str(len(ep))] + ep + cmd,
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    rc += out
    env = "".join(v + "\n" for v in c.get("Env") or [])
    fstab = "".join("${ENROOT_ROOTFS}%s %s none x-create=dir,bind,rw,nosuid,nodev\n" % (v, v)
                    for v in sorted(c.get("Volumes") or {}))
    return rc, env, fstab


# --------------------------------------------------------------------------------------
# fixtures

def busybox_entries(binary, arch_note=None):
    with open(binary, "rb") as f:
        bb = f.read()
    dirs = [D("bin"), D("dev"), D("etc"), D("home"), D("home/app", uid=1000, gid=1000), D("proc", 0o555),
            D("root", 0o700), D("sbin"), D("sys", 0o555), D("tmp", 0o1777), D("usr"), D("usr/bin"), D("usr/sbin"),
            D("var")]
    files = [F("bin/busybox", bb, 0o755),
             F("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"),
             F("etc/os-release", 'NAME="BusyBox"\nID=busybox\nVERSION_ID=1.35.0\n'
                                 'PRETTY_NAME="BusyBox 1.35.0 (capsa test fixture%s)"\n' % (arch_note or "")),
             F("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")]
    applets = subprocess.run(["/bin/busybox", "--list-full"], stdout=subprocess.PIPE, check=True).stdout.decode().split()
    links = []
    for a in sorted(set(applets)):
        if a == "bin/busybox":
            continue
        links.append(L(a, "busybox" if a.startswith("bin/") else "/bin/busybox"))
    return sorted(dirs + files + links, key=lambda e: e.name)


def busybox_config(arch="amd64", variant=None):
    return base_config({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                        "Cmd": ["/bin/sh"]},
                       [("ADD busybox-static / # capsa fixture", False), ('CMD ["/bin/sh"]', True)], arch, variant)


def multilayer_layers(busybox_layer, chardev=False):
    fx = [D("fx"),
          D("fx/wh"), F("fx/wh/file1", "file1\n"), D("fx/wh/dir1"), F("fx/wh/dir1/a", "a\n"), D("fx/wh/dir1/sub"),
          F("fx/wh/dir1/sub/b", "b\n"), F("fx/wh/keep", "keep\n"),
          D("fx/opq"), F("fx/opq/old1", "old1\n"), D("fx/opq/oldsub"), F("fx/opq/oldsub/old2", "old2\n"),
          D("fx/change"), F("fx/change/later.txt", "version 1\n"),
          F("fx/change/modeonly.sh", "#!/bin/sh\necho mode-only\n", 0o644),
          D("fx/ro", 0o555), F("fx/ro/existing", "in a 0555 dir\n", 0o444),
          D("fx/types"), F("fx/types/f2d", "was a file\n"), D("fx/types/d2f"), F("fx/types/d2f/child", "child\n"),
          F("fx/types/f2l", "was a file, becomes a symlink\n"),
          F("fx/types/l2f-target", "l2f target: must stay intact\n"), L("fx/types/l2f", "l2f-target"),
          D("fx/links"), F("fx/links/target", "hardlink target\n", 0o640), H("fx/links/hard1", "fx/links/target"),
          D("fx/links/sub"), H("fx/links/sub/hard2", "fx/links/target"),
          L("fx/links/rel", "target"), L("fx/links/relup", "../links/target"), L("fx/links/abs", "/fx/links/target"),
          L("fx/links/dangling", "/nonexistent/dangling"), L("fx/links/dirlink", "../change"),
          L("fx/links/dirlink-abs", "/fx/change"), L("fx/links/loop1", "loop2"), L("fx/links/loop2", "loop1"),
          L("fx/links/self", "self"),
          D("fx/perm"), F("fx/perm/setuid", "#!/bin/sh\n", 0o4755), F("fx/perm/setgid", "#!/bin/sh\n", 0o2755),
          F("fx/perm/setugid-1000", "#!/bin/sh\n", 0o6755, uid=1000, gid=1000),
          D("fx/perm/sticky", 0o1777), D("fx/perm/readonly-dir", 0o555),
          F("fx/perm/readonly-dir/file", "ro\n", 0o444),
          F("fx/perm/mode0000", "secret\n", 0o000), F("fx/perm/mode0111", "#!/bin/sh\n", 0o111),
          F("fx/perm/owned-1000", "app\n", uid=1000, gid=1000),
          F("fx/perm/owned-nobody", "nobody\n", uid=65534, gid=65534),
          D("fx/perm/dir-1000", 0o750, uid=1000, gid=1000), F("fx/perm/dir-1000/f", "x\n", uid=1000, gid=1000),
          D("fx/names"), F("fx/names/with space", "space\n"), F("fx/names/ünïcödé-文件.txt", "unicode\n"),
          F("fx/names/" + "long-" + "x" * 115, "120 characters\n"), F("fx/names/-leading-dash", "dash\n"),
          F("fx/names/.leading-dot", "dot\n"), F("fx/names/quote'single", "q1\n"), F('fx/names/quote"double', "q2\n"),
          F("fx/names/semi;colon", "semi\n"), F("fx/names/amp&ersand", "amp\n"), F("fx/names/dollar$(id)", "d\n"),
          D("fx/empty-dir"), F("fx/empty-file", ""), F("fx/old-mtime", "old\n", mtime=315532800),
          F("fx/xattr", "has user.test\n", xattrs={"user.test": "capsa-xattr-value"}),
          D("fx/special"), E("fx/special/fifo", "p", 0o644)]
    if chardev:
        fx.append(E("fx/special/null", "c", 0o666, dev=(1, 3)))
    deep = "fx/deep"
    fx.append(D(deep))
    for i in range(1, 31):
        deep += "/l%02d" % i
        fx.append(D(deep))
    fx.append(F(deep + "/leaf", "30 levels down\n"))

    changes = [D("bin"), E("bin/.wh.vi"),
               D("etc"), F("etc/os-release", 'NAME="BusyBox"\nID=busybox\nVERSION_ID=1.35.0\n'
                                             'PRETTY_NAME="changed by layer 3"\n'),
               D("fx"),
               D("fx/wh"), E("fx/wh/.wh.file1"), E("fx/wh/.wh.dir1"), E("fx/wh/.wh.never-existed"),
               D("fx/opq"), E("fx/opq/.wh..wh..opq"), F("fx/opq/new1", "new in the opaque dir\n"),
               D("fx/change"), F("fx/change/later.txt", "version 2, longer than version 1\n"),
               F("fx/change/modeonly.sh", "#!/bin/sh\necho mode-only\n", 0o755),
               D("fx/ro", 0o555), F("fx/ro/added-later", "added into a 0555 dir\n")]
    types = [D("fx"), D("fx/types"),
             D("fx/types/f2d"), F("fx/types/f2d/child", "f2d is a dir now\n"),
             F("fx/types/d2f", "d2f is a file now\n"),
             L("fx/types/f2l", "l2f-target"),
             F("fx/types/l2f", "l2f is a file now\n")]
    empty = Layer([])
    return [busybox_layer, Layer(fx), Layer(changes), Layer(types), empty, empty]


MULTILAYER_CONFIG = {
    "User": "1000:1000",
    "WorkingDir": "/fx/work dir",
    "Entrypoint": ["/bin/echo", "entry point"],
    "Cmd": ["hello world", "it's", "$HOME", "a\tb"],
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SPACES=a b  c", "KV=k=v=w",
            "EMPTY=", "UNICODE=ünïcödé 文件"],
    "Labels": {"org.opencontainers.image.title": "capsa multi-layer fixture",
               "com.example.multi-line": "line one\nline two",
               "com.example.quote": "it's \"quoted\""},
    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
    "Volumes": {"/data": {}, "/var/lib/app": {}},
    "StopSignal": "SIGTERM",
}
MULTILAYER_HISTORY = [("ADD busybox-static /", False), ("ENV SPACES=... KV=... EMPTY= UNICODE=...", True),
                      ("COPY fixture-tree /", False), ("RUN delete and change", False),
                      ("RUN change types", False), ("RUN true", False), ("RUN true", False),
                      ("CMD [...]", True)]


def pathescape_layers():
    t = "tmp/" + ESCAPE_DIR
    up = "../" * 8
    l1 = [D("d"), L("d/up", up), D("etc"), F("etc/passwd", "root:x:0:0:decoy inside the rootfs:/root:/bin/sh\n"),
          L("escape-abs", "/" + t), L("escape-rel", up + t), D("tmp", 0o1777), D(t)]
    l2 = [F("escape-abs/via-abs", "written through escape-abs\n"),
          F("escape-rel/via-rel", "written through escape-rel\n"),
          F("d/up/" + t + "/via-up", "written through d/up\n"),
          F("../../../../../../" + t + "/dotdot", "entry named ../../\n"),
          F("/" + t + "/absolute", "entry named /tmp/...\n"),
          H("hardlink-passwd", "../../../../../../etc/passwd"),
          F(t + "/victim", "whited out by ../ in layer 3\n"), F(t + "/victim2", "whited out through d/up\n")]
    l3 = [E("../../../../../../" + t + "/.wh.victim"), E("d/up/" + t + "/.wh.victim2"),
          F("layer3-ok", "the last layer was applied\n")]
    return [Layer(l1), Layer(l2), Layer(l3)]


def zstd_layers(busybox_layer):
    lz = Layer([D("zstd"), F("zstd/hello.txt", "hello from the zstd layer\n"),
                F("zstd/gone.txt", "whited out by the plain layer\n")], "zstd")
    lp = Layer([D("plain"), F("plain/hello.txt", "hello from the plain tar layer\n"), D("zstd"),
                E("zstd/.wh.gone.txt")], "tar")
    return [busybox_layer, lz, lp]


# --------------------------------------------------------------------------------------

def write_expected(outdir, name, layers, config):
    t = Tree()
    for ly in layers:
        t.apply(ly.entries)
    with open(os.path.join(outdir, name + ".tsv"), "w", encoding="utf-8", newline="") as f:
        f.write(t.tsv())
    rc, env, fstab = enroot_files(config, "docker://%s#%s:latest" % (PLAIN_REGISTRY, name))
    for ext, text in (("rc", rc), ("environment", env), ("fstab", fstab)):
        with open(os.path.join(outdir, "%s.%s" % (name, ext)), "w", encoding="utf-8", newline="") as f:
            f.write(text)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: mkimages.py DIR [NAME...]")
    top = os.path.abspath(sys.argv[1])
    want = set(sys.argv[2:])
    sel = lambda n: not want or n in want  # noqa: E731
    lay_dir, exp_dir = os.path.join(top, "layouts"), os.path.join(top, "expected")
    os.makedirs(lay_dir, exist_ok=True)
    os.makedirs(exp_dir, exist_ok=True)
    with open(os.path.join(exp_dir, "rc.local"), "w") as f:
        f.write(RC_LOCAL)
    info = {}

    def record(name, layout, refs, layers, config_obj, notes=""):
        info[name] = {"layout": layout.path, "refs": refs,
                      "layers": [{"digest": ly.digest, "diff_id": ly.diff_id, "mediaType": ly.media_type,
                                  "size": len(ly.blob)} for ly in layers],
                      "notes": notes}

    bb_layer = Layer(busybox_entries("/bin/busybox"))
    bb_cfg = busybox_config()

    lo = Layout(os.path.join(lay_dir, "busybox"))
    lo.ref("latest", lo.image([bb_layer], bb_cfg))
    lo.close()
    write_expected(exp_dir, "busybox", [bb_layer], bb_cfg)
    record("busybox", lo, ["latest"], [bb_layer], bb_cfg)

    if sel("multilayer") or sel("multilayer-chardev"):
        cfg = base_config(MULTILAYER_CONFIG, MULTILAYER_HISTORY)
        for name, chardev in (("multilayer", False), ("multilayer-chardev", True)):
            layers = multilayer_layers(bb_layer, chardev)
            lo = Layout(os.path.join(lay_dir, name))
            lo.ref("latest", lo.image(layers, cfg))
            lo.close()
            write_expected(exp_dir, name, layers, cfg)
            record(name, lo, ["latest"], layers, cfg)

    if sel("pathescape"):
        layers = pathescape_layers()
        cfg = base_config({"Cmd": ["/bin/sh"]}, [("hostile layer %d" % i, False) for i in (1, 2, 3)])
        lo = Layout(os.path.join(lay_dir, "pathescape"))
        lo.ref("latest", lo.image(layers, cfg))
        lo.close()
        write_expected(exp_dir, "pathescape", layers, cfg)
        record("pathescape", lo, ["latest"], layers, cfg,
               "expected tree = confined (umoci/securejoin) semantics; rejecting the layer is also correct; "
               "/tmp/%s must never exist on the host" % ESCAPE_DIR)

    if sel("zstd"):
        layers = zstd_layers(bb_layer)
        cfg = base_config({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                           "Cmd": ["cat", "/zstd/hello.txt", "/plain/hello.txt"]},
                          [("ADD busybox", False), ("ADD zstd", False), ("ADD plain", False)])
        lo = Layout(os.path.join(lay_dir, "zstd"))
        lo.ref("latest", lo.image(layers, cfg))
        lo.close()
        write_expected(exp_dir, "zstd", layers, cfg)
        record("zstd", lo, ["latest"], layers, cfg)

    if sel("multiarch"):
        arm_bin = os.environ.get("CAPSA_ARM64_BUSYBOX")
        if arm_bin:
            arm_entries = [e for e in busybox_entries("/bin/busybox", " arm64") if e.name != "bin/busybox"]
            with open(arm_bin, "rb") as f:
                arm_entries.append(F("bin/busybox", f.read(), 0o755))
            arm_entries.sort(key=lambda e: e.name)
            note = "arm64: %s" % arm_bin
        else:
            arm_entries = [D("bin"), F("bin/busybox", "#!/bin/false\n# placeholder: capsa test arm64 busybox\n", 0o755),
                           L("bin/sh", "busybox"), D("etc"),
                           F("etc/os-release", 'NAME="BusyBox"\nID=busybox\nPRETTY_NAME="arm64 placeholder"\n'),
                           F("ARCH", "arm64/v8\n")]
            note = "arm64 image is a placeholder (no arm64 busybox offline)"
        arm_layer = Layer(arm_entries)
        arm_cfg = busybox_config("arm64", "v8")
        lo = Layout(os.path.join(lay_dir, "multiarch"))
        amd = lo.image([bb_layer], bb_cfg, {"architecture": "amd64", "os": "linux"})
        arm = lo.image([arm_layer], arm_cfg, {"architecture": "arm64", "os": "linux", "variant": "v8"})
        lo.ref("latest", lo.index([amd, arm]))
        lo.ref("amd64", amd)
        lo.ref("arm64", arm)
        lo.close()
        write_expected(exp_dir, "multiarch-amd64", [bb_layer], bb_cfg)
        write_expected(exp_dir, "multiarch-arm64", [arm_layer], arm_cfg)
        record("multiarch", lo, ["latest", "amd64", "arm64"], [bb_layer, arm_layer], None, note)
        info["multiarch"]["index"] = lo.refs[0]["digest"]
        info["multiarch"]["manifests"] = {"amd64": amd["digest"], "arm64/v8": arm["digest"]}

    if sel("baddigest"):
        layer = Layer([D("bad"), F("bad/file", "the registry serves this blob with one flipped byte\n")])
        cfg = base_config({"Cmd": ["/bin/sh"]}, [("ADD bad", False)])
        lo = Layout(os.path.join(lay_dir, "baddigest"))
        lo.ref("latest", lo.image([layer], cfg))
        lo.close()
        write_expected(exp_dir, "baddigest", [layer], cfg)
        record("baddigest", lo, ["latest"], [layer], cfg,
               "push.sh flips a byte of the gzip header MTIME field of this layer in the plain registry's "
               "storage: the blob still decompresses to the same tar, but its sha256 no longer matches")

    with open(os.path.join(top, "fixtures.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
