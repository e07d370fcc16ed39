/* Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * expiry is judged by when this process last saw the record change (local
 * monotonic clock), not by comparing clocks across machines.
 * Threading: one thread drives a lease_elector; lease_is_leader() may be
 * read from any thread. */
#ifndef ORGSECRETS_RECONCILE_LEASE_H
#define ORGSECRETS_RECONCILE_LEASE_H

#include <stdbool.h>

#include "common/err.h"
#include "kube/kube.h"

typedef struct lease_elector lease_elector;

typedef struct lease_options {
  const char *namespace_;
  const char *name;
  const char *identity;     /* holderIdentity, e.g. hostname_pid */
  int duration_s;           /* leaseDurationSeconds, default 15 */
  int renew_deadline_s;     /* give up leadership when not renewed for this long, default 10 */
  int retry_period_s;       /* attempt period, default 2 */
} lease_options;

/* Called when leadership is gained (true) or lost (false). */
typedef void (*lease_change_fn)(void *ctx, bool leader);

int lease_elector_new(lease_elector **out, kube_client *k, const lease_options *o,
                      lease_change_fn on_change, void *ctx, os_error *err);
/* Runs until *stop becomes non-zero, then releases the lease if held.
 * Takeover: a follower takes a lease over once it has seen no renewal for
 * the holder's leaseDurationSeconds (it polls every retry period and wakes
 * at the expiry), so at most duration + retry period after the holder
 * stopped renewing, and at least duration - retry period. */
void lease_elector_run(lease_elector *l, const volatile int *stop);
bool lease_is_leader(lease_elector *l);
void lease_elector_free(lease_elector *l);

#endif
