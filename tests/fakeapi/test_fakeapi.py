#!/usr/bin/env python3
"""Tests of the fake Kubernetes API server, over real HTTPS."""

import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FAKEAPI = os.path.join(HERE, "fakeapi.py")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import procs  # noqa: E402
TOKEN = "static-token-1"


class FakeApi:
    """Starts fakeapi.py on port 0 in a temporary folder; stop() ends it."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="fakeapi-test-")
        self.tls = os.path.join(self.dir, "tls")
        self.port_file = os.path.join(self.dir, "port")
        self.token_file = os.path.join(self.dir, "token")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(self.token_file, "w") as f:
            f.write("file-token-1\n")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, FAKEAPI, "--listen", "127.0.0.1:0", "--tls-dir", self.tls,
             "--token", TOKEN, "--token-file", self.token_file, "--port-file", self.port_file,
             "--kubeconfig-out", self.kubeconfig, "--watch-timeout-max", "20",
             "--exit-with-pid", str(os.getpid())] + list(extra),
            stderr=self.stderr)
        deadline = time.time() + 30
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stderr.seek(0)
                raise RuntimeError("fakeapi did not start: " + self.stderr.read())
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.tls, "ca.crt"))
        self.cert_ctx = ssl.create_default_context(cafile=os.path.join(self.tls, "ca.crt"))
        self.cert_ctx.load_cert_chain(os.path.join(self.tls, "client.crt"),
                                      os.path.join(self.tls, "client.key"))

    def stop(self):
        procs.stop(self.proc, timeout=10)
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def conn(self, cert=False, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.cert_ctx if cert else self.ctx)

    def req(self, method, path, body=None, token=TOKEN, ctype="application/json", cert=False,
            raw=None, conn=None):
        c = conn or self.conn(cert)
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = ctype
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read()
        if conn is None:
            c.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        return r.status, r, doc


def secret(name, data=None, labels=None, string_data=None, ns=None):
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if ns:
        obj["metadata"]["namespace"] = ns
    if data is not None:
        obj["data"] = data
    if labels:
        obj["metadata"]["labels"] = labels
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


def orgsecret(name, spec):
    return {"apiVersion": "orgsecrets.io/v1", "kind": "OrgSecret",
            "metadata": {"name": name}, "spec": spec}


class FakeApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = FakeApi()

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()

    def setUp(self):
        self.api.req("DELETE", "/fake/faults", token=None)

    def ns(self, name):
        st, _, doc = self.api.req("POST", "/api/v1/namespaces",
                                  {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": name}})
        self.assertIn(st, (201, 409), doc)

    def assertStatus(self, doc, code, reason):
        self.assertEqual(doc["kind"], "Status", doc)
        self.assertEqual(doc["status"], "Failure")
        self.assertEqual(doc["code"], code, doc)
        self.assertEqual(doc["reason"], reason, doc)

    # --- auth and TLS ---
    def test_auth(self):
        st, _, doc = self.api.req("GET", "/api/v1/secrets", token=None)
        self.assertEqual(st, 401)
        self.assertStatus(doc, 401, "Unauthorized")
        st, _, doc = self.api.req("GET", "/api/v1/secrets", token="wrong")
        self.assertEqual(st, 401)
        st, _, _ = self.api.req("GET", "/api/v1/secrets")
        self.assertEqual(st, 200)
        st, _, _ = self.api.req("GET", "/api/v1/secrets", token=None, cert=True)
        self.assertEqual(st, 200)
        st, _, _ = self.api.req("GET", "/apis/orgsecrets.io/v1/orgsecrets", token=None)
        self.assertEqual(st, 401)

    def test_token_file_rotation(self):
        st, _, _ = self.api.req("GET", "/api/v1/namespaces", token="file-token-1")
        self.assertEqual(st, 200)
        with open(self.api.token_file + ".tmp", "w") as f:
            f.write("  file-token-2\n")
        os.rename(self.api.token_file + ".tmp", self.api.token_file)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces", token="file-token-1")
        self.assertEqual(st, 401)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces", token="file-token-2")
        self.assertEqual(st, 200)
        st, _, _ = self.api.req("POST", "/fake/tokens", {"tokens": ["extra"]}, token=None)
        self.assertEqual(st, 200)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces", token="extra")
        self.assertEqual(st, 200)
        self.api.req("POST", "/fake/tokens", {"tokens": []}, token=None)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces", token="extra")
        self.assertEqual(st, 401)

    def test_untrusted_server_cert_refused(self):
        ctx = ssl.create_default_context()
        c = http.client.HTTPSConnection("127.0.0.1", self.api.port, context=ctx, timeout=5)
        with self.assertRaises(ssl.SSLError):
            c.request("GET", "/version")
            c.getresponse()

    def test_keepalive(self):
        c = self.api.conn()
        for _ in range(20):
            st, r, _ = self.api.req("GET", "/api/v1/namespaces/default", conn=c)
            self.assertEqual(st, 200)
        # error responses consume the request body, so the connection stays in sync
        for path in ("/api/v1/nothing", "/apis/nope/v1/x", "/api/v1/namespaces/default/secrets"):
            st, _, _ = self.api.req("POST", path, raw=b'{"a":' + b"1" * 5000 + b"}", conn=c)
            self.assertIn(st, (400, 404, 405))
            st, _, _ = self.api.req("POST", path, {"x": 1}, token="bad", conn=c)
            self.assertEqual(st, 401)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces/default", conn=c)
        self.assertEqual(st, 200)
        c.close()

    # --- CRUD ---
    def test_create_get_list(self):
        self.ns("crud")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/crud/secrets",
                                  secret("a", {"K": "dmFsdWU="}, {"app": "x"}))
        self.assertEqual(st, 201, doc)
        meta = doc["metadata"]
        for f in ("uid", "resourceVersion", "creationTimestamp"):
            self.assertTrue(meta.get(f), f)
        self.assertEqual(meta["namespace"], "crud")
        self.assertEqual(doc["type"], "Opaque")
        st, _, got = self.api.req("GET", "/api/v1/namespaces/crud/secrets/a")
        self.assertEqual(st, 200)
        self.assertEqual(got["kind"], "Secret")
        self.assertEqual(got["data"], {"K": "dmFsdWU="})
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/crud/secrets",
                                  secret("a", {"K": "dmFsdWU="}))
        self.assertEqual(st, 409)
        self.assertStatus(doc, 409, "AlreadyExists")
        self.assertEqual(doc["details"]["name"], "a")
        self.assertEqual(doc["details"]["kind"], "secrets")
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/crud/secrets/nope")
        self.assertEqual(st, 404)
        self.assertStatus(doc, 404, "NotFound")
        self.assertEqual(doc["message"], 'secrets "nope" not found')
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/crud/secrets")
        self.assertEqual(doc["kind"], "SecretList")
        self.assertTrue(int(doc["metadata"]["resourceVersion"]) > 0)
        self.assertEqual([i["metadata"]["name"] for i in doc["items"]], ["a"])
        st, _, doc = self.api.req("GET", "/api/v1/secrets")
        self.assertIn("a", [i["metadata"]["name"] for i in doc["items"]])

    def test_string_data_and_generate_name(self):
        self.ns("sd")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/sd/secrets",
                                  {"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"generateName": "gen-"},
                                   "data": {"A": "YQ=="}, "stringData": {"B": "bé"}})
        self.assertEqual(st, 201, doc)
        self.assertTrue(doc["metadata"]["name"].startswith("gen-"))
        self.assertEqual(len(doc["metadata"]["name"]), 9)
        self.assertEqual(doc["data"], {"A": "YQ==", "B": "YsOp"})
        self.assertNotIn("stringData", doc)

    def test_unknown_fields(self):
        self.ns("unk")
        obj = secret("u", {"K": "YQ=="})
        obj["stringdata"] = {"typo": "x"}
        obj["metadata"]["lables"] = {"a": "b"}
        st, r, doc = self.api.req("POST", "/api/v1/namespaces/unk/secrets", obj)
        self.assertEqual(st, 201, doc)
        self.assertNotIn("stringdata", doc)
        self.assertNotIn("lables", doc["metadata"])
        self.assertIn('unknown field \\"stringdata\\"', r.getheader("Warning"))
        obj["metadata"]["name"] = "u2"
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/unk/secrets?fieldValidation=Strict",
                                  obj)
        self.assertEqual(st, 400, doc)
        self.assertIn('unknown field "stringdata"', doc["message"])
        # custom resources keep their spec as given
        st, _, doc = self.api.req("POST", "/apis/orgsecrets.io/v1/orgsecrets",
                                  orgsecret("acme.unk.u", {"anything": {"goes": 1}}))
        self.assertEqual(doc["spec"], {"anything": {"goes": 1}})

    def test_namespace_missing(self):
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/ghost/secrets", secret("a", {}))
        self.assertEqual(st, 404)
        self.assertStatus(doc, 404, "NotFound")
        self.assertEqual(doc["details"], {"name": "ghost", "kind": "namespaces"})

    def test_namespace_mismatch(self):
        self.ns("nsm")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/nsm/secrets",
                                  secret("a", {}, ns="other"))
        self.assertEqual(st, 400)
        self.assertStatus(doc, 400, "BadRequest")

    def test_validation(self):
        self.ns("val")
        cases = [
            secret("Bad_Name", {}),
            secret("a" * 254, {}),
            secret("ok", {"bad key": "YQ=="}),
            secret("ok", {}, labels={"k": "x" * 64}),
            secret("ok", {}, labels={"bad key": "v"}),
            secret("ok", {}, labels={"-x/y": "v"}),
            secret("ok", {}, labels={"k": "-v"}),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ok",
                                                                "annotations": {"a b": "c"}}},
        ]
        for obj in cases:
            st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets", obj)
            self.assertEqual(st, 422, (obj, doc))
            self.assertStatus(doc, 422, "Invalid")
            self.assertEqual(doc["details"]["kind"], "Secret")
            self.assertTrue(doc["details"]["causes"])
        bad_requests = [
            secret("ok", {"K": "not base64!"}),                   # decode error, as Go's json
            secret("ok", {"K": "YQ"}),                             # missing padding
            {"apiVersion": "apps/v1", "kind": "Secret", "metadata": {"name": "ok"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}},
        ]
        for obj in bad_requests:
            st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets", obj)
            self.assertEqual(st, 400, (obj, doc))
            self.assertStatus(doc, 400, "BadRequest")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets", raw=b"{not json")
        self.assertEqual(st, 400)
        self.assertStatus(doc, 400, "BadRequest")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets",
                                  raw=b" " * (3 * 1024 * 1024 + 1))
        self.assertEqual(st, 413)
        self.assertStatus(doc, 413, "RequestEntityTooLarge")
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets",
                                  secret("ok", {"K": "YQ=="}))
        self.assertEqual(st, 201, doc)
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/val/secrets",
                                  secret("big", {"K": "A" * (4 * (1024 * 1024 // 3 + 2))}))
        self.assertEqual(st, 422, doc.get("message"))

    def test_update_conflict(self):
        self.ns("upd")
        _, _, created = self.api.req("POST", "/api/v1/namespaces/upd/secrets",
                                     secret("s", {"K": "YQ=="}))
        rv = created["metadata"]["resourceVersion"]
        obj = dict(created, data={"K": "Yg=="})
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/s", obj)
        self.assertEqual(st, 200, doc)
        self.assertNotEqual(doc["metadata"]["resourceVersion"], rv)
        self.assertEqual(doc["metadata"]["uid"], created["metadata"]["uid"])
        self.assertEqual(doc["metadata"]["creationTimestamp"],
                         created["metadata"]["creationTimestamp"])
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/s", obj)   # stale rv
        self.assertEqual(st, 409)
        self.assertStatus(doc, 409, "Conflict")
        self.assertEqual(doc["message"], 'Operation cannot be fulfilled on secrets "s": the object '
                         'has been modified; please apply your changes to the latest version '
                         'and try again')
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/zz", secret("zz", {}))
        self.assertEqual(st, 404)
        # a no-op update keeps the resourceVersion
        _, _, cur = self.api.req("GET", "/api/v1/namespaces/upd/secrets/s")
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/s", cur)
        self.assertEqual(doc["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])
        # type is immutable
        cur2 = dict(cur, type="kubernetes.io/basic-auth")
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/s", cur2)
        self.assertEqual(st, 422, doc)
        # name mismatch
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/upd/secrets/other", cur)
        self.assertEqual(st, 400)

    def test_concurrent_writers(self):
        self.ns("conc")
        self.api.req("POST", "/api/v1/namespaces/conc/configmaps",
                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                      "data": {"n": "0"}})
        path = "/api/v1/namespaces/conc/configmaps/c"
        ok, conflicts, errors = [], [], []

        def patcher(k):
            c = self.api.conn()
            for i in range(10):
                st, _, doc = self.api.req("PATCH", path, {"data": {"p%d-%d" % (k, i): "x"}},
                                          ctype="application/merge-patch+json", conn=c)
                if st != 200:
                    errors.append(doc)
            c.close()

        def incrementer():
            c = self.api.conn()
            for _ in range(10):
                while True:
                    _, _, cur = self.api.req("GET", path, conn=c)
                    cur["data"]["n"] = str(int(cur["data"]["n"]) + 1)
                    st, _, doc = self.api.req("PUT", path, cur, conn=c)
                    if st == 200:
                        ok.append(1)
                        break
                    if st != 409:
                        errors.append(doc)
                        break
                    conflicts.append(1)
            c.close()
        threads = [threading.Thread(target=patcher, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=incrementer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        _, _, final = self.api.req("GET", path)
        self.assertEqual(final["data"]["n"], "40")            # no lost update
        self.assertEqual(len([k for k in final["data"] if k.startswith("p")]), 40)

    def test_delete(self):
        self.ns("del")
        _, _, created = self.api.req("POST", "/api/v1/namespaces/del/secrets", secret("s", {}))
        st, _, doc = self.api.req("DELETE", "/api/v1/namespaces/del/secrets/s",
                                  {"kind": "DeleteOptions", "apiVersion": "v1",
                                   "preconditions": {"resourceVersion": "1"}})
        self.assertEqual(st, 409, doc)
        st, _, doc = self.api.req("DELETE", "/api/v1/namespaces/del/secrets/s",
                                  {"preconditions": {"uid": created["metadata"]["uid"]}})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["status"], "Success")
        st, _, doc = self.api.req("DELETE", "/api/v1/namespaces/del/secrets/s")
        self.assertEqual(st, 404)
        self.api.req("POST", "/api/v1/namespaces/del/secrets", secret("t", {}))
        st, _, doc = self.api.req("DELETE", "/api/v1/namespaces/del")
        self.assertEqual(st, 200)
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/del/secrets/t")
        self.assertEqual(st, 404)

    def test_finalizers_and_owner_gc(self):
        self.ns("fin")
        base = "/apis/orgsecrets.io/v1/orgsecrets"
        o = orgsecret("acme.fin.x", {"name": "X"})
        o["metadata"]["finalizers"] = ["orgsecrets.io/cleanup"]
        _, _, owner = self.api.req("POST", base, o)
        dep = secret("dep", {})
        dep["metadata"]["ownerReferences"] = [{"apiVersion": "orgsecrets.io/v1",
                                               "kind": "OrgSecret", "name": "acme.fin.x",
                                               "uid": owner["metadata"]["uid"]}]
        st, _, _ = self.api.req("POST", "/api/v1/namespaces/fin/secrets", dep)
        self.assertEqual(st, 201)
        st, _, doc = self.api.req("DELETE", base + "/acme.fin.x")
        self.assertEqual(st, 200)
        self.assertTrue(doc["metadata"]["deletionTimestamp"])
        self.assertEqual(doc["metadata"]["generation"], 2)
        st, _, doc = self.api.req("GET", base + "/acme.fin.x")
        self.assertEqual(st, 200)                                  # still there
        st, _, _ = self.api.req("GET", "/api/v1/namespaces/fin/secrets/dep")
        self.assertEqual(st, 200)                                  # owner still exists
        st, _, err = self.api.req("PATCH", base + "/acme.fin.x",
                                  {"metadata": {"finalizers": ["a", "orgsecrets.io/cleanup"]}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 422, err)
        st, _, doc = self.api.req("PATCH", base + "/acme.fin.x",
                                  {"metadata": {"finalizers": None}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200, doc)
        st, _, _ = self.api.req("GET", base + "/acme.fin.x")
        self.assertEqual(st, 404)
        st, _, _ = self.api.req("GET", "/api/v1/namespaces/fin/secrets/dep")
        self.assertEqual(st, 404)                                  # collected

    def test_watch_close_control(self):
        _, _, ls = self.api.req("GET", "/api/v1/namespaces/default/secrets")
        rv = ls["metadata"]["resourceVersion"]
        c, r = self.open_watch("/api/v1/namespaces/default/secrets?watch=1&resourceVersion=%s"
                               "&timeoutSeconds=10" % rv)
        t0 = time.time()
        self.api.req("POST", "/fake/watches/close", {}, token=None)
        self.assertEqual(r.readline(), b"")
        self.assertLess(time.time() - t0, 3)
        c.close()
        c, r = self.open_watch("/api/v1/namespaces/default/secrets?watch=1&resourceVersion=%s"
                               "&timeoutSeconds=10" % rv)
        self.api.req("POST", "/fake/watches/close", {"abrupt": True}, token=None)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            r.read()
        c.close()

    def test_selectors_and_pagination(self):
        self.ns("sel")
        for i in range(7):
            labels = {"idx": str(i), "tier": "a" if i % 2 else "b"}
            if i < 3:
                labels["low"] = "yes"
            st, _, doc = self.api.req("POST", "/api/v1/namespaces/sel/secrets",
                                      secret("s%d" % i, {}, labels))
            self.assertEqual(st, 201, doc)

        def names(q):
            st, _, doc = self.api.req("GET", "/api/v1/namespaces/sel/secrets?" + q)
            self.assertEqual(st, 200, (q, doc))
            return [i["metadata"]["name"] for i in doc["items"]]
        self.assertEqual(names("labelSelector=tier%3Da"), ["s1", "s3", "s5"])
        self.assertEqual(names("labelSelector=tier%3D%3Da"), ["s1", "s3", "s5"])
        self.assertEqual(names("labelSelector=tier!%3Da"), ["s0", "s2", "s4", "s6"])
        self.assertEqual(names("labelSelector=low"), ["s0", "s1", "s2"])
        self.assertEqual(names("labelSelector=!low"), ["s3", "s4", "s5", "s6"])
        self.assertEqual(names("labelSelector=idx%20in%20(1,4,9)"), ["s1", "s4"])
        self.assertEqual(names("labelSelector=idx%20notin%20(1,4)"), ["s0", "s2", "s3", "s5", "s6"])
        self.assertEqual(names("labelSelector=tier%3Da,low"), ["s1"])
        self.assertEqual(names("fieldSelector=metadata.name%3Ds3"), ["s3"])
        self.assertEqual(names("fieldSelector=metadata.namespace%3Dsel&labelSelector=idx%3D2"),
                         ["s2"])
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/sel/secrets?labelSelector=a%20in%20")
        self.assertEqual(st, 400)
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/sel/secrets?fieldSelector=spec.x%3D1")
        self.assertEqual(st, 400)
        seen, cont, pages = [], "", 0
        while True:
            q = "/api/v1/namespaces/sel/secrets?limit=3" + ("&continue=" + cont if cont else "")
            st, _, doc = self.api.req("GET", q)
            self.assertEqual(st, 200, doc)
            pages += 1
            self.assertLessEqual(len(doc["items"]), 3)
            seen += [i["metadata"]["name"] for i in doc["items"]]
            cont = doc["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, ["s%d" % i for i in range(7)])

    def test_merge_and_json_patch(self):
        self.ns("pat")
        self.api.req("POST", "/api/v1/namespaces/pat/secrets",
                     secret("p", {"A": "YQ==", "B": "Yg=="}, {"x": "1"}))
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p",
                                  {"metadata": {"labels": {"x": None, "y": "2"}},
                                   "data": {"A": None, "C": "Yw=="}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["metadata"]["labels"], {"y": "2"})
        self.assertEqual(doc["data"], {"B": "Yg==", "C": "Yw=="})
        st, _, doc2 = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p",
                                   {"metadata": {"resourceVersion": "1"}, "data": {"D": "ZA=="}},
                                   ctype="application/merge-patch+json")
        self.assertEqual(st, 409, doc2)
        ops = [{"op": "test", "path": "/data/B", "value": "Yg=="},
               {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}},
               {"op": "replace", "path": "/data/B", "value": "Ync="},
               {"op": "copy", "from": "/data/C", "path": "/data/E"},
               {"op": "move", "from": "/data/C", "path": "/data/F"},
               {"op": "remove", "path": "/metadata/labels/y"}]
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p", ops,
                                  ctype="application/json-patch+json")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["data"], {"B": "Ync=", "E": "Yw==", "F": "Yw=="})
        self.assertEqual(doc["metadata"]["annotations"], {"a/b": "c"})
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p",
                                  [{"op": "test", "path": "/data/B", "value": "nope"}],
                                  ctype="application/json-patch+json")
        self.assertEqual(st, 422, doc)
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p", {},
                                  ctype="text/plain")
        self.assertEqual(st, 415, doc)
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/p",
                                  {"data": {"bad key": "YQ=="}},
                                  ctype="application/strategic-merge-patch+json")
        self.assertEqual(st, 422, doc)
        st, _, doc = self.api.req("PATCH", "/api/v1/namespaces/pat/secrets/nope", {},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 404, doc)

    def test_status_subresource_and_generation(self):
        base = "/apis/orgsecrets.io/v1/orgsecrets"
        obj = orgsecret("acme.prod.db", {"organization": "acme", "name": "DB"})
        obj["status"] = {"ignored": True}
        st, _, doc = self.api.req("POST", base, obj)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["metadata"]["generation"], 1)
        self.assertNotIn("status", doc)
        self.assertNotIn("namespace", doc["metadata"])
        # status via /status
        doc["status"] = {"conditions": [{"type": "Ready", "status": "True"}],
                         "observedGeneration": 1}
        doc["spec"]["name"] = "IGNORED"
        st, _, doc = self.api.req("PUT", base + "/acme.prod.db/status", doc)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["status"]["observedGeneration"], 1)
        self.assertEqual(doc["spec"]["name"], "DB")
        self.assertEqual(doc["metadata"]["generation"], 1)
        # main resource ignores status; spec change bumps generation
        doc["status"] = {"observedGeneration": 99}
        doc["spec"]["name"] = "DB2"
        st, _, doc = self.api.req("PUT", base + "/acme.prod.db", doc)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["status"]["observedGeneration"], 1)
        self.assertEqual(doc["metadata"]["generation"], 2)
        # metadata-only change keeps generation
        st, _, doc = self.api.req("PATCH", base + "/acme.prod.db",
                                  {"metadata": {"labels": {"l": "v"}}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(doc["metadata"]["generation"], 2)
        st, _, doc = self.api.req("PATCH", base + "/acme.prod.db/status",
                                  {"status": {"observedGeneration": 2}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["status"]["observedGeneration"], 2)
        self.assertEqual(doc["metadata"]["generation"], 2)
        st, _, doc = self.api.req("PATCH", base + "/acme.prod.db", {"metadata": {}},
                                  ctype="application/strategic-merge-patch+json")
        self.assertEqual(st, 415, doc)
        # custom resources refuse unconditional updates
        _, _, doc = self.api.req("GET", base + "/acme.prod.db")
        nrv = dict(doc, metadata=dict(doc["metadata"], resourceVersion=""))
        for path in (base + "/acme.prod.db", base + "/acme.prod.db/status"):
            st, _, err = self.api.req("PUT", path, nrv)
            self.assertEqual(st, 422, err)
            self.assertIn("metadata.resourceVersion: Invalid value: 0x0: must be specified for "
                          "an update", err["message"])
        st, _, doc = self.api.req("GET", base)
        self.assertEqual(doc["kind"], "OrgSecretList")
        self.assertEqual(doc["items"][0]["kind"], "OrgSecret")
        st, _, doc = self.api.req("DELETE", base + "/acme.prod.db")
        self.assertEqual(st, 200)
        self.assertEqual(doc["kind"], "OrgSecret")

    def test_lease_and_events(self):
        self.ns("le")
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "orgsecrets-controller"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                          "renewTime": "2024-01-01T00:00:00Z"}}
        st, _, doc = self.api.req("POST", "/apis/coordination.k8s.io/v1/namespaces/le/leases",
                                  lease)
        self.assertEqual(st, 400, doc)      # MicroTime needs exactly six fraction digits
        lease["spec"]["renewTime"] = "2024-01-01T00:00:00.000000Z"
        st, _, doc = self.api.req("POST", "/apis/coordination.k8s.io/v1/namespaces/le/leases",
                                  lease)
        self.assertEqual(st, 201, doc)
        lease_path = "/apis/coordination.k8s.io/v1/namespaces/le/leases/orgsecrets-controller"
        doc["spec"]["holderIdentity"] = "b"
        st, _, upd = self.api.req("PUT", lease_path, doc)
        self.assertEqual(st, 200, upd)
        st, _, err = self.api.req("PUT", lease_path, doc)
        self.assertEqual(st, 409, err)
        del upd["metadata"]["resourceVersion"]
        st, _, err = self.api.req("PUT", lease_path, upd)
        self.assertEqual(st, 422, err)
        # Leases (only) may be created by PUT
        lease["metadata"]["name"] = "by-put"
        st, _, doc = self.api.req("PUT", "/apis/coordination.k8s.io/v1/namespaces/le/leases/by-put",
                                  lease)
        self.assertEqual(st, 201, doc)
        # a create must not carry a resourceVersion
        lease["metadata"] = {"name": "with-rv", "resourceVersion": "5"}
        st, _, doc = self.api.req("POST", "/apis/coordination.k8s.io/v1/namespaces/le/leases",
                                  lease)
        self.assertEqual(st, 500, doc)
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
              "involvedObject": {"kind": "OrgSecret", "name": "x",
                                 "apiVersion": "orgsecrets.io/v1"},
              "reason": "Synced", "message": "ok", "type": "Normal",
              "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:00Z",
              "count": 1, "source": {"component": "orgsecrets-controller"}}
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/le/events", ev)
        self.assertEqual(st, 422, doc)      # cluster-scoped involvedObject: default namespace
        st, _, doc = self.api.req("POST", "/api/v1/namespaces/default/events", ev)
        self.assertEqual(st, 201, doc)
        nev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "n1"},
               "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal", "reason": "Synced",
               "action": "Reconcile", "reportingController": "orgsecrets.io/controller",
               "reportingInstance": "pod-1", "note": "ok",
               "regarding": {"kind": "OrgSecret", "name": "x", "apiVersion": "orgsecrets.io/v1"}}
        st, _, doc = self.api.req("POST", "/apis/events.k8s.io/v1/namespaces/default/events", nev)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.api.req("POST", "/apis/events.k8s.io/v1/namespaces/le/events", nev)
        self.assertEqual(st, 422, doc)      # cluster-scoped regarding: default or kube-system
        del nev["action"]
        nev["metadata"]["name"] = "n2"
        st, _, doc = self.api.req("POST", "/apis/events.k8s.io/v1/namespaces/default/events", nev)
        self.assertEqual(st, 422, doc)
        self.assertIn("action: Required value", doc["message"])

    def test_apps_generation(self):
        self.ns("apps")
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"replicas": 1}}
        st, _, doc = self.api.req("POST", "/apis/apps/v1/namespaces/apps/deployments", dep)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["metadata"]["generation"], 1)
        st, _, doc = self.api.req("PATCH", "/apis/apps/v1/namespaces/apps/deployments/web",
                                  {"spec": {"replicas": 2}},
                                  ctype="application/strategic-merge-patch+json")
        self.assertEqual(doc["metadata"]["generation"], 2)

    # --- watch ---
    def open_watch(self, path):
        c = self.api.conn(timeout=15)
        c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        return c, r

    def next_event(self, r, bookmarks=False):
        """The next event; BOOKMARKs are skipped unless asked for (they may come any time)."""
        while True:
            line = r.readline()
            self.assertTrue(line, "watch stream ended")
            ev = json.loads(line)
            if bookmarks or ev["type"] != "BOOKMARK":
                return ev

    def test_watch(self):
        self.ns("w")
        _, _, a = self.api.req("POST", "/api/v1/namespaces/w/secrets", secret("a", {}, {"k": "v"}))
        rv0 = a["metadata"]["resourceVersion"]
        self.api.req("POST", "/api/v1/namespaces/w/secrets", secret("b", {}, {"k": "v"}))
        # replay from rv0: b is ADDED
        c, r = self.open_watch("/api/v1/namespaces/w/secrets?watch=1&resourceVersion=%s"
                               "&allowWatchBookmarks=true&timeoutSeconds=10&labelSelector=k%%3Dv"
                               % rv0)
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "b"))
        self.assertEqual(ev["object"]["kind"], "Secret")
        # live update; then the object stops matching the selector: DELETED
        self.api.req("PATCH", "/api/v1/namespaces/w/secrets/a", {"data": {"x": "eA=="}},
                     ctype="application/merge-patch+json")
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("MODIFIED", "a"))
        self.api.req("PATCH", "/api/v1/namespaces/w/secrets/a", {"metadata": {"labels": None}},
                     ctype="application/merge-patch+json")
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "a"))
        # bookmark within ~1 s
        t0 = time.time()
        ev = self.next_event(r, bookmarks=True)
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertLess(time.time() - t0, 3)
        self.assertEqual(set(ev["object"]["metadata"]), {"resourceVersion"})
        self.assertTrue(ev["object"]["metadata"]["resourceVersion"])
        self.api.req("DELETE", "/api/v1/namespaces/w/secrets/b")
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "b"))
        # compaction ends open watches with 410
        st, _, comp = self.api.req("POST", "/fake/compact", token=None)
        self.assertEqual(st, 200)
        ev = self.next_event(r)
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual(ev["object"]["code"], 410)
        self.assertEqual(ev["object"]["reason"], "Expired")
        self.assertEqual(r.readline(), b"")      # the stream ends after the 410
        c.close()
        # a later watch from an old rv gets 410 at once
        c, r = self.open_watch("/api/v1/namespaces/w/secrets?watch=true&resourceVersion=%s" % rv0)
        ev = self.next_event(r)
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual(ev["object"]["code"], 410)
        c.close()
        # no resourceVersion: synthetic ADDED for what exists, then timeout ends the stream
        c, r = self.open_watch("/api/v1/namespaces/w/secrets?watch=1&timeoutSeconds=1")
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "a"))
        t0 = time.time()
        self.assertEqual(r.readline(), b"")
        self.assertLess(time.time() - t0, 5)
        c.close()

    def test_watch_all_namespaces_and_cluster_scoped(self):
        _, _, ls = self.api.req("GET", "/apis/orgsecrets.io/v1/organizations")
        rv = ls["metadata"]["resourceVersion"]
        c, r = self.open_watch("/apis/orgsecrets.io/v1/organizations?watch=1&resourceVersion=%s"
                               "&timeoutSeconds=5" % rv)
        self.api.req("POST", "/apis/orgsecrets.io/v1/organizations",
                     {"apiVersion": "orgsecrets.io/v1", "kind": "Organization",
                      "metadata": {"name": "acme"}, "spec": {"id": "acme"}})
        ev = self.next_event(r)
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "acme"))
        c.close()

    # --- faults and the request log ---
    def test_faults(self):
        self.ns("flt")
        self.api.req("DELETE", "/fake/requests", token=None)
        st, _, _ = self.api.req("POST", "/fake/faults",
                                {"method": "PUT", "path": "/secrets/f1$", "status": 429,
                                 "count": 2, "retryAfter": 3}, token=None)
        self.assertEqual(st, 201)
        _, _, obj = self.api.req("POST", "/api/v1/namespaces/flt/secrets", secret("f1", {}))
        for _ in range(2):
            st, r, doc = self.api.req("PUT", "/api/v1/namespaces/flt/secrets/f1", obj)
            self.assertEqual(st, 429)
            self.assertEqual(r.getheader("Retry-After"), "3")
            self.assertStatus(doc, 429, "TooManyRequests")
        st, _, doc = self.api.req("PUT", "/api/v1/namespaces/flt/secrets/f1", obj)
        self.assertEqual(st, 200, doc)
        self.api.req("POST", "/fake/faults", {"path": "/secrets/f1", "status": 500, "count": 1},
                     token=None)
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/flt/secrets/f1")
        self.assertEqual(st, 500)
        self.assertStatus(doc, 500, "InternalError")
        self.api.req("POST", "/fake/faults", {"path": "/secrets/f1", "drop": True, "count": 1},
                     token=None)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            self.api.req("GET", "/api/v1/namespaces/flt/secrets/f1")
        st, _, _ = self.api.req("GET", "/api/v1/namespaces/flt/secrets/f1")
        self.assertEqual(st, 200)
        _, _, faults = self.api.req("GET", "/fake/faults", token=None)
        self.assertEqual([f["hits"] for f in faults], [2, 1, 1])
        _, _, log = self.api.req("GET", "/fake/requests", token=None)
        puts = [e for e in log if e["method"] == "PUT"]
        self.assertEqual([e["status"] for e in puts], [429, 429, 200])
        self.assertEqual(puts[0]["path"], "/api/v1/namespaces/flt/secrets/f1")
        self.assertEqual(puts[0]["contentType"], "application/json")

    def test_fault_raw_body_version_and_token_ids(self):
        self.ns("raw")
        self.api.req("DELETE", "/fake/requests", token=None)
        st, _, _ = self.api.req("POST", "/fake/faults", {"path": "/secrets/r1$", "status": 200,
                                                          "body": "[]", "count": 1}, token=None)
        self.assertEqual(st, 201)
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/raw/secrets/r1")
        self.assertEqual((st, doc), (200, []))
        self.api.req("POST", "/fake/faults", {"path": "/secrets/r1$", "status": 200, "body": ""},
                     token=None)
        st, _, doc = self.api.req("GET", "/api/v1/namespaces/raw/secrets/r1")
        self.assertEqual((st, doc), (200, None))
        st, _, _ = self.api.req("GET", "/api/v1/namespaces/raw/secrets/r1")
        self.assertEqual(st, 404)
        st, _, doc = self.api.req("POST", "/fake/faults", {"path": "x", "body": "[]"}, token=None)
        self.assertEqual(st, 400, doc)
        # who sent what: a digest of the bearer token, none for a client certificate
        self.api.req("GET", "/api/v1/namespaces/raw/secrets", token=None, cert=True)
        _, _, log = self.api.req("GET", "/fake/requests", token=None)
        ids = [(e["tokenId"], e["auth"]) for e in log if e["path"] == "/api/v1/namespaces/raw/secrets/r1"]
        # faults answer before authentication: only the last GET was authenticated
        self.assertEqual(ids[-1], (hashlib.sha256(TOKEN.encode()).hexdigest()[:12], "token"))
        self.assertEqual([(e["tokenId"], e["auth"]) for e in log if e["path"] == "/api/v1/namespaces/raw/secrets"],
                         [("", "cert")])
        # the version a test asks for
        st, _, doc = self.api.req("POST", "/fake/version", {"gitVersion": "v1.19.16"}, token=None)
        self.assertEqual(st, 200)
        st, _, doc = self.api.req("GET", "/version", token=None)
        self.assertEqual((doc["major"], doc["minor"], doc["gitVersion"]), ("1", "19", "v1.19.16"))
        st, _, _ = self.api.req("POST", "/fake/version", {"gitVersion": "1.x"}, token=None)
        self.assertEqual(st, 400)
        self.api.req("POST", "/fake/version", {"gitVersion": "v1.32.0-fakeapi"}, token=None)

    def test_control_objects_and_dump(self):
        st, _, doc = self.api.req("POST", "/fake/objects", {"items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ctl"}},
            secret("c1", {"K": "YQ=="}, ns="ctl"),
            dict(orgsecret("acme.dev.c1", {"name": "C1"}), status={"phase": "x"})]}, token=None)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["items"][2]["status"], {"phase": "x"})
        st, _, doc = self.api.req("POST", "/fake/objects", secret("Bad", {}, ns="ctl"), token=None)
        self.assertEqual(st, 422)
        _, _, dump = self.api.req("GET", "/fake/dump", token=None)
        keys = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
                for o in dump["items"]}
        self.assertIn(("Secret", "ctl", "c1"), keys)
        self.assertIn(("OrgSecret", None, "acme.dev.c1"), keys)

    def test_discovery(self):
        for p in ("/api", "/api/v1", "/apis", "/apis/orgsecrets.io/v1",
                  "/apis/coordination.k8s.io/v1", "/apis/apps/v1", "/apis/events.k8s.io/v1"):
            st, _, doc = self.api.req("GET", p)
            self.assertEqual(st, 200, p)
        _, _, doc = self.api.req("GET", "/apis/orgsecrets.io/v1")
        names = {r["name"]: r for r in doc["resources"]}
        self.assertFalse(names["orgsecrets"]["namespaced"])
        self.assertIn("orgsecrets/status", names)
        st, _, doc = self.api.req("GET", "/version", token=None)
        self.assertEqual(st, 200)

    # --- kubectl ---
    def test_kubectl(self):
        kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
        if not os.path.exists(kubectl):
            print("skipping kubectl test: kubectl not installed", file=sys.stderr)
            self.skipTest("kubectl not installed")
        self.ns("kc")
        self.api.req("POST", "/api/v1/namespaces/kc/secrets", secret("k1", {"K": "dg=="}))
        self.api.req("POST", "/apis/orgsecrets.io/v1/orgsecrets",
                     orgsecret("acme.kc.k1", {"name": "K1"}))
        home = os.path.join(self.api.dir, "home")
        env = dict(os.environ, HOME=home, KUBECONFIG=self.api.kubeconfig)

        def run(*args):
            p = subprocess.run([kubectl, "--kubeconfig", self.api.kubeconfig] + list(args),
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout
        doc = json.loads(run("get", "secret", "k1", "-n", "kc", "-o", "json"))
        self.assertEqual(doc["data"], {"K": "dg=="})
        doc = json.loads(run("get", "secrets", "-A", "-o", "json"))
        self.assertIn(("kc", "k1"), [(i["metadata"]["namespace"], i["metadata"]["name"])
                                     for i in doc["items"]])
        self.assertIn("kc", run("get", "namespaces"))
        self.assertIn("acme.kc.k1", run("get", "orgsecrets"))
        # typed writes (kubectl sends protobuf bodies for these) and patches
        run("create", "namespace", "kc2")
        run("create", "secret", "generic", "k2", "-n", "kc2", "--from-literal=A=b")
        run("create", "configmap", "c2", "-n", "kc2", "--from-literal=k=v")
        run("label", "secret", "k2", "-n", "kc2", "x=y")
        run("annotate", "orgsecret", "acme.kc.k1", "note=hi")
        doc = json.loads(run("get", "secret", "k2", "-n", "kc2", "-o", "json"))
        self.assertEqual(doc["data"], {"A": "Yg=="})
        self.assertEqual(doc["metadata"]["labels"], {"x": "y"})
        self.assertNotIn("generateName", doc["metadata"])
        run("delete", "secret", "k2", "-n", "kc2")
        run("delete", "namespace", "kc2")
        p = subprocess.run([kubectl, "--kubeconfig", self.api.kubeconfig, "create", "secret",
                            "generic", "Bad", "-n", "kc", "--from-literal=A=b"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("is invalid", p.stderr)
        self.assertIn("acme.kc.k1", run("--context", "fakeapi-cert", "get", "orgsecrets",
                                        "-o", "name"))


ORG_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "organizations.orgsecrets.io"},
    "spec": {"group": "orgsecrets.io", "scope": "Cluster",
             "names": {"kind": "Organization", "plural": "organizations",
                       "singular": "organization"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {
                               "type": "object", "required": ["spec"],
                               "properties": {
                                   "spec": {"type": "object", "required": ["id"], "properties": {
                                       "id": {"type": "string", "pattern": "^[a-z]+$",
                                              "maxLength": 10},
                                       "rotationDays": {"type": "integer", "minimum": 0,
                                                        "default": 90},
                                       "members": {"type": "array",
                                                   "x-kubernetes-list-type": "map",
                                                   "x-kubernetes-list-map-keys": ["name"],
                                                   "items": {"type": "object",
                                                             "required": ["name"],
                                                             "properties": {
                                                                 "name": {"type": "string"},
                                                                 "role": {"type": "string",
                                                                          "enum": ["admin",
                                                                                   "viewer"]}}}}}},
                                   "status": {"type": "object", "properties": {
                                       "observedGeneration": {"type": "integer"}}}}}}}]}}


class CrdSchemaTest(unittest.TestCase):
    """With a CRD stored, custom resources are pruned and validated by its schema."""

    @classmethod
    def setUpClass(cls):
        cls.api = FakeApi()

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()

    def test_schema(self):
        base = "/apis/orgsecrets.io/v1/organizations"
        st, _, doc = self.api.req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  ORG_CRD)
        self.assertEqual(st, 201, doc)
        org = {"apiVersion": "orgsecrets.io/v1", "kind": "Organization",
               "metadata": {"name": "acme"},
               "spec": {"id": "acme", "typo": 1, "members": [{"name": "a", "role": "admin"}]}}
        st, r, doc = self.api.req("POST", base, org)
        self.assertEqual(st, 201, doc)
        self.assertNotIn("typo", doc["spec"])                      # pruned
        self.assertIn('unknown field \\"spec.typo\\"', r.getheader("Warning"))
        self.assertEqual(doc["spec"]["rotationDays"], 90)          # defaulted
        org["metadata"]["name"] = "acme2"
        st, _, doc = self.api.req("POST", base + "?fieldValidation=Strict", org)
        self.assertEqual(st, 400, doc)
        bad = {"apiVersion": "orgsecrets.io/v1", "kind": "Organization",
               "metadata": {"name": "bad"},
               "spec": {"id": "UPPER", "rotationDays": -1,
                        "members": [{"name": "a", "role": "root"}, {"name": "a"}]}}
        st, _, doc = self.api.req("POST", base, bad)
        self.assertEqual(st, 422, doc)
        fields = sorted(c["field"] for c in doc["details"]["causes"])
        self.assertEqual(fields, ["spec.id", "spec.members[0].role", "spec.members[1]",
                                  "spec.rotationDays"], doc["message"])
        self.assertTrue(doc["message"].startswith('Organization.orgsecrets.io "bad" is invalid'))
        st, _, doc = self.api.req("POST", base, {"apiVersion": "orgsecrets.io/v1",
                                                  "kind": "Organization",
                                                  "metadata": {"name": "nospec"}})
        self.assertEqual(st, 422, doc)
        st, _, doc = self.api.req("PATCH", base + "/acme/status",
                                  {"status": {"observedGeneration": "one"}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 422, doc)
        self.assertIn("must be of type integer", doc["message"])
        st, _, doc = self.api.req("PATCH", base + "/acme/status",
                                  {"status": {"observedGeneration": 1}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200, doc)

    def test_repository_crds(self):
        crds = os.path.join(HERE, "..", "..", "manifests", "crds")
        if not os.path.isdir(crds):
            print("skipping: no manifests/crds in this tree", file=sys.stderr)
            self.skipTest("no manifests/crds")
        try:
            import yaml  # noqa: F401
        except ImportError:
            print("skipping: PyYAML not installed, cannot read manifests/crds", file=sys.stderr)
            self.skipTest("PyYAML missing")
        api = FakeApi("--crd", crds)
        try:
            st, _, doc = api.req("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            names = sorted(i["metadata"]["name"] for i in doc["items"])
            self.assertIn("orgsecrets.orgsecrets.io", names)
            st, _, doc = api.req("POST", "/apis/orgsecrets.io/v1/orgsecrets",
                                 orgsecret("acme.prod.x", {"name": "lower"}))
            self.assertEqual(st, 422, doc)
            _, _, disc = api.req("GET", "/apis/orgsecrets.io/v1")
            by_name = {r["name"]: r for r in disc["resources"]}
            self.assertTrue(by_name["orgsecrets"].get("shortNames"))   # from the stored CRD
        finally:
            api.stop()


class ProcessTest(unittest.TestCase):
    def test_start_script(self):
        d = tempfile.mkdtemp(prefix="fakeapi-start-")
        try:
            p = subprocess.run(["sh", os.path.join(HERE, "start.sh"), d], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(d, "pid")) as f:
                pid = int(f.read())
            try:
                with open(os.path.join(d, "port")) as f:
                    port = int(f.read())
                self.assertEqual(p.stdout.strip(), "https://127.0.0.1:%d" % port)
                with open(os.path.join(d, "token")) as f:
                    token = f.read().strip()
                ctx = ssl.create_default_context(cafile=os.path.join(d, "tls", "ca.crt"))
                c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
                c.request("GET", "/api/v1/namespaces", headers={"Authorization": "Bearer " + token})
                self.assertEqual(c.getresponse().status, 200)
                c.close()
                with open(os.path.join(d, "kubeconfig")) as f:
                    self.assertIn("tokenFile", f.read())
            finally:
                os.kill(pid, 15)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_state(self):
        d = tempfile.mkdtemp(prefix="fakeapi-state-")
        try:
            path = os.path.join(d, "state.json")
            with open(path, "w") as f:
                json.dump({"items": [secret("s", {"K": "YQ=="}, ns="pre"),
                                     {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "pre"}}]}, f)
            api = FakeApi("--state", path)
            try:
                st, _, doc = api.req("GET", "/api/v1/namespaces/pre/secrets/s")
                self.assertEqual(st, 200, doc)
                rv = int(doc["metadata"]["resourceVersion"])
                api.req("POST", "/api/v1/namespaces/pre/secrets", secret("extra", {}))
                st, _, out = api.req("POST", "/fake/reset", token=None)
                self.assertEqual(st, 200)
                self.assertGreater(int(out["resourceVersion"]), rv)     # never goes back
                st, _, _ = api.req("GET", "/api/v1/namespaces/pre/secrets/extra")
                self.assertEqual(st, 404)
                st, _, doc = api.req("GET", "/api/v1/namespaces/pre/secrets/s")
                self.assertEqual(st, 200, doc)                          # state reloaded
            finally:
                api.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
