#!/usr/bin/env bash
# refs: $NAME and ${NAME} references in manifests, Helm values, compose
# files and .env templates against the secrets: unknown references, unused
# secrets, --strict for CI, -o json.
. "$(dirname "$0")/lib.sh"
setup_org
for n in DATABASE_PASSWORD STRIPE_API_KEY UNUSED_TOKEN; do
  os_in "$(new_value)" set "$n" --env prod
done
os_in "$(new_value)" set DEV_ONLY_KEY --env dev
# a repository: the organization in org/, the rest beside it
git init -q "$TMP"
mkdir -p deploy/chart deploy/node_modules/x .hidden
cat >deploy/app.yaml <<'Y'
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - env:
            - name: DATABASE_URL
              value: "postgres://app:${DATABASE_PASSWORD}@db:5432/app"
            - name: PRICE
              value: "$$5 is literal, $(KUBE_VAR) is Kubernetes', $lower is not a name"
            - name: TYPO
              value: $DATABSE_PASSWORD
Y
printf 'stripe:\n  key: $STRIPE_API_KEY\n' >deploy/chart/values.yaml
printf 'services:\n  web:\n    environment:\n      - DEV=${DEV_ONLY_KEY}\n' >docker-compose.yml
printf 'DATABASE_PASSWORD=$DATABASE_PASSWORD\nMISSING=${NOT_A_SECRET}\n' >.env.example
printf 'X=$IGNORED_IN_NODE_MODULES\n' >deploy/node_modules/x/a.yaml
printf 'X: $IGNORED_HIDDEN\n' >.hidden/a.yaml
printf 'X=$IGNORED_OTHER_NAME\n' >deploy/notes.txt
ln -s ../.hidden/a.yaml deploy/link.yaml
os refs
expect_rc 0 "refs without --strict"
expect_out "deploy/app.yaml:13: unknown reference \$DATABSE_PASSWORD" "a typo is unknown, with file and line"
expect_out ".env.example:2: unknown reference \$NOT_A_SECRET" "a .env template is scanned"
expect_out "unused: prod/UNUSED_TOKEN" "an unused secret"
check "\$\$, \$(...) and lower case are not references" test -z "$(grep -E 'KUBE_VAR|lower' <<<"$OUT")"
check "node_modules, hidden folders, links and other files are skipped" test -z "$(grep IGNORED <<<"$OUT")"
check "orgsecrets' own files are not scanned" test -z "$(grep 'org/' <<<"$OUT")"
check "referenced secrets are not unused" test -z "$(grep -E 'unused: .*(DATABASE_PASSWORD|STRIPE_API_KEY|DEV_ONLY_KEY)' <<<"$OUT")"
expect_err "refs: 6 reference(s) in 4 file(s), 2 unknown, 1 unused secret(s)" "the summary"
os refs --strict
expect_rc 1 "refs --strict with unknown references"
expect_err "2 unknown reference(s) (--strict)" "--strict says why"
os refs --env prod
expect_out "docker-compose.yml:4: unknown reference \$DEV_ONLY_KEY" "--env prod: a dev secret is unknown"
os refs deploy/chart/values.yaml --strict
expect_rc 0 "a clean file"
expect_out "unused: prod/DATABASE_PASSWORD" "a single file leaves the rest unused"
os refs deploy/notes.txt
expect_out "deploy/notes.txt:1: unknown reference \$IGNORED_OTHER_NAME" "a file named on the command line is scanned whatever its name"
os refs "$TMP/deploy"
expect_out "$TMP/deploy/app.yaml:13: unknown reference" "paths below a PATH given are shown from it"
os refs nowhere
expect_rc 1 "a missing PATH"
os refs -o json
expect_rc 0 "refs -o json"
check "refs json" python3 -c '
import json,sys
d=json.loads(sys.argv[1])
assert set(d) == {"files", "skipped", "references", "unknown", "unused"}, d
assert all(set(r) == {"name", "file", "line", "known"} for r in d["references"]), d["references"]
assert all(set(u) == {"name", "file", "line"} for u in d["unknown"]), d["unknown"]
assert d["files"] == 4 and d["skipped"] == 0, d
assert {(u["name"], u["file"], u["line"]) for u in d["unknown"]} == {("DATABSE_PASSWORD", "deploy/app.yaml", 13), ("NOT_A_SECRET", ".env.example", 2)}, d["unknown"]
assert d["unused"] == [{"environment": "prod", "application": None, "name": "UNUSED_TOKEN"}], d["unused"]
known = {r["name"] for r in d["references"] if r["known"]}
assert known == {"DATABASE_PASSWORD", "STRIPE_API_KEY", "DEV_ONLY_KEY"}, known' "$OUT"
# outside Git: the organization folder itself
rm -rf "$TMP/.git"
os refs
expect_rc 0 "refs outside Git"
expect_err "refs: 0 reference(s) in 0 file(s)" "only the organization folder, whose files are skipped"
