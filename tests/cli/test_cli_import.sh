#!/usr/bin/env bash
# import --from-file: dotenv syntax, every line checked before anything is
# written, --overwrite, and render as the way back out.
. "$(dirname "$0")/lib.sh"
setup_org
export ORGSECRETS_ENV=dev
A=$(new_value) B=$(new_value) C=$(new_value) D=$(new_value) E=$(new_value)
remember_value "$B-second"
cat >"$TMP/app.env" <<EOF
# a comment, then a blank line

export DB_PASSWORD=$A
API_TOKEN = "$B\nsecond"
SINGLE_QUOTED='$C \$NOT_EXPANDED'
INLINE_COMMENT=$D # not part of the value
SPACED=   $E with spaces   
EOF
before=$(tree_sum org)
os import --from-file "$TMP/app.env"
expect_rc 0 "import"
expect_err "imported into dev: 5 created, 0 updated, 0 unchanged" "import counts"
expect_err "environment dev (ORGSECRETS_ENV)" "import names the defaulted environment"
for n in DB_PASSWORD API_TOKEN SINGLE_QUOTED INLINE_COMMENT SPACED; do
  check "$n has its file" test -f "org/secrets/dev/$n.yaml"
done
secret_out "$TMP/v" reveal DB_PASSWORD
check "export prefix dropped" test "$(cat "$TMP/v")" = "$A"
secret_out "$TMP/v" reveal API_TOKEN
check "\\n in double quotes is a newline" test "$(cat "$TMP/v")" = "$B
second"
secret_out "$TMP/v" reveal SINGLE_QUOTED
check "single quotes are literal" test "$(cat "$TMP/v")" = "$C \$NOT_EXPANDED"
secret_out "$TMP/v" reveal INLINE_COMMENT
check "a # after a blank is a comment" test "$(cat "$TMP/v")" = "$D"
secret_out "$TMP/v" reveal SPACED
check "blanks around an unquoted value are dropped" test "$(cat "$TMP/v")" = "$E with spaces"
check "import changed the folder" test "$(tree_sum org)" != "$before"

# existing names: refused without --overwrite, nothing written
before=$(tree_sum org)
os import --from-file "$TMP/app.env"
expect_rc 1 "import again without --overwrite"
expect_err "$TMP/app.env:3: DB_PASSWORD already exists in dev: pass --overwrite to replace its value" "names file, line and the fix"
expect_err "5 problem(s) in $TMP/app.env (see above); nothing was imported" "counts the problems"
check "nothing changed" test "$(tree_sum org)" = "$before"
os import --from-file "$TMP/app.env" --overwrite
expect_rc 0 "import --overwrite of the same values"
expect_err "0 created, 0 updated, 5 unchanged" "same values: nothing updated"
check "same values: no file changed" test "$(tree_sum org)" = "$before"
F=$(new_value)
printf 'DB_PASSWORD=%s\nBRAND_NEW=%s\n' "$F" "$(new_value)" >"$TMP/two.env"
os import --from-file "$TMP/two.env" --overwrite
expect_rc 0 "import --overwrite with a new value"
expect_err "1 created, 1 updated, 0 unchanged" "one new, one changed"
secret_out "$TMP/v" reveal DB_PASSWORD
check "the value was replaced" test "$(cat "$TMP/v")" = "$F"

# every line is checked before anything is written
before=$(tree_sum org)
printf 'GOOD_ONE=%s\nlower_case=x\nPATH=/tmp\nEMPTY=\nGOOD_ONE=again\nTOO_BIG=%s\n' "$(new_value)" \
  "$(head -c 300000 /dev/zero | tr '\0' x)" >"$TMP/bad.env"
os import --from-file "$TMP/bad.env"
expect_rc 1 "a file with bad lines"
expect_err "bad.env:2: lower_case: invalid secret name" "an invalid name"
expect_err "bad.env:3: PATH: refusing to create a secret named PATH" "a reserved name"
expect_err "bad.env:4: EMPTY has an empty value" "an empty value"
expect_err "bad.env:5: GOOD_ONE is already set on line 1" "a name given twice"
expect_err "bad.env:6: TOO_BIG: value larger than 262144 bytes" "a value too large"
check "GOOD_ONE was not written" test ! -e org/secrets/dev/GOOD_ONE.yaml
check "nothing was written" test "$(tree_sum org)" = "$before"
printf 'PATH=/opt/bin\n' >"$TMP/path.env"
os import --from-file "$TMP/path.env" --allow-env PATH
expect_rc 0 "--allow-env PATH"
printf 'NOT A LINE\n' >"$TMP/syntax.env"
os import --from-file "$TMP/syntax.env"
expect_rc 1 "a syntax error"
expect_err "$TMP/syntax.env: line 1: not a NAME=value line" "names the line"
printf 'OPEN="no end\n' >"$TMP/open.env"
os import --from-file "$TMP/open.env"
expect_rc 1 "an unterminated quote"
expect_err "line 1: unterminated quote" "names the unterminated quote"
os import --from-file "$TMP/nope.env"
expect_rc 1 "a missing file"
os import
expect_rc 2 "--from-file is required"
os import --from-file "$TMP/two.env" --as vic@example.com
expect_rc 1 "a viewer cannot import"
expect_err "needs the role member or admin" "import names the role needed"
os import --from-file "$TMP/two.env" --env staging
expect_rc 1 "an unknown environment"
expect_err "environment staging is not defined" "names the environment"

# stdin, an application, and render as the way back out
G=$(new_value)
printf 'WEB_SECRET="%s"\n' "$G" | "$OS_BIN" import --from-file - --app web --env prod >>"$LOG" 2>&1
check "import from stdin into an application" test -f org/secrets/prod/web/WEB_SECRET.yaml
check "the application is recorded" grep -q '^  application: web$' org/secrets/prod/web/WEB_SECRET.yaml
secret_out "$TMP/out.env" render --env dev
mkdir -p "$TMP/o2" && cp org/organization.yaml "$TMP/o2/"
ORGSECRETS_DIR=$TMP/o2 os import --from-file "$TMP/out.env" --allow-env PATH
expect_rc 0 "render's output imports"
ORGSECRETS_DIR=$TMP/o2 secret_out "$TMP/back.env" render --env dev
check "render -> import -> render is exact" cmp -s "$TMP/out.env" "$TMP/back.env"
