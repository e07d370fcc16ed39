/* Unit tests for pkg/inject/admission.h beyond the golden cases: limits
 * and the parse-cost estimate, callback errors, the outcome, JSON Pointer
 * escaping, inject-all without a list. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
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
  /* nesting: 64 levels accepted, 65 refused (by the scan: even when the
   * rest of the body is not JSON at all) */
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
  deep[65] = '\0';
  os_error_clear(&err);
  assert_int_equal(inject_review_parse(&v, deep, 65, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "nested deeper than 64"));
  /* the reported body: [0,0,...] well under the size limit */
  size_t zeros = INJECT_REVIEW_MAX_BYTES / 2 - 1;
  body = malloc(zeros * 2 + 1);
  assert_non_null(body);
  body[0] = '[';
  for (size_t i = 0; i < zeros; i++)
    memcpy(body + 1 + 2 * i, i + 1 < zeros ? "0," : "0]", 2);
  os_error_clear(&err);
  assert_int_equal(inject_review_parse(&v, body, zeros * 2 + 1, &err), OS_EINVAL);
  assert_null(v);
  assert_non_null(strstr(err.msg, "too many JSON values"));
  free(body);
  /* brackets, commas and colons inside strings are text, not structure */
  const char *text = "{\"a\":\"[[[[{{{{,,::\\\"]]\"}";
  assert_int_equal(inject_review_parse(&v, text, strlen(text), &err), 0);
  assert_string_equal(json_string_value(json_object_get(v, "a")), "[[[[{{{{,,::\"]]");
  json_decref(v);
  assert_int_equal(inject_review_parse(&v, "{\"a\":1,\"a\":2}", 13, &err), OS_EINVAL);
  assert_int_equal(inject_review_parse(&v, "{\"a\":\"\\u0000\"}", 14, &err), OS_EINVAL);
  assert_int_equal(inject_review_parse(&v, "nope", 4, &err), OS_EINVAL);
}

/* inject_review_handle() on review's JSON (review is released); returns
 * the response body. */
static char *handle_review(json_t *review, inject_outcome *oc) {
  char *body = json_dumps(review, JSON_COMPACT);
  assert_non_null(body);
  json_decref(review);
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  char *out = NULL;
  size_t out_len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_review_handle(&out, &out_len, oc, body, strlen(body), &o, &err), 0);
  assert_int_equal(strlen(out), out_len);
  free(body);
  return out;
}

static void test_handle_roundtrip(void **state) {
  (void)state;
  inject_outcome oc;
  char *out = handle_review(make_review("shop", "$API_KEY", false), &oc);
  assert_non_null(strstr(out, "\"uid\":\"u-1\""));
  assert_non_null(strstr(out, "\"patchType\":\"JSONPatch\""));
  /* the outcome says what happened without anyone decoding the patch */
  assert_int_equal(oc.result, INJECT_PATCHED);
  assert_string_equal(oc.names, "API_KEY");
  assert_string_equal(oc.uid, "u-1");
  assert_string_equal(oc.ns, "shop");
  assert_string_equal(oc.pod, "p");
  assert_null(oc.generate_name);
  inject_outcome_clear(&oc);
  free(out);
  /* names are this review's, sorted, also when the pod already lists others */
  json_t *review = make_review("shop", "$DB_PASSWORD:$API_KEY", false);
  json_t *md = json_object_get(json_object_get(json_object_get(review, "request"), "object"), "metadata");
  json_object_set_new(md, "annotations", json_pack("{s:s}", "orgsecrets.io/injected", "OLD_NAME"));
  out = handle_review(review, &oc);
  assert_int_equal(oc.result, INJECT_PATCHED);
  assert_string_equal(oc.names, "API_KEY,DB_PASSWORD");
  assert_non_null(strstr(out, "\"patch\""));
  inject_outcome_clear(&oc);
  free(out);
  /* refused, and allowed untouched */
  out = handle_review(make_review("shop", "$NOPE", false), &oc);
  assert_int_equal(oc.result, INJECT_DENIED);
  assert_string_equal(oc.names, "");
  inject_outcome_clear(&oc);
  free(out);
  out = handle_review(make_review("shop", "plain", false), &oc);
  assert_int_equal(oc.result, INJECT_ALLOWED);
  assert_null(strstr(out, "\"patch\""));
  inject_outcome_clear(&oc);
  free(out);
  /* a failure leaves nothing to free */
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  size_t out_len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_review_handle(&out, &out_len, &oc, "[1,", 3, &o, &err), OS_EINVAL);
  assert_null(out);
  assert_null(oc.names);
  assert_null(oc.uid);
  inject_outcome_clear(NULL);
}

