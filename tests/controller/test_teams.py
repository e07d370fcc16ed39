"""Organizations that work as teams, seen from the controller: an
application's namespace receives both its own Secret and the
organization-level one, the webhook resolves names there as `orgsecrets
run --app` does (an application's secret overrides an organization-level
one of the same name), and values sealed to a key the organization no
longer authorizes are reported (a log line and a metric from a folder, the
Ready condition UnauthorizedRecipients on the custom resource) while still
delivered."""

import base64
import json
import os
import re
import ssl
import unittest
import urllib.request

from harness import Controller, ControllerTest, secret_key_refs, wait_for
from test_webhook import make_cert, review

VALUES = {
    "DATABASE_URL": "postgres://org-level-7hq2@db/main",
    "SMTP_PASSWORD": "smtp-org-level-55kd",
}
APP_VALUES = {"DATABASE_URL": "postgres://billing-only-9zr4@db/billing"}
ALL_VALUES = dict(VALUES, **{"APP_" + k: v for k, v in APP_VALUES.items()})


class TeamsTest(ControllerTest):
    PREFIX = "os-teams-"
    NAMESPACES = ("shop", "billing")
    PROD = False
    VALUES = ALL_VALUES

    def setUp(self):
        super().setUp()
        o = self.org
        o.run("env", "add", "prod", "--controller", o.recipient["prodctl"], "--namespace", "shop")
        o.run("app", "add", "billing", "--namespace", "billing")
        for k, v in VALUES.items():
            o.set(k, "prod", v)
        for k, v in APP_VALUES.items():
            o.set(k, "prod", v, "billing")

    def test_app_namespace_gets_both_and_webhook_resolves_like_run(self):
        crt, key = make_cert(os.path.join(self.tmp, "cert"), "orgsecrets-webhook-1", 1001)
        ctl = self.controller(extra=["--webhook-listen", "127.0.0.1:0", "--tls-cert", crt,
                                     "--tls-key", key, "--resync", "1h"]).start()
        port = int(wait_for(lambda: re.search(r"pod webhook on port (\d+)", ctl.output()),
                            what="webhook port").group(1))
        wait_for(lambda: self.fake.secret("billing", "billing-secrets") and
                 self.fake.secret("billing", "acme-secrets"), what="both Secrets in billing")
        self.assertEqual(self.fake.secret_values("billing", "acme-secrets"), VALUES)
        self.assertEqual(self.fake.secret_values("billing", "billing-secrets"), APP_VALUES)
        self.assertEqual(self.fake.secret_values("shop", "acme-secrets"), VALUES)
        self.assertIsNone(self.fake.secret("shop", "billing-secrets"))

        def admit(ns, env):
            ctx = ssl.create_default_context(cafile=crt)
            req = urllib.request.Request("https://127.0.0.1:%d/mutate-pods" % port,
                                         data=json.dumps(review("u-" + ns, env, ns=ns)).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return json.loads(r.read())["response"]

        env = [{"name": "DB", "value": "$DATABASE_URL"}, {"name": "MAIL", "value": "${SMTP_PASSWORD}"}]
        got = {}
        for ns in ("billing", "shop"):
            r = admit(ns, env)
            self.assertTrue(r["allowed"], r)
            got[ns] = dict((k, s) for s, k in secret_key_refs(json.loads(base64.b64decode(r["patch"]))))
        # inside the application its own DATABASE_URL wins; the organization-level
        # SMTP_PASSWORD resolves there too; elsewhere only organization-level names exist
        self.assertEqual(got["billing"], {"DATABASE_URL": "billing-secrets", "SMTP_PASSWORD": "acme-secrets"})
        self.assertEqual(got["shop"], {"DATABASE_URL": "acme-secrets", "SMTP_PASSWORD": "acme-secrets"})
        # what the pod in billing gets is what `orgsecrets run --app billing` gives
        pod = {k: self.fake.secret_values("billing", s)[k] for k, s in got["billing"].items()}
        out = self.org.run("run", "--env", "prod", "--app", "billing", "--", "env", prints_values=True)
        local = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        self.assertEqual({k: local[k] for k in pod}, pod)
        self.assertEqual(pod["DATABASE_URL"], APP_VALUES["DATABASE_URL"])
        shop = {k: self.fake.secret_values("shop", s)[k] for k, s in got["shop"].items()}
        out = self.org.run("run", "--env", "prod", "--", "env", prints_values=True)
        local = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        self.assertEqual({k: local[k] for k in shop}, shop)
        self.assertEqual(shop["DATABASE_URL"], VALUES["DATABASE_URL"])

    def test_env_file_of_an_application_is_its_view(self):
        envdir = os.path.join(self.tmp, "env")
        ctl = Controller(self.tmp, self.org, None, extra=["--no-kubernetes", "--env-file-dir", envdir],
                         name="envctl")
        self.controllers.append(ctl)
        rc, out = ctl.once()
        self.assertEqual(rc, 0, out)
        with open(os.path.join(envdir, "acme-prod-billing.env")) as f:
            got = f.read()
        self.assertEqual(got, "DATABASE_URL=%s\nSMTP_PASSWORD=%s\n" % (
            APP_VALUES["DATABASE_URL"], VALUES["SMTP_PASSWORD"]))
        rendered = self.org.run("render", "--env", "prod", "--app", "billing", "--format", "env",
                                prints_values=True)
        self.assertEqual(rendered, got)

    def remove_member(self):
        """bob joins, values are sealed to him, then he is removed without
        a rekey (as on a branch that had not seen the removal)."""
        o = self.org
        bob = o.run("keygen", "-o", o.key("bob")).strip()
        o.run("member", "add", "bob@acme.test", "--role", "member", "--recipient", bob)
        o.run("rekey", "--yes")
        o.run("member", "remove", "bob@acme.test")

    def test_unauthorized_recipients_from_a_folder(self):
        self.remove_member()
        # not a Git checkout: lint names the key by fingerprint
        self.assertIn("does not authorize", self.org.run("lint", check=False))
        ctl = self.controller(extra=["--listen", "127.0.0.1:0", "--resync", "1h"]).start()
        port = int(wait_for(lambda: re.search(r"/recipients on port (\d+)", ctl.output()),
                            what="http port").group(1))
        wait_for(lambda: self.fake.secret_values("billing", "billing-secrets") == APP_VALUES,
                 what="still delivered")
        self.assertEqual(self.fake.secret_values("shop", "acme-secrets"), VALUES)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            metrics = r.read().decode()
        self.assertRegex(metrics, r"orgsecrets_unauthorized_recipient_secrets 3\b")
        out = ctl.output()
        for rname in ("acme.prod.database-url", "acme.prod.smtp-password", "acme.prod.billing.database-url"):
            self.assertEqual(out.count("secret %s: UnauthorizedRecipients" % rname), 1, out)
        self.assertIn("orgsecrets rekey", out)
        # after rekey the report clears
        self.org.run("rekey", "--yes")
        self.assertNotIn("does not authorize", self.org.run("lint"))
        wait_for(lambda: re.search(r"orgsecrets_unauthorized_recipient_secrets 0\b", urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()), what="metric back to 0")

    def test_unauthorized_recipients_condition_in_cluster(self):
        self.remove_member()
        for p in self.org.files():
            self.fake.apply(p)
        rc, out = self.controller(extra=["--source", "cluster"]).once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.fake.secret_values("billing", "billing-secrets"), APP_VALUES,
                         "delivered all the same")
        for rname in ("acme.prod.database-url", "acme.prod.billing.database-url"):
            cr = self.fake.ok("GET", "/apis/orgsecrets.io/v1/orgsecrets/" + rname)
            ready = [c for c in cr["status"]["conditions"] if c["type"] == "Ready"][0]
            self.assertEqual((ready["status"], ready["reason"]), ("False", "UnauthorizedRecipients"))
            self.assertIn("orgsecrets rekey", ready["message"])
        events = [e for e in self.fake.events("default") if e["reason"] == "UnauthorizedRecipients"]
        self.assertTrue(events, "a Warning Event on the transition")
        # re-sealed and applied again: Synced
        self.org.run("rekey", "--yes")
        for p in self.org.files():
            self.fake.apply(p)
        rc, out = self.controller(extra=["--source", "cluster"], name="ctl2").once()
        self.assertEqual(rc, 0, out)
        cr = self.fake.ok("GET", "/apis/orgsecrets.io/v1/orgsecrets/acme.prod.billing.database-url")
        ready = [c for c in cr["status"]["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual((ready["status"], ready["reason"]), ("True", "Synced"))


if __name__ == "__main__":
    unittest.main()
