#!/usr/bin/env bash
# history NAME and reveal NAME --at REV on a real Git history of several
# commits: who changed what (value, description, state, re-seal), newest
# first, and past values opened again.
. "$(dirname "$0")/lib.sh"
setup_org
export ORGSECRETS_ENV=prod
git init -q org
commit() { # commit MESSAGE AUTHOR-EMAIL
  git -C org add -A >>"$LOG" 2>&1
  git -C org -c user.name=Tester -c "user.email=$2" commit -qm "$1" >>"$LOG" 2>&1 || fail "commit $1"
}
commit "organization" alice@example.com
V1=$(new_value) V2=$(new_value) V3=$(new_value)
ORGSECRETS_NOW=2024-01-01T00:00:00Z os_in "$V1" set STRIPE_KEY --description "payments"
commit "add STRIPE_KEY" alice@example.com
ORGSECRETS_NOW=2024-02-01T00:00:00Z os_in "$V2" set STRIPE_KEY --as bob@example.com
commit "rotate STRIPE_KEY" bob@example.com
ORGSECRETS_NOW=2024-03-01T00:00:00Z os set STRIPE_KEY --description "payments (live)" --keep-value
commit "describe STRIPE_KEY" alice@example.com
ORGSECRETS_NOW=2024-04-01T00:00:00Z os set STRIPE_KEY --disable
commit "disable STRIPE_KEY" alice@example.com
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
ORGSECRETS_NOW=2024-05-01T00:00:00Z os rekey --yes
commit "carol joins" alice@example.com
printf %s "$V3" >"$TMP/v3"
ORGSECRETS_NOW=2024-06-01T00:00:00Z os set STRIPE_KEY --enable --from-file "$TMP/v3"
# uncommitted: not history yet
os history STRIPE_KEY
expect_rc 0 "history"
expect_err "environment prod (ORGSECRETS_ENV)" "history names the defaulted environment"
expect_err "secrets/prod/STRIPE_KEY.yaml has uncommitted changes, which are not part of the history" "uncommitted changes are noted"
check "history header" grep -qE '^DATE +COMMIT +BY +CHANGES +SUBJECT$' <<<"$(head -1 <<<"$OUT")"
rows=$(tail -n +2 <<<"$OUT")
check "five commits changed it" test "$(wc -l <<<"$rows")" -eq 5
check "newest first: the re-seal" grep -qE 'alice@example.com +resealed +carol joins$' <<<"$(sed -n 1p <<<"$rows")"
check "then the state" grep -qE 'alice@example.com +state +disable STRIPE_KEY$' <<<"$(sed -n 2p <<<"$rows")"
check "then the description" grep -qE 'alice@example.com +description +describe STRIPE_KEY$' <<<"$(sed -n 3p <<<"$rows")"
check "then bob's new value" grep -qE 'bob@example.com +value +rotate STRIPE_KEY$' <<<"$(sed -n 4p <<<"$rows")"
check "created first" grep -qE 'alice@example.com +created +add STRIPE_KEY$' <<<"$(sed -n 5p <<<"$rows")"
commit "enable STRIPE_KEY" alice@example.com
os history STRIPE_KEY -o json
expect_rc 0 "history -o json"
check "history json" python3 -c '
import json,sys
d=json.loads(sys.argv[1])
assert [e["subject"] for e in d][:2] == ["enable STRIPE_KEY", "carol joins"], d
assert d[0]["changes"] == ["value", "state"], d[0]
assert d[-1]["changes"] == ["created"] and d[-1]["by"] == "alice@example.com", d[-1]
assert d[-2]["author"] == "Tester <bob@example.com>" and d[-2]["by"] == "bob@example.com", d[-2]
assert all(len(e["commit"]) == 40 for e in d)
assert all(set(e) == {"commit", "date", "author", "by", "subject", "changes"} for e in d), d' "$OUT"

# reveal --at: every past value, from a commit id, a tag or HEAD~N
first=$(git -C org log --format=%H --reverse -- secrets/prod/STRIPE_KEY.yaml | head -1)
secret_out "$TMP/v" reveal STRIPE_KEY --at "$first"
expect_rc 0 "reveal --at the first commit"
check "the first value" test "$(cat "$TMP/v")" = "$V1"
expect_err "prod/STRIPE_KEY as of $first (updated 2024-01-01T00:00:00Z by alice@example.com)" "says which version"
git -C org tag before-disable HEAD~3
secret_out "$TMP/v" reveal STRIPE_KEY --at before-disable
check "a tag: bob's value" test "$(cat "$TMP/v")" = "$V2"
secret_out "$TMP/v" reveal STRIPE_KEY --at HEAD
check "HEAD: the newest value" test "$(cat "$TMP/v")" = "$V3"
# undo a bad update: the old value set again
secret_out "$TMP/v" reveal STRIPE_KEY --at "$first"
"$OS_BIN" set STRIPE_KEY --from-file "$TMP/v" >>"$LOG" 2>&1
secret_out "$TMP/v2" reveal STRIPE_KEY
check "restored from the past" test "$(cat "$TMP/v2")" = "$V1"
commit "restore STRIPE_KEY" alice@example.com
# carol was not a recipient in the first version
ORGSECRETS_IDENTITY=$TMP/keys/carol secret_out "$TMP/v" reveal STRIPE_KEY --at "$first" --as carol@example.com
expect_rc 1 "carol cannot open a version sealed before she joined"
expect_err "not a recipient" "says not a recipient"
secret_out "$TMP/v" reveal STRIPE_KEY --at no-such-rev
expect_rc 1 "an unknown revision"
expect_err "unknown revision no-such-rev" "names the revision"
secret_out "$TMP/v" reveal STRIPE_KEY --at "$(git -C org rev-list --max-parents=0 HEAD)"
expect_rc 1 "a commit before the secret existed"
expect_err "prod/STRIPE_KEY did not exist at" "says it did not exist"
ORGSECRETS_IDENTITY=$TMP/keys/vic secret_out "$TMP/v" reveal STRIPE_KEY --at HEAD --as vic@example.com
expect_rc 1 "a viewer cannot reveal a past hidden value either"
expect_err "permission denied: vic@example.com is a viewer" "the viewer rule applies to the past"
os history NO_SUCH_SECRET
expect_rc 1 "history of an unknown secret"
expect_err "no such secret" "says so"
os history lower
expect_rc 1 "history of an invalid name"
# deleted secrets keep their history
os delete STRIPE_KEY --yes
commit "delete STRIPE_KEY" alice@example.com
os history STRIPE_KEY
expect_rc 0 "history of a deleted secret"
check "the deletion is the newest entry" grep -qE ' deleted +delete STRIPE_KEY$' <<<"$(sed -n 2p <<<"$OUT")"
secret_out "$TMP/v" reveal STRIPE_KEY --at HEAD~1
check "a deleted secret's last value" test "$(cat "$TMP/v")" = "$V1"
# outside Git
mkdir -p "$TMP/nogit" && cp org/organization.yaml "$TMP/nogit/"
ORGSECRETS_DIR=$TMP/nogit os history STRIPE_KEY
expect_rc 1 "history outside Git"
expect_err "is not in a Git checkout with commits: the history comes from Git" "says why"
