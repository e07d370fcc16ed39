#!/usr/bin/env bash
# Webhook latency at a fixed rate over HTTPS on loopback, and what a pod gains;
# then, on a fresh controller, its peak memory under hostile bodies
# (hostile.py). BENCH_WEBHOOK_PART=latency or =limits runs one part.
# usage: bench/webhook/run.sh BUILD_DIR [RATE] [SECONDS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
rate=${2:-500}
secs=${3:-10}
cli=$build/cmd/orgsecrets/orgsecrets
ctl=$build/cmd/orgsecrets-controller/orgsecrets-controller
load=$build/bench/webhook/bench_webhook_loadgen
t=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$t"' EXIT
export ORGSECRETS_DIR=$t/org ORGSECRETS_USER=bench@example.com ORGSECRETS_IDENTITY=$t/admin.key
mkdir -p "$ORGSECRETS_DIR"
admin=$("$cli" keygen -o "$t/admin.key" 2>/dev/null)
ctlr=$("$cli" keygen -o "$t/ctl.key" 2>/dev/null)
"$cli" init --org acme >/dev/null
"$cli" member add bench@example.com --role admin --recipient "$admin" >/dev/null
"$cli" env add prod --controller "$ctlr" --namespace shop >/dev/null
for n in DATABASE_PASSWORD API_KEY SMTP_PASSWORD; do
  "$cli" set $n --env prod --generate >/dev/null 2>&1
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/tls.key" \
  -out "$t/tls.crt" -days 2 -subj /CN=bench -addext subjectAltName=IP:127.0.0.1 2>/dev/null
part=${BENCH_WEBHOOK_PART:-all}
here=$(cd "$(dirname "$0")" && pwd)
# Starts a fresh controller (its own peak memory) serving the webhook: sets pid and url.
start_controller() {
  [ -z "$pid" ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  : >"$t/ctl.log"
  "$ctl" --environment prod --identity "$t/ctl.key" --source "$ORGSECRETS_DIR" --no-kubernetes \
    --env-file-dir "$t/env" --webhook-listen 127.0.0.1:0 --tls-cert "$t/tls.crt" --tls-key "$t/tls.key" \
    --resync 1h 2>"$t/ctl.log" &
  pid=$!
  for _ in $(seq 100); do grep -q "pod webhook on port" "$t/ctl.log" && break; sleep 0.05; done
  url=https://127.0.0.1:$(sed -n 's/.*pod webhook on port \([0-9]*\).*/\1/p' "$t/ctl.log")/mutate-pods
}
if [ "$part" != limits ]; then  # (not indented: the here-documents below)
start_controller
cat >"$t/review.json" <<JSON
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"shop","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop","labels":{"orgsecrets.io/inject":"true","app":"web"}},"spec":{"containers":[{"name":"app","image":"registry.example/web:1.2.3","env":[{"name":"DATABASE_URL","value":"postgres://app:\$DATABASE_PASSWORD@db:5432/app"},{"name":"API_KEY","value":"\${API_KEY}"},{"name":"SMTP_PASSWORD","value":"\$SMTP_PASSWORD"},{"name":"LOG_LEVEL","value":"info"}]}]}}}}
JSON
curl -s --cacert "$t/tls.crt" -H 'Content-Type: application/json' --data-binary @"$t/review.json" "$url" >"$t/resp.json"
"$load" "$url" "$t/tls.crt" "$t/review.json" 100 2 2 >/dev/null || true   # warm-up
echo "orgsecrets webhook, $rate requests/s for ${secs}s over HTTPS (4 keep-alive connections):"
"$load" "$url" "$t/tls.crt" "$t/review.json" "$rate" "$secs" 4
echo "orgsecrets webhook, 2000 requests/s for 5s (headroom):"
"$load" "$url" "$t/tls.crt" "$t/review.json" 2000 5 8 || true
echo "controller peak memory: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
python3 - "$t/resp.json" <<'PY'
import base64, json, sys
r = json.load(open(sys.argv[1]))["response"]
ops = json.loads(base64.b64decode(r["patch"]))
paths = sorted({o["path"].split("/")[-1] if "/env" not in o["path"] else "env" for o in ops})
print("what the pod gains: %d JSON Patch operations touching %s; no sidecar, no init container, no volume, no extra memory"
      % (len(ops), ", ".join(sorted({("env" if "/env" in o["path"] else o["path"]) for o in ops}))))
print("(Vault Agent Injector adds a 64-128 MiB agent sidecar per pod and allows up to 30 s per admission)")
PY
fi
if [ "$part" != latency ]; then
  start_controller
  echo "orgsecrets webhook under hostile bodies, 8 at once (fresh controller; VmHWM after each phase):"
  python3 "$here/hostile.py" "$url" "$t/tls.crt" "$pid" 8 2
fi
