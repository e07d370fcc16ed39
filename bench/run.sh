#!/usr/bin/env bash
# Runs every benchmark part (bench/<part>/run.sh) against the build in $1.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for part in age cli controller webhook; do
  if [ -x "$here/$part/run.sh" ]; then
    echo "== bench/$part"
    "$here/$part/run.sh" "$build"
  fi
done
