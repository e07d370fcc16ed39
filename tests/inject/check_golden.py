#!/usr/bin/env python3
"""Golden tests for pod admission, checked with a real JSON Patch library.

For each golden/NAME.request.json, runs the C program (test_inject_golden
FILE) to answer the AdmissionReview, then:
  - NAME.expected.json {"expectError": "EINVAL"}: the program must refuse it;
  - {"expectResponse": {...}}: those response fields must match, no patch;
  - {"expectUnchanged": true}: allowed, and no patch at all;
  - otherwise it is the expected pod: the base64 JSON Patch, applied to the
    request's pod with python3-jsonpatch, must give exactly that pod.
Every patched pod is sent again (reinvocationPolicy IfNeeded) and must get
no further patch; and the values containers would see are computed with
Kubernetes' own $(VAR) expansion rules for a few cases.

usage: check_golden.py PROGRAM GOLDEN_DIR
"""
import base64
import copy
import json
import os
import subprocess
import sys
import tempfile

import jsonpatch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from kubeenv import container_view  # noqa: E402

PROG, GOLDEN = sys.argv[1], sys.argv[2]
failures = []


def fail(case, msg):
    failures.append(f"{case}: {msg}")


def run(path):
    p = subprocess.run([PROG, path], capture_output=True, text=True, timeout=30)
    resp = json.loads(p.stdout) if p.returncode == 0 else None
    return p.returncode, resp


def run_pod(case, request, pod):
    review = copy.deepcopy(request)
    review["request"]["object"] = pod
    review["request"]["uid"] = "reinvoked"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(review, f)
        path = f.name
    try:
        return run(path)
    finally:
        os.unlink(path)


def subset(want, got, where=""):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{where}: expected an object, got {got!r}"]
        errs = []
        for k, v in want.items():
            if k not in got:
                errs.append(f"{where}/{k}: missing")
            else:
                errs += subset(v, got[k], f"{where}/{k}")
        return errs
    return [] if want == got else [f"{where}: expected {want!r}, got {got!r}"]


# Values containers must see after injection (fake secret values <secret/key>).
CONTAINER_VIEW = {
    "embedded": {("containers", 0): {"env": {"DATABASE_URL": "postgres://app:<shop-secrets/DB_PASSWORD>@db:5432/app"}}},
    "dollar_escapes": {("containers", 0): {"env": {
        "KEEP": "price $5 and db and $lower",
        "DSN": "cost $5 db:<shop-secrets/DB_PASSWORD> $(weird <shop-secrets/API_KEY>) end$",
        "RESERVED": "x $(ORGSECRETS_API_KEY) <shop-secrets/API_KEY>",
        "LOWER": "$lower ${lower} $1 <shop-secrets/DB_PASSWORD>"}}},
    "init_command_args": {
        ("initContainers", 0): {"argv": ["migrate", "--dsn", "postgres://u:<shop-secrets/DB_PASSWORD>@db/x",
                                         "<shop-secrets/API_KEY>"]},
        ("containers", 0): {"argv": ["--token=<payments-secrets/STRIPE_KEY>", "--plain", "$HOME"]}},
    "literal_reserved_text": {("containers", 0): {
        "env": {"URL": "x:<shop-secrets/DB_PASSWORD>", "DOC": "see $(ORGSECRETS_DB_PASSWORD) and $(X)"},
        "argv": ["echo $(ORGSECRETS_DB_PASSWORD)", "db"]}},
}

cases = sorted(f[: -len(".request.json")] for f in os.listdir(GOLDEN) if f.endswith(".request.json"))
checked = 0
for case in cases:
    req_path = os.path.join(GOLDEN, case + ".request.json")
    with open(os.path.join(GOLDEN, case + ".expected.json")) as f:
        expected = json.load(f)
    code, resp = run(req_path)
    checked += 1
    if "expectError" in expected:
        if code != 2:
            fail(case, f"expected OS_EINVAL (exit 2), got exit {code}")
        continue
    if code != 0:
        fail(case, f"program failed with exit {code}")
        continue
    with open(req_path) as f:
        request = json.load(f)
    r = resp.get("response", {})
    if resp.get("apiVersion") != "admission.k8s.io/v1" or resp.get("kind") != "AdmissionReview":
        fail(case, "response is not an admission.k8s.io/v1 AdmissionReview")
    if r.get("uid") != request["request"]["uid"]:
        fail(case, "uid not echoed")
    if "expectResponse" in expected:
        for e in subset(expected["expectResponse"], r):
            fail(case, e)
        if "patch" in r:
            fail(case, "a refusal carries a patch")
        continue
    if r.get("allowed") is not True:
        fail(case, f"not allowed: {r.get('status')}")
        continue
    if expected.get("expectUnchanged"):
        if "patch" in r or "patchType" in r:
            fail(case, "expected no patch")
        continue
    if r.get("patchType") != "JSONPatch" or "patch" not in r:
        fail(case, "expected a JSONPatch")
        continue
    ops = json.loads(base64.b64decode(r["patch"], validate=True))
    pod = request["request"]["object"]
    try:
        patched = jsonpatch.JsonPatch(ops).apply(pod)
    except jsonpatch.JsonPatchException as e:
        fail(case, f"patch does not apply: {e}")
        continue
    if patched != expected:
        fail(case, "patched pod differs from expected:\n" + json.dumps(patched, indent=2, sort_keys=True))
        continue
    code2, resp2 = run_pod(case, request, patched)
    if code2 != 0 or resp2["response"].get("allowed") is not True or "patch" in resp2["response"]:
        fail(case, "re-invocation on the patched pod is not a no-op")
    for (field, idx), want in CONTAINER_VIEW.get(case, {}).items():
        env, argv = container_view(patched["spec"][field][idx])
        for k, v in want.get("env", {}).items():
            if env.get(k) != v:
                fail(case, f"{field}[{idx}] env {k}: container sees {env.get(k)!r}, expected {v!r}")
        if "argv" in want and argv != want["argv"]:
            fail(case, f"{field}[{idx}] argv: container sees {argv!r}, expected {want['argv']!r}")

missing = set(CONTAINER_VIEW) - set(cases)
if missing:
    failures.append(f"container-view cases without a golden file: {sorted(missing)}")
for f in failures:
    print("FAIL", f)
print(f"{checked} golden cases, {len(failures)} failures")
sys.exit(1 if failures or checked < 15 else 0)
