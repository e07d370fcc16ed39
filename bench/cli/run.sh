#!/usr/bin/env bash
# CLI benchmark: a 10,000-secret environment; list, render and lint with
# wall time and peak memory, pinned to one CPU, next to the same unsealing
# done value by value with Debian's age (measured on a sample, extrapolated).
# Usage: bench/cli/run.sh BUILD_DIR [N] [SAMPLE]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-10000}
sample=${3:-500}
os=$build/cmd/orgsecrets/orgsecrets
gen=$build/bench/cli/orgsecrets-gen-tree
for b in "$os" "$gen"; do
  [ -x "$b" ] || { echo "bench/cli: $b not built" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/orgsecrets-bench-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi
[ -x /usr/bin/time ] || { echo "bench/cli: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

t0=$(date +%s.%N)
"$gen" "$work/t" "$n"
t1=$(date +%s.%N)
printf 'generated %d sealed secrets in %.1f s (%s)\n' "$n" "$(echo "$t1 - $t0" | bc)" "$(du -sh "$work/t/org" | cut -f1)"
export ORGSECRETS_DIR=$work/t/org ORGSECRETS_USER=admin@bench
export ORGSECRETS_IDENTITY=$work/t/keys/controller.key

measure() { # LABEL ARGS...: best of 3 runs (wall s, peak KiB)
  local label=$1; shift
  local best="" line
  for _ in 1 2 3; do
    "${pin[@]}" /usr/bin/time -o "$work/time" -f '%e s wall  %U+%S s cpu  %M KiB' "$os" "$@" >/dev/null 2>&1 || true
    line=$(tail -1 "$work/time")
    if [ -z "$best" ] || [ "$(echo "${line%% *} < ${best%% *}" | bc)" -eq 1 ]; then best=$line; fi
  done
  printf '  %-34s %s\n' "$label" "$best"
}

echo "orgsecrets on one CPU (${pin[*]:-unpinned}), best of 3, wall time and peak RSS:"
measure "list ($n secrets)" list
measure "list -o json" list -o json
measure "render --format env ($n values)" render --env prod --format env
measure "render --format k8s" render --env prod --format k8s
measure "lint" lint

# The same unsealing with Debian's age, one value at a time.
if command -v age >/dev/null; then
  mkdir -p "$work/age"
  ls "$work/t/org/secrets/prod" >"$work/all.list"
  head -n "$sample" "$work/all.list" >"$work/sample.list"
  while IFS= read -r f; do
    awk '/-----BEGIN AGE ENCRYPTED FILE-----/{p=1} p{sub(/^    /,""); print} /-----END AGE ENCRYPTED FILE-----/{p=0}' \
      "$work/t/org/secrets/prod/$f" >"$work/age/$f.age"
  done <"$work/sample.list"
  t0=$(date +%s.%N)
  for f in "$work"/age/*.age; do
    "${pin[@]}" age -d -i "$work/t/keys/controller.key" "$f" >/dev/null
  done
  t1=$(date +%s.%N)
  el=$(echo "$t1 - $t0" | bc)
  printf 'age -d, one process per value: %d values in %.2f s -> %.1f s extrapolated to %d\n' \
    "$sample" "$el" "$(echo "$el * $n / $sample" | bc -l)" "$n"
  echo "  (decryption only: the ciphertexts were extracted beforehand; no envelope check)"
fi
