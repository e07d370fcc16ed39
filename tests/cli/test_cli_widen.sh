#!/usr/bin/env bash
# Widening readership: rekey lists who gains access to what (grant: lines)
# and needs --yes or a terminal's y; lint reports the metadata changes since
# a commit that let more keys read values.
. "$(dirname "$0")/lib.sh"
setup_org

VP=$(new_value)
os_in "$VP" set PROD_DB_PASSWORD --env prod
VD=$(new_value)
os_in "$VD" set DEV_DB_PASSWORD --env dev
expect_rc 0 "setup"
G() { git -C "$TMP/org" "$@"; }
G init -q
G -c user.email=t@example.com -c user.name=t add -A
G -c user.email=t@example.com -c user.name=t commit -qm base
BASE=$(G rev-parse HEAD)
commit() { G -c user.email=t@example.com -c user.name=t commit -qam "$1"; }
sum() { sha256sum "$TMP/org/secrets/prod/PROD_DB_PASSWORD.yaml" "$TMP/org/secrets/dev/DEV_DB_PASSWORD.yaml"; }

os lint
check "a clean tree reports no widening" test -z "$(grep -e 'since HEAD' <<<"$OUT")"

# a writer flips visibleToViewers by hand
sed -i 's/visibleToViewers: false/visibleToViewers: true/' "$TMP/org/secrets/prod/PROD_DB_PASSWORD.yaml"
os lint
expect_rc 0 "widening is a warning"
expect_out "secrets/prod/PROD_DB_PASSWORD.yaml:1: warning: prod/PROD_DB_PASSWORD: since HEAD, visibleToViewers is on" "lint shows the flip since HEAD"

before=$(sum)
os rekey
expect_rc 1 "rekey that would add a reader needs --yes"
expect_out "grant: prod/PROD_DB_PASSWORD to vic@example.com (viewer), as the secret is visibleToViewers" "rekey says who gains what"
expect_err "pass --yes" "the refusal says how to go on"
check "nothing was written" test "$before" = "$(sum)"
os rekey --dry-run
expect_rc 0 "rekey --dry-run"
expect_out "grant: prod/PROD_DB_PASSWORD to vic@example.com (viewer)" "--dry-run shows the grant"
check "--dry-run wrote nothing" test "$before" = "$(sum)"
secret_out "$TMP/o" reveal PROD_DB_PASSWORD --env prod --as vic@example.com -i keys/vic
expect_rc 1 "the viewer cannot read it yet"
if command -v script >/dev/null; then
  printf 'n\n' | script -qec "$OS_BIN rekey" /dev/null >"$TMP/tty.out" 2>&1
  check "a terminal's n refuses" test "$before" = "$(sum)"
  grep -q "go on? \[y/N\]" "$TMP/tty.out" && pass || fail "rekey asks on a terminal: $(cat "$TMP/tty.out")"
fi
os rekey --yes
expect_rc 0 "rekey --yes"
expect_out "grant: prod/PROD_DB_PASSWORD to vic@example.com (viewer)" "rekey --yes still lists the grant"
secret_out "$TMP/o" reveal PROD_DB_PASSWORD --env prod --as vic@example.com -i keys/vic
check "the viewer reads it after the confirmed rekey" test "$(cat "$TMP/o")" = "$VP"
commit flip

# a new member reads everything once re-sealed
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
os lint
expect_out "since HEAD, carol@example.com (member, key" "lint names the new member"
expect_out "can read every secret: a new member" "lint says why"
before=$(sum)
os rekey
expect_rc 1 "rekey after member add needs --yes"
expect_out "grant: dev/DEV_DB_PASSWORD to carol@example.com (member)" "grant for dev"
expect_out "grant: prod/PROD_DB_PASSWORD to carol@example.com (member)" "grant for prod"
check "nothing was written without --yes" test "$before" = "$(sum)"
os rekey --yes
expect_rc 0 "rekey --yes after member add"
commit carol

# lint --since the base commit still sees both, committed or not
os lint --since "$BASE"
expect_out "since $BASE, carol@example.com (member" "--since sees the committed member"
expect_out "prod/PROD_DB_PASSWORD: since $BASE, visibleToViewers is on" "--since sees the committed flip"
os lint --since no-such-ref
expect_rc 1 "--since an unknown ref is an error"

# a viewer promoted by hand, and a new controller key: both widen
python3 - "$TMP/org/organization.yaml" "$(pubkey keys/ctl-dev)" <<'PY'
import sys
p, key = sys.argv[1], sys.argv[2]
lines = open(p).read().split("\n")
out, member, env = [], None, None
for l in lines:
    s = l.strip()
    if s.startswith("- name: "):
        member = s[8:]
    if member == "vic@example.com" and s == "role: viewer":
        l = l.replace("viewer", "member")
    out.append(l)
    if s == "- name: prod":
        env = "prod"
    if env == "prod" and s == "controllers:":
        out.append(l[: len(l) - len(l.lstrip())] + "  - " + key)
        env = None
open(p, "w").write("\n".join(out))
PY
os lint
expect_out "since HEAD, vic@example.com (member, key" "lint: a viewer made member"
expect_out "the key was a viewer's" "lint says it was a viewer's key"
expect_out "a new controller key" "lint: a new controller key"
expect_out "of environment prod can read its secrets" "lint names the environment"
os rekey
expect_rc 1 "rekey for a promotion and a new controller key needs --yes"
expect_out "grant: dev/DEV_DB_PASSWORD to vic@example.com (member)" "grant to the promoted viewer"
expect_out "grant: prod/PROD_DB_PASSWORD to a controller of dev" "grant to the controller key"
os rekey --yes
expect_rc 0 "rekey --yes"
commit promote

# removing someone widens nothing: rekey goes ahead without --yes
os member remove carol@example.com
os rekey
expect_rc 0 "rekey after a removal needs no --yes"
expect_out "rotate: prod/PROD_DB_PASSWORD (was readable by carol@example.com)" "and lists what to rotate"
check "no grant lines" test -z "$(grep '^grant:' <<<"$OUT")"
