#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "metrics/metrics.h"

static char *render(const metrics_registry *r) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(metrics_render(&b, r), 0);
  char *s;
  size_t n;
  assert_int_equal(os_buf_detach(&s, &n, &b), 0);
  return s;
}

static void test_render_exact(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *rec = NULL, *kube = NULL, *leader = NULL, *dur = NULL, *secrets = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  const char *result[] = {"result"};
  const char *verb_code[] = {"verb", "code"};
  const char *st[] = {"state"};
  assert_int_equal(metrics_counter_new(&rec, r, "orgsecrets_reconcile_total",
                                       "Reconcile passes by result.", result, 1, &err), 0);
  assert_int_equal(metrics_counter_new(&kube, r, "orgsecrets_kube_requests_total",
                                       "API requests.", verb_code, 2, &err), 0);
  assert_int_equal(metrics_gauge_new(&leader, r, "orgsecrets_leader", "1 when leading.",
                                     NULL, 0, &err), 0);
  assert_int_equal(metrics_gauge_new(&secrets, r, "orgsecrets_secrets", "Secrets by state.",
                                     st, 1, &err), 0);
  const double b[] = {0.1, 0.5, 1};
  assert_int_equal(metrics_histogram_new(&dur, r, "orgsecrets_reconcile_duration_seconds",
                                         "Reconcile duration.", NULL, 0, b, 3, &err), 0);

  assert_int_equal(metrics_counter_inc1(rec, "ok"), 0);
  assert_int_equal(metrics_counter_inc1(rec, "ok"), 0);
  assert_int_equal(metrics_counter_inc1(rec, "error"), 0);
  const char *g200[] = {"GET", "200"}, *p409[] = {"PUT", "409"};
  assert_int_equal(metrics_counter_add(kube, p409, 2), 0);
  assert_int_equal(metrics_counter_inc(kube, g200), 0);
  assert_int_equal(metrics_gauge_set(leader, NULL, 1), 0);
  assert_int_equal(metrics_gauge_set1(secrets, "active", 12), 0);
  assert_int_equal(metrics_gauge_set1(secrets, "disabled", 0.25), 0);
  assert_int_equal(metrics_histogram_observe(dur, NULL, 0.05), 0);
  assert_int_equal(metrics_histogram_observe(dur, NULL, 0.5), 0);   /* le is inclusive */
  assert_int_equal(metrics_histogram_observe(dur, NULL, 3), 0);

  char *text = render(r);
  const char *want =
      "# HELP orgsecrets_kube_requests_total API requests.\n"
      "# TYPE orgsecrets_kube_requests_total counter\n"
      "orgsecrets_kube_requests_total{verb=\"GET\",code=\"200\"} 1\n"
      "orgsecrets_kube_requests_total{verb=\"PUT\",code=\"409\"} 2\n"
      "# HELP orgsecrets_leader 1 when leading.\n"
      "# TYPE orgsecrets_leader gauge\n"
      "orgsecrets_leader 1\n"
      "# HELP orgsecrets_reconcile_duration_seconds Reconcile duration.\n"
      "# TYPE orgsecrets_reconcile_duration_seconds histogram\n"
      "orgsecrets_reconcile_duration_seconds_bucket{le=\"0.1\"} 1\n"
      "orgsecrets_reconcile_duration_seconds_bucket{le=\"0.5\"} 2\n"
      "orgsecrets_reconcile_duration_seconds_bucket{le=\"1\"} 2\n"
      "orgsecrets_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3\n"
      "orgsecrets_reconcile_duration_seconds_sum 3.55\n"
      "orgsecrets_reconcile_duration_seconds_count 3\n"
      "# HELP orgsecrets_reconcile_total Reconcile passes by result.\n"
      "# TYPE orgsecrets_reconcile_total counter\n"
      "orgsecrets_reconcile_total{result=\"error\"} 1\n"
      "orgsecrets_reconcile_total{result=\"ok\"} 2\n"
      "# HELP orgsecrets_secrets Secrets by state.\n"
      "# TYPE orgsecrets_secrets gauge\n"
      "orgsecrets_secrets{state=\"active\"} 12\n"
      "orgsecrets_secrets{state=\"disabled\"} 0.25\n";
  assert_string_equal(text, want);
  free(text);

  double v;
  assert_int_equal(metrics_value_get(&v, kube, p409), 0);
  assert_true(v == 2.0);
  const char *missing[] = {"DELETE", "500"};
  assert_int_equal(metrics_value_get(&v, kube, missing), OS_ENOTFOUND);

  /* Reset drops children; an unlabeled family keeps its zero sample. */
  metrics_family_reset(secrets);
  metrics_family_reset(leader);
  text = render(r);
  assert_null(strstr(text, "orgsecrets_secrets{"));
  assert_non_null(strstr(text, "\norgsecrets_leader 0\n"));
  free(text);
  metrics_registry_free(r);
}

