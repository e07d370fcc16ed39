/* The memory floor of the controller's libraries, for the benchmark:
 *   orgsecrets-lib-floor
 * links exactly the shared libraries orgsecrets-controller links, starts
 * them the way the controller does (OpenSSL, libcurl with one HTTPS-capable
 * handle, a libmicrohttpd daemon on a loopback port), does no work, and
 * prints its own RSS: what any process built on these Debian packages pays
 * before holding a single secret. */
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

static double status_mib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f != NULL && fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, key, n) == 0 && line[n] == ':')
      sscanf(line + n + 1, "%ld", &v);
  if (f != NULL)
    fclose(f);
  return (double)v / 1024.0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **ptr) {
  (void)cls, (void)c, (void)url, (void)method, (void)version, (void)data, (void)size, (void)ptr;
  return MHD_NO;
}

int main(void) {
  double before = status_mib("VmRSS");
  OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char d[32];
  unsigned int dl = 0;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  struct MHD_Daemon *daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                               answer, NULL, MHD_OPTION_END);
  json_t *j = json_object();
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  printf("libraries loaded, before main: %.1f MiB; started: %.1f MiB (%.1f MiB anonymous + %.1f MiB "
         "file-backed)\n",
         before, status_mib("VmRSS"), status_mib("RssAnon"), status_mib("RssFile"));
  yaml_parser_delete(&p);
  json_decref(j);
  if (daemon != NULL)
    MHD_stop_daemon(daemon);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  SSL_CTX_free(ctx);
  return 0;
}
