#!/bin/sh
# Test exec credential plugin. Appends "run ARGS" to $PLUGIN_COUNT_FILE, then
# prints an ExecCredential whose token is the content of $PLUGIN_TOKEN_FILE.
# PLUGIN_EXPIRY: expirationTimestamp; PLUGIN_API: apiVersion to answer with;
# PLUGIN_FAIL: exit 3 instead (after printing a fake secret to stdout).
set -eu
echo "run $*" >> "$PLUGIN_COUNT_FILE"
printf '%s\n' "${KUBERNETES_EXEC_INFO:-}" > "$PLUGIN_COUNT_FILE.info"
if [ -n "${PLUGIN_FAIL:-}" ]; then
  echo '{"status":{"token":"plugin-secret-should-not-leak"}}'
  exit 3
fi
tok=$(cat "$PLUGIN_TOKEN_FILE")
api=${PLUGIN_API:-client.authentication.k8s.io/v1}
if [ -n "${PLUGIN_EXPIRY:-}" ]; then
  printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' \
    "$api" "$tok" "$PLUGIN_EXPIRY"
else
  printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"}}\n' "$api" "$tok"
fi
