/* The main loop: a pass whenever the specs or the targets may have changed,
 * a full resync every --resync, a retry with backoff after a failed pass,
 * and readiness after the first one. */
#include <malloc.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"
#include "reconcile/envfiles.h"

#define WAKE_POLL_MS 200 /* the stop flag is seen at least this often */
#define RETRY_BASE_S 1.0 /* a failed pass is retried after [0.5, 1) s, then longer */
#define RETRY_CAP_S 60.0

void reconcile_wake_init(reconcile_wake *w) {
  memset(w, 0, sizeof(*w));
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cond, &attr);
  pthread_condattr_destroy(&attr);
}

void reconcile_wake_destroy(reconcile_wake *w) {
  pthread_cond_destroy(&w->cond);
  pthread_mutex_destroy(&w->mu);
}

void reconcile_wake_mark(reconcile_wake *w, bool source) {
  pthread_mutex_lock(&w->mu);
  if (source)
    w->source_dirty = true;
  w->target_dirty = true;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->mu);
}

/* Waits on w->cond (locked by the caller) for at most timeout_ms. */
static void timed_wait(reconcile_wake *w, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&w->cond, &w->mu, &until);
}

void reconcile_wake_sleep(reconcile_wake *w, int timeout_ms) {
  pthread_mutex_lock(&w->mu);
  timed_wait(w, timeout_ms);
  pthread_mutex_unlock(&w->mu);
}

/* Takes what is dirty, waiting up to timeout_ms when nothing is. */
static void wake_take(reconcile_wake *w, int timeout_ms, bool *source, bool *target) {
  pthread_mutex_lock(&w->mu);
  if (!w->source_dirty && !w->target_dirty)
    timed_wait(w, timeout_ms);
  *source = w->source_dirty;
  *target = w->target_dirty;
  w->source_dirty = w->target_dirty = false;
  pthread_mutex_unlock(&w->mu);
}

bool reconcile_ctl_writer(const reconcile_ctl *c) {
  return !c->o->leader_elect || (c->lease != NULL && kube_lease_is_leader(c->lease));
}

/* After a load: the state gauges, the audit of new outcomes, the index. */
static void after_load(reconcile_ctl *c) {
  size_t active = 0, disabled = 0, failed = 0, unauthorized = 0;
  for (size_t i = 0; i < c->load.n_plans; i++) {
    unauthorized += c->load.plans[i]->n_unauthorized;
    active += c->load.plans[i]->n_active;
    disabled += c->load.plans[i]->n_disabled;
    failed += c->load.plans[i]->n_failures;
  }
  reconcile_audit_outcomes(&c->audit, c->load.plans, c->load.n_plans, c->metrics.unseal_errors);
  metrics_gauge_set1(c->metrics.secrets, "active", (double)active);
  metrics_gauge_set1(c->metrics.secrets, "disabled", (double)disabled);
  metrics_gauge_set1(c->metrics.secrets, "failed", (double)failed);
  metrics_gauge_set(c->metrics.unauthorized, NULL, (double)unauthorized);
  reconcile_endpoints_index(c, false);
}

/* Brings the targets of p to it; the first failure into *first and err. */
static void sync_plan(reconcile_ctl *c, const reconcile_plan *p, reconcile_pass_report *report,
                      int *first, os_error *err) {
  if (p->n_failures > 0 && *first == 0) {
    *first = p->failures[0].code;
    os_error_set(err, *first, "%zu secret(s) not delivered, first %s: %s", p->n_failures,
                 p->failures[0].resource, p->failures[0].reason);
  }
  if (p->incomplete && *first == 0) {
    *first = OS_EINVAL;
    os_error_set(err, *first,
                 "organization %s: the specs are incomplete (see the problems reported): nothing "
                 "is deleted until they are fixed",
                 p->targets[0].organization);
  }
  if (c->o->env_file_dir != NULL) {
    reconcile_envfiles_result er;
    os_error e = OS_ERROR_INIT;
    if (reconcile_envfiles_sync(&er, p, c->o->env_file_dir, reconcile_status_on_envfile, report,
                                &e) < 0 &&
        *first == 0) {
      *first = e.code;
      os_error_set(err, *first, "%s", e.msg);
    }
  }
  if (c->k != NULL) {
    reconcile_kubesync_result kr;
    os_error e = OS_ERROR_INIT;
    inject_options injected = reconcile_endpoints_rollout_resolver(c);
    if (reconcile_kubesync_run(&kr, c->k, c->informers.secrets, p, c->o->rollout, &injected,
                               reconcile_status_on_sync, report, &e) < 0 &&
        *first == 0) {
      *first = e.code;
      os_error_set(err, *first, "%s", e.msg);
    }
  }
}

