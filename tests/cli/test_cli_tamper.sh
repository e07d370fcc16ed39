#!/usr/bin/env bash
# Tampering with the sealed files: swapped ciphertexts (name, environment,
# application, organization), flipped bytes, wrong identity. Interop with
# Debian's age.
. "$(dirname "$0")/lib.sh"
setup_org

VA=$(new_value); VB=$(new_value); VC=$(new_value); VW=$(new_value); VX=$(new_value)
os_in "$VA" set ALPHA_SERVICE_KEY --env prod
os_in "$VB" set BRAVO_SERVICE_KEY --env prod
os_in "$VC" set ALPHA_SERVICE_KEY --env dev
os_in "$VW" set WEB_SESSION_KEY --env prod --app web
os app add api --namespace api
os_in "$VX" set API_SESSION_KEY --env prod --app api
expect_rc 0 "setup"

# copy the encryptedValue block of file $1 into file $2
swap_ct() {
  python3 - "$1" "$2" <<'PY'
import sys
def split(p):
    t = open(p).read()
    i = t.index("  encryptedValue: |\n")
    return t[:i], t[i:]
_, ct = split(sys.argv[1])
head, _ = split(sys.argv[2])
open(sys.argv[2], "w").write(head + ct)
PY
}

reveal_fails_binding() { # ENV NAME DESCRIPTION
  secret_out "$TMP/o" reveal "$2" --env "$1"
  expect_rc 1 "$3: reveal fails"
  expect_err "binding" "$3: error says binding"
  check "$3: nothing printed" test ! -s "$TMP/o"
}

cp -r org "$TMP/pristine"
# another name
swap_ct org/secrets/prod/BRAVO_SERVICE_KEY.yaml org/secrets/prod/ALPHA_SERVICE_KEY.yaml
reveal_fails_binding prod ALPHA_SERVICE_KEY "swapped between two names"
# other secrets still reveal and render
secret_out "$TMP/o" reveal BRAVO_SERVICE_KEY --env prod
check "untouched secret still reveals" test "$(cat "$TMP/o")" = "$VB"
secret_out "$TMP/o" render --env prod
expect_rc 1 "render reports the bad secret"
expect_err "ALPHA_SERVICE_KEY" "render names the bad secret"
check "render still renders the others" grep -qx "BRAVO_SERVICE_KEY=$VB" "$TMP/o"
check "render leaves the bad one out" test -z "$(grep ALPHA_SERVICE_KEY "$TMP/o")"
rm -rf org && cp -r "$TMP/pristine" org

# another environment (same name): the dev ciphertext is sealed to the prod
# recipients too (admins), so it opens, but the binding says dev
swap_ct org/secrets/dev/ALPHA_SERVICE_KEY.yaml org/secrets/prod/ALPHA_SERVICE_KEY.yaml
reveal_fails_binding prod ALPHA_SERVICE_KEY "swapped between two environments"
rm -rf org && cp -r "$TMP/pristine" org

# another application, same environment
python3 - <<'PY'
p = "org/secrets/prod/api/API_SESSION_KEY.yaml"
t = open(p).read()
# keep the API file but move the web ciphertext in
w = open("org/secrets/prod/web/WEB_SESSION_KEY.yaml").read()
ct = w[w.index("  encryptedValue: |\n"):]
open(p, "w").write(t[:t.index("  encryptedValue: |\n")] + ct)
PY
secret_out "$TMP/o" reveal API_SESSION_KEY --env prod --app api
expect_rc 1 "another application's ciphertext: reveal fails"
expect_err "binding" "another application's ciphertext: error says binding"
rm -rf org && cp -r "$TMP/pristine" org
# the same name moved to another application (its metadata.name too): web -> api
sed -i 's/^  application: web$/  application: api/; s/^  name: acme\.prod\.web\./  name: acme.prod.api./' org/secrets/prod/web/WEB_SESSION_KEY.yaml
secret_out "$TMP/o" reveal WEB_SESSION_KEY --env prod --app api
expect_rc 1 "application changed (web -> api): reveal fails"
expect_err "binding" "application changed (web -> api): error says binding"
check "application changed (web -> api): nothing printed" test ! -s "$TMP/o"
rm -rf org && cp -r "$TMP/pristine" org

# another organization: same names in a second organization "globex"
mkdir -p "$TMP/globex"
(
  export ORGSECRETS_DIR=$TMP/globex
  os init --org globex
  os member add alice@example.com --role admin --recipient "$(pubkey keys/alice)"
  os env add prod --controller "$(pubkey keys/ctl-prod)"
  V=$(new_value)
  os_in "$V" set ALPHA_SERVICE_KEY --env prod
)
swap_ct "$TMP/globex/secrets/prod/ALPHA_SERVICE_KEY.yaml" org/secrets/prod/ALPHA_SERVICE_KEY.yaml
reveal_fails_binding prod ALPHA_SERVICE_KEY "swapped between two organizations"
rm -rf org && cp -r "$TMP/pristine" org

# a flipped byte in the armored payload: integrity error
python3 "$(dirname "$0")/../lib/ciphertext.py" org/secrets/prod/ALPHA_SERVICE_KEY.yaml
secret_out "$TMP/o" reveal ALPHA_SERVICE_KEY --env prod
expect_rc 1 "flipped byte: reveal fails"
expect_err "integrity" "flipped byte: integrity error"
check "flipped byte: nothing printed" test ! -s "$TMP/o"
secret_out "$TMP/o" reveal BRAVO_SERVICE_KEY --env prod
check "flipped byte: other secrets still reveal" test "$(cat "$TMP/o")" = "$VB"
rm -rf org && cp -r "$TMP/pristine" org

# a wrong identity
secret_out "$TMP/o" reveal ALPHA_SERVICE_KEY --env prod -i keys/carol
expect_rc 1 "wrong identity fails"
expect_err "not a recipient" "wrong identity: not a recipient"

# interop: the encryptedValue opens with Debian's age and shows the envelope
yq -r .spec.encryptedValue org/secrets/prod/ALPHA_SERVICE_KEY.yaml >"$TMP/alpha.age"
age -d -i keys/ctl-prod -o "$TMP/alpha.env" "$TMP/alpha.age" 2>>"$LOG"
check "age -d opens the value with the controller key" test $? -eq 0
check "envelope magic" test "$(head -1 "$TMP/alpha.env")" = "orgsecrets.io/envelope/v1"
check "envelope organization" grep -qax 'organization: acme' "$TMP/alpha.env"
check "envelope environment" grep -qax 'environment: prod' "$TMP/alpha.env"
check "envelope application (org-level: empty)" grep -qax 'application:' "$TMP/alpha.env"
check "envelope name" grep -qax 'name: ALPHA_SERVICE_KEY' "$TMP/alpha.env"
check "envelope length" grep -qax "length: ${#VA}" "$TMP/alpha.env"
check "envelope holds the value" grep -qaF "$VA" "$TMP/alpha.env"
check "envelope padded to 256 bytes" test "$(wc -c <"$TMP/alpha.env")" -eq 256
# and the other way: orgsecrets age decrypt opens it too
secret_out "$TMP/o2" age decrypt -i keys/alice "$TMP/alpha.age"
check "orgsecrets age decrypt agrees with age" cmp -s "$TMP/o2" "$TMP/alpha.env"
