#include "kube/lease.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

struct kube_lease_elector {
  kube_client *k;
  char *ns, *name, *identity, *path, *coll;
  int duration_s, renew_deadline_s, retry_period_s;
  kube_lease_clock_fn clock;
  void *clock_ctx;
  kube_lease_change_fn on_change;
  void *ctx;
  atomic_bool leader;
  /* what we last saw of the record, and when (monotonic seconds) */
  char *seen_holder, *seen_renew;
  double seen_at;
  double expires_at; /* when the record another replica holds expires for us, else 0 */
  double last_renew; /* when we last renewed successfully */
};

static double monotonic(void *ctx) {
  (void)ctx;
  return os_mono_seconds();
}

static double now_mono(const kube_lease_elector *l) { return l->clock(l->clock_ctx); }

/* A Lease's MicroTime: the real clock (never ORGSECRETS_NOW: other replicas
 * and tools compare it with theirs), to the microsecond. */
static void micro_time(char out[OS_TIME_MAX]) {
  long nsec = 0;
  int64_t sec = os_wall_clock(&nsec);
  if (os_time_format(out, sec, nsec, 6) < 0)
    (void)os_time_format(out, 0, 0, 6);
}

int kube_lease_elector_new(kube_lease_elector **out, kube_client *k, const kube_lease_options *o,
                           kube_lease_change_fn on_change, void *ctx, os_error *err) {
  *out = NULL;
  kube_lease_elector *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  l->k = k;
  l->ns = os_strdup(o->namespace_);
  l->name = os_strdup(o->name);
  l->identity = os_strdup(o->identity);
  l->duration_s = o->duration_s > 0 ? o->duration_s : 15;
  l->renew_deadline_s = o->renew_deadline_s > 0 ? o->renew_deadline_s : 10;
  l->retry_period_s = o->retry_period_s > 0 ? o->retry_period_s : 2;
  l->clock = o->clock ? o->clock : monotonic;
  l->clock_ctx = o->clock_ctx;
  l->on_change = on_change;
  l->ctx = ctx;
  if (!l->ns || !l->name || !l->identity) {
    kube_lease_elector_free(l);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  const char *api = "/apis/coordination.k8s.io/v1";
  int rc = kube_object_path(&l->coll, api, o->namespace_, "leases", NULL, NULL, err);
  if (rc == 0)
    rc = kube_object_path(&l->path, api, o->namespace_, "leases", o->name, NULL, err);
  if (rc < 0) {
    kube_lease_elector_free(l);
    return os_error_prefix(err, "lease %s/%s", o->namespace_, o->name);
  }
  *out = l;
  return 0;
}

void kube_lease_elector_free(kube_lease_elector *l) {
  if (l == NULL)
    return;
  free(l->ns);
  free(l->name);
  free(l->identity);
  free(l->coll);
  free(l->path);
  free(l->seen_holder);
  free(l->seen_renew);
  free(l);
}

bool kube_lease_is_leader(const kube_lease_elector *l) { return atomic_load(&l->leader); }

static void set_leader(kube_lease_elector *l, bool v) {
  bool old = atomic_exchange(&l->leader, v);
  if (old != v) {
    os_log_info("leader election: %s lease %s/%s as %s", v ? "acquired" : "lost", l->ns, l->name,
                l->identity);
    if (l->on_change)
      l->on_change(l->ctx, v);
  }
}

static bool same(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* One attempt; returns true when we hold the lease afterwards. */
static bool try_acquire_or_renew(kube_lease_elector *l) {
  char now[OS_TIME_MAX];
  micro_time(now);
  json_t *cur = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = kube_get(l->k, l->path, &cur, &err);
  if (rc == OS_ENOTFOUND) {
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s,s:s,s:i}}", "apiVersion",
                  "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", l->name,
                  "namespace", l->ns, "spec", "holderIdentity", l->identity, "leaseDurationSeconds",
                  l->duration_s, "acquireTime", now, "renewTime", now, "leaseTransitions", 0);
    rc = obj ? kube_create(l->k, l->coll, obj, NULL, &err) : OS_ENOMEM;
    json_decref(obj);
    if (rc == 0) {
      l->last_renew = now_mono(l);
      return true;
    }
    return false;
  }
  if (rc < 0) {
    os_log_warn("leader election: get lease: %s", err.msg);
    return false;
  }
  json_t *spec = json_object_get(cur, "spec");
  if (!json_is_object(cur) || (spec != NULL && !json_is_object(spec))) {
    /* an empty body, an array...: nothing to renew from (and writing into
     * it would fail half-way) */
    os_log_warn("leader election: lease %s/%s: the API server's answer is not a Lease object",
                l->ns, l->name);
    json_decref(cur);
    return false;
  }
  const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
  const char *renew = json_string_value(json_object_get(spec, "renewTime"));
  json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
  if (dur <= 0)
    dur = l->duration_s;
  double t = now_mono(l);
  if (!same(holder, l->seen_holder) || !same(renew, l->seen_renew)) {
    free(l->seen_holder);
    free(l->seen_renew);
    l->seen_holder = os_strdup(holder);
    l->seen_renew = os_strdup(renew);
    l->seen_at = t;
  }
  bool mine = holder != NULL && strcmp(holder, l->identity) == 0;
  bool free_now = holder == NULL || holder[0] == '\0';
  l->expires_at = 0;
  if (!mine && !free_now && l->seen_at + (double)dur > t) {
    l->expires_at = l->seen_at + (double)dur;
    json_decref(cur);
    return false;
  }
  json_t *upd = json_deep_copy(cur);
  json_t *uspec = json_object_get(upd, "spec");
  if (upd != NULL && uspec == NULL && json_object_set_new(upd, "spec", json_object()) == 0)
    uspec = json_object_get(upd, "spec");
  if (uspec == NULL) {
    json_decref(upd);
    json_decref(cur);
    return false; /* out of memory */
  }
  json_object_set_new(uspec, "holderIdentity", json_string(l->identity));
  json_object_set_new(uspec, "leaseDurationSeconds", json_integer(l->duration_s));
  json_object_set_new(uspec, "renewTime", json_string(now));
  if (!mine) {
    json_object_set_new(uspec, "acquireTime", json_string(now));
    json_int_t tr = json_integer_value(json_object_get(uspec, "leaseTransitions"));
    json_object_set_new(uspec, "leaseTransitions", json_integer(free_now && tr == 0 ? 0 : tr + 1));
  }
  rc = kube_update(l->k, l->path, upd, NULL, &err);
  json_decref(upd);
  json_decref(cur);
  if (rc == 0) {
    l->last_renew = now_mono(l);
    return true;
  }
  if (rc != OS_ECONFLICT)
    os_log_warn("leader election: update lease: %s", err.msg);
  return false;
}

