#!/usr/bin/env bash
# Bad spec files: each gives a clear error naming the file and line (or the
# name), and no command writes anything.
. "$(dirname "$0")/lib.sh"
setup_org
V1=$(new_value); V2=$(new_value)
os_in "$V1" set DATABASE_PASSWORD --env prod
os_in "$V2" set PAYMENT_API_KEY --env prod
cp -r org "$TMP/pristine"

# bad_case DESCRIPTION EXPECTED-SUBSTRING: after the caller broke org/, every
# command fails with the substring, and no file changes.
bad_case() {
  local d=$1 want=$2 s
  s=$(tree_sum org)
  os list
  expect_rc 1 "$d: list fails"
  expect_err "$want" "$d: list names the problem"
  case "$ERR" in orgsecrets:*) pass ;; *) fail "$d: error line format: $ERR" ;; esac
  check "$d: one error line" test "$(printf '%s\n' "$ERR" | wc -l)" -eq 1
  V=$(new_value)
  os_in "$V" set NEW_SETTING_NAME --env prod
  expect_rc 1 "$d: set fails"
  os_in "$V1" set DATABASE_PASSWORD --env prod
  expect_rc 1 "$d: set of an existing secret fails"
  os delete PAYMENT_API_KEY --env prod --yes
  expect_rc 1 "$d: delete fails"
  os rekey
  expect_rc 1 "$d: rekey fails"
  os lint
  expect_rc 1 "$d: lint fails"
  check "$d: lint names file:line" grep -qE "^[^:]+:[0-9]+: error: " <<<"$OUT"
  check "$d: every file left as it was" test "$(tree_sum org)" = "$s"
  rm -rf org && cp -r "$TMP/pristine" org
}

F=org/secrets/prod/DATABASE_PASSWORD.yaml
# malformed YAML
sed -i 's/^  name: DATABASE_PASSWORD$/  name: [DATABASE_PASSWORD/' $F
bad_case "malformed YAML" "DATABASE_PASSWORD.yaml:"
# wrong type
sed -i 's/^  visibleToViewers: false$/  visibleToViewers: "maybe"/' $F
bad_case "wrong type" "DATABASE_PASSWORD.yaml:"
sed -i 's/^  visibleToViewers: false$/  visibleToViewers: [1, 2]/' $F
bad_case "wrong type (list)" "visibleToViewers"
# unknown field
sed -i 's/^  state: active$/  state: active\n  colour: blue/' $F
bad_case "unknown field" "colour"
# duplicate names within an environment
cp $F org/secrets/prod/COPY.yaml
bad_case "duplicate secret" "DATABASE_PASSWORD"
# invalid name
sed -i 's/^  name: DATABASE_PASSWORD$/  name: database-password/' $F
bad_case "invalid name" "database-password"
# unknown environment
sed -i 's/^  environment: prod$/  environment: qa/' $F
bad_case "unknown environment" "qa"
# a broken organization.yaml
sed -i 's/^      role: member$/      role: superuser/' org/organization.yaml
bad_case "unknown role" "superuser"

# line numbers point at the problem
sed -i 's/^  state: active$/  state: sleeping/' $F
line=$(grep -n 'state: sleeping' $F | cut -d: -f1)
os list
expect_err "DATABASE_PASSWORD.yaml:$line" "error names file:line of the bad field"
rm -rf org && cp -r "$TMP/pristine" org

# no organization at all
os list --dir "$TMP/empty-folder"
expect_rc 1 "list without an organization"
expect_err "init" "hint to run init"
