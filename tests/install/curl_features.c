/* Prints what the libcurl it is linked with can do and exits 1 unless that
 * is the lean build of scripts/curl.sh: HTTP and HTTPS only, over OpenSSL,
 * with zlib and the threaded resolver, and none of the optional libraries.
 * Run by lean_curl.sh (tests/install/CMakeLists.txt). */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what)
{
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok)
    failures++;
}

int main(void)
{
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  int http = 0, https = 0, other = 0;

  printf("libcurl %s, %s, protocols:", v->version, v->ssl_version ? v->ssl_version : "no TLS");
  for (const char *const *p = v->protocols; *p != NULL; p++) {
    printf(" %s", *p);
    if (strcmp(*p, "http") == 0)
      http = 1;
    else if (strcmp(*p, "https") == 0)
      https = 1;
    else
      other = 1;
  }
  printf("\n");

  expect(strcmp(v->version, LIBCURL_VERSION) == 0, "library and headers are the same version");
  expect(http && https && !other, "protocols are exactly http and https");
  expect(v->ssl_version != NULL && strncmp(v->ssl_version, "OpenSSL/", 8) == 0, "TLS is OpenSSL");
  expect((v->features & CURL_VERSION_LIBZ) != 0, "zlib (gzip content encoding)");
  expect((v->features & CURL_VERSION_ASYNCHDNS) != 0 && v->ares == NULL, "threaded resolver");
  expect((v->features & CURL_VERSION_THREADSAFE) != 0, "thread-safe initialisation");
  expect((v->features & (CURL_VERSION_GSSAPI | CURL_VERSION_KERBEROS5 | CURL_VERSION_SPNEGO |
                         CURL_VERSION_NTLM | CURL_VERSION_NTLM_WB)) == 0,
         "no GSS-API, Kerberos, SPNEGO or NTLM");
  expect((v->features & (CURL_VERSION_HTTP2 | CURL_VERSION_HTTP3)) == 0, "no HTTP/2 or HTTP/3");
  expect((v->features & (CURL_VERSION_IDN | CURL_VERSION_PSL | CURL_VERSION_BROTLI |
                         CURL_VERSION_ZSTD | CURL_VERSION_ALTSVC | CURL_VERSION_HSTS)) == 0,
         "no IDN, PSL, brotli, zstd, alt-svc or HSTS");
  expect(v->libssh_version == NULL && v->nghttp2_version == NULL && v->libidn == NULL,
         "no libssh, nghttp2 or libidn2 linked");
  return failures == 0 ? 0 : 1;
}
