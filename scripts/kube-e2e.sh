#!/usr/bin/env bash
# Builds the control plane the end-to-end suite (tests/e2e/) runs against:
# kube-apiserver and kube-controller-manager from Debian's own `kubernetes`
# source package (with Debian's patches), compiled with Debian's golang-go;
# etcd is Debian's etcd-server. The source is fetched by apt-get source on a
# private apt configuration (scripts/debian-source.sh); the system's /etc/apt
# is left alone. Nothing is downloaded but Debian packages.
#
# The binaries are cached outside any build tree, one folder per Debian
# source version: $ORGSECRETS_KUBE_CACHE (default /var/cache/orgsecrets/kube
# for root, else ~/.cache/orgsecrets/kube) /<version>/bin/. A stamp there
# records the version, the Go release and the recipe; a run that finds a
# matching one does nothing (and needs no network).
#
# usage: scripts/kube-e2e.sh            build unless a matching cache exists
#        scripts/kube-e2e.sh --update   also build when Debian has a newer source
#        scripts/kube-e2e.sh --locate   print the cached bin/ folder, or exit 1
set -euo pipefail

die() { echo "kube-e2e.sh: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
debsrc_tag=kube-e2e.sh
# shellcheck source=debian-source.sh
. "$here/debian-source.sh"

mode=build
case "${1:-}" in
  "") ;;
  --update) mode=update ;;
  --locate) mode=locate ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option $1 (see --help)" ;;
esac

if [ -n "${ORGSECRETS_KUBE_CACHE:-}" ]; then
  cache=$ORGSECRETS_KUBE_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  cache=/var/cache/orgsecrets/kube
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/orgsecrets/kube
fi

