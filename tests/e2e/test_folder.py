"""--source DIR against a real API server, as the shipped ServiceAccount:
two organizations (a folder and a controller each, both delivering prod,
sharing a namespace) with several environments and applications delivered
byte for byte, a converged controller that stays quiet, drift repair, a
conflicting unowned Secret that goes away, --resync that re-lists, an
application removed from the organization, an owned Secret made immutable."""

import base64
import time
import unittest

from controlplane import wait_for
from fixtures import E2ETest, assert_quiet, two_org_world, wait_delivered


def events_for(cp, ns, name, reason=None, since=None):
    out = []
    for e in cp.admin.events():
        o = e["involvedObject"]
        if o.get("namespace") == ns and o.get("name") == name and (reason is None or e["reason"] == reason):
            if since is None or e["metadata"]["uid"] not in since:
                out.append(e)
    return out


class FolderTest(E2ETest):
    NAME = "folder"

    def setUp(self):
        super().setUp()
        self.world = two_org_world(self.tmp, self.tag(), self.cp.admin)

    def start(self, *extra):
        """One controller per organization folder, all delivering prod."""
        for o in self.world.orgs:
            self.controller(o, "ctl-" + o.name, extra).start()

    def converge(self, *extra):
        self.start(*extra)
        wait_delivered(self.cp.admin, self.world.expected(), only=self.world.namespaces())

    def test_first_sync_two_organizations_every_byte_then_quiet(self):
        self.converge("--resync", "1h")
        want = self.world.expected()
        self.assertGreaterEqual(len(want), 9)
        for (ns, name) in want:
            s = self.cp.admin.secret(ns, name)
            labels = s["metadata"]["labels"]
            self.assertEqual(labels["app.kubernetes.io/managed-by"], "orgsecrets")
            self.assertEqual(labels["orgsecrets.io/environment"], "prod")
            self.assertIn(labels["orgsecrets.io/organization"], [o.name for o in self.world.orgs])
            self.assertTrue(s["metadata"]["annotations"]["orgsecrets.io/checksum"].startswith("hmac-sha256:"))
        assert_quiet(self, self.cp, 5)
        # one change: delivered, then quiet again
        acme, globex = self.world.orgs
        globex.set("SMTP_PASSWORD", "prod")
        wait_delivered(self.cp.admin, self.world.expected(), only=self.world.namespaces())
        assert_quiet(self, self.cp, 4, "the controller after one change")

    def test_drift_edit_and_delete_repaired(self):
        self.converge("--resync", "1h")
        acme = self.world.orgs[0]
        ns, name = self.world.ns("shop"), acme.name + "-secrets"
        path = "/api/v1/namespaces/%s/secrets/%s" % (ns, name)
        self.cp.admin.merge_patch(path, {"metadata": {"labels": {"team": "shop"}, "annotations": {"note": "kept"}},
                                    "data": {"API_KEY": base64.b64encode(b"tampered").decode(),
                                             "EXTRA": base64.b64encode(b"added by hand").decode()}})
        wait_delivered(self.cp.admin, self.world.expected(), 15, only=self.world.namespaces())
        meta = self.cp.admin.secret(ns, name)["metadata"]
        self.assertEqual(meta["labels"].get("team"), "shop", "a label someone added is kept")
        self.assertEqual(meta["annotations"].get("note"), "kept")
        self.cp.admin.ok("DELETE", path)
        wait_delivered(self.cp.admin, self.world.expected(), 15, only=self.world.namespaces())

    def test_conflict_then_unowned_secret_deleted_delivers_without_restart(self):
        acme = self.world.orgs[0]
        ns, name = self.world.ns("payments"), acme.name + "-secrets"
        foreign = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                   "data": {"OTHER": base64.b64encode(b"not orgsecrets'").decode()}}
        self.cp.admin.ok("POST", "/api/v1/namespaces/%s/secrets" % ns, foreign)
        self.start("--resync", "1h")
        want = self.world.expected()
        del want[(ns, name)]
        wait_delivered(self.cp.admin, want, 30, only=self.world.namespaces())
        wait_for(lambda: events_for(self.cp, ns, name, "TargetConflict"), 15, what="a TargetConflict Event")
        s = self.cp.admin.secret(ns, name)
        self.assertNotIn("app.kubernetes.io/managed-by", s["metadata"].get("labels") or {})
        self.assertEqual(base64.b64decode(s["data"]["OTHER"]), b"not orgsecrets'")
        # the owner deletes it: the controller delivers, no restart, at the
        # latest when the failed pass is retried (docs: 1 s to 60 s backoff)
        self.cp.admin.ok("DELETE", "/api/v1/namespaces/%s/secrets/%s" % (ns, name))
        t0 = time.time()
        wait_delivered(self.cp.admin, self.world.expected(), 65, only=self.world.namespaces())
        print("conflict cleared: delivered %.1f s after the unowned Secret was deleted" % (time.time() - t0))

    def test_repeated_failures_update_one_event(self):
        """A conflict and a missing namespace that last: each is one Event
        whose count grows, not a new Event object per retry."""
        acme = self.world.orgs[0]
        ns, name = self.world.ns("payments"), acme.name + "-secrets"
        self.cp.admin.ok("POST", "/api/v1/namespaces/%s/secrets" % ns,
                    {"metadata": {"name": name}, "data": {"OTHER": base64.b64encode(b"x").decode()}})
        self.cp.admin.ok("DELETE", "/api/v1/namespaces/" + self.world.ns("web2"))
        wait_for(lambda: self.cp.admin.get("/api/v1/namespaces/" + self.world.ns("web2")) is None, 60,
                 what="namespace deleted")
        self.start("--resync", "1h")
        wait_for(lambda: events_for(self.cp, ns, name, "TargetConflict"), 15, what="a TargetConflict Event")
        time.sleep(12)  # several retry passes (backoff from 1 s)
        conflicts = events_for(self.cp, ns, name, "TargetConflict")
        missing = [e for e in self.cp.admin.events() if e["reason"] == "NamespaceNotFound"
                   and self.world.ns("web2") in (e.get("message") or "")]
        self.assertEqual(len(conflicts), 1, "TargetConflict Events: %s" % [e.get("count") for e in conflicts])
        self.assertLessEqual(len(missing), 1, "NamespaceNotFound Events: %s" % [e.get("count") for e in missing])

    def test_resync_relists(self):
        self.converge("--resync", "3s")
        t0 = time.time()
        time.sleep(10.5)
        lists = [a for a in self.cp.audit(since=t0) if a[0] == "list" and a[1] == "secrets"]
        self.assertGreaterEqual(len(lists), 3, "--resync 3s listed the Secrets %d times in 10 s" % len(lists))

    def test_application_removed_from_organization_keeps_its_values(self):
        self.converge("--resync", "1h")
        acme = self.world.orgs[0]
        want, namespaces = self.world.expected(), self.world.namespaces()
        acme.remove_app_from_spec("web")
        ctl = self.ctls[0]  # acme's
        wait_for(lambda: "SESSION_KEY" in ctl.output(), 15,
                 what="the controller to report the unknown application")
        time.sleep(2)
        wait_delivered(self.cp.admin, want, 5, only=namespaces)

    def test_owned_secret_made_immutable_is_recreated(self):
        self.converge("--resync", "1h")
        globex = self.world.orgs[1]
        ns, name = self.world.ns("billing"), "billing-secrets"
        path = "/api/v1/namespaces/%s/secrets/%s" % (ns, name)
        before = self.cp.admin.secret(ns, name)
        seen = {e["metadata"]["uid"] for e in self.cp.admin.events()}
        self.cp.admin.merge_patch(path, {"immutable": True,
                                    "data": {"STRIPE_KEY": base64.b64encode(b"tampered").decode()}})
        wait_delivered(self.cp.admin, self.world.expected(), 20, only=self.world.namespaces())
        after = self.cp.admin.secret(ns, name)
        self.assertNotEqual(after["metadata"]["uid"], before["metadata"]["uid"], "deleted and recreated")
        self.assertFalse(after.get("immutable"), "the recreated Secret is not immutable")
        wait_for(lambda: events_for(self.cp, ns, name, since=seen), 10, what="an Event on the recreated Secret")
        self.assertIn(globex.name, after["metadata"]["labels"]["orgsecrets.io/organization"])


if __name__ == "__main__":
    unittest.main()
