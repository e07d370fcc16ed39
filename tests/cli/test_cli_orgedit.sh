#!/usr/bin/env bash
# env add / app add / member add never write an organization.yaml that cannot
# load: every bad option fails and leaves the file byte for byte as it was.
. "$(dirname "$0")/lib.sh"
setup_org

ORGFILE=$TMP/org/organization.yaml
CTL=$(pubkey keys/ctl-dev)
refused() { # refused DESCRIPTION ARGS...: fails, file unchanged, folder loads
  local d=$1; shift
  local before after
  before=$(sha256sum <"$ORGFILE")
  os "$@"
  after=$(sha256sum <"$ORGFILE")
  if [ "$RC" -ne 0 ]; then pass; else fail "$d: accepted (stderr: $ERR)"; fi
  check "$d: organization.yaml unchanged" test "$before" = "$after"
  "$OS_BIN" list >/dev/null 2>"$TMP/.load" || fail "$d: the folder no longer loads: $(cat "$TMP/.load")"
}

refused "env add --env-file with .." env add qa --controller "$CTL" --env-file ../../etc/cron.d/x
expect_err "--env-file" "the error names --env-file"
refused "env add --env-file absolute" env add qa --controller "$CTL" --env-file /etc/cron.d/x
refused "env add --env-file with ." env add qa --controller "$CTL" --env-file a/./b.env
refused "env add --env-file empty part" env add qa --controller "$CTL" --env-file a//b.env
refused "env add --secret-name not a Kubernetes name" env add qa --controller "$CTL" --secret-name Not_A_Name
expect_err "--secret-name" "the error names --secret-name"
refused "env add --secret-name too long" env add qa --controller "$CTL" --secret-name "$(printf 'a%.0s' $(seq 300))"
refused "env add --namespace invalid" env add qa --controller "$CTL" --namespace Bad_NS
refused "env add --controller invalid" env add qa --controller age1nope
refused "env add invalid name" env add QA --controller "$CTL"
refused "env add existing name" env add dev --controller "$CTL"
refused "app add --secret-name invalid" app add api --namespace api --secret-name Bad_Name
refused "app add --namespace invalid" app add api --namespace Bad_NS
refused "app add invalid name" app add Api --namespace api
refused "member add name with a newline" member add "$(printf 'eve\nrole: admin')" --role viewer
refused "member add invalid recipient" member add eve@example.com --role member --recipient age1nope

# good options still work, and the result loads
os env add qa --controller "$CTL" --env-file apps/qa.env --secret-name qa-secrets --namespace qa
expect_rc 0 "env add with valid options"
os app add api --namespace api --secret-name api-secrets
expect_rc 0 "app add with valid options"
os lint
expect_rc 0 "the edited organization lints clean"
