#!/usr/bin/env bash
# usage: bench/controller/run.sh BUILD_DIR [APPS] [PER_APP]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/bench_controller.py" "$@"
