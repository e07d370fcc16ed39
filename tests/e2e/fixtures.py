"""Organizations sealed with the real CLI, what the controller must deliver
from them, and the real controller run as the shipped ServiceAccount."""

import base64
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "controller"))

import harness  # noqa: E402  (tests/controller/harness.py: the CLI and controller wrappers)
from controlplane import ControlPlane, _die_with_parent, wait_for, yaml_docs  # noqa: E402

# Values worth a byte-exact comparison: printable, multi-line, UTF-8, NUL
# and high bytes, and a large one.
SPECIAL_VALUES = [
    lambda: b"line one\nline two\n\tand a tab " + secrets.token_hex(6).encode(),
    lambda: ("p\u00e4ssw\u00f6rd-\u5bc6\u7801-" + secrets.token_hex(6)).encode(),
    lambda: b"\x00\x01bin\xff\xfe" + secrets.token_bytes(40) + b"\x00",
    lambda: secrets.token_bytes(48 * 1024),
]


class OrgModel:
    """One organization: the CLI's folder (below the shared source folder),
    its environments, applications and the values sealed in it."""

    def __init__(self, world, name):
        self.name = name
        self.cli = harness.Org(os.path.join(world.dir, name), org=name)
        self.envs = {}       # env -> [namespaces]
        self.apps = {}       # app -> [namespaces]
        self.values = {}     # (env, app or None, NAME) -> bytes
        self.disabled = set()
        self.world = world

    def env(self, env, controller, *namespaces):
        args = ["env", "add", env, "--controller", controller]
        for ns in namespaces:
            args += ["--namespace", ns]
        self.cli.run(*args)
        self.envs[env] = list(namespaces)

    def app(self, app, *namespaces):
        args = ["app", "add", app]
        for ns in namespaces:
            args += ["--namespace", ns]
        self.cli.run(*args)
        self.apps[app] = list(namespaces)

    def set(self, name, env, value=None, app=None, *extra):
        """Seals value (bytes; random when None) with `orgsecrets set`."""
        if value is None:
            value = ("v-%s-%s" % (name.lower(), secrets.token_hex(8))).encode()
        args = ["set", name, "--env", env] + (["--app", app] if app else []) + list(extra)
        self.cli.run(*args, stdin=value)
        self.values[(env, app, name)] = value
        self.world.sealed.append(value)
        if "--disable" in extra:
            self.disabled.add((env, app, name))
        elif "--enable" in extra:
            self.disabled.discard((env, app, name))
        return value

    def delete(self, name, env, app=None):
        self.cli.run("delete", name, "--env", env, "--yes", *(["--app", app] if app else []))
        self.values.pop((env, app, name), None)
        self.disabled.discard((env, app, name))

    def remove_app_from_spec(self, app):
        """Takes app out of organization.yaml by hand (the CLI has no `app
        remove`), leaving its secrets' files where they are."""
        path = os.path.join(self.cli.dir, "organization.yaml")
        with open(path) as f:
            lines = f.read().split("\n")
        out, skip, indent = [], False, None
        for line in lines:
            stripped = line.lstrip()
            ind = len(line) - len(stripped)
            if stripped == "- name: " + app:
                skip, indent = True, ind
                continue
            if skip and stripped and (ind < indent or (ind == indent and stripped.startswith("- "))):
                skip = False
            if not skip:
                out.append(line)
        assert len(out) < len(lines), "application %s not found in %s" % (app, path)
        with open(path, "w") as f:
            f.write("\n".join(out))
        del self.apps[app]

    def spec_files(self):
        out = [os.path.join(self.cli.dir, "organization.yaml")]
        for root, _, files in os.walk(os.path.join(self.cli.dir, "secrets")):
            out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".yaml")]
        return out

    def file_of(self, env, app, name):
        """(path, metadata.name) of the file the CLI wrote for a secret,
        wherever its layout puts it."""
        for path in self.spec_files()[1:]:
            with open(path) as f:
                text = f.read()
            spec = dict(re.findall(r"(?m)^  (environment|application|name): (\S+)$", text))
            if (spec.get("environment"), spec.get("application"), spec.get("name")) == (env, app, name):
                return path, yaml_docs(text)[0][0]["name"]
        raise KeyError("no file for %s/%s/%s below %s" % (env, app, name, self.cli.dir))

    def expected(self, env):
        """{(namespace, Secret name): {NAME: bytes}} that a controller of env
        delivers for this organization (docs/controller.md, Targets)."""
        out = {}
        if env not in self.envs:
            return out
        active = {k: v for k, v in self.values.items() if k[0] == env and k not in self.disabled}
        org_level = {n: v for (_, a, n), v in active.items() if a is None}
        # the organization-level Secret: the environment's namespaces and
        # every application's (an application's pods get both Secrets)
        for ns in list(self.envs[env]) + [ns for nss in self.apps.values() for ns in nss]:
            out[(ns, self.name + "-secrets")] = dict(org_level)
        for app, nss in self.apps.items():
            data = {n: v for (_, a, n), v in active.items() if a == app}
            for ns in nss:
                out[(ns, app + "-secrets")] = dict(data)
        return out


