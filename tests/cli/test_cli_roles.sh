#!/usr/bin/env bash
# Roles are enforced by the cryptography: viewers, controllers, removed
# members, admins.
. "$(dirname "$0")/lib.sh"
setup_org

VD=$(new_value); VP=$(new_value); VV=$(new_value); VW=$(new_value)
os_in "$VD" set DEV_DATABASE_PASSWORD --env dev
os_in "$VP" set PROD_DATABASE_PASSWORD --env prod
os_in "$VV" set STATUS_PAGE_URL --env prod --visible-to-viewers
os_in "$VW" set WEB_SESSION_KEY --env prod --app web
expect_rc 0 "setup secrets"

# an admin reads everything
for s in "dev DEV_DATABASE_PASSWORD $VD" "prod PROD_DATABASE_PASSWORD $VP" \
  "prod STATUS_PAGE_URL $VV" "prod WEB_SESSION_KEY $VW web"; do
  set -- $s
  secret_out "$TMP/o" reveal "$2" --env "$1" ${4:+--app "$4"}
  check "admin reads $1/$2" test "$(cat "$TMP/o")" = "$3"
done
# an application's secret is addressed with --app; without it, the
# organization level, and the error says where one of that name is
secret_out "$TMP/o" reveal WEB_SESSION_KEY --env prod
expect_rc 1 "reveal without --app: the organization level only"
expect_err "no organization-level secret WEB_SESSION_KEY in prod; application web has one (pass --app APP)" "reveal without --app names the application"

# a member reads and the viewer's key only opens what is visible to viewers
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/bob
check "member reads prod" test "$(cat "$TMP/o")" = "$VP"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/vic
expect_rc 1 "viewer's key cannot open a normal secret"
expect_err "not a recipient" "viewer: not a recipient"
check "viewer got no output" test ! -s "$TMP/o"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/vic --as vic@example.com
expect_rc 1 "viewer refused by role too"
expect_err "viewer" "role refusal names the viewer"
secret_out "$TMP/o" reveal STATUS_PAGE_URL --env prod -i keys/vic --as vic@example.com
expect_rc 0 "viewer reveals a visible-to-viewers secret"
check "viewer reads the visible value" test "$(cat "$TMP/o")" = "$VV"
os list --as vic@example.com -i keys/vic
expect_rc 0 "viewer lists"

# controllers: prod's key reads prod, not dev; dev's key reads dev, not prod
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/ctl-prod
check "prod controller reads prod" test "$(cat "$TMP/o")" = "$VP"
secret_out "$TMP/o" reveal DEV_DATABASE_PASSWORD --env dev -i keys/ctl-prod
expect_rc 1 "prod controller cannot read dev"
expect_err "not a recipient" "prod controller: not a recipient"
# also with plain age: the ciphertext itself is not addressed to it
yq -r .spec.encryptedValue org/secrets/dev/DEV_DATABASE_PASSWORD.yaml >"$TMP/dev.age"
age -d -i keys/ctl-prod "$TMP/dev.age" >"$TMP/o" 2>>"$LOG"
check "age -d with the prod controller key fails on a dev value" test $? -ne 0
secret_out "$TMP/o" reveal DEV_DATABASE_PASSWORD --env dev -i keys/ctl-dev
check "dev controller reads dev" test "$(cat "$TMP/o")" = "$VD"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/ctl-dev
expect_rc 1 "dev controller cannot read prod"

# carol joins as member: not a recipient until rekey
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
expect_err "rekey" "member add hints at rekey"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/carol
expect_rc 1 "new member cannot read before rekey"
os lint
check "lint warns about out-of-date recipients" grep -q "rekey" <<<"$OUT"
os rekey --yes
expect_rc 0 "rekey after adding a member"
check "no rotate line when nobody lost access" test -z "$(grep '^rotate:' <<<"$OUT")"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/carol
check "new member reads after rekey" test "$(cat "$TMP/o")" = "$VP"
check "rekey keeps rotatedAt" grep -q 'rotatedAt' org/secrets/prod/PROD_DATABASE_PASSWORD.yaml

# bob is removed: rekey re-seals and lists what he could read
cp org/secrets/prod/PROD_DATABASE_PASSWORD.yaml "$TMP/old-copy.yaml"
git -C org init -q && git -C org add -A && git -C org -c user.email=t@t -c user.name=t commit -qm setup
os member remove bob@example.com
expect_rc 0 "remove bob"
os rekey
expect_rc 0 "rekey after removal"
check "rekey lists values to rotate" grep -q '^rotate: prod/PROD_DATABASE_PASSWORD (was readable by' <<<"$OUT"
check "rekey lists the dev value too" grep -q '^rotate: dev/DEV_DATABASE_PASSWORD' <<<"$OUT"
check "rekey names the removed member (from Git history)" grep -q '^rotate: prod/PROD_DATABASE_PASSWORD (was readable by bob@example.com)$' <<<"$OUT"
n_rot=$(grep -c '^rotate:' <<<"$OUT")
check "one rotate line per secret bob could read (got $n_rot)" test "$n_rot" -eq 4
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod -i keys/bob
expect_rc 1 "removed member cannot reveal after rekey"
expect_err "not a recipient" "removed member: not a recipient"
secret_out "$TMP/o" reveal PROD_DATABASE_PASSWORD --env prod
check "admin still reads after rekey" test "$(cat "$TMP/o")" = "$VP"
# the honest limit: bob's copy of the old ciphertext still opens with his key
yq -r .spec.encryptedValue "$TMP/old-copy.yaml" >"$TMP/old.age"
age -d -i keys/bob "$TMP/old.age" >/dev/null 2>&1
check "an old ciphertext still opens for bob (why rotate: lines exist)" test $? -eq 0

# a member cannot remove members; the last admin cannot be removed
os member remove carol@example.com --as carol@example.com
expect_rc 1 "member cannot remove"
os member remove alice@example.com
expect_rc 1 "last admin cannot be removed"

# rekey with an identity that cannot open: reported, exit 1
os member add dave@example.com --role member --recipient "$(pubkey keys/bob)"
os rekey --yes -i keys/vic
expect_rc 1 "rekey with a viewer key fails"
expect_err "not a recipient" "rekey names what it could not open"
