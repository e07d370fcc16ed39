#!/usr/bin/env bash
# checksrc: the bans of docs/style.md, enforced (as curl's checksrc). Run from
# anywhere: bash scripts/checksrc.sh [FILE...] (default: every .c and .h
# under pkg/ and cmd/). Prints one "FILE:LINE: rule: message" per finding
# and exits 1 when there is any that scripts/checksrc.allow does not allow.
#
# Rules (comments and string literals are not looked at):
#  - banned calls: rand family (use os_random_unit/os_backoff_delay),
#    strtok/strtok_r, sscanf, sprintf/vsprintf, strcpy, strcat/strncat, gets,
#    atoi/atol/atoll (use snprintf with its result checked, strtol with an
#    end-pointer check, memcpy with a checked size);
#  - memcmp: allowed only on public data, said with a comment
#    "checksrc: public: WHAT" on the line or the line above; secrets are
#    compared with CRYPTO_memcmp / os_secure_equal;
#  - warn_unused_result: every os_buf_* function returning a value and every
#    *_new function declared in a header carries OS_NODISCARD;
#  - layering: a file of pkg/M includes headers of M and of the modules
#    LAYERS below allows M (never a module above or beside it), no other
#    module's *_internal.h, and names the folder of every project header it
#    includes; cmd/ is above every module, and nothing in pkg/ includes it.
#
# scripts/checksrc.allow lists "FILE RULE" pairs still to be fixed; an entry
# that no longer matches anything is itself an error, so the list only
# shrinks.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec python3 - "$ROOT" "$@" <<'PY'
import os
import re
import sys

root, files = sys.argv[1], sys.argv[2:]
os.chdir(root)
if not files:
    for top in ("pkg", "cmd"):
        for d, _, names in os.walk(top):
            files += [os.path.join(d, n) for n in names if n.endswith((".c", ".h"))]
files.sort()

BANNED = {
    "rand": "rand", "srand": "rand", "rand_r": "rand", "random": "rand", "srandom": "rand",
    "drand48": "rand", "lrand48": "rand",
    "strtok": "strtok", "strtok_r": "strtok", "sscanf": "sscanf", "sprintf": "sprintf",
    "vsprintf": "sprintf", "strcpy": "strcpy", "strcat": "strcat", "strncat": "strcat",
    "gets": "gets", "atoi": "atoi", "atol": "atoi", "atoll": "atoi",
}
WHY = {
    "rand": "rand() is not a CSPRNG and, unseeded, draws the same in every process; use os_random_unit() / os_backoff_delay()",
    "strtok": "strtok keeps hidden state; split with strcspn/memchr",
    "sscanf": "sscanf does not check ranges or trailing text; parse with strtol and an end pointer",
    "sprintf": "sprintf has no bound; use snprintf and check its result",
    "strcpy": "strcpy has no bound; use memcpy with a checked size",
    "strcat": "strcat/strncat are easy to get wrong; use os_buf or snprintf",
    "gets": "gets cannot be used safely",
    "atoi": "atoi cannot report errors; use strtol with an end-pointer check",
}
CALL = re.compile(r"(?<![\w.>])(%s)\s*\(" % "|".join(sorted(BANNED, key=len, reverse=True)))
MEMCMP = re.compile(r"(?<![\w.>])memcmp\s*\(")
PUBLIC = "checksrc: public"


