/* The controller's HTTP endpoints: /healthz, /readyz, /metrics and
 * /v1/recipients on --listen; the pod webhook (/mutate-pods) on
 * --webhook-listen, answering from the name index the main loop keeps. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"

#define METRICS_MAX_BYTES (16u * 1024 * 1024)

void reconcile_endpoints_init(reconcile_endpoints *e) {
  memset(e, 0, sizeof(*e));
  pthread_rwlock_init(&e->index_lock, NULL);
}

void reconcile_endpoints_clear(reconcile_endpoints *e) {
  httpd_server_stop(e->http);
  httpd_server_stop(e->webhook);
  httpd_server_free(e->http);
  httpd_server_free(e->webhook);
  inject_refindex_free(e->index);
  free(e->recipients_json);
  pthread_rwlock_destroy(&e->index_lock);
  memset(e, 0, sizeof(*e));
}

static int h_healthz(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)ctx;
  (void)req;
  return httpd_response_set_body(resp, "text/plain", "ok\n", 3);
}

static int h_readyz(void *ctx, const httpd_request *req, httpd_response *resp) {
  reconcile_ctl *c = ctx;
  (void)req;
  if (!atomic_load(&c->ready)) {
    static const char msg[] = "not ready: first sync pending\n";
    httpd_response_set_status(resp, 503);
    return httpd_response_set_body(resp, "text/plain", msg, sizeof(msg) - 1);
  }
  return httpd_response_set_body(resp, "text/plain", "ok\n", 3);
}

/* The webhook's 429s are answered by httpd before any handler runs: they
 * are brought into orgsecrets_webhook_requests_total{result="busy"} when
 * the metrics are read. The lock keeps two scrapes from adding the same
 * increase twice. */
static void sync_busy_count(reconcile_ctl *c) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  if (!c->endpoints.webhook)
    return;
  const char *label[] = {"busy"};
  pthread_mutex_lock(&mu);
  double seen = 0;
  if (metrics_value_get(&seen, c->metrics.webhook_requests, label) != 0)
    seen = 0;
  double now = (double)httpd_server_busy_count(c->endpoints.webhook);
  if (now > seen)
    metrics_counter_add(c->metrics.webhook_requests, label, now - seen);
  pthread_mutex_unlock(&mu);
}

static int h_metrics(void *ctx, const httpd_request *req, httpd_response *resp) {
  reconcile_ctl *c = ctx;
  (void)req;
  sync_busy_count(c);
  os_buf b;
  os_buf_init(&b, METRICS_MAX_BYTES, false);
  int rc = metrics_render(&b, c->metrics.registry);
  if (rc == 0)
    rc = httpd_response_set_body(resp, METRICS_CONTENT_TYPE, b.data ? b.data : "", b.len);
  os_buf_free(&b);
  return rc;
}

static int h_recipients(void *ctx, const httpd_request *req, httpd_response *resp) {
  reconcile_ctl *c = ctx;
  (void)req;
  const char *doc = c->endpoints.recipients_json;
  return httpd_response_set_body(resp, "application/json", doc, strlen(doc));
}

/* inject_resolve_fn over the index. */
static int resolve_ref(void *ctx, const char *ns, const char *name, char **secret_name) {
  reconcile_endpoints *e = &((reconcile_ctl *)ctx)->endpoints;
  pthread_rwlock_rdlock(&e->index_lock);
  const char *s = inject_refindex_resolve(e->index, ns, name);
  *secret_name = s ? os_strdup(s) : NULL;
  pthread_rwlock_unlock(&e->index_lock);
  if (s == NULL)
    return OS_ENOTFOUND;
  return *secret_name ? 0 : OS_ENOMEM;
}

/* inject_list_fn over the index. */
static int list_secrets(void *ctx, const char *ns, char ***names, size_t *n) {
  reconcile_endpoints *e = &((reconcile_ctl *)ctx)->endpoints;
  pthread_rwlock_rdlock(&e->index_lock);
  const char *const *found = NULL;
  size_t len = inject_refindex_list(e->index, ns, &found);
  char **v = calloc(len ? len : 1, sizeof(*v));
  int rc = v ? 0 : OS_ENOMEM;
  for (size_t i = 0; rc == 0 && i < len; i++) {
    v[i] = os_strdup(found[i]);
    if (v[i] == NULL)
      rc = OS_ENOMEM;
  }
  pthread_rwlock_unlock(&e->index_lock);
  if (rc < 0) {
    for (size_t i = 0; v && i < len; i++)
      free(v[i]);
    free(v);
    return rc;
  }
  *names = v;
  *n = len;
  return 0;
}

