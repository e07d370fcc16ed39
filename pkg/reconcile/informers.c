/* Informers: each lists what the controller reads from the API server, then
 * watches it from the list's resourceVersion, keeping a cache current and
 * waking the main loop; "synced" after its first complete list. And the
 * folder watch, which wakes the loop when a spec file changes. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"

#define WATCH_TIMEOUT_S 240 /* the server ends a watch after this; it is resumed */

static const char *const informer_paths[] = {
    [RECONCILE_INFORMER_SECRETS] = "/api/v1/secrets",
    [RECONCILE_INFORMER_ORGANIZATIONS] = "/apis/orgsecrets.io/v1/organizations",
    [RECONCILE_INFORMER_ORGSECRETS] = "/apis/orgsecrets.io/v1/orgsecrets"};

int reconcile_informers_init(reconcile_informers *s, kube_client *k, const char *environment,
                             bool cluster, const char *folder, reconcile_wake *wake,
                             const volatile int *stop, os_error *err) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
  s->k = k;
  s->environment = environment;
  s->wake = wake;
  s->stop = stop;
  s->folder = folder;
  s->orgs = json_object();
  s->orgsecrets = json_object();
  if (s->orgs == NULL || s->orgsecrets == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  int rc = reconcile_kubesync_cache_new(&s->secrets, err);
  if (rc < 0 || k == NULL)
    return rc;
  reconcile_informer_kind kinds[] = {RECONCILE_INFORMER_SECRETS, RECONCILE_INFORMER_ORGANIZATIONS,
                                     RECONCILE_INFORMER_ORGSECRETS};
  for (size_t i = 0; i < (cluster ? 3u : 1u); i++) {
    reconcile_informer *in = &s->v[s->n++];
    in->set = s;
    in->kind = kinds[i];
    in->path = informer_paths[kinds[i]];
  }
  s->v[0].selector = spec_target_selector(NULL, environment);
  if (s->v[0].selector == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return 0;
}

void reconcile_informers_clear(reconcile_informers *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i].selector);
  reconcile_kubesync_cache_free(s->secrets);
  json_decref(s->orgs);
  json_decref(s->orgsecrets);
  pthread_mutex_destroy(&s->mu);
  memset(s, 0, sizeof(*s));
}

static json_t *cache_of(reconcile_informers *s, reconcile_informer_kind kind) {
  return kind == RECONCILE_INFORMER_ORGANIZATIONS ? s->orgs : s->orgsecrets;
}

static const char *name_of(const json_t *obj) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static int on_watch_event(void *ctx, const char *type, json_t *obj) {
  reconcile_informer *in = ctx;
  reconcile_informers *s = in->set;
  if (strcmp(type, "BOOKMARK") == 0)
    return 0;
  if (in->kind == RECONCILE_INFORMER_SECRETS) {
    reconcile_kubesync_cache_apply(s->secrets, type, obj);
    reconcile_wake_mark(s->wake, false);
    return 0;
  }
  const char *name = name_of(obj);
  if (name == NULL)
    return 0;
  json_t *cache = cache_of(s, in->kind);
  bool deleted = strcmp(type, "DELETED") == 0;
  pthread_mutex_lock(&s->mu);
  json_t *old = json_object_get(cache, name);
  json_int_t old_gen =
      json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));
  json_int_t new_gen =
      json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
  /* a status-only change (ours) bumps no generation: nothing to plan */
  bool spec_change = deleted || old == NULL || old_gen != new_gen;
  if (deleted)
    json_object_del(cache, name);
  else
    json_object_set(cache, name, obj);
  pthread_mutex_unlock(&s->mu);
  if (spec_change)
    reconcile_wake_mark(s->wake, true);
  return 0;
}

/* Lists into the informer's cache (replacing it whole); *rv (caller frees)
 * gets the list's resourceVersion. */
static int list_into(reconcile_informer *in, char **rv, os_error *err) {
  reconcile_informers *s = in->set;
  if (in->kind == RECONCILE_INFORMER_SECRETS) {
    int rc = reconcile_kubesync_cache_refresh(s->secrets, s->k, NULL, s->environment, rv, err);
    if (rc == 0)
      reconcile_wake_mark(s->wake, false); /* what the list shows may differ from what was cached */
    return rc;
  }
  json_t *items = NULL;
  int rc = kube_list(s->k, in->path, NULL, &items, rv, err);
  if (rc < 0)
    return rc;
  json_t *fresh = json_object();
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    const char *name = name_of(it);
    if (name != NULL && fresh != NULL)
      json_object_set(fresh, name, it);
  }
  json_decref(items);
  if (fresh == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  pthread_mutex_lock(&s->mu);
  json_t *cache = cache_of(s, in->kind);
  json_object_clear(cache);
  json_object_update(cache, fresh);
  pthread_mutex_unlock(&s->mu);
  json_decref(fresh);
  reconcile_wake_mark(s->wake, true);
  return 0;
}

int reconcile_informers_list(reconcile_informers *s, os_error *err) {
  for (size_t i = 0; i < s->n; i++) {
    char *rv = NULL;
    int rc = list_into(&s->v[i], &rv, err);
    free(rv);
    if (rc < 0)
      return rc;
    atomic_store(&s->v[i].synced, true);
  }
  return 0;
}

