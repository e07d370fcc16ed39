"""A real Kubernetes control plane on loopback for the end-to-end suite:
Debian's etcd, and kube-apiserver and kube-controller-manager built from
Debian's source by scripts/kube-e2e.sh. Token authentication, RBAC, a
service-account signing key (the token controller makes ServiceAccount
tokens), an audit log of what the controller's ServiceAccount does (metadata
only, never bodies). Ports are picked free on 127.0.0.1, files live in a
mkdtemp folder, and only the processes started here are ever stopped."""

import base64
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from procs import stop  # noqa: E402
SKIP = 77  # ctest SKIP_RETURN_CODE

CONTROLLER_SA = ("orgsecrets-system", "orgsecrets-controller")
CONTROLLER_USER = "system:serviceaccount:%s:%s" % CONTROLLER_SA


def locate_binaries():
    """The folder holding kube-apiserver and kube-controller-manager, and
    etcd's path; exits with SKIP, saying why, when they are not there."""
    d = os.environ.get("ORGSECRETS_KUBE_BIN")
    if not d:
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "kube-e2e.sh"), "--locate"],
                           capture_output=True, text=True)
        d = p.stdout.strip() if p.returncode == 0 else ""
    etcd = shutil.which("etcd")
    if not d or not etcd:
        print("skipped: no cached Kubernetes control plane (%s); run `make e2e` or "
              "scripts/kube-e2e.sh to build it" % ("etcd is not installed" if not etcd else
                                                   "scripts/kube-e2e.sh --locate found none"))
        sys.exit(SKIP)
    for b in ("kube-apiserver", "kube-controller-manager"):
        if not os.access(os.path.join(d, b), os.X_OK):
            sys.exit("%s is not in %s" % (b, d))
    return d, etcd


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # The child gets SIGKILL when this test process dies (ctest timeout, ^C).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(args, log, env=None):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=_die_with_parent)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", os.path.join(d, "ca.key"), "-out", os.path.join(d, "ca.crt"),
            "-days", "2", "-subj", "/CN=orgsecrets-e2e-ca")


def make_cert(d, name, cn):
    """A serving certificate for 127.0.0.1 and localhost, signed by d's CA."""
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"),
            "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", crt)
    return crt, key


def kubeconfig(path, server, ca_file, token):
    with open(ca_file, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\n"
                "clusters:\n- name: e2e\n  cluster:\n    server: %s\n"
                "    certificate-authority-data: %s\n"
                "users:\n- name: e2e\n  user:\n    token: %s\n"
                "contexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: e2e\n"
                "current-context: e2e\n" % (server, ca, token))
    os.chmod(path, 0o600)


AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["%s"]
  - level: None
