/* Kubernetes Secret targets (pkg/reconcile/kubesync.h) against
 * tests/fakeapi/fakeapi.py: what is created, patched, left alone and
 * deleted; 409 retries; an immutable Secret recreated; a missing
 * namespace; names from a hostile API server kept inside their path
 * segment; and the cache answering a watch while a write is slow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/log.h"
#include "kube/kube.h"
#include "reconcile/kubesync.h"
#include "../fakeapi/fakeapi_test.h"

#define SHOP_SECRETS "/api/v1/namespaces/shop/secrets"

static kube_client *k; /* the group's client of the fake */

/* A plan with one target: the Secret secret in namespace ns holding key. */
typedef struct one_target {
  char *ns[1];
  reconcile_plan_entry entry;
  reconcile_plan_target t;
  reconcile_plan p;
} one_target;

static void plan_one(one_target *x, const char *secret, const char *ns, const char *key,
                     const char *value) {
  memset(x, 0, sizeof(*x));
  x->ns[0] = (char *)(uintptr_t)ns;
  x->entry = (reconcile_plan_entry){key, (const uint8_t *)value, strlen(value)};
  static spec_environment env = {.name = "prod"};
  static spec_org org = {.id = "acme"};
  x->t = (reconcile_plan_target){.unit = {&org, &env, NULL},
                                 .organization = "acme",
                                 .environment = "prod",
                                 .secret_name = (char *)(uintptr_t)secret,
                                 .namespaces = x->ns,
                                 .n_namespaces = 1,
                                 .entries = &x->entry,
                                 .n_entries = 1};
  x->p.targets = &x->t;
  x->p.n_targets = 1;
  memset(x->p.checksum_key, 7, sizeof(x->p.checksum_key));
}

/* What the events said. */
typedef struct seen {
  reconcile_kubesync_event_kind kinds[16];
  size_t n;
} seen;

static void on_event(void *ctx, const reconcile_kubesync_event *ev) {
  seen *s = ctx;
  if (s->n < 16)
    s->kinds[s->n++] = ev->kind;
}

static reconcile_kubesync_cache *synced_cache(void) {
  reconcile_kubesync_cache *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(reconcile_kubesync_cache_new(&c, &err), 0);
  assert_int_equal(reconcile_kubesync_cache_refresh(c, k, NULL, "prod", NULL, &err), 0);
  return c;
}

/* Each test: a cache synced with the fake, and the plan delivering API_KEY
 * = "v1" to the Secret acme-secrets in namespace shop. */
typedef struct fx {
  reconcile_kubesync_cache *c;
  one_target x;
  reconcile_kubesync_result res;
  seen s;
  os_error err;
} fx;

/* One pass of f's plan with the value value; returns its code. */
static int run_with(fx *f, const char *value) {
  f->x.entry = (reconcile_plan_entry){"API_KEY", (const uint8_t *)value, strlen(value)};
  memset(&f->s, 0, sizeof(f->s));
  os_error_clear(&f->err);
  return reconcile_kubesync_run(&f->res, k, f->c, &f->x.p, false, NULL, on_event, &f->s, &f->err);
}

/* The cache read again from the API server (after the test changed it). */
static void resync(fx *f) {
  assert_int_equal(reconcile_kubesync_cache_refresh(f->c, k, NULL, "prod", NULL, &f->err), 0);
}

/* Fails unless the live Secret name holds want under key. */
static void assert_live(const char *name, const char *key, const char *want) {
  char path[256];
  snprintf(path, sizeof(path), SHOP_SECRETS "/%s", name);
  json_t *s = fakeapi_call(k, "GET", path, NULL);
  const char *b64 = json_string_value(json_object_get(json_object_get(s, "data"), key));
  assert_non_null(b64);
  size_t n = strlen(b64), len = 0;
  char *got = calloc(1, os_base64_decoded_max(n) + 1);
  assert_non_null(got);
  assert_int_equal(os_base64_decode(got, &len, b64, n, 0), 0);
  assert_string_equal(got, want);
  free(got);
  json_decref(s);
}

static json_t *live(const char *name) {
  char path[256];
  snprintf(path, sizeof(path), SHOP_SECRETS "/%s", name);
  return fakeapi_call(k, "GET", path, NULL);
}

