#!/usr/bin/env bash
# orgsecrets run: environment of the child, references, argv, exit status.
. "$(dirname "$0")/lib.sh"
setup_org

VP=$(new_value); VA=$(new_value); VW=$(new_value); VD=$(new_value)
os_in "$VP" set DB_PASSWORD --env prod
os_in "$VA" set PAYMENT_API_KEY --env prod
os_in "$VW" set WEB_COOKIE_SECRET --env prod --app web
os_in "$VD" set OLD_FEATURE_KEY --env prod
os set OLD_FEATURE_KEY --env prod --disable </dev/null
expect_rc 0 "setup"

# the child sees the secrets; references in inherited variables resolve
export DATABASE_URL='postgres://app:${DB_PASSWORD}@db:5432/app'
export BARE_REF='$DB_PASSWORD'
export OTHER_REF='keep $OTHER and ${OTHER_TOO} as written'
export DISABLED_REF='x${OLD_FEATURE_KEY}y'
"$OS_BIN" run --env prod -- python3 -c '
import os, json
keys = ["DB_PASSWORD","PAYMENT_API_KEY","WEB_COOKIE_SECRET","OLD_FEATURE_KEY",
        "DATABASE_URL","BARE_REF","OTHER_REF","DISABLED_REF"]
print(json.dumps({k: os.environ.get(k) for k in keys}))' >"$TMP/child.json" 2>>"$LOG"
RC=$?
expect_rc 0 "run exits with the child status"
j() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/child.json" "$1"; }
check "child sees DB_PASSWORD" test "$(j DB_PASSWORD)" = "$VP"
check "child sees PAYMENT_API_KEY" test "$(j PAYMENT_API_KEY)" = "$VA"
check "app secret not injected without --app" test "$(j WEB_COOKIE_SECRET)" = None
check "disabled secret not injected" test "$(j OLD_FEATURE_KEY)" = None
check "\${DB_PASSWORD} resolved in DATABASE_URL" test "$(j DATABASE_URL)" = "postgres://app:$VP@db:5432/app"
check "\$DB_PASSWORD resolved" test "$(j BARE_REF)" = "$VP"
check "unknown references untouched" test "$(j OTHER_REF)" = 'keep $OTHER and ${OTHER_TOO} as written'
check "reference to a disabled secret untouched" test "$(j DISABLED_REF)" = 'x${OLD_FEATURE_KEY}y'

# --app adds the application's secrets; --only limits
"$OS_BIN" run --env prod --app web -- sh -c 'printf %s "$WEB_COOKIE_SECRET"' >"$TMP/o" 2>>"$LOG"
check "--app injects the app secret" test "$(cat "$TMP/o")" = "$VW"
"$OS_BIN" run --env prod --only PAYMENT_API_KEY -- sh -c 'printf "%s|%s" "${DB_PASSWORD-unset}" "$PAYMENT_API_KEY"' >"$TMP/o" 2>>"$LOG"
check "--only limits what is injected" test "$(cat "$TMP/o")" = "unset|$VA"
os run --env prod --only NO_SUCH_SECRET -- true
expect_rc 1 "--only with an unknown name fails"

# exit status of the child, signals, command not found
"$OS_BIN" run --env prod -- sh -c 'exit 7' >>"$LOG" 2>&1
RC=$?; expect_rc 7 "child exit status passed through"
"$OS_BIN" run --env prod -- sh -c 'kill -TERM $$' >>"$LOG" 2>&1
RC=$?; expect_rc 143 "killed child: 128+signal"
os run --env prod -- /nonexistent/command
expect_rc 127 "command not found: 127"

# values never in argv: read the child's /proc/PID/cmdline while it sleeps
"$OS_BIN" run --env prod -- sleep 30 >>"$LOG" 2>&1 &
pid=$!
for _ in $(seq 100); do # wait (up to 10 s) until orgsecrets has exec'd the command
  cmdline=$(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null)
  case "$cmdline" in sleep*) break ;; esac
  sleep 0.1
done
environ_has=$(tr '\0' '\n' </proc/$pid/environ | grep -c "^DB_PASSWORD=")
kill $pid 2>/dev/null; wait $pid 2>/dev/null
check "child is the command itself (exec)" test "$cmdline" = "sleep 30 "
check "the value is not in the child's argv" test -z "$(grep -F "$VP" <<<"$cmdline")"
check "the value is in the child's environment" test "$environ_has" -eq 1

# a value that cannot be opened: nothing runs
os run --env prod -i keys/vic -- sh -c 'echo SHOULD-NOT-RUN'
expect_rc 1 "run with a key that cannot open fails"
check "the command did not run" test -z "$(grep SHOULD-NOT-RUN <<<"$OUT")"
os run --env prod
expect_rc 2 "run without a command is a usage error"
