#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A deterministic image for the benchmarks: 5 gzip layers (text, random,
# mixed, one big zero file, many small files) scaled to SIZE_MB MiB of tar,
# written as an OCI layout in OUT (ref name "big").  Prints the tar bytes.
#
#   bench/mkbig.py OUT SIZE_MB [BASE]
#
# BASE: an OCI layout whose layers come first (e.g. busybox, for a shell).
import hashlib, io, json, os, random, subprocess, sys, tarfile
out, size_mb = sys.argv[1], int(sys.argv[2])
scale = size_mb / 1024.0
random.seed(42)
os.makedirs(out + "/blobs/sha256", exist_ok=True)
words = [''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(random.randint(2, 9)))
         for _ in range(5000)]
pool = ' '.join(random.choice(words) for _ in range(600000)).encode()
def text(n):
    o = random.randrange(0, len(pool) - n - 1)
    return pool[o:o + n]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open("%s/blobs/sha256/%s" % (out, d), "wb").write(data)
    return d
def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 1700000000
                    t.addfile(ti)
            ti = tarfile.TarInfo(path); ti.size = len(data); ti.mode = 0o644; ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    gz = subprocess.run(["pigz", "-n", "-6", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + blob(gz),
            "size": len(gz)}, hashlib.sha256(raw).hexdigest(), len(raw)
n = lambda x: max(1, int(x * scale))
specs = [
    [("text/%05d.txt" % i, text(random.randint(1024, 32768))) for i in range(n(12000))],
    [("rand/%03d.bin" % i, os.urandom(4 << 20)) for i in range(n(64))],
    [("mixed/%05d" % i, os.urandom(random.randint(0, 65536)) if i % 2 else text(random.randint(0, 65536)))
     for i in range(n(8000))],
    [("zeros.bin", bytes(n(96) << 20)), ("text.txt", text(min(len(pool) - 2, n(60) << 20)))],
    [("small/%05d" % i, text(random.randint(0, 4096))) for i in range(n(10000))],
]
layers, diffs, total = [], [], 0
if len(sys.argv) > 3:
    base = sys.argv[3]
    def base_blob(dg):
        return open("%s/blobs/sha256/%s" % (base, dg.split(":")[1]), "rb").read()
    bman = json.loads(base_blob(json.load(open(base + "/index.json"))["manifests"][0]["digest"]))
    bcfg = json.loads(base_blob(bman["config"]["digest"]))
    for l, diff in zip(bman["layers"], bcfg["rootfs"]["diff_ids"]):
        blob(base_blob(l["digest"]))
        layers.append(l); diffs.append(diff)
for files in specs:
    d, diff, size = layer(files)
    layers.append(d); diffs.append("sha256:" + diff); total += size
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd = blob(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + cd, "size": len(config)},
                       "layers": layers}).encode()
md = blob(manifest)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": "sha256:" + md, "size": len(manifest),
           "annotations": {"org.opencontainers.image.ref.name": "big"}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
print(total)
