#include "reconcile/controller.h"

#include <malloc.h>
#include <math.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "age/age.h"
#include "audit/audit.h"
#include "common/buf.h"
#include "common/log.h"
#include "httpd/httpd.h"
#include "inject/admission.h"
#include "inject/refindex.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "metrics/metrics.h"
#include "reconcile/envfiles.h"
#include "reconcile/events.h"
#include "reconcile/kubesync.h"
#include "reconcile/plan.h"
#include "reconcile/source.h"
#include "seal/seal.h"
#include "spec/spec.h"

#ifndef ORGSECRETS_VERSION
#define ORGSECRETS_VERSION "0.1.0"
#endif

/* The oldest Kubernetes supported (docs/install.md says which and why; the
 * chart's kubeVersion says the same). */
#define KUBE_MIN_MAJOR 1
#define KUBE_MIN_MINOR 20

typedef struct ctl {
  const reconcile_controller_options *o;
  volatile int *stop;
  age_identity **ids;
  size_t n_ids;
  uint8_t ck[32];
  kube_client *k;
  metrics_registry *m;
  metrics_family *m_reconcile, *m_duration, *m_kube, *m_secrets, *m_unseal_err, *m_leader,
      *m_build, *m_writes, *m_webhook, *m_webhook_dur;
  httpd_server *http, *webhook;
  audit_log *audit;
  reconcile_kubesync_cache *scache;
  reconcile_event_recorder *events;       /* NULL without Kubernetes */
  reconcile_plan_cache *pcache;
  size_t source_unseals;         /* values the folder source's hook opened */
  kube_lease_elector *lease;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool source_dirty, target_dirty;
  atomic_bool ready;
  atomic_bool leader_changed;
  /* cluster source: name -> object, under mu */
  json_t *cr_orgs, *cr_secrets;
  /* the last plans, one per organization; touched by the main loop only */
  reconcile_plan **plans;
  size_t n_plans;
  reconcile_source_cache *src;            /* folder source: files as last read */
  json_t *cr_snapshot;          /* cluster source: specs the plans came from */
  spec_org **cr_orgs_parsed;
  size_t n_cr_orgs_parsed;
  spec_secret **cr_secrets_parsed;
  size_t n_cr_secrets_parsed;
  reconcile_plan_secret *cr_refs;         /* the plans' view of cr_secrets_parsed */
  const reconcile_plan_secret **cr_refv;
  /* webhook resolver index (names only), swapped under idx_lock after each plan */
  pthread_rwlock_t idx_lock;
  inject_refindex *idx;               /* NULL until the first plan */
  struct seen_key *audit_seen;  /* sorted: what the last pass audited or logged */
  size_t n_audit_seen;
  char *recipients_json;
  int backoff_s;
} ctl;

/* ---- small helpers ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mark_dirty(ctl *c, bool source) {
  pthread_mutex_lock(&c->mu);
  if (source)
    c->source_dirty = true;
  c->target_dirty = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
}

static bool writer(const ctl *c) { return !c->o->leader_elect || (c->lease && kube_lease_is_leader(c->lease)); }

static void audit(ctl *c, const char *event, json_t *fields) {
  if (c->audit != NULL && fields != NULL) {
    os_error err = OS_ERROR_INIT;
    if (audit_log_append(c->audit, event, fields, &err) < 0)
      os_log_error("audit log: %s", err.msg);
  }
  json_decref(fields);
}

/* ---- metrics ---- */

static void observe_kube(void *ctx, const char *verb, long code, double seconds) {
  ctl *c = ctx;
  (void)seconds;
  char code_s[16];
  snprintf(code_s, sizeof(code_s), "%ld", code);
  const char *labels[] = {verb, code == 0 ? "error" : code_s};
  metrics_counter_inc(c->m_kube, labels);
}

static int setup_metrics(ctl *c, os_error *err) {
  int rc = metrics_registry_new(&c->m, err);
  const char *result[] = {"result"};
  const char *verb_code[] = {"verb", "code"};
  const char *state[] = {"state"};
  const char *reason[] = {"reason"};
  const char *version[] = {"version"};
  const char *op[] = {"operation"};
  static const double dur_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  static const double wh_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1};
  if (rc == 0)
    rc = metrics_counter_new(&c->m_reconcile, c->m, "orgsecrets_reconcile_total",
                             "Reconcile passes by result.", result, 1, err);
  if (rc == 0)
    rc = metrics_histogram_new(&c->m_duration, c->m, "orgsecrets_reconcile_duration_seconds",
                               "Duration of reconcile passes by result.", result, 1, dur_buckets,
                               sizeof(dur_buckets) / sizeof(dur_buckets[0]), err);
  if (rc == 0)
    rc = metrics_counter_new(&c->m_kube, c->m, "orgsecrets_kube_requests_total",
                             "Kubernetes API requests by verb and HTTP code.", verb_code, 2, err);
  if (rc == 0)
    rc = metrics_gauge_new(&c->m_secrets, c->m, "orgsecrets_secrets",
                           "Secrets of this environment by state.", state, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&c->m_unseal_err, c->m, "orgsecrets_unseal_errors_total",
                             "Values that failed to unseal, by reason.", reason, 1, err);
  if (rc == 0)
    rc = metrics_gauge_new(&c->m_leader, c->m, "orgsecrets_leader",
                           "1 when this replica may write.", NULL, 0, err);
  if (rc == 0)
    rc = metrics_gauge_new(&c->m_build, c->m, "orgsecrets_build_info",
                           "Build information.", version, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&c->m_writes, c->m, "orgsecrets_target_writes_total",
                             "Writes to targets by operation.", op, 1, err);
  if (rc == 0)
    rc = metrics_counter_new(&c->m_webhook, c->m, "orgsecrets_webhook_requests_total",
                             "Admission requests by result.", result, 1, err);
  if (rc == 0)
    rc = metrics_histogram_new(&c->m_webhook_dur, c->m, "orgsecrets_webhook_duration_seconds",
                               "Admission request latency.", NULL, 0, wh_buckets,
                               sizeof(wh_buckets) / sizeof(wh_buckets[0]), err);
  if (rc == 0)
    metrics_gauge_set1(c->m_build, ORGSECRETS_VERSION, 1);
  return rc;
}

/* ---- HTTP endpoints ---- */

static int h_healthz(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)ctx;
  (void)req;
  return httpd_response_set_body(resp, "text/plain", "ok\n", 3);
}

static int h_readyz(void *ctx, const httpd_request *req, httpd_response *resp) {
  ctl *c = ctx;
  (void)req;
  if (!atomic_load(&c->ready)) {
    httpd_response_set_status(resp, 503);
    return httpd_response_set_body(resp, "text/plain", "not ready: first sync pending\n", 29);
  }
  return httpd_response_set_body(resp, "text/plain", "ok\n", 3);
}

