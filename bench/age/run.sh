#!/usr/bin/env bash
# age benchmarks, side by side with Debian's age: decrypt throughput and peak
# RSS on a 256 MiB file, and in-process unseal rate of small armored values.
# Usage: bench/age/run.sh BUILD_DIR [SIZE_MIB]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
size_mib=${2:-256}
bin=$build/cmd/orgsecrets/orgsecrets
bench=$build/bench/age/bench_age
for f in "$bin" "$bench"; do
  [ -x "$f" ] || { echo "missing $f (build targets orgsecrets and bench_age)" >&2; exit 1; }
done
have_age=0
if command -v age >/dev/null && command -v age-keygen >/dev/null; then have_age=1; fi

work=$(mktemp -d /tmp/orgsecrets-bench-age.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bin" age keygen -o "$work/key.txt" 2>/dev/null
rcpt=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -1)
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/plain.bin"
if [ $have_age = 1 ]; then
  age -r "$rcpt" -o "$work/file.age" "$work/plain.bin"
else
  "$bin" age encrypt -r "$rcpt" -o "$work/file.age" "$work/plain.bin"
fi
rm -f "$work/plain.bin"
cat "$work/file.age" > /dev/null # warm the page cache

# best_of N CMD...: prints "<best wall seconds> <max RSS KiB of that run>"
best_of() {
  local n=$1; shift
  local best="" best_rss=""
  for _ in $(seq "$n"); do
    local t0 t1 dt
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$work/rss" "$@" > /dev/null
    t1=$(date +%s%N)
    dt=$(( (t1 - t0) / 1000 ))
    if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; best_rss=$(tail -1 "$work/rss"); fi
  done
  awk -v us="$best" -v rss="$best_rss" 'BEGIN { printf "%.4f %d\n", us / 1e6, rss }'
}

echo "decrypt ${size_mib} MiB (X25519, binary, output to /dev/null, best of 5, page cache warm)"
read -r ours_s ours_rss < <(best_of 5 "$bin" age decrypt -i "$work/key.txt" "$work/file.age")
printf "%-28s %10s %10s %14s\n" tool "wall s" "MiB/s" "max RSS KiB"
printf "%-28s %10.3f %10.0f %14d\n" "orgsecrets age decrypt" "$ours_s" \
  "$(awk -v s="$ours_s" -v m="$size_mib" 'BEGIN { print m / s }')" "$ours_rss"
if [ $have_age = 1 ]; then
  read -r age_s age_rss < <(best_of 5 age -d -i "$work/key.txt" "$work/file.age")
  printf "%-28s %10.3f %10.0f %14d\n" "age -d ($(age --version))" "$age_s" \
    "$(awk -v s="$age_s" -v m="$size_mib" 'BEGIN { print m / s }')" "$age_rss"
  awk -v a="$age_s" -v o="$ours_s" 'BEGIN { printf "speed-up over age: %.2fx (goal >= 1.5x)\n", a / o }'
else
  echo "age not installed: no comparison"
fi
awk -v r="$ours_rss" 'BEGIN { printf "orgsecrets peak RSS: %.1f MiB (goal <= 8 MiB)\n", r / 1024 }'
echo
"$bench" 10000 300
