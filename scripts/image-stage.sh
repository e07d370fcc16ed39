#!/usr/bin/env bash
# Stages what the container image adds to its distroless base, under
# STAGING_DIR at the paths it has in the image: the two executables
# (`cmake --install`, component runtime, stripped, into /usr/local/bin) and
# the shared libraries they load beyond what distroless/base-debian12
# already has (glibc and OpenSSL 3), at their real paths. The Dockerfile's
# build stage runs it; tests/install/image_libs.sh runs it on a host build.
# usage: scripts/image-stage.sh BUILD_DIR STAGING_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/image-stage.sh BUILD_DIR STAGING_DIR" >&2; exit 2; }
build=$1
staging=$2
DESTDIR=$staging cmake --install "$build" --prefix /usr/local --component runtime --strip >/dev/null
bins=("$staging/usr/local/bin/orgsecrets" "$staging/usr/local/bin/orgsecrets-controller")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "image-stage.sh: cmake --install did not install $b" >&2; exit 1; }
done
ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|libresolv.so.*|ld-linux*|libssl.so.3|libcrypto.so.3) continue ;;
  esac
  dir="$staging$(readlink -f "$(dirname "$lib")")"
  mkdir -p "$dir"
  cp -L "$lib" "$dir/"
done
(cd "$staging" && find . -type f | sed 's#^\.##' | sort)