static int h_metrics(void *ctx, const httpd_request *req, httpd_response *resp) {
  ctl *c = ctx;
  (void)req;
  os_buf b;
  os_buf_init(&b, 16u * 1024 * 1024, false);
  int rc = metrics_render(&b, c->m);
  if (rc == 0)
    rc = httpd_response_set_body(resp, METRICS_CONTENT_TYPE, b.data ? b.data : "", b.len);
  os_buf_free(&b);
  return rc;
}

static int h_recipients(void *ctx, const httpd_request *req, httpd_response *resp) {
  ctl *c = ctx;
  (void)req;
  return httpd_response_set_body(resp, "application/json", c->recipients_json,
                                 strlen(c->recipients_json));
}

static void rebuild_index(ctl *c, bool need);

static int resolve_ref(void *ctx, const char *ns, const char *name, char **secret_name) {
  ctl *c = ctx;
  pthread_rwlock_rdlock(&c->idx_lock);
  const char *s = inject_refindex_resolve(c->idx, ns, name);
  *secret_name = s ? os_strdup(s) : NULL;
  pthread_rwlock_unlock(&c->idx_lock);
  if (s == NULL)
    return OS_ENOTFOUND;
  return *secret_name ? 0 : OS_ENOMEM;
}

static int list_secrets(void *ctx, const char *ns, char ***names, size_t *n) {
  ctl *c = ctx;
  pthread_rwlock_rdlock(&c->idx_lock);
  const char *const *found = NULL;
  size_t len = inject_refindex_list(c->idx, ns, &found);
  char **v = calloc(len ? len : 1, sizeof(*v));
  int rc = v ? 0 : OS_ENOMEM;
  for (size_t i = 0; rc == 0 && i < len; i++) {
    v[i] = os_strdup(found[i]);
    if (v[i] == NULL)
      rc = OS_ENOMEM;
  }
  pthread_rwlock_unlock(&c->idx_lock);
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

/* The webhook's callbacks for the rollout of injected workloads (main
 * loop): the same index, built on first use when no webhook keeps it. */
static int rollout_resolve(void *ctx, const char *ns, const char *name, char **secret_name) {
  ctl *c = ctx;
  if (c->idx == NULL)
    rebuild_index(c, true);
  return resolve_ref(c, ns, name, secret_name);
}

static int rollout_list(void *ctx, const char *ns, char ***names, size_t *n) {
  ctl *c = ctx;
  if (c->idx == NULL)
    rebuild_index(c, true);
  return list_secrets(c, ns, names, n);
}

static int h_mutate(void *ctx, const httpd_request *req, httpd_response *resp) {
  ctl *c = ctx;
  double t0 = now_s();
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
    result = oc.result == INJECT_DENIED ? "denied" : oc.result == INJECT_PATCHED ? "patched" : "allowed";
    if (oc.result == INJECT_PATCHED) {
      json_t *fields = json_pack("{s:s?,s:s?,s:s?,s:s?}", "namespace", oc.ns, "pod", oc.pod, "generateName",
                                 oc.generate_name, "uid", oc.uid);
      if (fields != NULL && oc.names[0] != '\0')
        json_object_set_new(fields, "names", json_string(oc.names));
      audit(c, "inject", fields);
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
    httpd_response_set_body(resp, "text/plain", msg, n > 0 ? (size_t)n : 0);
    result = bad ? "malformed" : "error";
  }
  free(out);
  metrics_counter_inc1(c->m_webhook, result);
  metrics_histogram_observe(c->m_webhook_dur, NULL, now_s() - t0);
  return 0;
}

static int setup_http(ctl *c, os_error *err) {
  int rc = 0;
  if (c->o->listen != NULL) {
    httpd_options ho = {.listen = c->o->listen};
    rc = httpd_server_new(&c->http, &ho, err);
    if (rc == 0)
      rc = httpd_route(c->http, "GET", "/healthz", h_healthz, c, err);
    if (rc == 0)
      rc = httpd_route(c->http, "GET", "/readyz", h_readyz, c, err);
    if (rc == 0)
      rc = httpd_route(c->http, "GET", "/metrics", h_metrics, c, err);
    if (rc == 0)
      rc = httpd_route(c->http, "GET", "/v1/recipients", h_recipients, c, err);
    if (rc == 0)
      rc = httpd_server_start(c->http, err);
    if (rc == 0)
      os_log_info("serving /healthz /readyz /metrics /v1/recipients on port %u",
                  (unsigned)httpd_server_port(c->http));
  }
  if (rc == 0 && c->o->webhook_listen != NULL) {
    httpd_options wo = {.listen = c->o->webhook_listen, .tls_cert_file = c->o->tls_cert,
                        .tls_key_file = c->o->tls_key, .max_body_bytes = INJECT_REVIEW_MAX_BYTES,
                        .max_pending_bytes = INJECT_WEBHOOK_MAX_PENDING,
                        .max_connections = INJECT_WEBHOOK_MAX_CONNECTIONS};
    rc = httpd_server_new(&c->webhook, &wo, err);
    if (rc == 0)
      rc = httpd_route(c->webhook, "POST", "/mutate-pods", h_mutate, c, err);
    if (rc == 0)
      rc = httpd_route_limit(c->webhook, "POST", "/mutate-pods", INJECT_WEBHOOK_MAX_PARALLEL,
                             INJECT_WEBHOOK_QUEUE_MS, err);
    if (rc == 0)
      rc = httpd_route(c->webhook, "GET", "/healthz", h_healthz, c, err);
    if (rc == 0)
      rc = httpd_server_start(c->webhook, err);
    if (rc == 0)
      os_log_info("serving the pod webhook on port %u", (unsigned)httpd_server_port(c->webhook));
  }
  return rc;
}

/* ---- watches ---- */

typedef struct watch_spec {
  ctl *c;
  const char *path;
  char *selector;
  int kind; /* 0 owned secrets, 1 organizations, 2 orgsecrets */
  volatile int relist; /* set to end the watch and list again (resync, shutdown) */
} watch_spec;

static int on_watch_event(void *ctx, const char *type, json_t *obj) {
  watch_spec *w = ctx;
  ctl *c = w->c;
  if (strcmp(type, "BOOKMARK") == 0)
    return 0;
  if (w->kind == 0) {
    reconcile_kubesync_cache_apply(c->scache, type, obj);
    mark_dirty(c, false);
    return 0;
  }
  json_t *cache = w->kind == 1 ? c->cr_orgs : c->cr_secrets;
  const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
  if (name == NULL)
    return 0;
  pthread_mutex_lock(&c->mu);
  json_t *old = json_object_get(cache, name);
  json_int_t old_gen = json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));
  json_int_t new_gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
  bool spec_change = strcmp(type, "DELETED") == 0 || old == NULL || old_gen != new_gen;
  if (strcmp(type, "DELETED") == 0)
    json_object_del(cache, name);
  else
    json_object_set(cache, name, obj);
  if (spec_change) {
    c->source_dirty = true;
    c->target_dirty = true;
    pthread_cond_broadcast(&c->cond);
  }
  pthread_mutex_unlock(&c->mu);
  return 0;
}

