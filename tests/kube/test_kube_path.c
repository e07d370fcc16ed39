/* Request paths built from names an API server or a spec gave us. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

static void test_segment(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } ok[] = {{"acme-secrets", "acme-secrets"},
            {"a.b_c~d", "a.b_c~d"},
            {"...", "..."},
            {"..x", "..x"},
            {"x/../../kube-system", "x%2F..%2F..%2Fkube-system"},
            {"a%2Fb", "a%252Fb"},
            {"a?b#c d", "a%3Fb%23c%20d"},
            {"/", "%2F"}};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char *s = NULL;
    os_error err = OS_ERROR_INIT;
    assert_int_equal(kube_path_segment(&s, ok[i].in, &err), 0);
    assert_string_equal(s, ok[i].out);
    free(s);
  }
  /* what no escape keeps from meaning something to a path */
  static const char *bad[] = {"", ".", ".."};
  for (size_t i = 0; i < 3; i++) {
    char *s = (char *)"unchanged";
    os_error err = OS_ERROR_INIT;
    assert_int_equal(kube_path_segment(&s, bad[i], &err), OS_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "cannot be a name in a request path"));
  }
}

static void test_object_path(void **state) {
  (void)state;
  char *p = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_object_path(&p, "/api/v1", "shop", "secrets", "x/../y", NULL, &err), 0);
  assert_string_equal(p, "/api/v1/namespaces/shop/secrets/x%2F..%2Fy");
  free(p);
  assert_int_equal(kube_object_path(&p, "/api/v1", "shop", "secrets", NULL, NULL, &err), 0);
  assert_string_equal(p, "/api/v1/namespaces/shop/secrets");
  free(p);
  assert_int_equal(
      kube_object_path(&p, "/apis/orgsecrets.io/v1", NULL, "orgsecrets", "a.b.c", "status", &err),
      0);
  assert_string_equal(p, "/apis/orgsecrets.io/v1/orgsecrets/a.b.c/status");
  free(p);
  assert_int_equal(kube_object_path(&p, "/api/v1", "a/b", "events", NULL, NULL, &err), 0);
  assert_string_equal(p, "/api/v1/namespaces/a%2Fb/events");
  free(p);
  assert_int_equal(kube_object_path(&p, "/api/v1", "..", "secrets", "x", NULL, &err), OS_EINVAL);
  assert_null(p);
  assert_int_equal(kube_object_path(&p, "/api/v1", "shop", "secrets", "..", NULL, &err), OS_EINVAL);
  assert_null(p);
  assert_non_null(strstr(err.msg, "\"..\""));
  assert_int_equal(kube_object_path(&p, "/api/v1", "shop", "secrets", "", NULL, &err), OS_EINVAL);
  assert_null(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_segment),
                                     cmocka_unit_test(test_object_path)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