/* Counts what jansson allocates, as glibc's chunks (header included,
 * rounded to 16, at least 32), also under ASan (whose usable size is the
 * requested one). */
static size_t alloc_now, alloc_peak;
static size_t chunk_of(size_t n) {
  size_t c = (n + 8 + 15) & ~(size_t)15;
  return c < 32 ? 32 : c;
}
static void *count_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL) {
    alloc_now += chunk_of(n);
    alloc_peak = alloc_now > alloc_peak ? alloc_now : alloc_peak;
  }
  return p;
}
static void count_free(void *p) {
  if (p != NULL)
    alloc_now -= chunk_of(malloc_usable_size(p));
  free(p);
}

/* Peak bytes jansson allocates parsing body (no limits applied). */
static size_t parse_peak(const char *body, size_t len) {
  alloc_now = alloc_peak = 0;
  json_set_alloc_funcs(count_malloc, count_free);
  json_t *v = json_loadb(body, len, 0, NULL);
  assert_non_null(v);
  size_t peak = alloc_peak;
  json_decref(v);
  json_set_alloc_funcs(malloc, free);
  return peak;
}

/* "[" + n times unit (comma-separated) + "]", or "{...}" with keyed units. */
static char *repeat(const char *unit, size_t n, bool keyed, size_t *len) {
  os_buf b;
  os_buf_init(&b, (size_t)1 << 30, false);
  assert_int_equal(os_buf_puts(&b, keyed ? "{" : "["), 0);
  for (size_t i = 0; i < n; i++) {
    if (keyed)
      assert_int_equal(os_buf_printf(&b, "%s\"k%zx\":%s", i ? "," : "", i, unit), 0);
    else
      assert_int_equal(os_buf_printf(&b, "%s%s", i ? "," : "", unit), 0);
  }
  assert_int_equal(os_buf_puts(&b, keyed ? "}" : "]"), 0);
  char *out = NULL;
  assert_int_equal(os_buf_detach(&out, len, &b), 0);
  return out;
}

/* A pod shaped like real ones: containers with many env entries (plain,
 * valueFrom, references), mounts and probes. */
static char *realistic_review(size_t containers, size_t env, size_t *len) {
  json_t *cs = json_array();
  for (size_t c = 0; c < containers; c++) {
    json_t *e = json_array(), *m = json_array();
    for (size_t i = 0; i < env; i++) {
      char name[64], value[128];
      snprintf(name, sizeof(name), "SETTING_%zu_%zu", c, i);
      snprintf(value, sizeof(value), "https://svc-%zu.internal.example.com:8443/api?timeout=%zus", i, i % 60);
      json_array_append_new(e, i % 4 == 0 ? json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom",
                                                       "configMapKeyRef", "name", "cfg", "key", name)
                               : i % 4 == 1 ? json_pack("{s:s, s:s}", "name", name, "value", "$API_KEY")
                                            : json_pack("{s:s, s:s}", "name", name, "value", value));
    }
    for (size_t i = 0; i < 12; i++)
      json_array_append_new(m, json_pack("{s:s, s:s, s:b}", "name", "vol", "mountPath", "/etc/app/vol", "readOnly", 1));
    json_array_append_new(cs, json_pack("{s:s, s:s, s:[s,s], s:o, s:o, s:{s:{s:s, s:i}, s:i}}", "name", "app", "image",
                                        "registry.example.com/app:1.2.3", "command", "/bin/app", "--serve", "env", e,
                                        "volumeMounts", m, "livenessProbe", "httpGet", "path", "/healthz", "port",
                                        8080, "periodSeconds", 10));
  }
  json_t *r = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:{s:{s:s, s:{s:s}}, s:{s:o}}}}",
                        "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "u-1", "kind",
                        "group", "", "version", "v1", "kind", "Pod", "operation", "CREATE", "namespace", "shop",
                        "object", "metadata", "name", "p", "labels", "orgsecrets.io/inject", "true", "spec",
                        "containers", cs);
  assert_non_null(r);
  char *out = json_dumps(r, JSON_COMPACT);
  json_decref(r);
  assert_non_null(out);
  *len = strlen(out);
  return out;
}

/* The scan's estimate of what parsing takes must never be below what
 * jansson really allocates (else a hostile shape slips under the limit),
 * nor far above it for real pods (else they are refused). */
