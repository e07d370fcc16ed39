/* libFuzzer target for the spec parser: any input parses the same with and
 * without the fast paths (result, error text, documents), and whatever
 * parses re-emits to canonical YAML that parses back to the same bytes.
 * Build: see the report / tests/fuzz (links os_spec, os_common). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"
#include "spec/spec_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reemit(const spec_secret *s) {
  char *out = NULL, *again = NULL;
  size_t n = 0, m = 0;
  os_error err = OS_ERROR_INIT;
  if (spec_secret_emit(&out, &n, s, &err) != 0)
    return;
  spec_tree *t = spec_tree_new(NULL);
  if (t == NULL || spec_tree_parse(t, "e.yaml", out, n, &err) != 0 || t->n_secrets != 1 ||
      spec_secret_emit(&again, &m, t->secrets[0], &err) != 0 || m != n ||
      memcmp(out, again, n) != 0)
    abort();
  free(out);
  free(again);
  spec_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  spec_tree *fast = spec_tree_new(NULL), *slow = spec_tree_new(NULL);
  arena *a = arena_new();
  os_error e1 = OS_ERROR_INIT, e2 = OS_ERROR_INIT;
  if (fast == NULL || slow == NULL || a == NULL)
    abort();
  int r1 = spec_tree_parse(fast, "f.yaml", (const char *)data, size, &e1);
  int r2 = spec_tree_parse_arena(slow, a, "f.yaml", (const char *)data, size, false, &e2);
  if (r1 != r2 || (r1 != 0 && strcmp(e1.msg, e2.msg) != 0))
    abort();
  if (r1 == 0) {
    if (fast->n_secrets != slow->n_secrets || (fast->org == NULL) != (slow->org == NULL))
      abort();
    for (size_t i = 0; i < fast->n_secrets; i++) {
      if (strcmp(fast->secrets[i]->encrypted_value, slow->secrets[i]->encrypted_value) != 0)
        abort();
      check_reemit(fast->secrets[i]);
    }
    if (fast->org != NULL) {
      char *o1 = NULL, *o2 = NULL;
      size_t n1 = 0, n2 = 0;
      if (spec_org_emit(&o1, &n1, fast->org, &e1) == 0 &&
          (spec_org_emit(&o2, &n2, slow->org, &e2) != 0 || n1 != n2 || memcmp(o1, o2, n1) != 0))
        abort();
      free(o1);
      free(o2);
    }
  }
  arena_free(a);
  spec_tree_free(fast);
  spec_tree_free(slow);
  return 0;
}