static void test_labeled_histogram(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *h = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  const char *l[] = {"result"};
  const double b[] = {0.25, 2.5};
  assert_int_equal(metrics_histogram_new(&h, r, "orgsecrets_webhook_duration_seconds", "W.", l,
                                         1, b, 2, &err), 0);
  assert_int_equal(metrics_histogram_observe1(h, "allowed", 0.125), 0);
  assert_int_equal(metrics_histogram_observe1(h, "allowed", 10), 0);
  char *text = render(r);
  const char *want =
      "# HELP orgsecrets_webhook_duration_seconds W.\n"
      "# TYPE orgsecrets_webhook_duration_seconds histogram\n"
      "orgsecrets_webhook_duration_seconds_bucket{result=\"allowed\",le=\"0.25\"} 1\n"
      "orgsecrets_webhook_duration_seconds_bucket{result=\"allowed\",le=\"2.5\"} 1\n"
      "orgsecrets_webhook_duration_seconds_bucket{result=\"allowed\",le=\"+Inf\"} 2\n"
      "orgsecrets_webhook_duration_seconds_sum{result=\"allowed\"} 10.125\n"
      "orgsecrets_webhook_duration_seconds_count{result=\"allowed\"} 2\n";
  assert_string_equal(text, want);
  free(text);
  metrics_registry_free(r);
}

static void test_escaping(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *c = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  const char *l[] = {"reason"};
  assert_int_equal(metrics_counter_new(&c, r, "orgsecrets_unseal_errors_total",
                                       "Help with \\ and\nnewline \"quoted\".", l, 1, &err), 0);
  assert_int_equal(metrics_counter_inc1(c, "a\\b \"q\"\nz"), 0);
  char *text = render(r);
  const char *want =
      "# HELP orgsecrets_unseal_errors_total Help with \\\\ and\\nnewline \"quoted\".\n"
      "# TYPE orgsecrets_unseal_errors_total counter\n"
      "orgsecrets_unseal_errors_total{reason=\"a\\\\b \\\"q\\\"\\nz\"} 1\n";
  assert_string_equal(text, want);
  free(text);
  metrics_registry_free(r);
}

static void test_validation(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *f = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  assert_int_equal(metrics_counter_new(&f, r, "bad-name", "", NULL, 0, &err), OS_EINVAL);
  assert_int_equal(metrics_counter_new(&f, r, "9lives", "", NULL, 0, &err), OS_EINVAL);
  const char *bad[] = {"__reserved"};
  assert_int_equal(metrics_counter_new(&f, r, "x_total", "", bad, 1, &err), OS_EINVAL);
  const char *le[] = {"le"};
  assert_int_equal(metrics_histogram_new(&f, r, "h", "", le, 1, NULL, 0, &err), OS_EINVAL);
  const double unsorted[] = {1, 0.5};
  assert_int_equal(metrics_histogram_new(&f, r, "h", "", NULL, 0, unsorted, 2, &err),
                   OS_EINVAL);
  assert_int_equal(metrics_counter_new(&f, r, "x_total", "", NULL, 0, &err), 0);
  metrics_family *dup = NULL;
  assert_int_equal(metrics_gauge_new(&dup, r, "x_total", "", NULL, 0, &err), OS_ECONFLICT);
  assert_null(dup);
  assert_int_equal(metrics_counter_add(f, NULL, -1), OS_EINVAL);    /* counters only go up */
  assert_int_equal(metrics_gauge_set(f, NULL, 3), OS_EINVAL);       /* wrong kind */
  assert_int_equal(metrics_histogram_observe(f, NULL, 3), OS_EINVAL);
  metrics_family *h = NULL;
  assert_int_equal(metrics_histogram_new(&h, r, "d_seconds", "", NULL, 0, NULL, 0, &err), 0);
  char *text = render(r);
  /* default buckets, and a zero sample for label-less families */
  assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.005\"} 0\n"));
  assert_non_null(strstr(text, "d_seconds_bucket{le=\"10\"} 0\n"));
  assert_non_null(strstr(text, "d_seconds_bucket{le=\"+Inf\"} 0\n"));
  assert_non_null(strstr(text, "\nx_total 0\n"));
  free(text);
  metrics_registry_free(r);
}

