/* libFuzzer target for what the API server answers: the kube client's list
 * (pages, continue tokens), watch (event lines split anywhere) and request
 * handling, and the controller's handling of those answers: the owned-Secret
 * cache (kubesync_cache_refresh/apply), a kubesync_run pass (reads, creates,
 * patches, conflicts, deletions of unwanted Secrets, rollouts) and the
 * custom resources (spec_org_from_json / spec_secret_from_json).
 *
 * libcurl is replaced by a mock defined here (the executable's symbols take
 * precedence over the shared library's): every curl_easy_perform takes the
 * next response from the input. Input: one flags byte (bit 0: rollout;
 * bit 1: the target keeps unknown keys; bit 2: it keeps the value of KEPT),
 * then responses, each [status index][chunk size][length, 2 bytes LE][body];
 * status index into codes[] below, chunk size 0 = one piece. When the input
 * runs out, requests fail as if the server could not be reached. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kube.h"
#include "reconcile/kubesync.h"
#include "reconcile/plan.h"
#include "spec/spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the mocked transport ---- */

static const long codes[] = {200, 201, 404, 409, 410, 401, 403, 422, 429, 500, 503, 400, 0};

typedef struct fake_handle {
  curl_write_callback write;
  void *write_data;
  long code;
} fake_handle;

static const uint8_t *in;
static size_t in_len, in_pos;

CURL *curl_easy_init(void) { return calloc(1, sizeof(fake_handle)); }

void curl_easy_reset(CURL *curl) { memset(curl, 0, sizeof(fake_handle)); }

void curl_easy_cleanup(CURL *curl) { free(curl); }

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...) {
  fake_handle *h = curl;
  va_list ap;
  va_start(ap, option);
  if (option == CURLOPT_WRITEFUNCTION)
    h->write = va_arg(ap, curl_write_callback);
  else if (option == CURLOPT_WRITEDATA)
    h->write_data = va_arg(ap, void *);
  va_end(ap);
  return CURLE_OK;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...) {
  fake_handle *h = curl;
  va_list ap;
  va_start(ap, info);
  CURLcode rc = CURLE_OK;
  if (info == CURLINFO_RESPONSE_CODE || info == CURLINFO_REQUEST_SIZE)
    *va_arg(ap, long *) = info == CURLINFO_RESPONSE_CODE ? h->code : 100;
  else if (info == CURLINFO_RETRY_AFTER)
    *va_arg(ap, curl_off_t *) = 0;
  else
    rc = CURLE_UNKNOWN_OPTION;
  va_end(ap);
  return rc;
}

CURLcode curl_easy_perform(CURL *curl) {
  fake_handle *h = curl;
  if (in_pos + 4 > in_len) {
    h->code = 0;
    return CURLE_COULDNT_CONNECT;
  }
  h->code = codes[in[in_pos] % (sizeof(codes) / sizeof(codes[0]))];
  size_t chunk = in[in_pos + 1];
  size_t len = (size_t)in[in_pos + 2] | (size_t)in[in_pos + 3] << 8;
  in_pos += 4;
  if (len > in_len - in_pos)
    len = in_len - in_pos;
  if (h->code == 0)
    return CURLE_COULDNT_CONNECT;
  /* a copy of exactly the body, so that reading past it is caught */
  char *body = malloc(len ? len : 1);
  if (body == NULL)
    return CURLE_OUT_OF_MEMORY;
  memcpy(body, in + in_pos, len);
  in_pos += len;
  CURLcode rc = CURLE_OK;
  for (size_t off = 0; off < len && rc == CURLE_OK;) {
    size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
    if (h->write == NULL || h->write(body + off, 1, n, h->write_data) != n)
      rc = CURLE_WRITE_ERROR;
    off += n;
  }
  free(body);
  return rc;
}

/* ---- the controller's side ---- */

