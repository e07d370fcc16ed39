#!/bin/sh
# Runs the Dockerfile's staging step (the RUN that fills /staging) on the
# binaries CMake built here, then starts both binaries in a chroot that
# holds only what gcr.io/distroless/base-debian12 provides for them (glibc
# and libssl3, taken from this Debian 12 host) plus what was staged. A
# shared library the staging step misses makes the loader fail here, as it
# would in the image. Needs root for chroot; exits 77 (skipped) otherwise.
# usage: image_libs.sh ORGSECRETS_BIN CONTROLLER_BIN
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cli=$1
ctl=$2

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: chroot needs root"
  exit 77
fi
for b in "$cli" "$ctl"; do
  [ -x "$b" ] || { echo "FAIL: $b is not built"; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The staging RUN, continuation lines joined, with its absolute paths moved
# below $tmp. It is taken from the Dockerfile verbatim otherwise.
step=$(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$root/Dockerfile" | grep '^RUN .*/staging' | sed 's/^RUN //')
[ -n "$step" ] || { echo "FAIL: no staging RUN in the Dockerfile"; exit 1; }
step=$(printf '%s' "$step" | sed -e "s#/staging#$tmp/staging#g" -e "s#/tmp/libs#$tmp/libs#g")

mkdir -p "$tmp/src/build/cmd"
cp "$cli" "$ctl" "$tmp/src/build/cmd/"
(cd "$tmp/src" && /bin/sh -c "$step") > "$tmp/staged.txt"
echo "staged:"
sed "s#^$tmp##" "$tmp/staged.txt"

# A usr-merged root with distroless/base's share of the libraries.
r="$tmp/root"
mkdir -p "$r/usr/lib" "$r/usr/lib64" "$r/tmp"
ln -s usr/lib "$r/lib"
ln -s usr/lib64 "$r/lib64"
for pkg in libc6 libssl3; do
  dpkg -L "$pkg" | grep -E '^/(usr/)?lib(64)?/.*\.so' | while read -r f; do
    [ -e "$f" ] || continue
    d="$r$(readlink -f "$(dirname "$f")")"
    mkdir -p "$d"
    cp -a "$f" "$d/"
  done
done
cp -a "$tmp/staging/." "$r/"

status=0
for b in orgsecrets orgsecrets-controller; do
  if chroot "$r" "/usr/local/bin/$b" --help > "$tmp/out" 2>&1; then
    echo "ok   $b --help runs with the staged libraries"
  else
    echo "FAIL $b does not start in the distroless-like root:"
    sed 's/^/     /' "$tmp/out"
    status=1
  fi
done
exit $status
