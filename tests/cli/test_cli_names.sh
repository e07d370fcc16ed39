#!/usr/bin/env bash
# create, update and set; names per application (--app) and what commands
# without it say; reserved names; lint's naming advice at create time;
# disabled secrets in reveal and run; run's warnings about references that
# name no active secret, and --strict.
. "$(dirname "$0")/lib.sh"
setup_org
export ORGSECRETS_NOW=2026-03-04T05:06:07Z

# ---- create / update / set ----
V1=$(new_value)
os_in "$V1" create BILLING_API_KEY --env prod --description "charges"
expect_rc 0 "create"
os_in "$(new_value)" create BILLING_API_KEY --env prod
expect_rc 1 "create refuses an existing name"
expect_err "already exists in prod (created by alice@example.com on 2026-03-04T05:06:07Z); use update" \
  "and says who created it, when, and what to use"
os_in "$(new_value)" update MISSING_API_KEY --env prod
expect_rc 1 "update refuses a missing name"
expect_err "use create" "and says what to use"
check "update of a missing name writes nothing" test ! -e org/secrets/prod/MISSING_API_KEY.yaml
rot=$(grep rotatedAt org/secrets/prod/BILLING_API_KEY.yaml)
os_in "$(new_value)" update BILLING_API_KEY --env prod --description "charges customers"
expect_rc 0 "update --description alone"
check "the description changed" grep -q 'description: charges customers' org/secrets/prod/BILLING_API_KEY.yaml
check "the value did not (stdin is not read for a description)" grep -qF "$rot" org/secrets/prod/BILLING_API_KEY.yaml
secret_out "$TMP/v" reveal BILLING_API_KEY --env prod
check "the value is the first one" test "$(cat "$TMP/v")" = "$V1"
V2=$(new_value)
os_in "$V2" set BILLING_API_KEY --env prod --as bob@example.com -i keys/bob
expect_rc 0 "set overwrites"
expect_err "replaced the value last set by alice@example.com" "and says whose value it replaced"
V3=$(new_value)
os_in "$V3" set BILLING_API_KEY --env prod --as bob@example.com -i keys/bob
check "no such note for one's own value" test -z "$(grep 'replaced the value' <<<"$ERR")"

# ---- names ----
os_in "$(new_value)" create PASSWORD --env prod
expect_rc 0 "a vague name is allowed"
expect_err "warning: prod/PASSWORD: vague name" "create prints lint's naming advice"
os_in "$(new_value)" set API_KEY_DEV --env prod
expect_err "the suffix _DEV contradicts environment prod" "set prints the environment-suffix advice"
for n in PATH HOME SHELL IFS LD_PRELOAD LD_AUDIT NAME_ENDING_; do
  os_in "$(new_value)" create "$n" --env prod
  expect_rc 1 "$n refused"
  expect_err "--allow-reserved-name" "$n: the refusal names the way out"
  check "$n: nothing written" test ! -e "org/secrets/prod/$n.yaml"
done
os_in "$(new_value)" create SHELL --env dev --allow-reserved-name
expect_rc 0 "--allow-reserved-name allows it"

# ---- names per application ----
V_ORG=$(new_value)
V_WEB=$(new_value)
os_in "$V_WEB" create DATABASE_URL --env prod --app web
expect_rc 0 "an application's secret"
check "in the application's folder" grep -q '^  name: acme.prod.web.database-url$' org/secrets/prod/web/DATABASE_URL.yaml
secret_out "$TMP/v" reveal DATABASE_URL --env prod
expect_rc 1 "without --app there is no organization-level one"
expect_err "application web has one (pass --app APP)" "and it says where one is"
os_in "$V_ORG" create DATABASE_URL --env prod
expect_rc 0 "the same name at the organization level"
expect_err "application web has its own secret of that name" "create says an application has its own"
secret_out "$TMP/v" reveal DATABASE_URL --env prod
check "reveal without --app: the organization's" test "$(cat "$TMP/v")" = "$V_ORG"
expect_err "application web has its own" "reveal says an application has its own"
secret_out "$TMP/v" reveal DATABASE_URL --env prod --app web
check "reveal --app web: web's" test "$(cat "$TMP/v")" = "$V_WEB"
secret_out "$TMP/env" run --env prod --app web -- env
check "run --app web: web's wins" grep -qxF "DATABASE_URL=$V_WEB" "$TMP/env"
secret_out "$TMP/env" run --env prod -- env
check "run without --app: the organization's" grep -qxF "DATABASE_URL=$V_ORG" "$TMP/env"
secret_out "$TMP/env" render --env prod --app web --format env
check "render --app web: web's" grep -qxF "DATABASE_URL=$V_WEB" "$TMP/env"
os list --env prod
check "list shows both" test "$(grep -cE '^DATABASE_URL +prod +(-|web) +active ' <<<"$OUT")" -eq 2
os delete DATABASE_URL --env prod --yes
expect_rc 0 "delete without --app"
expect_err "application web has its own" "delete says an application has its own"
check "the organization's is gone" test ! -e org/secrets/prod/DATABASE_URL.yaml
check "web's stays" test -e org/secrets/prod/web/DATABASE_URL.yaml

# ---- disabled secrets: reveal, run ----
V_OFF=$(new_value)
os_in "$V_OFF" create OLD_WEBHOOK_TOKEN --env prod --disable
secret_out "$TMP/v" reveal OLD_WEBHOOK_TOKEN --env prod
expect_rc 0 "reveal of a disabled secret"
check "shows the value" test "$(cat "$TMP/v")" = "$V_OFF"
expect_err "disabled" "and says it is disabled"
os list --env prod
check "list STATUS disabled" grep -qE '^OLD_WEBHOOK_TOKEN +prod +- +disabled ' <<<"$OUT"

# ---- run: references that name no active secret ----
TOKEN='$OLD_WEBHOOK_TOKEN' MISSING='x ${NOT_A_SECRET_NAME} y' GOOD='$BILLING_API_KEY' \
  secret_out "$TMP/env" run --env prod -- env
expect_rc 0 "run warns but runs"
expect_err "variable TOKEN refers to \$OLD_WEBHOOK_TOKEN: prod/OLD_WEBHOOK_TOKEN is disabled" "a disabled reference is named"
expect_err "variable MISSING refers to \${NOT_A_SECRET_NAME}: no such secret in prod" "an unknown reference is named"
check "no warning for a resolved reference" test -z "$(grep 'variable GOOD' <<<"$ERR")"
check "the resolved reference is expanded" grep -qxF "GOOD=$V3" "$TMP/env"
check "the unresolved one is left as written" grep -qxF 'MISSING=x ${NOT_A_SECRET_NAME} y' "$TMP/env"
MISSING='${NOT_A_SECRET_NAME}' secret_out "$TMP/ran" run --env prod --strict -- sh -c 'echo ran'
expect_rc 1 "--strict refuses"
check "and runs nothing" test ! -s "$TMP/ran"
expect_err "variable MISSING refers to" "--strict names the reference"
