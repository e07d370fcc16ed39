"""Times the page's list API (GET /api/secrets) over a generated folder of N
secrets: the first answer (folder loaded, rows built) and the median of the
next ones (the folder's stamp checked, the cached body sent).
usage: bench_list.py ORGSECRETS GEN_TREE [N=10000] [RUNS=20]"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uilib import Org, Server  # noqa: E402

binary, gen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 20
tmp = tempfile.mkdtemp(prefix="orgsecrets-ui-bench.")
subprocess.run([gen, os.path.join(tmp, "big"), str(n)], check=True, capture_output=True)
org = Org(binary, tmp)
org.dir = os.path.join(tmp, "big", "org")
org.keys["admin"] = (os.path.join(tmp, "big", "keys", "admin.key"), "")
srv = Server(org, "admin@bench")
try:
    srv.login()
    t0 = time.monotonic()
    r = srv.request("GET", "/api/secrets")
    first = time.monotonic() - t0
    assert r.status == 200, r.status
    size = len(r.body)
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = srv.request("GET", "/api/secrets")
        times.append(time.monotonic() - t0)
        assert r.status == 200
    print(f"list API, {n} secrets, {size / 1e6:.1f} MB: first {first * 1000:.0f} ms; "
          f"then median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {runs}")
finally:
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)
