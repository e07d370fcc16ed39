#!/usr/bin/env bash
# Seeds fuzz corpora, one folder per target: OUTDIR/{armor,header,decrypt}
# from the age test vectors, OUTDIR/spec_parse from examples/, OUTDIR/
# inject_review from the webhook's golden requests, OUTDIR/kube_responses
# from seed_kube.py.
set -euo pipefail
out=${1:?usage: seed.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
vec=$here/../age/testdata
mkdir -p "$out/armor" "$out/header" "$out/decrypt" "$out/spec_parse" "$out/inject_review"
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
find "$here/../../examples" -name '*.yaml' | while read -r f; do
  cp "$f" "$out/spec_parse/$(echo "${f#"$here/../../examples/"}" | tr / _)"
done
cp "$here"/../inject/golden/*.request.json "$out/inject_review/"
python3 "$here/seed_kube.py" "$out/kube_responses"