static const char *meta(json_t *obj, const char *key) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* A Secret as a (possibly hostile) API server lists it, labelled ours. */
static json_t *owned(const char *ns, const char *name) {
  return json_pack("{s:{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s}},s:{}}", "metadata", "namespace", ns,
                   "name", name, "resourceVersion", "1", "uid", "u-1", "labels",
                   SPEC_LABEL_MANAGED_BY, SPEC_MANAGER, SPEC_LABEL_ORG, "acme", SPEC_LABEL_ENV,
                   "prod", "data");
}

static int group_setup(void **state) {
  os_log_setup(OS_LOG_ERROR, 0);
  if (fakeapi_group_setup(state) < 0)
    return -1;
  k = fakeapi_k;
  fakeapi_do(k, "POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"shop\"}}");
  return 0;
}

static int each_setup(void **state) {
  fakeapi_do(k, "DELETE", SHOP_SECRETS, NULL);
  fakeapi_clear(k);
  fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->c = synced_cache();
  plan_one(&f->x, "acme-secrets", "shop", "API_KEY", "v1");
  *state = f;
  return 0;
}

static int each_teardown(void **state) {
  fx *f = *state;
  reconcile_kubesync_cache_free(f->c);
  free(f);
  return 0;
}

static void test_create_patch_keep_delete(void **state) {
  fx *f = *state;
  /* created, labelled ours, with a keyed checksum */
  assert_int_equal(run_with(f, "v1"), 0);
  assert_int_equal(f->res.created, 1);
  assert_int_equal(f->s.n, 1);
  assert_int_equal(f->s.kinds[0], RECONCILE_KUBESYNC_CREATED);
  fakeapi_expect(k, "POST", SHOP_SECRETS, 201, 1);
  assert_live("acme-secrets", "API_KEY", "v1");
  json_t *obj = live("acme-secrets");
  /* exactly the unit's labels, as `orgsecrets render --format k8s` writes them */
  json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
  spec_label want[SPEC_TARGET_LABELS_MAX];
  size_t n_want = spec_target_labels(want, &f->x.t.unit);
  assert_int_equal(json_object_size(labels), n_want);
  for (size_t i = 0; i < n_want; i++)
    assert_string_equal(json_string_value(json_object_get(labels, want[i].key)), want[i].value);
  const char *sum = json_string_value(json_object_get(
      json_object_get(json_object_get(obj, "metadata"), "annotations"), SPEC_ANNOTATION_CHECKSUM));
  assert_non_null(sum);
  assert_int_equal(strncmp(sum, "hmac-sha256:", 12), 0);
  json_decref(obj);
  /* nothing changed: no write */
  fakeapi_clear(k);
  assert_int_equal(run_with(f, "v1"), 0);
  assert_int_equal(f->res.unchanged, 1);
  assert_int_equal(f->s.n, 0);
  fakeapi_expect(k, NULL, "/secrets", 0, 0);
  /* a new value: one merge patch with the version read as precondition */
  assert_int_equal(run_with(f, "v2"), 0);
  assert_int_equal(f->res.updated, 1);
  assert_int_equal(f->s.kinds[0], RECONCILE_KUBESYNC_UPDATED);
  fakeapi_expect(k, "PATCH", SHOP_SECRETS "/acme-secrets", 200, 1);
  assert_int_equal(fakeapi_writes(k), 1);
  assert_live("acme-secrets", "API_KEY", "v2");
  /* drift (someone edited it) is repaired */
  fakeapi_do(k, "PATCH", SHOP_SECRETS "/acme-secrets", "{\"data\":{\"API_KEY\":\"ZWRpdGVk\"}}");
  resync(f);
  assert_int_equal(run_with(f, "v2"), 0);
  assert_int_equal(f->res.updated, 1);
  assert_live("acme-secrets", "API_KEY", "v2");
  /* the target renamed: the new one created, the one no longer wanted deleted */
  fakeapi_clear(k);
  plan_one(&f->x, "renamed-secrets", "shop", "API_KEY", "v2");
  assert_int_equal(run_with(f, "v2"), 0);
  assert_int_equal(f->res.created, 1);
  assert_int_equal(f->res.deleted, 1);
  fakeapi_expect(k, "DELETE", SHOP_SECRETS "/acme-secrets", 200, 1);
  assert_int_equal(reconcile_kubesync_cache_size(f->c), 1);
}