static void sleep_stoppable(const reconcile_informers *s, double seconds) {
  for (double t = 0; t < seconds && !*s->stop; t += 0.1)
    usleep(100000);
}

static void *informer_thread(void *arg) {
  reconcile_informer *in = arg;
  reconcile_informers *s = in->set;
  unsigned failures = 0;
  while (!*s->stop) {
    char *rv = NULL;
    os_error err = OS_ERROR_INIT;
    in->relist = 0;
    if (list_into(in, &rv, &err) < 0) {
      os_log_warn("list %s: %s", in->path, err.msg);
      sleep_stoppable(s, os_backoff_delay(failures < 16 ? failures++ : failures, 2, 30));
      continue;
    }
    failures = 0;
    if (!atomic_exchange(&in->synced, true))
      reconcile_wake_mark(s->wake, false); /* the loop may be waiting for it */
#ifdef __GLIBC__
    malloc_trim(0); /* a large list is parsed and dropped: give it back */
#endif
    while (!*s->stop && !in->relist) {
      char *last = NULL;
      os_error werr = OS_ERROR_INIT;
      int rc = kube_watch(s->k, in->path, in->selector, rv, WATCH_TIMEOUT_S, on_watch_event, in,
                          &last, &in->relist, &werr);
      if (last != NULL) {
        free(rv);
        rv = last;
      }
      if (rc == OS_EGONE) {
        os_log_info("watch %s: resourceVersion expired, listing again", in->path);
        break;
      }
      if (rc < 0) {
        os_log_warn("watch %s: %s", in->path, werr.msg);
        sleep_stoppable(s, os_backoff_delay(0, 2, 2));
        break;
      }
    }
    free(rv);
  }
  return NULL;
}

static void *folder_thread(void *arg) {
  reconcile_informers *s = arg;
  reconcile_source_watch *w = NULL;
  os_error err = OS_ERROR_INIT;
  if (reconcile_source_watch_new(&w, s->folder, &err) < 0) {
    os_log_error("watch %s: %s", s->folder, err.msg);
    return NULL;
  }
  while (!*s->stop) {
    if (reconcile_source_watch_wait(w, 500) > 0)
      reconcile_wake_mark(s->wake, true);
  }
  reconcile_source_watch_free(w);
  return NULL;
}

int reconcile_informers_start(reconcile_informers *s, os_error *err) {
  for (size_t i = 0; i < s->n; i++) {
    reconcile_informer *in = &s->v[i];
    int e = pthread_create(&in->thread, NULL, informer_thread, in);
    if (e != 0)
      return os_error_set(err, OS_EIO, "starting the watch of %s: %s", in->path, strerror(e));
    in->started = true;
  }
  if (s->folder != NULL) {
    int e = pthread_create(&s->folder_thread, NULL, folder_thread, s);
    if (e != 0)
      return os_error_set(err, OS_EIO, "starting the watch of %s: %s", s->folder, strerror(e));
    s->folder_started = true;
  }
  return 0;
}

bool reconcile_informers_wait_synced(reconcile_informers *s) {
  for (unsigned waits = 0; !*s->stop; waits++) {
    size_t pending = 0;
    const char *first = NULL;
    for (size_t i = 0; i < s->n; i++) {
      if (!atomic_load(&s->v[i].synced)) {
        pending++;
        first = first ? first : s->v[i].path;
      }
    }
    if (pending == 0)
      return true;
    if (waits > 0 && waits % 50 == 0) /* every 10 s */
      os_log_info("waiting for the first list of %s (%zu list(s) pending)", first, pending);
    reconcile_wake_sleep(s->wake, 200);
  }
  return false;
}

void reconcile_informers_relist(reconcile_informers *s) {
  for (size_t i = 0; i < s->n; i++)
    s->v[i].relist = 1;
}

void reconcile_informers_stop(reconcile_informers *s) {
  reconcile_informers_relist(s); /* the watches poll it */
  for (size_t i = 0; i < s->n; i++) {
    if (s->v[i].started)
      pthread_join(s->v[i].thread, NULL);
    s->v[i].started = false;
  }
  if (s->folder_started)
    pthread_join(s->folder_thread, NULL);
  s->folder_started = false;
}

json_t *reconcile_informers_copy(reconcile_informers *s, reconcile_informer_kind kind) {
  pthread_mutex_lock(&s->mu);
  json_t *copy = json_deep_copy(cache_of(s, kind));
  pthread_mutex_unlock(&s->mu);
  return copy;
}

json_t *reconcile_informers_orgsecret(reconcile_informers *s, const char *name) {
  pthread_mutex_lock(&s->mu);
  json_t *obj = json_incref(json_object_get(s->orgsecrets, name));
  pthread_mutex_unlock(&s->mu);
  return obj;
}

void reconcile_informers_set_orgsecret(reconcile_informers *s, const char *name, json_t *obj) {
  pthread_mutex_lock(&s->mu);
  json_object_set(s->orgsecrets, name, obj);
  pthread_mutex_unlock(&s->mu);
}
