#!/usr/bin/env bash
# CLI medians, for comparing builds on a busy machine: one 10,000-secret
# tree, each command run N times per build with the builds alternating run
# by run, pinned to CPU 0 as bench/cli/run.sh pins them; prints the median
# wall and CPU time and peak RSS of each command and build.
# usage: bench/cli/median.sh N BUILD_DIR... (the last build generates the tree)
set -euo pipefail
n=$1; shift
[ $# -gt 0 ] || { echo "usage: bench/cli/median.sh N BUILD_DIR..." >&2; exit 2; }
builds=()
for b in "$@"; do builds+=("$(cd "$b" && pwd)"); done
[ -x /usr/bin/time ] || { echo "bench/cli: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/orgsecrets-bench-cli-median.XXXXXX")
trap 'rm -rf "$work"' EXIT
"${builds[-1]}/bench/cli/orgsecrets-gen-tree" "$work/t" 10000 >/dev/null
export ORGSECRETS_DIR=$work/t/org ORGSECRETS_USER=admin@bench
export ORGSECRETS_IDENTITY=$work/t/keys/controller.key
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi
cmds=("list" "list -o json" "render --env prod --format env" "render --env prod --format k8s" "lint")
for c in "${!cmds[@]}"; do
  for _ in $(seq "$n"); do
    for b in "${!builds[@]}"; do
      # shellcheck disable=SC2086  # the command's words
      "${pin[@]}" /usr/bin/time -o "$work/one" -f '%e %U %S %M' \
        "${builds[$b]}/cmd/orgsecrets/orgsecrets" ${cmds[$c]} >/dev/null 2>&1 || true
      tail -1 "$work/one" >>"$work/runs.$c.$b"
    done
  done
  for b in "${!builds[@]}"; do
    python3 - "$work/runs.$c.$b" "${builds[$b]}" "${cmds[$c]}" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
wall = sorted(r[0] for r in rows)
cpu = [r[1] + r[2] for r in rows]
rss = [r[3] / 1024 for r in rows]
print("%-30s %-32s wall median %.2f s (%.2f-%.2f)  cpu median %.2f s  peak RSS median %.1f MiB  (%d runs)"
      % (sys.argv[2][-30:], sys.argv[3], statistics.median(wall), wall[0], wall[-1],
         statistics.median(cpu), statistics.median(rss), len(rows)))
PY
  done
done