void kube_lease_elector_release(kube_lease_elector *l) {
  if (!atomic_load(&l->leader))
    return;
  set_leader(l, false); /* stop writing before anyone else may start */
  json_t *cur = NULL;
  os_error err = OS_ERROR_INIT;
  if (kube_get(l->k, l->path, &cur, &err) < 0) {
    os_log_warn("leader election: release lease: %s", err.msg);
    return;
  }
  json_t *spec = json_object_get(cur, "spec");
  const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
  if (holder != NULL && strcmp(holder, l->identity) == 0) {
    char now[OS_TIME_MAX];
    micro_time(now);
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    json_object_set_new(spec, "renewTime", json_string(now));
    if (kube_update(l->k, l->path, cur, NULL, &err) == 0)
      os_log_info("leader election: released lease %s/%s", l->ns, l->name);
    else
      os_log_warn("leader election: release lease: %s", err.msg);
  }
  json_decref(cur);
}

double kube_lease_elector_step(kube_lease_elector *l) {
  if (try_acquire_or_renew(l))
    set_leader(l, true);
  else if (atomic_load(&l->leader) && now_mono(l) - l->last_renew > (double)l->renew_deadline_s)
    set_leader(l, false);
  /* renew more often than the deadline; a follower also wakes when the
   * lease it watches expires, so it takes over at most a lease duration
   * after it saw the last renewal (which it sees within a retry period):
   * within duration + retry period of the leader's end */
  double wait = (double)l->retry_period_s;
  if (l->expires_at > 0) {
    double left = l->expires_at + 0.01 - now_mono(l);
    if (left < wait)
      wait = left > 0 ? left : 0;
  }
  return wait;
}

void kube_lease_elector_run(kube_lease_elector *l, const volatile int *stop) {
  while (!*stop) {
    double until = now_mono(l) + kube_lease_elector_step(l);
    for (double left; !*stop && (left = until - now_mono(l)) > 0;)
      usleep((useconds_t)(left < 0.1 ? left * 1e6 : 1e5));
  }
  kube_lease_elector_release(l);
}
