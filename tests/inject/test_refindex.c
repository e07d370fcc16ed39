/* The webhook's index: which Secret delivers a name in a namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inject/refindex.h"

static const char *name_at(const void *ctx, size_t i) { return ((const char *const *)ctx)[i]; }

static void test_refindex(void **state) {
  (void)state;
  const char *ns_ab[] = {"a", "b"}, *ns_a[] = {"a"};
  const char *org_names[] = {"X", "Y", "K"}, *app1_names[] = {"X", "Z"}, *app2_names[] = {"X"},
             *org2_names[] = {"Y"};
  inject_delivery d[] = {{"org-secrets", ns_ab, 2, 3, name_at, org_names, false},
                         {"app1-secrets", ns_a, 1, 2, name_at, app1_names, true},
                         {"app2-secrets", ns_a, 1, 1, name_at, app2_names, true},
                         {"other-secrets", ns_a, 1, 1, name_at, org2_names, false}};
  inject_refindex *x = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_refindex_build(&x, d, 4, &err), 0);
  assert_string_equal(inject_refindex_resolve(x, "a", "X"),
                      "app2-secrets"); /* the last application */
  assert_string_equal(inject_refindex_resolve(x, "a", "Z"), "app1-secrets");
  assert_string_equal(inject_refindex_resolve(x, "a", "Y"),
                      "org-secrets"); /* the first org-level */
  assert_string_equal(inject_refindex_resolve(x, "a", "K"), "org-secrets");
  assert_string_equal(inject_refindex_resolve(x, "b", "X"), "org-secrets");
  assert_null(inject_refindex_resolve(x, "b", "Z"));
  assert_null(inject_refindex_resolve(x, "c", "X"));
  assert_null(inject_refindex_resolve(x, "a", "W"));
  assert_int_equal(inject_refindex_size(x), 7); /* a: K X Y Z, b: K X Y */
  const char *const *names = NULL;
  assert_int_equal(inject_refindex_list(x, "a", &names), 4);
  assert_string_equal(names[0], "org-secrets");
  assert_string_equal(names[1], "app1-secrets");
  assert_string_equal(names[2], "app2-secrets");
  assert_string_equal(names[3], "other-secrets");
  assert_int_equal(inject_refindex_list(x, "b", &names), 1);
  assert_string_equal(names[0], "org-secrets");
  assert_int_equal(inject_refindex_list(x, "0", &names), 0);
  assert_int_equal(inject_refindex_list(x, "c", &names), 0);
  /* the same names: no rebuild needed; one name more, or moved: rebuild */
  assert_true(inject_refindex_same(x, d, 4));
  app2_names[0] = "X2";
  assert_false(inject_refindex_same(x, d, 4));
  app2_names[0] = "X";
  d[1].namespaces = ns_ab;
  d[1].n_namespaces = 2;
  assert_false(inject_refindex_same(x, d, 4));
  d[1].namespaces = ns_a;
  d[1].n_namespaces = 1;
  d[2].application = false;
  assert_false(inject_refindex_same(x, d, 4));
  d[2].application = true;
  assert_false(inject_refindex_same(x, d, 3));
  assert_true(inject_refindex_same(x, d, 4));
  inject_refindex_free(x);
  /* nothing delivered: nothing resolves */
  assert_int_equal(inject_refindex_build(&x, d, 0, &err), 0);
  assert_null(inject_refindex_resolve(x, "a", "X"));
  assert_int_equal(inject_refindex_list(x, "a", &names), 0);
  inject_refindex_free(x);
  assert_null(inject_refindex_resolve(NULL, "a", "X"));
  assert_int_equal(inject_refindex_list(NULL, "a", &names), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_refindex)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