static int h_mutate(void *ctx, const httpd_request *req, httpd_response *resp) {
  reconcile_ctl *c = ctx;
  double t0 = os_mono_seconds();
  size_t len = 0;
  const uint8_t *body = httpd_request_body(req, &len);
  inject_options io = {resolve_ref, list_secrets, c};
  char *out = NULL;
  size_t out_len = 0;
  inject_outcome oc;
  os_error err = OS_ERROR_INIT;
  int rc = inject_review_handle(&out, &out_len, &oc, (const char *)body, len, &io, &err);
  const char *result = "error";
  if (rc == 0) {
    result = oc.result == INJECT_DENIED    ? "denied"
             : oc.result == INJECT_PATCHED ? "patched"
                                           : "allowed";
    if (oc.result == INJECT_PATCHED) {
      json_t *fields = json_pack("{s:s?,s:s?,s:s?,s:s?}", "namespace", oc.ns, "pod", oc.pod,
                                 "generateName", oc.generate_name, "uid", oc.uid);
      if (fields != NULL && oc.names[0] != '\0')
        json_object_set_new(fields, "names", json_string(oc.names));
      reconcile_audit_put(&c->audit, "inject", fields);
    }
    inject_outcome_clear(&oc);
    httpd_response_take_body(resp, "application/json", out, out_len);
    out = NULL;
  } else {
    /* a malformed review is the caller's fault (400); anything else is ours
     * (500), so the webhook's failurePolicy decides */
    bool bad = rc == OS_EINVAL;
    httpd_response_set_status(resp, bad ? 400 : 500);
    char msg[OS_ERROR_MSG_MAX + 32];
    int n = snprintf(msg, sizeof(msg), "%s: %s\n", bad ? "bad admission review" : "webhook error",
                     err.msg);
    httpd_response_set_body(resp, "text/plain", msg,
                            n < 0                     ? 0
                            : (size_t)n < sizeof(msg) ? (size_t)n
                                                      : sizeof(msg) - 1);
    result = bad ? "malformed" : "error";
  }
  free(out);
  metrics_counter_inc1(c->metrics.webhook_requests, result);
  metrics_histogram_observe(c->metrics.webhook_duration, NULL, os_mono_seconds() - t0);
  return 0;
}

static int start_http(reconcile_ctl *c, os_error *err) {
  reconcile_endpoints *e = &c->endpoints;
  httpd_options ho = {.listen = c->o->listen};
  int rc = httpd_server_new(&e->http, &ho, err);
  if (rc == 0)
    rc = httpd_route(e->http, "GET", "/healthz", h_healthz, c, err);
  if (rc == 0)
    rc = httpd_route(e->http, "GET", "/readyz", h_readyz, c, err);
  if (rc == 0)
    rc = httpd_route(e->http, "GET", "/metrics", h_metrics, c, err);
  if (rc == 0)
    rc = httpd_route(e->http, "GET", "/v1/recipients", h_recipients, c, err);
  if (rc == 0)
    rc = httpd_server_start(e->http, err);
  if (rc == 0)
    os_log_info("serving /healthz /readyz /metrics /v1/recipients on port %u",
                (unsigned)httpd_server_port(e->http));
  return rc;
}