# What the stamp must match besides the source version. Bump recipe when the
# way of building changes (a patch, the generation step, a flag).
recipe=1
binaries=(kube-apiserver kube-controller-manager)
jobs=${ORGSECRETS_KUBE_JOBS:-2}
goversion=$( (command -v go >/dev/null && go env GOVERSION) 2>/dev/null || true)
want() {  # want VERSION
  printf 'source kubernetes %s\ngo %s\nrecipe %s\nbinaries %s\n' "$1" "$goversion" "$recipe" "${binaries[*]}"
}
complete() {  # complete DIR VERSION: DIR holds a finished build of VERSION
  local d=$1 b
  [ -f "$d/stamp" ] && [ "$(cat "$d/stamp")" = "$(want "$2")" ] || return 1
  for b in "${binaries[@]}"; do [ -x "$d/bin/$b" ] || return 1; done
}
cached_version() {  # the newest version with a matching finished build, if any
  local d v found=()
  for d in "$cache"/*/; do
    [ -f "$d/stamp" ] || continue
    v=$(sed -n 's/^source kubernetes //p' "$d/stamp")
    [ -n "$v" ] && complete "${d%/}" "$v" && found+=("$v")
  done
  [ ${#found[@]} -gt 0 ] && debsrc_newest "${found[@]}"
  return 0
}

have=
[ -n "$goversion" ] && [ -d "$cache" ] && have=$(cached_version)
if [ "$mode" = locate ]; then
  [ -n "$have" ] || exit 1
  echo "$cache/$have/bin"
  exit 0
fi
if [ "$mode" = build ] && [ -n "$have" ]; then
  echo "kube-e2e.sh: kube-apiserver and kube-controller-manager $have are cached in $cache/$have/bin"
  exit 0
fi

for tool in apt-get apt-cache apt-config dpkg-source patch go etcd; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh e2e installs it)"
done
case "$goversion" in
  go1.1[89]*|go1.[2-9][0-9]*) ;;
  *) die "Go $goversion is too old: the reflect2 patch is for Go >= 1.18 (Debian bookworm's golang-go)" ;;
esac
mkdir -p "$cache" || die "cannot create $cache"
cache=$(cd "$cache" && pwd)

debsrc_init "$cache/index"  # the private apt configuration and Debian's source index
listed=$(debsrc_versions kubernetes)
mapfile -t versions <<< "$listed"
version=$(debsrc_newest "${versions[@]}")
out=$cache/$version
if complete "$out" "$version"; then
  echo "kube-e2e.sh: kube-apiserver and kube-controller-manager $version are cached in $out/bin"
  exit 0
fi
# "1.20.5+really1.20.2" is upstream 1.20.2 (Debian went back to it).
upstream=${version#*:}; upstream=${upstream%-*}; upstream=${upstream##*+really}
case "$upstream" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "cannot tell the upstream release from Debian version $version" ;;
esac
major=${upstream%%.*}; minor=${upstream#*.}; minor=${minor%%.*}

work=$cache/$version.build
rm -rf "$work" "$out"
mkdir -p "$work"
start=$(date +%s)
src=$(debsrc_get kubernetes "$version" "$work/dl")
[ -f "$src/cmd/kube-apiserver/apiserver.go" ] || die "$src does not look like the Kubernetes source"
log=$work/build.log
echo "kube-e2e.sh: building Kubernetes $upstream (Debian $version) with $goversion, -p $jobs (log: $log)"

# upstream 1.20 builds in GOPATH mode, its staging repos reached through
# vendor/ symlinks; a private GOPATH and build cache keep the build cold and
# away from the user's.
export GOPATH=$work/gopath GOCACHE=$work/gocache GO111MODULE=off GOFLAGS= CGO_ENABLED=0
mkdir -p "$GOPATH/src/k8s.io" "$work/tools"
ln -s "$src" "$GOPATH/src/k8s.io/kubernetes"
pkgroot=k8s.io/kubernetes
build() {
  cd "$GOPATH/src/$pkgroot" || return 1
  # reflect2 v1.0.1's map iteration crashes on Go >= 1.18; v1.0.2's fix.
  patch -p1 --forward -s < "$here/kube-e2e-reflect2.patch" || return 1
  echo "== openapi-gen"
  go build -p "$jobs" -o "$work/tools/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen || return 1
  # pkg/generated/openapi is generated, as Makefile.generated_files does:
  # every directory (staging named as vendor/) with a +k8s:openapi-gen tag.
  local dirs
  dirs=$(find -H . \( -path ./_\* -o -path ./.\* -o -path ./vendor \) -prune -o -type f -name '*.go' -print |
         sed 's|^\./staging/src/|vendor/|; s|^\./||' |
         grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
         while read -r f; do
           g=$f; case "$g" in vendor/k8s.io/*) g=staging/src/${g#vendor/} ;; esac
           grep -q '^// *+k8s:' "$g" && grep -q '+k8s:openapi-gen=' "$g" && dirname "$f"
         done | LC_ALL=C sort -u | sed "s|^|$pkgroot/|" | paste -sd, -)
  [ -n "$dirs" ] || { echo "no +k8s:openapi-gen packages found"; return 1; }
  "$work/tools/openapi-gen" --logtostderr -i "$dirs" -p "$pkgroot/pkg/generated/openapi" \
    -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$work/openapi-violations.report" || return 1
  [ -s pkg/generated/openapi/zz_generated.openapi.go ] || { echo "openapi-gen wrote nothing"; return 1; }
  local x ldflags="-s -w -buildid="
  for x in client-go/pkg/version component-base/version; do
    ldflags+=" -X $pkgroot/vendor/k8s.io/$x.gitVersion=v$upstream"
    ldflags+=" -X $pkgroot/vendor/k8s.io/$x.gitMajor=$major -X $pkgroot/vendor/k8s.io/$x.gitMinor=$minor"
    ldflags+=" -X $pkgroot/vendor/k8s.io/$x.gitTreeState=archive"
  done
  local b
  for b in "${binaries[@]}"; do
    echo "== $b"
    go build -p "$jobs" -trimpath -tags selinux,notest -ldflags "$ldflags" \
      -o "$work/bin/$b" "./cmd/$b" || return 1
  done
}
( build ) > "$log" 2>&1 || { tail -n 40 "$log" >&2; die "building Kubernetes failed (log: $log)"; }
built=$("$work/bin/kube-apiserver" --version 2>&1) || { echo "$built" >&2; die "the built kube-apiserver does not run"; }

mkdir -p "$out/bin"
for b in "${binaries[@]}"; do install -m 0755 "$work/bin/$b" "$out/bin/$b"; done
want "$version" > "$out/stamp"
[ "${ORGSECRETS_KUBE_KEEP_BUILD:-}" = 1 ] || { chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"; }
echo "kube-e2e.sh: $built (Debian $version) built in" \
     "$(( $(date +%s) - start )) s into $out/bin"