class World:
    """Organizations (a folder each, below one temporary folder), all
    deploying environment prod with the same controller key (the first
    organization's)."""

    def __init__(self, tmp, tag):
        self.tmp = tmp
        self.tag = tag
        self.dir = os.path.join(tmp, "src")
        os.makedirs(self.dir)
        self.orgs = []
        self.sealed = []

    def ns(self, base):
        return "%s-%s" % (base, self.tag)

    def org(self, base):
        o = OrgModel(self, "%s-%s" % (base, self.tag))
        self.orgs.append(o)
        return o

    def key(self, who):
        """Controller identity files are the first organization's."""
        return self.orgs[0].cli.key(who)

    def recipient(self, who):
        return self.orgs[0].cli.recipient[who]

    def namespaces(self):
        out = set()
        for o in self.orgs:
            for nss in list(o.envs.values()) + list(o.apps.values()):
                out.update(nss)
        return sorted(out)

    def expected(self, env="prod", orgs=None):
        out = {}
        for o in orgs or self.orgs:
            for k, v in o.expected(env).items():
                assert k not in out, "two organizations deliver %s/%s" % k
                out[k] = v
        return out

    def cli_outputs(self):
        return [t for o in self.orgs for t in o.cli.outputs]


def two_org_world(tmp, tag, api):
    """The suite's usual fixture: two organizations, both delivering prod
    (several namespaces and applications each), plus dev and staging
    environments the prod controller must not deliver."""
    w = World(tmp, tag)
    acme = w.org("acme")
    globex = w.org("globex")
    acme.env("prod", w.recipient("prodctl"), w.ns("shop"), w.ns("payments"))
    acme.env("dev", w.recipient("devctl"), w.ns("shop-dev"))
    acme.app("api", w.ns("api"))
    acme.app("web", w.ns("web"), w.ns("web2"))
    globex.env("prod", w.recipient("prodctl"), w.ns("shop"), w.ns("globex"))
    globex.env("staging", w.recipient("otherctl"), w.ns("globex-staging"))
    globex.app("billing", w.ns("billing"))
    globex.app("mailer", w.ns("mailer"))
    special = [f() for f in SPECIAL_VALUES]
    acme.set("DATABASE_PASSWORD", "prod")
    acme.set("API_KEY", "prod")
    acme.set("MULTILINE_NOTE", "prod", special[0])
    acme.set("UNICODE_PASSPHRASE", "prod", special[1])
    acme.set("OLD_TOKEN", "prod", None, None, "--disable")
    acme.set("FEATURE_FLAGS", "prod", None, "api")
    acme.set("TLS_BLOB", "prod", special[2], "api")
    acme.set("SESSION_KEY", "prod", None, "web")
    acme.set("DEV_ONLY", "dev")
    globex.set("SMTP_PASSWORD", "prod")
    globex.set("DATABASE_PASSWORD", "prod")
    globex.set("LICENSE_KEY", "prod", special[3])
    globex.set("BILLING_API_KEY", "prod", None, "billing")
    globex.set("STRIPE_KEY", "prod", None, "billing")
    globex.set("SMTP_RELAY_TOKEN", "prod", None, "mailer")
    globex.set("STAGING_ONLY", "staging")
    for ns in w.namespaces():
        api.namespace(ns)
    return w


class Controller(harness.Controller):
    """The real controller of environment env, authenticated by the
    ServiceAccount's token, reading source: an OrgModel's folder (one
    organization per folder) or "cluster"; killed with this test process
    should it die."""

    def __init__(self, tmp, world, kubeconfig, source, env="prod", extra=(), name="ctl"):
        folder = source.cli.dir if isinstance(source, OrgModel) else source
        super().__init__(tmp, _Source(world, folder), _Kubeconfig(kubeconfig), env, extra, name)

    def start(self, *more):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.args + list(more), stdout=self.log, stderr=self.log,
                                     preexec_fn=_die_with_parent)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


class _Source:
    def __init__(self, world, folder):
        self.dir, self.key = folder, world.key


class _Kubeconfig:
    def __init__(self, path):
        self.kubeconfig = path


