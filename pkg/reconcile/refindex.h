/* What the pod webhook resolves, as one immutable snapshot of the plans:
 * in namespace NS, the secret NAME is delivered by the Kubernetes Secret S,
 * and which Secrets land in NS. Names only, never values.
 * Memory: one sorted array of offsets and one string block (about 30
 * bytes per (namespace, name) pair in the benchmark's layout).
 * Threading: immutable once built; readers need no lock of their own. */
#ifndef ORGSECRETS_RECONCILE_REFINDEX_H
#define ORGSECRETS_RECONCILE_REFINDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "reconcile/plan.h"

typedef struct ref_index ref_index;

/* Indexes every target of the plans. For a name delivered to one namespace
 * by several targets, an application's Secret wins over the
 * organization-level one; among applications the last target wins, among
 * organization-level targets the first. Names whose value failed (kept)
 * resolve like delivered ones. */
int ref_index_build(ref_index **out, const reconcile_plan *const *plans, size_t n_plans,
                    os_error *err);
void ref_index_free(ref_index *x);

/* The Secret delivering name in ns (borrowed from x), or NULL. */
const char *ref_index_resolve(const ref_index *x, const char *ns, const char *name);

/* The Secrets delivered to ns, in plan and target order (borrowed from x;
 * *names points into x). Returns how many. */
size_t ref_index_list(const ref_index *x, const char *ns, const char *const **names);

/* True when x was built from plans delivering the same names to the same
 * namespaces through the same Secrets (values may differ): no rebuild
 * needed. */
bool ref_index_same(const ref_index *x, const reconcile_plan *const *plans, size_t n_plans);

/* Number of (namespace, name) pairs held. */
size_t ref_index_size(const ref_index *x);

#endif
