#!/usr/bin/env bash
# A team in several Git clones of one bare repository: the removal race
# (a member removed on main while another branch creates a secret still
# sealed to them), concurrent edits of different secrets (a clean merge), of
# the same secret (a conflict that stops only that secret), a member who
# joins while a branch is open, and two membership changes at once (a
# conflict in organization.yaml).
. "$(dirname "$0")/lib.sh"
setup_org
for k in erin dave; do os keygen -o "$TMP/keys/$k"; done
os member add erin@example.com --role member --recipient "$(pubkey keys/erin)"
V_DB=$(new_value)
os_in "$V_DB" set DATABASE_PASSWORD --env prod
V_SMTP=$(new_value)
os_in "$V_SMTP" set SMTP_PASSWORD --env prod
[ "$RC" -eq 0 ] || fail "setup: $ERR"

g() { git -C "$@"; }
commit() { { g "$1" add -A && g "$1" commit -qm "$2"; } >>"$LOG" 2>&1; }
g org init -q -b main && g org config user.email alice@example.com && g org config user.name alice
commit org "acme"
git init -q --bare -b main "$TMP/origin.git"
g org remote add origin "$TMP/origin.git" && g org push -q origin main
clone() { # clone DIR MEMBER
  git clone -q "$TMP/origin.git" "$TMP/$1" && g "$TMP/$1" config user.email "$2" &&
    g "$TMP/$1" config user.name "${2%@*}"
}
clone b bob@example.com
# as_b ARGS...: bob's CLI in his clone; as_in DIR WHO ARGS...: anyone's anywhere
as_in() { local d=$1 who=$2; shift 2; os --dir "$TMP/$d" --as "$who@example.com" -i "$TMP/keys/$who" "$@"; }
as_in_input() { local v=$1 d=$2 who=$3; shift 3; os_in "$v" --dir "$TMP/$d" --as "$who@example.com" -i "$TMP/keys/$who" "$@"; }
# reads DIR WHO NAME VALUE DESCRIPTION: WHO's key opens NAME in the clone DIR to VALUE
reads() {
  secret_out "$TMP/.value" --dir "$TMP/$1" -i "$TMP/keys/$2" reveal "$3" --env prod
  check "$5" test "$RC" -eq 0 -a "$(cat "$TMP/.value")" = "$4"
}

# ---- the removal race ----
# alice removes erin on main and re-seals; bob, whose clone still lists
# erin, creates a secret meanwhile: Git merges both without a conflict
os member remove erin@example.com
expect_rc 0 "member remove"
expect_err "must re-seal" "member remove says what must be re-sealed"
os rekey --yes
expect_rc 0 "rekey after the removal"
commit org "erin leaves" && g org push -q origin main
V_PD=$(new_value)
as_in_input "$V_PD" b bob create PAGERDUTY_ROUTING_KEY --env prod
expect_rc 0 "bob creates a secret in his clone"
commit "$TMP/b" "pagerduty"
g "$TMP/b" pull -q --no-rebase --no-edit origin main >>"$LOG" 2>&1
check "git merges the removal and the new secret without a conflict" test $? -eq 0
g "$TMP/b" push -q origin HEAD:main >>"$LOG" 2>&1
check "bob pushes the merge" test $? -eq 0
clone fresh alice@example.com
# erin, in a fresh clone of main, can open the new value: the leak lint must catch
reads fresh erin PAGERDUTY_ROUTING_KEY "$V_PD" "the merged secret is readable by the removed member (what lint reports)"
as_in fresh alice lint
expect_rc 1 "lint fails on main"
check "lint names the secret, the removed member and the fix" grep -qE \
  "^secrets/prod/PAGERDUTY_ROUTING_KEY\.yaml:[0-9]+: error: prod/PAGERDUTY_ROUTING_KEY: sealed to erin@example\.com.*orgsecrets rekey.*rotate" <<<"$OUT"
