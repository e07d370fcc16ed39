#!/usr/bin/env bash
# Seeds fuzz corpora from the age test vectors: OUTDIR/{armor,header,decrypt}.
set -euo pipefail
out=${1:?usage: seed.sh OUTDIR}
vec=$(cd "$(dirname "$0")/../age/testdata" && pwd)
mkdir -p "$out/armor" "$out/header" "$out/decrypt"
python3 - "$vec" "$out" <<'PY'
import os, sys, zlib
vec, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(vec)):
    if name == "README.md":
        continue
    raw = open(os.path.join(vec, name), "rb").read()
    meta, body = raw.split(b"\n\n", 1)
    if b"compressed: zlib" in meta:
        body = zlib.decompress(body)
    kinds = ["decrypt"] + (["armor"] if b"armored: yes" in meta else ["header"])
    for k in kinds:
        data = body if k != "header" else body[:4096]
        open(os.path.join(out, k, name), "wb").write(data[:1 << 20])
PY
