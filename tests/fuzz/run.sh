#!/usr/bin/env bash
# Runs every fuzz target of BUILD (default build-fuzz) for SECONDS each
# (default 20) on a corpus seeded by seed.sh into BUILD/corpus (new inputs
# stay there, not in the repository). Crashes go to BUILD/artifacts and fail
# the run. Used by `make fuzz`.
set -uo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/seed.sh" "$build/corpus" || exit 1
mkdir -p "$build/artifacts"
declare -A corpus=([age_armor]=armor [age_header]=header [age_decrypt]=decrypt
  [spec_parse]=spec_parse [inject_review]=inject_review [kube_responses]=kube_responses)
declare -A dict=([kube_responses]="$here/kube.dict")
failed=0
for t in age_armor age_header age_decrypt spec_parse inject_review kube_responses; do
  bin=$build/tests/fuzz/fuzz_$t
  args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-")
  [ -n "${dict[$t]:-}" ] && args+=(-dict="${dict[$t]}")
  echo "fuzz: $t for ${seconds}s"
  if ! "$bin" "${args[@]}" "$build/corpus/${corpus[$t]}" >"$build/fuzz_$t.log" 2>&1; then
    echo "fuzz: $t FAILED (log: $build/fuzz_$t.log; crash input in $build/artifacts/)"
    grep -E "ERROR: |SUMMARY: |^    #[0-9] " "$build/fuzz_$t.log" | head -12
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | tr '\n' ' '
    echo
  fi
done
exit $failed
