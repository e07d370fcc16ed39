"""Two controllers with leader election: only the leader writes; when it is
killed the other takes over within the lease duration plus one retry
period (the documented bound); SIGTERM releases."""

import os
import signal
import time
import unittest

from harness import ControllerTest, wait_for

LEASE_S = 4      # --lease-duration
RETRY_S = 1      # its retry period: duration / 5, at least 1 s
TOKEN_B = "t0ken-replica-b"


class LeaderTest(ControllerTest):
    PREFIX = "os-leader-"
    VALUES = {"API_KEY": "ak-leader-1"}

    def setUp(self):
        super().setUp()
        self.fake.namespace("orgsecrets-system")
        args = ["--leader-elect", "--lease-namespace", "orgsecrets-system",
                "--lease-duration", "%ds" % LEASE_S, "--resync", "1h"]
        # each replica has its own token: the request log says who wrote
        self.a = self.controller(extra=args, name="a")
        self.b = self.controller(extra=args, name="b",
                                 kubeconfig=self.fake.client(TOKEN_B, os.path.join(self.tmp, "kubeconfig-b")))

    def holder(self):
        code, lease = self.fake.call("GET", "/apis/coordination.k8s.io/v1/namespaces/orgsecrets-system/leases/orgsecrets-controller-prod")
        return lease["spec"].get("holderIdentity") if code == 200 else None

    def writes_by(self, token):
        who = self.fake.token_id(token)
        return [(r["method"], r["path"]) for r in self.fake.writes() if r["tokenId"] == who]

    def test_failover_and_release(self):
        self.a.start()
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="leader a syncs")
        first = wait_for(self.holder, what="lease held")
        self.assertTrue(first.endswith("_%d" % self.a.proc.pid), first)
        self.b.start()
        time.sleep(2)
        self.assertEqual(self.holder(), first, "b must not steal a live lease")
        # kill -9 the leader: b takes over once the lease it last saw renewed
        # is a lease duration old, which is at most duration + retry period
        # after the leader's death, and never less than duration - retry period
        t0 = time.time()
        self.a.stop(signal.SIGKILL)
        b_id = "_%d" % self.b.proc.pid
        while not (self.holder() or "").endswith(b_id) and time.time() - t0 < 20:
            time.sleep(0.02)
        took = time.time() - t0
        self.assertTrue((self.holder() or "").endswith(b_id), "b took over")
        self.assertLessEqual(took, LEASE_S + RETRY_S + 0.6, "takeover within duration + retry period")
        self.assertGreaterEqual(took, LEASE_S - RETRY_S - 0.3, "no takeover before the lease can expire")
        # b writes now
        self.org.set("API_KEY", "prod", "ak-leader-2")
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-leader-2",
                 what="b delivers a change")
        # SIGTERM releases the lease
        self.b.stop(signal.SIGTERM)
        self.assertEqual(self.holder(), "")

    def test_malformed_lease_is_not_written(self):
        # a Lease GET answered 200 with a body that is not an object: the
        # attempt fails and nothing is written from it; the next one works
        lease = "/leases/orgsecrets-controller-prod$"
        self.fake.fault(method="GET", path=lease, status=200, body="[]", count=2)
        self.fake.fault(method="GET", path=lease, status=200, body="", count=2)
        self.fake.fault(method="GET", path=lease, status=200, body='{"spec": []}', count=2)
        self.a.start()
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), timeout=30, what="leader syncs")
        self.assertIsNone(self.a.proc.poll())
        gets = [r for r in self.fake.requests() if r["method"] == "GET" and "/leases/" in r["path"]]
        self.assertGreaterEqual(len(gets), 7, "every malformed answer was read")
        writes = [(r["method"], r["status"]) for r in self.fake.requests() if "/leases" in r["path"]
                  and r["method"] in ("POST", "PUT")]
        self.assertTrue(writes and all(code < 300 for _, code in writes), writes)

    def test_follower_does_not_write(self):
        self.a.start()
        wait_for(lambda: self.fake.secret("shop", "acme-secrets"), what="leader a syncs")
        wait_for(lambda: (self.holder() or "").endswith("_%d" % self.a.proc.pid), what="a leads")
        self.b.start()
        time.sleep(1.5)
        self.fake.clear_requests()
        time.sleep(1.5)
        self.assertEqual(self.fake.writes(exclude_events=True), [], "nothing changed: nobody writes")
        # a change both replicas see at once; the leader's write is slowed
        # down so that a follower that wrote would do so before seeing it
        self.fake.fault(method="PATCH", path="/secrets/", delayMs=500, count=100)
        self.org.set("API_KEY", "prod", "ak-leader-3")
        wait_for(lambda: (self.fake.secret_values("shop", "acme-secrets") or {}).get("API_KEY") == "ak-leader-3",
                 what="the leader delivers the change")
        time.sleep(1.5)
        self.assertEqual(self.writes_by(TOKEN_B), [], "the follower writes nothing, no Event either")
        self.assertIn(("PATCH", "/api/v1/namespaces/shop/secrets/acme-secrets"), self.writes_by(self.fake.token()))


if __name__ == "__main__":
    unittest.main()
