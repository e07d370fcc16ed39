"""--source cluster against a real API server, as the shipped ServiceAccount:
two Organizations and their OrgSecrets applied as custom resources, every
delivered byte compared with the sealed values, Ready conditions with
observedGeneration, a converged controller that stays quiet, an application
removed from an Organization, --resync that re-lists."""

import os
import time
import unittest

from controlplane import wait_for
from fixtures import E2ETest, assert_quiet, two_org_world, wait_delivered

CR = "/apis/orgsecrets.io/v1/"


def ready(obj):
    """The Ready condition of a custom resource, or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


class ClusterTest(E2ETest):
    NAME = "cluster"

    def setUp(self):
        super().setUp()
        self.world = two_org_world(self.tmp, self.tag(), self.cp.admin)
        self.ctl = self.controller("cluster")
        # the next test's controller would see every Organization left here
        for plural in ("organizations", "orgsecrets"):
            self.addCleanup(self.cp.admin.ok, "DELETE", CR + plural)

    def apply(self, org, files=None):
        for f in files or org.spec_files():
            self.cp.admin.apply_file(f)

    def orgsecret(self, org, env, app, name):
        return self.cp.admin.get(CR + "orgsecrets/" + org.file_of(env, app, name)[1])

    def condition_problems(self, env="prod"):
        """What differs from: every OrgSecret of env Ready True/Synced
        (False/Disabled when disabled) for its current generation."""
        out = []
        for o in self.world.orgs:
            for (e, app, name) in o.values:
                if e != env:
                    continue
                cr = self.orgsecret(o, e, app, name)
                c = ready(cr) or {}
                want = ("False", "Disabled") if (e, app, name) in o.disabled else ("True", "Synced")
                got = (c.get("status"), c.get("reason"), c.get("observedGeneration"))
                if got != want + (cr["metadata"]["generation"],):
                    out.append("%s: Ready %s, generation %d" % (cr["metadata"]["name"], got,
                                                                cr["metadata"]["generation"]))
        return out

    def assert_conditions(self, timeout):
        problems = []

        def ok():
            problems[:] = self.condition_problems()
            return not problems
        try:
            wait_for(ok, timeout, 0.5, "Ready conditions")
        except AssertionError:
            self.fail("\n".join(problems))

    def test_two_organizations_every_byte_conditions_then_quiet(self):
        for o in self.world.orgs:
            self.apply(o)
        self.ctl.start("--source", "cluster", "--resync", "1h")
        wait_delivered(self.cp.admin, self.world.expected(), 30, only=self.world.namespaces())
        self.assert_conditions(15)
        assert_quiet(self, self.cp, 5)
        # a new value: a new generation, delivered, observed, then quiet
        acme, globex = self.world.orgs
        globex.set("BILLING_API_KEY", "prod", None, "billing")
        self.apply(globex, [globex.file_of("prod", "billing", "BILLING_API_KEY")[0]])
        cr = self.orgsecret(globex, "prod", "billing", "BILLING_API_KEY")
        self.assertEqual(cr["metadata"]["generation"], 2)
        wait_delivered(self.cp.admin, self.world.expected(), 20, only=self.world.namespaces())
        wait_for(lambda: ready(self.orgsecret(globex, "prod", "billing", "BILLING_API_KEY"))
                 .get("observedGeneration") == 2, 10, what="observedGeneration 2")
        self.assert_conditions(5)
        assert_quiet(self, self.cp, 4, "the controller after one change")

    def test_application_removed_from_organization_keeps_its_values(self):
        """As with the folder source: the OrgSecret of an application the
        Organization no longer lists is reported, and its delivered value
        stays (a typo never wipes a value). One organization."""
        acme = self.world.orgs[0]
        self.apply(acme)
        self.ctl.start("--source", "cluster", "--resync", "1h")
        want, namespaces = self.world.expected(orgs=[acme]), self.world.namespaces()
        wait_delivered(self.cp.admin, want, 30, only=namespaces)
        acme.remove_app_from_spec("web")
        self.apply(acme, [os.path.join(acme.cli.dir, "organization.yaml")])
        wait_for(lambda: (ready(self.orgsecret(acme, "prod", "web", "SESSION_KEY")) or {}).get("status") == "False",
                 15, what="the OrgSecret of the removed application reported")
        self.assertEqual(ready(self.orgsecret(acme, "prod", "web", "SESSION_KEY"))["reason"], "InvalidSpec")
        time.sleep(2)
        wait_delivered(self.cp.admin, want, 5, only=namespaces)

    def test_resync_relists(self):
        """One organization."""
        self.apply(self.world.orgs[0])
        self.ctl.start("--source", "cluster", "--resync", "3s")
        wait_delivered(self.cp.admin, self.world.expected(orgs=self.world.orgs[:1]), 30, only=self.world.namespaces())
        t0 = time.time()
        time.sleep(10.5)
        lists = {}
        for a in self.cp.audit(since=t0):
            if a[0] == "list":
                lists[a[1]] = lists.get(a[1], 0) + 1
        for r in ("secrets", "organizations", "orgsecrets"):
            self.assertGreaterEqual(lists.get(r, 0), 3, "--resync 3s listed %s %d times in 10 s" % (r, lists.get(r, 0)))


if __name__ == "__main__":
    unittest.main()