static int list_into(ctl *c, watch_spec *w, char **rv, os_error *err) {
  if (w->kind == 0) {
    int rc = reconcile_kubesync_cache_refresh(c->scache, c->k, NULL, c->o->environment, rv, err);
    if (rc == 0)
      mark_dirty(c, false); /* what the list shows may differ from what was cached */
    return rc;
  }
  json_t *items = NULL;
  int rc = kube_list(c->k, w->path, NULL, &items, rv, err);
  if (rc < 0)
    return rc;
  json_t *fresh = json_object();
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    const char *name = json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
    if (name)
      json_object_set(fresh, name, it);
  }
  json_decref(items);
  pthread_mutex_lock(&c->mu);
  json_t *cache = w->kind == 1 ? c->cr_orgs : c->cr_secrets;
  json_object_clear(cache);
  json_object_update(cache, fresh);
  c->source_dirty = true;
  c->target_dirty = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
  json_decref(fresh);
  return 0;
}

static void sleep_stoppable(ctl *c, double seconds) {
  for (double t = 0; t < seconds && !*c->stop; t += 0.1)
    usleep(100000);
}

static void *watch_thread(void *arg) {
  watch_spec *w = arg;
  ctl *c = w->c;
  int backoff = 1;
  while (!*c->stop) {
    char *rv = NULL;
    os_error err = OS_ERROR_INIT;
    w->relist = 0;
    if (list_into(c, w, &rv, &err) < 0) {
      os_log_warn("list %s: %s", w->path, err.msg);
      sleep_stoppable(c, backoff + (double)(rand() % 1000) / 1000.0);
      backoff = backoff < 30 ? backoff * 2 : 30;
      continue;
    }
    backoff = 1;
#ifdef __GLIBC__
    malloc_trim(0); /* a large list is parsed and dropped: give it back */
#endif
    while (!*c->stop && !w->relist) {
      char *last = NULL;
      os_error werr = OS_ERROR_INIT;
      int rc = kube_watch(c->k, w->path, w->selector, rv, 240, on_watch_event, w, &last, &w->relist,
                          &werr);
      if (last != NULL) {
        free(rv);
        rv = last;
      }
      if (rc == OS_EGONE) {
        os_log_info("watch %s: resourceVersion expired, listing again", w->path);
        break;
      }
      if (rc < 0) {
        os_log_warn("watch %s: %s", w->path, werr.msg);
        sleep_stoppable(c, 1 + (double)(rand() % 1000) / 1000.0);
        break;
      }
    }
    free(rv);
  }
  return NULL;
}

static void *dir_watch_thread(void *arg) {
  ctl *c = arg;
  reconcile_source_watch *w = NULL;
  os_error err = OS_ERROR_INIT;
  if (reconcile_source_watch_new(&w, c->o->source_dir, &err) < 0) {
    os_log_error("watch %s: %s", c->o->source_dir, err.msg);
    return NULL;
  }
  while (!*c->stop) {
    if (reconcile_source_watch_wait(w, 500) > 0)
      mark_dirty(c, true);
  }
  reconcile_source_watch_free(w);
  return NULL;
}

static void *lease_thread(void *arg) {
  ctl *c = arg;
  kube_lease_elector_run(c->lease, c->stop);
  return NULL;
}

static void on_leader_change(void *ctx, bool leader) {
  ctl *c = ctx;
  metrics_gauge_set(c->m_leader, NULL, leader ? 1 : 0);
  if (leader)
    mark_dirty(c, true);
}

/* ---- events and status ---- */

/* An Event about an object, counted on the earlier one when it repeats;
 * only the writer posts. ns NULL: a cluster-scoped object. */
static void post_event(ctl *c, const char *ns, const char *kind, const char *api_version,
                       const char *name, const char *uid, const char *type, const char *reason,
                       const char *message) {
  if (c->events == NULL || !writer(c))
    return;
  reconcile_event_subject about = {api_version, kind, ns, name, uid};
  os_error err = OS_ERROR_INIT;
  if (reconcile_event_recorder_post(c->events, &about, type, reason, message, &err) < 0)
    os_log_warn("post event %s for %s %s: %s", reason, kind, name, err.msg);
}

/* Target problems seen in a pass: target pointer -> reason. */
typedef struct pass_state {
  ctl *c;
  json_t *target_problems; /* "%p" -> reason */
  size_t writes;
} pass_state;

static void on_sync_event(void *ctx, const reconcile_kubesync_event *ev) {
  pass_state *ps = ctx;
  ctl *c = ps->c;
  const char *op = NULL, *reason = NULL, *type = "Normal";
  switch (ev->kind) {
  case RECONCILE_KUBESYNC_CREATED: op = "create"; reason = "Created"; break;
  case RECONCILE_KUBESYNC_UPDATED: op = "update"; reason = "Updated"; break;
  case RECONCILE_KUBESYNC_RECREATED: op = "recreate"; reason = "Recreated"; type = "Warning"; break;
  case RECONCILE_KUBESYNC_DELETED: op = "delete"; reason = "Deleted"; break;
  case RECONCILE_KUBESYNC_ROLLOUT: op = "rollout"; reason = "RolloutTriggered"; break;
  case RECONCILE_KUBESYNC_CONFLICT: reason = "TargetConflict"; type = "Warning"; break;
  case RECONCILE_KUBESYNC_NAMESPACE_MISSING: reason = "NamespaceNotFound"; type = "Warning"; break;
  case RECONCILE_KUBESYNC_FAILED: reason = "WriteFailed"; type = "Warning"; break;
  }
  if (op != NULL) {
    metrics_counter_inc1(c->m_writes, op);
    ps->writes++;
  }
  os_log(strcmp(type, "Warning") == 0 ? OS_LOG_WARN : OS_LOG_INFO,
         "%s %s %s/%s: %s", reason, ev->kind_name, ev->namespace_, ev->name, ev->message);
  json_t *fields = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", ev->kind_name, "namespace",
                             ev->namespace_, "name", ev->name, "reason", reason, "message", ev->message);
  audit(c, ev->kind == RECONCILE_KUBESYNC_DELETED ? "delete" : ev->kind == RECONCILE_KUBESYNC_CONFLICT ? "conflict" : "write",
        fields);
  if (ev->kind != RECONCILE_KUBESYNC_NAMESPACE_MISSING) {
    const char *api = ev->kind == RECONCILE_KUBESYNC_ROLLOUT ? "apps/v1" : "v1";
    post_event(c, ev->namespace_, ev->kind_name, api, ev->name, ev->uid, type, reason, ev->message);
  }
  if (ev->target != NULL && (ev->kind == RECONCILE_KUBESYNC_CONFLICT || ev->kind == RECONCILE_KUBESYNC_NAMESPACE_MISSING ||
                             ev->kind == RECONCILE_KUBESYNC_FAILED)) {
    char key[32];
    snprintf(key, sizeof(key), "%p", (const void *)ev->target);
    json_object_set_new(ps->target_problems, key, json_string(reason));
  }
}

