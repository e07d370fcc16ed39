#!/usr/bin/env bash
# Builds a lean static libcurl into PREFIX: HTTP and HTTPS only (OpenSSL,
# zlib, threaded resolver), none of Kerberos, LDAP, RTMP, SSH, PSL, IDN,
# brotli, zstd or HTTP/2. The source is Debian's own (with Debian's security
# patches) for the installed libcurl4-openssl-dev, fetched by apt-get source,
# which checks it against the archive's signed index, prepared as
# debian/rules prepares its OpenSSL flavour. apt runs on a private
# configuration with deb-src entries derived from the system's deb entries;
# the system's /etc/apt and /var/lib/apt are left alone.
# A stamp in PREFIX records the version and the options: a second run with
# the same ones does nothing.
# usage: scripts/curl.sh PREFIX
set -euo pipefail

die() { echo "curl.sh: $*" >&2; exit 1; }

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
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts" "$work/dl"

# deb-src entries for the system's deb entries of this release (its -updates
# and -security suites included, backports and other releases not).
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || die "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release)"
eval "$(apt-config shell sys_list Dir::Etc::sourcelist/f sys_parts Dir::Etc::sourceparts/d)"
suite_ok='BEGIN { c = "'"$codename"'" }
function ok(s) { return s == c || s == c "-updates" || s == c "-security" || s == c "/updates" }'
list_to_src() {  # one-line format: "deb [opts] uri suite comp..."
  awk "$suite_ok"'
    { sub(/#.*/, "") }
    $1 != "deb" { next }
    { rest = $0; sub(/^[ \t]*deb[ \t]+/, "", rest); o = ""
      if (rest ~ /^\[/) { i = index(rest, "]"); o = substr(rest, 1, i) " "; rest = substr(rest, i + 1) }
      n = split(rest, f, /[ \t]+/); k = (f[1] == "") ? 2 : 1
      if (ok(f[k + 1])) print "deb-src " o rest }' "$1"
}
deb822_to_src() {  # deb822 stanzas: Types, Suites and Enabled rewritten, the rest kept
  awk "$suite_ok"'
    function flush(   i, n, s, kept) {
      if (nl > 0 && deb && enabled) {
        n = split(suites, s, /[ \t]+/); kept = ""
        for (i = 1; i <= n; i++) if (s[i] != "" && ok(s[i])) kept = kept " " s[i]
        if (kept != "") {
          print "Types: deb-src"; print "Suites:" kept
          for (i = 1; i <= nl; i++) print line[i]
          print ""
        }
      }
      nl = 0; deb = 0; enabled = 1; suites = ""; field = ""
    }
    BEGIN { flush() }
    /^#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (field == "suites") suites = suites " " $0; else if (field != "types" && field != "enabled") line[++nl] = $0; next }
    { field = tolower($0); sub(/:.*/, "", field); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
      if (field == "types") { if ((" " v " ") ~ /[ \t]deb[ \t]/) deb = 1 }
      else if (field == "suites") suites = v
      else if (field == "enabled") enabled = (tolower(v) !~ /^(no|false|0)/)
      else line[++nl] = $0 }
    END { flush() }' "$1"
}
: > "$work/apt/sources.list"
[ -f "$sys_list" ] && list_to_src "$sys_list" >> "$work/apt/sources.list"
for f in "$sys_parts"*.list; do [ -f "$f" ] && list_to_src "$f" >> "$work/apt/sources.list"; done
for f in "$sys_parts"*.sources; do
  [ -f "$f" ] && deb822_to_src "$f" > "$work/apt/parts/$(basename "$f")"
done
if ! grep -qs '^deb-src' "$work/apt/sources.list" && ! grep -qs '^Types: deb-src' "$work/apt/parts/"*.sources; then
  die "no deb entries for $codename in $sys_list or $sys_parts to derive deb-src entries from"
fi

apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/parts"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o "Dir::Cache::archives=$work/apt/cache/archives")
# As root apt downloads as _apt, which must be able to write there.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
  chown -R _apt "$work/apt/lists/partial" "$work/dl"
fi
echo "curl.sh: fetching the Debian source index for $codename (private apt configuration in $work/apt)"
if ! apt-get "${apt_opts[@]}" -q update > "$work/apt-update.log" 2>&1; then
  # A failing third-party index is not fatal if Debian's was fetched.
  echo "curl.sh: apt-get update reported errors (continuing if curl's source is listed):" >&2
  grep -E '^(E|W):' "$work/apt-update.log" >&2 || tail -n 20 "$work/apt-update.log" >&2
fi
versions=$( (apt-cache "${apt_opts[@]}" showsrc --only-source curl 2>/dev/null || true) | sed -n 's/^Version: //p' | sort -u)
[ -n "$versions" ] || { tail -n 20 "$work/apt-update.log" >&2; die "no source package curl in the $codename deb-src indexes (see above)"; }
if printf '%s\n' "$versions" | grep -qxF "$installed"; then
  version=$installed
  echo "curl.sh: Debian source curl $version (the installed libcurl4-openssl-dev's)"
else
  version=
  for v in $versions; do
    if [ -z "$version" ] || dpkg --compare-versions "$v" gt "$version"; then version=$v; fi
  done
  echo "curl.sh: the installed libcurl4-openssl-dev's source ($installed) is not on the mirror;" \
       "using the newest $codename source curl $version"
fi

echo "curl.sh: apt-get source curl=$version"
if ! (cd "$work/dl" && apt-get "${apt_opts[@]}" -q source --only-source "curl=$version") > "$work/apt-source.log" 2>&1; then
  tail -n 20 "$work/apt-source.log" >&2
  die "apt-get source curl=$version failed (see above)"
fi
upstream=${version#*:}; upstream=${upstream%-*}
src=$work/dl/curl-$upstream
[ -f "$src/configure" ] || die "apt-get source did not unpack $src"
[ -f "$src/debian/patches/series" ] && ! grep -q 'dpkg-source: info: applying' "$work/apt-source.log" \
  && die "dpkg-source applied none of Debian's patches to $src"

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
