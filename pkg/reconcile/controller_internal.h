/* The controller's parts, one concern per file, and the state they share.
 * Internal to pkg/reconcile (reconcile/controller.h is the public entry).
 *
 *   controller.c  set-up, the threads, tear-down: reconcile_controller_run()
 *   informers.c   list + watch of the owned Secrets and of the custom
 *                 resources, each with a "synced" state; the folder watch
 *   loop.c        the main loop: wake-ups, passes, resync, retry, readiness
 *   load.c        sources into plans: the folder or the custom resources,
 *                 one plan per organization
 *   status.c      what a pass did: Events, Ready conditions, audit of writes
 *   endpoints.c   /healthz /readyz /metrics /v1/recipients, the pod webhook
 *                 and its name index
 *   metrics.c     the Prometheus families
 *   audit.c       the audit log, and which unseal outcomes it already holds
 *
 * Threading: the main loop (loop.c, load.c, status.c and the index rebuild
 * in endpoints.c) runs on the thread that called reconcile_controller_run();
 * informers, the folder watch and the lease elector have a thread each; the
 * HTTP servers run handlers on their own workers. What more than one thread
 * touches says how it is guarded. */
#ifndef ORGSECRETS_RECONCILE_CONTROLLER_INTERNAL_H
#define ORGSECRETS_RECONCILE_CONTROLLER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "audit/audit.h"
#include "common/err.h"
#include "httpd/httpd.h"
#include "inject/admission.h"
#include "inject/refindex.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "metrics/metrics.h"
#include "reconcile/controller.h"
#include "reconcile/events.h"
#include "reconcile/kubesync.h"
#include "reconcile/plan.h"
#include "reconcile/source.h"

typedef struct reconcile_ctl reconcile_ctl;

/* ---- loop.c: what wakes the main loop ---- */

/* Set by informers, the folder watch and leadership changes; consumed by
 * the main loop. Guarded by mu. */
typedef struct reconcile_wake {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool source_dirty; /* the specs may have changed: load and plan again */
  bool target_dirty; /* the targets may have drifted: sync again */
} reconcile_wake;

void reconcile_wake_init(reconcile_wake *w);
void reconcile_wake_destroy(reconcile_wake *w);
/* Marks the targets (and, with source, the specs) dirty and wakes the loop. */
void reconcile_wake_mark(reconcile_wake *w, bool source);
/* Waits up to timeout_ms or until the next mark, without consuming it. */
void reconcile_wake_sleep(reconcile_wake *w, int timeout_ms);

/* May this replica write (no leader election, or it holds the lease)? */
bool reconcile_ctl_writer(const reconcile_ctl *c);

/* One pass: loads and plans when reload (or when there are no plans yet),
 * then, as the writer, brings every target to the plans and reports it.
 * Returns 0 when everything converged. */
int reconcile_loop_pass(reconcile_ctl *c, bool reload, os_error *err);

/* The long-running loop: waits until the informers synced, then runs a
 * pass whenever something is dirty, a resync or a retry is due, until
 * *c->stop. */
void reconcile_loop_run(reconcile_ctl *c);

/* ---- metrics.c ---- */

typedef struct reconcile_metrics {
  metrics_registry *registry;
  metrics_family *passes, *pass_duration, *kube_requests, *secrets, *unseal_errors, *leader,
      *build_info, *writes, *webhook_requests, *webhook_duration, *unauthorized;
} reconcile_metrics;

int reconcile_metrics_init(reconcile_metrics *m, os_error *err);
void reconcile_metrics_clear(reconcile_metrics *m);
/* kube_observe_fn; ctx is the reconcile_metrics. */
void reconcile_metrics_observe_kube(void *ctx, const char *verb, long code, double seconds);

/* ---- audit.c ---- */

typedef struct reconcile_seen_key reconcile_seen_key;

/* The audit log (may be NULL: no --audit-log) and what the main loop last
 * audited (or, without a log, logged) of each secret. log is safe from
 * every thread; seen belongs to the main loop. */
typedef struct reconcile_audit {
  audit_log *log;
  reconcile_seen_key *seen; /* sorted */
  size_t n_seen;
} reconcile_audit;

/* path NULL: no log. */
int reconcile_audit_open(reconcile_audit *a, const char *path, os_error *err);
void reconcile_audit_close(reconcile_audit *a);
/* Appends one record (names, never values) and takes fields (may be NULL:
 * nothing is written); a failure is logged. Any thread. */
void reconcile_audit_put(reconcile_audit *a, const char *event, json_t *fields);
/* Audits each secret whose unseal outcome or ciphertext changed since the
 * last call, logs each new failure once, counts failures in unseal_errors,
 * and remembers this call's outcomes. Main loop. */
void reconcile_audit_outcomes(reconcile_audit *a, reconcile_plan *const *plans, size_t n_plans,
                              metrics_family *unseal_errors);

/* ---- informers.c ---- */

typedef enum reconcile_informer_kind {
  RECONCILE_INFORMER_SECRETS,       /* the owned Secrets, into the kubesync cache */
  RECONCILE_INFORMER_ORGANIZATIONS, /* Organization resources (--source cluster) */
  RECONCILE_INFORMER_ORGSECRETS     /* OrgSecret resources (--source cluster) */
} reconcile_informer_kind;

typedef struct reconcile_informers reconcile_informers;

/* One list + watch. synced turns true after its first complete list and
 * stays true; relist ends the watch so that it lists again. */
typedef struct reconcile_informer {
  reconcile_informers *set;
  reconcile_informer_kind kind;
  const char *path;
  char *selector;
  volatile int relist; /* kube_watch() polls it as its stop flag */
  atomic_bool synced;
  pthread_t thread;
  bool started;
} reconcile_informer;

