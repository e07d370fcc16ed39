#!/usr/bin/env bash
# Installs the Debian packages orgsecrets needs, when run as root; otherwise
# prints the one apt-get line that installs what is missing, and fails.
# usage: scripts/deps.sh [build|make|all|e2e]
#   build  what building the two executables needs (CMake with
#          -DORGSECRETS_TESTS=OFF, and scripts/curl.sh for the lean libcurl):
#          the container image's build stage installs only these
#   make   what `make build` needs: build, plus what compiles the C tests and
#          the benchmark programs beside the executables
#   all    (default; make test, bench, fuzz) make, plus what runs the tests,
#          the fuzzers and the benchmarks
#   e2e    what tests/e2e needs besides: scripts/kube-e2e.sh builds
#          Kubernetes from Debian's source with Go, and etcd runs beside it
set -euo pipefail
build=(build-essential cmake pkg-config
       libssl-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
       libmicrohttpd-dev libgnutls28-dev
       dpkg-dev autoconf automake libtool zlib1g-dev)  # the last line: scripts/curl.sh
compile_tests=(libcmocka-dev python3)  # cmake/Dependencies.cmake with ORGSECRETS_TESTS
run_tests=(clang libclang-rt-14-dev  # make fuzz, and the fuzz targets' replay tests
      age curl python3-jsonpatch python3-yaml yq openssl git
      zsh fish  # tests/cli: the completion scripts loaded into the real shells
      nodejs time  # time: bench/ (its webhook load generator is its own, not wrk)
      # tests/ui: the secrets page in a real browser (playwright-core from npm
      # drives Debian's Chromium, headless)
      chromium chromium-driver
      # tests/install: the chart rendered by Helm's engine (Go text/template,
      # sprig, Kubernetes' YAML decoder, gojsonschema), and the image build
      golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
      golang-github-xeipuuv-gojsonschema-dev golang-github-masterminds-semver-dev
      buildah debootstrap)
e2e=(golang-go etcd-server dpkg-dev patch openssl python3)
case "${1:-all}" in
  build) pkgs=("${build[@]}") ;;
  make) pkgs=("${build[@]}" "${compile_tests[@]}") ;;
  all) pkgs=("${build[@]}" "${compile_tests[@]}" "${run_tests[@]}") ;;
  e2e) pkgs=("${e2e[@]}") ;;
  *) echo "usage: scripts/deps.sh [build|make|all|e2e]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "orgsecrets: missing packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "orgsecrets: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
