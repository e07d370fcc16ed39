# Shared helpers for the CLI end-to-end tests (sourced by test_*.sh).
# Usage: test_X.sh ORGSECRETS_BINARY [GEN_TREE_BINARY]
# Every command's stdout+stderr goes to $LOG, except the outputs that may
# hold values (reveal, render, run's child, age decrypt), which go through
# `secret_out`. At exit, $LOG is searched for every value in $VALUES_FILE.
set -u
abspath() { [ -n "$1" ] && printf '%s/%s' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; }
OS_BIN=$(abspath "${1:?usage: $0 ORGSECRETS_BINARY [GEN_TREE]}")
GEN_TREE=$(abspath "${2:-}")
TESTS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd) # shared helpers (ptysession.py)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orgsecrets-cli-test.XXXXXX")
LOG=$TMP/all-output.log
VALUES_FILE=$TMP/values.list
: >"$LOG"
: >"$VALUES_FILE"
FAILS=0
CHECKS=0
cd "$TMP" || exit 1
export HOME=$TMP/home
mkdir -p "$HOME"
unset ORGSECRETS_DIR ORGSECRETS_USER ORGSECRETS_IDENTITY
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

cleanup() {
  leak_check
  if [ "$FAILS" -ne 0 ]; then
    echo "FAILED: $FAILS of $CHECKS checks (temp dir kept: $TMP)"
    exit 1
  fi
  echo "ok: $CHECKS checks"
  rm -rf "$TMP"
  exit 0
}
trap cleanup EXIT

fail() { FAILS=$((FAILS + 1)); CHECKS=$((CHECKS + 1)); echo "FAIL: $*"; }
pass() { CHECKS=$((CHECKS + 1)); }
check() { # check DESCRIPTION CONDITION-COMMAND...
  local d=$1; shift
  if "$@"; then pass; else fail "$d"; fi
}

# os ARGS...: runs the CLI, output to $LOG and to $OUT / $ERR; sets $RC.
os() {
  "$OS_BIN" "$@" >"$TMP/.out" 2>"$TMP/.err"
  RC=$?
  OUT=$(cat "$TMP/.out")
  ERR=$(cat "$TMP/.err")
  { echo "\$ orgsecrets $*"; cat "$TMP/.out" "$TMP/.err"; } >>"$LOG"
  return 0
}
# os_in INPUT ARGS...: like os with INPUT (exact bytes) on stdin.
os_in() {
  local input=$1; shift
  printf %s "$input" | "$OS_BIN" "$@" >"$TMP/.out" 2>"$TMP/.err"
  RC=$?
  OUT=$(cat "$TMP/.out")
  ERR=$(cat "$TMP/.err")
  { echo "\$ orgsecrets $*"; cat "$TMP/.out" "$TMP/.err"; } >>"$LOG"
  return 0
}
# secret_out FILE ARGS...: a command allowed to print values: stdout to FILE
# (not searched), stderr to $LOG and $ERR.
secret_out() {
  local f=$1; shift
  "$OS_BIN" "$@" >"$f" 2>"$TMP/.err"
  RC=$?
  ERR=$(cat "$TMP/.err")
  { echo "\$ orgsecrets $* > $f"; cat "$TMP/.err"; } >>"$LOG"
  return 0
}

remember_value() { printf '%s\n' "$1" >>"$VALUES_FILE"; }

# A distinctive random value that is easy to search for.
new_value() {
  local v
  v="val-$(head -c 12 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '=')"
  remember_value "$v"
  printf %s "$v"
}

expect_rc() { # expect_rc WANT DESCRIPTION
  if [ "$RC" -eq "$1" ]; then pass; else fail "$2 (exit $RC, want $1; stderr: $ERR)"; fi
}
expect_err() { # expect_err SUBSTRING DESCRIPTION
  case "$ERR" in *"$1"*) pass ;; *) fail "$2 (stderr lacks '$1': $ERR)" ;; esac
}
expect_out() {
  case "$OUT" in *"$1"*) pass ;; *) fail "$2 (stdout lacks '$1': $OUT)" ;; esac
}

leak_check() {
  local pats=$TMP/.patterns n
  grep -v '^$' "$VALUES_FILE" >"$pats"
  n=$(wc -l <"$pats")
  if [ "$n" -gt 0 ]; then
    if grep -qF -f "$pats" "$LOG"; then
      fail "a sealed value appeared in command output (see $LOG)"
    fi
    # the sealed files must not hold it either
    if [ -d "$TMP/org" ] && grep -rqF -f "$pats" "$TMP/org"; then
      fail "a sealed value appeared in plaintext below the organization folder"
    fi
  fi
  CHECKS=$((CHECKS + 1))
  echo "leak check: $n values searched in $(wc -l <"$LOG") output lines"
}

tree_sum() { # checksum of every file below DIR (names and contents)
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum
}

spec_field() { # FILE KEY: the value of spec.KEY in a secret's file, unquoted
  sed -n "s/^  $2: //p" "$1" | tr -d '"'
}

pubkey() { grep '^# public key: ' "$1" | cut -d' ' -f4; }

# A standard organization: admin alice, member bob, viewer vic (with key),
# environments dev and prod with controller keys, application web.
setup_org() {
  export ORGSECRETS_DIR=$TMP/org ORGSECRETS_USER=alice@example.com
  export ORGSECRETS_IDENTITY=$TMP/keys/alice
  local k
  for k in alice bob vic carol ctl-dev ctl-prod; do
    os keygen -o "$TMP/keys/$k"
    [ "$RC" -eq 0 ] || fail "keygen $k: $ERR"
  done
  os init --org acme --rotation-days 90
  os member add alice@example.com --role admin --recipient "$(pubkey keys/alice)"
  os member add bob@example.com --role member --recipient "$(pubkey keys/bob)"
  os member add vic@example.com --role viewer --recipient "$(pubkey keys/vic)"
  os env add dev --controller "$(pubkey keys/ctl-dev)" --namespace dev
  os env add prod --controller "$(pubkey keys/ctl-prod)" --namespace prod
  os app add web --namespace web
  [ "$RC" -eq 0 ] || fail "setup: $ERR"
}
