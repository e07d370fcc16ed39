/* Unit tests for pkg/inject/admission.h beyond the golden cases: limits,
 * callback errors, JSON Pointer escaping, inject-all without a list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject/admission.h"

#include "fake_resolver.h"

static json_t *make_review(const char *ns, const char *value, bool inject_all) {
  json_t *r = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:{s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:s, s:s}]}]}}}}",
                        "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "u-1", "kind",
                        "group", "", "version", "v1", "kind", "Pod", "operation", "CREATE", "namespace", ns, "object",
                        "metadata", "name", "p", "labels", "orgsecrets.io/inject", "true", "spec", "containers", "name",
                        "app", "image", "x", "env", "name", "V", "value", value);
  assert_non_null(r);
  if (inject_all) {
    json_t *md = json_object_get(json_object_get(json_object_get(r, "request"), "object"), "metadata");
    json_object_set_new(md, "annotations", json_pack("{s:s}", "orgsecrets.io/inject-all", "true"));
  }
  return r;
}

static void test_resolver_error_is_returned(void **state) {
  (void)state;
  json_t *review = make_review("broken", "x:$DB_PASSWORD", false);
  json_t *resp = NULL;
  os_error err = OS_ERROR_INIT;
  int calls = 0;
  assert_int_equal(inject_review(&resp, review, fake_resolve, &calls, &err), OS_EIO);
  assert_null(resp);
  assert_int_equal(calls, 1);
  assert_non_null(strstr(err.msg, "DB_PASSWORD"));
  json_decref(review);
}

static void test_resolve_is_cached(void **state) {
  (void)state;
  json_t *review = make_review("shop", "$DB_PASSWORD/$DB_PASSWORD/${DB_PASSWORD}", false);
  json_t *resp = NULL;
  int calls = 0;
  assert_int_equal(inject_review(&resp, review, fake_resolve, &calls, NULL), 0);
  assert_int_equal(calls, 1);
  assert_true(json_is_true(json_object_get(json_object_get(resp, "response"), "allowed")));
  json_decref(resp);
  json_decref(review);
}

static void test_inject_all_needs_list(void **state) {
  (void)state;
  json_t *review = make_review("shop", "plain", true);
  json_t *resp = NULL;
  assert_int_equal(inject_review(&resp, review, fake_resolve, NULL, NULL), 0);
  json_t *r = json_object_get(resp, "response");
  assert_true(json_is_false(json_object_get(r, "allowed")));
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "status"), "message")),
                         "inject-all"));
  json_decref(resp);
  /* with a failing list callback the error is returned */
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  json_object_set_new(json_object_get(review, "request"), "namespace", json_string("broken"));
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_review_opts(&resp, review, &o, &err), OS_EIO);
  assert_null(resp);
  json_decref(review);
}

static void test_parse_limits(void **state) {
  (void)state;
  json_t *v = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_review_parse(&v, "{}", 2, &err), 0);
  json_decref(v);
  /* oversized body refused before parsing */
  size_t big = (size_t)INJECT_REVIEW_MAX_BYTES + 1;
  char *body = malloc(big);
  assert_non_null(body);
  memset(body, ' ', big);
  body[0] = '{';
  body[big - 1] = '}';
  assert_int_equal(inject_review_parse(&v, body, big, &err), OS_EINVAL);
  assert_null(v);
  assert_non_null(strstr(err.msg, "exceeds"));
  free(body);
  /* nesting: 64 levels accepted, 65 refused */
  char deep[256];
  for (int depth = 64; depth <= 65; depth++) {
    int n = 0;
    for (int i = 0; i < depth; i++)
      deep[n++] = '[';
    for (int i = 0; i < depth; i++)
      deep[n++] = ']';
    os_error_clear(&err);
    int rc = inject_review_parse(&v, deep, (size_t)n, &err);
    assert_int_equal(rc, depth == 64 ? 0 : OS_EINVAL);
    json_decref(v);
    v = NULL;
  }
  assert_int_equal(inject_review_parse(&v, "{\"a\":1,\"a\":2}", 13, &err), OS_EINVAL);
  assert_int_equal(inject_review_parse(&v, "{\"a\":\"\\u0000\"}", 14, &err), OS_EINVAL);
  assert_int_equal(inject_review_parse(&v, "nope", 4, &err), OS_EINVAL);
}

static void test_handle_roundtrip(void **state) {
  (void)state;
  json_t *review = make_review("shop", "$API_KEY", false);
  char *body = json_dumps(review, JSON_COMPACT);
  assert_non_null(body);
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  char *out = NULL;
  size_t out_len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_review_handle(&out, &out_len, body, strlen(body), &o, &err), 0);
  assert_int_equal(strlen(out), out_len);
  assert_non_null(strstr(out, "\"uid\":\"u-1\""));
  assert_non_null(strstr(out, "\"patchType\":\"JSONPatch\""));
  free(out);
  assert_int_equal(inject_review_handle(&out, &out_len, "[1,", 3, &o, &err), OS_EINVAL);
  assert_null(out);
  free(body);
  json_decref(review);
}

static void test_pointer_escape(void **state) {
  (void)state;
  char buf[32];
  assert_int_equal(inject_json_pointer_escape(buf, sizeof(buf), "orgsecrets.io/injected"), 23);
  assert_string_equal(buf, "orgsecrets.io~1injected");
  assert_int_equal(inject_json_pointer_escape(buf, sizeof(buf), "a~b/c~/"), 11);
  assert_string_equal(buf, "a~0b~1c~0~1");
  assert_int_equal(inject_json_pointer_escape(buf, sizeof(buf), ""), 0);
  assert_string_equal(buf, "");
  assert_int_equal(inject_json_pointer_escape(buf, 4, "~~"), OS_ENOMEM);
  assert_int_equal(inject_json_pointer_escape(buf, 5, "~~"), 4);
}

static void test_not_pod_needs_no_resolver_calls(void **state) {
  (void)state;
  json_t *review = make_review("shop", "$NOPE", false);
  json_object_set_new(json_object_get(review, "request"), "operation", json_string("DELETE"));
  json_t *resp = NULL;
  int calls = 0;
  assert_int_equal(inject_review(&resp, review, fake_resolve, &calls, NULL), 0);
  assert_int_equal(calls, 0);
  json_t *r = json_object_get(resp, "response");
  assert_true(json_is_true(json_object_get(r, "allowed")));
  assert_null(json_object_get(r, "patch"));
  json_decref(resp);
  json_decref(review);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolver_error_is_returned),
      cmocka_unit_test(test_resolve_is_cached),
      cmocka_unit_test(test_inject_all_needs_list),
      cmocka_unit_test(test_parse_limits),
      cmocka_unit_test(test_handle_roundtrip),
      cmocka_unit_test(test_pointer_escape),
      cmocka_unit_test(test_not_pod_needs_no_resolver_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
