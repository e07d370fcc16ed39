"""The pod admission webhook served by the real controller over HTTPS:
references become secretKeyRefs, unknown names are refused, malformed
requests get 400, and a rotated certificate is picked up without a restart
or a failed request."""

import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import read, secret_key_refs, ControllerTest, wait_for

VALUES = {"DATABASE_PASSWORD": "pw-webhook-44dd", "API_KEY": "ak-webhook-55ee"}


def make_cert(d, cn, serial):
    os.makedirs(d, exist_ok=True)
    key, crt = os.path.join(d, "tls.key"), os.path.join(d, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
                    "-set_serial", str(serial), "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def review(uid, env, ns="shop", labels=None):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": ns, "operation": "CREATE",
                        "object": {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "web", "namespace": ns,
                                                "labels": labels if labels is not None else {"orgsecrets.io/inject": "true"}},
                                   "spec": {"containers": [{"name": "app", "image": "busybox", "env": env}]}}}}


class WebhookTest(ControllerTest):
    PREFIX = "os-webhook-"
    VALUES = VALUES

    def setUp(self):
        super().setUp()
        self.start_webhook()

    def start_webhook(self):
        """The controller with the webhook (HTTPS) and /readyz, ready."""
        self.certdir = os.path.join(self.tmp, "cert")
        self.crt, self.key = make_cert(self.certdir, "orgsecrets-webhook-1", 1001)
        self.ca1 = os.path.join(self.tmp, "ca1.crt")
        shutil.copy(self.crt, self.ca1)
        self.output_files.append(os.path.join(self.tmp, "audit.log"))
        self.ctl = self.controller(extra=[
            "--webhook-listen", "127.0.0.1:0", "--tls-cert", self.crt, "--tls-key", self.key,
            "--listen", "127.0.0.1:0", "--resync", "1h",
            "--audit-log", os.path.join(self.tmp, "audit.log")])
        self.ctl.start()
        self.port = int(wait_for(lambda: re.search(r"pod webhook on port (\d+)", self.ctl.output()),
                                 what="webhook port").group(1))
        self.http_port = int(wait_for(lambda: re.search(r"/recipients on port (\d+)", self.ctl.output()),
                                      what="http port").group(1))
        wait_for(lambda: self.get("/readyz")[0] == 200, what="ready")

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, body, cafile=None, raw=None):
        ctx = ssl.create_default_context(cafile=cafile or self.ca1)
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request("https://127.0.0.1:%d/mutate-pods" % self.port, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_inject_refuse_and_metrics(self):
        env = [{"name": "DATABASE_URL", "value": "postgres://app:$DATABASE_PASSWORD@db:5432/app"},
               {"name": "API_KEY", "value": "${API_KEY}"}]
        # a real client: curl, over HTTPS, verifying the webhook's certificate
        body = os.path.join(self.tmp, "review.json")
        with open(body, "w") as f:
            json.dump(review("u-1", env), f)
        p = subprocess.run(["curl", "-sS", "--fail", "--cacert", self.ca1, "-H", "Content-Type: application/json",
                            "--data-binary", "@" + body, "https://127.0.0.1:%d/mutate-pods" % self.port],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        resp = json.loads(p.stdout)
        r = resp["response"]
        self.assertEqual(r["uid"], "u-1")
        self.assertTrue(r["allowed"])
        patch = json.loads(base64.b64decode(r["patch"]))
        text = json.dumps(patch)
        found = set(secret_key_refs(patch))
        self.assertIn(("acme-secrets", "API_KEY"), found)
        self.assertIn(("acme-secrets", "DATABASE_PASSWORD"), found)
        self.assertIn("$(ORGSECRETS_DATABASE_PASSWORD)", text)
        for v in VALUES.values():
            self.assertNotIn(v, text)
        # unknown reference refused, naming it
        code, resp = self.post(review("u-2", [{"name": "X", "value": "$NOT_A_SECRET"}]))
        self.assertEqual(code, 200)
        self.assertFalse(resp["response"]["allowed"])
        self.assertIn("NOT_A_SECRET", resp["response"]["status"]["message"])
        # not opted in: allowed, untouched
        code, resp = self.post(review("u-3", env, labels={}))
        self.assertTrue(resp["response"]["allowed"])
        self.assertNotIn("patch", resp["response"])
        # malformed: 400
        code, _ = self.post(None, raw=b"{not json")
        self.assertEqual(code, 400)
        code, metrics = self.get("/metrics")
        self.assertEqual(code, 200)
        self.assertRegex(metrics, r'orgsecrets_webhook_requests_total\{result="patched"\} 1')
        self.assertRegex(metrics, r'orgsecrets_webhook_requests_total\{result="denied"\} 1')
        self.assertRegex(metrics, r'orgsecrets_webhook_requests_total\{result="malformed"\} 1')
        self.assertIn("orgsecrets_webhook_duration_seconds_bucket", metrics)
        # the controller's own metrics, Prometheus-style names
        self.assertRegex(metrics, r'orgsecrets_secrets\{state="active"\} 2\b')
        self.assertRegex(metrics, r'orgsecrets_reconcile_total\{result="success"\} [1-9]')
        self.assertIn('orgsecrets_reconcile_duration_seconds_bucket{result="success",le="0.1"}', metrics)
        self.assertRegex(metrics, r'orgsecrets_kube_requests_total\{verb="LIST",code="200"\} [1-9]')
        self.assertRegex(metrics, r'orgsecrets_target_writes_total\{operation="create"\} 1\b')
        self.assertRegex(metrics, r'orgsecrets_leader 1\b')
        self.assertRegex(metrics, r'orgsecrets_build_info\{version="[0-9.]+"\} 1')
        for v in VALUES.values():
            self.assertNotIn(v, metrics)
        audit = [json.loads(l) for l in read(os.path.join(self.tmp, "audit.log")).splitlines()]
        injects = [a for a in audit if a["event"] == "inject"]
        self.assertEqual(len(injects), 1)
        self.assertEqual((injects[0]["namespace"], injects[0]["names"]), ("shop", "API_KEY,DATABASE_PASSWORD"))
        code, rec = self.get("/v1/recipients")
        self.assertEqual(json.loads(rec)["recipients"], [self.org.recipient["prodctl"]])

    def test_certificate_rotation_without_restart(self):
        env = [{"name": "API_KEY", "value": "$API_KEY"}]
        failures, done = [], threading.Event()
        ca_both = os.path.join(self.tmp, "both.crt")

        def loop():
            while not done.is_set():
                try:
                    code, _ = self.post(review("loop", env), cafile=ca_both if os.path.exists(ca_both) else None)
                    if code != 200:
                        failures.append(code)
                except Exception as e:  # noqa: BLE001 - any failure counts
                    if not os.path.exists(ca_both):
                        failures.append(repr(e))
                time.sleep(0.01)

        newdir = os.path.join(self.tmp, "cert2")
        crt2, key2 = make_cert(newdir, "orgsecrets-webhook-2", 2002)
        with open(ca_both, "w") as f:
            f.write(read(self.ca1) + read(crt2))
        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.3)
        pid = self.ctl.proc.pid
        # cert-manager style: replace both files
        shutil.copy(key2, self.key + ".new")
        shutil.copy(crt2, self.crt + ".new")
        os.replace(self.key + ".new", self.key)
        os.replace(self.crt + ".new", self.crt)

        def serial():
            ctx = ssl.create_default_context(cafile=ca_both)
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
                    return tls.getpeercert()["serialNumber"]
        wait_for(lambda: int(serial(), 16) == 2002, timeout=20, interval=0.2, what="new certificate served")
        time.sleep(0.3)
        done.set()
        t.join()
        self.assertEqual(failures, [])
        self.assertEqual(self.ctl.proc.pid, pid)
        self.assertIsNone(self.ctl.proc.poll(), "no restart")


if __name__ == "__main__":
    unittest.main()
