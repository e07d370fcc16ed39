#!/bin/sh
# In a build like the image's (ORGSECRETS_CURL_PREFIX: make build CURL=lean,
# the Dockerfile), the lean static libcurl must really be the one linked:
# the controller needs no libcurl.so and, through nothing, the libraries the
# system libcurl pulls in; it carries libcurl's code itself; and (with
# CURL_FEATURES_BIN, built against the same libcurl) that libcurl speaks
# only HTTP and HTTPS. image_build.sh runs it on the image's controller.
# usage: lean_curl.sh CONTROLLER_BIN [CURL_FEATURES_BIN]
set -eu
ctl=$1
features=${2:-}
status=0

[ -x "$ctl" ] || { echo "FAIL: $ctl is not built"; exit 1; }

needed=$(readelf -d "$ctl" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if printf '%s\n' "$needed" | grep -q '^libcurl'; then
  echo "FAIL controller needs a shared libcurl:"; printf '     %s\n' $needed; status=1
else
  echo "ok   controller needs no shared libcurl"
fi

bad=$(ldd "$ctl" | awk '{ print $1 }' |
      grep -E '^lib(curl|ldap|lber|krb5|k5crypto|gssapi_krb5|rtmp|ssh2?|nghttp2|psl|brotli|sasl2)[.-]' || true)
if [ -n "$bad" ]; then
  echo "FAIL controller loads libraries only the system libcurl needs:"; printf '     %s\n' $bad; status=1
else
  echo "ok   controller loads no libcurl, LDAP, Kerberos, RTMP, SSH, nghttp2, PSL, brotli or SASL library"
fi

# A stripped binary (the image's) has no symbol table: libcurl's version
# string (curl_version()'s "libcurl/X.Y.Z") shows its code is in it.
if readelf -S "$ctl" | grep -q '[.]symtab'; then
  if readelf -Ws "$ctl" | awk '$8 == "curl_easy_perform" && $7 != "UND"' | grep -q .; then
    echo "ok   controller carries libcurl (curl_easy_perform is defined in it)"
  else
    echo "FAIL controller does not define curl_easy_perform: where does its libcurl come from?"; status=1
  fi
elif grep -a -q -E 'libcurl/[0-9]+[.][0-9]+[.][0-9]+' "$ctl"; then
  echo "ok   controller carries libcurl (stripped; its version string is in it)"
else
  echo "FAIL controller (stripped) holds no libcurl version string: where does its libcurl come from?"; status=1
fi

if [ -n "$features" ]; then
  "$features" || status=1
fi
exit $status
