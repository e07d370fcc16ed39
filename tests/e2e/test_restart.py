"""The API server restarted under running controllers (one per source):
while it is down an owned Secret is deleted behind its back (in etcd), which
no resumed watch can report; the controllers must relist and repair it, and
their watches must work again afterwards."""

import base64
import tempfile
import time
import unittest

from controlplane import ControlPlane
from fixtures import Controller, assert_no_values, assert_quiet, two_org_world, wait_delivered, remove_tmp

cp = None
kubeconfig = None


def setUpModule():
    global cp, kubeconfig
    cp = ControlPlane("restart")
    kubeconfig = cp.install()


def tearDownModule():
    if cp:
        cp.close()


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="os-e2e-restart-")
        self.world = two_org_world(self.tmp, "rs", cp.admin)
        acme, globex = self.world.orgs
        for f in globex.spec_files():
            cp.admin.apply_file(f)
        self.ctls = [Controller(self.tmp, self.world, kubeconfig, acme, name="folder", extra=["--resync", "1h"]),
                     Controller(self.tmp, self.world, kubeconfig, "cluster", name="cluster",
                                extra=["--source", "cluster", "--resync", "1h"])]

    def tearDown(self):
        for c in self.ctls:
            c.stop()
        texts = self.world.cli_outputs() + [c.output() for c in self.ctls] + cp.log_texts()
        assert_no_values(self, texts, self.world.sealed)
        remove_tmp(self.tmp)

    def test_apiserver_restart_relists_and_watches_recover(self):
        for c in self.ctls:
            c.start()
        wait_delivered(cp.admin, self.world.expected(), 30, only=self.world.namespaces())
        assert_quiet(self, cp, 3)  # converged: no pass pending or retrying
        acme, globex = self.world.orgs
        gone = [(self.world.ns("shop"), acme.name + "-secrets"), (self.world.ns("billing"), "billing-secrets")]
        cp.stop_apiserver()
        for ns, name in gone:
            self.assertEqual(cp.etcd_delete("/registry/secrets/%s/%s" % (ns, name)), 1)
        time.sleep(2)
        cp.start_apiserver()
        t0 = time.time()
        wait_delivered(cp.admin, self.world.expected(), 20, only=self.world.namespaces())
        print("Secrets deleted while the API server was down restored %.1f s after it came back" % (time.time() - t0))
        # the watches work again: drift and new values arrive as before
        ns, name = self.world.ns("payments"), acme.name + "-secrets"
        cp.admin.merge_patch("/api/v1/namespaces/%s/secrets/%s" % (ns, name),
                             {"data": {"API_KEY": base64.b64encode(b"tampered").decode()}})
        f = globex.file_of("prod", "billing", "STRIPE_KEY")[0]
        globex.set("STRIPE_KEY", "prod", None, "billing")
        cp.admin.apply_file(f)
        acme.set("API_KEY", "prod")
        wait_delivered(cp.admin, self.world.expected(), 15, only=self.world.namespaces())


if __name__ == "__main__":
    unittest.main()