static kube_client *client;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char path[] = "/tmp/fuzz-kubeconfig-XXXXXX";
  int fd = mkstemp(path);
  static const char cfg[] =
      "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
      "clusters:\n- name: c\n  cluster:\n    server: https://fuzz.invalid:443\n"
      "users:\n- name: u\n  user:\n    token: fuzz-token\n"
      "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n";
  if (fd < 0 || write(fd, cfg, sizeof(cfg) - 1) != (ssize_t)(sizeof(cfg) - 1))
    abort();
  close(fd);
  kube_options o;
  memset(&o, 0, sizeof(o));
  o.kubeconfig = path;
  o.qps = 1e9;
  o.burst = 1000000;
  o.max_retries = -1;
  os_error err = OS_ERROR_INIT;
  if (kube_client_new(&client, &o, &err) < 0) {
    fprintf(stderr, "fuzz: %s\n", err.msg);
    abort();
  }
  unlink(path);
  return 0;
}

static int on_secret_event(void *ctx, const char *type, json_t *obj) {
  if (strcmp(type, "BOOKMARK") != 0)
    kubesync_cache_apply(ctx, type, obj);
  return 0;
}

static int on_orgsecret_event(void *ctx, const char *type, json_t *obj) {
  (void)ctx;
  if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
    return 0;
  spec_secret *s = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_secret_from_json(&s, obj, &err) == 0)
    spec_secret_free(s);
  return 0;
}

/* Every event's strings are read, as the controller's Events would. */
static void on_sync_event(void *ctx, const kubesync_event *ev) {
  size_t *total = ctx;
  const char *s[] = {ev->namespace_, ev->name, ev->kind_name, ev->uid, ev->message};
  for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
    *total += s[i] != NULL ? strlen(s[i]) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  in = data;
  in_len = size;
  in_pos = 1;
  os_error err = OS_ERROR_INIT;

  /* the owned Secrets: list, then watch from the list's resourceVersion */
  kubesync_cache *cache = NULL;
  if (kubesync_cache_new(&cache, &err) < 0)
    abort();
  char *rv = NULL, *last = NULL;
  (void)kubesync_cache_refresh(cache, client, NULL, "prod", &rv, &err);
  char *sel = kubesync_selector(NULL, "prod");
  (void)kube_watch(client, "/api/v1/secrets", sel, rv, 240, on_secret_event, cache, &last, NULL,
                   &err);
  free(sel);
  free(rv);
  free(last);
  last = NULL;

  /* the custom resources */
  json_t *items = NULL;
  rv = NULL;
  if (kube_list(client, "/apis/orgsecrets.io/v1/organizations", NULL, &items, &rv, &err) == 0) {
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
      spec_org *o = NULL;
      if (spec_org_from_json(&o, it, &err) == 0)
        spec_org_free(o);
    }
  }
  json_decref(items);
  (void)kube_watch(client, "/apis/orgsecrets.io/v1/orgsecrets", NULL, rv, 240,
                   on_orgsecret_event, NULL, &last, NULL, &err);
  free(rv);
  free(last);

  /* one delivery pass against what the cache now holds */
  static char *namespaces[] = {"prod", "web"};
  static const char *const kept[] = {"KEPT"};
  plan_entry entries[] = {{"API_KEY", (const uint8_t *)"k1", 2},
                          {"DB_PASSWORD", (const uint8_t *)"p4ss", 4}};
  plan_target t = {.organization = "acme", .environment = "prod", .secret_name = "acme-secrets",
                   .namespaces = namespaces, .n_namespaces = 2, .entries = entries, .n_entries = 2,
                   .keep_unknown = (flags & 2) != 0};
  if (flags & 4) {
    t.kept = (const char **)(uintptr_t)kept;
    t.n_kept = 1;
  }
  reconcile_plan p = {.targets = &t, .n_targets = 1};
  kubesync_result res;
  size_t total = 0;
  (void)kubesync_run(&res, client, cache, &p, (flags & 1) != 0, NULL, on_sync_event, &total, &err);
  kubesync_cache_free(cache);
  return 0;
}
