/* Leader election (pkg/kube/lease.h) against tests/fakeapi/fakeapi.py, on
 * a clock the test moves: acquire, renew, takeover after expiry, no
 * takeover while the holder renews, losing leadership when renewals fail,
 * conflicts, release, and the run loop's release on stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "../fakeapi/fakeapi_test.h"

#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/default/leases/ctl-test"

static kube_client *k; /* the group's client of the fake */
static double now_s;   /* the electors' clock */

static double test_clock(void *ctx) { return *(const double *)ctx; }

typedef struct candidate {
  kube_lease_elector *e;
  int gained, lost; /* on_change calls */
} candidate;

static void on_change(void *ctx, bool leader) {
  candidate *c = ctx;
  if (leader)
    c->gained++;
  else
    c->lost++;
}

/* duration 10 s, renew deadline 6 s, retry period 2 s, on the test clock */
static void candidate_new(candidate *c, const char *identity) {
  memset(c, 0, sizeof(*c));
  kube_lease_options o = {.namespace_ = "default",
                          .name = "ctl-test",
                          .identity = identity,
                          .duration_s = 10,
                          .renew_deadline_s = 6,
                          .retry_period_s = 2,
                          .clock = test_clock,
                          .clock_ctx = &now_s};
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_lease_elector_new(&c->e, k, &o, on_change, c, &err), 0);
}

static json_t *lease_spec(void) {
  json_t *l = fakeapi_call(k, "GET", LEASE_PATH, NULL);
  json_t *spec = json_incref(json_object_get(l, "spec"));
  json_decref(l);
  assert_non_null(spec);
  return spec;
}

static const char *spec_str(json_t *spec, const char *key) {
  const char *s = json_string_value(json_object_get(spec, key));
  return s ? s : "(none)";
}

static json_int_t spec_int(json_t *spec, const char *key) {
  return json_integer_value(json_object_get(spec, key));
}

static int group_setup(void **state) {
  os_log_setup(OS_LOG_WARN, 0);
  int rc = fakeapi_group_setup(state);
  k = fakeapi_k;
  return rc;
}

static int each_setup(void **state) {
  (void)state;
  now_s = 1000;
  fakeapi_clear(k);
  json_t *out = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = kube_request(k, "DELETE", LEASE_PATH, NULL, NULL, &out, NULL, &err);
  json_decref(out);
  assert_true(rc == 0 || rc == OS_ENOTFOUND);
  return 0;
}

static void test_acquire_renew_release(void **state) {
  (void)state;
  candidate a, b;
  candidate_new(&a, "a_1");
  candidate_new(&b, "b_2");
  /* no Lease: created, held */
  assert_true(kube_lease_elector_step(a.e) <= 2.0);
  assert_true(kube_lease_is_leader(a.e));
  assert_int_equal(a.gained, 1);
  json_t *spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "a_1");
  assert_int_equal(spec_int(spec, "leaseDurationSeconds"), 10);
  assert_int_equal(spec_int(spec, "leaseTransitions"), 0);
  char acquired[64];
  snprintf(acquired, sizeof(acquired), "%s", spec_str(spec, "acquireTime"));
  assert_string_equal(acquired, spec_str(spec, "renewTime"));
  int64_t sec;
  long nsec;
  assert_int_equal(os_time_parse(&sec, &nsec, acquired, 0), 0); /* a MicroTime: .123456Z */
  assert_int_equal(strlen(acquired), strlen("2024-01-02T03:04:05.123456Z"));
  json_decref(spec);
  /* a renewal: an update of the version read, acquireTime kept */
  fakeapi_clear(k);
  usleep(2000);
  now_s += 2;
  kube_lease_elector_step(a.e);
  assert_true(kube_lease_is_leader(a.e));
  assert_int_equal(a.gained, 1);
  fakeapi_expect(k, "PUT", "/leases/ctl-test", 200, 1);
  spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "a_1");
  assert_string_equal(spec_str(spec, "acquireTime"), acquired);
  assert_string_not_equal(spec_str(spec, "renewTime"), acquired);
  assert_int_equal(spec_int(spec, "leaseTransitions"), 0);
  json_decref(spec);
  /* another candidate does not take a live lease */
  kube_lease_elector_step(b.e);
  assert_false(kube_lease_is_leader(b.e));
  assert_int_equal(b.gained, 0);
  /* release: given up at once, and taken at once by the other */
  kube_lease_elector_release(a.e);
  assert_false(kube_lease_is_leader(a.e));
  assert_int_equal(a.lost, 1);
  spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "");
  assert_int_equal(spec_int(spec, "leaseDurationSeconds"), 1);
  json_decref(spec);
  kube_lease_elector_step(b.e);
  assert_true(kube_lease_is_leader(b.e));
  spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "b_2");
  assert_int_equal(spec_int(spec, "leaseDurationSeconds"), 10);
  json_decref(spec);
  /* releasing what one does not hold writes nothing */
  fakeapi_clear(k);
  kube_lease_elector_release(a.e);
  fakeapi_expect(k, "PUT", "/leases/", 0, 0);
  kube_lease_elector_free(a.e);
  kube_lease_elector_free(b.e);
}

