#!/usr/bin/env bash
# The organization found upward from the current directory, the default
# environment (--env, ORGSECRETS_ENV, `env use`, the only one), env/app
# list|remove|use, member update, org set, whoami, and --as ''.
. "$(dirname "$0")/lib.sh"
# the search never leaves this test's folder
export ORGSECRETS_CEILING_DIRECTORIES=$(dirname "$TMP")
# at DIR CMD...: CMD run in DIR, in this shell (so that $RC, $OUT, $ERR stay)
at() {
  local d=$1; shift
  pushd "$d" >/dev/null || { fail "cd $d"; return; }
  "$@"
  popd >/dev/null || true
}

# ---- finding the organization ----
mkdir -p "$TMP/nowhere/deep"
at "$TMP/nowhere/deep" os list
expect_rc 1 "no organization anywhere up"
expect_err "no organization.yaml in $TMP/nowhere/deep or any parent directory" "the error names where it looked"
expect_err "orgsecrets init --org ORG" "the error says how to create one"
expect_err "pass --dir DIR" "the error says how to name one"

setup_org
unset ORGSECRETS_DIR
git init -q "$TMP/org"
V=$(new_value)
os_in "$V" set DATABASE_PASSWORD --env prod --dir "$TMP/org"
expect_rc 0 "set"
mkdir -p "$TMP/org/secrets/prod/deeper"
at "$TMP/org/secrets/prod" secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 0 "reveal inside secrets/prod finds the organization"
check "the value from secrets/prod" test "$(cat "$TMP/r")" = "$V"
at "$TMP/org/secrets/prod/deeper" os list --env all
expect_rc 0 "list two levels further down"
expect_out "DATABASE_PASSWORD" "list inside the organization"
ORGSECRETS_CEILING_DIRECTORIES=$TMP/org at "$TMP/org/secrets/prod" os list
expect_rc 1 "a ceiling directory stops the search before it"
expect_err "ORGSECRETS_CEILING_DIRECTORIES" "the error names the ceiling"
at "$TMP/org/secrets" os init --org other
expect_rc 1 "init inside an organization"
expect_err "inside the organization of $TMP/org/organization.yaml" "init names the existing organization"
os init --org other --dir "$TMP/org/secrets/newdir"
expect_rc 1 "init --dir below an organization"
expect_err "$TMP/org/organization.yaml" "init --dir names the existing organization"
check "nothing was created" test ! -e "$TMP/org/secrets/newdir"
os init --org other --dir "$TMP/other"
expect_rc 0 "init outside any organization"
# --dir and ORGSECRETS_DIR win over the search
ORGSECRETS_DIR=$TMP/other at "$TMP/org/secrets/prod" os list
expect_rc 0 "ORGSECRETS_DIR wins"
check "ORGSECRETS_DIR's organization is listed (empty)" test "$(wc -l <<<"$OUT")" -eq 1
export ORGSECRETS_DIR=$TMP/org

