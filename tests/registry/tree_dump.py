#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Dump a root filesystem as the TSV that mkimages.py writes to DIR/expected/NAME.tsv.

    tree_dump.py [OPTIONS] ROOTDIR           an extracted rootfs (not followed through symlinks)
    tree_dump.py [OPTIONS] --squashfs IMAGE  `unsquashfs -lln` for types, modes, owners and
                                             device numbers, plus an extraction for contents
    tree_dump.py [OPTIONS] --tar FILE|-      a tar stream (hardlinks resolved to their target)
    tree_dump.py [OPTIONS] --tsv FILE        re-print a TSV (to normalise an expected file)

One line per entry below the root (the root itself is not listed), sorted by
the bytes of the path:

    /path <TAB> type <TAB> mode <TAB> uid:gid <TAB> size <TAB> sha256 | link target

type is f d l p c b s; mode is 4 octal digits (0777 for symlinks); size and the
last column are '-' where they do not apply; devices print "major,minor" last.
Tabs, newlines and backslashes in names and targets are escaped as \\t \\n \\\\.

Options, applied alike to every input so that both sides of a diff agree:
    --all-root          print every owner as 0:0 (what `mksquashfs -all-root` and an
                        unprivileged extraction lose)
    --mode-mask OCTAL   AND every mode with OCTAL (0777 drops setuid/setgid/sticky)
    --exclude PATH      drop PATH and everything below it (repeatable), e.g. /etc/rc
    --enroot            shorthand: exclude /etc/rc /etc/rc.local /etc/environment /etc/fstab
                        (the files enroot's config layer adds)

Example:  diff <(tree_dump.py --all-root $DIR/expected/multilayer.tsv --tsv) \\
               <(tree_dump.py --all-root --enroot --squashfs out.sqsh)
"""

import argparse
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

ENROOT_FILES = ["/etc/rc", "/etc/rc.local", "/etc/environment", "/etc/fstab"]


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Rec:
    __slots__ = ("path", "type", "mode", "uid", "gid", "size", "last")

    def __init__(self, path, type, mode, uid, gid, size="-", last="-"):
        self.path, self.type, self.mode, self.uid, self.gid = path, type, mode, uid, gid
        self.size, self.last = size, last


def file_sha(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        return "unreadable:%s" % (e.strerror or e)
    return h.hexdigest()


TYPE_OF = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFIFO: "p", stat.S_IFCHR: "c",
           stat.S_IFBLK: "b", stat.S_IFSOCK: "s"}


def rec_from_stat(rel, full, st):
    t = TYPE_OF.get(stat.S_IFMT(st.st_mode), "?")
    r = Rec(rel, t, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if t == "f":
        r.size, r.last = str(st.st_size), file_sha(full)
    elif t == "l":
        r.mode, r.last = 0o777, esc(os.fsdecode(os.readlink(full)))
    elif t in ("c", "b"):
        r.last = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return r


def dump_dir(root):
    out = []
    root = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = "/" + os.fsdecode(os.path.relpath(full, root))
            out.append(rec_from_stat(rel, full, os.lstat(full)))
    return out


LS_RE = re.compile(r"^(\S{10}) (\d+)/(\d+)\s+(\d+|\d+,\s*\d+) \d{4}-\d\d-\d\d \d\d:\d\d R(/.*)?$")


def mode_bits(s):
    """'-rwsr-xr-x' -> 0o4755"""
    m = 0
    for i, (ch, bit) in enumerate(zip(s[1:], (0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 4, 2, 1))):
        if ch not in "-ST":
            m |= bit
    if s[3] in "sS":
        m |= 0o4000
    if s[6] in "sS":
        m |= 0o2000
    if s[9] in "tT":
        m |= 0o1000
    return m


def dump_squashfs(image):
    tmp = tempfile.mkdtemp(prefix="tree_dump.")
    try:
        root = os.path.join(tmp, "R")
        subprocess.run(["unsquashfs", "-no-xattrs", "-quiet", "-no-progress", "-d", root, image],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        ls = subprocess.run(["unsquashfs", "-lln", "-d", "R", image], stdout=subprocess.PIPE, check=True,
                            cwd=tmp).stdout
        out = []
        for raw in ls.splitlines():
            line = raw.decode("utf-8", "surrogateescape")
            m = LS_RE.match(line)
            if not m or not m.group(5):
                continue
            perm, uid, gid, size, rest = m.groups()
            t = {"-": "f", "d": "d", "l": "l", "p": "p", "c": "c", "b": "b", "s": "s"}[perm[0]]
            path = rest
            if t == "l":  # "name -> target": take the target from the extraction
                target = None
                for cut in [i for i in range(len(rest)) if rest.startswith(" -> ", i)]:
                    cand = os.path.join(root, rest[1:cut])
                    if os.path.islink(cand):
                        path, target = rest[:cut], os.readlink(cand)
                        break
                if target is None:
                    path, _, target = rest.partition(" -> ")
            r = Rec(path, t, mode_bits(perm), int(uid), int(gid))
            full = os.path.join(root, path[1:])
            if t == "f":
                r.size, r.last = size, file_sha(full)
            elif t == "l":
                r.mode, r.last = 0o777, esc(target)
            elif t in ("c", "b"):
                r.last = re.sub(r"\s+", "", size)
            out.append(r)
        return out
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", tmp], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def dump_tar(path):
    out, by_name = [], {}
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    with tarfile.open(fileobj=f, mode="r|*") as tf:
        for ti in tf:
            name = "/" + "/".join(p for p in ti.name.split("/") if p not in ("", "."))
            if name == "/":
                continue
            if ti.islnk():
                src = by_name.get("/" + "/".join(p for p in ti.linkname.split("/") if p not in ("", ".")))
                if src is None:
                    continue
                r = Rec(name, src.type, src.mode, src.uid, src.gid, src.size, src.last)
            else:
                t = "f" if ti.isreg() else "d" if ti.isdir() else "l" if ti.issym() else "p" if ti.isfifo() \
                    else "c" if ti.ischr() else "b" if ti.isblk() else "?"
                r = Rec(name, t, ti.mode & 0o7777, ti.uid, ti.gid)
                if t == "f":
                    data = tf.extractfile(ti).read()
                    r.size, r.last = str(len(data)), hashlib.sha256(data).hexdigest()
                elif t == "l":
                    r.mode, r.last = 0o777, esc(ti.linkname)
                elif t in ("c", "b"):
                    r.last = "%d,%d" % (ti.devmajor, ti.devminor)
            by_name[name] = r
            out.append(r)
    return list({r.path: r for r in out}.values())  # last entry wins


def read_tsv(path):
    out = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            p, t, mode, owner, size, last = line.split("\t")
            uid, gid = owner.split(":")
            out.append(Rec(p.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\"), t, int(mode, 8),
                           int(uid), int(gid), size, last))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("root", nargs="?")
    src.add_argument("--squashfs", metavar="IMAGE")
    src.add_argument("--tar", metavar="FILE")
    src.add_argument("--tsv", metavar="FILE")
    ap.add_argument("--all-root", action="store_true")
    ap.add_argument("--mode-mask", default="7777")
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--enroot", action="store_true")
    a = ap.parse_args()

    if a.squashfs:
        recs = dump_squashfs(a.squashfs)
    elif a.tar:
        recs = dump_tar(a.tar)
    elif a.tsv:
        recs = read_tsv(a.tsv)
    else:
        if not os.path.isdir(a.root):
            ap.error("%s: not a directory" % a.root)
        recs = dump_dir(a.root)
    mask = int(a.mode_mask, 8)
    excl = [e.rstrip("/") for e in a.exclude + (ENROOT_FILES if a.enroot else [])]
    outb = sys.stdout.buffer
    for r in sorted(recs, key=lambda r: r.path.encode("utf-8", "surrogateescape")):
        if any(r.path == e or r.path.startswith(e + "/") for e in excl):
            continue
        uid, gid = (0, 0) if a.all_root else (r.uid, r.gid)
        mode = r.mode if r.type == "l" else r.mode & mask
        line = "%s\t%s\t%04o\t%d:%d\t%s\t%s\n" % (esc(r.path), r.type, mode, uid, gid, r.size, r.last)
        outb.write(line.encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    main()
