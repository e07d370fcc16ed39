#!/bin/sh
# Start fakeapi in the background for a test and wait until it listens.
# Usage: tests/fakeapi/start.sh DIR [more fakeapi.py flags...]
# Uses DIR/tls (made if absent), DIR/token (random if absent; re-read per request),
# writes DIR/port, DIR/kubeconfig, DIR/pid, DIR/log, DIR/stderr; prints the URL.
# Stop it with: kill "$(cat DIR/pid)"
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [fakeapi flags...]" >&2; exit 2; }
dir=$1
shift
mkdir -p "$dir"
if [ ! -s "$dir/token" ]; then
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$dir/token"
fi
rm -f "$dir/port"
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/fakeapi.py" --listen 127.0.0.1:0 --tls-dir "$dir/tls" \
  --token-file "$dir/token" --port-file "$dir/port" --kubeconfig-out "$dir/kubeconfig" \
  --log "$dir/log" "$@" >/dev/null 2>"$dir/stderr" &
echo $! > "$dir/pid"
i=0
while [ ! -s "$dir/port" ]; do
  if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "fakeapi failed to start:" >&2
    cat "$dir/stderr" >&2
    exit 1
  fi
  i=$((i + 1))
  if [ $i -ge 600 ]; then
    echo "fakeapi did not listen within 30 s" >&2
    exit 1
  fi
  sleep 0.05
done
echo "https://127.0.0.1:$(cat "$dir/port")"
