#!/usr/bin/env bash
# Bad spec files: each gives a clear error naming the file and line (or the
# name), and no command writes anything.
. "$(dirname "$0")/lib.sh"
setup_org
V1=$(new_value); V2=$(new_value)
os_in "$V1" set DATABASE_PASSWORD --env prod
os_in "$V2" set PAYMENT_API_KEY --env prod
cp -r org "$TMP/pristine"

# bad_case DESCRIPTION EXPECTED-SUBSTRING: after the caller broke org/ (the
# organization itself), every command fails with the substring, and no file
# changes.
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

# bad_secret_case DESCRIPTION EXPECTED-SUBSTRING: after the caller broke
# DATABASE_PASSWORD's file, that secret alone fails: list shows it as
# invalid and says where, every command works on the other secrets, the
# broken file is never written, and lint fails naming it.
bad_secret_case() {
  local d=$1 want=$2 s
  s=$(sha256sum <$F)
  os list
  expect_rc 0 "$d: list works"
  expect_err "$want" "$d: list names the problem"
  check "$d: list warns with file:line" grep -qE "^orgsecrets: warning: secrets/prod/DATABASE_PASSWORD\.yaml:[0-9]+: invalid: " <<<"$ERR"
  check "$d: the secret is listed as invalid" grep -qE "^DATABASE_PASSWORD +prod +- +invalid " <<<"$OUT"
  check "$d: the others are listed" grep -qE "^PAYMENT_API_KEY +prod +- +active " <<<"$OUT"
  secret_out "$TMP/other.value" reveal PAYMENT_API_KEY --env prod
  expect_rc 0 "$d: reveal of another secret works"
  check "$d: its value" test "$(cat "$TMP/other.value")" = "$V2"
  os_in "$V1" set DATABASE_PASSWORD --env prod
  expect_rc 1 "$d: set of the broken secret fails"
  expect_err "secrets/prod/DATABASE_PASSWORD.yaml, which does not load" "$d: set says why"
  secret_out "$TMP/broken.value" reveal DATABASE_PASSWORD --env prod
  expect_rc 1 "$d: reveal of the broken secret fails"
  V=$(new_value)
  os_in "$V" set NEW_SETTING_NAME --env prod
  expect_rc 0 "$d: set of another secret works"
  os delete NEW_SETTING_NAME --env prod --yes
  expect_rc 0 "$d: delete of another secret works"
  os rekey
  expect_rc 0 "$d: rekey works on the others"
  os lint
  expect_rc 1 "$d: lint fails"
  check "$d: lint names file:line" grep -qE "^secrets/prod/DATABASE_PASSWORD\.yaml:[0-9]+: error: " <<<"$OUT"
  check "$d: the broken file left as it was" test "$(sha256sum <$F)" = "$s"
  rm -rf org && cp -r "$TMP/pristine" org
}

F=org/secrets/prod/DATABASE_PASSWORD.yaml
# malformed YAML
sed -i 's/^  name: DATABASE_PASSWORD$/  name: [DATABASE_PASSWORD/' $F
bad_secret_case "malformed YAML" "DATABASE_PASSWORD.yaml:"
# wrong type
sed -i 's/^  visibleToViewers: false$/  visibleToViewers: "maybe"/' $F
bad_secret_case "wrong type" "DATABASE_PASSWORD.yaml:"
sed -i 's/^  visibleToViewers: false$/  visibleToViewers: [1, 2]/' $F
bad_secret_case "wrong type (list)" "visibleToViewers"
# unknown field
sed -i 's/^  state: active$/  state: active\n  colour: blue/' $F
bad_secret_case "unknown field" "colour"
# invalid name
sed -i 's/^  name: DATABASE_PASSWORD$/  name: database-password/' $F
bad_secret_case "invalid name" "database-password"
# unknown environment
sed -i 's/^  environment: prod$/  environment: qa/' $F
bad_secret_case "unknown environment" "qa"
# duplicate names within an environment: the second copy is left out (the
# first, COPY.yaml, keeps working)
cp $F org/secrets/prod/COPY.yaml
os list
expect_rc 0 "duplicate secret: list works"
expect_err "DATABASE_PASSWORD.yaml:8: invalid: duplicate secret DATABASE_PASSWORD (first at secrets/prod/COPY.yaml:8)" "duplicate secret: named with both places"
check "duplicate secret: listed once active, once invalid" test "$(grep -cE '^DATABASE_PASSWORD +prod' <<<"$OUT")" -eq 2
os lint
expect_rc 1 "duplicate secret: lint fails"
expect_out "duplicate secret DATABASE_PASSWORD" "duplicate secret: lint names it"
rm -rf org && cp -r "$TMP/pristine" org
# a broken organization.yaml: nothing works
sed -i 's/^      role: member$/      role: superuser/' org/organization.yaml
bad_case "unknown role" "superuser"
cp org/organization.yaml "$TMP/org.saved"
printf '<<<<<<< HEAD\n' >>org/organization.yaml
os list
expect_rc 1 "a conflict in organization.yaml: list fails"
expect_err "organization.yaml:" "a conflict in organization.yaml: named"
rm -rf org && cp -r "$TMP/pristine" org

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