# ---- the default environment ----
os_in "$(new_value)" set ONLY_FLAG
expect_rc 2 "no environment among two"
expect_err "no environment given: pass --env ENV, set ORGSECRETS_ENV, or choose this checkout's with \`orgsecrets env use ENV\` (environments: dev, prod)" "the error lists the ways and the environments"
V=$(new_value)
ORGSECRETS_ENV=dev os_in "$V" set FROM_VARIABLE
expect_rc 0 "ORGSECRETS_ENV"
expect_err "environment dev (ORGSECRETS_ENV)" "a defaulted environment is named"
check "FROM_VARIABLE went to dev" test -f org/secrets/dev/FROM_VARIABLE.yaml
os env use
expect_rc 1 "env use without a default"
os env use staging
expect_rc 1 "env use of an unknown environment"
expect_err "environment staging is not defined in organization acme (environments: dev, prod)" "env use names the environments"
git -C org add -A && git -C org -c user.email=t@t -c user.name=t commit -qm setup
os env use prod
expect_rc 0 "env use prod"
check "kept in the checkout's git config" test "$(git -C org config --get orgsecrets.env)" = prod
check "nothing to commit: no file of the checkout changed" test -z "$(git -C org status --porcelain)"
os env use
expect_out "prod (this checkout's \`orgsecrets env use\`)" "env use prints the default and its source"
secret_out "$TMP/r" reveal DATABASE_PASSWORD
expect_rc 0 "reveal with the checkout's default"
expect_err "environment prod (this checkout's \`orgsecrets env use\`)" "reveal names the defaulted environment"
os run -- true
expect_rc 0 "run with the checkout's default"
expect_err "environment prod (this checkout's \`orgsecrets env use\`)" "run names the defaulted environment"
secret_out "$TMP/r" render
expect_rc 0 "render with the checkout's default"
expect_err "environment prod (this checkout's \`orgsecrets env use\`)" "render names the defaulted environment"
check "render rendered prod" grep -q '^DATABASE_PASSWORD=' "$TMP/r"
secret_out "$TMP/r" reveal FROM_VARIABLE
expect_rc 1 "the checkout's default is prod"
ORGSECRETS_ENV=dev secret_out "$TMP/r" reveal FROM_VARIABLE
expect_rc 0 "ORGSECRETS_ENV wins over env use"
secret_out "$TMP/r" reveal FROM_VARIABLE --env dev
expect_rc 0 "--env wins over both"
case "$ERR" in *"environment dev ("*) fail "--env is not announced" ;; *) pass ;; esac
os list
expect_rc 0 "list with a default environment"
expect_err "environment prod" "list names its default"
check "list shows prod only" test -z "$(grep ' dev ' <<<"$OUT")"
os list --env all
check "list --env all shows dev too" grep -q FROM_VARIABLE <<<"$OUT"
os delete FROM_VARIABLE --yes
expect_rc 1 "delete acts on the default environment (prod)"
expect_err "delete prod/FROM_VARIABLE: no such secret" "delete names the defaulted environment"
ORGSECRETS_ENV=staging os list
expect_rc 1 "an unknown defaulted environment"
expect_err "environment staging (ORGSECRETS_ENV)" "the source of the bad default is named"
os env use --unset
expect_rc 0 "env use --unset"
check "unset" test -z "$(git -C org config --get orgsecrets.env)"
# a repository with several worktrees and no worktreeConfig: git has no
# per-worktree setting, so the repository's own config keeps it
git -C org worktree add -q "$TMP/wt2" >>"$LOG" 2>&1 || fail "git worktree add"
ORGSECRETS_DIR=$TMP/wt2 os env use dev
expect_rc 0 "env use in a repository with several worktrees"
ORGSECRETS_DIR=$TMP/wt2 os env use
expect_out "dev (this checkout's \`orgsecrets env use\`)" "the linked worktree's default"
check "kept in the repository's config" test "$(git -C org config --local --get orgsecrets.env)" = dev
os env use --unset
expect_rc 0 "env use --unset with several worktrees"
ORGSECRETS_DIR=$TMP/wt2 os env use
expect_rc 1 "unset for every worktree"
git -C org worktree remove --force "$TMP/wt2" >>"$LOG" 2>&1
os env use dev --dir "$TMP/other"
expect_rc 1 "env use outside a Git checkout"
expect_err "not in a Git checkout" "env use says why"
expect_err "set ORGSECRETS_ENV instead" "env use says what to do instead"
os env add all --controller "$(pubkey keys/ctl-dev)"
expect_rc 1 "an environment named all is refused"
# the only environment
OD=$TMP/onlyenv
os init --org solo --dir "$OD"
os member add alice@example.com --role admin --recipient "$(pubkey keys/alice)" --dir "$OD"
os env add dev --controller "$(pubkey keys/ctl-dev)" --dir "$OD"
os_in "$(new_value)" set SOLO_VALUE --dir "$OD"
expect_rc 0 "set in an organization with one environment"
expect_err "environment dev (the only environment)" "the only environment is named"

# ---- env list / remove, app list / remove ----
os env use prod
os env list
expect_rc 0 "env list"
check "env list header" grep -qE '^NAME +SECRETS +CONTROLLERS +NAMESPACES$' <<<"$(head -1 <<<"$OUT")"
check "the default is marked" grep -qE '^\* prod +1 +1 +prod$' <<<"$OUT"
os env list -o json
check "env list -o json" python3 -c '
import json,sys
d={e["name"]: e for e in json.loads(sys.argv[1])}
for e in d.values():
    assert set(e) == {"name", "controllers", "namespaces", "secretName", "envFile", "secrets", "default"}, e
