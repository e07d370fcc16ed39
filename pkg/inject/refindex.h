/* What the pod webhook resolves, as one immutable snapshot of what is
 * delivered: in namespace NS, the secret NAME is carried by the Kubernetes
 * Secret S, and which Secrets land in NS. Names only, never values.
 * Memory: one sorted array of offsets and one string block (about 30
 * bytes per (namespace, name) pair in the benchmark's layout).
 * Threading: immutable once built; readers need no lock of their own. */
#ifndef ORGSECRETS_INJECT_REFINDEX_H
#define ORGSECRETS_INJECT_REFINDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct inject_refindex inject_refindex;

/* The i-th (i < n_names) name a delivery carries; ctx is its names_ctx. */
typedef const char *(*inject_delivery_name_fn)(const void *ctx, size_t i);

/* One Kubernetes Secret, the namespaces it is delivered to and the names
 * (its data keys) it carries, read through name() so that the caller's
 * own records need no copy. */
typedef struct inject_delivery {
  const char *secret;
  const char *const *namespaces;
  size_t n_namespaces;
  size_t n_names;
  inject_delivery_name_fn name;
  const void *names_ctx;
  bool application; /* an application's Secret, not the organization-level one */
} inject_delivery;

/* Indexes the deliveries, in their order. For a name delivered to one
 * namespace by several Secrets, an application's Secret wins over an
 * organization-level one; among applications the last one wins, among
 * organization-level Secrets the first. Caller frees *out with
 * inject_refindex_free(). */
int inject_refindex_build(inject_refindex **out, const inject_delivery *v, size_t n, os_error *err);
/* Accepts NULL. */
void inject_refindex_free(inject_refindex *x);

/* The Secret delivering name in ns (borrowed from x), or NULL; x may be NULL. */
const char *inject_refindex_resolve(const inject_refindex *x, const char *ns, const char *name);

/* The Secrets delivered to ns, in delivery order (borrowed from x; *names
 * points into x). Returns how many; x may be NULL. */
size_t inject_refindex_list(const inject_refindex *x, const char *ns, const char *const **names);

/* True when x was built from deliveries of the same names to the same
 * namespaces through the same Secrets, in the same order: no rebuild
 * needed. */
bool inject_refindex_same(const inject_refindex *x, const inject_delivery *v, size_t n);

/* Number of (namespace, name) pairs held. */
size_t inject_refindex_size(const inject_refindex *x);

#endif
