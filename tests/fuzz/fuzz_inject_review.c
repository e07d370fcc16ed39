/* libFuzzer target for the webhook's request handler: any body is answered
 * (a review, or OS_EINVAL for a malformed one) without crashing, and an
 * answer is always valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inject/admission.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve(void *ctx, const char *ns, const char *name, char **secret) {
  (void)ctx;
  if (strcmp(ns, "shop") != 0 || (strcmp(name, "API_KEY") != 0 && strcmp(name, "DB_PASSWORD") != 0))
    return -1; /* OS_ENOTFOUND */
  *secret = strdup("acme-secrets");
  return *secret ? 0 : -7;
}

static int list(void *ctx, const char *ns, char ***names, size_t *n) {
  (void)ctx;
  (void)ns;
  *names = calloc(1, sizeof(char *));
  if (*names == NULL)
    return -7;
  (*names)[0] = strdup("acme-secrets");
  *n = (*names)[0] ? 1 : 0;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  inject_options o = {resolve, list, NULL};
  char *out = NULL;
  size_t out_len = 0;
  os_error err = OS_ERROR_INIT;
  if (inject_review_handle(&out, &out_len, NULL, (const char *)data, size, &o, &err) == 0) {
    json_t *j = json_loadb(out, out_len, 0, NULL);
    if (j == NULL)
      abort();
    json_decref(j);
  }
  free(out);
  return 0;
}
