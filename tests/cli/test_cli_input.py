"""How `set`/`create` read a value, on a real pseudo-terminal and from a
pipe: on a terminal one line, not echoed, without its newline, and the
prompt says so; from a pipe the bytes exactly, a trailing newline kept with
a warning naming `printf %s` (or dropped with --trim), whitespace refused.
usage: test_cli_input.py ORGSECRETS_BINARY"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ptysession  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="orgsecrets-input-")
FAILS = []


def check(what, ok):
    if not ok:
        FAILS.append(what)
        print("FAIL: " + what)


ENV = dict(os.environ, HOME=TMP, GIT_CONFIG_GLOBAL="/dev/null", ORGSECRETS_DIR=os.path.join(TMP, "org"),
           ORGSECRETS_USER="alice@example.com", ORGSECRETS_IDENTITY=os.path.join(TMP, "alice"))
for k in ("ORGSECRETS_NOW",):
    ENV.pop(k, None)


def cli(*args, stdin=b""):
    return subprocess.run([BIN] + list(args), input=stdin, capture_output=True, env=ENV, timeout=60)


def on_tty(args, typed):
    """The CLI on a pseudo-terminal, `typed` typed at its prompt:
    (exit status, everything the terminal showed)."""
    return ptysession.session([BIN] + args, typed, [b"not echoed"], env=ENV)


alice = cli("keygen", "-o", os.path.join(TMP, "alice")).stdout.decode().strip()
ctl = cli("keygen", "-o", os.path.join(TMP, "ctl")).stdout.decode().strip()
cli("init", "--org", "acme")
cli("member", "add", "alice@example.com", "--role", "admin", "--recipient", alice)
cli("env", "add", "prod", "--controller", ctl)

VALUE = b"tty-val-" + os.urandom(6).hex().encode()
rc, shown = on_tty(["create", "TERMINAL_TOKEN", "--env", "prod"], VALUE + b"\n")
check("create on a terminal succeeds (%d: %r)" % (rc, shown), rc == 0)
check("the prompt says one line, not echoed, Enter not part of the value",
      b"one line, not echoed" in shown and b"not part of the value" in shown)
check("the value is not echoed", VALUE not in shown)
p = cli("reveal", "TERMINAL_TOKEN", "--env", "prod")
check("the value is stored without its newline", p.returncode == 0 and p.stdout == VALUE)

# CR LF from a terminal: neither is part of the value
V2 = b"tty-crlf-" + os.urandom(6).hex().encode()
rc, shown = on_tty(["set", "TERMINAL_TOKEN", "--env", "prod"], V2 + b"\r\n")
p = cli("reveal", "TERMINAL_TOKEN", "--env", "prod")
check("CR LF typed: neither kept", rc == 0 and p.stdout == V2 and V2 not in shown)

# a pipe keeps the bytes exactly, and warns about the newline it kept
V3 = b"pipe-val-" + os.urandom(6).hex().encode()
p = cli("set", "PIPED_TOKEN", "--env", "prod", stdin=V3 + b"\n")
check("piped value with a newline: accepted", p.returncode == 0)
check("and a warning naming printf %s and --trim",
      b"printf %s" in p.stderr and b"--trim" in p.stderr and b"newline" in p.stderr)
check("the warning holds no value", V3 not in p.stdout + p.stderr)
check("the newline is kept", cli("reveal", "PIPED_TOKEN", "--env", "prod").stdout == V3 + b"\n")
p = cli("set", "PIPED_TOKEN", "--env", "prod", "--trim", stdin=V3 + b"\n")
check("--trim drops it without a warning", p.returncode == 0 and b"printf" not in p.stderr)
check("the value without it", cli("reveal", "PIPED_TOKEN", "--env", "prod").stdout == V3)
p = cli("set", "PIPED_TOKEN", "--env", "prod", stdin=V3)
check("printf %s: no warning", p.returncode == 0 and b"warning" not in p.stderr)
BIN_V = b"\x00\x01 binary\r\n\xff" + os.urandom(4)
p = cli("set", "BLOB_VALUE", "--env", "prod", stdin=BIN_V)
check("binary bytes from a pipe kept exactly",
      p.returncode == 0 and cli("reveal", "BLOB_VALUE", "--env", "prod").stdout == BIN_V)
for blank in (b"", b"\n", b"  \t\r\n"):
    p = cli("set", "BLANK_VALUE", "--env", "prod", stdin=blank)
    check("%r refused as empty" % blank, p.returncode != 0 and b"empty" in p.stderr)
check("nothing written for a refused value",
      not os.path.exists(os.path.join(TMP, "org", "secrets", "prod", "BLANK_VALUE.yaml")))

if FAILS:
    print("FAILED: %d checks (temp dir kept: %s)" % (len(FAILS), TMP))
    sys.exit(1)
shutil.rmtree(TMP)
print("ok")
