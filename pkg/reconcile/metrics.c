/* The controller's Prometheus families (served by endpoints.c). */
#include <stdio.h>

#include "reconcile/controller_internal.h"

#ifndef ORGSECRETS_VERSION
#error "ORGSECRETS_VERSION comes from project(VERSION) in CMakeLists.txt"
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

int reconcile_metrics_init(reconcile_metrics *m, os_error *err) {
  static const char *result[] = {"result"}, *verb_code[] = {"verb", "code"}, *state[] = {"state"},
                    *reason[] = {"reason"}, *version[] = {"version"}, *op[] = {"operation"};
  static const double pass_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,     2.5,  5,     10,   30};
  static const double webhook_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.002,
                                           0.005,  0.01,    0.025,  0.1,   1};
  int rc = metrics_registry_new(&m->registry, err);
  if (rc == 0)
    rc = metrics_counter_new(&m->passes, m->registry, "orgsecrets_reconcile_total",
                             "Reconcile passes by result.", result, 1, err);
  if (rc == 0)
    rc = metrics_histogram_new(
        &m->pass_duration, m->registry, "orgsecrets_reconcile_duration_seconds",
        "Duration of reconcile passes by result.", result, 1, pass_buckets, N(pass_buckets), err);
  if (rc == 0)
    rc = metrics_counter_new(&m->kube_requests, m->registry, "orgsecrets_kube_requests_total",
                             "Kubernetes API requests by verb and HTTP code.", verb_code, 2, err);
  if (rc == 0)
    rc = metrics_gauge_new(&m->secrets, m->registry, "orgsecrets_secrets",
                           "Secrets of this environment by state.", state, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&m->unseal_errors, m->registry, "orgsecrets_unseal_errors_total",
                             "Values that failed to unseal, by reason.", reason, 1, err);
  if (rc == 0)
    rc = metrics_gauge_new(&m->leader, m->registry, "orgsecrets_leader",
                           "1 when this replica may write.", NULL, 0, err);
  if (rc == 0)
    rc = metrics_gauge_new(&m->build_info, m->registry, "orgsecrets_build_info",
                           "Build information.", version, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&m->writes, m->registry, "orgsecrets_target_writes_total",
                             "Writes to targets by operation.", op, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&m->webhook_requests, m->registry, "orgsecrets_webhook_requests_total",
                             "Admission requests by result.", result, 1, err);
  if (rc == 0)
    rc = metrics_histogram_new(&m->webhook_duration, m->registry,
                               "orgsecrets_webhook_duration_seconds", "Admission request latency.",
                               NULL, 0, webhook_buckets, N(webhook_buckets), err);
  if (rc == 0)
    rc = metrics_gauge_new(&m->unauthorized, m->registry,
                           "orgsecrets_unauthorized_recipient_secrets",
                           "Secrets of this environment sealed to a key their organization does "
                           "not authorize for them (run orgsecrets rekey, then rotate them).",
                           NULL, 0, err);
  if (rc == 0)
    metrics_gauge_set1(m->build_info, ORGSECRETS_VERSION, 1);
  return rc;
}

void reconcile_metrics_clear(reconcile_metrics *m) {
  metrics_registry_free(m->registry);
  m->registry = NULL;
}

void reconcile_metrics_observe_kube(void *ctx, const char *verb, long code, double seconds) {
  reconcile_metrics *m = ctx;
  (void)seconds;
  char code_s[24];
  snprintf(code_s, sizeof(code_s), "%ld", code);
  const char *labels[] = {verb, code == 0 ? "error" : code_s};
  metrics_counter_inc(m->kube_requests, labels);
}
