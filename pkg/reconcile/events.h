/* Kubernetes Events (core v1), posted as client-go's recorder does: the
 * first Event of a kind is created; a repeat (same object, type, reason and
 * message) updates that Event's count and lastTimestamp instead of
 * creating another, so a problem that lasts for many passes is one Event.
 * Memory: at most RECONCILE_EVENTS_REMEMBERED Events are remembered (a 16-byte key,
 * the Event's namespace and name, its count), the least recently posted
 * forgotten first; a forgotten or expired (garbage-collected) Event is
 * created again. Messages carry names only, never values. Timestamps are
 * os_now_format()'s (the clock of record, common/clock.h).
 * Threading: calls are serialised by an internal mutex. */
#ifndef ORGSECRETS_RECONCILE_EVENTS_H
#define ORGSECRETS_RECONCILE_EVENTS_H

#include <stddef.h>

#include "common/err.h"
#include "kube/kube.h"

#define RECONCILE_EVENTS_REMEMBERED 1024

typedef struct reconcile_event_recorder reconcile_event_recorder;

/* The object an Event is about. namespace_ NULL: cluster-scoped (the Event
 * then lives in "default", as upstream); uid may be NULL. */
typedef struct reconcile_event_subject {
  const char *api_version, *kind, *namespace_, *name, *uid;
} reconcile_event_subject;

/* component is the Event's source.component and reportingComponent; the
 * host name is its reportingInstance. k is borrowed and must outlive r. */
int reconcile_event_recorder_new(reconcile_event_recorder **out, kube_client *k,
                                 const char *component, os_error *err) OS_NODISCARD;
void reconcile_event_recorder_free(reconcile_event_recorder *r);

/* Creates the Event, or counts a repeat on the one created before. type is
 * "Normal" or "Warning". Returns 0 or the API error (err names the Event). */
int reconcile_event_recorder_post(reconcile_event_recorder *r, const reconcile_event_subject *about,
                                  const char *type, const char *reason, const char *message,
                                  os_error *err);

#endif