assert d["prod"]["controllers"][0].startswith("age1") and d["prod"]["envFile"] is None, d
assert d["prod"]["default"] is True and d["dev"]["default"] is False, d
assert d["prod"]["secrets"] == 1 and d["dev"]["secrets"] == 1, d
assert d["prod"]["namespaces"] == ["prod"]' "$OUT"
os env list -o yaml
expect_rc 2 "env list -o yaml"
os env remove dev
expect_rc 1 "env remove with secrets"
expect_err "environment dev still has 1 secret(s): delete them first, or pass --delete-secrets" "env remove says how many"
check "dev kept" grep -q 'name: dev' org/organization.yaml
os env remove dev --delete-secrets --as bob@example.com
expect_rc 1 "env remove needs an admin"
expect_err "needs the role admin" "the role needed is named"
os env remove dev --delete-secrets
expect_rc 0 "env remove --delete-secrets"
expect_err "removed environment dev (1 secret(s) deleted)" "env remove says what it deleted"
check "dev's secret file is gone" test ! -e org/secrets/dev/FROM_VARIABLE.yaml
check "dev is gone from organization.yaml" test -z "$(grep 'name: dev' org/organization.yaml)"
os lint
expect_rc 0 "the folder still lints"
os env remove nope
expect_rc 1 "env remove of an unknown environment"
os env add qa --controller "$(pubkey keys/ctl-dev)"
os env use qa
ORGSECRETS_ENV= os_in "$(new_value)" set QA_ONLY_TOKEN
os env remove qa --delete-secrets
expect_rc 0 "env remove of the checkout's default"
expect_err "removed environment qa (1 secret(s) deleted)" "the default's secrets go with it"
expect_err "it was this checkout's default: run \`orgsecrets env use ENV\`" "env remove says the default is gone"
os env use prod
os_in "$(new_value)" set WEB_KEY --app web
expect_rc 0 "an application's secret"
os app list
expect_rc 0 "app list"
check "app list row" grep -qE '^web +1 +web$' <<<"$OUT"
os app list -o json
check "app list -o json" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); assert d == [{"name": "web", "namespaces": ["web"], "secretName": None, "secrets": 1}], d' "$OUT"
os app remove web
expect_rc 1 "app remove with secrets"
expect_err "application web still has 1 secret(s)" "app remove says how many"
os app remove web --delete-secrets
expect_rc 0 "app remove --delete-secrets"
check "web's secret is gone" test ! -e org/secrets/prod/WEB_KEY.yaml
os app add api --namespace api
os app remove api
expect_rc 0 "app remove without secrets"

# ---- member update ----
os member update bob@example.com --role viewer
expect_rc 0 "member update --role"
expect_err "updated bob@example.com: viewer (was member)" "member update says what changed"
expect_err "\`orgsecrets rekey\` must re-seal 1 secret(s) for this to take effect (prod/DATABASE_PASSWORD)" "member update says what rekey must re-seal"
os member update bob@example.com --role member --recipient "$(pubkey keys/carol)"
expect_rc 0 "member update role and key"
expect_err "bob@example.com's key is now $(pubkey keys/carol)" "the new key is shown"
os member update alice@example.com --role viewer
expect_rc 1 "the last admin cannot be demoted"
os member update vic@example.com --recipient ''
expect_rc 0 "a viewer's key can be removed"
os member update ghost@example.com --role admin
expect_rc 1 "member update of a non-member"
os member update bob@example.com
expect_rc 2 "member update without a change"
os member update bob@example.com --role member --recipient "$(pubkey keys/bob)" --as bob@example.com
expect_rc 1 "member update needs an admin"
os member update bob@example.com --role member --recipient "$(pubkey keys/bob)"
os rekey
expect_rc 0 "rekey after the updates"

# ---- org set --rotation-days ----
os org set --rotation-days 30 --as bob@example.com
expect_rc 1 "org set needs an admin"
os org set --rotation-days 30
expect_rc 0 "org set --rotation-days"
check "rotationDays in organization.yaml" grep -q '^  rotationDays: 30$' org/organization.yaml
os org set --rotation-days -1
expect_rc 2 "a negative policy"
os org set
expect_rc 2 "org set without a setting"

# ---- whoami ----
os whoami
expect_rc 0 "whoami"
expect_out "member:    alice@example.com (from ORGSECRETS_USER)" "whoami: member and source"
expect_out "role:      admin" "whoami: role"
expect_out "identity:  $TMP/keys/alice" "whoami: identity file"
expect_out "key:       $(pubkey keys/alice) (matches the member's recipient)" "whoami: key matches"
os whoami --as bob@example.com
expect_rc 1 "whoami: another member's key"
expect_err "holds no key of bob@example.com" "whoami says the key does not match"
expect_err "member update bob@example.com --recipient $(pubkey keys/alice)" "whoami says how to fix it"
os whoami --as nobody@example.com
expect_rc 1 "whoami: not a member"
expect_err "is not a member: ask an admin to run \`orgsecrets member add nobody@example.com" "whoami: how to become one"
ORGSECRETS_IDENTITY=$TMP/keys/none os whoami
expect_rc 1 "whoami without an identity file"
expect_err "run \`orgsecrets keygen\`" "whoami: how to make an identity"
git -C org config user.email alice@example.com
ORGSECRETS_USER= os whoami -o json
expect_rc 0 "whoami -o json"
check "whoami json" python3 -c '
import json,sys
d=json.loads(sys.argv[1])
assert set(d) == {"member", "memberFrom", "role", "identity", "publicKeys", "recipient", "matches", "ok"}, d
assert d["member"] == "alice@example.com" and d["memberFrom"] == "git config user.email", d
assert d["role"] == "admin" and d["matches"] is True and d["ok"] is True, d
assert d["publicKeys"] == [d["recipient"]], d' "$OUT"

# ---- --as '' is an error, not "ask git" ----
os list --as ''
expect_rc 2 "--as ''"
expect_err "option --as needs a non-empty value" "--as '' is named"
os --as= list
expect_rc 2 "--as= before the command"
os list --dir ''
expect_rc 2 "--dir ''"
