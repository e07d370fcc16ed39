#!/usr/bin/env bash
# scripts/deps.sh as a user who is not root, against a fake dpkg-query that
# reports some packages missing: the one apt-get line, naming exactly the
# missing packages of the group asked for, and make build-deps / make deps
# asking for the right group. Nothing is installed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# dpkg-query -W -f=... PKG: installed unless PKG is in $FAKE_MISSING
cat >"$fake/dpkg-query" <<'SH'
#!/bin/sh
for p; do :; done
case " $FAKE_MISSING " in *" $p "*) exit 1 ;; esac
printf 'install ok installed'
SH
printf '#!/bin/sh\necho 1000\n' >"$fake/id"
# a non-root run never installs: apt-get here only records that it was called
printf '#!/bin/sh\necho "$*" >>"%s/apt-get.called"\nexit 1\n' "$fake" >"$fake/apt-get"
chmod +x "$fake/dpkg-query" "$fake/id" "$fake/apt-get"

# run MISSING ARGS...: sets rc, out (stdout) and err (stderr)
run() {
  local missing=$1; shift
  out=$(FAKE_MISSING=$missing PATH="$fake:$PATH" "$@" 2>"$fake/err")
  rc=$?
  err=$(cat "$fake/err")
}
expect_line() { # WHAT PACKAGES...: err is the two-line message naming exactly PACKAGES
  local what=$1; shift
  local want
  want=$(printf 'orgsecrets: missing packages; run as root:\n  apt-get update && apt-get install -y %s' "$*")
  [ "$rc" -ne 0 ] || fail "$what: exit 0 with packages missing"
  [ -z "$out" ] || fail "$what: printed on stdout: $out"
  [ "$err" = "$want" ] || fail "$what: printed
$err
instead of
$want"
}

deps=$root/scripts/deps.sh
# make build's group: the build dependencies and the C tests' (cmocka), not
# what only running the tests or the benchmarks needs
run "cmake libcmocka-dev nodejs yq age clang" bash "$deps" make
expect_line "deps.sh make" cmake libcmocka-dev
# the image's build stage: the executables only
run "libcmocka-dev nodejs" bash "$deps" build
[ "$rc" -eq 0 ] && [ -z "$err$out" ] || fail "deps.sh build wants test packages: rc=$rc $err"
run "libssl-dev" bash "$deps" build
expect_line "deps.sh build" libssl-dev
# make test: everything, in one line
run "cmake nodejs yq age clang wrk" bash "$deps"
expect_line "deps.sh (all)" cmake clang age yq nodejs
# nothing missing: silent success
run "" bash "$deps" all
[ "$rc" -eq 0 ] && [ -z "$err$out" ] || fail "deps.sh with nothing missing: rc=$rc $err$out"
run "" bash "$deps" nonsense
[ "$rc" -eq 2 ] || fail "deps.sh nonsense: rc=$rc, want 2"

# the Makefile asks for the right group: build-deps (make build) and deps
# (make test, bench, fuzz) fail, printing the line, before anything is built
run "nodejs libcmocka-dev" make -s --no-print-directory -C "$root" build-deps
[ "$rc" -ne 0 ] && [[ $err == *"apt-get install -y libcmocka-dev"$'\n'* || $err == *"apt-get install -y libcmocka-dev" ]] ||
  fail "make build-deps: rc=$rc: $err"
run "nodejs libcmocka-dev" make -s --no-print-directory -C "$root" deps
[ "$rc" -ne 0 ] && [[ $err == *"apt-get install -y libcmocka-dev nodejs"* ]] || fail "make deps: rc=$rc: $err"
for t in build build-san; do
  [[ $(make -n -C "$root" "$t" 2>&1) == *"scripts/deps.sh make"* ]] || fail "make $t does not check deps.sh make"
done
for t in test test-fast bench fuzz; do
  [[ $(make -n -C "$root" "$t" 2>&1) == *"scripts/deps.sh all"* ]] || fail "make $t does not check deps.sh all"
done

[ ! -e "$fake/apt-get.called" ] || fail "apt-get was run: $(cat "$fake/apt-get.called")"
[ "$fails" -eq 0 ] && echo "deps_check: ok"
exit $((fails > 0))
