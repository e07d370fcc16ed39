"""The webhook's resource bounds, end to end: the real controller serving
the webhook over HTTPS gets the hostile bodies of bench/webhook/hostile.py
(2 MiB `[0,0,...]`, `[{},{},...]`, deep nesting, one huge string, the
largest pod and patch the limits let through, 8 of each at once, 160 idle
connections) and its peak memory (VmHWM) stays within a stated bound, while
a large real pod is still admitted and rewritten. Each limit answers as
documented (413, 400 naming the limit, 429 with Retry-After, 403)."""

import http.client
import json
import re
import os
import ssl
import sys
import time
import unittest

import test_webhook
from harness import ControllerTest, read, wait_for
from test_webhook import review

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "bench", "webhook"))
import bodies  # noqa: E402
import hostile  # noqa: E402

MIB = 1024 * 1024
# What the webhook may add to the controller's own memory under every
# attack at once, by construction: 2 reviews in progress (each at most
# ~10 MiB: an 8 MiB parse plus its patch), 4 MiB of request bodies and up
# to 6 MiB of responses held, 128 connections (~50 KiB each): about 36 MiB.
# Measured: 25 MiB; before the limits, 466 MiB.
BOUND_MIB = 40
SANITIZED = os.environ.get("ORGSECRETS_SANITIZED") == "1"  # ASan's own memory makes RSS meaningless


class WebhookLimitsTest(ControllerTest):
    # the same organization, certificate and controller as test_webhook
    PREFIX = test_webhook.WebhookTest.PREFIX
    VALUES = test_webhook.WebhookTest.VALUES
    start_webhook = test_webhook.WebhookTest.start_webhook
    get = test_webhook.WebhookTest.get

    def setUp(self):
        super().setUp()
        self.start_webhook()
        self.crt = self.ca1
        self.url = "https://127.0.0.1:%d/mutate-pods" % self.port
        # ready once a reference resolves (the first reconcile built the index)
        wait_for(lambda: self.admitted(review("ready", [{"name": "A", "value": "$API_KEY"}])),
                 timeout=30, what="webhook index")

    def post(self, body):
        return hostile.post(self.url, self.crt, body if isinstance(body, bytes) else bodies.encode(body))

    def admitted(self, body):
        st, data, _ = self.post(body)
        return st == 200 and json.loads(data)["response"]["allowed"]

    def test_hostile_bodies_stay_bounded(self):
        pid = self.ctl.proc.pid
        lines = []
        figures, ok = hostile.run(self.url, self.crt, pid, parallel=8, size=2 * MIB, report=lines.append)
        report = "\n".join(lines)
        sys.stderr.write(report + "\n")
        self.assertTrue(ok, report)
        self.assertIsNone(self.ctl.proc.poll(), "the controller is still running")
        for kind in bodies.hostile_bodies(MIB):
            (phase,) = [p for p in figures if p.startswith(kind + " ")]
            answers = figures[phase][1]
            # refused: by the parse limits (400) or for want of room (429); never parsed whole, never a crash
            self.assertRegex(answers, r"\b400 x\d", phase)
            self.assertNotRegex(answers, r"\b(200|500|closed)\b", phase)
        self.assertRegex(figures["largest patch x8"][1], r"\b200 x\d")
        self.assertNotRegex(figures["2.0x large pod x8"][1], r"\b(400|500|closed)\b")
        # at most 128 connections at once: the others wait for a slot
        self.assertLessEqual(int(figures["160 idle connections"][1].split()[0]), 128)
        if not SANITIZED:
            grew = (figures["large pod again"][0] - figures["start"][0]) / 1024
            self.assertLess(grew, BOUND_MIB, report)
        # the audit log names what was injected, read from the outcome (no second parse)
        audit = [json.loads(l) for l in read(os.path.join(self.tmp, "audit.log")).splitlines()]
        large = [a for a in audit if a["event"] == "inject" and a.get("generateName") == "orders-7d9f8b6c5d-"]
        self.assertTrue(large)
        self.assertEqual(large[0]["names"], "API_KEY,DATABASE_PASSWORD")
        self.assertEqual(large[0]["namespace"], "shop")

    def test_each_limit_answers(self):
        # over the body limit: 413 from the announced length, before the body
        st, _, _ = self.post(b"[" + b" " * (2 * MIB) + b"]")
        self.assertEqual(st, 413)
        # nesting and value count: 400 naming the limit
        st, data, _ = self.post(b"[" * 65 + b"]" * 65)
        self.assertEqual((st, b"nested deeper than 64" in data), (400, True), data)
        st, data, _ = self.post(bodies.hostile_bodies(MIB)["zeros-in-review"])
        self.assertEqual((st, b"too many JSON values" in data), (400, True), data)
        # more references than a pod may have: refused like an unknown one
        st, data, _ = self.post(bodies.refs_review(1032))
        self.assertEqual(st, 200)
        r = json.loads(data)["response"]
        self.assertFalse(r["allowed"])
        self.assertEqual(r["status"]["code"], 403)
        self.assertIn("more than 1024 secret references", r["status"]["message"])
        self.assertTrue(self.admitted(bodies.refs_review(1024)))
        # bodies held at once: two announced 2 MiB bodies fill the 4 MiB,
        # a third request gets 429 with Retry-After (its body read and dropped)
        held = [self.hold(2 * MIB) for _ in range(2)]
        try:
            # the server counts a held body once it has read its headers: on a
            # loaded machine that can come after the first request below
            deadline = time.time() + 10
            while True:
                st, _, hdr = self.post(review("busy", [{"name": "A", "value": "$API_KEY"}]))
                if st != 200 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(st, 429)
            self.assertEqual(hdr.get("Retry-After"), "1")
            # the 429s are counted on /metrics, like every other answer
            code, metrics = self.get("/metrics")
            self.assertEqual(code, 200)
            m = re.search(r'^orgsecrets_webhook_requests_total\{result="busy"\} (\d+)$', metrics, re.M)
            self.assertIsNotNone(m, "no busy count on /metrics")
            self.assertGreaterEqual(int(m.group(1)), 1)
            # a second scrape adds nothing that was already counted
            again = re.search(r'^orgsecrets_webhook_requests_total\{result="busy"\} (\d+)$',
                              self.get("/metrics")[1], re.M)
            self.assertEqual(again.group(1), m.group(1))
        finally:
            for c in held:
                c.close()
        wait_for(lambda: self.admitted(review("after", [{"name": "A", "value": "$API_KEY"}])),
                 what="room again")

    def hold(self, announced):
        """A connection that announces a body and sends only its start."""
        u = self.url.split("/")[2].split(":")
        conn = http.client.HTTPSConnection(u[0], int(u[1]), context=ssl.create_default_context(cafile=self.crt),
                                           timeout=10)
        conn.putrequest("POST", "/mutate-pods")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(announced))
        conn.endheaders(b"[" + b" " * 1000)
        return conn


if __name__ == "__main__":
    unittest.main()
