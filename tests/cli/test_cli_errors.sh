#!/usr/bin/env bash
# Errors that say what to do: a missing identity file, the role a command
# needs, "not a recipient" (rekey, or another identity file) told apart
# from a tampered file, an identity file that is too open but not the
# user's, a viewer without a key.
. "$(dirname "$0")/lib.sh"
setup_org
V=$(new_value)
os_in "$V" set DATABASE_PASSWORD --env prod
VV=$(new_value)
os_in "$VV" set STATUS_BANNER --env prod --visible-to-viewers
expect_rc 0 "setup"

# no identity file
ORGSECRETS_IDENTITY=$TMP/keys/missing secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 1 "reveal without an identity file"
expect_err "no identity file $TMP/keys/missing: run \`orgsecrets keygen\` to create one" "names keygen"
HOME=$TMP/newhome ORGSECRETS_IDENTITY= secret_out "$TMP/r" render --env prod
expect_rc 1 "render without the default identity file"
expect_err "no identity file $TMP/newhome/.config/orgsecrets/identity: run \`orgsecrets keygen\`" "names the default path and keygen"

# the role a command needs
os_in "$(new_value)" set NEW_ONE --env prod --as vic@example.com
expect_rc 1 "a viewer cannot set"
expect_err "permission denied: vic@example.com is a viewer; creating and updating secrets needs the role member or admin" "set names the role needed"
os delete DATABASE_PASSWORD --env prod --yes --as bob@example.com
expect_rc 1 "a member cannot delete"
expect_err "permission denied: bob@example.com is a member; deleting secrets needs the role admin" "delete names the role needed"
os member add x@example.com --role viewer --as bob@example.com
expect_rc 1 "a member cannot add members"
expect_err "needs the role admin" "member add names the role needed"
ORGSECRETS_IDENTITY=$TMP/keys/vic secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod --as vic@example.com
expect_rc 1 "a viewer cannot reveal a hidden secret"
expect_err "reading values needs the role member or admin" "reveal names the role needed"
os_in "$(new_value)" set NEW_ONE --env prod --as stranger@example.com
expect_rc 1 "not a member"
expect_err "stranger@example.com is not a member of organization acme (ask an admin to run \`orgsecrets member add stranger@example.com" "says how to become a member"

# not a recipient: a member added after the value was sealed
os member add carol@example.com --role member --recipient "$(pubkey keys/carol)"
ORGSECRETS_IDENTITY=$TMP/keys/carol secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod --as carol@example.com
expect_rc 1 "carol before rekey"
expect_err "prod/DATABASE_PASSWORD: not a recipient: your identity file holds key $(pubkey keys/carol) (that of carol@example.com), but this value is sealed to members' keys and yours is not among them" "carol: her key, not among the recipients"
expect_err "ask an admin to run \`orgsecrets rekey\`" "carol: rekey is the fix"
ORGSECRETS_IDENTITY=$TMP/keys/carol secret_out "$TMP/r" render --env prod --as carol@example.com
expect_rc 1 "render says the same"
expect_err "ask an admin to run \`orgsecrets rekey\`" "render: rekey is the fix"
# an identity file that is nobody's
os keygen -o "$TMP/keys/stray"
ORGSECRETS_IDENTITY=$TMP/keys/stray secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 1 "an identity file of nobody"
expect_err "not a recipient: your identity file holds key $(pubkey keys/stray), which is not the key of any member of organization acme" "a stray key is told so"
os rekey --yes
ORGSECRETS_IDENTITY=$TMP/keys/carol secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod --as carol@example.com
expect_rc 0 "carol after rekey"
check "carol reads the value" test "$(cat "$TMP/r")" = "$V"

# tampering: the recipients list names alice's key, the ciphertext is not sealed to it
cp org/secrets/prod/DATABASE_PASSWORD.yaml "$TMP/keep.yaml"
head -c 40 /dev/urandom | "$OS_BIN" age encrypt -a -r "$(pubkey keys/carol)" >"$TMP/other.age" 2>>"$LOG"
python3 - "$TMP/org/secrets/prod/DATABASE_PASSWORD.yaml" "$TMP/other.age" <<'EOF'
import sys
path, armor = sys.argv[1], open(sys.argv[2]).read()
lines = open(path).read().split("\n")
i = lines.index("  encryptedValue: |")
out = lines[: i + 1] + ["    " + l for l in armor.rstrip("\n").split("\n")] + [""]
open(path, "w").write("\n".join(out))
EOF
secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 1 "a tampered file"
expect_err "prod/DATABASE_PASSWORD: tampered or damaged: its recipients list names your key" "tampering is named"
case "$ERR" in *"orgsecrets rekey"*) fail "tampering is not a rekey matter" ;; *) pass ;; esac
case "$ERR" in *"not a recipient"*) fail "tampering is not 'not a recipient'" ;; *) pass ;; esac
cp "$TMP/keep.yaml" org/secrets/prod/DATABASE_PASSWORD.yaml

# a too-open identity file that belongs to someone else: no chmod advice
if [ "$(id -u)" -eq 0 ]; then
  cp keys/alice "$TMP/theirs"
  chown 65534 "$TMP/theirs"
  chmod 0644 "$TMP/theirs"
  other=$TMP/theirs uid=65534
else
  other=/etc/passwd uid=$(stat -c %u /etc/passwd) # a world-readable file of another user
fi
ORGSECRETS_IDENTITY=$other secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 1 "a too-open identity file of another user"
expect_err "belongs to user id $uid, not to you: ask its owner to make it private" "says whose it is"
case "$ERR" in *chmod*) fail "chmod suggested for a file the user does not own: $ERR" ;; *) pass ;; esac
cp keys/alice "$TMP/mine" && chmod 0644 "$TMP/mine"
ORGSECRETS_IDENTITY=$TMP/mine secret_out "$TMP/r" reveal DATABASE_PASSWORD --env prod
expect_rc 1 "a too-open identity file of the user"
expect_err "run chmod 600 $TMP/mine" "chmod is the fix for the owner"

# a viewer without a key and a secret visible to viewers
os member update vic@example.com --recipient ''
os rekey --yes
ORGSECRETS_IDENTITY=$TMP/keys/vic secret_out "$TMP/r" reveal STATUS_BANNER --env prod --as vic@example.com
expect_rc 1 "a viewer without a key"
expect_err "vic@example.com is a viewer without a key, so no value is sealed to them" "says why"
expect_err "ask an admin to run \`orgsecrets member update vic@example.com --recipient AGE1...\`" "says what to ask for"
os member update vic@example.com --recipient "$(pubkey keys/vic)"
os rekey --yes
ORGSECRETS_IDENTITY=$TMP/keys/vic secret_out "$TMP/r" reveal STATUS_BANNER --env prod --as vic@example.com
expect_rc 0 "the viewer with a key again"
check "the viewer reads the visible value" test "$(cat "$TMP/r")" = "$VV"
