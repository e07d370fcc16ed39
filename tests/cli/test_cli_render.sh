#!/usr/bin/env bash
# orgsecrets render: env (read back by sh), json, k8s.
. "$(dirname "$0")/lib.sh"
setup_org

V1=$(new_value)
TRICKY="$(new_value) \"quoted\" \$HOME \`date\` back\\slash 'single'
second line	tab"
remember_value "$TRICKY"
os_in "$V1" set SIMPLE_TOKEN --env prod
os_in "$TRICKY" set TRICKY_VALUE --env prod
VW=$(new_value)
os_in "$VW" set WEB_ONLY_SETTING --env prod --app web
VDIS=$(new_value)
os_in "$VDIS" set DISABLED_SETTING --env prod
os set DISABLED_SETTING --env prod --disable </dev/null

secret_out "$TMP/prod.env" render --env prod --format env
expect_rc 0 "render env"
check "bare value written bare" grep -qx "SIMPLE_TOKEN=$V1" "$TMP/prod.env"
check "disabled secret not rendered" test -z "$(grep DISABLED_SETTING "$TMP/prod.env")"
check "app secret not in org-level render" test -z "$(grep WEB_ONLY_SETTING "$TMP/prod.env")"
# POSIX sh reads every value back exactly
sh -c 'set -a; . "$1"; printf %s "$TRICKY_VALUE"' sh "$TMP/prod.env" >"$TMP/back"
printf %s "$TRICKY" >"$TMP/want"
check "sh . reads the tricky value back byte for byte" cmp -s "$TMP/back" "$TMP/want"
bash -c 'set -a; . "$1"; printf %s "$SIMPLE_TOKEN"' sh "$TMP/prod.env" >"$TMP/back"
check "bash reads the simple value back" test "$(cat "$TMP/back")" = "$V1"

secret_out "$TMP/web.env" render --env prod --app web -o "$TMP/web-file.env"
check "-o writes mode 0600" test "$(stat -c %a "$TMP/web-file.env")" = 600
check "--app merges app and org secrets" grep -q "^WEB_ONLY_SETTING=" "$TMP/web-file.env"
check "--app keeps org secrets" grep -q "^SIMPLE_TOKEN=" "$TMP/web-file.env"

secret_out "$TMP/prod.json" render --env prod --format json
expect_rc 0 "render json"
check "json round-trips" python3 -c '
import json,sys
d = json.load(open(sys.argv[1])); assert d["SIMPLE_TOKEN"] == sys.argv[2]
assert d["TRICKY_VALUE"] == open(sys.argv[3]).read(); assert "DISABLED_SETTING" not in d' \
  "$TMP/prod.json" "$V1" "$TMP/want"

secret_out "$TMP/prod.yaml" render --env prod --format k8s
expect_rc 0 "render k8s"
check "k8s manifest is a v1 Secret with base64 data" python3 -c '
import yaml,base64,sys
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
# the environment namespace, then every application namespace (as the controller delivers)
assert [d["metadata"]["namespace"] for d in docs] == ["prod", "web"], docs
assert docs[0]["data"] == docs[1]["data"]
d = docs[0]
assert d["apiVersion"] == "v1" and d["kind"] == "Secret" and d["type"] == "Opaque"
assert d["metadata"]["name"] == "acme-secrets" and d["metadata"]["namespace"] == "prod"
assert d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "orgsecrets",
  "app.kubernetes.io/part-of": "orgsecrets", "orgsecrets.io/organization": "acme",
  "orgsecrets.io/environment": "prod"}, d["metadata"]["labels"]
assert base64.b64decode(d["data"]["SIMPLE_TOKEN"]).decode() == sys.argv[2]
assert base64.b64decode(d["data"]["TRICKY_VALUE"]) == open(sys.argv[3],"rb").read()
assert "WEB_ONLY_SETTING" not in d["data"]' "$TMP/prod.yaml" "$V1" "$TMP/want"
secret_out "$TMP/web.yaml" render --env prod --app web --format k8s
check "k8s app Secret" python3 -c '
import yaml,sys
d = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d][0]
assert d["metadata"]["name"] == "web-secrets" and d["metadata"]["namespace"] == "web"
assert d["metadata"]["labels"]["orgsecrets.io/application"] == "web"
assert len(d["metadata"]["labels"]) == 5
assert list(d["data"]) == ["WEB_ONLY_SETTING"]' "$TMP/web.yaml"

# a NUL byte cannot be an environment variable; binary is fine for k8s
printf 'a\0b' >"$TMP/nul"
os set NUL_BYTES_VALUE --env dev --from-file "$TMP/nul"
secret_out "$TMP/dev.env" render --env dev
expect_rc 1 "env render refuses a NUL value"
expect_err "NUL_BYTES_VALUE" "the refusal names the secret"
secret_out "$TMP/dev.yaml" render --env dev --format k8s
expect_rc 0 "k8s renders binary values"
printf '\xff\xfe' >"$TMP/bin"
os set NOT_UTF8_VALUE --env dev --from-file "$TMP/bin"
secret_out "$TMP/dev.json" render --env dev --format json
expect_rc 1 "json refuses non-UTF-8"
expect_err "NOT_UTF8_VALUE" "json refusal names the secret"
os render --env prod --format xml
expect_rc 2 "unknown format is a usage error"

# -o is the format, as in kubectl; a file is --output-file
secret_out "$TMP/o.json" render --env prod -o json
expect_rc 0 "render -o json"
check "-o json is --format json" cmp -s "$TMP/o.json" "$TMP/prod.json"
secret_out "$TMP/o.yaml" render --env prod -o k8s
check "-o k8s is --format k8s" cmp -s "$TMP/o.yaml" "$TMP/prod.yaml"
secret_out "$TMP/o.out" render --env prod -o json --output-file "$TMP/of.json"
expect_rc 0 "render -o json --output-file F"
check "the JSON went to the file" cmp -s "$TMP/of.json" "$TMP/prod.json"
check "and nothing to stdout" test ! -s "$TMP/o.out"
check "--output-file is mode 0600" test "$(stat -c %a "$TMP/of.json")" = 600
os render --env prod -o json --format env
expect_rc 2 "-o and --format disagreeing"
expect_err "render: -o json and --format env disagree" "says so"
os render --env prod -o xml --output-file "$TMP/x"
expect_rc 2 "an unknown -o with --output-file"
expect_err "render: unknown format -o xml" "names the format"
secret_out "$TMP/o.out" render --env prod -o "$TMP/old-style.env"
expect_rc 0 "the old -o FILE still writes FILE"
expect_err "warning: \`render -o FILE\` is deprecated: -o is the output format now" "with a deprecation warning"
check "the old -o FILE wrote the env file" cmp -s "$TMP/old-style.env" "$TMP/prod.env"
