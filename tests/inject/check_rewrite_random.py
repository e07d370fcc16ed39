#!/usr/bin/env python3
"""Randomised differential test of the webhook's string rewriting.

Builds pods whose env values, command and args are random concatenations of
tricky tokens ($, $$, $(, ), {, }, references, $(VAR) ...), has the C
program answer them, applies the JSON Patch with python3-jsonpatch, and
computes what each container would see with Kubernetes' expansion rules.
That must equal the specification, computed here independently from the
ORIGINAL pod:
  - a string without a reference to a secret: exactly what Kubernetes makes
    of it without the webhook;
  - otherwise: the concatenation of its segments, where a reference is the
    secret's value, $$ is $, and literal text keeps the meaning Kubernetes
    gives that text on its own (dependent variables from the original pod).
Every patched pod must also be a fixed point (no second patch).

usage: check_rewrite_random.py PROGRAM [ROUNDS]
"""
import base64
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import jsonpatch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from kubeenv import container_view, expand  # noqa: E402

PROG = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
SECRETS = {"DB_PASSWORD": "<shop-secrets/DB_PASSWORD>", "API_KEY": "<shop-secrets/API_KEY>",
           "STRIPE_KEY": "<payments-secrets/STRIPE_KEY>"}
# No token starts with [A-Z0-9_] so a reference never extends into the next token.
TOKENS = ["$", "$", "$$", "(", ")", "{", "}", "x", " ", ":", "$DB_PASSWORD", "${API_KEY}", "$STRIPE_KEY",
          "$(HOST)", "$(LATER)", "$(ORGSECRETS_API_KEY)", "$(ORGSECRETS_DB_PASSWORD", "$(ORGSECRETS_STRIPE_KEY)",
          "$(HOST", "$lower", "${lower}", "$(", "${", "$DB_PASSWORD}"]
NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def segments(s):
    """The reference syntax, implemented independently of the C scanner."""
    out, text, i = [], [], 0
    while i < len(s):
        if s[i] != "$":
            text.append(s[i]); i += 1; continue
        if s.startswith("$$", i):
            out.append(("T", "".join(text))); text = []
            out.append(("D", "$")); i += 2; continue
        if s.startswith("${", i):
            j = s.find("}", i + 2)
            if j > 0 and NAME.fullmatch(s[i + 2:j]) and j - i - 2 <= 253:
                out.append(("T", "".join(text))); text = []
                out.append(("R", s[i + 2:j])); i = j + 1; continue
        m = NAME.match(s, i + 1)
        if m and not s.startswith("${", i) and len(m.group(0)) <= 253:
            out.append(("T", "".join(text))); text = []
            out.append(("R", m.group(0))); i = m.end(); continue
        text.append("$"); i += 1
    out.append(("T", "".join(text)))
    return [x for x in out if x != ("T", "")]


def intended(s, env):
    segs = segments(s)
    if not any(k == "R" for k, _ in segs):
        return expand(s, env)
    return "".join(expand(v, env) if k == "T" else "$" if k == "D" else SECRETS[v] for k, v in segs)


def rand_str(rng):
    return "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 7)))


def answer(review):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(review, f)
        path = f.name
    try:
        p = subprocess.run([PROG, path], capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise SystemExit(f"program failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout)["response"]


rng = random.Random(20261127)
failures, strings = 0, 0
for rnd in range(ROUNDS):
    containers = []
    for ci in range(2):
        env = [{"name": "HOST", "value": "db"}]
        if rng.random() < 0.3:  # injected by an earlier call: reused, and $(ORGSECRETS_API_KEY) means it
            env.insert(0, {"name": "ORGSECRETS_API_KEY",
                           "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "API_KEY"}}})
        env += [{"name": f"V{k}", "value": rand_str(rng)} for k in range(12)]
        env.append({"name": "LATER", "value": "late"})
        containers.append({"name": f"c{ci}", "image": "x", "env": env,
                           "command": [rand_str(rng) for _ in range(3)], "args": [rand_str(rng) for _ in range(3)]})
        strings += 18
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"orgsecrets.io/inject": "true"}},
           "spec": {"containers": containers}}
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": f"r{rnd}", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                          "operation": "CREATE", "namespace": "shop", "object": pod}}
    r = answer(review)
    if r.get("allowed") is not True:
        print("FAIL refused:", r.get("status")); failures += 1; continue
    ops = json.loads(base64.b64decode(r["patch"])) if "patch" in r else []
    patched = jsonpatch.JsonPatch(ops).apply(pod)
    for orig, new in zip(pod["spec"]["containers"], patched["spec"]["containers"]):
        want_env, want_argv = container_view(orig, intended)
        got_env, got_argv = container_view(new)
        for k, v in want_env.items():
            if got_env.get(k) != v:
                failures += 1
                print(f"FAIL env {k}: value {next(e.get('value') for e in orig['env'] if e['name'] == k)!r}"
                      f" -> container sees {got_env.get(k)!r}, spec {v!r}")
        for a, w, g in zip(orig.get("command", []) + orig.get("args", []), want_argv, got_argv):
            if w != g:
                failures += 1
                print(f"FAIL argv {a!r} -> container sees {g!r}, spec {w!r}")
    review["request"]["object"] = patched
    if "patch" in answer(review):
        failures += 1
        print("FAIL re-invocation patched again")
print(f"{ROUNDS} pods, {strings} random strings, {failures} failures")
sys.exit(1 if failures else 0)
