/* Golden tests for pod admission. Without arguments (CTest): runs every
 * golden/NAME.request.json through inject_review_opts(), checks the return
 * code (OS_EINVAL cases say {"expectError": "EINVAL"} in NAME.expected.json)
 * and that the response is a well-formed review echoing the uid.
 * With one argument FILE: answers that AdmissionReview on stdout (used by
 * check_golden.py, which applies the patch with a real JSON Patch library);
 * exit 0, 2 for OS_EINVAL, 1 otherwise. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "inject/admission.h"

#include "fake_resolver.h"

#define GOLDEN_DIR TESTS_DIR "/inject/golden"

static int answer(json_t **resp, const char *path, os_error *err) {
  char *body = NULL;
  size_t len = 0;
  json_t *review = NULL;
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  int rc = os_read_file(&body, &len, path, (size_t)INJECT_REVIEW_MAX_BYTES + 1, err);
  if (rc == 0)
    rc = inject_review_parse(&review, body, len, err);
  if (rc == 0)
    rc = inject_review_opts(resp, review, &o, err);
  json_decref(review);
  free(body);
  return rc;
}

static void test_golden_cases(void **state) {
  (void)state;
  DIR *d = opendir(GOLDEN_DIR);
  assert_non_null(d);
  struct dirent *de;
  int cases = 0, invalid = 0;
  const char *suffix = ".request.json";
  while ((de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    if (n <= strlen(suffix) || strcmp(de->d_name + n - strlen(suffix), suffix) != 0)
      continue;
    char req[1024], exp[1024];
    int base = (int)(n - strlen(suffix));
    assert_true(snprintf(req, sizeof(req), "%s/%s", GOLDEN_DIR, de->d_name) < (int)sizeof(req));
    assert_true(snprintf(exp, sizeof(exp), "%s/%.*s.expected.json", GOLDEN_DIR, base, de->d_name) <
                (int)sizeof(exp));
    json_error_t jerr;
    json_t *expected = json_load_file(exp, 0, &jerr);
    if (expected == NULL)
      fail_msg("%s: %s", exp, jerr.text);
    json_t *resp = NULL;
    os_error err = OS_ERROR_INIT;
    int rc = answer(&resp, req, &err);
    const char *want_err = json_string_value(json_object_get(expected, "expectError"));
    if (want_err != NULL) {
      assert_string_equal(want_err, "EINVAL");
      if (rc != OS_EINVAL)
        fail_msg("%s: expected OS_EINVAL, got %d", de->d_name, rc);
      assert_null(resp);
      assert_true(err.msg[0] != '\0');
      invalid++;
    } else {
      if (rc != 0)
        fail_msg("%s: rc %d: %s", de->d_name, rc, err.msg);
      json_t *r = json_object_get(resp, "response");
      assert_string_equal(json_string_value(json_object_get(resp, "kind")), "AdmissionReview");
      assert_string_equal(json_string_value(json_object_get(resp, "apiVersion")), "admission.k8s.io/v1");
      assert_non_null(json_string_value(json_object_get(r, "uid")));
      assert_true(json_is_boolean(json_object_get(r, "allowed")));
      /* a patch always comes with its type, and a refusal never has one */
      assert_int_equal(json_object_get(r, "patch") != NULL, json_object_get(r, "patchType") != NULL);
      if (json_is_false(json_object_get(r, "allowed"))) {
        assert_null(json_object_get(r, "patch"));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "status"), "code")), 403);
      }
    }
    json_decref(resp);
    json_decref(expected);
    cases++;
  }
  closedir(d);
  assert_true(cases >= 15);
  assert_true(invalid >= 3);
}

int main(int argc, char **argv) {
  if (argc == 2) {
    json_t *resp = NULL;
    os_error err = OS_ERROR_INIT;
    int rc = answer(&resp, argv[1], &err);
    if (rc != 0) {
      fprintf(stderr, "%s: %s\n", argv[1], err.msg);
      return rc == OS_EINVAL ? 2 : 1;
    }
    json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(resp);
    return 0;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_golden_cases)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
