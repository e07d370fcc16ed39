"""Shared set-up for the orgsecrets ui tests: an organization made with the
real CLI, the page's server started on an ephemeral loopback port, and an
HTTP client that sends exactly the headers a test asks for."""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import procs  # noqa: E402

FAILS = []
CHECKS = [0]


def check(desc, cond):
    CHECKS[0] += 1
    if not cond:
        FAILS.append(desc)
        print("FAIL:", desc, flush=True)
    return cond


def finish(tmp=None):
    if FAILS:
        print(f"FAILED: {len(FAILS)} of {CHECKS[0]} checks" + (f" (kept {tmp})" if tmp else ""))
        sys.exit(1)
    print(f"ok: {CHECKS[0]} checks, {CHECKS[0]} passed, 0 failed")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0)


class Org:
    """An organization folder in a fresh Git repository: admin alice, member
    bob, viewer victor (with a key), environment prod (and dev)."""

    def __init__(self, binary, tmp=None):
        self.bin = os.path.abspath(binary)
        self.tmp = tmp or tempfile.mkdtemp(prefix="orgsecrets-ui-test.")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home, exist_ok=True)
        self.dir = os.path.join(self.tmp, "org")
        self.values = []
        self.env = dict(os.environ)
        for k in ("ORGSECRETS_DIR", "ORGSECRETS_USER", "ORGSECRETS_IDENTITY"):
            self.env.pop(k, None)
        self.env.update(HOME=self.home, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
                        ORGSECRETS_NOW="2026-03-01T10:00:00Z")
        self.keys = {}
        self.log = []

    def keygen(self, who):
        path = os.path.join(self.tmp, f"{who}.key")
        out = self.run(["keygen", "-o", path]).stdout.strip()
        self.keys[who] = (path, out)
        return out

    def run(self, args, value=None, who=None, check_rc=True, cwd=None):
        cmd = [self.bin, "--dir", cwd or self.dir]
        if who:
            cmd += ["--as", who, "-i", self.keys[who.split("@")[0]][0]]
        cmd += args
        p = subprocess.run(cmd, input=value.encode() if value is not None else b"",
                           capture_output=True, env=self.env, timeout=60)
        p.stdout = p.stdout.decode(errors="replace")
        p.stderr = p.stderr.decode(errors="replace")
        # reveal's stdout is a value: kept out of the searched log
        self.log.append(p.stderr + ("" if args[:1] == ["reveal"] else p.stdout))
        if check_rc and p.returncode != 0:
            raise RuntimeError(f"orgsecrets {' '.join(args)} failed: {p.stderr}")
        return p

    def git(self, *args):
        return subprocess.run(["git", "-C", self.dir, *args], capture_output=True, text=True,
                              env=self.env, check=True).stdout

    def setup(self):
        os.makedirs(self.dir)
        a = self.keygen("alice")
        b = self.keygen("bob")
        v = self.keygen("victor")
        c = self.keygen("ctl")
        self.git("init", "-q", ".")
        self.git("config", "user.email", "alice@acme.test")
        self.git("config", "user.name", "Alice")
        self.run(["init", "--org", "acme", "--rotation-days", "90"])
        self.run(["member", "add", "alice@acme", "--role", "admin", "--recipient", a])
        self.run(["member", "add", "bob@acme", "--role", "member", "--recipient", b], who="alice@acme")
        self.run(["member", "add", "victor@acme", "--role", "viewer", "--recipient", v],
                 who="alice@acme")
        self.run(["env", "add", "prod", "--controller", c, "--namespace", "web"], who="alice@acme")
        self.run(["env", "add", "dev", "--controller", c], who="alice@acme")
        self.run(["app", "add", "billing", "--namespace", "billing"], who="alice@acme")
        return self

    def new_value(self, tag="v"):
        v = f"{tag}-{os.urandom(9).hex()}"
        self.values.append(v)
        return v

    def set(self, name, env, value, who="alice@acme", extra=()):
        self.values.append(value)
        return self.run(["set", name, "--env", env, *extra], value=value, who=who)

    def commit_all(self, msg="test"):
        self.git("add", "-A")
        self.git("commit", "-qm", msg)

    def snapshot(self):
        """Every file below the folder (but .git), path -> bytes."""
        out = {}
        for root, dirs, files in os.walk(self.dir):
            dirs[:] = [d for d in dirs if d != ".git"]
            for f in files:
                p = os.path.join(root, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, self.dir)] = fh.read()
        return out


class Server:
    """orgsecrets ui --no-open on 127.0.0.1:0 (or listen), output captured."""

    def __init__(self, org, who, listen="127.0.0.1:0", extra=()):
        self.org = org
        cmd = [org.bin, "--dir", org.dir]
        if who:
            cmd += ["--as", who, "-i", org.keys[who.split("@")[0]][0]]
        cmd += ["ui", "--no-open", "--listen", listen, *extra]
        self.out_path = os.path.join(org.tmp, f"ui-{time.time_ns()}.out")
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.out, env=org.env)
        line = self.proc.stdout.readline().decode().strip()
        m = re.match(r"^http://([^/]+)/\?token=([0-9a-f]{64})$", line)
        if not m:
            self.stop()
            raise RuntimeError(f"no URL printed: {line!r} {self.output()}")
        self.url = line
        self.hostport = m.group(1)
        self.token = m.group(2)
        self.port = int(self.hostport.rsplit(":", 1)[1])
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, host=None, cookie=True,
                address="127.0.0.1"):
        h = {"Host": self.hostport if host is None else host}
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        if headers:
            h.update(headers)
        h = {k: v for k, v in h.items() if v is not None}
        c = http.client.HTTPConnection(address, self.port, timeout=30)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            h.setdefault("Content-Length", str(len(data)))
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders()
        if data is not None:
            c.send(data)
        r = c.getresponse()
        r.body = r.read()
        c.close()
        return r

    def login(self):
        r = self.request("GET", f"/?token={self.token}", cookie=False)
        sc = r.getheader("Set-Cookie") or ""
        self.cookie = sc.split(";", 1)[0]
        s = self.api("GET", "/api/session")
        self.csrf = s[1]["csrf"]
        return r

    def api(self, method, path, body=None, headers=None):
        h = {}
        if body is not None:
            h = {"Content-Type": "application/json", "Origin": f"http://{self.hostport}",
                 "X-CSRF-Token": self.csrf, "Sec-Fetch-Site": "same-origin"}
        if headers:
            h.update(headers)
        r = self.request(method, path, json.dumps(body) if body is not None else None, h)
        try:
            data = json.loads(r.body)
        except ValueError:
            data = {"error": r.body.decode(errors="replace")}
        return r.status, data, r

    def output(self):
        if not self.out.closed:
            self.out.flush()
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        rc = procs.stop(self.proc, timeout=10)
        self.out.close()
        return rc
