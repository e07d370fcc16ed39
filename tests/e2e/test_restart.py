"""The API server restarted under running controllers (one per source):
while it is down an owned Secret is deleted behind its back (in etcd), which
no resumed watch can report; the controllers must relist and repair it, and
their watches must work again afterwards."""

import base64
import time
import unittest

from fixtures import E2ETest, two_org_world, wait_delivered, wait_quiet


class RestartTest(E2ETest):
    NAME = "restart"

    def setUp(self):
        super().setUp()
        self.world = two_org_world(self.tmp, "rs", self.cp.admin)
        acme, globex = self.world.orgs
        for f in globex.spec_files():
            self.cp.admin.apply_file(f)
        self.controller(acme, "folder", ["--resync", "1h"])
        self.controller("cluster", "cluster", ["--source", "cluster", "--resync", "1h"])

    def test_apiserver_restart_relists_and_watches_recover(self):
        for c in self.ctls:
            c.start()
        wait_delivered(self.cp.admin, self.world.expected(), 30, only=self.world.namespaces())
        wait_quiet(self.cp)  # converged: no pass pending or retrying
        acme, globex = self.world.orgs
        gone = [(self.world.ns("shop"), acme.name + "-secrets"), (self.world.ns("billing"), "billing-secrets")]
        self.cp.stop_apiserver()
        for ns, name in gone:
            self.assertEqual(self.cp.etcd_delete("/registry/secrets/%s/%s" % (ns, name)), 1)
        time.sleep(2)
        self.cp.start_apiserver()
        t0 = time.time()
        wait_delivered(self.cp.admin, self.world.expected(), 20, only=self.world.namespaces())
        print("Secrets deleted while the API server was down restored %.1f s after it came back" % (time.time() - t0))
        # the watches work again: drift and new values arrive as before
        ns, name = self.world.ns("payments"), acme.name + "-secrets"
        self.cp.admin.merge_patch("/api/v1/namespaces/%s/secrets/%s" % (ns, name),
                             {"data": {"API_KEY": base64.b64encode(b"tampered").decode()}})
        f = globex.file_of("prod", "billing", "STRIPE_KEY")[0]
        globex.set("STRIPE_KEY", "prod", None, "billing")
        self.cp.admin.apply_file(f)
        acme.set("API_KEY", "prod")
        wait_delivered(self.cp.admin, self.world.expected(), 15, only=self.world.namespaces())


if __name__ == "__main__":
    unittest.main()
