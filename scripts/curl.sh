#!/usr/bin/env bash
# Builds a lean static libcurl into PREFIX: HTTP and HTTPS only (OpenSSL,
# zlib, threaded resolver), none of Kerberos, LDAP, RTMP, SSH, PSL, IDN,
# brotli, zstd or HTTP/2. The source is Debian's own (with Debian's security
# patches) for the installed libcurl4-openssl-dev, fetched by apt-get source,
# which checks it against the archive's signed index, prepared as
# debian/rules prepares its OpenSSL flavour (scripts/debian-source.sh: a
# private apt configuration; the system's /etc/apt is left alone).
# A stamp in PREFIX records the version and the options: a second run with
# the same ones does nothing.
# usage: scripts/curl.sh PREFIX
set -euo pipefail

die() { echo "curl.sh: $*" >&2; exit 1; }
debsrc_tag=curl.sh
# shellcheck source=debian-source.sh
. "$(dirname "$0")/debian-source.sh"

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/curl.sh PREFIX"
mkdir -p "$1" || die "cannot create $1"
prefix=$(cd "$1" && pwd)
stamp=$prefix/.orgsecrets-curl
work=$prefix.src

# Everything not listed is off explicitly, so that the result does not depend
# on which -dev packages happen to be installed. Proxies (https_proxy), IPv6
# and Unix sockets stay; CA defaults are Debian's, for a server without a
# kubeconfig CA.
opts=(--disable-shared --enable-static --with-pic
      --disable-maintainer-mode --disable-dependency-tracking
      --enable-threaded-resolver --with-openssl --with-zlib
      --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs
      --without-brotli --without-zstd --without-libpsl --without-libidn2
      --without-librtmp --without-libssh2 --without-libssh --without-wolfssh
      --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche
      --without-msh3 --without-hyper --without-libgsasl --without-gssapi
      --without-gnutls --without-wolfssl --without-mbedtls --without-nss
      --without-bearssl --without-rustls --without-zsh-functions-dir
      --without-fish-functions-dir
      --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
      --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb
      --disable-smtp --disable-gopher --disable-mqtt --disable-ftp --disable-file
      --disable-websockets --disable-manual --disable-ntlm --disable-ntlm-wb
      --disable-alt-svc --disable-hsts --disable-cookies --disable-ares)

dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q 'install ok installed' \
  || die "libcurl4-openssl-dev is not installed (scripts/deps.sh installs it)"
installed=$(dpkg-query -W -f='${source:Version}' libcurl4-openssl-dev)
for tool in apt-get apt-cache apt-config dpkg-source dpkg-buildflags patch autoreconf libtoolize make cc; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh installs it)"
done
# Debian's flags for curl (debian/rules: hardening=+all), less the
# file-prefix map, which would make them depend on the current directory.
export DEB_BUILD_MAINT_OPTIONS="hardening=+all reproducible=-fixfilepath,-fixdebugpath"
cflags="$(dpkg-buildflags --get CFLAGS)"
cppflags="$(dpkg-buildflags --get CPPFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"

want=$(printf 'installed libcurl4-openssl-dev %s\nconfigure %s\ncflags %s\ncppflags %s\nldflags %s\n' \
  "$installed" "${opts[*]}" "$cflags" "$cppflags" "$ldflags")
nwant=$(printf '%s\n' "$want" | wc -l)
if [ -f "$stamp" ] && [ -f "$prefix/lib/libcurl.a" ] &&
   [ "$(head -n "$nwant" "$stamp")" = "$want" ]; then
  echo "curl.sh: lean libcurl in $prefix is up to date ($(sed -n 's/^source //p' "$stamp"))"
  exit 0
fi
# PREFIX is wiped below: only an empty one or one this script made.
if [ ! -f "$stamp" ] && [ -n "$(ls -A "$prefix")" ]; then
  die "$prefix is not empty and was not made by curl.sh; refusing to replace it"
fi

rm -rf "$work"
debsrc_init "$work"
listed=$(debsrc_versions curl)
mapfile -t versions <<< "$listed"
if printf '%s\n' "${versions[@]}" | grep -qxF "$installed"; then
  version=$installed
  echo "curl.sh: Debian source curl $version (the installed libcurl4-openssl-dev's)"
else
  version=$(debsrc_newest "${versions[@]}")
  echo "curl.sh: the installed libcurl4-openssl-dev's source ($installed) is not on the mirror;" \
       "using the newest source curl $version"
fi
src=$(debsrc_get curl "$version" "$work/dl")
upstream=${version#*:}; upstream=${upstream%-*}
[ -f "$src/configure" ] || die "apt-get source did not unpack $src"

# The tree of Debian's OpenSSL flavour, as debian/rules makes it: the GnuTLS
# and NSS flavour patches (last in the series) taken off again, autoreconf,
# and Debian's patched ltmain.sh put back. (Chained with &&: set -e does not
# apply on the left of ||.)
prepare() {
  cd "$src" || return 1
  for p in $(grep -E '^9[0-9]_(gnutls|nss)[.]patch$' debian/patches/series | tac); do
    patch -R -p1 -s < "debian/patches/$p" || return 1
  done
  grep -q '^lib_LTLIBRARIES = libcurl.la$' lib/Makefile.am ||
    { echo "lib/Makefile.am does not build libcurl.la once the flavour patches are off"; return 1; }
  cp ltmain.sh ltmain.sh.debian && autoreconf -fi && cp ltmain.sh.debian ltmain.sh
}
( prepare ) > "$work/autoreconf.log" 2>&1 || {
  tail -n 20 "$work/autoreconf.log" >&2
  die "preparing Debian's OpenSSL flavour of the source failed (log: $work/autoreconf.log)"
}

echo "curl.sh: building libcurl $upstream (Debian $version) into $prefix"
rm -rf "$prefix"
mkdir -p "$prefix/lib/pkgconfig"
echo "incomplete" > "$stamp"  # marks PREFIX as ours should the build fail
(
  cd "$src" &&
  ./configure --prefix="$prefix" "${opts[@]}" \
    CFLAGS="$cflags" CPPFLAGS="$cppflags -DCURL_PATCHSTAMP=\"$version\"" LDFLAGS="$ldflags" &&
  make -C lib -j "$(nproc)" &&
  make -C lib install &&
  make -C include install &&
  install -m 0644 libcurl.pc "$prefix/lib/pkgconfig/libcurl.pc"
) > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; die "building libcurl failed (log: $work/build.log)"; }
[ -f "$prefix/lib/libcurl.a" ] || die "no $prefix/lib/libcurl.a after the build (log: $work/build.log)"

printf '%s\nsource curl %s\n' "$want" "$version" > "$stamp"
[ "${ORGSECRETS_CURL_KEEP_SOURCE:-}" = 1 ] || rm -rf "$work"
echo "curl.sh: lean libcurl $upstream (Debian $version) installed in $prefix"