""" % CONTROLLER_USER


class ApiError(AssertionError):
    def __init__(self, method, path, code, body):
        self.code, self.body = code, body
        msg = body.get("message") if isinstance(body, dict) else body
        super().__init__("%s %s: %d %s" % (method, path, code, msg))


def yaml_docs(text):
    """Splits a YAML stream on '---' lines and reads each document's
    apiVersion, kind, metadata.name and metadata.namespace (the rest is sent
    as YAML for the API server to parse). Empty documents are skipped."""
    out = []
    for doc in re.split(r"(?m)^---[ \t]*$", text):
        head = {}
        in_meta, meta_indent = False, None
        for line in doc.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.match(r"^([A-Za-z]+):\s*(.*?)\s*$", line)
            if m:
                in_meta = m.group(1) == "metadata"
                if m.group(1) in ("apiVersion", "kind"):
                    head[m.group(1)] = m.group(2).strip("\"'")
                continue
            m = re.match(r"^(\s+)(name|namespace):\s*(.*?)\s*$", line)
            if in_meta and m:
                indent = len(m.group(1))
                meta_indent = indent if meta_indent is None else meta_indent
                if indent == meta_indent:
                    head[m.group(2)] = m.group(3).strip("\"'")
            elif in_meta and meta_indent is None:
                meta_indent = len(line) - len(line.lstrip())
        if not head:
            continue
        if "apiVersion" not in head or "kind" not in head or "name" not in head:
            raise ValueError("YAML document without apiVersion, kind or metadata.name:\n" + doc[:300])
        out.append((head, doc))
    return out


class Api:
    """A small client of the real API server (as the admin unless a token is
    given): JSON in and out, YAML documents applied server-side."""

    def __init__(self, base, ca_file, token):
        self.base = base
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.token = token
        self._resources = {}

    def call(self, method, path, body=None, content_type="application/json", timeout=30):
        if body is None:
            data = None
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        else:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                return r.status, _body(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _body(e.read())

    def ok(self, method, path, body=None, content_type="application/json"):
        code, obj = self.call(method, path, body, content_type)
        if code >= 300:
            raise ApiError(method, path, code, obj)
        return obj

    def get(self, path):
        code, obj = self.call("GET", path)
        if code == 404:
            return None
        if code >= 300:
            raise ApiError("GET", path, code, obj)
        return obj

    def merge_patch(self, path, body):
        return self.ok("PATCH", path, body, "application/merge-patch+json")

    def resource(self, api_version, kind):
        """(URL prefix of the group version, plural, namespaced) from discovery."""
        key = (api_version, kind)
        if key not in self._resources:
            prefix = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            for r in self.ok("GET", prefix)["resources"]:
                if "/" not in r["name"]:
                    self._resources[(api_version, r["kind"])] = (prefix, r["name"], r["namespaced"])
            if key not in self._resources:
                raise KeyError("the API server does not serve %s %s" % (api_version, kind))
        return self._resources[key]

    def path(self, api_version, kind, name=None, namespace=None):
        prefix, plural, namespaced = self.resource(api_version, kind)
        p = prefix
        if namespaced:
            p += "/namespaces/" + (namespace or "default")
        p += "/" + plural
        return p + ("/" + name if name else "")

    def apply(self, text, manager="orgsecrets-e2e"):
        """Server-side apply of every document of a YAML stream; returns the
        objects. Raises ApiError on the first one refused."""
        out = []
        for head, doc in yaml_docs(text):
            p = self.path(head["apiVersion"], head["kind"], head["name"], head.get("namespace"))
            out.append(self.ok("PATCH", p + "?fieldManager=%s&force=true" % manager, doc,
                               "application/apply-patch+yaml"))
        return out

    def create(self, text):
        """Creates every document of a YAML stream (POST, as `kubectl create`);
        returns the objects. Raises ApiError on the first one refused."""
        out = []
        for head, doc in yaml_docs(text):
            p = self.path(head["apiVersion"], head["kind"], None, head.get("namespace"))
            out.append(self.ok("POST", p, doc, "application/yaml"))
        return out

    def apply_file(self, path):
        with open(path) as f:
            return self.apply(f.read())

    def namespace(self, name):
        code, obj = self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        if code not in (201, 409):
            raise ApiError("POST", "/api/v1/namespaces", code, obj)

    def secret(self, ns, name):
        return self.get("/api/v1/namespaces/%s/secrets/%s" % (ns, name))

    def managed_secrets(self):
        """{(namespace, name): {key: bytes}} of every Secret labelled as orgsecrets'."""
        sel = urllib.parse.quote("app.kubernetes.io/managed-by=orgsecrets")
        out = {}
        for s in self.ok("GET", "/api/v1/secrets?labelSelector=" + sel)["items"]:
            out[(s["metadata"]["namespace"], s["metadata"]["name"])] = {
                k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
        return out

    def events(self):
        return self.ok("GET", "/api/v1/events")["items"]

    def wait_crds_established(self, names, timeout=60):
        def established():
            for n in names:
                crd = self.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + n)
                conds = ((crd or {}).get("status") or {}).get("conditions") or []
                if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                    return False
            return True
        wait_for(established, timeout, what="CRDs established")
        self._resources.clear()


def _body(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def wait_for(pred, timeout=30, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = pred()
        except (OSError, ApiError) as e:  # the API server restarting, say
            v, last = None, e
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s%s" % (
        timeout, what, " (last error: %s)" % last if last else ""))


_live = []  # control planes to stop should this process be told to end


