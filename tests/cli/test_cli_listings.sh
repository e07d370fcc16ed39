#!/usr/bin/env bash
# list's ROTATED column and filters (--env all, --app, --status, -o wide),
# the rotation policy (org set --rotation-days, set --rotation-days) as lint
# warnings and lint --strict, and the documented -o json fields of list,
# lint, rekey --dry-run and member list, on a fixed clock.
. "$(dirname "$0")/lib.sh"
setup_org # organization policy: 90 days
ORGSECRETS_NOW=2024-01-01T00:00:00Z os_in "$(new_value)" set OLD_API_TOKEN --env prod --description "old one"
ORGSECRETS_NOW=2024-03-01T00:00:00Z os_in "$(new_value)" set NEW_API_TOKEN --env prod --rotation-days 10 --visible-to-viewers
ORGSECRETS_NOW=2024-03-01T00:00:00Z os_in "$(new_value)" set WEB_SESSION_KEY --env dev --app web --disable
expect_rc 0 "setup"
check "the secret's own policy is in its file" test "$(spec_field org/secrets/prod/NEW_API_TOKEN.yaml rotationDays)" = 10
export ORGSECRETS_NOW=2024-04-15T00:00:00Z

# ---- list: ROTATED, filters, wide ----
os list --env all
expect_rc 0 "list --env all"
check "header" grep -qE '^NAME +ENV +APP +STATUS +UPDATED +CREATED-BY +ROTATED$' <<<"$(head -1 <<<"$OUT")"
check "within the policy: days, no mark" grep -qE '^WEB_SESSION_KEY +dev +web +disabled +2024-03-01T00:00:00Z +alice@example.com +45d$' <<<"$OUT"
check "past its own 10-day policy: marked" grep -qE '^NEW_API_TOKEN +prod +- +active .* 45d!$' <<<"$OUT"
check "past the organization's 90 days: marked" grep -qE '^OLD_API_TOKEN +prod .* 105d!$' <<<"$OUT"
os list --env all --status disabled
check "--status disabled" test "$(tail -n +2 <<<"$OUT" | cut -d' ' -f1)" = WEB_SESSION_KEY
os list --env all --status active
check "--status active" test "$(tail -n +2 <<<"$OUT" | cut -d' ' -f1 | tr '\n' ' ')" = "NEW_API_TOKEN OLD_API_TOKEN "
os list --env all --status bogus
expect_rc 2 "an unknown --status"
expect_err "unknown --status bogus (active, disabled, conflict, invalid)" "the statuses are listed"
os list --env all --app web
check "--app web" test "$(tail -n +2 <<<"$OUT" | cut -d' ' -f1)" = WEB_SESSION_KEY
os list --env all --app -
check "--app - : organization-level only" test "$(tail -n +2 <<<"$OUT" | cut -d' ' -f1 | tr '\n' ' ')" = "NEW_API_TOKEN OLD_API_TOKEN "
os list --env all --app nope
expect_rc 1 "an unknown --app"
expect_err "application nope is not defined in organization acme" "the application is named"
os list --env prod
check "--env prod" test "$(tail -n +2 <<<"$OUT" | wc -l)" -eq 2
os list --env all -o wide
expect_rc 0 "list -o wide"
check "wide header" grep -qE '^NAME .* ROTATED +READ-BY +DESCRIPTION$' <<<"$(head -1 <<<"$OUT")"
check "wide: readers and description" grep -qE '^OLD_API_TOKEN .* 105d! +admin,member +old one$' <<<"$OUT"
check "wide: viewers read a visible secret" grep -qE '^NEW_API_TOKEN .* admin,member,viewer +-$' <<<"$OUT"
os list --env all -o json
expect_rc 0 "list -o json"
check "list -o json fields" python3 -c '
import json,sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])}
fields = {"name", "environment", "application", "status", "description", "visibleToViewers",
          "createdBy", "createdAt", "updatedBy", "updatedAt", "rotatedAt", "rotationDays",
          "rotationAge", "rotationOverdue", "readers"}
for r in rows.values():
    assert set(r) == fields, sorted(r)
n, o, w = rows["NEW_API_TOKEN"], rows["OLD_API_TOKEN"], rows["WEB_SESSION_KEY"]
assert (n["rotationDays"], n["rotationAge"], n["rotationOverdue"]) == (10, 45, True), n
assert (o["rotationDays"], o["rotationAge"], o["rotationOverdue"]) == (90, 105, True), o
assert (w["rotationDays"], w["rotationOverdue"], w["status"], w["application"]) == (90, False, "disabled", "web"), w
assert n["readers"] == ["admin", "member", "viewer"] and o["readers"] == ["admin", "member"]
assert o["description"] == "old one" and o["rotatedAt"] == "2024-01-01T00:00:00Z"' "$OUT"
os list --env all -o yaml
expect_rc 2 "an unknown format"

# ---- lint: overdue values are warnings; --strict fails on them ----
os lint
expect_rc 0 "warnings alone exit 0"
expect_out "secrets/prod/NEW_API_TOKEN.yaml:1: warning: prod/NEW_API_TOKEN: value last rotated 45 days ago (2024-03-01T00:00:00Z), older than the rotation policy of 10 days (the secret's own)" "the secret's own policy"
expect_out "secrets/prod/OLD_API_TOKEN.yaml:1: warning: prod/OLD_API_TOKEN: value last rotated 105 days ago" "the organization's policy"
check "a value within the policy is not reported" test -z "$(grep WEB_SESSION_KEY <<<"$OUT")"
os lint --strict
expect_rc 1 "lint --strict fails on warnings"
expect_err "0 error(s), 2 warning(s) (--strict: warnings fail)" "--strict says why"
os lint -o json
expect_rc 0 "lint -o json"
check "lint -o json fields" python3 -c '
import json,sys
d = json.loads(sys.argv[1])
assert set(d) == {"errors", "warnings", "findings"} and (d["errors"], d["warnings"]) == (0, 2), d
for f in d["findings"]:
    assert set(f) == {"severity", "code", "object", "file", "line", "message", "fix"}, f
    assert (f["severity"], f["code"], f["line"]) == ("warning", "rotation", 1), f
