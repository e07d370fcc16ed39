#!/bin/sh
# Builds the Dockerfile for real with buildah, offline from any container
# registry, and runs the image the way the Deployment does:
#  1. a debian:12 stand-in: debootstrap --variant=minbase bookworm from the
#     Debian mirror (with the -updates and -security suites, as the official
#     image has), imported as localhost/orgsecrets-test/debian:12;
#  2. a distroless/base-debian12 stand-in assembled from this host's glibc
#     and libssl3 (lib/image.sh), imported likewise;
#  3. `buildah bud` of the Dockerfile with BUILD_IMAGE and RUNTIME_IMAGE
#     pointing at them (--pull=never);
#  4. the image's config (USER 65532:65532, the controller as ENTRYPOINT,
#     org.opencontainers.image.version = VERSION), the lean libcurl in its
#     controller (lean_curl.sh), then its binaries run from the mounted
#     image, read-only as 65532 (check_image_root: --version of both, the
#     controller's --help, a damaged-file decrypt that must exit 1).
# Prints how long each step took. Everything lives in a temporary buildah
# store that is removed at the end; nothing is pushed or kept.
# Exits 77 (skipped), saying why, without root, buildah or debootstrap, or
# when buildah cannot create a container here.
# usage: image_build.sh VERSION
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$1
mirror=${ORGSECRETS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${ORGSECRETS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "debootstrap, buildah's chroot isolation and the read-only run need root"
for t in buildah debootstrap unshare chroot readelf; do
  command -v "$t" >/dev/null 2>&1 || skip "$t is not installed (scripts/deps.sh installs buildah and debootstrap)"
done
. "$here/lib/image.sh"

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/orgsecrets-image.XXXXXX")
driver=overlay
B() { buildah --root "$tmp/storage" --runroot "$tmp/run" --storage-driver "$driver" "$@"; }
cleanup() {
  B umount --all >/dev/null 2>&1 || true
  B rm --all >/dev/null 2>&1 || true
  B rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
t0=$(date +%s)
step() {
  now=$(date +%s)
  echo "time $1: $((now - t0)) s"
  t0=$now
}

# A store that works here: overlay, else vfs (slower, copies every layer).
if ! B from --name probe scratch > "$tmp/probe.log" 2>&1; then
  driver=vfs
  rm -rf "$tmp/storage" "$tmp/run"
  B from --name probe scratch > "$tmp/probe.log" 2>&1 ||
    skip "buildah cannot create a container here (overlay and vfs): $(tail -n 1 "$tmp/probe.log")"
fi
B rm probe >/dev/null
echo "buildah $(buildah --version | awk '{print $3}'), storage driver $driver"

# 1. debian:12
ctr=$(B from scratch)
mnt=$(B mount "$ctr")
if ! debootstrap --variant=minbase bookworm "$mnt" "$mirror" > "$tmp/debootstrap.log" 2>&1; then
  tail -n 20 "$tmp/debootstrap.log"
  echo "FAIL debootstrap of bookworm from $mirror"
  exit 1
fi
rm -f "$mnt/etc/apt/sources.list"
cat > "$mnt/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
B umount "$ctr" >/dev/null
B commit --quiet --rm "$ctr" localhost/orgsecrets-test/debian:12 >/dev/null
step "debian:12 stand-in (debootstrap minbase)"

# 2. distroless/base-debian12:nonroot
ctr=$(B from scratch)
mnt=$(B mount "$ctr")
distroless_root "$mnt"
B umount "$ctr" >/dev/null
B config --user 65532:65532 "$ctr"
B commit --quiet --rm "$ctr" localhost/orgsecrets-test/distroless-base:nonroot >/dev/null
step "distroless stand-in"

# 3. the Dockerfile
image=localhost/orgsecrets-test/orgsecrets-controller:$version
if ! B bud --isolation chroot --pull=never --network host \
       --build-arg BUILD_IMAGE=localhost/orgsecrets-test/debian:12 \
       --build-arg RUNTIME_IMAGE=localhost/orgsecrets-test/distroless-base:nonroot \
       -f "$root/Dockerfile" -t "$image" "$root" > "$tmp/bud.log" 2>&1; then
  tail -n 40 "$tmp/bud.log"
  echo "FAIL buildah bud of the Dockerfile (log above)"
  exit 1
fi
grep -E 'STEP [0-9]+/[0-9]+:|COMMIT|libcurl: ' "$tmp/bud.log" | cut -c1-160
step "buildah bud"

# 4. the image
status=0
expect() {  # expect WHAT ACTUAL WANTED
  if [ "$2" = "$3" ]; then echo "ok   $1: $2"; else echo "FAIL $1: \"$2\", expected \"$3\""; status=1; fi
}
expect "image user" "$(B inspect --type image --format '{{.OCIv1.Config.User}}' "$image")" "65532:65532"
expect "image entrypoint" "$(B inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$image")" \
  "[/usr/local/bin/orgsecrets-controller]"
expect "org.opencontainers.image.version" \
  "$(B inspect --type image --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$image")" "$version"
ctr=$(B from "$image")
mnt=$(B mount "$ctr")
if [ -e "$mnt/bin/sh" ] || [ -e "$mnt/usr/bin/sh" ]; then
  echo "FAIL the image has a shell"; status=1
fi
echo "image files in /usr/local/bin: $(ls "$mnt/usr/local/bin" | tr '\n' ' ')"
sh "$here/lean_curl.sh" "$mnt/usr/local/bin/orgsecrets-controller" || status=1
check_image_root "$mnt" "$version" || status=1
B umount "$ctr" >/dev/null
step "image checks"
exit $status
