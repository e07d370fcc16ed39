#!/usr/bin/env bash
# Git-friendliness on a 1,000-secret tree: one `set` changes exactly one
# file; setting the same value, listing, rendering, linting and rekeying an
# up-to-date tree change nothing.
. "$(dirname "$0")/lib.sh"
[ -n "$GEN_TREE" ] || { fail "needs the orgsecrets-gen-tree binary as second argument"; exit 1; }
"$GEN_TREE" "$TMP/g" 1000 >>"$LOG" 2>&1 || fail "generator failed"
mv "$TMP/g/org" "$TMP/org"
cut -d' ' -f2 "$TMP/g/values.txt" >>"$VALUES_FILE"
export ORGSECRETS_DIR=$TMP/org ORGSECRETS_USER=admin@bench ORGSECRETS_IDENTITY=$TMP/g/keys/admin.key
git -C org init -q && git -C org add -A && git -C org -c user.email=t@t -c user.name=t commit -qm init
check "1,000 secret files" test "$(ls org/secrets/prod | wc -l)" -eq 1000
clean() { test -z "$(git -C org status --porcelain)"; }

os list
expect_rc 0 "list"
check "list shows 1,000 rows" test "$(tail -n +2 <<<"$OUT" | wc -l)" -eq 1000
secret_out "$TMP/all.env" render --env prod
expect_rc 0 "render"
check "render has 1,000 values" test "$(wc -l <"$TMP/all.env")" -eq 1000
os lint
os rekey
expect_rc 0 "rekey on an up-to-date tree"
check "list/render/lint/rekey changed nothing" clean

# the same value again: no change at all
same=$(grep '^SETTING_000500 ' "$TMP/g/values.txt" | cut -d' ' -f2)
os_in "$same" set SETTING_000500 --env prod
expect_rc 0 "set the same value"
check "same value: git sees no change" clean

# a new value: exactly one file changes
V=$(new_value)
os_in "$V" set SETTING_000500 --env prod
expect_rc 0 "set a new value"
changed=$(git -C org status --porcelain)
check "exactly one file changed: $changed" test "$changed" = " M secrets/prod/SETTING_000500.yaml"
git -C org diff --stat >>"$LOG"
# only the expected lines of that file changed: updatedBy/At, rotatedAt, ciphertext
others=$(git -C org diff -U0 | grep -E '^[-+] ' | grep -vE '^[-+]  (updatedAt|rotatedAt|updatedBy):' | grep -vE '^[-+]    ' || true)
check "no other field of the file changed" test -z "$others"
git -C org -c user.email=t@t -c user.name=t commit -qam one

# a new secret adds exactly one file
V=$(new_value)
os_in "$V" set BRAND_NEW_SETTING --env prod
check "a new secret adds one file" test "$(git -C org status --porcelain)" = "?? secrets/prod/BRAND_NEW_SETTING.yaml"