def strip(text):
    """text with comments and string/char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


# What each module of pkg/ may include besides itself: the layers of
# docs/development.md. A new module or dependency is a line here.
LAYERS = {
    "common": set(),
    "age": {"common"}, "spec": {"common"}, "envfile": {"common"}, "metrics": {"common"},
    "httpd": {"common"}, "audit": {"common"}, "kube": {"common"}, "inject": {"common"},
    "seal": {"common", "age", "spec"},
    "org": {"common", "age", "spec", "seal", "envfile", "inject"},
    "reconcile": {"common", "age", "spec", "seal", "envfile", "inject", "kube", "httpd",
                  "metrics", "audit"},
    "ui": {"common", "age", "spec", "seal", "httpd", "org"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layering(path, text):
    """(line, message) for each include that breaks the layers."""
    parts = path.split(os.sep)
    out = []
    if parts[0] != "pkg" or len(parts) < 3:
        return out
    mod = parts[1]
    if mod not in LAYERS:
        return [(1, "module %s is not in checksrc.sh's LAYERS: say what it may include" % mod)]
    for m in INCLUDE.finditer(text):
        inc, no = m.group(1), text.count("\n", 0, m.start()) + 1
        folder = inc.split("/")[0] if "/" in inc else None
        if folder is None:
            if not os.path.exists(os.path.join(os.path.dirname(path), inc)):
                continue  # a generated header in the build tree
            out.append((no, "#include \"%s\": name the module folder (\"%s/%s\")" % (inc, mod, inc)))
        elif folder == mod:
            continue
        elif folder not in LAYERS:
            out.append((no, "#include \"%s\": pkg/ includes nothing outside pkg/" % inc))
        elif folder not in LAYERS[mod]:
            out.append((no, "#include \"%s\": %s may include only %s (an upward or sideways "
                            "include; see docs/development.md)"
                        % (inc, mod, ", ".join(sorted(LAYERS[mod])) or "itself")))
        elif inc.endswith("_internal.h"):
            out.append((no, "#include \"%s\": another module's internal header" % inc))
    return out


DECL = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(os_buf_\w+|\w+_new)\s*\(", re.M)

findings = []
for path in files:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError as e:
        findings.append((path, 0, "read", str(e)))
        continue
    for no, msg in layering(path, text):
        findings.append((path, no, "layering", msg))
    code = strip(text)
    lines, code_lines = text.split("\n"), code.split("\n")
    for no, (line, cl) in enumerate(zip(lines, code_lines), 1):
        for m in CALL.finditer(cl):
            rule = BANNED[m.group(1)]
            findings.append((path, no, rule, "%s(): %s" % (m.group(1), WHY[rule])))
        if MEMCMP.search(cl) and PUBLIC not in line and (no < 2 or PUBLIC not in lines[no - 2]):
            findings.append((path, no, "memcmp",
                             "memcmp(): compare secrets with CRYPTO_memcmp/os_secure_equal, "
                             "or say \"/* %s: WHAT */\" on or above the line" % PUBLIC))
    if path.endswith(".h"):
        for m in DECL.finditer(code):
            end = code.find(";", m.end())
            body = code.find("{", m.end())
            if end < 0 or (0 <= body < end):
                continue  # a definition (static inline)
            decl = code[m.start():end]
            if re.match(r"\s*(static\s+)?(inline\s+)?void\s", decl) and "*" not in decl.split("(")[0]:
                continue
            if "OS_NODISCARD" not in decl and "warn_unused_result" not in decl:
                no = code.count("\n", 0, m.start()) + 1
                findings.append((path, no, "nodiscard",
                                 "%s(): its result must be checked: declare it OS_NODISCARD" % m.group(1)))

allow_path = os.path.join("scripts", "checksrc.allow")
allowed = {}
if os.path.exists(allow_path):
    for no, l in enumerate(open(allow_path), 1):
        l = l.split("#", 1)[0].strip()
        if l:
            f, r = l.split()
            allowed[(f, r)] = [no, 0]
bad = 0
for path, no, rule, msg in findings:
    a = allowed.get((path, rule))
    if a is not None:
        a[1] += 1
        continue
    print("%s:%d: %s: %s" % (path, no, rule, msg))
    bad += 1
whole = not sys.argv[2:]
for (f, r), (no, used) in sorted(allowed.items()):
    if used:
        print("%s:%d: allowed: %s %s (%d finding(s) left to fix)" % (allow_path, no, f, r, used))
    elif whole:
        print("%s:%d: stale: %s has no %s finding any more; remove the line" % (allow_path, no, f, r))
        bad += 1
print("checksrc: %d file(s), %d finding(s) not allowed" % (len(files), bad))
sys.exit(1 if bad else 0)
PY
