#!/usr/bin/env bash
# Installs the Debian packages orgsecrets needs to build and test, when run
# as root; otherwise prints the exact apt-get line and fails.
# `scripts/deps.sh e2e` installs what the end-to-end suite needs instead
# (scripts/kube-e2e.sh builds the control plane with them).
set -euo pipefail
if [ "${1:-}" = e2e ]; then
  pkgs=(golang-go etcd-server dpkg-dev patch openssl python3)
else
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
      libmicrohttpd-dev libgnutls28-dev libcmocka-dev
      age curl python3 python3-jsonpatch python3-yaml openssl git
      nodejs wrk time
      dpkg-dev autoconf automake libtool zlib1g-dev)  # scripts/curl.sh
fi
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
