#!/usr/bin/env bash
# The README's team quick start, run as written: its command lines, with
# the placeholders (age1alice..., files, ./server, COMMIT) filled in, in a
# fresh Git repository, on the defaults it shows (env use, no --env).
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
mkdir -p "$TMP/bin" && ln -s "$OS_BIN" "$TMP/bin/orgsecrets"
export PATH=$TMP/bin:$PATH
export GIT_AUTHOR_NAME=Alice GIT_COMMITTER_NAME=Alice
for k in bob ctl-dev ctl-prod; do
  os keygen -o "$TMP/keys/$k"
done
DB_PASSWORD=$(new_value)
new_value >"$TMP/stripe.key"
printf 'LEGACY_API_TOKEN=%s\n' "$(new_value)" >"$TMP/legacy.env"
lines=$(sed -n '/^## Team quick start/,/^## /p' "$SRC/README.md" | sed -n 's/^    //p' |
  grep -vE '^orgsecrets ui( |$)')
check "the quick start has command lines" test "$(wc -l <<<"$lines")" -ge 20
script=$TMP/quickstart.sh
n=0
{
  echo 'export DB_PASSWORD=$1'
  while IFS= read -r l; do
    l=$(sed -E 's/ {2,}# .*$//' <<<"$l") # the comments
    l=${l//age1alice.../\"\$(grep \'^# public key: \' ~/.config/orgsecrets/identity | cut -d\' \' -f4)\"}
    l=${l//age1bob.../\"\$(grep \'^# public key: \' $TMP/keys/bob | cut -d\' \' -f4)\"}
    l=${l//age1ctldev.../\"\$(grep \'^# public key: \' $TMP/keys/ctl-dev | cut -d\' \' -f4)\"}
    l=${l//age1ctlprod.../\"\$(grep \'^# public key: \' $TMP/keys/ctl-prod | cut -d\' \' -f4)\"}
    l=${l//stripe.key/$TMP/stripe.key}
    l=${l//legacy.env/$TMP/legacy.env}
    l=${l//\/etc\/app\/prod.env/$TMP/prod.env}
    l=${l//.\/server/env}
    l=${l//--at COMMIT/--at HEAD}
    l=${l// && git push/}
    n=$((n + 1))
    printf '%s || echo "QUICKSTART FAILED: line %d of the quick start" >&2\n' "$l" "$n"
  done <<<"$lines"
} >"$script"
cat "$script" >>"$LOG"
(cd "$TMP" && bash "$script" "$DB_PASSWORD") >"$TMP/qs.out" 2>"$TMP/qs.err"
cat "$TMP/qs.err" >>"$LOG"
check "every quick start line succeeded" test -z "$(grep 'QUICKSTART FAILED' "$TMP/qs.err")"
grep 'QUICKSTART FAILED' "$TMP/qs.err" | while read -r _ _ _ k _; do sed -n "${k}p" <<<"$lines"; done
O=$TMP/acme-secrets
check "the organization" test -f "$O/organization.yaml"
check "secrets went to the env use default, prod" test -f "$O/secrets/prod/DATABASE_PASSWORD.yaml"
check "the imported one too" test -f "$O/secrets/prod/LEGACY_API_TOKEN.yaml"
check "the defaulted environment is named" grep -q 'environment prod (this checkout' "$TMP/qs.err"
check "reveal printed the value (twice: now and --at HEAD)" test "$(grep -c -F -- "$DB_PASSWORD" "$TMP/qs.out")" -ge 2
check "run gave the command the secrets" grep -q '^SESSION_SIGNING_KEY=' "$TMP/qs.out"
check "render wrote the env file" grep -q '^DATABASE_PASSWORD=' "$TMP/prod.env"
check "history listed the commit" grep -qE 'created +prod secrets$' "$TMP/qs.out"
check "everything committed" test -z "$(git -C "$O" status --porcelain)"
check "no --env anywhere after env use" test -z "$(sed -n '/env use /,$p' <<<"$lines" | grep -- '--env')"