static void on_envfile_event(void *ctx, const reconcile_plan_target *t, const char *path, const os_error *failure) {
  pass_state *ps = ctx;
  json_t *fields = json_pack("{s:s,s:s,s:s?,s:s}", "organization", t->organization, "environment",
                             t->environment, "application", t->application, "file", path);
  if (failure != NULL) {
    os_log_error("env file %s: %s", path, failure->msg);
    json_object_set_new(fields, "error", json_string(failure->msg));
    audit(ps->c, "envfile-failed", fields);
  } else {
    os_log_info("wrote env file %s", path);
    metrics_counter_inc1(ps->c->m_writes, "envfile");
    ps->writes++;
    audit(ps->c, "write", fields);
  }
}

static const reconcile_plan_target *target_of(const reconcile_plan *p, const reconcile_plan_secret *ps) {
  const char *app = ps->ref.application;
  for (size_t i = 0; i < p->n_targets; i++) {
    const char *a = p->targets[i].application;
    if ((a == NULL && app == NULL) || (a && app && strcmp(a, app) == 0))
      return &p->targets[i];
  }
  return NULL;
}

/* Writes Ready conditions on OrgSecret resources, only where they change. */
static void update_statuses(ctl *c, pass_state *ps) {
  for (size_t pi = 0; pi < c->n_plans; pi++) {
    const reconcile_plan *p = c->plans[pi];
    for (size_t i = 0; i < p->n_results; i++) {
      const reconcile_plan_secret_result *r = &p->results[i];
      const spec_secret_ref *s = &r->secret->ref;
      int64_t generation = r->secret->spec ? r->secret->spec->generation : 0;
      const char *reason = r->reason, *message = reconcile_plan_result_message(p, r);
      const reconcile_plan_target *t = target_of(p, r->secret);
      if (t != NULL && strcmp(reason, "Synced") == 0) {
        char key[32];
        snprintf(key, sizeof(key), "%p", (const void *)t);
        const char *prob = json_string_value(json_object_get(ps->target_problems, key));
        if (prob != NULL) {
          reason = prob;
          message = strcmp(prob, "TargetConflict") == 0
                        ? "a target Secret exists and is not managed by orgsecrets"
                        : strcmp(prob, "NamespaceNotFound") == 0 ? "a target namespace does not exist"
                                                                 : "writing a target failed";
        }
      }
      const char *status = strcmp(reason, "Synced") == 0 ? "True" : "False";
      if (strcmp(reason, "Synced") == 0)
        message = "delivered to every target";
      char *rname = spec_secret_resource_name(s->organization, s->environment, s->name);
      if (rname == NULL)
        continue;
      pthread_mutex_lock(&c->mu);
      json_t *cur = json_incref(json_object_get(c->cr_secrets, rname));
      pthread_mutex_unlock(&c->mu);
      json_t *conds = json_object_get(json_object_get(cur, "status"), "conditions");
      json_t *old = NULL;
      size_t j;
      json_t *cd;
      json_array_foreach(conds, j, cd) {
        const char *type = json_string_value(json_object_get(cd, "type"));
        if (type && strcmp(type, "Ready") == 0)
          old = cd;
      }
      const char *o_status = json_string_value(json_object_get(old, "status"));
      const char *o_reason = json_string_value(json_object_get(old, "reason"));
      const char *o_msg = json_string_value(json_object_get(old, "message"));
      json_int_t o_gen = json_integer_value(json_object_get(old, "observedGeneration"));
      bool same = o_status && o_reason && o_msg && strcmp(o_status, status) == 0 &&
                  strcmp(o_reason, reason) == 0 && strcmp(o_msg, message) == 0 && o_gen == generation;
      if (!same && cur != NULL) {
        char now[32];
        reconcile_event_time_now(now, sizeof(now));
        const char *ltt = json_string_value(json_object_get(old, "lastTransitionTime"));
        bool transition = !(o_status && strcmp(o_status, status) == 0);
        json_t *patch = json_pack("{s:{s:I,s:[{s:s,s:s,s:s,s:s,s:s,s:I}]}}", "status",
                                  "observedGeneration", (json_int_t)generation, "conditions",
                                  "type", "Ready", "status", status, "reason", reason, "message",
                                  message, "lastTransitionTime", transition || !ltt ? now : ltt,
                                  "observedGeneration", (json_int_t)generation);
        char path[600];
        snprintf(path, sizeof(path), "/apis/orgsecrets.io/v1/orgsecrets/%s/status", rname);
        json_t *out = NULL;
        os_error err = OS_ERROR_INIT;
        if (patch != NULL && kube_patch(c->k, path, "application/merge-patch+json", patch, &out, &err) == 0) {
          if (out != NULL) {
            pthread_mutex_lock(&c->mu);
            json_object_set(c->cr_secrets, rname, out);
            pthread_mutex_unlock(&c->mu);
          }
          if (transition && strcmp(status, "False") == 0)
            post_event(c, NULL, "OrgSecret", "orgsecrets.io/v1", rname,
                       json_string_value(json_object_get(json_object_get(cur, "metadata"), "uid")),
                       "Warning", reason, message);
        } else if (patch != NULL) {
          os_log_warn("status of OrgSecret %s: %s", rname, err.msg);
        }
        json_decref(out);
        json_decref(patch);
      }
      json_decref(cur);
      free(rname);
    }
  }
}

/* ---- sources and plans ---- */

static void free_plans(ctl *c) {
  for (size_t i = 0; i < c->n_plans; i++)
    reconcile_plan_free(c->plans[i]);
  free(c->plans);
  c->plans = NULL;
  c->n_plans = 0;
  for (size_t i = 0; i < c->n_cr_orgs_parsed; i++)
    spec_org_free(c->cr_orgs_parsed[i]);
  free(c->cr_orgs_parsed);
  c->cr_orgs_parsed = NULL;
  c->n_cr_orgs_parsed = 0;
  for (size_t i = 0; i < c->n_cr_secrets_parsed; i++)
    spec_secret_free(c->cr_secrets_parsed[i]);
  free(c->cr_secrets_parsed);
  c->cr_secrets_parsed = NULL;
  c->n_cr_secrets_parsed = 0;
  free(c->cr_refs);
  c->cr_refs = NULL;
  free(c->cr_refv);
  c->cr_refv = NULL;
}

static void report_problem(void *ctx, const char *file, int line, const char *msg) {
  (void)ctx;
  (void)file;
  (void)line;
  os_log_error("spec: %s", msg);
}

