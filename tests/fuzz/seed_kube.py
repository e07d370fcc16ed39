#!/usr/bin/env python3
"""Seed corpus for fuzz_kube_responses: OUTDIR/NAME files, each a flags byte
and a sequence of responses [status index][chunk size][length LE16][body],
in the order the harness asks: the owned-Secret list (pages), its watch, the
Organization list, the OrgSecret watch, then the requests of a kubesync pass."""
import json
import os
import struct
import sys

CODES = [200, 201, 404, 409, 410, 401, 403, 422, 429, 500, 503, 400, 0]
LABELS = {"app.kubernetes.io/managed-by": "orgsecrets", "orgsecrets.io/organization": "acme",
          "orgsecrets.io/environment": "prod"}


def resp(code, body, chunk=0):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return struct.pack("<BBH", CODES.index(code), chunk, len(data)) + data


def secret(ns, name, rv="5", data=None, labels=LABELS, checksum=None):
    meta = {"namespace": ns, "name": name, "resourceVersion": rv, "uid": "u-" + name,
            "labels": dict(labels)}
    if checksum:
        meta["annotations"] = {"orgsecrets.io/checksum": "hmac-sha256:" + checksum}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta,
            "data": data or {"API_KEY": "azE=", "OLD": "eA=="}}


def page(items, rv="10", cont=None):
    meta = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items}


def events(*evs):
    return b"".join(json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in evs)


ORG = {"apiVersion": "orgsecrets.io/v1", "kind": "Organization",
       "metadata": {"name": "acme", "generation": 2, "resourceVersion": "7"},
       "spec": {"members": [{"name": "a@x", "role": "admin",
                             "recipient": "age1s4ys5gg93dmm6m2zv9jg0vwh9ee70s7y2azghsl3d22wvzmx2qus2rccfp"}],
                "environments": [{"name": "prod", "namespaces": ["prod", "web"],
                                  "controllers": ["age17n0g276pxqzpt9mvqgz4n0vlkqq82mt2vxshgfa0826gp50fnahqpk6x8f"]}]}}
ORGSECRET = {"apiVersion": "orgsecrets.io/v1", "kind": "OrgSecret",
             "metadata": {"name": "acme.prod.db-password", "generation": 1},
             "spec": {"organization": "acme", "environment": "prod", "name": "DB_PASSWORD",
                      "state": "active", "visibleToViewers": False,
                      "recipients": ["0123456789abcdef"],
                      "encryptedValue": "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"}}
WORKLOAD = {"metadata": {"namespace": "prod", "name": "api", "uid": "w1",
                         "annotations": {"orgsecrets.io/reload": "true"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "c", "envFrom": [{"secretRef": {"name": "acme-secrets"}}]}]}}}}

SEEDS = {
    # a calm pass: one owned Secret, a watch, a CR list, an update and a deletion
    "calm": (1, [
        resp(200, page([secret("prod", "acme-secrets"), secret("old", "acme-secrets", rv="3")])),
        resp(200, events(("ADDED", secret("web", "acme-secrets")),
                         ("MODIFIED", secret("prod", "acme-secrets", rv="6")),
                         ("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
                         ("DELETED", secret("web", "acme-secrets"))), chunk=7),
        resp(200, page([ORG])),
        resp(200, events(("ADDED", ORGSECRET), ("MODIFIED", ORGSECRET)), chunk=13),
        resp(200, secret("prod", "acme-secrets", rv="8")),
        resp(201, secret("web", "acme-secrets", rv="9")),
        resp(200, page([WORKLOAD])), resp(200, page([])), resp(200, page([])),
        resp(200, WORKLOAD),
        resp(200, {"kind": "Status", "status": "Success"}),
    ]),
    # a list in two pages whose continue token expires, then starts over
    "pages": (0, [
        resp(200, page([secret("prod", "a")], cont="tok1")),
        resp(410, {"kind": "Status", "code": 410, "message": "continue expired"}),
        resp(200, page([secret("prod", "b")], cont="tok2")),
        resp(200, page([secret("prod", "c")])),
        resp(200, events(("ERROR", {"kind": "Status", "code": 410, "message": "too old"}))),
        resp(200, page([ORG, {"metadata": {}}, [], None])),
        resp(500, {"kind": "Status", "message": "boom"}),
    ]),
    # conflicts, a missing namespace, a Secret owned by someone else, kept values
    "conflicts": (4, [
        resp(200, page([secret("prod", "acme-secrets", labels={"team": "other"}),
                        secret("web", "acme-secrets", data={"KEPT": "dg=="})])),
        resp(200, b""),
        resp(200, page([])),
        resp(200, b""),
        resp(200, secret("web", "acme-secrets", data={"KEPT": "dg=="})),
        resp(409, {"kind": "Status", "code": 409, "message": "conflict"}),
        resp(200, secret("web", "acme-secrets", rv="11")),
        resp(200, secret("web", "acme-secrets", rv="12")),
        resp(404, {"kind": "Status", "code": 404}),
    ]),
    # odd shapes the client must refuse without crashing
    "shapes": (3, [
        resp(200, b"[]"), resp(200, b"{\"items\": 5}"), resp(200, b"not json\n{\"type\":1}\n"),
        resp(200, b"{}"), resp(401, b""), resp(200, page([{"metadata": {"name": 7}}])),
        resp(200, events(("ADDED", {"metadata": {"namespace": "prod"}}),
                         ("ADDED", {"metadata": {"name": "x", "namespace": "prod",
                                                 "labels": LABELS}}),
                         ("WEIRD", {}))),
    ]),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, (flags, parts) in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([flags]) + b"".join(parts))
