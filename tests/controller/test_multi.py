"""Several organizations and environments, from a folder and from the
custom resources: every delivered byte is compared with what was sealed,
and a converged controller stays quiet (no write, no Event)."""

import os
import time
import unittest

from harness import Controller, ControllerTest, wait_for

# (organization, environment, application or None, name) -> value; values
# of the same length differ by org and environment, some have characters
# that need quoting, one is binary with NUL bytes.
VALUES = {}
BINARY = bytes(range(256)) + b"\x00\x00tail"


def value(org, env, name):
    return "%s-%s-%s: 'q' \"dq\" $x\\n=%s" % (org, env, name.lower(), "x" * 7)


LAYOUT = {
    # org: (namespaces of the environment, application, its namespaces)
    "acme": (["shop", "shared"], "api", ["api"]),
    "globex": (["store", "shared"], "web", ["web", "shared"]),
}
ORG_LEVEL = ["SMTP_PASSWORD", "DATABASE_PASSWORD"]
APP_LEVEL = ["FEATURE_FLAGS"]


class MultiTest(ControllerTest):
    PREFIX = "os-multi-"
    NAMESPACES = None  # two fakes and two organizations, made here
    VALUES = VALUES

    def setUp(self):
        super().setUp()
        self.fake_by_env = {env: self.new_fake("fake-" + env, ("shop", "shared", "api", "store", "web"))
                            for env in ("prod", "dev")}
        self.org_by_id = {}
        self.want = {"prod": {}, "dev": {}}
        for org_id, (namespaces, app, app_ns) in LAYOUT.items():
            o = self.new_org(os.path.join(self.tmp, org_id), org=org_id)
            self.org_by_id[org_id] = o
            for env in ("prod", "dev"):
                args = ["env", "add", env, "--controller", o.recipient[env + "ctl"]]
                for ns in namespaces:
                    args += ["--namespace", ns]
                o.run(*args)
            o.run("app", "add", app, *sum((["--namespace", ns] for ns in app_ns), []))
            for env in ("prod", "dev"):
                org_data, app_data = {}, {}
                for name in ORG_LEVEL:
                    v = value(org_id, env, name)
                    o.set(name, env, v)
                    org_data[name] = v.encode()
                    VALUES[(org_id, env, name)] = v
                for name in APP_LEVEL:
                    v = value(org_id, env, name)
                    o.set(name, env, v, app)
                    app_data[name] = v.encode()
                    VALUES[(org_id, env, name)] = v
                if org_id == "globex":
                    o.set("SIGNING_KEY", env, BINARY + env.encode())
                    org_data["SIGNING_KEY"] = BINARY + env.encode()
                # the organization-level Secret goes to the application's namespaces too
                for ns in namespaces + app_ns:
                    self.want[env][(ns, org_id + "-secrets")] = dict(org_data)
                for ns in app_ns:
                    self.want[env][(ns, app + "-secrets")] = dict(app_data)

    def controller(self, env, org, extra, name):
        c = Controller(self.tmp, org, self.fake_by_env[env], env=env, extra=extra, name=name)
        self.controllers.append(c)
        return c

    def converged(self, env):
        wait_for(lambda: self.fake_by_env[env].owned() == self.want[env], timeout=30,
                 what="%s: every Secret delivered byte for byte" % env)
        # and it stays so (a use-after-free delivers different bytes each pass)
        time.sleep(0.5)
        self.assertEqual(self.fake_by_env[env].owned(), self.want[env])

    def assert_quiet(self, env, seconds=3):
        fake = self.fake_by_env[env]
        events = len(fake.events("default")) + sum(len(fake.events(ns)) for ns in ("shop", "shared", "api", "store", "web"))
        fake.clear_requests()
        time.sleep(seconds)
        self.assertEqual([(w["method"], w["path"]) for w in fake.writes()], [],
                         "%s: a converged controller writes nothing" % env)
        after = len(fake.events("default")) + sum(len(fake.events(ns)) for ns in ("shop", "shared", "api", "store", "web"))
        self.assertEqual(after, events, "%s: and posts no Event" % env)

    def change(self, org_id, env, name, new):
        VALUES[(org_id, env, name + "-new")] = new
        self.org_by_id[org_id].set(name, env, new)
        for (ns, sname), data in self.want[env].items():
            if sname == org_id + "-secrets":
                data[name] = new.encode()

    def test_folder_source(self):
        for env in ("prod", "dev"):
            for org_id, o in self.org_by_id.items():
                self.controller(env, o, ["--resync", "1h"], "%s-%s" % (org_id, env)).start()
        for env in ("prod", "dev"):
            self.converged(env)
            self.assert_quiet(env)
        self.change("globex", "prod", "SMTP_PASSWORD", "globex-prod-smtp-rotated-1")
        self.converged("prod")
        self.assert_quiet("prod")
        self.assertEqual(self.fake_by_env["dev"].owned(), self.want["dev"])

    def test_cluster_source(self):
        for env, fake in self.fake_by_env.items():
            for o in self.org_by_id.values():
                for p in o.files():
                    fake.apply(p)
            extra = ["--source", "cluster", "--resync", "1h",
                     "--identity", self.org_by_id["globex"].key(env + "ctl")]
            self.controller(env, self.org_by_id["acme"], extra, "cluster-" + env).start()
        for env, fake in self.fake_by_env.items():
            self.converged(env)
            wait_for(lambda: all((c.get("status") or {}).get("conditions", [{}])[0].get("reason") == "Synced"
                                 for c in fake.ok("GET", "/apis/orgsecrets.io/v1/orgsecrets")["items"]
                                 if c["spec"]["environment"] == env),
                     what="%s: every OrgSecret Ready" % env)
            self.assert_quiet(env)
        self.change("globex", "prod", "SMTP_PASSWORD", "globex-prod-smtp-rotated-2")
        self.fake_by_env["prod"].apply(self.org_by_id["globex"].path("prod", "SMTP_PASSWORD"))
        self.converged("prod")
        self.assert_quiet("prod")
        # a one-shot pass over the converged cluster agrees, and writes nothing
        self.fake_by_env["dev"].clear_requests()
        once = self.controller("dev", self.org_by_id["acme"], ["--source", "cluster", "--identity",
                                                           self.org_by_id["globex"].key("devctl")], "once-dev")
        rc, out = once.once()
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.fake_by_env["dev"].writes(), [])


    def drop_application(self, org_id):
        """Removes the organization's application from organization.yaml
        while its secrets stay."""
        import yaml
        path = os.path.join(self.org_by_id[org_id].dir, "organization.yaml")
        with open(path) as f:
            doc = yaml.safe_load(f)
        del doc["spec"]["applications"]
        with open(path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path

    def test_removed_application_keeps_value_in_both_sources(self):
        """One rule for both sources: a secret naming an application the
        Organization no longer defines is InvalidSpec, and nothing is
        deleted (a typo never wipes a value)."""
        fake, acme = self.fake_by_env["prod"], self.org_by_id["acme"]
        folder = self.controller("prod", acme, [], "folder-once")
        for p in acme.files():
            fake.apply(p)
        cluster = self.controller("prod", acme, ["--source", "cluster", "--identity",
                                                 self.org_by_id["globex"].key("prodctl")], "cluster-once")
        for c in (folder, cluster):
            rc, out = c.once()
            self.assertEqual(rc, 0, out)
        app = fake.owned()[("api", "api-secrets")]
        self.assertEqual(app, self.want["prod"][("api", "api-secrets")])
        fake.apply(self.drop_application("acme"))
        for c in (folder, cluster):
            rc, out = c.once()
            self.assertNotEqual(rc, 0, out)
            self.assertIn("unknown application", out) if c is folder else self.assertIn("InvalidSpec", out)
            self.assertEqual(fake.owned().get(("api", "api-secrets")), app,
                             "%s: the application's Secret and value stay" % c.logpath)
        cr = fake.ok("GET", "/apis/orgsecrets.io/v1/orgsecrets/acme.prod.api.feature-flags")
        ready = cr["status"]["conditions"][0]
        self.assertEqual((ready["type"], ready["status"], ready["reason"]), ("Ready", "False", "InvalidSpec"))
        self.assertIn("application api is not defined", ready["message"])
        # every other Secret is still delivered as before
        self.assertEqual({k: v for k, v in fake.owned().items() if k != ("api", "api-secrets")},
                         {k: v for k, v in self.want["prod"].items() if k[1] == "acme-secrets"})


if __name__ == "__main__":
    unittest.main()