/* What was last audited (or, without an audit log, logged) of a secret:
 * the first 16 bytes of its digest (names and ciphertext) with a hash of
 * the outcome folded in, as a sorted set. */
typedef struct seen_key {
  uint8_t k[16];
} seen_key;

static int cmp_seen(const void *a, const void *b) {
  return memcmp(((const seen_key *)a)->k, ((const seen_key *)b)->k, sizeof(seen_key));
}

static void result_key(seen_key *k, const reconcile_plan_secret_result *r) {
  uint8_t d[32];
  const reconcile_plan_secret *ps = r->secret;
  if (ps->has_digest) {
    memcpy(d, ps->digest, sizeof(d));
  } else if (ps->spec != NULL) {
    reconcile_plan_secret_digest(d, ps->spec);
  } else { /* not reached by either source: names only */
    const spec_secret_ref *s = &ps->ref;
    const char *parts[] = {s->organization, s->environment, s->application, s->name};
    uint64_t h = OS_FNV1A64_INIT;
    for (size_t i = 0; i < 4; i++)
      h = parts[i] ? os_fnv1a64(h, parts[i], strlen(parts[i]) + 1) : os_fnv1a64(h, "", 1);
    memset(d, 0, sizeof(d));
    memcpy(d, &h, sizeof(h));
  }
  uint64_t reason = os_fnv1a64(OS_FNV1A64_INIT, r->reason, strlen(r->reason)), first;
  memcpy(&first, d, sizeof(first));
  first ^= reason;
  memcpy(d, &first, sizeof(first));
  memcpy(k->k, d, sizeof(k->k));
}

/* Sorts in place (qsort may allocate a copy of the array). */
static void sort_seen(seen_key *v, size_t n) {
  for (size_t start = n / 2; n > 1;) { /* heapsort */
    size_t root;
    if (start > 0) {
      root = --start;
    } else {
      seen_key t = v[0];
      v[0] = v[--n];
      v[n] = t;
      root = 0;
    }
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
      if (child + 1 < n && cmp_seen(&v[child], &v[child + 1]) < 0)
        child++;
      if (cmp_seen(&v[root], &v[child]) >= 0)
        break;
      seen_key t = v[root];
      v[root] = v[child];
      v[child] = t;
    }
  }
}

/* The outcomes worth remembering: every one with an audit log, else
 * failures only (to log each once). */
static bool remembered(const ctl *c, const reconcile_plan_secret_result *r) {
  return c->audit != NULL ||
         (strcmp(r->reason, "Synced") != 0 && strcmp(r->reason, "Disabled") != 0);
}

/* Audits each secret whose unseal outcome or ciphertext changed since the
 * last pass and logs each new failure once; counts the keys of this pass
 * (*n) and how many the last pass had too (*found). */
static void audit_unseals(ctl *c, const reconcile_plan *p, size_t *n, size_t *found) {
  for (size_t i = 0; i < p->n_results; i++) {
    const reconcile_plan_secret_result *r = &p->results[i];
    const spec_secret_ref *s = &r->secret->ref;
    bool synced = strcmp(r->reason, "Synced") == 0, disabled = strcmp(r->reason, "Disabled") == 0;
    if (!synced && !disabled)
      metrics_counter_inc1(c->m_unseal_err, r->reason);
    if (!remembered(c, r))
      continue;
    seen_key k;
    result_key(&k, r);
    (*n)++;
    if (c->n_audit_seen > 0 &&
        bsearch(&k, c->audit_seen, c->n_audit_seen, sizeof(k), cmp_seen) != NULL) {
      (*found)++;
      continue;
    }
    if (!disabled) {
      json_t *f = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s}", "organization", s->organization,
                            "environment", s->environment, "application", s->application, "name",
                            s->name, "result", synced ? "ok" : "failed", "reason", r->reason);
      audit(c, "unseal", f);
    }
    if (!synced && !disabled) {
      char *rname = spec_secret_resource_name(s->organization, s->environment, s->name);
      os_log_error("secret %s: %s: %s", rname ? rname : s->name, r->reason,
                   reconcile_plan_result_message(p, r));
      free(rname);
    }
  }
}

/* Replaces the remembered outcomes with this pass's, unless they are the
 * same set (a pass that changed nothing allocates nothing). */
static void remember_outcomes(ctl *c, size_t n, size_t found) {
  if (n == found && n == c->n_audit_seen)
    return;
  seen_key *v = n > 0 ? malloc(n * sizeof(*v)) : NULL;
  if (n > 0 && v == NULL)
    return; /* the old set stays: lines may repeat, none is lost */
  size_t k = 0;
  for (size_t pi = 0; pi < c->n_plans; pi++) {
    const reconcile_plan *p = c->plans[pi];
    for (size_t i = 0; i < p->n_results && k < n; i++)
      if (remembered(c, &p->results[i]))
        result_key(&v[k++], &p->results[i]);
  }
  sort_seen(v, k);
  free(c->audit_seen);
  c->audit_seen = v;
  c->n_audit_seen = k;
}

/* A secret just read from the folder: open it now (or skip what this
 * environment never needs) so that its spec can be dropped at once and its
 * value kept in the source's block. A failure keeps the spec: the plan
 * retries it and reports why. */
static int on_secret_read(void *ctx, const spec_secret *s, const uint8_t digest[32], uint8_t **value,
                          size_t *len) {
  ctl *c = ctx;
  (void)digest;
  bool mine = s->environment != NULL && strcmp(s->environment, c->o->environment) == 0;
  if (!mine || s->state != SPEC_STATE_ACTIVE)
    return 0;
  os_error err = OS_ERROR_INIT;
  c->source_unseals++;
  return seal_unseal(value, len, s, (const age_identity *const *)c->ids, c->n_ids, &err);
}