check "lint reports only that secret" test "$(grep -c ': error: ' <<<"$OUT")" -eq 1
as_in_input "$(new_value)" fresh alice set ANOTHER_SETTING --env prod
expect_rc 1 "set refuses to seal while a value is sealed to an unauthorized key"
expect_err "orgsecrets rekey" "set says to rekey first"
check "nothing was written" test ! -e "$TMP/fresh/secrets/prod/ANOTHER_SETTING.yaml"
as_in fresh alice rekey --dry-run
check "rekey lists the secret as readable by the removed member" grep -qE \
  "^rotate: prod/PAGERDUTY_ROUTING_KEY \(was readable by erin@example\.com" <<<"$OUT"
as_in fresh alice rekey --yes
expect_rc 0 "rekey on main"
expect_err "re-sealed 1 secret(s)" "rekey prints a one-line summary"
as_in fresh alice lint
expect_rc 0 "lint passes after rekey"
secret_out "$TMP/erin2.value" --dir "$TMP/fresh" -i "$TMP/keys/erin" reveal PAGERDUTY_ROUTING_KEY --env prod
check "after rekey the removed member cannot open it" test "$RC" -ne 0
commit "$TMP/fresh" "re-seal after erin left" && g "$TMP/fresh" push -q origin main
g org pull -q --no-rebase --no-edit origin main && g "$TMP/b" pull -q --no-rebase --no-edit origin main

# at_once NAME_A VALUE_A NAME_B VALUE_B: alice sets NAME_A on main and
# pushes; bob, from the same base, sets NAME_B in his clone, commits and
# merges main; returns the merge's status
at_once() {
  os_in "$2" set "$1" --env prod
  commit org "$1 by alice" && g org push -q origin main
  as_in_input "$4" b bob set "$3" --env prod
  commit "$TMP/b" "$3 by bob"
  g "$TMP/b" pull -q --no-rebase --no-edit origin main >>"$LOG" 2>&1
}

# ---- different secrets at once: a clean merge ----
V_A=$(new_value)
V_B=$(new_value)
at_once SMTP_PASSWORD "$V_A" DATABASE_PASSWORD "$V_B"
check "edits of different secrets merge cleanly" test $? -eq 0
as_in b bob lint
expect_rc 0 "lint passes on the merge"
reads b bob SMTP_PASSWORD "$V_A" "alice's value arrived"
reads b bob DATABASE_PASSWORD "$V_B" "bob's value stayed"
g "$TMP/b" push -q origin HEAD:main && g org pull -q --no-rebase --no-edit origin main

# ---- the same secret at once: a conflict that stops only that secret ----
V_A2=$(new_value)
V_B2=$(new_value)
at_once DATABASE_PASSWORD "$V_A2" DATABASE_PASSWORD "$V_B2"
check "the same secret edited twice conflicts" test $? -ne 0
check "the file holds conflict markers" grep -q '^<<<<<<< ' "$TMP/b/secrets/prod/DATABASE_PASSWORD.yaml"
as_in b bob list
expect_rc 0 "list works during the conflict"
check "list shows the secret as conflict" grep -qE "^DATABASE_PASSWORD +prod +- +conflict " <<<"$OUT"
check "list says where" grep -qE "secrets/prod/DATABASE_PASSWORD\.yaml:[0-9]+: conflict" <<<"$ERR"
check "the other secrets are active" grep -qE "^SMTP_PASSWORD +prod +- +active " <<<"$OUT"
reads b bob SMTP_PASSWORD "$V_A" "reveal of another secret works"
secret_out "$TMP/x.value" --dir "$TMP/b" -i "$TMP/keys/bob" reveal DATABASE_PASSWORD --env prod
check "reveal of the conflicted secret fails" test "$RC" -ne 0
expect_err "orgsecrets resolve" "and names the way out"
as_in_input "$(new_value)" b bob set CACHE_PASSWORD --env prod
expect_rc 0 "set of another secret works during the conflict"
rm -f "$TMP/b/secrets/prod/CACHE_PASSWORD.yaml"
as_in b bob lint
expect_rc 1 "lint fails during the conflict"
check "lint reports the conflict once" test "$(grep -c 'DATABASE_PASSWORD' <<<"$OUT")" -eq 1
check "lint reports no plaintext from the ciphertext lines" test "$(grep -c 'plaintext' <<<"$OUT")" -eq 0
as_in b bob resolve DATABASE_PASSWORD --env prod --theirs
expect_rc 0 "resolve --theirs"
check "the markers are gone" test "$(grep -c '^<<<<<<< ' "$TMP/b/secrets/prod/DATABASE_PASSWORD.yaml")" -eq 0
check "resolve staged the file" test -z "$(g "$TMP/b" diff --name-only --diff-filter=U)"
reads b bob DATABASE_PASSWORD "$V_A2" "--theirs keeps alice's value"
g "$TMP/b" commit -qm "merge, keeping alice's value" >>"$LOG" 2>&1
as_in b bob lint
expect_rc 0 "lint passes after resolve"
g "$TMP/b" push -q origin HEAD:main && g org pull -q --no-rebase --no-edit origin main