int reconcile_loop_pass(reconcile_ctl *c, bool reload, os_error *err) {
  double t0 = os_mono_seconds();
  int rc = 0;
  if (reload || c->load.n_plans == 0) {
    size_t u0 = c->load.folder_unseals;
    rc = reconcile_load_plans(c, err);
    if (rc < 0)
      goto done;
    after_load(c);
    os_log_debug("pass: source loaded and planned in %.1f ms (%zu values unsealed)",
                 (os_mono_seconds() - t0) * 1e3,
                 c->load.folder_unseals - u0 + reconcile_plan_cache_last_unseals(c->load.values));
  }
  if (!reconcile_ctl_writer(c))
    goto done;
  reconcile_pass_report report = {c, json_object(), 0};
  if (report.target_problems == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < c->load.n_plans; i++)
    sync_plan(c, c->load.plans[i], &report, &rc, err);
  os_log_debug("pass: targets synced in %.1f ms total, %zu writes", (os_mono_seconds() - t0) * 1e3,
               report.writes);
  if (c->o->source_cluster && c->k != NULL)
    reconcile_status_update(c, &report);
  json_decref(report.target_problems);
done:;
  const char *result = rc == 0 ? "success" : "error";
  metrics_counter_inc1(c->metrics.passes, result);
  metrics_histogram_observe1(c->metrics.pass_duration, result, os_mono_seconds() - t0);
  return rc;
}

static void log_heap(void) {
#ifdef __GLIBC__
  struct mallinfo2 mi = mallinfo2();
  os_log_debug("heap: %.1f MiB in use, %.1f MiB held", (double)mi.uordblks / 1048576.0,
               (double)mi.arena / 1048576.0);
#endif
}

void reconcile_loop_run(reconcile_ctl *c) {
  /* the first pass sees the cluster as listed, not an empty cache */
  if (!reconcile_informers_wait_synced(&c->informers))
    return;
  double resync_s = c->o->resync_s > 0 ? c->o->resync_s : 300;
  double next_resync = os_mono_seconds() + resync_s, next_retry = 0;
  unsigned failures = 0;
  bool first = true;
  while (!*c->stop) {
    bool source = false, target = false;
    if (!first)
      wake_take(&c->wake, WAKE_POLL_MS, &source, &target);
    double t = os_mono_seconds();
    bool resync = t >= next_resync, retry = next_retry > 0 && t >= next_retry;
    bool reload = first || source || resync || retry;
    first = false;
    if ((!reload && !target) || *c->stop)
      continue;
    if (resync) {
      next_resync = t + resync_s;
      /* a full resync reads the cluster again: each watch ends, lists, and
       * watches on from the new list (what it caches may have drifted) */
      reconcile_informers_relist(&c->informers);
    }
    os_error err = OS_ERROR_INIT;
    int rc = reconcile_loop_pass(c, reload, &err);
    if (rc < 0) {
      /* per-secret failures are reported; retry the pass with backoff and jitter */
      os_log_warn("reconcile: %s", err.msg);
      next_retry = os_mono_seconds() + os_backoff_delay(failures, RETRY_BASE_S, RETRY_CAP_S);
      if (failures < 16)
        failures++;
    } else {
      next_retry = 0;
      failures = 0;
    }
    log_heap();
    if (!atomic_load(&c->ready) && (c->load.n_plans > 0 || rc == 0)) {
#ifdef __GLIBC__
      malloc_trim(0); /* the first pass unsealed and wrote everything */
#endif
      atomic_store(&c->ready, true);
      os_log_info("first sync done: ready");
    }
  }
}
