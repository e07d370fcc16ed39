#!/usr/bin/env bash
# Commands, help, keygen/init, set/list/reveal/delete, byte-exact values,
# "same value = no change", usage errors.
. "$(dirname "$0")/lib.sh"

# every command's --help exits 0 and prints usage on stdout
for c in "" keygen init "member" "member add" "member remove" "member list" "env" "env add" \
  "app" "app add" set list reveal delete lint rekey render run audit "audit verify" age; do
  # shellcheck disable=SC2086
  os $c --help
  expect_rc 0 "orgsecrets $c --help"
  case "$OUT" in *usage*|*Usage*) pass ;; *) fail "orgsecrets $c --help prints no usage" ;; esac
done
os frobnicate
expect_rc 2 "unknown command is a usage error"
os set --bogus-flag
expect_rc 2 "unknown option is a usage error"
expect_err "orgsecrets: " "error line starts with orgsecrets:"

# keygen: 0600 file, 0700 parent, public key on stdout, no overwrite
os keygen -o "$TMP/newdir/sub/id"
expect_rc 0 "keygen"
check "keygen prints an age1 public key" test "${OUT#age1}" != "$OUT"
check "identity mode 0600" test "$(stat -c %a "$TMP/newdir/sub/id")" = 600
check "parent mode 0700" test "$(stat -c %a "$TMP/newdir/sub")" = 700
check "public key matches the file" grep -qF "$OUT" "$TMP/newdir/sub/id"
before=$(sha256sum "$TMP/newdir/sub/id")
os keygen -o "$TMP/newdir/sub/id"
expect_rc 1 "keygen refuses to overwrite"
check "identity unchanged" test "$(sha256sum "$TMP/newdir/sub/id")" = "$before"
HOME=$TMP/h2 os keygen
check "keygen default path" test -f "$TMP/h2/.config/orgsecrets/identity"

setup_org
os init --org acme
expect_rc 1 "init refuses an existing organization"
os init --org Not_A_Label --dir "$TMP/other"
expect_rc 1 "init refuses an invalid id"

# one option parser: "-xVALUE" and "--name=VALUE" everywhere, global options
# before or after the command, -i before `age` reaches age decrypt
os list -ojson
expect_rc 0 "list -ojson"
check "-ojson is -o json" python3 -c 'import json,sys; json.loads(sys.argv[1])' "$OUT"
os --dir="$TMP/nowhere" list --dir "$TMP/org"
expect_rc 0 "a global option after the command wins over one before it"
os list --output=yaml
expect_rc 2 "a bad value of --output=... is a usage error"
printf %s "$(new_value)" | "$OS_BIN" age encrypt -r "$(pubkey keys/bob)" -o "$TMP/bob.age" 2>>"$LOG"
ORGSECRETS_IDENTITY=$TMP/keys/vic secret_out "$TMP/o" -i keys/bob age decrypt "$TMP/bob.age"
expect_rc 0 "-i before age is age decrypt's identity"
ORGSECRETS_IDENTITY=$TMP/keys/bob secret_out "$TMP/o" age decrypt "$TMP/bob.age"
expect_rc 0 "ORGSECRETS_IDENTITY is age decrypt's default identity"
ORGSECRETS_IDENTITY=$TMP/keys/bob secret_out "$TMP/o" age decrypt -i keys/vic "$TMP/bob.age"
expect_rc 1 "age decrypt's own -i replaces the default"
os age encrypt --bogus
expect_rc 2 "age's unknown option is a usage error, as everywhere"

# member checks
os member add x@example.com --role member
expect_rc 1 "a member needs a recipient"
os member add x@example.com --role member --recipient age1notakey
expect_rc 1 "an invalid recipient is refused"
os member add bob@example.com --role member --recipient "$(pubkey keys/carol)"
expect_rc 1 "duplicate member refused"
os member add eve@example.com --role admin --recipient "$(pubkey keys/carol)" --as bob@example.com
expect_rc 1 "a member cannot add members"
expect_err "permission denied" "role error names the permission"
os member list -o json
expect_rc 0 "member list json"
check "member list json parses" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d)==3' "$OUT"

# set / list / reveal, byte exact
V1=$(new_value)
os_in "$V1" set DATABASE_PASSWORD --env prod --description "main database"
expect_rc 0 "set from stdin"
check "one file per secret" test -f org/secrets/prod/DATABASE_PASSWORD.yaml
secret_out "$TMP/r1" reveal DATABASE_PASSWORD --env prod
expect_rc 0 "reveal"
check "reveal is byte-exact" test "$(cat "$TMP/r1")" = "$V1"
check "reveal adds no newline" test "$(wc -c <"$TMP/r1")" -eq "${#V1}"

V2=$(new_value)
printf '%s\n\n' "$V2" >"$TMP/v2file"
os set MULTILINE_SETTING --env prod --from-file "$TMP/v2file"
secret_out "$TMP/r2" reveal MULTILINE_SETTING --env prod
check "from-file keeps trailing newlines" cmp -s "$TMP/r2" "$TMP/v2file"

