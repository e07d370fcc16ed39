/* Kubernetes Secret targets: brings the Secrets a plan describes to the
 * cluster through the API server, owning only what it labelled, with
 * optimistic concurrency, drift repair and no write when nothing changed.
 * Threading: a reconcile_kubesync_cache has its own lock, held only while
 * its table is read or changed, never across an API request: the cache
 * functions may be called from any thread at any time, also while a
 * reconcile_kubesync_run() on the same cache waits for the API server (a
 * watch keeps applying events meanwhile). reconcile_kubesync_run() calls on
 * one cache must not overlap (one pass at a time); the run works on copies
 * of the records it decides on, so a record the watch replaces meanwhile
 * only makes a write meet 409 and be retried. */
#ifndef ORGSECRETS_RECONCILE_KUBESYNC_H
#define ORGSECRETS_RECONCILE_KUBESYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "inject/admission.h"
#include "kube/kube.h"
#include "reconcile/plan.h"

/* A workload's label or annotation asking for a rollout when a Secret its
 * pods use changes. (The Secrets' own names, labels and checksum annotation
 * are pkg/spec's: spec_target_*, SPEC_LABEL_*.) */
#define RECONCILE_KUBESYNC_RELOAD "orgsecrets.io/reload"

typedef enum reconcile_kubesync_event_kind {
  RECONCILE_KUBESYNC_CREATED,
  RECONCILE_KUBESYNC_UPDATED,
  RECONCILE_KUBESYNC_RECREATED, /* an immutable Secret with other data was deleted and created again */
  RECONCILE_KUBESYNC_DELETED,
  RECONCILE_KUBESYNC_CONFLICT, /* a Secret we do not own is in the way */
  RECONCILE_KUBESYNC_NAMESPACE_MISSING,
  RECONCILE_KUBESYNC_ROLLOUT, /* a workload was annotated to restart */
  RECONCILE_KUBESYNC_FAILED
} reconcile_kubesync_event_kind;

typedef struct reconcile_kubesync_event {
  reconcile_kubesync_event_kind kind;
  const char *namespace_;
  const char *name;                    /* Secret (or workload for ROLLOUT) */
  const char *kind_name;               /* "Secret", "Deployment", ... */
  const char *uid;                     /* may be NULL */
  const reconcile_plan_target *target; /* NULL for deletions of unwanted Secrets */
  const char *message;                 /* names only */
} reconcile_kubesync_event;

typedef void (*reconcile_kubesync_event_fn)(void *ctx, const reconcile_kubesync_event *ev);

typedef struct reconcile_kubesync_result {
  size_t created, updated, recreated, deleted, unchanged, conflicts, missing_namespaces, failed,
      rollouts;
} reconcile_kubesync_result;

/* The controller's view of the Secrets it owns, kept current by a watch (or
 * filled by reconcile_kubesync_cache_refresh). Keys "namespace/name". Per Secret it
 * keeps names, labels, checksum and a digest of the data, never values. */
typedef struct reconcile_kubesync_cache reconcile_kubesync_cache;
int reconcile_kubesync_cache_new(reconcile_kubesync_cache **out, os_error *err) OS_NODISCARD;
void reconcile_kubesync_cache_free(reconcile_kubesync_cache *c);
/* Applies a watch event (ADDED/MODIFIED/DELETED) or a listed object. */
void reconcile_kubesync_cache_apply(reconcile_kubesync_cache *c, const char *type, json_t *obj);
/* Replaces the content with a fresh list of owned Secrets, read a page at a
 * time; on error the content is unchanged. *rv (rv may be NULL; caller
 * frees) gets the list's resourceVersion. */
int reconcile_kubesync_cache_refresh(reconcile_kubesync_cache *c, kube_client *k, const char *org,
                                     const char *env, char **rv, os_error *err);
size_t reconcile_kubesync_cache_size(reconcile_kubesync_cache *c);

/* One pass over every target of p. rollout: annotate opted-in workloads
 * (orgsecrets.io/reload: "true") whose pod template uses a Secret that
 * changed: through secretKeyRef, envFrom or a secret volume, or, for a
 * template labelled orgsecrets.io/inject: "true", through the references
 * the pod webhook would inject, found by running the webhook's own review
 * (pkg/inject) on the template with inject's callbacks (the webhook's
 * resolver; inject NULL: not looked at). Returns 0 when everything
 * converged (a conflict or a missing namespace is reported, and makes it
 * non-zero). */
int reconcile_kubesync_run(reconcile_kubesync_result *res, kube_client *k,
                           reconcile_kubesync_cache *cache, const reconcile_plan *p, bool rollout,
                           const inject_options *inject, reconcile_kubesync_event_fn on_event,
                           void *ctx, os_error *err);

/* Keyed checksum of a Secret's data object (names and base64 values);
 * out holds 65 bytes ("hmac-sha256:" is not included). */
int reconcile_kubesync_checksum(char *out, const uint8_t key[32], json_t *data, os_error *err);

#endif
