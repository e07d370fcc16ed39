/* The audit log, and its de-duplication of unseal outcomes: a secret is
 * audited (or, without a log, its failure logged) when its ciphertext or
 * its outcome changed since the last pass, not on every pass. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"

/* What was last audited of a secret: the first 16 bytes of its digest
 * (names and ciphertext) with a hash of the outcome folded in. */
struct reconcile_seen_key {
  uint8_t k[16];
};

typedef reconcile_seen_key seen_key;

int reconcile_audit_open(reconcile_audit *a, const char *path, os_error *err) {
  memset(a, 0, sizeof(*a));
  return path != NULL ? audit_log_open(&a->log, path, err) : 0;
}

void reconcile_audit_close(reconcile_audit *a) {
  audit_log_close(a->log);
  free(a->seen);
  memset(a, 0, sizeof(*a));
}

void reconcile_audit_put(reconcile_audit *a, const char *event, json_t *fields) {
  if (a->log != NULL && fields != NULL) {
    os_error err = OS_ERROR_INIT;
    if (audit_log_append(a->log, event, fields, &err) < 0)
      os_log_error("audit log: %s", err.msg);
  }
  json_decref(fields);
}

static int cmp_seen(const void *a, const void *b) {
  /* checksrc: public: digests of names and ciphertexts, ordered */
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
  reason = os_fnv1a64(reason, &r->unauthorized, sizeof(r->unauthorized));
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
static bool remembered(const reconcile_audit *a, const reconcile_plan_secret_result *r) {
  return a->log != NULL || r->unauthorized > 0 ||
         (strcmp(r->reason, "Synced") != 0 && strcmp(r->reason, "Disabled") != 0);
}

/* Audits and logs the new outcomes of one plan; counts the keys of this
 * pass (*n) and how many the last pass had too (*found). */
static void audit_plan(reconcile_audit *a, const reconcile_plan *p, metrics_family *unseal_errors,
                       size_t *n, size_t *found) {
  for (size_t i = 0; i < p->n_results; i++) {
    const reconcile_plan_secret_result *r = &p->results[i];
    const spec_secret_ref *s = &r->secret->ref;
    bool synced = strcmp(r->reason, "Synced") == 0, disabled = strcmp(r->reason, "Disabled") == 0;
    if (!synced && !disabled)
      metrics_counter_inc1(unseal_errors, r->reason);
    if (!remembered(a, r))
      continue;
    seen_key k;
    result_key(&k, r);
    (*n)++;
    if (a->n_seen > 0 && bsearch(&k, a->seen, a->n_seen, sizeof(k), cmp_seen) != NULL) {
      (*found)++;
      continue;
    }
    if (!disabled) {
      json_t *f = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s}", "organization", s->organization,
                            "environment", s->environment, "application", s->application, "name",
                            s->name, "result", synced ? "ok" : "failed", "reason", r->reason);
      reconcile_audit_put(a, "unseal", f);
    }
    if (!synced && !disabled) {
      char *rname = spec_secret_ref_resource_name(s);
      os_log_error("secret %s: %s: %s", rname ? rname : s->name, r->reason,
                   reconcile_plan_result_message(p, r));
      free(rname);
    }
    if (r->unauthorized > 0) {
      char *rname = spec_secret_ref_resource_name(s), msg[RECONCILE_PLAN_UNAUTHORIZED_MSG_MAX];
      reconcile_plan_unauthorized_message(msg, sizeof(msg), r);
      os_log_warn("secret %s: %s: %s", rname ? rname : s->name, RECONCILE_PLAN_UNAUTHORIZED, msg);
      free(rname);
    }
  }
}

void reconcile_audit_outcomes(reconcile_audit *a, reconcile_plan *const *plans, size_t n_plans,
                              metrics_family *unseal_errors) {
  size_t n = 0, found = 0;
  for (size_t i = 0; i < n_plans; i++)
    audit_plan(a, plans[i], unseal_errors, &n, &found);
  /* the same set as last time: a pass that changed nothing allocates nothing */
  if (n == found && n == a->n_seen)
    return;
  seen_key *v = n > 0 ? calloc(n, sizeof(*v)) : NULL;
  if (n > 0 && v == NULL)
    return; /* the old set stays: lines may repeat, none is lost */
  size_t k = 0;
  for (size_t pi = 0; pi < n_plans; pi++) {
    const reconcile_plan *p = plans[pi];
    for (size_t i = 0; i < p->n_results && k < n; i++)
      if (remembered(a, &p->results[i]))
        result_key(&v[k++], &p->results[i]);
  }
  sort_seen(v, k);
  free(a->seen);
  a->seen = v;
  a->n_seen = k;
}