struct reconcile_informers {
  kube_client *k; /* borrowed; NULL: no informers */
  const char *environment;
  reconcile_kubesync_cache *secrets; /* the owned Secrets (its own lock) */
  pthread_mutex_t mu;                /* guards orgs and orgsecrets */
  json_t *orgs, *orgsecrets;         /* name -> object, --source cluster */
  reconcile_informer v[3];
  size_t n;
  reconcile_wake *wake;
  const volatile int *stop;
  const char *folder; /* the folder source to watch, or NULL */
  pthread_t folder_thread;
  bool folder_started;
};

/* k NULL: no Kubernetes (no informer, synced at once); cluster: also the
 * custom resources; folder (may be NULL) is watched for changes. */
int reconcile_informers_init(reconcile_informers *s, kube_client *k, const char *environment,
                             bool cluster, const char *folder, reconcile_wake *wake,
                             const volatile int *stop, os_error *err);
/* Lists each once, without watching (--once). */
int reconcile_informers_list(reconcile_informers *s, os_error *err);
/* Starts a thread per informer and the folder watch; OS_EIO naming the one
 * that could not start (those started run until reconcile_informers_stop). */
int reconcile_informers_start(reconcile_informers *s, os_error *err);
/* Waits until every informer synced: true, or false when *stop was set. */
bool reconcile_informers_wait_synced(reconcile_informers *s);
/* Makes each watch end and list again (a full resync). */
void reconcile_informers_relist(reconcile_informers *s);
/* Joins the threads; *stop must be set. */
void reconcile_informers_stop(reconcile_informers *s);
void reconcile_informers_clear(reconcile_informers *s);
/* Deep copies of the custom resources (caller decrefs); NULL on OOM. */
json_t *reconcile_informers_copy(reconcile_informers *s, reconcile_informer_kind kind);
/* The OrgSecret named name (caller decrefs), or NULL. */
json_t *reconcile_informers_orgsecret(reconcile_informers *s, const char *name);
/* Records obj, the OrgSecret named name as a write returned it. */
void reconcile_informers_set_orgsecret(reconcile_informers *s, const char *name, json_t *obj);

/* ---- load.c ---- */

/* The plans of the last load, and what they borrow. Main loop only. */
typedef struct reconcile_load {
  reconcile_plan_cache *values;   /* opened values, swept after each load */
  reconcile_source_cache *folder; /* --source DIR: the files as last read */
  size_t folder_unseals;          /* values the folder's hook opened */
  reconcile_plan **plans;         /* one per organization deploying this environment */
  size_t n_plans, cap_plans;
  /* --source cluster: the parsed specs the plans borrow */
  spec_org **orgs;
  size_t n_orgs;
  spec_secret **secrets;
  size_t n_secrets;
  reconcile_plan_secret *refs;
  const reconcile_plan_secret **refv;
} reconcile_load;

int reconcile_load_init(reconcile_ctl *c, os_error *err);
void reconcile_load_clear(reconcile_load *l);
/* Reads the source again and plans it; on failure there are no plans. */
int reconcile_load_plans(reconcile_ctl *c, os_error *err);

/* ---- status.c ---- */

/* What one pass did to the targets, for the Ready conditions after it. */
typedef struct reconcile_pass_report {
  reconcile_ctl *c;
  json_t *target_problems; /* "%p" of a target -> the reason it failed */
  size_t writes;
} reconcile_pass_report;

/* reconcile_kubesync_event_fn and reconcile_envfiles_event_fn; ctx is the
 * reconcile_pass_report. */
void reconcile_status_on_sync(void *ctx, const reconcile_kubesync_event *ev);
void reconcile_status_on_envfile(void *ctx, const reconcile_plan_target *t, const char *path,
                                 const os_error *failure);
/* Writes the Ready conditions of the OrgSecret resources where they
 * change (--source cluster). */
void reconcile_status_update(reconcile_ctl *c, const reconcile_pass_report *r);

/* ---- endpoints.c ---- */

typedef struct reconcile_endpoints {
  httpd_server *http, *webhook;
  pthread_rwlock_t index_lock; /* guards index: swapped by the main loop, read by handlers */
  inject_refindex *index;      /* NULL until needed and built */
  char *recipients_json;       /* /v1/recipients */
} reconcile_endpoints;

void reconcile_endpoints_init(reconcile_endpoints *e);
/* Serves --listen and --webhook-listen (each when set). */
int reconcile_endpoints_start(reconcile_ctl *c, os_error *err);
/* Stops and frees the servers, then the index. */
void reconcile_endpoints_clear(reconcile_endpoints *e);
/* Rebuilds the webhook's index from the plans when the webhook serves or
 * the rollout used it (need: build it now). Main loop. */
void reconcile_endpoints_index(reconcile_ctl *c, bool need);
/* The webhook's resolver over the index, built on first use, for the
 * rollout of injected workloads. Main loop. */
inject_options reconcile_endpoints_rollout_resolver(reconcile_ctl *c);

/* ---- controller.c: the whole ---- */

struct reconcile_ctl {
  const reconcile_controller_options *o;
  volatile int *stop;
  age_identity **ids;
  size_t n_ids;
  uint8_t checksum_key[32];
  kube_client *k;                   /* NULL: --no-kubernetes */
  kube_lease_elector *lease;        /* NULL without --leader-elect */
  reconcile_event_recorder *events; /* NULL without Kubernetes */
  atomic_bool ready;                /* the first pass is done (/readyz) */
  reconcile_wake wake;
  reconcile_metrics metrics;
  reconcile_audit audit;
  reconcile_informers informers;
  reconcile_load load;
  reconcile_endpoints endpoints;
};

#endif
