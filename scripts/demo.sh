#!/usr/bin/env bash
# orgsecrets demo: an organization with an admin, a member and a viewer, two
# environments with controller keys, one application; secrets set, listed,
# rendered to env files, linted, and used by a command through `run`.
# Usage: scripts/demo.sh BUILD_DIR   (called by `make demo`)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
[ -x "$build/cmd/orgsecrets/orgsecrets" ] || { echo "demo: orgsecrets not built in $build (run make build)" >&2; exit 1; }
export PATH=$build/cmd/orgsecrets:$build/cmd/orgsecrets-controller:$PATH
OS=orgsecrets
exec 2>&1 # messages (stderr) and data (stdout) in one readable stream

work=$(mktemp -d "${TMPDIR:-/tmp}/orgsecrets-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
pub() { grep '^# public key: ' "$1" | cut -d' ' -f4; }

# Everyone keeps an identity; in real life each on their own laptop.
say "identities (age X25519 keys, files 0600)"
for who in alice bob victor controller-dev controller-prod; do
  "$OS" keygen -o "keys/$who.key" >/dev/null 2>&1
  printf '%-16s %s\n' "$who" "$(pub "keys/$who.key")"
done

export ORGSECRETS_DIR=$work/acme          # the Git checkout of the organization
export ORGSECRETS_USER=alice@acme.example # the acting member (default: git config user.email)
export ORGSECRETS_IDENTITY=$work/keys/alice.key

say "an organization, its members, environments and application"
run "$OS" init --org acme --rotation-days 90
run "$OS" member add alice@acme.example --role admin --recipient "$(pub keys/alice.key)"
run "$OS" member add bob@acme.example --role member --recipient "$(pub keys/bob.key)"
run "$OS" member add victor@acme.example --role viewer --recipient "$(pub keys/victor.key)"
run "$OS" env add dev --controller "$(pub keys/controller-dev.key)" --namespace dev
run "$OS" env add prod --controller "$(pub keys/controller-prod.key)" --namespace prod \
  --env-file acme-prod.env
run "$OS" app add billing --namespace billing
run "$OS" member list

say "secrets (values come from stdin, a file, or --generate; never from argv)"
printf %s 'dev-password-not-so-secret' | run "$OS" set DATABASE_PASSWORD --env dev \
  --description "Postgres password of the app user"
head -c 24 /dev/urandom | base64 | tr -d '\n' >"$work/prod-db-password"
run "$OS" set DATABASE_PASSWORD --env prod --from-file "$work/prod-db-password" \
  --description "Postgres password of the app user"
rm -f "$work/prod-db-password"
run "$OS" set SESSION_SIGNING_KEY --env prod --generate --length 48
printf %s 'https://status.acme.example' | run "$OS" set STATUS_PAGE_URL --env prod --visible-to-viewers
printf %s 'sk_test_stripe_dev_key' | "$OS" set STRIPE_API_KEY --env dev --app billing --as bob@acme.example -i keys/bob.key
echo "$ (bob) orgsecrets set STRIPE_API_KEY --env dev --app billing"
run "$OS" list
echo
echo "The files are plain YAML with an age-encrypted value, ready to commit:"
run sed -n '1,22p' acme/secrets/prod/DATABASE_PASSWORD.yaml
echo "    ..."

say "who can read what"
printf '$ orgsecrets reveal STATUS_PAGE_URL --env prod   (as victor, a viewer)\n'
"$OS" reveal STATUS_PAGE_URL --env prod --as victor@acme.example -i keys/victor.key; echo
printf '$ orgsecrets reveal DATABASE_PASSWORD --env prod (as victor)\n'
"$OS" reveal DATABASE_PASSWORD --env prod --as victor@acme.example -i keys/victor.key || true
printf '$ orgsecrets reveal DATABASE_PASSWORD --env dev -i controller-prod.key\n'
"$OS" reveal DATABASE_PASSWORD --env dev -i keys/controller-prod.key || true

say "env files for both environments (mode 0600)"
mkdir -p rendered
run "$OS" render --env dev --format env -o rendered/dev.env
run "$OS" render --env prod --format env -o rendered/prod.env
run ls -l rendered
echo "(their contents are values, so the demo does not print them)"
run "$OS" render --env prod --format k8s -i keys/controller-prod.key -o rendered/prod-secret.yaml
run grep -E '^(apiVersion|kind|  name|  namespace|    app.kubernetes.io)' rendered/prod-secret.yaml

say "lint"
printf %s 'x' | "$OS" set PASSWORD --env dev >/dev/null 2>&1
echo "$ orgsecrets set PASSWORD --env dev   (a vague name, on purpose)"
run "$OS" lint || true

say "run a program with the secrets in its environment"
export DATABASE_URL='postgres://app:${DATABASE_PASSWORD}@db.acme.internal:5432/app'
run "$OS" run --env prod -- sh -c \
  'test -n "$DATABASE_PASSWORD" && echo "app started with a database password of ${#DATABASE_PASSWORD} characters"; case "$DATABASE_URL" in *"$DATABASE_PASSWORD"*) echo "DATABASE_URL has the password filled in (${#DATABASE_URL} characters)";; esac'

say "bob leaves: re-seal and list what to rotate"
run "$OS" member remove bob@acme.example
run "$OS" rekey

say "the controller delivers each environment to env files (no cluster needed)"
mkdir -p delivered
for env in dev prod; do
  run orgsecrets-controller --environment $env --identity keys/controller-$env.key \
    --source "$ORGSECRETS_DIR" --no-kubernetes --env-file-dir delivered --once \
    --audit-log delivered/audit-$env.log
done
run ls -l delivered
echo "(each file is what 'set -a; . FILE' or a systemd EnvironmentFile= reads; values not shown)"
printf '$ sh -c '"'"'set -a; . delivered/acme-prod.env; ...'"'"'\n'
sh -c 'set -a; . delivered/acme-prod.env; echo "prod env file: ${#DATABASE_PASSWORD}-character DATABASE_PASSWORD, ${#SESSION_SIGNING_KEY}-character SESSION_SIGNING_KEY"'
echo "A second pass changes nothing (files are rewritten only when their content changes):"
before=$(stat -c %Y.%i delivered/acme-prod.env)
orgsecrets-controller --environment prod --identity keys/controller-prod.key \
  --source "$ORGSECRETS_DIR" --no-kubernetes --env-file-dir delivered --once 2>/dev/null
[ "$before" = "$(stat -c %Y.%i delivered/acme-prod.env)" ] && echo "  acme-prod.env untouched"
run orgsecrets audit verify delivered/audit-prod.log

say "done"
echo "Everything above ran in $work (deleted on exit)."