def _on_sigterm(signum, frame):
    for cp in list(_live):
        cp.close()
    os._exit(128 + signum)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in a temporary folder."""

    CONTROLLERS = "serviceaccount,serviceaccount-token,namespace,garbagecollector,deployment,replicaset"

    def __init__(self, name="e2e"):
        self.bindir, self.etcd_bin = locate_binaries()
        self.dir = tempfile.mkdtemp(prefix="os-%s-" % name)
        self.procs = {}
        self.logs = {}
        _live.append(self)
        signal.signal(signal.SIGTERM, _on_sigterm)
        d = self.dir
        make_ca(d)
        self.ca = os.path.join(d, "ca.crt")
        self.apiserver_cert = make_cert(d, "apiserver", "kube-apiserver")
        openssl("genrsa", "-out", os.path.join(d, "sa.key"), "2048")
        openssl("rsa", "-in", os.path.join(d, "sa.key"), "-pubout", "-out", os.path.join(d, "sa.pub"))
        self.admin_token = secrets.token_hex(24)
        with open(os.path.join(d, "tokens.csv"), "w") as f:
            f.write('%s,e2e-admin,e2e-admin,"system:masters"\n' % self.admin_token)
        with open(os.path.join(d, "audit-policy.yaml"), "w") as f:
            f.write(AUDIT_POLICY)
        self.audit_log = os.path.join(d, "audit.log")
        # etcd's fsyncs cost nothing on tmpfs.
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else d
        self.etcd_dir = tempfile.mkdtemp(prefix="os-e2e-etcd-", dir=shm)
        try:
            self._start_etcd()
            self.port = free_port()
            self.base = "https://127.0.0.1:%d" % self.port
            self.start_apiserver()
            self.admin = Api(self.base, self.ca, self.admin_token)
            self.admin_kubeconfig = os.path.join(d, "admin.kubeconfig")
            kubeconfig(self.admin_kubeconfig, self.base, self.ca, self.admin_token)
            self._start_controller_manager()
            wait_for(lambda: self.sa_token("default", "default"), 60, 0.2,
                     "the token controller to make default/default's token")
        except BaseException:
            self.close()
            raise

    def _log(self, name):
        if name not in self.logs:
            self.logs[name] = open(os.path.join(self.dir, name + ".log"), "ab")
        return self.logs[name]

    def _start_etcd(self):
        for _ in range(3):
            self.etcd_port, peer = free_port(), free_port()
            self.etcd_url = "http://127.0.0.1:%d" % self.etcd_port
            peer_url = "http://127.0.0.1:%d" % peer
            self.procs["etcd"] = spawn(
                [self.etcd_bin, "--name", "e2e", "--data-dir", self.etcd_dir,
                 "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", "e2e=" + peer_url, "--log-level", "warn"],
                self._log("etcd"))
            try:
                wait_for(lambda: self.procs["etcd"].poll() is not None or self._etcd_healthy(),
                         30, 0.1, "etcd")
            except AssertionError:
                pass
            if self.procs["etcd"].poll() is None and self._etcd_healthy():
                return
            stop(self.procs["etcd"])  # a port taken meanwhile: try others
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
            os.makedirs(self.etcd_dir)
        raise RuntimeError("etcd did not start (see %s/etcd.log)" % self.dir)

    def _etcd_healthy(self):
        try:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def etcd_delete(self, key):
        """Deletes one key in etcd directly (its v3 JSON gateway), behind the
        API server's back; returns how many keys went."""
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        req = urllib.request.Request(self.etcd_url + "/v3/kv/deleterange", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(json.loads(r.read()).get("deleted", 0))

    def apiserver_args(self):
        d = self.dir
        crt, key = self.apiserver_cert
        return [os.path.join(self.bindir, "kube-apiserver"),
                "--etcd-servers", self.etcd_url,
                "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                "--secure-port", str(self.port), "--insecure-port", "0",
                "--cert-dir", os.path.join(d, "apiserver-certs"),
                "--tls-cert-file", crt, "--tls-private-key-file", key,
                "--client-ca-file", self.ca,
                "--token-auth-file", os.path.join(d, "tokens.csv"),
                "--authorization-mode", "RBAC",
                "--service-account-key-file", os.path.join(d, "sa.pub"),
                "--service-account-signing-key-file", os.path.join(d, "sa.key"),
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--api-audiences", "https://kubernetes.default.svc",
                "--service-cluster-ip-range", "10.0.0.0/24",
                "--allow-privileged=false", "--profiling=false",
                "--enable-admission-plugins", "NamespaceLifecycle,ServiceAccount,"
                "MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                "--audit-policy-file", os.path.join(d, "audit-policy.yaml"),
                "--audit-log-path", self.audit_log, "--audit-log-format", "json",
                "--audit-log-mode", "blocking",
                "--logtostderr", "--v", "1"]

    def start_apiserver(self, timeout=90):
        self.procs["apiserver"] = spawn(self.apiserver_args(), self._log("apiserver"))
        probe = Api(self.base, self.ca, self.admin_token)

        def ready():
            if self.procs["apiserver"].poll() is not None:
                raise RuntimeError("kube-apiserver exited (see %s/apiserver.log)" % self.dir)
            code, _ = probe.call("GET", "/readyz", timeout=5)
            return code == 200
        wait_for(ready, timeout, 0.2, "kube-apiserver /readyz")

    def stop_apiserver(self):
        stop(self.procs.get("apiserver"))

    def _start_controller_manager(self):
        self.procs["kcm"] = spawn(
            [os.path.join(self.bindir, "kube-controller-manager"),
             "--kubeconfig", self.admin_kubeconfig,
             "--port", "0", "--secure-port", "0", "--leader-elect=false",
             "--controllers", self.CONTROLLERS,
             "--service-account-private-key-file", os.path.join(self.dir, "sa.key"),
             "--root-ca-file", self.ca, "--use-service-account-credentials=false",
             "--concurrent-deployment-syncs", "2", "--concurrent-replicaset-syncs", "2",
             "--logtostderr", "--v", "1"],
            self._log("kcm"))

    def sa_token(self, ns, name):
        """The token the token controller made for ServiceAccount ns/name, or None."""
        sa = self.admin.get("/api/v1/namespaces/%s/serviceaccounts/%s" % (ns, name))
        for ref in (sa or {}).get("secrets") or []:
            s = self.admin.secret(ns, ref["name"])
            if s and s.get("type") == "kubernetes.io/service-account-token" and (s.get("data") or {}).get("token"):
                return base64.b64decode(s["data"]["token"]).decode()
        return None

    def install(self):
        """The shipped manifests the controller needs to run outside the
        cluster: namespace, CRDs, ServiceAccount and RBAC. Returns a
        kubeconfig with the ServiceAccount's token (not an admin's)."""
        m = os.path.join(ROOT, "manifests")
        self.admin.apply_file(os.path.join(m, "namespace.yaml"))
        crds = []
        for f in sorted(os.listdir(os.path.join(m, "crds"))):
            if f.endswith(".yaml"):
                crds += [o["metadata"]["name"] for o in self.admin.apply_file(os.path.join(m, "crds", f))]
        self.admin.wait_crds_established(crds)
        self.admin.apply_file(os.path.join(m, "serviceaccount.yaml"))
        self.admin.apply_file(os.path.join(m, "rbac.yaml"))
        token = wait_for(lambda: self.sa_token(*CONTROLLER_SA), 60, 0.2,
                         "the controller's ServiceAccount token")
        path = os.path.join(self.dir, "controller.kubeconfig")
        kubeconfig(path, self.base, self.ca, token)
        self.controller_api = Api(self.base, self.ca, token)
        return path

    def audit(self, since=0.0):
        """The controller's requests (ResponseComplete audit events) after
        time.time() value since: [(verb, resource, namespace, name, code)]."""
        out = []
        if not os.path.exists(self.audit_log):
            return out
        with open(self.audit_log) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("stage") != "ResponseComplete":
                    continue
                if (ev.get("user") or {}).get("username") != CONTROLLER_USER:
                    continue
                t = ev.get("requestReceivedTimestamp", "")
                if since and parse_time(t) < since:
                    continue
                ref = ev.get("objectRef") or {}
                r = ref.get("resource", "")
                if ref.get("subresource"):
                    r += "/" + ref["subresource"]
                out.append((ev.get("verb"), r, ref.get("namespace"), ref.get("name"),
                            (ev.get("responseStatus") or {}).get("code")))
        return out

    def log_texts(self):
        """Everything the control plane wrote: logs and the audit log."""
        out = []
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".log"):
                with open(os.path.join(self.dir, f), "rb") as fh:
                    out.append(fh.read())
        return out

    def close(self):
        if self in _live:
            _live.remove(self)
        for name in ("kcm", "apiserver", "etcd"):
            stop(self.procs.get(name))
        for f in self.logs.values():
            f.close()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
        if os.environ.get("ORGSECRETS_E2E_KEEP"):
            print("e2e: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def parse_time(s):
    """Seconds since the epoch of an RFC 3339 time with optional fraction."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", s or "")
    if not m:
        return 0.0
    import calendar
    t = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return t + (float(m.group(7)) if m.group(7) else 0.0)