static void test_foreign_secret_untouched(void **state) {
  fx *f = *state;
  fakeapi_do(k, "POST", SHOP_SECRETS,
             "{\"metadata\":{\"name\":\"acme-secrets\"},\"data\":{\"MINE\":\"eA==\"}}");
  resync(f); /* not ours: not listed */
  fakeapi_clear(k);
  assert_int_equal(run_with(f, "v1"), OS_ECONFLICT);
  assert_int_equal(f->res.conflicts, 1);
  assert_int_equal(f->s.kinds[0], RECONCILE_KUBESYNC_CONFLICT);
  assert_non_null(strstr(f->err.msg, "not owned by orgsecrets"));
  assert_int_equal(fakeapi_writes(k), 1); /* the create that met it (409), nothing after */
  fakeapi_expect(k, "POST", SHOP_SECRETS, 409, 1);
  assert_live("acme-secrets", "MINE", "x");
}

static void test_conflict_retried(void **state) {
  fx *f = *state;
  assert_int_equal(run_with(f, "v1"), 0);
  /* someone wrote in between (409): read again, write again */
  fakeapi_clear(k);
  fakeapi_do(k, "POST", "/fake/faults",
             "{\"method\":\"PATCH\",\"path\":\"/secrets/acme-secrets$\",\"status\":409}");
  assert_int_equal(run_with(f, "v2"), 0);
  assert_int_equal(f->res.updated, 1);
  assert_int_equal(f->res.failed, 0);
  fakeapi_expect(k, "PATCH", SHOP_SECRETS "/acme-secrets", 409, 1);
  fakeapi_expect(k, "GET", SHOP_SECRETS "/acme-secrets", 200, 1);
  fakeapi_expect(k, "PATCH", SHOP_SECRETS "/acme-secrets", 200, 1);
  assert_live("acme-secrets", "API_KEY", "v2");
  /* a conflict that does not go away: given up after a bounded number of attempts */
  fakeapi_clear(k);
  fakeapi_do(k, "POST", "/fake/faults",
             "{\"method\":\"PATCH\",\"path\":\"/secrets/acme-secrets$\",\"status\":409,"
             "\"count\":100}");
  assert_int_equal(run_with(f, "v3"), OS_ECONFLICT);
  assert_int_equal(f->res.failed, 1);
  assert_non_null(strstr(f->err.msg, "still conflicting after 4 attempts"));
  fakeapi_expect(k, "PATCH", SHOP_SECRETS "/acme-secrets", 409, 4);
}

static void test_immutable_recreated(void **state) {
  fx *f = *state;
  assert_int_equal(run_with(f, "v1"), 0);
  fakeapi_do(k, "PATCH", SHOP_SECRETS "/acme-secrets", "{\"immutable\":true}");
  json_t *before = live("acme-secrets");
  char uid[64];
  snprintf(uid, sizeof(uid), "%s", meta(before, "uid"));
  json_decref(before);
  resync(f);
  fakeapi_clear(k);
  /* no patch may change it: the version read is deleted and created again */
  assert_int_equal(run_with(f, "v2"), 0);
  assert_int_equal(f->res.recreated, 1);
  assert_int_equal(f->s.kinds[0], RECONCILE_KUBESYNC_RECREATED);
  fakeapi_expect(k, "PATCH", NULL, 0, 0);
  fakeapi_expect(k, "DELETE", SHOP_SECRETS "/acme-secrets", 200, 1);
  fakeapi_expect(k, "POST", SHOP_SECRETS, 201, 1);
  json_t *after = live("acme-secrets");
  assert_string_not_equal(meta(after, "uid"), uid);
  json_decref(after);
  assert_live("acme-secrets", "API_KEY", "v2");
}

static void test_namespace_missing(void **state) {
  fx *f = *state;
  plan_one(&f->x, "acme-secrets", "nowhere", "API_KEY", "v1");
  assert_int_equal(run_with(f, "v1"), OS_ENOTFOUND);
  assert_int_equal(f->res.missing_namespaces, 1);
  assert_int_equal(f->s.kinds[0], RECONCILE_KUBESYNC_NAMESPACE_MISSING);
  assert_non_null(strstr(f->err.msg, "namespace nowhere not found"));
}

