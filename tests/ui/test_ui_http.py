"""The page's security model, proved with real HTTP requests against the
real `orgsecrets ui`: loopback only, the one-time token and the session
cookie, the Host check, Origin/Sec-Fetch-Site/CSRF on state-changing
requests, the headers of every answer, values only in POST answers, no value
in the server's output, the idle timeout and SIGTERM.
usage: test_ui_http.py ORGSECRETS_BINARY"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uilib import Org, Server, check, finish  # noqa: E402

org = Org(sys.argv[1]).setup()
value = org.new_value("db")
org.set("DB_PASSWORD", "prod", value, extra=["--description", "main database"])
org.commit_all()

# ---- non-loopback addresses are refused before anything is bound ----
for bad in ["0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "10.0.0.1:8080", "example.com:0",
            "127.0.0.1", "127.0.0.1:99999"]:
    p = subprocess.run([org.bin, "--dir", org.dir, "--as", "alice@acme", "ui", "--no-open",
                        "--listen", bad], capture_output=True, text=True, env=org.env, timeout=20)
    check(f"--listen {bad} refused (exit {p.returncode})", p.returncode != 0)
    check(f"--listen {bad}: one clear line ({p.stderr.strip()!r})",
          ("loopback" in p.stderr or "bad port" in p.stderr) and p.stdout == "")

# ---- the token ----
srv = Server(org, "alice@acme")
r = srv.request("GET", "/", cookie=False)
check("no token, no cookie: 403", r.status == 403)
check("refusal says what to do", b"open the link" in r.body)
r = srv.request("GET", "/?token=" + "0" * 64, cookie=False)
check("wrong token: 403", r.status == 403)
r = srv.request("GET", "/?token=" + srv.token[:-1], cookie=False)
check("truncated token: 403", r.status == 403)
r = srv.request("GET", "/api/secrets?token=" + srv.token, cookie=False)
check("the token is exchanged only on the page itself, not on the API", r.status == 403)
r = srv.request("GET", f"/?token={srv.token}", cookie=False, host="evil.example:%d" % srv.port)
check("the token on a foreign Host is refused", r.status == 403)
r = srv.login()
check("right token: 303", r.status == 303)
check("redirect drops the token from the address bar", r.getheader("Location") == "/")
sc = r.getheader("Set-Cookie") or ""
check(f"cookie HttpOnly ({sc.split('=')[0]})", "HttpOnly" in sc)
check("cookie SameSite=Strict", "SameSite=Strict" in sc)
check("cookie Path=/", "Path=/" in sc)
check("cookie named after the port", sc.startswith(f"orgsecrets_ui_{srv.port}="))
check("cookie is not the token", srv.token not in sc)
r = srv.request("GET", f"/?token={srv.token}", cookie=False)
check("the token works once", r.status == 403)
r = srv.request("GET", f"/?token={srv.token}")
check("with the cookie, a stale token link redirects to /", r.status == 303)

# ---- the session cookie ----
r = srv.request("GET", "/")
check("page with cookie: 200", r.status == 200 and b"<title>" in r.body)
check("page is HTML", (r.getheader("Content-Type") or "").startswith("text/html"))
for path, ctype in [("/app.js", "text/javascript"), ("/style.css", "text/css")]:
    a = srv.request("GET", path)
    check(f"{path}: 200 {ctype}", a.status == 200 and (a.getheader("Content-Type") or "").startswith(ctype))
    a = srv.request("GET", path, cookie=False)
    check(f"{path} without the cookie: 403", a.status == 403)
r = srv.request("GET", "/api/secrets", headers={"Cookie": srv.cookie[:-2] + "00"}, cookie=False)
check("wrong cookie: 403", r.status == 403)
r = srv.request("GET", "/api/secrets", headers={"Cookie": "other=1; " + srv.cookie + "; x=2"},
                cookie=False)
check("cookie among others: 200", r.status == 200)

# ---- Host (DNS rebinding) ----
for host, ok in [(f"127.0.0.1:{srv.port}", True), (f"localhost:{srv.port}", True),
                 (f"[::1]:{srv.port}", True), (f"LOCALHOST:{srv.port}", True),
                 (f"evil.example:{srv.port}", False), ("127.0.0.1", False),
                 (f"127.0.0.1:{srv.port + 1}", False), (f"attacker.test", False), ("", False)]:
    r = srv.request("GET", "/api/secrets", host=host)
    check(f"Host {host!r}: {'200' if ok else '403'} (got {r.status})", (r.status == 200) == ok)
r = srv.request("GET", "/api/secrets", headers={"Host": None})
check("no Host header: refused", r.status in (400, 403))

# ---- headers of every answer ----
def headers_ok(r, what):
    csp = r.getheader("Content-Security-Policy") or ""
    check(f"{what}: CSP default-src 'self'", "default-src 'self'" in csp)
    check(f"{what}: CSP frame-ancestors 'none'", "frame-ancestors 'none'" in csp)
    check(f"{what}: no inline script or eval allowed", "unsafe-inline" not in csp and "unsafe-eval" not in csp)
    check(f"{what}: nosniff", r.getheader("X-Content-Type-Options") == "nosniff")
    check(f"{what}: no-referrer", r.getheader("Referrer-Policy") == "no-referrer")
    check(f"{what}: X-Frame-Options DENY", r.getheader("X-Frame-Options") == "DENY")
    check(f"{what}: Cache-Control no-store", r.getheader("Cache-Control") == "no-store")

headers_ok(srv.request("GET", "/"), "page")
headers_ok(srv.request("GET", "/app.js"), "script")
headers_ok(srv.request("GET", "/api/secrets"), "list")
headers_ok(srv.request("GET", "/api/secrets", cookie=False), "a refusal")
headers_ok(srv.request("GET", "/api/secrets", host="evil.example"), "a Host refusal")

# ---- state-changing requests: Origin, Sec-Fetch-Site, content type, CSRF ----
body = {"environment": "prod", "name": "DB_PASSWORD"}
good = {"Content-Type": "application/json", "Origin": f"http://{srv.hostport}",
        "X-CSRF-Token": srv.csrf, "Sec-Fetch-Site": "same-origin"}


def post(path, drop=None, **over):
    h = dict(good)
    h.update(over)
    if drop:
        h.pop(drop)
    return srv.request("POST", path, json.dumps(body), {k.replace("_", "-"): v for k, v in h.items()})


for what, r in [
        ("missing CSRF token", post("/api/reveal", drop="X-CSRF-Token")),
        ("wrong CSRF token", post("/api/reveal", X_CSRF_Token="f" * 64)),
        ("CSRF token of another length", post("/api/reveal", X_CSRF_Token=srv.csrf + "0")),
        ("cross-origin POST", post("/api/reveal", Origin="http://evil.example")),
        ("Origin of another port", post("/api/reveal", Origin=f"http://127.0.0.1:{srv.port + 1}")),
        ("Origin null", post("/api/reveal", Origin="null")),
        ("https Origin", post("/api/reveal", Origin=f"https://{srv.hostport}")),
        ("missing Origin", post("/api/reveal", drop="Origin")),
        ("Sec-Fetch-Site cross-site", post("/api/reveal", Sec_Fetch_Site="cross-site")),
        ("Sec-Fetch-Site same-site", post("/api/reveal", Sec_Fetch_Site="same-site")),
        ("form content type (simple request)", post("/api/reveal", Content_Type="application/x-www-form-urlencoded")),
        ("text/plain content type", post("/api/reveal", Content_Type="text/plain")),
]:
    check(f"{what}: refused (got {r.status})", r.status in (403, 415))
    check(f"{what}: no value in the answer", value.encode() not in r.body)
r = srv.request("POST", "/api/reveal", json.dumps(body), dict(good), cookie=False)
check(f"POST without the cookie: 403 (got {r.status})", r.status == 403)
r = post("/api/reveal", Sec_Fetch_Site=None)
check(f"right headers (no Sec-Fetch-Site, as older clients): accepted (got {r.status})",
      r.status not in (403, 415))
r = srv.request("GET", "/api/secrets", headers={"Sec-Fetch-Site": "cross-site"})
check("a cross-site read of the API: 403", r.status == 403)
r = srv.request("POST", "/api/secrets", "{}", dict(good))
check("GET-only API refuses POST", r.status == 405)
r = srv.request("GET", "/api/reveal")
check("reveal is POST only", r.status == 405 and value.encode() not in r.body)

# ---- values only in answers to explicit POSTs ----
for path in ["/", "/app.js", "/api/session", "/api/secrets", "/api/members", "/api/org"]:
    r = srv.request("GET", path)
    check(f"GET {path}: no value", value.encode() not in r.body)
    check(f"GET {path}: no-store", r.getheader("Cache-Control") == "no-store")
st, rows, _ = srv.api("GET", "/api/secrets")
check("the list names the secret", any(x["name"] == "DB_PASSWORD" for x in rows["secrets"]))
check("the list carries no value field", all("value" not in x for x in rows["secrets"]))
st, rev, r = srv.api("POST", "/api/reveal", {"environment": "prod", "name": "DB_PASSWORD"})
if st == 200:
    check("reveal answers the value", rev.get("value") == value)
    check("reveal answer: no-store", r.getheader("Cache-Control") == "no-store")

# ---- the server's output never holds a value or the session secrets ----
srv.stop()
out = srv.output()
check("server output holds no value", value not in out)
check("server output holds no session cookie", srv.cookie.split("=", 1)[1] not in out)
check("server output holds no CSRF token", srv.csrf not in out)
check("SIGTERM: stopped cleanly", srv.proc.returncode == 0 and "stopped" in out)

# ---- IPv6 loopback ----
has_v6 = True
try:
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    s6.close()
except OSError:
    has_v6 = False
if has_v6:
    srv6 = Server(org, "alice@acme", listen="[::1]:0")
    check("[::1] listener: URL names [::1]", srv6.hostport.startswith("[::1]:"))
    r = srv6.request("GET", f"/?token={srv6.token}", cookie=False, address="::1")
    check("[::1] listener: token exchange works", r.status == 303)
    srv6.stop()
else:
    print("note: no IPv6 loopback here; [::1] listener not tried")

# ---- idle timeout ----
t0 = time.monotonic()
idle = Server(org, "alice@acme", extra=["--idle-timeout", "2s"])
try:
    idle.proc.wait(15)
except subprocess.TimeoutExpired:
    pass
took = time.monotonic() - t0
check(f"idle timeout: exited by itself ({took:.1f} s)", idle.proc.returncode == 0 and took < 10)
check("idle timeout: says why", "idle timeout" in idle.output())
idle.stop()

# ---- activity keeps it alive ----
busy = Server(org, "alice@acme", extra=["--idle-timeout", "3s"])
busy.login()
for _ in range(5):
    time.sleep(1)
    busy.request("GET", "/api/session")
check("requests keep the page alive past the idle timeout", busy.proc.poll() is None)
busy.proc.send_signal(signal.SIGINT)
busy.proc.wait(10)
check("SIGINT (Ctrl-C): stopped cleanly", busy.proc.returncode == 0)
busy.stop()

check("bad --idle-timeout refused", org.run(["ui", "--no-open", "--idle-timeout", "soon"],
                                            who="alice@acme", check_rc=False).returncode == 2)
for text in org.log:
    check("CLI output holds no value", value not in text)
finish(org.tmp)