assert sorted(f["object"] for f in d["findings"]) == ["prod/NEW_API_TOKEN", "prod/OLD_API_TOKEN"]
assert {f["file"] for f in d["findings"]} == {"secrets/prod/NEW_API_TOKEN.yaml", "secrets/prod/OLD_API_TOKEN.yaml"}' "$OUT"
# the organization's policy after init
os org set --rotation-days 120
expect_rc 0 "org set --rotation-days 120"
os lint --strict
expect_rc 1 "the secret's own policy still applies"
check "OLD_API_TOKEN is within 120 days" test -z "$(grep OLD_API_TOKEN <<<"$OUT")"
os_in "$(new_value)" set NEW_API_TOKEN --env prod
os lint --strict
expect_rc 0 "lint --strict passes once nothing is overdue"
os org set --rotation-days 0
os list --env all -o json
check "no policy: rotationDays null, never overdue" python3 -c '
import json,sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])}
assert rows["OLD_API_TOKEN"]["rotationDays"] is None and rows["OLD_API_TOKEN"]["rotationOverdue"] is False, rows
assert rows["NEW_API_TOKEN"]["rotationDays"] == 10' "$OUT"
os_in "$(new_value)" set OLD_API_TOKEN --env prod --rotation-days -3
expect_rc 2 "a negative per-secret policy"
# create and update take the same per-secret policy; update needs no value for it
os_in "$(new_value)" create BILLING_API_TOKEN --env prod --rotation-days 30
expect_rc 0 "create --rotation-days 30"
check "create writes the secret's own policy" test "$(spec_field org/secrets/prod/BILLING_API_TOKEN.yaml rotationDays)" = 30
before=$(sed -n '/BEGIN AGE/,/END AGE/p' org/secrets/prod/BILLING_API_TOKEN.yaml | sha256sum)
os update BILLING_API_TOKEN --env prod --rotation-days 7 </dev/null
expect_rc 0 "update --rotation-days 7, no value given"
check "update changes the policy" test "$(spec_field org/secrets/prod/BILLING_API_TOKEN.yaml rotationDays)" = 7
check "update --rotation-days alone keeps the ciphertext" test "$(sed -n '/BEGIN AGE/,/END AGE/p' org/secrets/prod/BILLING_API_TOKEN.yaml | sha256sum)" = "$before"
os update BILLING_API_TOKEN --env prod --rotation-days org </dev/null
expect_rc 0 "update --rotation-days org"
check "org: the secret's own policy removed" test -z "$(spec_field org/secrets/prod/BILLING_API_TOKEN.yaml rotationDays)"
os delete BILLING_API_TOKEN --env prod --yes

# ---- member list, rekey --dry-run ----
os member list -o json
expect_rc 0 "member list -o json"
check "member list -o json fields" python3 -c '
import json,sys
d = json.loads(sys.argv[1])
assert [set(m) for m in d] == [{"name", "role", "recipient"}] * 3, d
assert [(m["name"], m["role"]) for m in d] == [("alice@example.com", "admin"), ("bob@example.com", "member"), ("vic@example.com", "viewer")], d
assert d[0]["recipient"].startswith("age1")' "$OUT"
os member update vic@example.com --recipient ''
os member list -o json
check "a viewer without a key: recipient null" python3 -c '
import json,sys
d = {m["name"]: m for m in json.loads(sys.argv[1])}
assert d["vic@example.com"] == {"name": "vic@example.com", "role": "viewer", "recipient": None}, d' "$OUT"
os member update vic@example.com --recipient "$(pubkey keys/vic)"
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
os member remove bob@example.com
before=$(tree_sum org)
os rekey --dry-run -o json
expect_rc 0 "rekey --dry-run -o json"
check "rekey --dry-run wrote nothing" test "$(tree_sum org)" = "$before"
check "rekey --dry-run -o json fields" python3 -c '
import json,sys
d = json.loads(sys.argv[1])
assert set(d) == {"reseal", "widened", "grants", "secrets"}, d
assert (d["reseal"], d["widened"], d["grants"]) == (3, 3, 3), d
for s in d["secrets"]:
    assert set(s) == {"environment", "application", "name", "file", "gains", "losses"}, s
    assert [g["who"] for g in s["gains"]] == ["carol@example.com (member)"], s
    assert set(s["gains"][0]) == {"fingerprint", "who", "asViewer"} and s["gains"][0]["asViewer"] is False
    assert [set(l) for l in s["losses"]] == [{"fingerprint", "who"}], s
    assert s["losses"][0]["who"] == "key " + s["losses"][0]["fingerprint"], s  # bob, outside Git
w = [s for s in d["secrets"] if s["name"] == "WEB_SESSION_KEY"][0]
assert (w["environment"], w["application"]) == ("dev", "web") and w["file"].startswith("secrets/dev/") and w["file"].endswith("/WEB_SESSION_KEY.yaml"), w' "$OUT"
os rekey -o json
expect_rc 2 "-o json without --dry-run"
expect_err "rekey: -o json needs --dry-run" "says so"
os rekey --yes
os rekey --dry-run -o json
check "nothing left to re-seal" python3 -c '
import json,sys
d = json.loads(sys.argv[1]); assert d == {"reseal": 0, "widened": 0, "grants": 0, "secrets": []}, d' "$OUT"
