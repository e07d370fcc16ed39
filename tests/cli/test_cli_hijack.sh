#!/usr/bin/env bash
# Secrets named after variables that decide what runs (PATH, LD_*, ...):
# `run` looks the command up with the caller's PATH and refuses them unless
# --allow-env NAME; `set` refuses to create them; `lint` reports an error.
. "$(dirname "$0")/lib.sh"
setup_org

VD=$(new_value)
os_in "$VD" set DB_PASSWORD --env dev
expect_rc 0 "setup"

# what anyone able to push can commit: a PATH secret and a bin/make
EVIL=$TMP/org/bin
mkdir -p "$EVIL"
cat >"$EVIL/make" <<EOF
#!/bin/sh
echo hijacked >"$TMP/hijacked"
EOF
chmod 755 "$EVIL/make"

os_in "$EVIL" set PATH --env dev
expect_rc 1 "set refuses to create a secret named PATH"
expect_err "--allow-reserved-name" "the refusal names the override"
os_in "$EVIL" set PATH --env dev --allow-env HOME
expect_rc 1 "--allow-env of another name does not allow PATH"
os_in "$EVIL" set PATH --env dev --allow-env PATH
expect_rc 0 "set --allow-env PATH plants the secret"

os run --env dev -- make --version
expect_rc 1 "run refuses a PATH secret"
expect_err "refusing a secret named PATH" "run says which secret it refused"
check "the planted make did not run" test ! -e "$TMP/hijacked"

"$OS_BIN" run --env dev --allow-env PATH -- make --version >"$TMP/make.out" 2>>"$LOG"
RC=$?
expect_rc 0 "run --allow-env PATH runs the caller's make"
check "the planted make did not run with --allow-env" test ! -e "$TMP/hijacked"
check "the real make ran" grep -q "GNU Make" "$TMP/make.out"
"$OS_BIN" run --env dev --allow-env PATH -- sh -c 'printf %s "$PATH"' >"$TMP/path.out" 2>>"$LOG"
check "the child still gets the allowed PATH secret" test "$(cat "$TMP/path.out")" = "$EVIL"

"$OS_BIN" run --env dev --only DB_PASSWORD -- sh -c 'printf %s "$DB_PASSWORD"' >"$TMP/o" 2>>"$LOG"
check "--only without the PATH secret runs" test "$(cat "$TMP/o")" = "$VD"

os lint
expect_rc 1 "lint fails on a PATH secret"
expect_out "dev/PATH: a variable named PATH decides which program runs" "lint names the secret and why"

# one list for every such name: a prefix (LD_*), a shell hook, an interpreter
for name in LD_PRELOAD BASH_ENV PYTHONSTARTUP NODE_OPTIONS PERL5OPT GIT_SSH_COMMAND MAKEFILES IFS; do
  os_in "$(new_value)" set "$name" --env prod
  expect_rc 1 "set refuses $name"
  os_in "/tmp/x" set "$name" --env prod --allow-env "$name"
  expect_rc 0 "set --allow-env $name"
  os run --env prod -- true
  expect_rc 1 "run refuses $name"
  expect_err "refusing a secret named $name" "run names $name"
  os lint
  expect_out "prod/$name: a variable named $name" "lint reports $name"
  os delete "$name" --env prod --yes
done

# harmless look-alikes are not refused
os_in "$(new_value)" set PATHFINDER_API_KEY --env prod
expect_rc 0 "a name that only starts with PATH is fine"
os_in "$(new_value)" set HOMEPAGE_TOKEN --env prod
os run --env prod -- true
expect_rc 0 "run accepts harmless names"

# the command is resolved with the caller's PATH even when it is not found there
os run --env dev --allow-env PATH -- no-such-command-anywhere
expect_rc 127 "a command missing from the caller's PATH: 127"