static void test_takeover_after_expiry(void **state) {
  (void)state;
  candidate a, b;
  candidate_new(&a, "a_1");
  candidate_new(&b, "b_2");
  kube_lease_elector_step(a.e); /* t = 1000: a holds */
  assert_true(kube_lease_is_leader(a.e));
  double wait = kube_lease_elector_step(b.e); /* b sees the record at 1000 */
  assert_false(kube_lease_is_leader(b.e));
  assert_true(wait > 1.9 && wait <= 2.0); /* the retry period: expiry is further away */
  now_s = 1009;
  wait = kube_lease_elector_step(b.e); /* unchanged for 9 s of b's clock: not yet expired */
  assert_false(kube_lease_is_leader(b.e));
  assert_true(wait > 0.9 && wait < 1.1); /* it wakes at the expiry, before the retry period */
  now_s = 1010.02;
  kube_lease_elector_step(b.e); /* unchanged for 10 s: taken over */
  assert_true(kube_lease_is_leader(b.e));
  assert_int_equal(b.gained, 1);
  json_t *spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "b_2");
  assert_int_equal(spec_int(spec, "leaseTransitions"), 1);
  assert_string_equal(spec_str(spec, "acquireTime"), spec_str(spec, "renewTime"));
  json_decref(spec);
  /* a has not renewed for longer than its deadline: it steps down */
  kube_lease_elector_step(a.e);
  assert_false(kube_lease_is_leader(a.e));
  assert_int_equal(a.lost, 1);
  kube_lease_elector_free(a.e);
  kube_lease_elector_free(b.e);
}

static void test_no_takeover_while_renewed(void **state) {
  (void)state;
  candidate a, b;
  candidate_new(&a, "a_1");
  candidate_new(&b, "b_2");
  kube_lease_elector_step(a.e);
  kube_lease_elector_step(b.e); /* b sees it at 1000 */
  for (now_s = 1002; now_s <= 1030; now_s += 2) {
    kube_lease_elector_step(a.e); /* renews every retry period */
    kube_lease_elector_step(b.e); /* sees each renewal: never expired */
    assert_true(kube_lease_is_leader(a.e));
    assert_false(kube_lease_is_leader(b.e));
  }
  assert_int_equal(a.gained, 1);
  assert_int_equal(a.lost, 0);
  assert_int_equal(b.gained, 0);
  kube_lease_elector_free(a.e);
  kube_lease_elector_free(b.e);
}

