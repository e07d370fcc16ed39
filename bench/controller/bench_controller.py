"""Controller benchmark against the fake API server on loopback:
initial sync of APPS*PER_APP secrets across APPS namespaces, a steady-state
pass with zero writes, API writes per changed secret, time from a changed
spec file to the written Secret, and controller peak memory."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
apps = int(sys.argv[2]) if len(sys.argv) > 2 else 500
per = int(sys.argv[3]) if len(sys.argv) > 3 else 20
os.environ["ORGSECRETS_BUILD_DIR"] = build
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "controller"))
from harness import Fake, binary, wait_for  # noqa: E402
import procs  # noqa: E402  (tests/lib, on the path the harness set)

ctl_bin = binary("orgsecrets-controller")
extra_env = dict(e.split("=", 1) for e in os.environ.get("BENCH_CTL_ENV", "").split() if "=" in e)
cli = binary("orgsecrets")
gen = os.path.join(build, "bench", "controller", "orgsecrets-gen-apps")
tmp = tempfile.mkdtemp(prefix="os-bench-ctl-")
try:
    t0 = time.time()
    subprocess.run([gen, tmp, str(apps), str(per)], check=True)
    print("generated %d secrets in %d applications/namespaces in %.1f s" % (apps * per, apps, time.time() - t0))
    fake = Fake(os.path.join(tmp, "fake"))
    fake.ok("POST", "/fake/objects", {"items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-%d" % i}} for i in range(apps)]})
    org = os.path.join(tmp, "org")
    key = os.path.join(tmp, "keys", "controller.key")
    base = [ctl_bin, "--environment", "prod", "--identity", key, "--source", org, "--kubeconfig", fake.kubeconfig,
            "--qps", "5000", "--burst", "5000"]

    def once(label):
        fake.clear_requests()
        t = time.time()
        # max RSS measured by /usr/bin/time: this process's own rusage would
        # carry the python parent's RSS across fork and exec
        rss_file = os.path.join(tmp, "once.maxrss")
        p = subprocess.Popen(["/usr/bin/time", "-o", rss_file, "-f", "%M"] + base + ["--once"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = p.communicate()
        wall = time.time() - t
        maxrss_kib = int(open(rss_file).read().split()[-1])
        writes = len(fake.writes(exclude_events=True))
        reqs = len(fake.requests())
        if p.returncode != 0:
            print(err.decode()[-2000:])
            raise SystemExit("controller --once failed")
        print("%-34s %6.2f s wall  %5d API requests  %5d writes  %5.1f MiB max RSS"
              % (label, wall, reqs, writes, maxrss_kib / 1024))
        return writes, maxrss_kib

    w1, peak1 = once("initial sync (--once):")
    w2, peak2 = once("steady-state pass (--once):")
    peak_once = max(peak1, peak2)
    print("steady-state writes: %d (goal 0)" % w2)

    env = dict(os.environ, ORGSECRETS_DIR=org, ORGSECRETS_USER="admin@bench",
               ORGSECRETS_IDENTITY=os.path.join(tmp, "keys", "admin.key"))

    def running(label, args, first_change):
        """A long-running controller: settles, then 10 value changes; returns
        the latencies, writes per change and its memory."""
        log = open(os.path.join(tmp, "ctl-%s.log" % label), "w")
        prefix = os.environ.get("BENCH_CTL_PREFIX", "").split()
        extra_args = os.environ.get("BENCH_CTL_ARGS", "").split()  # e.g. --audit-log FILE
        proc = subprocess.Popen(prefix + base + ["--resync", "1h"] + args + extra_args, stdout=log, stderr=log,
                                env=dict(os.environ, **extra_env))
        settle = float(os.environ.get("BENCH_SETTLE", "3"))  # list, watch, first (no-op) pass
        if os.environ.get("BENCH_RSS_TRACE"):
            t_start = time.time()
            trace = []
            while time.time() - t_start < settle:
                try:
                    st = open("/proc/%d/status" % proc.pid).read()
                    trace.append((time.time() - t_start, int(re.search(r"VmRSS:\s+(\d+)", st).group(1)),
                                  int(re.search(r"RssAnon:\s+(\d+)", st).group(1))))
                except (OSError, AttributeError):
                    pass
                time.sleep(0.01)
            for t_, rss, an in trace[::max(1, len(trace) // 60)]:
                print("  t=%.2fs rss=%.1f MiB anon=%.1f MiB" % (t_, rss / 1024, an / 1024))
        else:
            time.sleep(settle)
        lat = []
        writes_per_change = []
        for i in range(first_change, first_change + 10):
            app = "app-%d" % (i * 7 % apps)
            name = "SETTING_%d_3" % (i * 7 % apps)
            ns = "ns-%d" % (i * 7 % apps)
            before = fake.secret(ns, app + "-secrets")["metadata"]["resourceVersion"]
            fake.clear_requests()
            subprocess.run([cli, "set", name, "--env", "prod", "--app", app], input=b"changed-%d" % i, env=env,
                           check=True, capture_output=True)
            t = time.time()
            wait_for(lambda: fake.secret(ns, app + "-secrets")["metadata"]["resourceVersion"] != before,
                     timeout=30, interval=0.002, what="write")
            lat.append(time.time() - t)
            time.sleep(0.3)
            writes_per_change.append(len(fake.writes(exclude_events=True)))
            if os.environ.get("BENCH_RSS_TRACE"):
                st = open("/proc/%d/status" % proc.pid).read()
                print("  after change %d: %s" % (i, ", ".join(
                    re.search(r"%s:\s+(\d+ kB)" % k, st).group(0) for k in ("VmHWM", "RssAnon", "RssFile"))))
        status = open("/proc/%d/status" % proc.pid).read()
        mem = [int(re.search(r"%s:\s+(\d+) kB" % k, status).group(1)) for k in ("VmHWM", "RssAnon", "RssFile")]
        if os.environ.get("BENCH_SMAPS"):
            shutil.copyfile("/proc/%d/smaps" % proc.pid, os.environ["BENCH_SMAPS"] + "." + label)
        procs.stop(proc, timeout=20)
        lat.sort()
        return lat, writes_per_change, mem

    lat, writes_per_change, (hwm, anon, rfile) = running("plain", [], 0)
    print("changed spec file -> Secret written: median %.0f ms, max %.0f ms (10 changes, polling every 2 ms; goal <= 100 ms)"
          % (lat[len(lat) // 2] * 1e3, lat[-1] * 1e3))
    print("API writes per changed secret: %s (goal 1)" % sorted(set(writes_per_change)))
    print("controller peak memory, running with %d secrets: %.1f MiB (VmHWM; goal <= 16 MiB); now %.1f MiB anonymous + %.1f MiB file-backed (shared libraries)"
          % (apps * per, hwm / 1024, anon / 1024, rfile / 1024))
    print("peak memory of the --once runs (the first one creates every Secret): %.1f MiB (max RSS)"
          % (peak_once / 1024))
    # every feature on: the pod webhook (HTTPS), the audit log, /metrics
    crt, keyf = os.path.join(tmp, "webhook.crt"), os.path.join(tmp, "webhook.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", keyf, "-out", crt, "-subj", "/CN=orgsecrets-webhook", "-days", "1"],
                   check=True, capture_output=True)
    lat, writes_per_change, (hwm, anon, rfile) = running("full", [
        "--webhook-listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", keyf, "--listen", "127.0.0.1:0",
        "--audit-log", os.path.join(tmp, "audit.log")], 10)
    print("the same with --webhook-listen, --audit-log and --listen: %.1f MiB (VmHWM; goal <= 16 MiB); now %.1f MiB anonymous + %.1f MiB file-backed;"
          " change -> write median %.0f ms, max %.0f ms; writes per change %s"
          % (hwm / 1024, anon / 1024, rfile / 1024, lat[len(lat) // 2] * 1e3, lat[-1] * 1e3,
             sorted(set(writes_per_change))))
    ldd = subprocess.run(["ldd", ctl_bin], capture_output=True, text=True).stdout
    print("libcurl: %s" % ("Debian's shared libcurl.so.4 (CURL=system)" if "libcurl.so" in ldd
                           else "the lean static build (scripts/curl.sh)"))
    floor = subprocess.run([os.path.join(build, "bench", "controller", "orgsecrets-lib-floor")],
                           capture_output=True, text=True)
    if floor.returncode == 0:
        print("floor, a program linking the same shared libraries and doing nothing: " + floor.stdout.strip())
    fake.stop()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
