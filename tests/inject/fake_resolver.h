/* A small fixed resolver for the inject tests and benchmark:
 * namespace -> Kubernetes Secret -> keys. Only names, no values. */
#ifndef ORGSECRETS_TESTS_INJECT_FAKE_RESOLVER_H
#define ORGSECRETS_TESTS_INJECT_FAKE_RESOLVER_H

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct fake_secret {
  const char *ns;
  const char *secret;
  const char *keys[4];
} fake_secret;

static const fake_secret fake_table[] = {
    {"shop", "shop-secrets", {"DB_PASSWORD", "API_KEY", NULL, NULL}},
    {"shop", "payments-secrets", {"STRIPE_KEY", NULL, NULL, NULL}},
    {"other", "other-secrets", {"OTHER_ONLY", NULL, NULL, NULL}},
};

/* ctx: optional int counter of resolve calls. Namespace "broken" fails. */
static int fake_resolve(void *ctx, const char *ns, const char *name, char **secret_name) {
  if (ctx != NULL)
    (*(int *)ctx)++;
  if (strcmp(ns, "broken") == 0)
    return OS_EIO;
  for (size_t i = 0; i < sizeof(fake_table) / sizeof(fake_table[0]); i++) {
    if (strcmp(fake_table[i].ns, ns) != 0)
      continue;
    for (size_t k = 0; k < 4 && fake_table[i].keys[k] != NULL; k++) {
      if (strcmp(fake_table[i].keys[k], name) == 0) {
        *secret_name = os_strdup(fake_table[i].secret);
        return *secret_name != NULL ? 0 : OS_ENOMEM;
      }
    }
  }
  return OS_ENOTFOUND;
}

static int fake_list(void *ctx, const char *ns, char ***names, size_t *n) {
  (void)ctx;
  size_t count = 0;
  *names = NULL;
  *n = 0;
  if (strcmp(ns, "broken") == 0)
    return OS_EIO;
  char **out = calloc(sizeof(fake_table) / sizeof(fake_table[0]), sizeof(char *));
  if (out == NULL)
    return OS_ENOMEM;
  for (size_t i = 0; i < sizeof(fake_table) / sizeof(fake_table[0]); i++) {
    if (strcmp(fake_table[i].ns, ns) == 0)
      out[count++] = os_strdup(fake_table[i].secret);
  }
  *names = out;
  *n = count;
  return 0;
}

#endif