static void test_child_limit(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *f = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  const char *l[] = {"name"};
  assert_int_equal(metrics_gauge_new(&f, r, "many", "", l, 1, &err), 0);
  char v[32];
  for (int i = 0; i < METRICS_MAX_CHILDREN; i++) {
    snprintf(v, sizeof(v), "n%d", i);
    assert_int_equal(metrics_gauge_set1(f, v, i), 0);
  }
  assert_int_equal(metrics_gauge_set1(f, "one-too-many", 1), OS_ENOMEM);
  /* existing children still update, among them one from before the table */
  double first;
  const char *k0[] = {"n3"};
  assert_int_equal(metrics_value_get(&first, f, k0), 0);
  assert_true(first == 3.0);
  assert_int_equal(metrics_gauge_set1(f, "n17", 99), 0);
  double got;
  const char *k[] = {"n17"};
  assert_int_equal(metrics_value_get(&got, f, k), 0);
  assert_true(got == 99.0);
  const char *k2[] = {"one-too-many"};
  assert_int_equal(metrics_value_get(&got, f, k2), OS_ENOTFOUND);
  metrics_family_reset(f);
  assert_int_equal(metrics_gauge_set1(f, "one-too-many", 1), 0);
  metrics_registry_free(r);
}

#define N_THREADS 8
#define N_INCS 20000

struct worker {
  metrics_family *counter;
  metrics_family *hist;
  int id;
};

static void *worker_main(void *p) {
  struct worker *w = p;
  const char *shared[] = {"ok"};
  char own[16];
  snprintf(own, sizeof(own), "t%d", w->id);
  for (int i = 0; i < N_INCS; i++) {
    metrics_counter_inc(w->counter, shared);
    metrics_counter_inc1(w->counter, own);
    metrics_histogram_observe(w->hist, NULL, 0.5);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  metrics_registry *r = NULL;
  metrics_family *c = NULL, *h = NULL;
  assert_int_equal(metrics_registry_new(&r, &err), 0);
  const char *l[] = {"result"};
  assert_int_equal(metrics_counter_new(&c, r, "c_total", "", l, 1, &err), 0);
  assert_int_equal(metrics_histogram_new(&h, r, "h_seconds", "", NULL, 0, NULL, 0, &err), 0);
  pthread_t th[N_THREADS];
  struct worker w[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    w[i] = (struct worker){c, h, i};
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  /* render concurrently with the writers */
  for (int i = 0; i < 20; i++) {
    char *t = render(r);
    free(t);
  }
  for (int i = 0; i < N_THREADS; i++)
    pthread_join(th[i], NULL);
  double v;
  const char *ok[] = {"ok"};
  assert_int_equal(metrics_value_get(&v, c, ok), 0);
  assert_true(v == (double)N_THREADS * N_INCS);
  const char *t3[] = {"t3"};
  assert_int_equal(metrics_value_get(&v, c, t3), 0);
  assert_true(v == (double)N_INCS);
  assert_int_equal(metrics_value_get(&v, h, NULL), 0);
  assert_true(v == (double)N_THREADS * N_INCS);
  char *text = render(r);
  char line[128];
  snprintf(line, sizeof(line), "c_total{result=\"ok\"} %d\n", N_THREADS * N_INCS);
  assert_non_null(strstr(text, line));
  snprintf(line, sizeof(line), "h_seconds_sum %d\n", N_THREADS * N_INCS / 2);
  assert_non_null(strstr(text, line));
  free(text);
  metrics_registry_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_exact),    cmocka_unit_test(test_labeled_histogram),
      cmocka_unit_test(test_escaping),        cmocka_unit_test(test_validation),
      cmocka_unit_test(test_child_limit),     cmocka_unit_test(test_concurrent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
