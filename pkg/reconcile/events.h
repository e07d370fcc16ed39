/* Kubernetes Events (core v1), posted as client-go's recorder does: the
 * first Event of a kind is created; a repeat (same object, type, reason and
 * message) updates that Event's count and lastTimestamp instead of
 * creating another, so a problem that lasts for many passes is one Event.
 * Memory: at most EVENTS_REMEMBERED Events are remembered (a 16-byte key,
 * the Event's namespace and name, its count), the least recently posted
 * forgotten first; a forgotten or expired (garbage-collected) Event is
 * created again. Messages carry names only, never values.
 * Threading: calls are serialised by an internal mutex. */
#ifndef ORGSECRETS_RECONCILE_EVENTS_H
#define ORGSECRETS_RECONCILE_EVENTS_H

#include <stddef.h>

#include "common/err.h"
#include "kube/kube.h"

#define EVENTS_REMEMBERED 1024

typedef struct event_recorder event_recorder;

/* The object an Event is about. namespace_ NULL: cluster-scoped (the Event
 * then lives in "default", as upstream); uid may be NULL. */
typedef struct event_subject {
  const char *api_version, *kind, *namespace_, *name, *uid;
} event_subject;

/* The current UTC time as an Event's (and a condition's) timestamp:
 * RFC 3339 to the second, "2026-01-02T03:04:05Z"; n >= 21. */
void event_time_now(char *out, size_t n);

/* component is the Event's source.component and reportingComponent; the
 * host name is its reportingInstance. k is borrowed and must outlive r. */
int event_recorder_new(event_recorder **out, kube_client *k, const char *component, os_error *err);
void event_recorder_free(event_recorder *r);

/* Creates the Event, or counts a repeat on the one created before. type is
 * "Normal" or "Warning". Returns 0 or the API error (err names the Event). */
int event_recorder_post(event_recorder *r, const event_subject *about, const char *type,
                        const char *reason, const char *message, os_error *err);

#endif
