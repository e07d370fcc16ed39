"""Test harness for end-to-end controller tests: a real fake API server
(tests/fakeapi/fakeapi.py) over TLS, a real organization folder made with the
real `orgsecrets` CLI, and the real `orgsecrets-controller` binary."""

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
FAKEAPI = os.path.join(TESTS, "fakeapi", "fakeapi.py")
sys.path.insert(0, os.path.join(TESTS, "lib"))
from ciphertext import flip_armored_byte  # noqa: E402,F401  (re-exported for the tests)
import procs  # noqa: E402


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def binary(name):
    build = os.environ.get("ORGSECRETS_BUILD_DIR")
    if not build:
        sys.exit("ORGSECRETS_BUILD_DIR is not set")
    for sub in ("cmd/%s/%s" % (name, name), name):
        p = os.path.join(build, sub)
        if os.path.exists(p):
            return p
    sys.exit("binary %s not found below %s" % (name, build))


class Fake:
    """The fake API server, started on a free port."""

    def __init__(self, tmp, token="t0ken-1"):
        self.dir = tmp
        os.makedirs(tmp, exist_ok=True)
        self.token_file = os.path.join(tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(token)
        self.port_file = os.path.join(tmp, "port")
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.log = open(os.path.join(tmp, "fakeapi.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAKEAPI, "--listen", "127.0.0.1:0", "--tls-dir",
             os.path.join(tmp, "tls"), "--token-file", self.token_file,
             "--port-file", self.port_file, "--kubeconfig-out", self.kubeconfig,
             "--watch-timeout-max", "30",
             "--crd", os.path.join(os.path.dirname(TESTS), "manifests", "crds"),
             "--exit-with-pid", str(os.getpid())],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while not (os.path.exists(self.port_file) and os.path.getsize(self.port_file) > 0):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("fakeapi did not start")
            time.sleep(0.05)
        self.port = int(read(self.port_file).strip())
        self.base = "https://127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(cafile=os.path.join(tmp, "tls", "ca.crt"))
        while not os.path.exists(self.kubeconfig):
            time.sleep(0.05)

    def token(self):
        return read(self.token_file).strip()

    def client(self, token, path):
        """A kubeconfig at path for a second client with its own bearer
        token (accepted from now on), so the request log tells the two apart
        (tokenId)."""
        have = self.ok("GET", "/fake/tokens")
        self.extra_tokens = getattr(self, "extra_tokens", []) + [token]
        assert have["tokens"] == len(self.extra_tokens) - 1
        self.ok("POST", "/fake/tokens", {"tokens": self.extra_tokens})
        lines = []
        for line in read(self.kubeconfig).splitlines():
            if line.strip().startswith("tokenFile:"):
                line = line[:len(line) - len(line.lstrip())] + "token: " + json.dumps(token)
            lines.append(line)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    @staticmethod
    def token_id(token):
        """How the request log names a bearer token."""
        import hashlib
        return hashlib.sha256(token.encode()).hexdigest()[:12]

    def call(self, method, path, body=None, content_type="application/json", auth=True):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if auth:
            req.add_header("Authorization", "Bearer " + self.token())
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def ok(self, method, path, body=None, content_type="application/json"):
        code, obj = self.call(method, path, body, content_type)
        if code >= 300:
            raise AssertionError("%s %s: %d %s" % (method, path, code, obj))
        return obj

    def namespace(self, name):
        self.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}})

    def secret(self, ns, name):
        code, obj = self.call("GET", "/api/v1/namespaces/%s/secrets/%s" % (ns, name))
        return obj if code == 200 else None

    def secret_values(self, ns, name):
        s = self.secret(ns, name)
        if s is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}

    def owned(self):
        """Every Secret the controllers own, decoded to bytes:
        {(namespace, name): {key: value}}."""
        items = self.ok("GET", "/api/v1/secrets?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dorgsecrets")["items"]
        return {(i["metadata"]["namespace"], i["metadata"]["name"]):
                {k: base64.b64decode(v) for k, v in (i.get("data") or {}).items()} for i in items}

    def apply(self, path):
        """Creates or replaces the Organization and OrgSecret documents of a
        spec file as custom resources (what kubectl apply or Argo CD does)."""
        import yaml
        for doc in yaml.safe_load_all(read(path)):
            if doc is None:
                continue
            plural = "organizations" if doc["kind"] == "Organization" else "orgsecrets"
            name = doc["metadata"]["name"]
            code, cur = self.call("GET", "/apis/orgsecrets.io/v1/%s/%s" % (plural, name))
            if code == 200:
                doc["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                self.ok("PUT", "/apis/orgsecrets.io/v1/%s/%s" % (plural, name), doc)
            else:
                self.ok("POST", "/apis/orgsecrets.io/v1/%s" % plural, doc)

    def requests(self):
        """The request log, once settled: the fake logs a request after
        answering it, so read until two reads 100 ms apart agree."""
        prev = self.ok("GET", "/fake/requests")
        for _ in range(30):
            time.sleep(0.1)
            cur = self.ok("GET", "/fake/requests")
            if len(cur) == len(prev):
                return cur
            prev = cur
        return prev

    def lists(self, path):
        """The LIST requests (not watches) of a collection path so far."""
        return [r for r in self.requests() if r["method"] == "GET" and r["path"] == path
                and "watch=" not in r["query"]]

    def clear_requests(self):
        self.ok("DELETE", "/fake/requests")

    def writes(self, exclude_events=False):
        out = []
        for r in self.requests():
            if r["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                if exclude_events and "/events" in r["path"]:
                    continue
                if "/leases" in r["path"]:
                    continue
                out.append(r)
        return out

    def fault(self, **kw):
        self.ok("POST", "/fake/faults", kw)

    def events(self, ns="default"):
        return self.ok("GET", "/api/v1/namespaces/%s/events" % ns)["items"]

    def stop(self):
        procs.stop(self.proc, timeout=10)
        self.log.close()


class Org:
    """An organization folder made with the real CLI."""

    def __init__(self, tmp, org="acme"):
        self.cli = binary("orgsecrets")
        self.tmp = tmp
        self.dir = os.path.join(tmp, "org")
        os.makedirs(self.dir)
        self.keys = os.path.join(tmp, "keys")
        os.makedirs(self.keys, mode=0o700)
        self.outputs = []
        self.recipient = {}
        for who in ("admin", "prodctl", "devctl", "otherctl"):
            self.recipient[who] = self.run("keygen", "-o", self.key(who)).strip()
        self.run("init", "--org", org)
        self.run("member", "add", "admin@acme.test", "--role", "admin",
                 "--recipient", self.recipient["admin"])
        self.org = org

    def key(self, who):
        return os.path.join(self.keys, who + ".key")

    def env(self):
        e = dict(os.environ)
        e.update({"ORGSECRETS_DIR": self.dir, "ORGSECRETS_USER": "admin@acme.test",
                  "ORGSECRETS_IDENTITY": self.key("admin")})
        return e

    def run(self, *args, stdin=None, check=True, prints_values=False):
        """Runs the CLI; its output joins the leak check unless the command
        is one allowed to print values (reveal, render)."""
        p = subprocess.run([self.cli] + list(args), input=stdin, capture_output=True,
                           env=self.env(), timeout=60)
        self.outputs.append(p.stderr if prints_values else p.stdout + p.stderr)
        if check and p.returncode != 0:
            raise AssertionError("orgsecrets %s failed (%d): %s" % (
                " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
        return p.stdout.decode()

    def set(self, name, env, value, app=None, *extra):
        """Sets a value (str, or bytes for binary values)."""
        args = ["set", name, "--env", env]
        if app:
            args += ["--app", app]
        self.run(*(args + list(extra)), stdin=value if isinstance(value, bytes) else value.encode())

    def files(self):
        """Every spec file of the folder, the Organization first."""
        import glob
        return [os.path.join(self.dir, "organization.yaml")] + sorted(
            glob.glob(os.path.join(self.dir, "secrets", "**", "*.yaml"), recursive=True))

    def path(self, env, name, app=None):
        """The CLI's file of a secret: secrets/ENV/NAME.yaml, or
        secrets/ENV/APP/NAME.yaml for an application's."""
        return os.path.join(self.dir, "secrets", env, *([app] if app else []), name + ".yaml")


class Controller:
    """The real controller binary."""

    def __init__(self, tmp, org, fake, env="prod", extra=(), name="ctl", kubeconfig=None):
        self.args = [binary("orgsecrets-controller"), "--environment", env,
                     "--identity", org.key(env + "ctl"), "--source", org.dir]
        if fake is not None:
            self.args += ["--kubeconfig", kubeconfig or fake.kubeconfig]
        self.args += list(extra)
        self.logpath = os.path.join(tmp, name + ".log")
        self.proc = None

    def once(self, *more, timeout=120):
        p = subprocess.run(self.args + ["--once"] + list(more), capture_output=True, timeout=timeout)
        with open(self.logpath, "ab") as f:
            f.write(p.stdout + p.stderr)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def start(self, *more):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.args + list(more), stdout=self.log, stderr=self.log)
        return self

    def stop(self, sig=signal.SIGTERM):
        rc = procs.stop(self.proc, sig, timeout=20)
        if self.proc:
            self.log.close()
        return rc

    def output(self):
        if not os.path.exists(self.logpath):
            return ""
        return read(self.logpath, "rb").decode(errors="replace")


def wait_for(pred, timeout=20, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def secret_key_refs(x):
    """(Secret, key) of every secretKeyRef in a JSON patch or pod spec."""
    if isinstance(x, dict):
        if "secretKeyRef" in x:
            yield (x["secretKeyRef"]["name"], x["secretKeyRef"]["key"])
        for v in x.values():
            yield from secret_key_refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from secret_key_refs(v)


def assert_no_values(testcase, texts, values):
    """Fails when any sealed value appears in any of texts (bytes or str)."""
    for t in texts:
        if isinstance(t, bytes):
            t = t.decode(errors="replace")
        for v in values:
            testcase.assertNotIn(v, t, "a secret value leaked into output")


class ControllerTest(unittest.TestCase):
    """The set-up every controller test shares. setUp: a scratch folder
    and, unless NAMESPACES is None, a fake API server (self.fake) with
    NAMESPACES, an organization made with the CLI (self.org) and, with PROD,
    an environment prod whose controller key is prodctl, delivering to
    NAMESPACES, with every value of VALUES sealed in it (more fakes and
    organizations: new_fake(), new_org()). tearDown: every controller in self.controllers and every
    fake in self.fakes stopped, their output, the CLI's and the files in
    self.output_files searched for the values of VALUES (none may appear),
    the folder removed. Subclasses extend setUp after super().setUp()."""

    PREFIX = "os-ctl-"
    NAMESPACES = ("shop",)
    PROD = True
    VALUES = {}  # the sealed values no output may show

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.PREFIX)
        self.controllers, self.fakes, self.orgs, self.output_files = [], [], [], []
        if self.NAMESPACES is None:
            return
        self.fake = self.new_fake("fake", self.NAMESPACES)
        self.org = self.new_org(self.tmp)
        if self.PROD:
            args = ["env", "add", "prod", "--controller", self.org.recipient["prodctl"]]
            for ns in self.NAMESPACES:
                args += ["--namespace", ns]
            self.org.run(*args)
            for k, v in self.VALUES.items():
                self.org.set(k, "prod", v)

    def new_fake(self, name, namespaces=()):
        fake = Fake(os.path.join(self.tmp, name))
        self.fakes.append(fake)
        for ns in namespaces:
            fake.namespace(ns)
        return fake

    def new_org(self, path, org="acme"):
        o = Org(path, org=org)
        self.orgs.append(o)
        return o

    def controller(self, org=None, fake=None, **kw):
        """A Controller on self.org and self.fake by default, stopped on tear-down."""
        c = Controller(self.tmp, org or self.org, fake or self.fake, **kw)
        self.controllers.append(c)
        return c

    def tearDown(self):
        outputs = []
        for c in self.controllers:
            c.stop()
            outputs.append(c.output())
        for f in self.fakes:
            f.stop()
        for o in self.orgs:
            outputs += o.outputs
        outputs += [read(p) for p in self.output_files if os.path.exists(p)]
        assert_no_values(self, outputs, self.VALUES.values())
        shutil.rmtree(self.tmp, ignore_errors=True)
