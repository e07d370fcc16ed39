#include "reconcile/events.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

/* One Event created earlier: what makes a repeat the same Event, and where
 * it is. One allocation with its strings. */
typedef struct remembered {
  uint8_t key[16];
  uint64_t used; /* recorder tick of its last post (least recently used goes first) */
  int64_t count;
  const char *ns, *name;
  char strings[];
} remembered;

struct reconcile_event_recorder {
  pthread_mutex_t mu;
  kube_client *k;
  char *component;
  char host[128];
  remembered **v; /* n of them, in no order */
  size_t n;
  uint64_t tick;
};

int reconcile_event_recorder_new(reconcile_event_recorder **out, kube_client *k,
                                 const char *component, os_error *err) {
  reconcile_event_recorder *r = calloc(1, sizeof(*r));
  if (r == NULL || (r->component = os_strdup(component)) == NULL ||
      (r->v = calloc(RECONCILE_EVENTS_REMEMBERED, sizeof(*r->v))) == NULL) {
    if (r != NULL)
      free(r->component);
    free(r);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&r->mu, NULL);
  r->k = k;
  if (gethostname(r->host, sizeof(r->host) - 1) != 0)
    snprintf(r->host, sizeof(r->host), "%s", component);
  *out = r;
  return 0;
}

void reconcile_event_recorder_free(reconcile_event_recorder *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++)
    free(r->v[i]);
  free(r->v);
  free(r->component);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* SHA-256 of everything that makes two Events the same, cut to 16 bytes. */
static void event_key(uint8_t key[16], const char *ns, const reconcile_event_subject *s,
                      const char *type, const char *reason, const char *message) {
  const char *parts[] = {ns,   s->api_version, s->kind, s->name, s->uid ? s->uid : "",
                         type, reason,         message};
  uint8_t d[32];
  unsigned int n = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  memset(d, 0, sizeof(d));
  if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
      EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    EVP_DigestFinal_ex(ctx, d, &n);
  }
  EVP_MD_CTX_free(ctx);
  memcpy(key, d, 16);
}

static remembered *find(reconcile_event_recorder *r, const uint8_t key[16], size_t *at) {
  for (size_t i = 0; i < r->n; i++) {
    if (memcmp(r->v[i]->key, key, 16) == 0) { /* checksrc: public: a digest of an Event's names */
      *at = i;
      return r->v[i];
    }
  }
  return NULL;
}

static void forget(reconcile_event_recorder *r, size_t at) {
  free(r->v[at]);
  r->v[at] = r->v[--r->n];
}

/* Remembers a created Event (when memory allows: a repeat is then created
 * anew, which is what happened before this recorder). */
static void remember(reconcile_event_recorder *r, const uint8_t key[16], const char *ns,
                     const char *name) {
  if (r->n == RECONCILE_EVENTS_REMEMBERED) {
    size_t oldest = 0;
    for (size_t i = 1; i < r->n; i++)
      if (r->v[i]->used < r->v[oldest]->used)
        oldest = i;
    forget(r, oldest);
  }
  size_t size = sizeof(remembered);
  if (!os_size_add(&size, size, strlen(ns) + 1) || !os_size_add(&size, size, strlen(name) + 1))
    return;
  remembered *e = calloc(1, size);
  if (e == NULL)
    return;
  memcpy(e->key, key, 16);
  e->used = ++r->tick;
  e->count = 1;
  char *p = e->strings;
  e->ns = os_str_pack(&p, ns);
  e->name = os_str_pack(&p, name);
  r->v[r->n++] = e;
}

/* Counts a repeat on e: 0, or OS_ENOTFOUND when the Event is gone (the API
 * server drops Events after an hour by default). */
static int count_repeat(reconcile_event_recorder *r, remembered *e, const char *now,
                        os_error *err) {
  char *path = NULL;
  json_t *patch = json_pack("{s:I,s:s}", "count", (json_int_t)(e->count + 1), "lastTimestamp", now);
  int rc = patch ? kube_object_path(&path, "/api/v1", e->ns, "events", e->name, NULL, err)
                 : os_error_set(err, OS_ENOMEM, "out of memory");
  if (rc == 0)
    rc = kube_patch(r->k, path, "application/merge-patch+json", patch, NULL, err);
  json_decref(patch);
  free(path);
  if (rc == 0) {
    e->count++;
    e->used = ++r->tick;
  }
  return rc;
}

static int create(reconcile_event_recorder *r, const uint8_t key[16], const char *ns,
                  const reconcile_event_subject *s, const char *type, const char *reason,
                  const char *message, const char *now, os_error *err) {
  char *path = NULL;
  int rc = kube_object_path(&path, "/api/v1", ns, "events", NULL, NULL, err);
  if (rc < 0)
    return rc;
  json_t *ev = json_pack(
      "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s?,s:s?},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s,s:s}",
      "apiVersion", "v1", "kind", "Event", "metadata", "generateName", "orgsecrets-", "namespace",
      ns, "involvedObject", "apiVersion", s->api_version, "kind", s->kind, "name", s->name,
      "namespace", s->namespace_, "uid", s->uid, "type", type, "reason", reason, "message", message,
      "source", "component", r->component, "firstTimestamp", now, "lastTimestamp", now, "count", 1,
      "reportingComponent", r->component, "reportingInstance", r->host);
  json_t *out = NULL;
  rc = ev ? kube_create(r->k, path, ev, &out, err) : os_error_set(err, OS_ENOMEM, "out of memory");
  const char *name = json_string_value(json_object_get(json_object_get(out, "metadata"), "name"));
  if (rc == 0 && name != NULL)
    remember(r, key, ns, name);
  json_decref(out);
  json_decref(ev);
  free(path);
  return rc;
}

int reconcile_event_recorder_post(reconcile_event_recorder *r, const reconcile_event_subject *about,
                                  const char *type, const char *reason, const char *message,
                                  os_error *err) {
  const char *ns = about->namespace_ ? about->namespace_ : "default";
  char now[OS_TIME_MAX];
  uint8_t key[16];
  os_now_format(now);
  event_key(key, ns, about, type, reason, message);
  pthread_mutex_lock(&r->mu);
  size_t at = 0;
  remembered *e = find(r, key, &at);
  int rc = OS_ENOTFOUND;
  if (e != NULL) {
    os_error perr = OS_ERROR_INIT;
    rc = count_repeat(r, e, now, &perr);
    if (rc == OS_ENOTFOUND)
      forget(r, at); /* expired: a new one follows */
    else if (rc < 0)
      os_error_set(err, rc, "%s", perr.msg);
  }
  if (rc == OS_ENOTFOUND)
    rc = create(r, key, ns, about, type, reason, message, now, err);
  pthread_mutex_unlock(&r->mu);
  return rc;
}
