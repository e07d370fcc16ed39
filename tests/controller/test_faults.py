"""The controller converges through API faults: 409 races, bursts of 429
and 500, dropped connections, and a service-account token rotated mid-run."""

import json
import os
import subprocess
import time
import unittest

from harness import ControllerTest, binary, wait_for

VALUES = {"DATABASE_PASSWORD": "pw-faults-77xx1", "API_KEY": "ak-faults-0022z"}


class FaultsTest(ControllerTest):
    PREFIX = "os-faults-"
    VALUES = VALUES

    def setUp(self):
        super().setUp()
        self.ctl = self.controller()

    def expect_synced(self):
        self.assertEqual(self.fake.secret_values("shop", "acme-secrets"), VALUES)

    @unittest.skipIf(os.environ.get("ORGSECRETS_SANITIZED") == "1",
                     "ASan's runtime must be the first library; an LD_PRELOAD shim cannot be")
    def test_thread_that_cannot_start_fails_startup(self):
        # at a thread limit the folder watch cannot start: the controller
        # says so and exits, instead of running without it
        env_dir = os.path.join(self.tmp, "env")
        args = [binary("orgsecrets-controller"), "--environment", "prod", "--identity",
                self.org.key("prodctl"), "--source", self.org.dir, "--no-kubernetes",
                "--env-file-dir", env_dir]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, LD_PRELOAD=os.environ["ORGSECRETS_FAIL_THREADS"]))
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("the controller kept running without its watch thread")
        self.assertEqual(p.returncode, 1)
        last = err.decode().strip().splitlines()[-1]
        self.assertEqual(last, "orgsecrets-controller: starting the watch of %s: Resource temporarily "
                               "unavailable" % self.org.dir)
        self.assertEqual(os.listdir(env_dir) if os.path.isdir(env_dir) else [], [], "no pass ran")

    def test_invalid_clock_override_fails_startup(self):
        # docs/format.md: an ORGSECRETS_NOW that does not parse is refused at
        # start-up, not silently replaced by the real clock
        env_dir = os.path.join(self.tmp, "env")
        args = [binary("orgsecrets-controller"), "--environment", "prod", "--identity",
                self.org.key("prodctl"), "--source", self.org.dir, "--no-kubernetes",
                "--env-file-dir", env_dir, "--once"]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                           env=dict(os.environ, ORGSECRETS_NOW="2024-02-30T00:00:00Z"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr.decode().strip().splitlines(),
                         ['orgsecrets-controller: ORGSECRETS_NOW="2024-02-30T00:00:00Z" is not an '
                          'RFC 3339 time'])
        self.assertEqual(os.listdir(env_dir) if os.path.isdir(env_dir) else [], [], "no pass ran")
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, ORGSECRETS_NOW="2024-02-29T00:00:00Z"))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_conflict_race_with_another_writer(self):
        self.assertEqual(self.ctl.once()[0], 0)
        # another writer changes the Secret between our read and our write:
        # the cache is stale, the PUT gets 409, we re-read and win
        self.org.set("API_KEY", "prod", "ak-faults-rotated")
        VALUES["API_KEY"] = "ak-faults-rotated"
        self.fake.fault(method="PATCH", path="/secrets/acme-secrets", status=409, count=2,
                        reason="Conflict", message="the object has been modified")
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.expect_synced()
        patches = [r for r in self.fake.requests() if r["method"] == "PATCH"]
        self.assertEqual([r["status"] for r in patches][-3:], [409, 409, 200])

    def test_bursts_of_429_500_and_drops_converge(self):
        self.fake.fault(path="/api/v1/secrets", status=429, count=3, retryAfter=1)
        self.fake.fault(method="POST", path="/secrets", status=500, count=3)
        self.fake.fault(method="POST", path="/secrets", drop=True, count=1)
        self.ctl.start("--resync", "1h")
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == VALUES, timeout=60,
                 what="convergence through faults")
        codes = [r["status"] for r in self.fake.requests()]
        self.assertIn(-1, codes, "a connection was dropped")
        self.assertIn(429, codes)
        self.assertIn(500, codes)

    def test_malformed_list_items_skipped(self):
        self.assertEqual(self.ctl.once()[0], 0)
        # a list whose owned items lack metadata.namespace or metadata.name
        labels = {"app.kubernetes.io/managed-by": "orgsecrets", "orgsecrets.io/organization": "acme",
                  "orgsecrets.io/environment": "prod"}
        body = {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                "items": [{"metadata": {"name": "acme-secrets", "labels": labels}, "type": "Opaque"},
                          {"metadata": {"namespace": "shop", "labels": labels}, "type": "Opaque"}]}
        self.fake.fault(method="GET", path="^/api/v1/secrets$", status=200, body=json.dumps(body))
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.expect_synced()

    def test_api_server_outage_relists(self):
        # the API server goes away (every watch breaks, reconnects fail),
        # the history is compacted meanwhile, and an owned Secret is deleted
        # behind the controller's back: once the server is back the watches
        # list again and the drift is repaired
        self.ctl.start("--resync", "1h")
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == VALUES, what="first sync")
        time.sleep(0.5)
        self.fake.clear_requests()
        self.fake.fault(path="watch=", drop=True, count=1000)
        self.fake.ok("POST", "/fake/watches/close", {"abrupt": True})
        time.sleep(1.5)
        self.fake.ok("DELETE", "/api/v1/namespaces/shop/secrets/acme-secrets")
        self.fake.ok("POST", "/fake/compact")
        time.sleep(1)
        self.fake.ok("DELETE", "/fake/faults")
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == VALUES, timeout=30,
                 what="drift repaired after the outage")
        self.assertGreaterEqual(len(self.fake.lists("/api/v1/secrets")), 1, "listed again")

    def test_token_rotation_mid_run(self):
        self.ctl.start("--resync", "1h")
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="first sync")
        with open(self.fake.token_file, "w") as f:
            f.write("rotated-t0ken-2")
        # the kubeconfig points at the token file, which the client re-reads
        self.org.set("API_KEY", "prod", "ak-after-rotation-1")
        VALUES["API_KEY"] = "ak-after-rotation-1"
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-after-rotation-1",
                 timeout=30, what="sync after token rotation")
        out = self.ctl.output()
        self.assertNotIn("rotated-t0ken-2", out)
        self.assertNotIn("t0ken-1", out)


if __name__ == "__main__":
    unittest.main()
