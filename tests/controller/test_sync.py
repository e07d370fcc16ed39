"""Delivery to Kubernetes Secrets and env files: first sync, no-op resync,
single-value changes, deletion, drift repair, ownership, fault isolation,
kill -9 and restart, audit log, kubectl read-back."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from harness import read, Controller, ControllerTest, binary, flip_armored_byte, wait_for

VALUES = {
    "DATABASE_PASSWORD": "pw-Hx81kQ-database",
    "API_KEY": "ak-93jd02-third-party",
    "FEATURE_FLAGS": "flags-zz-7781-app",
    "DEV_ONLY": "dev-secret-55xq",
}


class SyncTest(ControllerTest):
    NAMESPACES = ("shop", "payments", "api")
    PROD = False
    VALUES = VALUES

    def setUp(self):
        super().setUp()
        o = self.org
        o.run("env", "add", "prod", "--controller", o.recipient["prodctl"],
              "--namespace", "shop", "--namespace", "payments")
        o.run("env", "add", "dev", "--controller", o.recipient["devctl"], "--namespace", "shop")
        o.run("app", "add", "api", "--namespace", "api")
        o.set("DATABASE_PASSWORD", "prod", VALUES["DATABASE_PASSWORD"])
        o.set("API_KEY", "prod", VALUES["API_KEY"])
        o.set("FEATURE_FLAGS", "prod", VALUES["FEATURE_FLAGS"], "api")
        o.set("DEV_ONLY", "dev", VALUES["DEV_ONLY"])
        audit = os.path.join(self.tmp, "audit.log")
        self.output_files.append(audit)
        self.ctl = self.controller(extra=["--audit-log", audit])

    def test_first_sync_then_no_writes(self):
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        for ns in ("shop", "payments"):
            self.assertEqual(self.fake.secret_values(ns, "acme-secrets"),
                             {"DATABASE_PASSWORD": VALUES["DATABASE_PASSWORD"], "API_KEY": VALUES["API_KEY"]})
        self.assertEqual(self.fake.secret_values("api", "api-secrets"),
                         {"FEATURE_FLAGS": VALUES["FEATURE_FLAGS"]})
        s = self.fake.secret("shop", "acme-secrets")
        labels = s["metadata"]["labels"]
        self.assertEqual(labels["app.kubernetes.io/managed-by"], "orgsecrets")
        self.assertEqual(labels["orgsecrets.io/organization"], "acme")
        self.assertEqual(labels["orgsecrets.io/environment"], "prod")
        checksum = s["metadata"]["annotations"]["orgsecrets.io/checksum"]
        self.assertTrue(checksum.startswith("hmac-sha256:"))
        # the dev value never reaches prod targets
        self.assertNotIn("DEV_ONLY", self.fake.secret_values("shop", "acme-secrets"))
        # second pass: zero writes
        self.fake.clear_requests()
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.fake.writes(), [])

    def test_first_pass_waits_for_the_first_list(self):
        # everything is delivered; a controller whose first list of the
        # owned Secrets is slow decides nothing before that list answers
        # (on an empty cache it would create every Secret and meet 409s)
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.fake.clear_requests()
        self.fake.fault(method="GET", path="^/api/v1/secrets$", delayMs=1500)
        self.ctl.start()
        wait_for(lambda: "first sync done: ready" in self.ctl.output(), what="the first pass")
        self.assertEqual(self.fake.writes(exclude_events=True), [])

    def test_one_change_writes_only_its_secrets(self):
        self.assertEqual(self.ctl.once()[0], 0)
        self.org.set("FEATURE_FLAGS", "prod", "flags-zz-7781-app-v2", "api")
        VALUES["FEATURE_FLAGS_V2"] = "flags-zz-7781-app-v2"
        self.fake.clear_requests()
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        writes = [(w["method"], w["path"]) for w in self.fake.writes(exclude_events=True)]
        self.assertEqual(writes, [("PATCH", "/api/v1/namespaces/api/secrets/api-secrets")])
        self.assertEqual(self.fake.secret_values("api", "api-secrets")["FEATURE_FLAGS"], "flags-zz-7781-app-v2")

    def test_deletion_removes_key_and_unwanted_secret(self):
        self.assertEqual(self.ctl.once()[0], 0)
        self.org.run("delete", "API_KEY", "--env", "prod", "--yes")
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(set(self.fake.secret_values("shop", "acme-secrets")), {"DATABASE_PASSWORD"})
        # drop the payments namespace from the environment: its Secret goes
        text = read(os.path.join(self.org.dir, "organization.yaml"))
        text = text.replace("        - payments\n", "")
        with open(os.path.join(self.org.dir, "organization.yaml"), "w") as f:
            f.write(text)
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.assertIsNone(self.fake.secret("payments", "acme-secrets"))
        self.assertIsNotNone(self.fake.secret("shop", "acme-secrets"))

    def test_drift_repair_running(self):
        self.ctl.start("--listen", "127.0.0.1:0", "--resync", "1h")
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="first sync")
        # outside edit
        s = self.fake.secret("shop", "acme-secrets")
        s["data"]["DATABASE_PASSWORD"] = "aGFja2Vk"
        s["data"]["EXTRA"] = "eA=="
        self.fake.ok("PUT", "/api/v1/namespaces/shop/secrets/acme-secrets", s)
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") ==
                 {"DATABASE_PASSWORD": VALUES["DATABASE_PASSWORD"], "API_KEY": VALUES["API_KEY"]},
                 what="edit repaired")
        # outside delete
        self.fake.ok("DELETE", "/api/v1/namespaces/shop/secrets/acme-secrets")
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="delete repaired")
        # a spec change is picked up without restart, fast
        t0 = time.time()
        self.org.set("API_KEY", "prod", "ak-rotated-000111")
        VALUES["API_KEY_ROTATED"] = "ak-rotated-000111"
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-rotated-000111",
                 what="change picked up")
        self.assertLess(time.time() - t0, 10)

    def test_immutable_tampered_secret_recreated(self):
        # someone changes a value of an owned Secret and makes it immutable:
        # no patch can repair it, so it is deleted and created again
        self.ctl.start("--resync", "1h")
        want = {"DATABASE_PASSWORD": VALUES["DATABASE_PASSWORD"], "API_KEY": VALUES["API_KEY"]}
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == want, what="first sync")
        s = self.fake.secret("shop", "acme-secrets")
        s["data"]["API_KEY"] = "dGFtcGVyZWQ="
        s["immutable"] = True
        self.fake.ok("PUT", "/api/v1/namespaces/shop/secrets/acme-secrets", s)
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == want, timeout=20,
                 what="tampered immutable Secret repaired")
        now = self.fake.secret("shop", "acme-secrets")
        self.assertNotEqual(now["metadata"]["uid"], s["metadata"]["uid"])
        self.assertNotIn("immutable", now)
        reasons = [(e["reason"], e["involvedObject"]["name"], e["type"]) for e in self.fake.events("shop")]
        self.assertIn(("Recreated", "acme-secrets", "Warning"), reasons)
        # an immutable owned Secret whose data is right is left alone
        s = self.fake.secret("shop", "acme-secrets")
        s["immutable"] = True
        self.fake.ok("PUT", "/api/v1/namespaces/shop/secrets/acme-secrets", s)
        time.sleep(1.5)
        self.assertEqual(self.fake.secret("shop", "acme-secrets")["metadata"]["uid"], now["metadata"]["uid"])

    def test_rollout_of_injected_workloads(self):
        # Deployments whose pods get their values through the webhook ($NAME
        # in the template, orgsecrets.io/inject) roll when a value they
        # reference changes, resolved as the webhook resolves it
        def dep(ns, name, env, annotations=None):
            return {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns,
                                 "annotations": {"orgsecrets.io/reload": "true"}},
                    "spec": {"selector": {"matchLabels": {"app": name}},
                             "template": {"metadata": {"labels": {"app": name, "orgsecrets.io/inject": "true"},
                                                       "annotations": annotations or {}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox", "env": env}]}}}}
        deps = {("shop", "whole"): dep("shop", "whole", [{"name": "K", "value": "$API_KEY"}]),
                ("shop", "embedded"): dep("shop", "embedded", [
                    {"name": "URL", "value": "postgres://app:${DATABASE_PASSWORD}@db:5432/x"}]),
                ("shop", "all"): dep("shop", "all", [], {"orgsecrets.io/inject-all": "true"}),
                ("shop", "literal"): dep("shop", "literal", [{"name": "P", "value": "$$API_KEY $lower"}]),
                ("api", "flags"): dep("api", "flags", [{"name": "F", "value": "$FEATURE_FLAGS"}])}
        for (ns, name), d in deps.items():
            self.fake.ok("POST", "/apis/apps/v1/namespaces/%s/deployments" % ns, d)
        self.ctl.start("--resync", "1h")

        def sums():
            out = {}
            for (ns, name) in deps:
                d = self.fake.ok("GET", "/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, name))
                ann = (d["spec"]["template"]["metadata"].get("annotations") or {})
                out[(ns, name)] = {k: v for k, v in ann.items() if k.startswith("checksum.orgsecrets.io/")}
            return out

        def secret_sum(ns, name):
            return self.fake.secret(ns, name)["metadata"]["annotations"]["orgsecrets.io/checksum"]
        wait_for(lambda: len(self.fake.owned()) == 4, what="first sync")
        wait_for(lambda: sums()[("shop", "whole")], what="first rollout")
        time.sleep(0.5)
        shop = {"checksum.orgsecrets.io/acme-secrets": secret_sum("shop", "acme-secrets")}
        first = sums()
        self.assertEqual(first, {("shop", "whole"): shop, ("shop", "embedded"): shop, ("shop", "all"): shop,
                                 ("shop", "literal"): {},
                                 ("api", "flags"): {"checksum.orgsecrets.io/api-secrets": secret_sum("api", "api-secrets")}})
        # a change in shop's Secret rolls shop's referencing workloads only
        self.org.set("API_KEY", "prod", "ak-rolled-000222")
        VALUES["API_KEY_ROLLED"] = "ak-rolled-000222"
        wait_for(lambda: sums()[("shop", "whole")] != first[("shop", "whole")], what="rollout after the change")
        time.sleep(0.5)
        second = sums()
        shop2 = {"checksum.orgsecrets.io/acme-secrets": secret_sum("shop", "acme-secrets")}
        self.assertNotEqual(shop2, shop)
        self.assertEqual(second, {("shop", "whole"): shop2, ("shop", "embedded"): shop2, ("shop", "all"): shop2,
                                  ("shop", "literal"): {}, ("api", "flags"): first[("api", "flags")]})

    def test_unowned_secret_untouched_and_reported(self):
        unowned = {"metadata": {"name": "acme-secrets", "labels": {"team": "payments"}},
                   "type": "Opaque", "data": {"MINE": "bWluZQ=="}}
        self.fake.ok("POST", "/api/v1/namespaces/payments/secrets", unowned)
        before = self.fake.secret("payments", "acme-secrets")
        rc, out = self.ctl.once()
        self.assertNotEqual(rc, 0, "a conflict must fail --once")
        after = self.fake.secret("payments", "acme-secrets")
        self.assertEqual(before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"])
        self.assertEqual(after["data"], {"MINE": "bWluZQ=="})
        self.assertIn("TargetConflict", out)
        reasons = [e["reason"] for e in self.fake.events("payments")]
        self.assertIn("TargetConflict", reasons)
        # the other namespace still synced
        self.assertIn("DATABASE_PASSWORD", self.fake.secret_values("shop", "acme-secrets"))

    def test_conflict_clears_when_the_foreign_secret_goes(self):
        # a Secret nobody labelled blocks a target; once it is deleted the
        # target is delivered without a restart (it is read again by name)
        unowned = {"metadata": {"name": "acme-secrets"}, "type": "Opaque", "data": {"MINE": "bWluZQ=="}}
        self.fake.ok("POST", "/api/v1/namespaces/payments/secrets", unowned)
        self.ctl.start("--resync", "1h")
        wait_for(lambda: "TargetConflict" in [e["reason"] for e in self.fake.events("payments")],
                 what="conflict reported")
        self.assertEqual(self.fake.secret_values("payments", "acme-secrets"), {"MINE": "mine"})
        self.fake.ok("DELETE", "/api/v1/namespaces/payments/secrets/acme-secrets")
        want = {"DATABASE_PASSWORD": VALUES["DATABASE_PASSWORD"], "API_KEY": VALUES["API_KEY"]}
        wait_for(lambda: self.fake.secret_values("payments", "acme-secrets") == want, timeout=20,
                 what="delivered once the foreign Secret is gone")

    def test_repeated_events_are_counted(self):
        # a conflict that lasts: every retry pass reports it, on one Event
        # whose count and lastTimestamp grow (as client-go's recorder does)
        unowned = {"metadata": {"name": "acme-secrets"}, "type": "Opaque", "data": {"MINE": "bWluZQ=="}}
        self.fake.ok("POST", "/api/v1/namespaces/payments/secrets", unowned)
        self.ctl.start("--resync", "1h")

        def conflicts():
            return [e for e in self.fake.events("payments") if e["reason"] == "TargetConflict"]
        wait_for(lambda: conflicts() and conflicts()[0].get("count", 0) >= 3 and
                 conflicts()[0]["lastTimestamp"] > conflicts()[0]["firstTimestamp"], timeout=30,
                 what="passes over more than a second reported on one Event")
        evs = conflicts()
        self.assertEqual(len(evs), 1, [(e["metadata"]["name"], e.get("count")) for e in evs])
        self.assertEqual(evs[0]["involvedObject"]["name"], "acme-secrets")

    def test_resync_lists_again(self):
        self.ctl.start("--resync", "2s")
        wait_for(lambda: len(self.fake.owned()) == 4, what="first sync")
        time.sleep(0.5)
        self.fake.clear_requests()
        time.sleep(6.5)
        self.assertGreaterEqual(len(self.fake.lists("/api/v1/secrets")), 2,
                                "every --resync lists the owned Secrets again")
        self.assertEqual(self.fake.writes(exclude_events=True), [], "nothing changed: no write")

    def test_audit_and_failure_logs_once_per_change(self):
        audit = os.path.join(self.tmp, "audit.log")

        def unseals(name):
            if not os.path.exists(audit):
                return 0
            return sum(1 for l in read(audit).splitlines()
                       if json.loads(l)["event"] == "unseal" and json.loads(l).get("name") == name)

        self.ctl.start("--resync", "1h")
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="first sync")
        wait_for(lambda: unseals("DATABASE_PASSWORD") == 1, what="first unseal audited")
        # a tampered file: its failure is logged once, however many passes follow
        flip_armored_byte(self.org.path("prod", "FEATURE_FLAGS", "api"))
        wait_for(lambda: "IntegrityError" in self.ctl.output(), what="failure reported")
        # two more passes, each for a change elsewhere
        self.org.set("API_KEY", "prod", "ak-rotated-1")
        self.org.set("API_KEY", "prod", "ak-rotated-2")
        VALUES["AK1"], VALUES["AK2"] = "ak-rotated-1", "ak-rotated-2"
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-rotated-2",
                 what="second rotation delivered")
        wait_for(lambda: unseals("API_KEY") >= 2, what="rotation audited")
        time.sleep(0.5)
        self.assertEqual(unseals("DATABASE_PASSWORD"), 1, "an unchanged secret is audited once")
        self.assertIn(unseals("API_KEY"), (2, 3), "each new ciphertext once (a pass may fold two changes)")
        out = self.ctl.output()
        self.assertEqual(out.count("error secret acme.prod.api.feature-flags: IntegrityError"), 1, out)
        self.assertEqual(unseals("FEATURE_FLAGS"), 2, "once ok, once failed")

    def test_tampered_secret_isolated_keeps_last_good_value(self):
        self.assertEqual(self.ctl.once()[0], 0)
        flip_armored_byte(self.org.path("prod", "API_KEY"))
        self.org.set("DATABASE_PASSWORD", "prod", "pw-new-value-8812")
        VALUES["DB_NEW"] = "pw-new-value-8812"
        rc, out = self.ctl.once()
        self.assertNotEqual(rc, 0)
        self.assertIn("IntegrityError", out)
        vals = self.fake.secret_values("shop", "acme-secrets")
        self.assertEqual(vals["API_KEY"], VALUES["API_KEY"], "last good value kept")
        self.assertEqual(vals["DATABASE_PASSWORD"], "pw-new-value-8812", "others still sync")

    def test_missing_namespace_skipped_and_reported(self):
        self.fake.ok("DELETE", "/api/v1/namespaces/payments")
        rc, out = self.ctl.once()
        self.assertNotEqual(rc, 0)
        self.assertIn("NamespaceNotFound", out)
        self.assertIsNotNone(self.fake.secret("shop", "acme-secrets"))

    def test_env_files(self):
        envdir = os.path.join(self.tmp, "env")
        ctl = Controller(self.tmp, self.org, None, extra=["--no-kubernetes", "--env-file-dir", envdir], name="envctl")
        self.controllers.append(ctl)
        rc, out = ctl.once()
        self.assertEqual(rc, 0, out)
        main = os.path.join(envdir, "acme-prod.env")
        app = os.path.join(envdir, "acme-prod-api.env")
        self.assertEqual(os.stat(main).st_mode & 0o777, 0o600)
        self.assertEqual(read(main),
                         "API_KEY=%s\nDATABASE_PASSWORD=%s\n" % (VALUES["API_KEY"], VALUES["DATABASE_PASSWORD"]))
        # the application's file holds its view: its own and the organization's
        self.assertEqual(read(app), "API_KEY=%s\nDATABASE_PASSWORD=%s\nFEATURE_FLAGS=%s\n" % (
            VALUES["API_KEY"], VALUES["DATABASE_PASSWORD"], VALUES["FEATURE_FLAGS"]))
        # the same format as `orgsecrets render --format env`, and the same view as --app
        rendered = self.org.run("render", "--env", "prod", "--format", "env", "-i", self.org.key("prodctl"),
                                prints_values=True)
        self.assertEqual(rendered, read(main))
        rendered = self.org.run("render", "--env", "prod", "--app", "api", "--format", "env", "-i",
                                self.org.key("prodctl"), prints_values=True)
        self.assertEqual(rendered, read(app))
        # the files source in a POSIX shell to the exact values
        got = subprocess.run(["sh", "-c", ". %s; printf %%s \"$DATABASE_PASSWORD\"" % main],
                             capture_output=True).stdout.decode()
        self.assertEqual(got, VALUES["DATABASE_PASSWORD"])
        ino, mtime = os.stat(main).st_ino, os.stat(main).st_mtime_ns
        rc, out = ctl.once()
        self.assertEqual(rc, 0)
        self.assertEqual((os.stat(main).st_ino, os.stat(main).st_mtime_ns), (ino, mtime), "unchanged file untouched")

    def test_kill9_during_sync_then_restart_converges(self):
        for i in range(60):
            ns = "bulk%d" % i
            self.fake.namespace(ns)
        text = read(os.path.join(self.org.dir, "organization.yaml"))
        text = text.replace("        - payments\n", "        - payments\n" + "".join("        - bulk%d\n" % i for i in range(60)))
        with open(os.path.join(self.org.dir, "organization.yaml"), "w") as f:
            f.write(text)
        self.fake.fault(method="POST", path="/secrets", delayMs=30, count=1000)
        self.ctl.start()
        wait_for(lambda: self.fake.secret("bulk3", "acme-secrets"), what="sync under way")
        self.ctl.stop(signal.SIGKILL)
        self.fake.ok("DELETE", "/fake/faults")
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        for i in range(60):
            self.assertEqual(self.fake.secret_values("bulk%d" % i, "acme-secrets")["API_KEY"], VALUES["API_KEY"])

    def test_kubernetes_version_floor(self):
        # the chart's kubeVersion, docs/install.md and the controller's
        # start-up check name the same oldest version
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        chart = read(os.path.join(root, "charts", "orgsecrets", "Chart.yaml"))
        m = re.search(r'^kubeVersion: ">=(\d+)\.(\d+)\.0-0"$', chart, re.M)
        self.assertIsNotNone(m, "Chart.yaml states a kubeVersion floor")
        major, minor = int(m.group(1)), int(m.group(2))
        self.assertTrue("Kubernetes %d.%d and newer" % (major, minor) in read(os.path.join(root, "docs", "install.md")),
                        "docs/install.md states the floor")
        older = "v%d.%d.16" % (major, minor - 1)
        self.fake.ok("POST", "/fake/version", {"gitVersion": older})
        self.fake.clear_requests()
        rc, out = self.ctl.once()
        self.assertNotEqual(rc, 0)
        self.assertIn("kubernetes API server %s (%d.%d) is older than %d.%d" % (older, major, minor - 1, major, minor), out)
        self.assertEqual(self.fake.writes(), [], "nothing written to a server too old")
        for ok in ("v%d.%d.2" % (major, minor), "v%d.%d.0" % (major, minor + 12)):
            self.fake.ok("POST", "/fake/version", {"gitVersion": ok})
            rc, out = self.ctl.once()
            self.assertEqual(rc, 0, out)

    def test_audit_log_verifies_and_catches_edit(self):
        self.assertEqual(self.ctl.once()[0], 0)
        audit = os.path.join(self.tmp, "audit.log")
        lines = read(audit).splitlines()
        events = [json.loads(l)["event"] for l in lines]
        self.assertIn("unseal", events)
        self.assertIn("write", events)
        cli = binary("orgsecrets")
        p = subprocess.run([cli, "audit", "verify", audit], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines[1] = lines[1].replace("acme", "acmf", 1)
        with open(audit, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([cli, "audit", "verify", audit], capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("line 2", (p.stdout + p.stderr).decode())

    def test_kubectl_reads_back(self):
        if not shutil.which("kubectl"):
            self.skipTest("kubectl is not installed: read-back check skipped")
        self.assertEqual(self.ctl.once()[0], 0)
        p = subprocess.run(["kubectl", "--kubeconfig", self.fake.kubeconfig, "get", "secrets", "-A",
                            "-l", "app.kubernetes.io/managed-by=orgsecrets", "-o", "json"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        items = json.loads(p.stdout)["items"]
        got = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in items)
        self.assertEqual(got, [("api", "acme-secrets"), ("api", "api-secrets"), ("payments", "acme-secrets"),
                              ("shop", "acme-secrets")])
        for i in items:
            self.assertEqual(i["data"], self.fake.secret(i["metadata"]["namespace"], i["metadata"]["name"])["data"])


if __name__ == "__main__":
    unittest.main()