static int build_plan(ctl *c, const spec_org *org, const reconcile_plan_secret *const *secrets, size_t n,
                      bool incomplete, os_error *err) {
  if (spec_org_find_env(org, c->o->environment) == NULL)
    return 0;
  reconcile_plan_input in = {org, secrets, n, c->o->environment, (const age_identity *const *)c->ids,
                   c->n_ids, c->ck, incomplete, c->pcache};
  reconcile_plan *p = NULL;
  int rc = reconcile_plan_build(&p, &in, err);
  if (rc < 0)
    return rc;
  reconcile_plan **v = realloc(c->plans, (c->n_plans + 1) * sizeof(*v));
  if (v == NULL) {
    reconcile_plan_free(p);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  c->plans = v;
  c->plans[c->n_plans++] = p;
  return 0;
}

static int load_cluster(ctl *c, os_error *err) {
  pthread_mutex_lock(&c->mu);
  json_t *orgs = json_deep_copy(c->cr_orgs);
  json_t *secs = json_deep_copy(c->cr_secrets);
  pthread_mutex_unlock(&c->mu);
  int rc = 0;
  c->cr_orgs_parsed = calloc(json_object_size(orgs) + 1, sizeof(spec_org *));
  c->cr_secrets_parsed = calloc(json_object_size(secs) + 1, sizeof(spec_secret *));
  if (c->cr_orgs_parsed == NULL || c->cr_secrets_parsed == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  const char *name;
  json_t *obj;
  json_object_foreach(orgs, name, obj) {
    os_error e = OS_ERROR_INIT;
    spec_org *o = NULL;
    if (spec_org_from_json(&o, obj, &e) < 0) {
      os_log_error("Organization %s: %s", name, e.msg);
      continue;
    }
    c->cr_orgs_parsed[c->n_cr_orgs_parsed++] = o;
  }
  bool incomplete = false;
  json_object_foreach(secs, name, obj) {
    os_error e = OS_ERROR_INIT;
    spec_secret *s = NULL;
    if (spec_secret_from_json(&s, obj, &e) < 0) {
      os_log_error("OrgSecret %s: %s", name, e.msg);
      incomplete = true;
      continue;
    }
    c->cr_secrets_parsed[c->n_cr_secrets_parsed++] = s;
  }
  size_t ns = c->n_cr_secrets_parsed;
  c->cr_refs = calloc(ns ? ns : 1, sizeof(*c->cr_refs));
  c->cr_refv = calloc(ns ? ns : 1, sizeof(*c->cr_refv));
  if (c->cr_refs == NULL || c->cr_refv == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < ns; i++) {
    reconcile_plan_secret_of(&c->cr_refs[i], c->cr_secrets_parsed[i], NULL);
    c->cr_refv[i] = &c->cr_refs[i];
  }
  for (size_t i = 0; i < c->n_cr_orgs_parsed && rc == 0; i++)
    rc = build_plan(c, c->cr_orgs_parsed[i], c->cr_refv, ns, incomplete, err);
done:
  json_decref(orgs);
  json_decref(secs);
  return rc;
}

/* Rebuilds the resolver index from the plans when something resolves
 * references: the webhook, or (once it needed it) the rollout of injected
 * workloads; need builds it now. Called by the main loop only. */
/* What the plans deliver, as the index takes it: one delivery per target,
 * its names the values it carries and those it keeps. Caller frees with
 * free_deliveries(). */
static int plan_deliveries(inject_delivery **out, size_t *n_out, const reconcile_plan *const *plans,
                           size_t n_plans) {
  size_t n = 0;
  for (size_t pi = 0; pi < n_plans; pi++)
    n += plans[pi]->n_targets;
  inject_delivery *v = calloc(n ? n : 1, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  size_t k = 0;
  int rc = 0;
  for (size_t pi = 0; pi < n_plans && rc == 0; pi++) {
    for (size_t i = 0; i < plans[pi]->n_targets; i++, k++) {
      const reconcile_plan_target *t = &plans[pi]->targets[i];
      const char **names = calloc(t->n_entries + t->n_kept + 1, sizeof(*names));
      if (names == NULL) {
        rc = OS_ENOMEM;
        break;
      }
      for (size_t e = 0; e < t->n_entries; e++)
        names[e] = t->entries[e].name;
      for (size_t e = 0; e < t->n_kept; e++)
        names[t->n_entries + e] = t->kept[e];
      v[k] = (inject_delivery){t->secret_name, (const char *const *)t->namespaces, t->n_namespaces,
                               names, t->n_entries + t->n_kept, t->application != NULL};
    }
  }
  *out = v;
  *n_out = k;
  return rc;
}

static void free_deliveries(inject_delivery *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    free((void *)(uintptr_t)v[i].names);
  free(v);
}

/* Rebuilds the resolver index from the plans when something resolves
 * references: the webhook, or (once it needed it) the rollout of injected
 * workloads; need builds it now. Called by the main loop only. */
static void rebuild_index(ctl *c, bool need) {
  if (c->o->webhook_listen == NULL && c->idx == NULL && !need)
    return;
  inject_delivery *d = NULL;
  size_t n = 0;
  inject_refindex *idx = NULL;
  os_error err = OS_ERROR_INIT;
  if (plan_deliveries(&d, &n, (const reconcile_plan *const *)c->plans, c->n_plans) < 0) {
    os_log_error("webhook index: out of memory (the previous one stays)");
  } else if (inject_refindex_same(c->idx, d, n)) {
    /* only values changed: the names resolve as before (c->idx is only swapped here) */
  } else if (inject_refindex_build(&idx, d, n, &err) < 0) {
    os_log_error("webhook index: %s (the previous one stays)", err.msg);
  } else {
    pthread_rwlock_wrlock(&c->idx_lock);
    inject_refindex *old = c->idx;
    c->idx = idx;
    pthread_rwlock_unlock(&c->idx_lock);
    inject_refindex_free(old);
  }
  free_deliveries(d, n);
}

static int reload_source(ctl *c, os_error *err) {
  double t0 = now_s();
  free_plans(c);
  int rc = 0;
  if (c->o->source_dir != NULL) {
    bool incomplete = false;
    reconcile_source_view view; /* the plan keeps pointers to the records, not to this array */
    rc = reconcile_source_cache_load(c->src, &view, &incomplete, report_problem, c, err);
    os_log_debug("reload: folder read in %.1f ms", (now_s() - t0) * 1e3);
    if (rc == 0)
      rc = build_plan(c, view.org, view.secrets, view.n_secrets, incomplete, err);
    if (rc == 0 && c->n_plans == 0)
      rc = os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                        c->o->environment, view.org->id);
    reconcile_source_view_clear(&view);
  } else {
    rc = load_cluster(c, err);
  }
  if (rc < 0) {
    free_plans(c);
    return rc;
  }
  /* after every plan of the pass: values none of them uses go */
  reconcile_plan_cache_sweep(c->pcache);
  os_log_debug("reload: planned in %.1f ms", (now_s() - t0) * 1e3);
#ifdef __GLIBC__
  malloc_trim(0); /* give the file buffers of a large load back */
#endif
  size_t active = 0, disabled = 0, failed = 0;
  size_t n_seen = 0, found = 0;
  for (size_t i = 0; i < c->n_plans; i++) {
    active += c->plans[i]->n_active;
    disabled += c->plans[i]->n_disabled;
    failed += c->plans[i]->n_failures;
    audit_unseals(c, c->plans[i], &n_seen, &found);
  }
  remember_outcomes(c, n_seen, found);
  metrics_gauge_set1(c->m_secrets, "active", (double)active);
  metrics_gauge_set1(c->m_secrets, "disabled", (double)disabled);
  metrics_gauge_set1(c->m_secrets, "failed", (double)failed);
  rebuild_index(c, false);
  return 0;
}

/* One pass; returns 0 when everything converged. */
static int pass(ctl *c, bool reload, os_error *err) {
  double t0 = now_s();
  int rc = 0;
  if (reload || c->n_plans == 0) {
    size_t u0 = c->source_unseals;
    rc = reload_source(c, err);
    if (rc < 0)
      goto done;
    os_log_debug("pass: source loaded and planned in %.1f ms (%zu values unsealed)",
                 (now_s() - t0) * 1e3, c->source_unseals - u0 + reconcile_plan_cache_last_unseals(c->pcache));
  }
  if (!writer(c))
    goto done;
  pass_state ps = {c, json_object(), 0};
  int first = 0;
  for (size_t i = 0; i < c->n_plans; i++) {
    const reconcile_plan *p = c->plans[i];
    if (p->n_failures > 0 && first == 0) {
      first = p->failures[0].code;
      os_error_set(err, first, "%zu secret(s) not delivered, first %s: %s", p->n_failures,
                   p->failures[0].resource, p->failures[0].reason);
    }
    if (p->incomplete && first == 0) {
      first = OS_EINVAL;
      os_error_set(err, first, "organization %s: the specs are incomplete (see the problems "
                   "reported): nothing is deleted until they are fixed", p->targets[0].organization);
    }
    if (c->o->env_file_dir != NULL) {
      reconcile_envfiles_result er;
      os_error e = OS_ERROR_INIT;
      if (reconcile_envfiles_sync(&er, p, c->o->env_file_dir, on_envfile_event, &ps, &e) < 0 && first == 0) {
        first = e.code;
        os_error_set(err, first, "%s", e.msg);
      }
    }
    if (c->k != NULL) {
      reconcile_kubesync_result kr;
      os_error e = OS_ERROR_INIT;
      inject_options injected = {rollout_resolve, rollout_list, c};
      if (reconcile_kubesync_run(&kr, c->k, c->scache, p, c->o->rollout, &injected, on_sync_event, &ps,
                       &e) < 0 &&
          first == 0) {
        first = e.code;
        os_error_set(err, first, "%s", e.msg);
      }
    }
  }
  os_log_debug("pass: targets synced in %.1f ms total, %zu writes", (now_s() - t0) * 1e3, ps.writes);
  if (c->o->source_cluster && c->k != NULL)
    update_statuses(c, &ps);
  json_decref(ps.target_problems);
  rc = first;
done:;
  double dt = now_s() - t0;
  const char *result = rc == 0 ? "success" : "error";
  metrics_counter_inc1(c->m_reconcile, result);
  metrics_histogram_observe1(c->m_duration, result, dt);
  return rc;
}

/* ---- set-up and the main loop ---- */

/* Refuses an API server older than the supported floor, naming both. */
static int check_server_version(ctl *c, os_error *err) {
  int major = 0, minor = 0;
  char *gv = NULL;
  os_error e = OS_ERROR_INIT;
  int rc = kube_server_version(c->k, &major, &minor, &gv, &e);
  if (rc < 0)
    return os_error_set(err, rc, "reading the Kubernetes version: %s", e.msg);
  if (major < KUBE_MIN_MAJOR || (major == KUBE_MIN_MAJOR && minor < KUBE_MIN_MINOR))
    rc = os_error_set(err, OS_EINVAL,
                      "kubernetes API server %s (%d.%d) is older than %d.%d, the oldest version "
                      "orgsecrets supports (docs/install.md)",
                      gv[0] ? gv : "-", major, minor, KUBE_MIN_MAJOR, KUBE_MIN_MINOR);
  else
    os_log_info("kubernetes %s (%d.%d)", gv[0] ? gv : "-", major, minor);
  free(gv);
  return rc;
}

static int load_identities(ctl *c, os_error *err) {
  for (size_t i = 0; i < c->o->n_identity_files; i++) {
    age_identity **ids = NULL;
    size_t n = 0;
    int rc = age_identities_load_file(&ids, &n, c->o->identity_files[i], err);
    if (rc < 0)
      return rc;
    age_identity **v = realloc(c->ids, (c->n_ids + n) * sizeof(*v));
    if (v == NULL) {
      age_identities_free(ids, n);
      return os_error_set(err, OS_ENOMEM, "out of memory");
    }
    c->ids = v;
    memcpy(c->ids + c->n_ids, ids, n * sizeof(*ids));
    c->n_ids += n;
    free(ids);
  }
  if (c->n_ids == 0)
    return os_error_set(err, OS_EINVAL, "no identity given (--identity FILE)");
  json_t *arr = json_array();
  for (size_t i = 0; i < c->n_ids; i++) {
    char *r = NULL;
    if (age_recipient_encode(&r, age_identity_recipient(c->ids[i]), err) < 0) {
      json_decref(arr);
      return err->code;
    }
    os_log_info("identity %zu: recipient %s", i + 1, r);
    json_array_append_new(arr, json_string(r));
    free(r);
  }
  json_t *doc = json_pack("{s:s,s:o}", "environment", c->o->environment, "recipients", arr);
  c->recipients_json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (c->recipients_json == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return reconcile_plan_checksum_key(c->ck, c->ids[0], err);
}

int reconcile_controller_run(const reconcile_controller_options *o, volatile int *stop, os_error *err) {
  ctl c;
  memset(&c, 0, sizeof(c));
  c.o = o;
  c.stop = stop;
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cond, NULL);
  pthread_rwlock_init(&c.idx_lock, NULL);
  c.cr_orgs = json_object();
  c.cr_secrets = json_object();
  pthread_t threads[8];
  size_t n_threads = 0;
  watch_spec watches[3];
  memset(watches, 0, sizeof(watches));
  int rc = setup_metrics(&c, err);
  if (rc == 0)
    rc = load_identities(&c, err);
  if (rc == 0)
    rc = reconcile_plan_cache_new(&c.pcache, err);
  if (rc == 0 && o->source_dir != NULL) {
    rc = reconcile_source_cache_new(&c.src, o->source_dir, err);
    if (rc == 0)
      reconcile_source_cache_set_hook(c.src, on_secret_read, &c);
  }
  if (rc == 0)
    rc = reconcile_kubesync_cache_new(&c.scache, err);
  if (rc == 0 && o->audit_log != NULL)
    rc = audit_log_open(&c.audit, o->audit_log, err);
  if (rc == 0 && !o->no_kubernetes) {
    kube_options ko = {.kubeconfig = o->kubeconfig, .qps = o->qps, .burst = o->burst,
                       .user_agent = "orgsecrets-controller/" ORGSECRETS_VERSION,
                       .observe = observe_kube, .observe_ctx = &c};
    rc = kube_client_new(&c.k, &ko, err);
    if (rc == 0)
      os_log_info("kubernetes API server %s", kube_client_server(c.k));
    if (rc == 0)
      rc = check_server_version(&c, err);
    if (rc == 0)
      rc = reconcile_event_recorder_new(&c.events, c.k, "orgsecrets-controller", err);
  }
  if (rc == 0 && o->source_cluster && c.k == NULL)
    rc = os_error_set(err, OS_EINVAL, "--source cluster needs Kubernetes (drop --no-kubernetes)");
  if (rc == 0)
    rc = setup_http(&c, err);
  if (rc < 0)
    goto done;
  metrics_gauge_set(c.m_leader, NULL, o->leader_elect ? 0 : 1);

  if (o->once) {
    if (c.k != NULL) {
      char *rv = NULL;
      rc = reconcile_kubesync_cache_refresh(c.scache, c.k, NULL, o->environment, &rv, err);
      free(rv);
      if (rc == 0 && o->source_cluster) {
        watches[1] = (watch_spec){&c, "/apis/orgsecrets.io/v1/organizations", NULL, 1, 0};
        watches[2] = (watch_spec){&c, "/apis/orgsecrets.io/v1/orgsecrets", NULL, 2, 0};
        rc = list_into(&c, &watches[1], &rv, err);
        free(rv);
        rv = NULL;
        if (rc == 0)
          rc = list_into(&c, &watches[2], &rv, err);
        free(rv);
      }
    }
    if (rc == 0)
      rc = pass(&c, true, err);
    goto done;
  }

  /* long-running: start watchers, elect, loop */
  if (c.k != NULL) {
    watches[0] = (watch_spec){&c, "/api/v1/secrets", reconcile_kubesync_selector(NULL, o->environment), 0, 0};
    if (pthread_create(&threads[n_threads], NULL, watch_thread, &watches[0]) == 0)
      n_threads++;
    if (o->source_cluster) {
      watches[1] = (watch_spec){&c, "/apis/orgsecrets.io/v1/organizations", NULL, 1, 0};
      watches[2] = (watch_spec){&c, "/apis/orgsecrets.io/v1/orgsecrets", NULL, 2, 0};
      for (int i = 1; i <= 2; i++)
        if (pthread_create(&threads[n_threads], NULL, watch_thread, &watches[i]) == 0)
          n_threads++;
    }
    if (o->leader_elect) {
      char ident[300], host[256] = "unknown", lname[300];
      gethostname(host, sizeof(host) - 1);
      snprintf(ident, sizeof(ident), "%s_%ld", host, (long)getpid());
      snprintf(lname, sizeof(lname), "orgsecrets-controller-%s", o->environment);
      kube_lease_options lo = {o->lease_namespace ? o->lease_namespace : "orgsecrets-system",
                          o->lease_name ? o->lease_name : lname, ident, o->lease_duration_s, 0, 0,
                          NULL, NULL};
      if (lo.duration_s > 0) {
        lo.renew_deadline_s = lo.duration_s * 2 / 3 > 0 ? lo.duration_s * 2 / 3 : 1;
        lo.retry_period_s = lo.duration_s / 5 > 0 ? lo.duration_s / 5 : 1;
      }
      rc = kube_lease_elector_new(&c.lease, c.k, &lo, on_leader_change, &c, err);
      if (rc < 0)
        goto stop_threads;
      if (pthread_create(&threads[n_threads], NULL, lease_thread, &c) == 0)
        n_threads++;
    }
  }
  if (o->source_dir != NULL && pthread_create(&threads[n_threads], NULL, dir_watch_thread, &c) == 0)
    n_threads++;

  c.source_dirty = true;
  c.target_dirty = true;
  double next_resync = now_s() + (o->resync_s > 0 ? o->resync_s : 300);
  double next_retry = 0;
  int backoff = 1;
  int last_rc = 0;
  /* give the first lists a moment so the first pass sees the cluster */
  if (c.k != NULL)
    usleep(200000);
  while (!*stop) {
    pthread_mutex_lock(&c.mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    if (!c.source_dirty && !c.target_dirty)
      pthread_cond_timedwait(&c.cond, &c.mu, &until);
    double t = now_s();
    bool due = t >= next_resync || (next_retry > 0 && t >= next_retry);
    bool reload = c.source_dirty || due;
    bool run = reload || c.target_dirty;
    c.source_dirty = false;
    c.target_dirty = false;
    pthread_mutex_unlock(&c.mu);
    if (!run || *stop)
      continue;
    if (due && t >= next_resync) {
      next_resync = t + (o->resync_s > 0 ? o->resync_s : 300);
      /* a full resync reads the cluster again: each watch ends, lists, and
       * watches on from the new list (what it caches may have drifted) */
      for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++)
        watches[i].relist = 1;
    }
    os_error perr = OS_ERROR_INIT;
    last_rc = pass(&c, reload, &perr);
    if (last_rc < 0) {
      os_log_warn("reconcile: %s", perr.msg);
      /* per-secret failures are reported; retry the pass with backoff and jitter */
      double jitter = (double)(rand() % 1000) / 1000.0;
      next_retry = now_s() + backoff * (0.5 + jitter);
      backoff = backoff < 60 ? backoff * 2 : 60;
    } else {
      next_retry = 0;
      backoff = 1;
    }
#ifdef __GLIBC__
    {
      struct mallinfo2 mi = mallinfo2();
      os_log_debug("heap: %.1f MiB in use, %.1f MiB held", (double)mi.uordblks / 1048576.0,
                   (double)mi.arena / 1048576.0);
    }
#endif
    if (!atomic_load(&c.ready) && (c.n_plans > 0 || last_rc == 0)) {
#ifdef __GLIBC__
      malloc_trim(0); /* the first pass unsealed and wrote everything */
#endif
      atomic_store(&c.ready, true);
      os_log_info("first sync done: ready");
    }
  }
  rc = 0;
  os_log_info("shutting down");
stop_threads:
  *stop = 1;
  for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++)
    watches[i].relist = 1; /* the watches poll it */
  for (size_t i = 0; i < n_threads; i++)
    pthread_join(threads[i], NULL);
done:
  if (c.http)
    httpd_server_stop(c.http);
  if (c.webhook)
    httpd_server_stop(c.webhook);
  httpd_server_free(c.http);
  httpd_server_free(c.webhook);
  free(watches[0].selector);
  kube_lease_elector_free(c.lease);
  free_plans(&c);
  reconcile_kubesync_cache_free(c.scache);
  reconcile_event_recorder_free(c.events);
  reconcile_plan_cache_free(c.pcache);
  reconcile_source_cache_free(c.src);
  kube_client_free(c.k);
  audit_log_close(c.audit);
  age_identities_free(c.ids, c.n_ids);
  OPENSSL_cleanse(c.ck, sizeof(c.ck));
  metrics_registry_free(c.m);
  json_decref(c.cr_orgs);
  json_decref(c.cr_secrets);
  inject_refindex_free(c.idx);
  free(c.audit_seen);
  free(c.recipients_json);
  pthread_rwlock_destroy(&c.idx_lock);
  pthread_cond_destroy(&c.cond);
  pthread_mutex_destroy(&c.mu);
  return rc;
}