static int start_webhook(reconcile_ctl *c, os_error *err) {
  reconcile_endpoints *e = &c->endpoints;
  httpd_options wo = {.listen = c->o->webhook_listen,
                      .tls_cert_file = c->o->tls_cert,
                      .tls_key_file = c->o->tls_key,
                      .max_body_bytes = INJECT_REVIEW_MAX_BYTES,
                      .max_pending_bytes = INJECT_WEBHOOK_MAX_PENDING,
                      .max_connections = INJECT_WEBHOOK_MAX_CONNECTIONS};
  int rc = httpd_server_new(&e->webhook, &wo, err);
  if (rc == 0)
    rc = httpd_route(e->webhook, "POST", "/mutate-pods", h_mutate, c, err);
  if (rc == 0)
    rc = httpd_route_limit(e->webhook, "POST", "/mutate-pods", INJECT_WEBHOOK_MAX_PARALLEL,
                           INJECT_WEBHOOK_QUEUE_MS, err);
  if (rc == 0)
    rc = httpd_route(e->webhook, "GET", "/healthz", h_healthz, c, err);
  if (rc == 0)
    rc = httpd_server_start(e->webhook, err);
  if (rc == 0)
    os_log_info("serving the pod webhook on port %u", (unsigned)httpd_server_port(e->webhook));
  return rc;
}

int reconcile_endpoints_start(reconcile_ctl *c, os_error *err) {
  int rc = c->o->listen != NULL ? start_http(c, err) : 0;
  if (rc == 0 && c->o->webhook_listen != NULL)
    rc = start_webhook(c, err);
  return rc;
}

/* inject_delivery_name_fn over a target: the names of the values it
 * delivers, then those it keeps. */
static const char *target_name(const void *ctx, size_t i) {
  const reconcile_plan_target *t = ctx;
  return i < t->n_entries ? t->entries[i].name : t->kept[i - t->n_entries];
}

/* What the plans deliver, as the index takes it: one delivery per target,
 * borrowing the target's names. Caller frees *out (also on failure). */
static int plan_deliveries(inject_delivery **out, size_t *n_out, reconcile_plan *const *plans,
                           size_t n_plans) {
  size_t n = 0;
  for (size_t pi = 0; pi < n_plans; pi++)
    n += plans[pi]->n_targets;
  inject_delivery *v = calloc(n ? n : 1, sizeof(*v));
  *out = v;
  *n_out = 0;
  if (v == NULL)
    return OS_ENOMEM;
  for (size_t pi = 0; pi < n_plans; pi++) {
    for (size_t i = 0; i < plans[pi]->n_targets; i++) {
      const reconcile_plan_target *t = &plans[pi]->targets[i];
      v[(*n_out)++] = (inject_delivery){t->secret_name,        (const char *const *)t->namespaces,
                                        t->n_namespaces,       t->n_entries + t->n_kept,
                                        target_name,           t,
                                        t->application != NULL};
    }
  }
  return 0;
}

void reconcile_endpoints_index(reconcile_ctl *c, bool need) {
  reconcile_endpoints *e = &c->endpoints;
  if (c->o->webhook_listen == NULL && e->index == NULL && !need)
    return;
  inject_delivery *d = NULL;
  size_t n = 0;
  inject_refindex *index = NULL;
  os_error err = OS_ERROR_INIT;
  if (plan_deliveries(&d, &n, c->load.plans, c->load.n_plans) < 0) {
    os_log_error("webhook index: out of memory (the previous one stays)");
  } else if (inject_refindex_same(e->index, d, n)) {
    /* only values changed: the names resolve as before (the index is only swapped here) */
  } else if (inject_refindex_build(&index, d, n, &err) < 0) {
    os_log_error("webhook index: %s (the previous one stays)", err.msg);
  } else {
    pthread_rwlock_wrlock(&e->index_lock);
    inject_refindex *old = e->index;
    e->index = index;
    pthread_rwlock_unlock(&e->index_lock);
    inject_refindex_free(old);
  }
  free(d);
}

/* The rollout's resolver: the webhook's, on an index built when first
 * needed (without a webhook nothing else keeps one). */
static int rollout_resolve(void *ctx, const char *ns, const char *name, char **secret_name) {
  reconcile_ctl *c = ctx;
  if (c->endpoints.index == NULL)
    reconcile_endpoints_index(c, true);
  return resolve_ref(c, ns, name, secret_name);
}

static int rollout_list(void *ctx, const char *ns, char ***names, size_t *n) {
  reconcile_ctl *c = ctx;
  if (c->endpoints.index == NULL)
    reconcile_endpoints_index(c, true);
  return list_secrets(c, ns, names, n);
}

inject_options reconcile_endpoints_rollout_resolver(reconcile_ctl *c) {
  return (inject_options){rollout_resolve, rollout_list, c};
}
