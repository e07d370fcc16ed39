/* Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * expiry is judged by when this process last saw the record change (its
 * own monotonic clock), not by comparing clocks across machines.
 * Threading: one thread drives a kube_lease_elector (run, or step and
 * release); kube_lease_is_leader() may be read from any thread. */
#ifndef ORGSECRETS_KUBE_LEASE_H
#define ORGSECRETS_KUBE_LEASE_H

#include <stdbool.h>

#include "common/err.h"
#include "kube/kube.h"

typedef struct kube_lease_elector kube_lease_elector;

/* Seconds on a clock that never goes back; ctx is the options' clock_ctx. */
typedef double (*kube_lease_clock_fn)(void *ctx);

typedef struct kube_lease_options {
  const char *namespace_;
  const char *name;
  const char *identity;      /* holderIdentity, e.g. hostname_pid */
  int duration_s;            /* leaseDurationSeconds, default 15 */
  int renew_deadline_s;      /* give up leadership when not renewed for this long, default 10 */
  int retry_period_s;        /* attempt period, default 2 */
  kube_lease_clock_fn clock; /* NULL: the process's monotonic clock (tests pass their own) */
  void *clock_ctx;
} kube_lease_options;

/* Called when leadership is gained (true) or lost (false), from the thread
 * that drives the elector. */
typedef void (*kube_lease_change_fn)(void *ctx, bool leader);

/* k is borrowed and must outlive *out; strings are copied. Caller frees *out
 * with kube_lease_elector_free(). OS_EINVAL (err says which) for a
 * namespace or name that cannot be a path segment. */
int kube_lease_elector_new(kube_lease_elector **out, kube_client *k, const kube_lease_options *o,
                           kube_lease_change_fn on_change, void *ctx, os_error *err) OS_NODISCARD;

/* One attempt: creates the Lease when there is none, renews it when this
 * identity holds it, takes it over when it is free or when its record has
 * not changed for its leaseDurationSeconds (as this process's clock
 * measures it); then updates leadership, which is lost once a renewal has
 * failed for renew_deadline_s. Returns the seconds until the next attempt
 * is due: the retry period, or less when the lease another replica holds
 * expires sooner. */
double kube_lease_elector_step(kube_lease_elector *l);

/* Runs kube_lease_elector_step() until *stop becomes non-zero (polled
 * every 100 ms), then kube_lease_elector_release(). Takeover: a follower
 * takes a lease over once it has seen no renewal for the holder's
 * leaseDurationSeconds, so at most duration + retry period after the
 * holder stopped renewing, and at least duration - retry period. */
void kube_lease_elector_run(kube_lease_elector *l, const volatile int *stop);

/* Gives the lease up when held (holderIdentity "", leaseDurationSeconds 1),
 * so that another replica takes over at once. */
void kube_lease_elector_release(kube_lease_elector *l);

bool kube_lease_is_leader(const kube_lease_elector *l);

/* Accepts NULL. */
void kube_lease_elector_free(kube_lease_elector *l);

#endif
