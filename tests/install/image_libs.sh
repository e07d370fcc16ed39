#!/bin/sh
# Runs the Dockerfile's staging step (scripts/image-stage.sh: cmake --install
# and the shared libraries distroless lacks) on the build CMake made here,
# then runs the binaries the way the image runs them, in a chroot that holds
# only what gcr.io/distroless/base-debian12 provides (glibc and libssl3,
# taken from this Debian 12 host) plus what was staged: read-only, as
# 65532 (lib/image.sh). A shared library the staging step misses makes the
# loader fail here, as it would in the image; so does a library loaded at
# run time, like the libgcc_s that pthread_cancel needs. Needs root for
# chroot; exits 77 (skipped) otherwise. install.image_build does the same on
# the image buildah builds from the Dockerfile.
# usage: image_libs.sh BUILD_DIR VERSION
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
version=$2

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: chroot needs root"
  exit 77
fi
. "$here/lib/image.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r="$tmp/root"
distroless_root "$r"
echo "staged:"
bash "$root/scripts/image-stage.sh" "$build" "$tmp/staging" | sed 's/^/  /'
cp -a "$tmp/staging/." "$r/"

check_image_root "$r" "$version"