head -c 300 /dev/urandom >"$TMP/bin"
os set BINARY_BLOB --env prod --from-file "$TMP/bin"
secret_out "$TMP/r3" reveal BINARY_BLOB --env prod
check "binary values round-trip" cmp -s "$TMP/r3" "$TMP/bin"

os set GENERATED_TOKEN --env prod --generate --length 40
expect_rc 0 "set --generate"
secret_out "$TMP/r4" reveal GENERATED_TOKEN --env prod
remember_value "$(cat "$TMP/r4")"
check "generated length 40" test "$(wc -c <"$TMP/r4")" -eq 40
check "generated alphabet" grep -qE '^[A-Za-z0-9_-]{40}$' "$TMP/r4"

# list: columns, no values, works without any identity
ORGSECRETS_IDENTITY=/nonexistent os list
expect_rc 0 "list without identity"
check "list header" grep -qE '^NAME +ENV +APP +STATUS +UPDATED +CREATED-BY +ROTATED$' <<<"$(head -1 <<<"$OUT")"
expect_out "DATABASE_PASSWORD" "list shows the name"
os list --env prod -o json
check "list json" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert {x["name"] for x in d} >= {"DATABASE_PASSWORD","GENERATED_TOKEN"}; assert all("value" not in x for x in d)' "$OUT"

# same value again: nothing changes at all
s1=$(tree_sum org)
os_in "$V1" set DATABASE_PASSWORD --env prod
expect_rc 0 "set same value"
check "same value changes no file" test "$(tree_sum org)" = "$s1"
# new value: only that file changes, createdAt kept, updatedBy moves
created=$(grep createdAt org/secrets/prod/DATABASE_PASSWORD.yaml)
V3=$(new_value)
cp -r org "$TMP/org-before"
os_in "$V3" set DATABASE_PASSWORD --env prod --as bob@example.com -i keys/bob
expect_rc 0 "member updates a value"
changed=$(diff -rq "$TMP/org-before" org | wc -l)
check "exactly one file changed (got $changed)" test "$changed" -eq 1
check "createdAt kept" grep -qF "$created" org/secrets/prod/DATABASE_PASSWORD.yaml
check "updatedBy is bob" grep -q 'updatedBy: bob@example.com' org/secrets/prod/DATABASE_PASSWORD.yaml
check "description kept" grep -q 'main database' org/secrets/prod/DATABASE_PASSWORD.yaml
rm -rf "$TMP/org-before"
# state only: no stdin read, ciphertext kept
ct=$(sed -n '/encryptedValue/,$p' org/secrets/prod/DATABASE_PASSWORD.yaml)
os set DATABASE_PASSWORD --env prod --disable </dev/null
expect_rc 0 "disable"
check "disable keeps the ciphertext" test "$(sed -n '/encryptedValue/,$p' org/secrets/prod/DATABASE_PASSWORD.yaml)" = "$ct"
os list --env prod
check "list shows disabled" grep -qE '^DATABASE_PASSWORD +prod +- +disabled' <<<"$OUT"
os set DATABASE_PASSWORD --env prod --enable </dev/null
os list --env prod
check "list shows active again" grep -qE '^DATABASE_PASSWORD +prod +- +active' <<<"$OUT"