static void test_lost_when_renewals_fail(void **state) {
  (void)state;
  candidate a;
  candidate_new(&a, "a_1");
  kube_lease_elector_step(a.e); /* renewed at 1000 */
  assert_true(kube_lease_is_leader(a.e));
  fakeapi_do(k, "POST", "/fake/faults",
             "{\"method\":\"GET\",\"path\":\"/leases/ctl-test$\",\"status\":500,\"count\":100}");
  now_s = 1005.9; /* within the renew deadline: still the leader */
  kube_lease_elector_step(a.e);
  assert_true(kube_lease_is_leader(a.e));
  now_s = 1006.1; /* past it: steps down although nobody else took the lease */
  kube_lease_elector_step(a.e);
  assert_false(kube_lease_is_leader(a.e));
  assert_int_equal(a.lost, 1);
  fakeapi_do(k, "DELETE", "/fake/faults", NULL);
  kube_lease_elector_step(a.e); /* it still holds the record: renewed, leads again */
  assert_true(kube_lease_is_leader(a.e));
  assert_int_equal(a.gained, 2);
  kube_lease_elector_free(a.e);
}

static void test_conflict_is_not_leadership(void **state) {
  (void)state;
  candidate a, b;
  candidate_new(&a, "a_1");
  candidate_new(&b, "b_2");
  kube_lease_elector_step(a.e);
  kube_lease_elector_step(b.e);
  now_s = 1010.02;
  /* b's takeover races another writer: 409, not the leader, no Lease change */
  fakeapi_do(k, "POST", "/fake/faults",
             "{\"method\":\"PUT\",\"path\":\"/leases/\",\"status\":409}");
  kube_lease_elector_step(b.e);
  assert_false(kube_lease_is_leader(b.e));
  json_t *spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "a_1");
  json_decref(spec);
  kube_lease_elector_step(b.e); /* the next attempt takes it */
  assert_true(kube_lease_is_leader(b.e));
  kube_lease_elector_free(a.e);
  kube_lease_elector_free(b.e);
}

static void test_bad_names(void **state) {
  (void)state;
  kube_lease_options o = {.namespace_ = "default", .name = "..", .identity = "x"};
  kube_lease_elector *e = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_lease_elector_new(&e, k, &o, NULL, NULL, &err), OS_EINVAL);
  assert_null(e);
  assert_non_null(strstr(err.msg, "lease default/..:"));
}

static volatile int run_stop;

static void *run_thread(void *arg) {
  kube_lease_elector_run(arg, &run_stop);
  return NULL;
}

static void test_run_releases_on_stop(void **state) {
  (void)state;
  kube_lease_options o = {.namespace_ = "default",
                          .name = "ctl-test",
                          .identity = "run_3",
                          .duration_s = 5,
                          .retry_period_s = 1}; /* the real clock */
  candidate c;
  memset(&c, 0, sizeof(c));
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_lease_elector_new(&c.e, k, &o, on_change, &c, &err), 0);
  run_stop = 0;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, run_thread, c.e), 0);
  for (int i = 0; i < 100 && !kube_lease_is_leader(c.e); i++)
    usleep(20000);
  assert_true(kube_lease_is_leader(c.e));
  double t0 = os_mono_seconds();
  run_stop = 1;
  pthread_join(t, NULL);
  assert_true(os_mono_seconds() - t0 < 1.0); /* the stop flag is polled, not the retry period */
  assert_false(kube_lease_is_leader(c.e));
  json_t *spec = lease_spec();
  assert_string_equal(spec_str(spec, "holderIdentity"), "");
  json_decref(spec);
  kube_lease_elector_free(c.e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_acquire_renew_release, each_setup),
      cmocka_unit_test_setup(test_takeover_after_expiry, each_setup),
      cmocka_unit_test_setup(test_no_takeover_while_renewed, each_setup),
      cmocka_unit_test_setup(test_lost_when_renewals_fail, each_setup),
      cmocka_unit_test_setup(test_conflict_is_not_leadership, each_setup),
      cmocka_unit_test_setup(test_bad_names, each_setup),
      cmocka_unit_test_setup(test_run_releases_on_stop, each_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, fakeapi_group_teardown);
}
