"""The page's JSON API against the CLI: the same operation through the API
on one copy of a folder and through the CLI on another, with ORGSECRETS_NOW
fixed, leaves the same files (byte for byte; the age ciphertext, random by
design, is compared by opening both). Also the roles through the API, the
history of a secret and the commit of exactly the changed files.
usage: test_ui_api.py ORGSECRETS_BINARY"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uilib import Org, Server, check, finish  # noqa: E402

org = Org(sys.argv[1]).setup()
carol = org.keygen("carol")
dave = org.keygen("dave")
v_db = org.new_value("db")
org.set("ORDERS_DB_URL", "prod", v_db, extra=["--description", "orders"])
org.set("STATUS_TOKEN", "prod", org.new_value("st"), extra=["--visible-to-viewers"])
org.commit_all()
twin = Org(sys.argv[1], org.tmp)
twin.dir = os.path.join(org.tmp, "twin")
twin.keys = org.keys
shutil.copytree(org.dir, twin.dir, symlinks=True)

SEALED = re.compile(rb"encryptedValue: \|\n(?: {4}.*\n)+")


def same(what, reveal=None):
    a, b = org.snapshot(), twin.snapshot()
    diff = sorted(k for k in set(a) | set(b)
                  if SEALED.sub(b"<sealed>", a.get(k, b"-")) != SEALED.sub(b"<sealed>", b.get(k, b"-")))
    check(f"{what}: same files as the CLI {diff}", not diff)
    if reveal:
        args = ["reveal", reveal[0], "--env", reveal[1]] + (["--app", reveal[2]] if len(reveal) > 2 else [])
        x = org.run(args, who="alice@acme", check_rc=False)
        y = twin.run(args, who="alice@acme", check_rc=False)
        check(f"{what}: both open to the same value", x.returncode == 0 and x.stdout == y.stdout)


admin = Server(org, "alice@acme")
admin.login()

# ---- the same operation, through the API and through the CLI ----
v = org.new_value("bill")
st, r, _ = admin.api("POST", "/api/secrets/create", {
    "name": "INVOICE_KEY", "environment": "prod", "application": "billing", "value": v,
    "description": "invoices", "visibleToViewers": True})
check(f"create an application's secret ({st} {r.get('error')})", st == 200 and r["created"])
check("create names the file it changed", r["changed"] == ["secrets/prod/INVOICE_KEY.yaml"]
      or all(f.startswith("secrets/prod/") for f in r["changed"]))
twin.set("INVOICE_KEY", "prod", v, extra=["--app", "billing", "--description", "invoices",
                                          "--visible-to-viewers"])
same("create --app --visible-to-viewers", ("INVOICE_KEY", "prod", "billing"))

st, r, _ = admin.api("POST", "/api/secrets/update", {
    "name": "INVOICE_KEY", "environment": "prod", "application": "billing",
    "visibleToViewers": False})
check(f"update visibility ({st})", st == 200 and not r["unchanged"])
twin.run(["set", "INVOICE_KEY", "--env", "prod", "--app", "billing", "--keep-value",
          "--hidden-from-viewers"], who="alice@acme")
same("hide from viewers", ("INVOICE_KEY", "prod", "billing"))

st, r, _ = admin.api("POST", "/api/secrets/update", {
    "name": "INVOICE_KEY", "environment": "prod", "application": "billing", "value": v})
check(f"the same value again changes nothing ({st})", st == 200 and r["unchanged"] and r["changed"] == [])
same("same value again")

st, r, _ = admin.api("POST", "/api/envs/add", {"name": "staging", "controllers": [org.keys["ctl"][1]],
                                                 "namespaces": ["web", "jobs"]})
check(f"env add ({st} {r.get('error')})", st == 200)
twin.run(["env", "add", "staging", "--controller", org.keys["ctl"][1], "--namespace", "web",
          "--namespace", "jobs"], who="alice@acme")
same("env add")
st, r, _ = admin.api("POST", "/api/apps/add", {"name": "reports", "namespaces": ["reports"]})
check(f"app add ({st})", st == 200)
twin.run(["app", "add", "reports", "--namespace", "reports"], who="alice@acme")
same("app add")
st, r, _ = admin.api("POST", "/api/envs/add", {"name": "Bad Env", "controllers": [org.keys["ctl"][1]]})
check(f"an invalid environment is refused with the CLI's reason ({st}: {r.get('error')})",
      st == 400 and "DNS-1123" in r.get("error", ""))

st, r, _ = admin.api("POST", "/api/members/add", {"name": "carol@acme", "role": "member",
                                                    "recipient": carol})
check(f"member add ({st}) says what must be re-sealed", st == 200 and r["staleSecrets"] > 0)
twin.run(["member", "add", "carol@acme", "--role", "member", "--recipient", carol], who="alice@acme")
same("member add")
st, r, _ = admin.api("POST", "/api/members/remove", {"name": "victor@acme"})
check(f"member remove ({st})", st == 200)
twin.run(["member", "remove", "victor@acme"], who="alice@acme")
same("member remove")

# rekey: the plan first (who gains, whose values to rotate), then the change
st, plan, _ = admin.api("POST", "/api/rekey", {"dryRun": True})
check(f"rekey plan ({st}): lists the secrets and the new reader",
      st == 200 and plan["stale"] >= 3 and any("carol@acme" in g for g in plan["grant"]))
check("rekey plan: whose values to rotate (victor could read the visible ones)",
      any("victor" in x for x in plan["rotate"]))
check("a dry run writes nothing", plan["changed"] == [])
st, r, _ = admin.api("POST", "/api/rekey", {})
check(f"rekey that grants access needs the confirmation ({st})", st == 400 and "confirm" in r["error"])
st, r, _ = admin.api("POST", "/api/rekey", {"confirm": True})
check(f"rekey ({st}): re-sealed {r.get('resealed')}", st == 200 and r["resealed"] == plan["stale"])
twin.run(["rekey", "--yes"], who="alice@acme")
same("rekey", ("ORDERS_DB_URL", "prod"))
out = org.run(["reveal", "ORDERS_DB_URL", "--env", "prod", "-i", org.keys["carol"][0],
               "--as", "carol@acme"], check_rc=False)
check("after rekey the new member can open the value", out.returncode == 0 and out.stdout == v_db)

st, r, _ = admin.api("POST", "/api/members/role", {"name": "bob@acme", "role": "viewer"})
check(f"change a role ({st})", st == 200)
check("the role is in organization.yaml", b"name: bob@acme\n    role: viewer" in
      org.snapshot()["organization.yaml"] or b"role: viewer" in org.snapshot()["organization.yaml"])
st, r, _ = admin.api("POST", "/api/members/role", {"name": "alice@acme", "role": "member"})
check(f"the last admin cannot be demoted ({st}: {r.get('error')})", st == 400 and "last admin" in r["error"])
st, r, _ = admin.api("POST", "/api/members/role", {"name": "bob@acme", "role": "member"})

st, r, _ = admin.api("POST", "/api/secrets/delete", {"name": "INVOICE_KEY", "environment": "prod",
                                                       "application": "billing"})
check(f"delete without the typed name is refused ({st})", st == 400)
st, r, _ = admin.api("POST", "/api/secrets/delete", {"name": "INVOICE_KEY", "environment": "prod",
                                                       "application": "billing", "confirm": "INVOICE_KEY"})
check(f"delete ({st})", st == 200)
twin.run(["delete", "INVOICE_KEY", "--env", "prod", "--app", "billing", "--yes"], who="alice@acme")
same("delete")

# ---- values: binary-safe reveal, generate, empty refused ----
binval = b"\x00\xffbin-" + os.urandom(6).hex().encode()
p = subprocess.run([org.bin, "--dir", org.dir, "--as", "alice@acme", "-i", org.keys["alice"][0],
                    "set", "BLOB_KEY", "--env", "dev"], input=binval, capture_output=True, env=org.env)
check("a binary value set through the CLI", p.returncode == 0)
st, r, _ = admin.api("POST", "/api/reveal", {"name": "BLOB_KEY", "environment": "dev"})
import base64  # noqa: E402
check(f"a binary value comes back as base64 ({st})",
      st == 200 and r["encoding"] == "base64" and base64.b64decode(r["value"]) == binval)
st, r, _ = admin.api("POST", "/api/generate", {"length": 48})
check("generate draws 48 characters of the CLI's alphabet",
      st == 200 and re.fullmatch(r"[A-Za-z0-9_-]{48}", r["value"]) is not None)
st, r, _ = admin.api("POST", "/api/generate", {"length": 0})
check("generate refuses length 0", st == 400)
st, r, _ = admin.api("POST", "/api/secrets/create", {"name": "EMPTY_ONE", "environment": "dev", "value": ""})
check(f"an empty value is refused ({r.get('error')})", st == 400 and "empty" in r["error"])
st, r, _ = admin.api("GET", "/api/name-check?name=PATH&environment=dev")
check(f"a name that breaks a process environment is refused ({r.get('error')})", r["error"] is not None)
st, r, _ = admin.api("GET", "/api/name-check?name=API_KEY_DEV&environment=prod")
check(f"the environment suffix warning ({r.get('warnings')})",
      r["error"] is None and any("suffix" in w for w in r["warnings"]))
st, r, _ = admin.api("GET", "/api/name-check?name=ORDERS_DB_URL&environment=prod")
check(f"an existing name is refused as create would ({r.get('error')})", "already exists" in (r["error"] or ""))

# ---- history from Git, changes and commit ----
org.commit_all("rekey and more")
st, r, _ = admin.api("GET", "/api/history?name=ORDERS_DB_URL&environment=prod")
kinds = [c for e in r["entries"] for c in e["changes"]]
check(f"history: created then re-sealed ({kinds})", st == 200 and r["git"] and "created" in kinds
      and "resealed" in kinds)
check("history carries no value", v_db not in str(r))
st, r, _ = admin.api("POST", "/api/secrets/update", {"name": "ORDERS_DB_URL", "environment": "prod",
                                                       "description": "orders (primary)"})
with open(os.path.join(org.dir, "README.md"), "w") as f:
    f.write("not the page's\n")
st, ch, _ = admin.api("GET", "/api/changes")
check(f"changes: the page's file only ({ch['files']}, {ch['other']} other)",
      [x["path"] for x in ch["files"]] == ["secrets/prod/ORDERS_DB_URL.yaml"] and ch["other"] == 1)
check("changes: a generated message says what was done", "update prod/ORDERS_DB_URL" in ch["message"])
st, r, _ = admin.api("POST", "/api/commit", {"files": ["README.md"], "message": "x"})
check(f"commit refuses a file the page did not change ({st})", st == 400)
st, r, _ = admin.api("POST", "/api/commit", {"files": ["secrets/prod/ORDERS_DB_URL.yaml"], "message": ch["message"]})
check(f"commit ({st} {r.get('error')})", st == 200 and len(r["commit"]) == 40)
log = org.git("log", "-1", "--format=%an <%ae>|%s", "--name-only")
check(f"commit: the acting member is the author, exactly the file ({log!r})",
      log.startswith("alice@acme <alice@acme>|orgsecrets:") and "README.md" not in log
      and "secrets/prod/ORDERS_DB_URL.yaml" in log)
check("commit: README.md is still uncommitted", "README.md" in org.git("status", "--porcelain"))
admin.stop()

# ---- roles through the API ----
member = Server(org, "bob@acme")
member.login()
st, r, _ = member.api("POST", "/api/secrets/delete", {"name": "ORDERS_DB_URL", "environment": "prod",
                                                        "confirm": "ORDERS_DB_URL"})
check(f"a member cannot delete ({st}: {r.get('error')})", st == 403)
st, r, _ = member.api("POST", "/api/members/add", {"name": "x@acme", "role": "viewer"})
check(f"a member cannot manage members ({st})", st == 403)
st, r, _ = member.api("POST", "/api/reveal", {"name": "ORDERS_DB_URL", "environment": "prod"})
check(f"a member can reveal ({st})", st == 200 and r["value"] == v_db)
member.stop()
org.run(["member", "add", "vera@acme", "--role", "viewer", "--recipient", dave], who="alice@acme")
org.run(["rekey", "--yes"], who="alice@acme")
org.keys["vera"] = org.keys["dave"]
viewer = Server(org, "vera@acme")
viewer.login()
st, r, _ = viewer.api("POST", "/api/reveal", {"name": "ORDERS_DB_URL", "environment": "prod"})
check(f"a viewer cannot reveal a hidden secret ({st}: {r.get('error')})", st == 403 and "value" not in r)
st, r, _ = viewer.api("POST", "/api/reveal", {"name": "STATUS_TOKEN", "environment": "prod"})
check(f"a viewer reveals a secret visible to viewers ({st})", st == 200)
st, r, _ = viewer.api("GET", "/api/secrets")
rows = {x["name"]: x for x in r["secrets"]}
check("the list tells the viewer which values it can open",
      rows["ORDERS_DB_URL"]["canReveal"] is False and rows["ORDERS_DB_URL"]["revealNote"] == "viewer"
      and rows["STATUS_TOKEN"]["canReveal"] is True)
st, r, _ = viewer.api("POST", "/api/secrets/create", {"name": "NEW_ONE", "environment": "dev", "value": "x"})
check(f"a viewer cannot create ({st})", st == 403)
viewer.stop()

outputs = [admin.output(), member.output(), viewer.output(), *org.log, *twin.log]
for text in outputs:
    for val in org.values + twin.values:
        if not check("no value in the server's or the CLI's output", val not in text):
            break
finish(org.tmp)