# The metadata timeline, on a clock fixed by ORGSECRETS_NOW: createdAt is
# set once, updatedAt moves on every change, rotatedAt only when the value
# changes, and setting the same value again changes no byte.
F=org/secrets/prod/BILLING_API_KEY.yaml
times() { printf '%s %s %s' "$(spec_field $F createdAt)" "$(spec_field $F updatedAt)" "$(spec_field $F rotatedAt)"; }
T1=2024-01-10T08:00:00Z T2=2024-02-11T09:30:00Z T3=2024-03-12T10:00:00Z T4=2024-04-13T11:00:00Z
T5=2024-05-14T12:00:00Z T6=2024-06-15T13:00:00Z T7=2024-07-16T14:00:00Z T8=2024-08-17T15:00:00Z
VA=$(new_value)
ORGSECRETS_NOW=$T1 os_in "$VA" set BILLING_API_KEY --env prod --description billing
expect_rc 0 "timeline: create"
check "timeline: a new secret has createdAt = updatedAt = rotatedAt = now" test "$(times)" = "$T1 $T1 $T1"
check "timeline: createdBy and updatedBy are the creator" test "$(spec_field $F createdBy) $(spec_field $F updatedBy)" = "alice@example.com alice@example.com"
cp $F "$TMP/t1.yaml"
ORGSECRETS_NOW=$T2 os_in "$VA" set BILLING_API_KEY --env prod
expect_rc 0 "timeline: the same value again"
expect_err "prod/BILLING_API_KEY unchanged" "timeline: the same value is reported unchanged"
check "timeline: the same value leaves the file byte for byte" cmp -s $F "$TMP/t1.yaml"
ORGSECRETS_NOW=$T2 os set BILLING_API_KEY --env prod --description billing --keep-value </dev/null
check "timeline: the same description leaves the file byte for byte" cmp -s $F "$TMP/t1.yaml"
VB=$(new_value)
cp -r org "$TMP/org-before"
ORGSECRETS_NOW=$T3 os_in "$VB" set BILLING_API_KEY --env prod --as bob@example.com -i keys/bob
expect_rc 0 "timeline: a new value"
check "timeline: a new value moves updatedAt and rotatedAt, not createdAt" test "$(times)" = "$T1 $T3 $T3"
check "timeline: updatedBy is who changed it, createdBy stays" test "$(spec_field $F createdBy) $(spec_field $F updatedBy)" = "alice@example.com bob@example.com"
check "timeline: a new value changes exactly one file" test "$(diff -rq "$TMP/org-before" org | wc -l)" -eq 1
rm -rf "$TMP/org-before"
ct=$(sed -n '/encryptedValue/,$p' $F)
ORGSECRETS_NOW=$T4 os set BILLING_API_KEY --env prod --description "billing v2" --keep-value </dev/null
expect_rc 0 "timeline: a description change"
check "timeline: a description change moves updatedAt only" test "$(times)" = "$T1 $T4 $T3"
check "timeline: a description change keeps the ciphertext" test "$(sed -n '/encryptedValue/,$p' $F)" = "$ct"
ORGSECRETS_NOW=$T5 os set BILLING_API_KEY --env prod --disable </dev/null
check "timeline: disabling moves updatedAt only" test "$(times)" = "$T1 $T5 $T3"
ORGSECRETS_NOW=$T6 os set BILLING_API_KEY --env prod --visible-to-viewers --keep-value </dev/null
check "timeline: re-sealing for viewers moves updatedAt only" test "$(times)" = "$T1 $T6 $T3"
check "timeline: ... and changes the ciphertext" test "$(sed -n '/encryptedValue/,$p' $F)" != "$ct"
ORGSECRETS_NOW=$T7 os_in "$VB" set BILLING_API_KEY --env prod --enable
check "timeline: enabling with the same value moves updatedAt only" test "$(times)" = "$T1 $T7 $T3"
ORGSECRETS_NOW=$T8 os set BILLING_API_KEY --env prod --generate
check "timeline: a generated value moves updatedAt and rotatedAt" test "$(times)" = "$T1 $T8 $T8"
os set BILLING_API_KEY --env prod --generate
check "timeline: without ORGSECRETS_NOW the real clock is used" test "$(spec_field $F rotatedAt)" \> "2025-01-01T00:00:00Z"
ORGSECRETS_NOW=2024-02-30T00:00:00Z os list
expect_rc 1 "an impossible ORGSECRETS_NOW is refused"
expect_err "ORGSECRETS_NOW" "the refusal names the variable"

# bad values and names
s1=$(tree_sum org)
os_in "" set EMPTY_VALUE --env prod
expect_rc 1 "empty value refused"
expect_err "empty value" "empty value message"
head -c 262145 /dev/zero | tr '\0' a >"$TMP/big"
os set BIG_VALUE --env prod --from-file "$TMP/big"
expect_rc 1 "value over 256 KiB refused"
os_in "x" set lower_case --env prod
expect_rc 1 "invalid name refused"
expect_err "lower_case" "error names the bad name"
os_in "x" set GOOD_NAME --env nowhere
expect_rc 1 "unknown environment refused"
os_in "x" set GOOD_NAME --env prod --app nowhere
expect_rc 1 "unknown application refused"
os_in "x" set GOOD_NAME --env prod --as vic@example.com
expect_rc 1 "a viewer cannot set"
os_in "x" set GOOD_NAME --env prod --as stranger@example.com
expect_rc 1 "a non-member cannot set"
check "failed commands left every file as it was" test "$(tree_sum org)" = "$s1"

# delete
os delete GENERATED_TOKEN --env prod </dev/null
expect_rc 1 "delete without terminal and without --yes refuses"
check "file still there" test -f org/secrets/prod/GENERATED_TOKEN.yaml
os delete GENERATED_TOKEN --env prod --yes --as bob@example.com
expect_rc 1 "a member cannot delete"
os delete GENERATED_TOKEN --env prod --yes
expect_rc 0 "admin deletes"
check "file removed" test ! -e org/secrets/prod/GENERATED_TOKEN.yaml
os reveal GENERATED_TOKEN --env prod
expect_rc 1 "deleted secret is gone"

# --as from git config
git init -q "$TMP/org" 2>/dev/null
git -C "$TMP/org" config user.email bob@example.com
V4=$(new_value)
ORGSECRETS_USER= os_in "$V4" set FROM_GIT_AUTHOR --env dev -i keys/bob
expect_rc 0 "author from git config"
check "createdBy from git" grep -q 'createdBy: bob@example.com' org/secrets/dev/FROM_GIT_AUTHOR.yaml
