#!/usr/bin/env python3
"""Mutation smoke (driven by tests/mutation/run.sh; see README.md there).

Copies the source tree to a scratch folder, configures one plain build there
(tests on, system libcurl, no sanitizer) and builds it, checks that the tests
the table names exist and pass, then for each mutant: replaces its snippet
(which must occur exactly once in its file), rebuilds incrementally, runs only
the tests named for it and requires that at least one of them fails, and
restores the file. Exit 0 only when every mutant was killed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

KEYS = ("file", "tests", "what", "expect")
REQUIRED = ("file", "tests", "what")


class TableError(Exception):
    pass


def parse_table(path):
    """The mutants of path, in order: dicts with name, file, tests, what, find, replace, line."""
    mutants, cur, section, buf = [], None, None, []
    lines = open(path, encoding="utf-8").read().split("\n")

    def fail(no, msg):
        raise TableError("%s:%d: %s" % (path, no, msg))

    for no, line in enumerate(lines, 1):
        if section is not None:  # inside a snippet: taken verbatim
            if line in ("--- replace", "--- end"):
                if section == "find" and line != "--- replace":
                    fail(no, "mutant %s: '--- find' must be followed by '--- replace'" % cur["name"])
                if section == "replace" and line != "--- end":
                    fail(no, "mutant %s: '--- replace' must end with '--- end'" % cur["name"])
                cur[section] = "\n".join(buf)
                buf = []
                section = "replace" if line == "--- replace" else None
                if section is None:
                    mutants.append(cur)
                    cur = None
            else:
                buf.append(line)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^mutant\s+([a-z0-9][a-z0-9-]*)\s*$", line)
        if m:
            if cur is not None:
                fail(no, "mutant %s has no '--- find' snippet" % cur["name"])
            cur = {"name": m.group(1), "line": no}
            continue
        if cur is None:
            fail(no, "expected 'mutant NAME'")
        m = re.match(r"^\s+(\w+)\s+(.*\S)\s*$", line)
        if m and m.group(1) in KEYS:
            if m.group(1) in cur:
                fail(no, "mutant %s: %s given twice" % (cur["name"], m.group(1)))
            cur[m.group(1)] = m.group(2)
            continue
        if line == "--- find":
            for k in REQUIRED:
                if k not in cur:
                    fail(no, "mutant %s: no '%s' line" % (cur["name"], k))
            section = "find"
            continue
        fail(no, "not understood: %r" % line)
    if section is not None or cur is not None:
        fail(len(lines), "the table ends inside mutant %s" % cur["name"])
    seen = set()
    for mu in mutants:
        if mu["name"] in seen:
            raise TableError("%s:%d: mutant %s is defined twice" % (path, mu["line"], mu["name"]))
        seen.add(mu["name"])
        if mu["find"] == "" or mu["find"] == mu["replace"]:
            raise TableError("%s:%d: mutant %s: the snippet is empty or equal to its replacement"
                             % (path, mu["line"], mu["name"]))
        mu["tests"] = mu["tests"].split()
        mu.setdefault("expect", "killed")
        if mu["expect"] not in ("killed", "survives"):
            raise TableError("%s:%d: mutant %s: expect is killed or survives, not %r"
                             % (path, mu["line"], mu["name"], mu["expect"]))
    return mutants


def log(msg):
    print("mutation: " + msg, flush=True)


def run(cmd, cwd=None, quiet=True):
    """Runs cmd; returns (exit status, combined output)."""
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace")
    if not quiet:
        sys.stdout.write(p.stdout)
    return p.returncode, p.stdout


def copy_tree(src, dst):
    """The source tree without build folders, Git metadata or installed node modules."""
    def ignore(d, names):
        top = os.path.abspath(d) == os.path.abspath(src)
        return [n for n in names if n in (".git", "node_modules", "__pycache__")
                or (top and n.startswith("build"))]
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


def tail(text, n=40):
    return "\n".join(text.rstrip("\n").split("\n")[-n:])


def ctest(build, tests, jobs, junit):
    """Runs exactly the named tests; returns {name: status} (run, fail, notrun, disabled...)."""
    pattern = "^(%s)$" % "|".join(re.escape(t) for t in tests)
    if os.path.exists(junit):
        os.unlink(junit)
    rc, out = run(["ctest", "-j", str(jobs), "-R", pattern, "--output-junit", junit,
                   "--output-on-failure"], cwd=build)
    status = {}
    if os.path.exists(junit):
        for tc in ET.parse(junit).getroot().iter("testcase"):
            status[tc.get("name")] = tc.get("status")
    return status, out


def main():
    ap = argparse.ArgumentParser(description="mutation smoke over a scratch copy of the tree")
    ap.add_argument("--source", required=True, help="the source tree (run.sh passes it)")
    ap.add_argument("--table", help="the mutant table (default: tests/mutation/mutants.txt)")
    ap.add_argument("--mutant", action="append", default=[], help="only this mutant (repeatable)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("ORGSECRETS_MUTATION_JOBS", "2")))
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--every-test", action="store_true",
                    help="run every test named for a mutant, not only up to the first that fails")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--check", action="store_true",
                    help="only check the table and that each snippet occurs exactly once")
    a = ap.parse_args()
    src = os.path.abspath(a.source)
    table = os.path.abspath(a.table or os.path.join(src, "tests", "mutation", "mutants.txt"))
    try:
        mutants = parse_table(table)
    except (OSError, TableError) as e:
        log("error: %s" % e)
        return 2
    if a.mutant:
        unknown = [n for n in a.mutant if n not in {m["name"] for m in mutants}]
        if unknown:
            log("error: no mutant named %s in %s" % (", ".join(unknown), table))
            return 2
        mutants = [m for m in mutants if m["name"] in a.mutant]
    if a.list:
        for m in mutants:
            print("%-28s %-32s %s" % (m["name"], m["file"], " ".join(m["tests"])))
        return 0
    if not mutants:
        log("error: %s holds no mutant" % table)
        return 2

    # The snippets first, against the tree as it is: a stale table fails in seconds.
    problems = []
    for m in mutants:
        path = os.path.join(src, m["file"])
        try:
            n = open(path, encoding="utf-8").read().count(m["find"])
        except OSError as e:
            problems.append("mutant %s (%s:%d): cannot read %s: %s"
                            % (m["name"], table, m["line"], m["file"], e.strerror))
            continue
        if n != 1:
            problems.append("mutant %s (%s:%d): its snippet occurs %d times in %s, not exactly once; "
                            "update the table" % (m["name"], table, m["line"], n, m["file"]))
    if problems:
        for p in problems:
            log("error: " + p)
        return 1
    if a.check:
        log("%d mutant(s), each snippet found exactly once" % len(mutants))
        return 0

    t_start = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="orgsecrets-mutation.")
    ok = False
    try:
        tree, build = os.path.join(scratch, "src"), os.path.join(scratch, "build")
        junit = os.path.join(scratch, "junit.xml")
        copy_tree(src, tree)
        log("scratch copy in %s; configuring and building (plain, system libcurl, -j%d)"
            % (scratch, a.jobs))
        rc, out = run(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                       "-DORGSECRETS_TESTS=ON", "-DORGSECRETS_SANITIZE=OFF", "-DORGSECRETS_FUZZ=OFF",
                       "-DORGSECRETS_WERROR=OFF", "-DORGSECRETS_CURL_PREFIX="])
        if rc == 0:
            rc, out = run(["cmake", "--build", build, "-j", str(a.jobs)])
        if rc != 0:
            log("error: the unmutated tree does not build:\n" + tail(out))
            return 1

        rc, out = run(["ctest", "-N"], cwd=build)
        known = set(re.findall(r"^\s*Test\s+#\d+: (\S+)", out, re.M))
        missing = [(m["name"], t) for m in mutants for t in m["tests"] if t not in known]
        if missing:
            for name, t in missing:
                log("error: mutant %s names test %s, which ctest does not know" % (name, t))
            return 1

        # Every named test passes without a mutant: else its failure would prove nothing.
        wanted = sorted({t for m in mutants for t in m["tests"]})
        t0 = time.monotonic()
        status, out = ctest(build, wanted, a.jobs, junit)
        bad = [t for t in wanted if status.get(t) != "run"]
        if bad:
            sys.stdout.write(tail(out, 80) + "\n")
            log("error: without any mutant these tests do not pass: %s (%s)"
                % (", ".join(bad), ", ".join("%s=%s" % (t, status.get(t, "not run")) for t in bad)))
            return 1
        log("baseline: %d test(s) pass without a mutant (%.0f s)" % (len(wanted), time.monotonic() - t0))

        results = []
        for m in mutants:
            t0 = time.monotonic()
            path = os.path.join(tree, m["file"])
            with open(path, encoding="utf-8") as f:
                original = f.read()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original.replace(m["find"], m["replace"], 1))
                rc, out = run(["cmake", "--build", build, "-j", str(a.jobs)])
                if rc != 0:
                    log("error: mutant %s does not compile; fix its replacement:\n%s"
                        % (m["name"], tail(out)))
                    results.append((m, "does not compile", False))
                    continue
                # One test at a time, in the table's order, up to the first that fails
                # (--every-test: all of them, to see which ones kill it).
                failed, unrun, out = [], [], ""
                for t in m["tests"]:
                    status, out = ctest(build, [t], a.jobs, junit)
                    if status.get(t) == "fail":
                        failed.append(t)
                        if not a.every_test:
                            break
                    elif status.get(t) != "run":
                        unrun.append(t)
                verdict = "killed" if failed else "survives"
                good = verdict == m["expect"]
                results.append((m, verdict, good))
                log("%-28s %-9s %s (%.0f s)%s%s"
                    % (m["name"], verdict, "by " + ", ".join(failed) if failed else "",
                       time.monotonic() - t0, "; not run: " + ", ".join(unrun) if unrun else "",
                       "" if good else "  <-- expected: " + m["expect"]))
                if not good and not failed:
                    sys.stdout.write(tail(out, 30) + "\n")
                    log("mutant %s survived: %s (%s) and every test named for it (%s) passed"
                        % (m["name"], m["what"], m["file"], " ".join(m["tests"])))
                elif not good:
                    log("control mutant %s was killed by %s: the smoke cannot tell a survivor"
                        % (m["name"], ", ".join(failed)))
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)

        wrong = ["%s (%s, expected %s)" % (m["name"], v, m["expect"]) for m, v, good in results
                 if not good]
        log("%d mutant(s), %d killed, in %.0f s"
            % (len(results), sum(v == "killed" for _, v, _ in results), time.monotonic() - t_start))
        if wrong:
            log("FAILED: %s" % "; ".join(wrong))
            return 1
        ok = True
        return 0
    finally:
        if a.keep or (not ok and os.environ.get("ORGSECRETS_MUTATION_KEEP")):
            log("kept %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
