"""--source cluster: Organization and OrgSecret custom resources, Ready
conditions with reasons and observedGeneration written only on change,
Kubernetes Events for failures; rollout of opted-in workloads on change."""

import time
import unittest

import yaml

from harness import ControllerTest, wait_for

VALUES = {"DATABASE_PASSWORD": "pw-cluster-11aa", "API_KEY": "ak-cluster-22bb"}


def ready(obj):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c
    return None


class ClusterTest(ControllerTest):
    PREFIX = "os-cluster-"
    VALUES = VALUES

    def setUp(self):
        super().setUp()
        self.apply_all()
        self.ctl = self.controller(extra=["--source", "cluster"])

    def apply(self, path):
        self.fake.apply(path)

    def apply_all(self):
        for p in self.org.files():
            self.apply(p)

    def cr(self, name):
        return self.fake.ok("GET", "/apis/orgsecrets.io/v1/orgsecrets/" + name)

    def test_sync_status_and_no_needless_writes(self):
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.fake.secret_values("shop", "acme-secrets"), VALUES)
        cr = self.cr("acme.prod.api-key")
        c = ready(cr)
        self.assertEqual((c["status"], c["reason"]), ("True", "Synced"))
        self.assertEqual(c["observedGeneration"], cr["metadata"]["generation"])
        self.assertEqual(cr["status"]["observedGeneration"], cr["metadata"]["generation"])
        self.fake.clear_requests()
        rc, out = self.ctl.once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.fake.writes(), [], "status written only when it changes")

    def test_resync_lists_everything_again(self):
        self.ctl.start("--resync", "2s")
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == VALUES, what="first sync")
        time.sleep(0.5)
        self.fake.clear_requests()
        time.sleep(6.5)
        for path in ("/api/v1/secrets", "/apis/orgsecrets.io/v1/organizations",
                     "/apis/orgsecrets.io/v1/orgsecrets"):
            self.assertGreaterEqual(len(self.fake.lists(path)), 2, "every --resync lists " + path)
        self.assertEqual(self.fake.writes(), [], "nothing changed: no write, no Event, no status")

    def test_missing_namespace_reported_once(self):
        # the target namespace does not exist: every retry pass finds it
        # missing; the OrgSecrets say so, and Events are not repeated
        self.fake.ok("DELETE", "/api/v1/namespaces/shop")
        self.ctl.start("--resync", "1h")
        wait_for(lambda: all(ready(self.cr(n)) and ready(self.cr(n))["reason"] == "NamespaceNotFound"
                             for n in ("acme.prod.api-key", "acme.prod.database-password")),
                 what="NamespaceNotFound reported")
        time.sleep(6)  # retry passes at 1, 2 and 4 s
        events = [e for e in self.fake.events("default") if e["reason"] == "NamespaceNotFound"]
        per_object = {}
        for e in events:
            per_object.setdefault(e["involvedObject"]["name"], []).append(e)
        self.assertEqual(sorted(per_object), ["acme.prod.api-key", "acme.prod.database-password"])
        for name, evs in per_object.items():
            self.assertEqual(len(evs), 1, "%s: %s" % (name, [(e["metadata"]["name"], e.get("count")) for e in evs]))
        # the namespace appears: delivered at the next retry, and Ready again
        self.fake.namespace("shop")
        wait_for(lambda: self.fake.secret_values("shop", "acme-secrets") == VALUES, timeout=70,
                 what="delivered once the namespace exists")
        wait_for(lambda: ready(self.cr("acme.prod.api-key"))["reason"] == "Synced", what="Ready again")

    def test_binding_mismatch_reported(self):
        self.assertEqual(self.ctl.once()[0], 0)
        a = self.cr("acme.prod.api-key")
        b = self.cr("acme.prod.database-password")
        a["spec"]["encryptedValue"] = b["spec"]["encryptedValue"]
        self.fake.ok("PUT", "/apis/orgsecrets.io/v1/orgsecrets/acme.prod.api-key", a)
        rc, out = self.ctl.once()
        self.assertNotEqual(rc, 0)
        cr = self.cr("acme.prod.api-key")
        c = ready(cr)
        self.assertEqual((c["status"], c["reason"]), ("False", "BindingMismatch"))
        self.assertEqual(c["observedGeneration"], cr["metadata"]["generation"])
        self.assertEqual(ready(self.cr("acme.prod.database-password"))["reason"], "Synced")
        # last good value kept
        self.assertEqual(self.fake.secret_values("shop", "acme-secrets")["API_KEY"], VALUES["API_KEY"])
        reasons = [(e["reason"], e["involvedObject"]["name"]) for e in self.fake.events("default")]
        self.assertIn(("BindingMismatch", "acme.prod.api-key"), reasons)

    def test_running_picks_up_cr_change_and_rolls_out(self):
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "labels": {"orgsecrets.io/reload": "true"}},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "nginx",
                                              "envFrom": [{"secretRef": {"name": "acme-secrets"}}]}]}}}}
        other = yaml.safe_load(yaml.safe_dump(dep))
        other["metadata"] = {"name": "not-opted-in"}
        self.fake.ok("POST", "/apis/apps/v1/namespaces/shop/deployments", dep)
        self.fake.ok("POST", "/apis/apps/v1/namespaces/shop/deployments", other)
        self.ctl.start("--resync", "1h")
        key = "checksum.orgsecrets.io/acme-secrets"

        def annotation():
            d = self.fake.ok("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
            return ((d["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(key), d

        def secret_sum():
            s = self.fake.secret("shop", "acme-secrets")
            return s and s["metadata"]["annotations"]["orgsecrets.io/checksum"]
        # the first sync creates the Secret and rolls the workload that uses it
        first = wait_for(secret_sum, what="first sync")
        wait_for(lambda: annotation()[0] == first, what="first rollout")
        gen0 = annotation()[1]["metadata"]["generation"]
        self.org.set("API_KEY", "prod", "ak-cluster-33cc")
        VALUES["API_KEY2"] = "ak-cluster-33cc"
        self.apply(self.org.path("prod", "API_KEY"))
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-cluster-33cc",
                 what="CR change delivered")
        second = secret_sum()
        self.assertNotEqual(first, second)
        wait_for(lambda: annotation()[0] == second, what="rollout for the change")
        d = annotation()[1]
        self.assertEqual(d["metadata"]["generation"], gen0 + 1, "one rollout per change")
        untouched = self.fake.ok("GET", "/apis/apps/v1/namespaces/shop/deployments/not-opted-in")
        self.assertEqual(untouched["metadata"]["generation"], 1)
        # nothing changed: no further rollout
        gen1 = d["metadata"]["generation"]
        self.fake.ok("DELETE", "/api/v1/namespaces/shop/secrets/acme-secrets")  # drift: same content restored
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="restored")
        time.sleep(1)
        self.assertEqual(self.fake.ok("GET", "/apis/apps/v1/namespaces/shop/deployments/web")["metadata"]["generation"], gen1)


if __name__ == "__main__":
    unittest.main()
