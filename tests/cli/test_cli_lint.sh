#!/usr/bin/env bash
# orgsecrets lint: clean trees pass; naming, suffix, rotation and recipient
# warnings; plaintext secrets anywhere below the folder are errors.
. "$(dirname "$0")/lib.sh"
setup_org
for n in DATABASE_PASSWORD PAYMENT_API_KEY WEB_SESSION_SECRET; do
  V=$(new_value); os_in "$V" set $n --env prod
done
V=$(new_value); os_in "$V" set DATABASE_PASSWORD --env dev
os lint
expect_rc 0 "a fresh tree lints clean"
check "no findings on a fresh tree" test -z "$OUT"

# warnings only: exit 0
V=$(new_value); os_in "$V" set PASSWORD --env prod
V=$(new_value); os_in "$V" set SECRET123 --env prod
V=$(new_value); os_in "$V" set API_KEY_DEV --env prod
V=$(new_value); os_in "$V" set SEARCH_KEY_PROD --env prod
V=$(new_value); os_in "$V" set ROTATE_ME_SOON --env prod
sed -i 's/^  rotatedAt: .*/  rotatedAt: "2020-01-01T00:00:00Z"/' org/secrets/prod/ROTATE_ME_SOON.yaml
os lint
expect_rc 0 "warnings alone exit 0"
check "vague PASSWORD" grep -qE '^secrets/prod/PASSWORD.yaml:[0-9]+: warning: .*vague' <<<"$OUT"
check "vague SECRET123" grep -qE '^secrets/prod/SECRET123.yaml:[0-9]+: warning: .*vague' <<<"$OUT"
check "suffix DEV in prod" grep -qE 'API_KEY_DEV.yaml:[0-9]+: warning: .*_DEV contradicts environment prod' <<<"$OUT"
check "suffix PROD in prod is fine" test -z "$(grep SEARCH_KEY_PROD <<<"$OUT")"
check "rotation policy" grep -qE 'ROTATE_ME_SOON.yaml:[0-9]+: warning: .*rotat.*90 days' <<<"$OUT"
check "good names get no warning" test -z "$(grep -E 'DATABASE_PASSWORD|PAYMENT_API_KEY' <<<"$OUT")"
# the rotation policy on a fixed clock (ORGSECRETS_NOW): 90 days is within
# the policy of 90 days, 91 is past it
ORGSECRETS_NOW=2024-01-01T00:00:00Z os_in "$(new_value)" set STRIPE_WEBHOOK_SECRET --env prod
ORGSECRETS_NOW=2024-03-31T00:00:00Z os lint
check "rotation: 90 days old is within a 90-day policy" test -z "$(grep STRIPE_WEBHOOK_SECRET <<<"$OUT")"
ORGSECRETS_NOW=2024-04-01T00:00:00Z os lint
expect_out "STRIPE_WEBHOOK_SECRET.yaml:1: warning: prod/STRIPE_WEBHOOK_SECRET: value last rotated 91 days ago (2024-01-01T00:00:00Z), older than the rotation policy of 90 days" "rotation: 91 days old is past it"
ORGSECRETS_NOW=2024-04-01T00:00:00Z os_in "$(new_value)" set STRIPE_WEBHOOK_SECRET --env prod
ORGSECRETS_NOW=2024-04-01T00:00:00Z os lint
check "rotation: a new value resets the age" test -z "$(grep STRIPE_WEBHOOK_SECRET <<<"$OUT")"
os delete STRIPE_WEBHOOK_SECRET --env prod --yes
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
os lint
expect_rc 0 "out-of-date recipients are a warning"
check "rekey warning" grep -qE 'warning: prod/[A-Z_]+: not sealed to carol@example.com \(member\), newly authorized .*orgsecrets rekey' <<<"$OUT"
os rekey --yes
os lint
check "no rekey warning after rekey" test -z "$(grep rekey <<<"$OUT")"

# plaintext secrets: errors, exit 1, file:line, the value never printed
leak_file() { # NAME CONTENT: writes org/NAME with CONTENT on line 3
  printf '# notes\n\n%s\n' "$2" >"org/$1"
  remember_value "$3"
}
leak_file aws.txt "aws_access_key_id = AKIAQWERTYUIOPASDFGH" "AKIAQWERTYUIOPASDFGH"
leak_file id.txt "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ" \
  "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
leak_file key.pem "-----BEGIN RSA PRIVATE KEY-----" "BEGIN RSA PRIVATE KEY-----"
leak_file gh.txt "token ghp_abcdefghijklmnopqrstuvwxyz0123456789" "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
leak_file slack.txt "hook: xoxb-1234567890-abcdefghij" "xoxb-1234567890-abcdefghij"
leak_file stripe.txt "STRIPE=sk_live_abcdefghijklmnop1234" "sk_live_abcdefghijklmnop1234"
leak_file app.env "DB_PASSWORD=hunter2hunter2" "hunter2hunter2"
leak_file values.yaml "  password: correcthorse" "correcthorse"
leak_file blob.txt "x Zr8Kq2VfT1mYp9Lw3NcX7bHd5GsJ0aEu y" "Zr8Kq2VfT1mYp9Lw3NcX7bHd5GsJ0aEu"
mkdir -p org/.git && printf 'AKIAQWERTYUIOPASDFGH\n' >org/.git/hidden
os lint
expect_rc 1 "plaintext secrets are errors"
for f in aws.txt id.txt key.pem gh.txt slack.txt stripe.txt app.env values.yaml blob.txt; do
  check "plaintext found in $f at line 3" grep -qE "^([^:]*/)?$f:3: error: possible plaintext secret" <<<"$OUT"
done
check "hidden directories are not scanned" test -z "$(grep '\.git' <<<"$OUT")"
check "spec files themselves are not flagged" test -z "$(grep -E '^secrets/.*error' <<<"$OUT")"
check "organization.yaml not flagged" test -z "$(grep -E '^organization.yaml:.*error' <<<"$OUT")"
# a harmless document: references, placeholders, empty values
rm -rf org/*.txt org/*.pem org/*.env org/values.yaml org/.git
printf 'DB_PASSWORD=${DB_PASSWORD}\npassword: ""\ntoken: null\nsee https://example.com/docs/getting-started\n' >org/README.md
os lint
expect_rc 0 "references and placeholders are not secrets"

# a linked folder is read by nothing (spec_walk follows no link): lint says
# so, list does not show what is behind it, and its files are not scanned
mkdir -p "$TMP/elsewhere"
cp org/secrets/prod/DATABASE_PASSWORD.yaml "$TMP/elsewhere/"
sed -i 's/DATABASE_PASSWORD/LINKED_PASSWORD/g; s/acme.prod.database-password/acme.prod.linked-password/' "$TMP/elsewhere/DATABASE_PASSWORD.yaml"
printf 'password: hunter2hunter2\n' >"$TMP/elsewhere/notes.txt"
remember_value hunter2hunter2
ln -s ../../elsewhere org/secrets/linked
os lint
expect_rc 0 "a symbolic link is a warning"
expect_out "secrets/linked:0: warning: symbolic link not followed" "lint names the link"
check "files behind the link are not scanned" test -z "$(grep -e notes.txt -e LINKED_PASSWORD <<<"$OUT")"
os list
check "list does not show a secret behind the link" test -z "$(grep LINKED_PASSWORD <<<"$OUT")"
rm org/secrets/linked