# ---- a member joins while a branch is open ----
g "$TMP/b" checkout -q -b feature
V_F=$(new_value)
as_in_input "$V_F" b bob create FEATURE_SIGNING_KEY --env prod
commit "$TMP/b" "feature key"
os member add dave@example.com --role member --recipient "$(pubkey keys/dave)"
expect_err "must re-seal" "member add says what must be re-sealed"
os rekey --yes
commit org "dave joins" && g org push -q origin main
g "$TMP/b" pull -q --no-rebase --no-edit origin main >>"$LOG" 2>&1
check "the join merges into the open branch cleanly" test $? -eq 0
as_in b bob lint
expect_rc 0 "a missing new reader is a warning, not an error"
check "lint warns that dave cannot read the branch's secret yet" grep -qE \
  "^secrets/prod/FEATURE_SIGNING_KEY\.yaml:[0-9]+: warning: .*dave@example\.com" <<<"$OUT"
as_in b bob rekey --yes
expect_rc 0 "rekey on the branch"
check "rekey grants dave the new secret" grep -q "^grant: prod/FEATURE_SIGNING_KEY to dave@example.com" <<<"$OUT"
reads b dave FEATURE_SIGNING_KEY "$V_F" "dave reads it after rekey"

# ---- two membership changes at once: a conflict in organization.yaml ----
for k in frank gina; do os keygen -o "$TMP/keys/$k"; done
os member add frank@example.com --role member --recipient "$(pubkey keys/frank)"
os rekey --yes
commit org "frank joins" && g org push -q origin main
as_in b alice member add gina@example.com --role member --recipient "$(pubkey keys/gina)"
commit "$TMP/b" "gina joins"
g "$TMP/b" pull -q --no-rebase --no-edit origin main >>"$LOG" 2>&1
check "two members added at once conflict in organization.yaml" test $? -ne 0
as_in b bob list
expect_rc 1 "nothing works without the organization"
expect_err "organization.yaml:" "the error names the file"
expect_err "orgsecrets resolve FILE --ours|--theirs" "and the way out"
as_in b bob resolve organization.yaml --theirs
expect_rc 0 "resolve organization.yaml --theirs"
as_in b alice member add gina@example.com --role member --recipient "$(pubkey keys/gina)"
expect_rc 0 "the other side's change applied again"
as_in b alice rekey --yes
expect_rc 0 "rekey after the merge"
g "$TMP/b" commit -qam "merge: frank and gina" >>"$LOG" 2>&1
as_in b bob lint
expect_rc 0 "lint passes after the membership merge"
reads b gina FEATURE_SIGNING_KEY "$V_F" "gina reads after the merge"
reads b frank FEATURE_SIGNING_KEY "$V_F" "frank too"

# no value below any clone or the bare repository
for d in org b fresh origin.git; do
  if grep -rqF -f <(grep -v '^$' "$VALUES_FILE") "$TMP/$d"; then fail "a value in plaintext below $d"; else pass; fi
done