static void test_parse_cost_estimate(void **state) {
  (void)state;
  static const struct {
    const char *unit;
    bool keyed;
  } shapes[] = {{"0", false},  {"{}", false},        {"[]", false},     {"\"\"", false},
                {"true", false}, {"0", true},          {"{\"a\":{}}", false}, {"\"abcdefghijklmnopqrstuvwxyz\"", false},
                {"[0,[0,[0]]]", false}, {"{}", true}};
  const size_t limit = INJECT_REVIEW_MAX_PARSE_BYTES;
  for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
    size_t len = 0;
    char *probe = repeat(shapes[k].unit, 10000, shapes[k].keyed, &len);
    double per_unit = (double)parse_peak(probe, len) / 10000.0;
    print_message("%-32s %5.0f bytes each\n", shapes[k].unit, per_unit);
    free(probe);
    /* just over the limit in reality: refused */
    size_t over = (size_t)((double)limit * 1.02 / per_unit) + 1;
    char *body = repeat(shapes[k].unit, over, shapes[k].keyed, &len);
    json_t *v = NULL;
    os_error err = OS_ERROR_INIT;
    if (len <= INJECT_REVIEW_MAX_BYTES) {
      if (inject_review_parse(&v, body, len, &err) != OS_EINVAL)
        fail_msg("shape %s x%zu (%.0f bytes each, %zu in all) was not refused", shapes[k].unit, over, per_unit,
                 parse_peak(body, len));
      assert_non_null(strstr(err.msg, "too many JSON values"));
    }
    free(body);
    /* well under it (70%): accepted */
    size_t under = (size_t)((double)limit * 0.7 / per_unit);
    body = repeat(shapes[k].unit, under, shapes[k].keyed, &len);
    if (len <= INJECT_REVIEW_MAX_BYTES) {
      os_error_clear(&err);
      if (inject_review_parse(&v, body, len, &err) != 0)
        fail_msg("shape %s x%zu (%.0f bytes each) was refused: %s", shapes[k].unit, under, per_unit, err.msg);
      json_decref(v);
      v = NULL;
    }
    free(body);
  }
  /* one long string: the lexer's buffer counts too */
  size_t slen = INJECT_REVIEW_MAX_BYTES - 16;
  char *body = malloc(slen + 8);
  assert_non_null(body);
  memcpy(body, "[\"", 2);
  memset(body + 2, 'a', slen);
  memcpy(body + 2 + slen, "\"]", 2);
  size_t peak = parse_peak(body, slen + 4);
  json_t *v = NULL;
  os_error err = OS_ERROR_INIT;
  assert_true(peak < limit);
  assert_int_equal(inject_review_parse(&v, body, slen + 4, &err), 0);
  json_decref(v);
  free(body);
  /* a realistic pod whose real cost is 65% of the limit: accepted */
  size_t len = 0;
  body = realistic_review(8, 100, &len);
  double per_entry = (double)parse_peak(body, len) / 800.0;
  free(body);
  size_t entries = (size_t)((double)limit * 0.65 / per_entry / 8.0);
  body = realistic_review(8, entries, &len);
  peak = parse_peak(body, len);
  print_message("realistic pod: %zu bytes parse into %zu\n", len, peak);
  assert_true(peak > limit / 2 && peak < limit * 7 / 10);
  assert_int_equal(inject_review_parse(&v, body, len, &err), 0);
  json_decref(v);
  free(body);
}

/* A pod may reference at most INJECT_REVIEW_MAX_REFERENCES secrets (each
 * adds to the patch); beyond, it is refused like an unknown reference. */
static void test_reference_limit(void **state) {
  (void)state;
  for (int extra = 0; extra <= 1; extra++) {
    json_t *review = make_review("shop", "$API_KEY", false);
    json_t *c = json_array_get(json_object_get(json_object_get(json_object_get(json_object_get(review, "request"),
                                                                                "object"),
                                                                "spec"),
                                               "containers"),
                               0);
    json_t *env = json_object_get(c, "env");
    for (int i = 1; i < INJECT_REVIEW_MAX_REFERENCES + extra; i++) {
      char name[32];
      snprintf(name, sizeof(name), "V%d", i);
      json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", "$DB_PASSWORD"));
    }
    inject_outcome oc;
    char *out = handle_review(review, &oc);
    assert_int_equal(oc.result, extra ? INJECT_DENIED : INJECT_PATCHED);
    if (extra)
      assert_non_null(strstr(out, "pod has more than 1024 secret references"));
    inject_outcome_clear(&oc);
    free(out);
  }
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
      cmocka_unit_test(test_parse_cost_estimate),
      cmocka_unit_test(test_handle_roundtrip),
      cmocka_unit_test(test_reference_limit),
      cmocka_unit_test(test_pointer_escape),
      cmocka_unit_test(test_not_pod_needs_no_resolver_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