/* An owned Secret named name in namespace ns, as a (hostile) API server
 * might list it, into f's cache. */
static void listed(fx *f, const char *ns, const char *name) {
  json_t *obj = owned(ns, name);
  reconcile_kubesync_cache_apply(f->c, "ADDED", obj);
  json_decref(obj);
}

static void test_hostile_names_stay_in_their_segment(void **state) {
  fx *f = *state;
  /* a name that walks out of the path: its DELETE stays a DELETE of it */
  listed(f, "shop", "x/../../../apis/apps/v1/namespaces/shop/deployments/web");
  assert_int_equal(run_with(f, "v1"), 0);
  json_t *reqs = fakeapi_call(k, "GET", "/fake/requests", NULL);
  size_t i, deletes = 0;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    if (strcmp(json_string_value(json_object_get(r, "method")), "DELETE") != 0)
      continue;
    deletes++;
    assert_string_equal(json_string_value(json_object_get(r, "path")),
                        SHOP_SECRETS "/x%2F..%2F..%2F..%2Fapis%2Fapps%2Fv1%2Fnamespaces%2Fshop%2F"
                                     "deployments%2Fweb");
  }
  json_decref(reqs);
  assert_int_equal(deletes, 1); /* answered 404 (no such Secret): forgotten */
  assert_int_equal(reconcile_kubesync_cache_size(f->c), 1);
  /* a name no escape can hold is refused before any request */
  fakeapi_clear(k);
  listed(f, "shop", "..");
  assert_int_equal(run_with(f, "v1"), OS_EINVAL);
  assert_int_equal(f->res.failed, 1);
  assert_non_null(strstr(f->err.msg, "secret shop/..: \"..\" cannot be a name in a request path"));
  fakeapi_expect(k, "DELETE", NULL, 0, 0);
  /* a namespace with a '/' is not even cached */
  listed(f, "shop/secrets/acme-secrets", "y");
  assert_int_equal(reconcile_kubesync_cache_size(f->c), 2);
}

typedef struct slow_run {
  fx *f;
  int rc;
} slow_run;

static void *run_thread(void *arg) {
  slow_run *r = arg;
  r->rc = run_with(r->f, "v2");
  return NULL;
}

static void test_watch_applies_during_slow_write(void **state) {
  fx *f = *state;
  assert_int_equal(run_with(f, "v1"), 0);
  /* the next write takes 1.5 s at the API server */
  fakeapi_do(k, "POST", "/fake/faults",
             "{\"method\":\"PATCH\",\"path\":\"/secrets/\",\"delayMs\":1500}");
  slow_run sr = {f, -1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, run_thread, &sr), 0);
  json_int_t hits = 0;
  for (int i = 0; i < 100 && hits == 0; i++) {
    json_t *faults = fakeapi_call(k, "GET", "/fake/faults", NULL);
    hits = json_integer_value(json_object_get(json_array_get(faults, 0), "hits"));
    json_decref(faults);
    if (hits == 0)
      usleep(20000);
  }
  assert_int_equal(hits, 1);
  usleep(100000); /* the PATCH is waiting at the server */
  /* a watch event meanwhile: applied at once, not after the write */
  double t0 = os_mono_seconds();
  listed(f, "shop", "other-secrets");
  size_t n = reconcile_kubesync_cache_size(f->c);
  double took = os_mono_seconds() - t0;
  assert_int_equal(n, 2);
  if (took > 0.5)
    fail_msg("a watch event waited %.2f s for the write", took);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(sr.rc, 0);
  assert_int_equal(f->res.updated, 1);
  assert_live("acme-secrets", "API_KEY", "v2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_patch_keep_delete, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_foreign_secret_untouched, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_conflict_retried, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_immutable_recreated, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_namespace_missing, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_hostile_names_stay_in_their_segment, each_setup,
                                      each_teardown),
      cmocka_unit_test_setup_teardown(test_watch_applies_during_slow_write, each_setup,
                                      each_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, fakeapi_group_teardown);
}