def diff_secrets(want, got):
    """A readable difference between expected and delivered Secrets, naming
    keys and sizes, never values; '' when equal."""
    out = []
    for k in sorted(set(want) | set(got)):
        if k not in got:
            out.append("missing Secret %s/%s" % k)
        elif k not in want:
            out.append("unexpected Secret %s/%s" % k)
        elif want[k] != got[k]:
            w, g = want[k], got[k]
            for n in sorted(set(w) | set(g)):
                if n not in g:
                    out.append("%s/%s: key %s missing" % (k + (n,)))
                elif n not in w:
                    out.append("%s/%s: unexpected key %s" % (k + (n,)))
                elif w[n] != g[n]:
                    nul = g[n].count(b"\x00") - w[n].count(b"\x00")
                    out.append("%s/%s: %s differs (%d bytes sealed, %d delivered, %d more NUL bytes)"
                               % (k + (n, len(w[n]), len(g[n]), nul)))
    return "\n".join(out)


def wait_delivered(api, want, timeout=30, only=None):
    """Waits until the managed Secrets (those in namespaces of only, if
    given) are exactly want; fails with the difference."""
    last = [""]

    def check():
        got = api.managed_secrets()
        if only is not None:
            got = {k: v for k, v in got.items() if k[0] in only}
        last[0] = diff_secrets(want, got)
        return last[0] == ""
    try:
        wait_for(check, timeout, 0.2, "delivery")
    except AssertionError:
        raise AssertionError("delivered Secrets differ from the sealed values:\n" + last[0])


def assert_quiet(testcase, cp, seconds=5.0, what="a converged controller"):
    """No write by the controller and no new Event during seconds."""
    before = {e["metadata"]["uid"]: e.get("count", 1) for e in cp.admin.events()}
    t0 = time.time()
    time.sleep(seconds)
    testcase.assertEqual(controller_writes(cp, t0), [], "%s wrote in %ss" % (what, seconds))
    new = [(e["reason"], e["involvedObject"].get("name"), e.get("count", 1)) for e in cp.admin.events()
           if before.get(e["metadata"]["uid"]) != e.get("count", 1)]
    testcase.assertEqual(new, [], "%s made new Events in %ss" % (what, seconds))


def remove_tmp(path):
    """Removes a test's folder, unless ORGSECRETS_E2E_KEEP is set."""
    if os.environ.get("ORGSECRETS_E2E_KEEP"):
        print("e2e: kept %s" % path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def controller_writes(cp, since):
    return [a for a in cp.audit(since=since) if a[0] in ("create", "update", "patch", "delete")
            and a[1] != "leases"]


def wait_quiet(cp, seconds=3.0, timeout=30):
    """Waits until the controllers have written nothing for seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        t0 = time.time()
        time.sleep(seconds)
        if not controller_writes(cp, t0):
            return
    raise AssertionError("the controllers kept writing for %ss" % timeout)


def assert_no_values(testcase, texts, values):
    """No sealed value (as is, or base64 as in a Secret's data) in any text."""
    needles = []
    for v in values:
        if len(v) >= 6:
            needles += [v, base64.b64encode(v)]
    for i, t in enumerate(texts):
        if isinstance(t, str):
            t = t.encode()
        for n in needles:
            if n in t:  # say where, never what
                line = t[:t.index(n)].count(b"\n") + 1
                testcase.fail("a sealed value (%d bytes) leaked into output %d of %d, line %d"
                              % (len(n), i + 1, len(texts), line))


class E2ETest(unittest.TestCase):
    """One control plane per test class with the shipped manifests
    installed (cls.cp, cls.kubeconfig: the controller's ServiceAccount).
    Each test gets a folder (self.tmp); at its end its controllers are
    stopped and everything they, the CLI and the control plane printed is
    searched for the sealed values of self.world."""

    NAME = "e2e"

    @classmethod
    def setUpClass(cls):
        cls.cp = ControlPlane(cls.NAME)
        try:
            cls.kubeconfig = cls.cp.install()
        except BaseException:
            cls.cp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cp.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="os-e2e-%s-" % self.NAME)
        self.ctls = []
        self.world = None

    def tag(self):
        """A short name of the test for its organizations and namespaces."""
        return self._testMethodName[5:9].replace("_", "")

    def controller(self, source, name="ctl", extra=()):
        c = Controller(self.tmp, self.world, self.kubeconfig, source, extra=list(extra), name=name)
        self.ctls.append(c)
        return c

    def tearDown(self):
        for c in self.ctls:
            c.stop()
        for c in self.ctls:  # the sanitizer build's reports go to the log
            for line in c.output().splitlines():
                if "Sanitizer" in line or "runtime error:" in line:
                    self.fail("%s: %s" % (c.logpath, line))
        texts = [c.output() for c in self.ctls] + self.cp.log_texts()
        if self.world is not None:
            assert_no_values(self, texts + self.world.cli_outputs(), self.world.sealed)
        remove_tmp(self.tmp)
