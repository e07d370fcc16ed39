"""Posts hostile bodies to a running webhook (--webhook-listen) and reports
the controller's peak memory (VmHWM) for each kind, then checks that a large
real pod is still admitted and rewritten.

usage: hostile.py URL CAFILE PID [PARALLEL=8] [SIZE_MIB=2]

Exit status 1 when the large pod is not admitted correctly."""

import base64
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bodies  # noqa: E402


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (field, pid))


def post(url, cafile, body, timeout=30):
    """Posts body; returns (status, response bytes, headers), or (None, reason,
    {}) when the server closed the connection before answering (it may stop
    reading an oversized body)."""
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=timeout)
    try:
        try:
            conn.request("POST", u.path, body=body, headers={"Content-Type": "application/json"})
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the answer may already be there
        try:
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        except (http.client.HTTPException, OSError) as e:
            return None, repr(e), {}
    finally:
        conn.close()


def post_parallel(url, cafile, body, n):
    out = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        out[i] = post(url, cafile, body)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def summary(results):
    codes = {}
    for st, _, _ in results:
        k = str(st) if st is not None else "closed"
        codes[k] = codes.get(k, 0) + 1
    return ", ".join("%s x%d" % (k, v) for k, v in sorted(codes.items()))


def check_large_pod(url, cafile, refs=("DATABASE_PASSWORD", "API_KEY")):
    """Posts the large real pod (retrying a 429 as the API server does);
    returns (ok, message)."""
    review = bodies.large_pod_review(refs=refs)
    body = bodies.encode(review)
    for _ in range(20):
        st, data, hdr = post(url, cafile, body)
        if st != 429:
            break
        time.sleep(float(hdr.get("Retry-After", "1")))
    if st != 200:
        return False, "large pod: HTTP %s %r" % (st, data[:200])
    resp = json.loads(data)["response"]
    if not resp.get("allowed") or "patch" not in resp:
        return False, "large pod not admitted with a patch: %r" % resp.get("status")
    ops = json.loads(base64.b64decode(resp["patch"]))
    pod = review["request"]["object"]
    want = sum(1 for k in ("containers", "initContainers") for c in pod["spec"][k]
               if any("$" in e.get("value", "") for e in c.get("env", [])))
    env_ops = [o for o in ops if o["path"].endswith("/env")]
    ann = [o for o in ops if o["path"].startswith("/metadata/annotations")]
    if len(env_ops) != want or not ann:
        return False, "large pod: %d env rewrites (want %d), %d annotation ops" % (len(env_ops), want, len(ann))
    text = json.dumps(ops)
    for r in refs:
        if "$(ORGSECRETS_%s)" % r not in text or '"key": "%s"' % r not in text:
            return False, "large pod: reference %s not rewritten" % r
    return True, "large pod (%d KiB) admitted: %d JSON Patch operations" % (len(body) // 1024, len(ops))


def hold_connections(url, cafile, n):
    """Opens n TLS connections and keeps them idle; returns (sockets, how
    many completed the handshake). Beyond the server's connection limit a
    handshake waits for a free slot: give up after 0.25 s."""
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile)
    socks, ok = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((u.hostname, u.port), timeout=0.25)
            socks.append(s)
            socks[-1] = ctx.wrap_socket(s, server_hostname=u.hostname)
            ok += 1
        except OSError:
            pass
    return socks, ok


def run(url, cafile, pid, parallel=8, size=2 * bodies.MIB, report=print):
    """Sends the large real pod (once, then PARALLEL at once), every hostile
    kind PARALLEL times at once, the costliest valid reviews, and holds many
    idle connections; then the large pod again. Returns ({phase: (VmHWM KiB
    after it, summary)}, large pod admitted both times). Freed memory need
    not go back to the system, so each figure is the peak so far."""
    figures = {}

    def note(phase, text):
        figures[phase] = (status_kib(pid, "VmHWM"), text)
        report("%-30s peak so far %6.1f MiB  %s" % (phase, figures[phase][0] / 1024, text))

    note("start", "(RSS %.1f MiB)" % (status_kib(pid, "VmRSS") / 1024))
    ok1, msg = check_large_pod(url, cafile)
    note("large pod", msg)
    large = bodies.encode(bodies.large_pod_review())
    note("large pod x%d" % parallel, summary(post_parallel(url, cafile, large, parallel)))
    for name, body in bodies.hostile_bodies(size).items():
        res = post_parallel(url, cafile, body, parallel)
        note("%s %.1f MiB x%d" % (name, len(body) / bodies.MIB, parallel), summary(res))
    # valid reviews that cost the most: the largest pod the parse limit
    # lets through, and the largest patch (1,024 references beside 2 MiB of
    # values)
    biggest = bodies.encode(bodies.large_pod_review(scale=2.0))
    note("2.0x large pod x%d" % parallel, summary(post_parallel(url, cafile, biggest, parallel)))
    patch = bodies.encode(bodies.refs_review(1024, filler=size - 64 * 1024))
    note("largest patch x%d" % parallel, summary(post_parallel(url, cafile, patch, parallel)))
    socks, n = hold_connections(url, cafile, 160)
    note("160 idle connections", "%d completed the TLS handshake" % n)
    for s in socks:
        s.close()
    ok2, msg = check_large_pod(url, cafile)
    note("large pod again", msg)
    return figures, ok1 and ok2


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    url, cafile, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parallel = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    size = int(float(sys.argv[5]) * bodies.MIB) if len(sys.argv) > 5 else 2 * bodies.MIB
    _, ok = run(url, cafile, pid, parallel, size)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
