#include "reconcile/kubesync.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"

#define MAX_CONFLICT_RETRIES 4

#define REFRESH_PAGE 100 /* Secrets per list page: a page of values is all the refresh holds */

/* What the cache keeps of one Secret: what ownership, drift and the next
 * write are decided on, not the values (they are in the plan) nor
 * managedFields. One allocation: this struct, then its strings. */
typedef struct secret_rec {
  struct secret_rec *chain;         /* next in its hash bucket */
  struct secret_rec *prev, *next;   /* insertion order: unwanted Secrets are deleted in it */
  uint64_t hash;                    /* of the key, "namespace/name" */
  size_t size;                      /* of the allocation */
  const char *ns, *name, *rv, *uid; /* NULL when missing or not a string */
  const char *org, *env, *app;      /* our labels' values, NULL when missing */
  const char *keys;                 /* n_keys data key names, each NUL-terminated, in data order */
  size_t n_keys;
  uint8_t digest[32];   /* data_digest() of the data */
  uint8_t checksum[32]; /* the checksum annotation, when has_checksum */
  bool has_checksum;    /* annotation is "hmac-sha256:" and 64 lowercase hex digits */
  bool managed_by_us;   /* SPEC_LABEL_MANAGED_BY is SPEC_MANAGER */
  bool part_of;         /* SPEC_LABEL_PART_OF is set */
  bool opaque;          /* type is "Opaque" */
  bool immutable;       /* "immutable": true: its data can no longer change */
  char strings[];
} secret_rec;

/* Records by key, chained; iterated in insertion order (a record replaced
 * under its key keeps its place), as the jansson object it replaces was. */
typedef struct secret_table {
  secret_rec **buckets; /* n_buckets, a power of two; NULL before the first insert */
  size_t n_buckets, count;
  secret_rec *head, *tail;
} secret_table;

/* The lock is held while the table is read or changed, never across an
 * API request: a pass works on copies of records (rec_copy). */
struct reconcile_kubesync_cache {
  pthread_mutex_t mu;
  secret_table secrets;
};

static void table_clear(secret_table *t) {
  secret_rec *r = t->head;
  while (r != NULL) {
    secret_rec *next = r->next;
    free(r);
    r = next;
  }
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}

int reconcile_kubesync_cache_new(reconcile_kubesync_cache **out, os_error *err) {
  reconcile_kubesync_cache *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return 0;
}

void reconcile_kubesync_cache_free(reconcile_kubesync_cache *c) {
  if (c == NULL)
    return;
  table_clear(&c->secrets);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static const char *meta_str(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *label_of(const json_t *obj, const char *key) {
  return json_string_value(
      json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static int cache_key(char *out, size_t n, const char *ns, const char *name) {
  int w = snprintf(out, n, "%s/%s", ns ? ns : "", name ? name : "");
  return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a Secret's data object, sorted, so that digests do not depend
 * on JSON key order. Borrowed strings; caller frees the array. NULL on OOM. */
static const char **sorted_keys(json_t *data, size_t *n) {
  *n = json_object_size(data);
  const char **keys = calloc(*n ? *n : 1, sizeof(*keys));
  if (keys == NULL)
    return NULL;
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach(data, k, v) { keys[i++] = k; }
  qsort(keys, *n, sizeof(*keys), cmp_cstr);
  return keys;
}

/* SHA-256 over a Secret's data, sorted (key, base64 value) pairs; kept in
 * memory only, to notice drift without holding the data itself. */
static void data_digest(uint8_t out[32], json_t *data) {
  size_t n = 0;
  const char **keys = sorted_keys(data, &n);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned int dl = 0;
  memset(out, 0, 32);
  if (keys != NULL && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
    size_t i;
    for (i = 0; i < n; i++) {
      const char *b64 = json_string_value(json_object_get(data, keys[i]));
      EVP_DigestUpdate(md, keys[i], strlen(keys[i]) + 1);
      EVP_DigestUpdate(md, b64 ? b64 : "", b64 ? strlen(b64) + 1 : 1);
    }
    EVP_DigestFinal_ex(md, out, &dl);
  }
  EVP_MD_CTX_free(md);
  free(keys);
}

/* The checksum annotation as raw bytes. Only "hmac-sha256:" and 64 lowercase
 * hex digits can equal what reconcile_kubesync_checksum() writes, so anything else is
 * kept as "no checksum". */
static bool parse_checksum(uint8_t out[32], const char *sum) {
  if (sum == NULL || strncmp(sum, "hmac-sha256:", 12) != 0 || strlen(sum + 12) != 64)
    return false;
  for (size_t i = 0; i < 64; i++) {
    char ch = sum[12 + i];
    int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (v < 0)
      return false;
    out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] << 4) | v : v);
  }
  return true;
}

static bool add_str_len(size_t *size, const char *s) {
  return s == NULL || (os_size_add(size, *size, strlen(s)) && os_size_add(size, *size, 1));
}

/* The record of a Secret object; NULL on OOM. */
static secret_rec *rec_new(const json_t *obj) {
  json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
  json_t *data = json_object_get(obj, "data");
  const char *strs[] = {meta_str(obj, "namespace"),       meta_str(obj, "name"),
                        meta_str(obj, "resourceVersion"), meta_str(obj, "uid"),
                        label_of(obj, SPEC_LABEL_ORG),    label_of(obj, SPEC_LABEL_ENV),
                        label_of(obj, SPEC_LABEL_APP)};
  size_t n_strs = sizeof(strs) / sizeof(strs[0]), size = sizeof(secret_rec), n_keys = 0;
  const char *k;
  json_t *v;
  for (size_t i = 0; i < n_strs; i++)
    if (!add_str_len(&size, strs[i]))
      return NULL;
  json_object_foreach(data, k, v) {
    if (!add_str_len(&size, k))
      return NULL;
    n_keys++;
  }
  secret_rec *r = calloc(1, size);
  if (r == NULL)
    return NULL;
  r->size = size;
  char *p = r->strings;
  const char **dst[] = {&r->ns, &r->name, &r->rv, &r->uid, &r->org, &r->env, &r->app};
  for (size_t i = 0; i < n_strs; i++)
    *dst[i] = os_str_pack(&p, strs[i]);
  r->keys = p;
  json_object_foreach(data, k, v) { os_str_pack(&p, k); }
  r->n_keys = n_keys;
  data_digest(r->digest, data);
  r->has_checksum = parse_checksum(
      r->checksum, json_string_value(json_object_get(ann, SPEC_ANNOTATION_CHECKSUM)));
  const char *m = label_of(obj, SPEC_LABEL_MANAGED_BY);
  const char *type = json_string_value(json_object_get(obj, "type"));
  r->managed_by_us = m != NULL && strcmp(m, SPEC_MANAGER) == 0;
  r->part_of = label_of(obj, SPEC_LABEL_PART_OF) != NULL;
  r->opaque = type != NULL && strcmp(type, "Opaque") == 0;
  r->immutable = json_is_true(json_object_get(obj, "immutable"));
  return r;
}

/* A copy of r that stays valid whatever the table does next (caller
 * frees); NULL on OOM. */
static secret_rec *rec_copy(const secret_rec *r) {
  secret_rec *c = malloc(r->size);
  if (c == NULL)
    return NULL;
  memcpy(c, r, r->size);
  c->chain = c->prev = c->next = NULL;
  const char **fields[] = {&c->ns, &c->name, &c->rv, &c->uid, &c->org, &c->env, &c->app, &c->keys};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (*fields[i] != NULL)
      *fields[i] = c->strings + (*fields[i] - r->strings);
  return c;
}

/* FNV-1a: unkeyed, which is enough for the names of Secrets carrying our labels. */
static uint64_t key_hash(const char *key) { return os_fnv1a64(OS_FNV1A64_INIT, key, strlen(key)); }

/* Does key equal r's "namespace/name" (cache_key())? */
static bool rec_is(const secret_rec *r, const char *key) {
  const char *ns = r->ns ? r->ns : "", *name = r->name ? r->name : "";
  size_t n = strlen(ns);
  return strncmp(key, ns, n) == 0 && key[n] == '/' && strcmp(key + n + 1, name) == 0;
}

/* The record under key, or NULL; its slot in the bucket in *slot (may be NULL). */
static secret_rec *table_find(const secret_table *t, const char *key, secret_rec ***slot) {
  if (t->n_buckets == 0)
    return NULL;
  uint64_t h = key_hash(key);
  secret_rec **pp = &t->buckets[h & (t->n_buckets - 1)];
  for (; *pp != NULL; pp = &(*pp)->chain) {
    if ((*pp)->hash == h && rec_is(*pp, key)) {
      if (slot != NULL)
        *slot = pp;
      return *pp;
    }
  }
  return NULL;
}

static bool table_grow(secret_table *t) {
  size_t n = t->n_buckets ? t->n_buckets * 2 : 16;
  secret_rec **b = n > t->n_buckets ? calloc(n, sizeof(*b)) : NULL;
  if (b == NULL)
    return false;
  for (secret_rec *r = t->head; r != NULL; r = r->next) {
    r->chain = b[r->hash & (n - 1)];
    b[r->hash & (n - 1)] = r;
  }
  free(t->buckets);
  t->buckets = b;
  t->n_buckets = n;
  return true;
}

/* Stores r under key (r's own key), in the place of a record with the same
 * key. Takes r; on OOM it is dropped and t is unchanged. */
static void table_put(secret_table *t, const char *key, secret_rec *r) {
  secret_rec **slot = NULL;
  secret_rec *old = table_find(t, key, &slot);
  r->hash = key_hash(key);
  if (old != NULL) {
    *slot = r;
    r->chain = old->chain;
    r->prev = old->prev;
    r->next = old->next;
    *(r->prev ? &r->prev->next : &t->head) = r;
    *(r->next ? &r->next->prev : &t->tail) = r;
    free(old);
    return;
  }
  /* at most one record per bucket on average; a full table still chains */
  if (t->count >= t->n_buckets && !table_grow(t) && t->n_buckets == 0) {
    free(r);
    return;
  }
  secret_rec **b = &t->buckets[r->hash & (t->n_buckets - 1)];
  r->chain = *b;
  *b = r;
  r->prev = t->tail;
  r->next = NULL;
  *(t->tail ? &t->tail->next : &t->head) = r;
  t->tail = r;
  t->count++;
}

static void table_remove(secret_table *t, secret_rec *r) {
  secret_rec **pp = &t->buckets[r->hash & (t->n_buckets - 1)];
  while (*pp != r)
    pp = &(*pp)->chain;
  *pp = r->chain;
  *(r->prev ? &r->prev->next : &t->head) = r->next;
  *(r->next ? &r->next->prev : &t->tail) = r->prev;
  t->count--;
  free(r);
}

static void table_remove_key(secret_table *t, const char *key) {
  secret_rec *r = table_find(t, key, NULL);
  if (r != NULL)
    table_remove(t, r);
}

/* A watch event or a listed object: ADDED and MODIFIED store its record,
 * DELETED drops it. An object without a namespace or a name, or with a '/'
 * in its namespace (the API server never sends one) is ignored: nothing
 * could be written to it, and keys stay unambiguous. */
static void table_apply(secret_table *t, const char *type, const json_t *obj) {
  char key[600];
  const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");
  if (ns == NULL || ns[0] == '\0' || strchr(ns, '/') != NULL || name == NULL || name[0] == '\0' ||
      cache_key(key, sizeof(key), ns, name) < 0)
    return;
  if (strcmp(type, "DELETED") == 0) {
    table_remove_key(t, key);
  } else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
    secret_rec *r = rec_new(obj);
    if (r != NULL)
      table_put(t, key, r);
  }
}

void reconcile_kubesync_cache_apply(reconcile_kubesync_cache *c, const char *type, json_t *obj) {
  pthread_mutex_lock(&c->mu);
  table_apply(&c->secrets, type, obj);
  pthread_mutex_unlock(&c->mu);
}

size_t reconcile_kubesync_cache_size(reconcile_kubesync_cache *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->secrets.count;
  pthread_mutex_unlock(&c->mu);
  return n;
}

/* A copy of the record under key into *out (caller frees; NULL when there
 * is none). OS_ENOMEM when it cannot be copied. */
static int cache_copy(secret_rec **out, reconcile_kubesync_cache *c, const char *key) {
  pthread_mutex_lock(&c->mu);
  const secret_rec *r = table_find(&c->secrets, key, NULL);
  *out = r ? rec_copy(r) : NULL;
  pthread_mutex_unlock(&c->mu);
  return r != NULL && *out == NULL ? OS_ENOMEM : 0;
}

/* Drops the record under key if it is still the version rv (NULL: any):
 * after a delete, a newer version the watch brought in the meantime stays. */
static void cache_forget(reconcile_kubesync_cache *c, const char *key, const char *rv) {
  pthread_mutex_lock(&c->mu);
  secret_rec *r = table_find(&c->secrets, key, NULL);
  if (r != NULL && (rv == NULL || (r->rv != NULL && strcmp(r->rv, rv) == 0)))
    table_remove(&c->secrets, r);
  pthread_mutex_unlock(&c->mu);
}

/* kube_list_each() callback of a refresh: one listed Secret into the table
 * being built; NULL (the list started over) empties it. */
static int refresh_item(void *ctx, json_t *item) {
  secret_table *t = ctx;
  if (item == NULL)
    table_clear(t);
  else
    table_apply(t, "ADDED", item);
  return 0;
}

int reconcile_kubesync_cache_refresh(reconcile_kubesync_cache *c, kube_client *k, const char *org,
                                     const char *env, char **rv, os_error *err) {
  char *sel = spec_target_selector(org, env); /* org NULL: every organization */
  if (sel == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  /* built page by page outside the lock, then swapped in whole */
  secret_table fresh;
  memset(&fresh, 0, sizeof(fresh));
  int rc = kube_list_each(k, "/api/v1/secrets", sel, REFRESH_PAGE, refresh_item, &fresh, rv, err);
  free(sel);
  if (rc < 0) {
    table_clear(&fresh);
    return rc;
  }
  pthread_mutex_lock(&c->mu);
  secret_table old = c->secrets;
  c->secrets = fresh;
  pthread_mutex_unlock(&c->mu);
  table_clear(&old);
  return 0;
}

int reconcile_kubesync_checksum(char *out, const uint8_t key[32], json_t *data, os_error *err) {
  int rc = 0;
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  size_t n = 0, i;
  const char **keys = sorted_keys(data, &n);
  if (ctx == NULL || keys == NULL || EVP_MAC_init(ctx, key, 32, params) != 1) {
    rc = os_error_set(err, OS_ECRYPTO, "hmac init failed");
    goto done;
  }
  for (i = 0; i < n; i++) {
    const char *b64 = json_string_value(json_object_get(data, keys[i]));
    if (b64 == NULL)
      b64 = "";
    if (EVP_MAC_update(ctx, (const unsigned char *)keys[i], strlen(keys[i]) + 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)b64, strlen(b64) + 1) != 1) {
      rc = os_error_set(err, OS_ECRYPTO, "hmac update failed");
      goto done;
    }
  }
  unsigned char md[32];
  size_t md_len = 0;
  if (EVP_MAC_final(ctx, md, &md_len, sizeof(md)) != 1 || md_len != 32) {
    rc = os_error_set(err, OS_ECRYPTO, "hmac final failed");
    goto done;
  }
  os_hex_encode(out, md, 32);
done:
  free(keys);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return rc;
}

/* A value as Secret data: a JSON string of its base64 (the scratch copy wiped). */
static json_t *b64_string(const uint8_t *v, size_t len) {
  size_t n = os_base64_encoded_len(len, 0), size;
  char *s = n != SIZE_MAX && os_size_add(&size, n, 1) ? malloc(size) : NULL;
  if (s == NULL)
    return NULL;
  os_base64_encode(s, v, len, 0);
  s[n] = '\0';
  json_t *j = json_stringn(s, n);
  os_free_secret(s, size);
  return j;
}

static bool name_in(const char *const *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], name) == 0)
      return true;
  return false;
}

/* The data a target's Secret must hold, given what the live one has (for
 * kept names). */
static json_t *desired_data(const reconcile_plan_target *t, const json_t *live) {
  json_t *data = json_object();
  if (data == NULL)
    return NULL;
  for (size_t i = 0; i < t->n_entries; i++) {
    json_t *b = b64_string(t->entries[i].value, t->entries[i].len);
    if (b == NULL || json_object_set_new(data, t->entries[i].name, b) < 0) {
      json_decref(data);
      return NULL;
    }
  }
  json_t *live_data = json_object_get(live, "data");
  const char *k;
  json_t *v;
  json_object_foreach(live_data, k, v) {
    if (json_object_get(data, k) != NULL)
      continue;
    if (t->keep_unknown || name_in(t->kept, t->n_kept, k))
      json_object_set(data, k, v);
  }
  return data;
}

static int set_str(json_t *obj, const char *key, const char *value) {
  return json_object_set_new(obj, key, json_string(value));
}

/* The unit's labels (spec_target_labels(): those `orgsecrets render`
 * writes too) into labels; an application label the unit does not have is
 * removed, in a merge patch by a null. */
static int put_labels(json_t *labels, const reconcile_plan_target *t, bool patch) {
  spec_label l[SPEC_TARGET_LABELS_MAX];
  size_t n = spec_target_labels(l, &t->unit);
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    rc |= set_str(labels, l[i].key, l[i].value);
  if (t->unit.app == NULL && patch)
    rc |= json_object_set_new(labels, SPEC_LABEL_APP, json_null());
  else if (t->unit.app == NULL)
    json_object_del(labels, SPEC_LABEL_APP);
  return rc;
}

/* Our labels and annotation on obj (created or taken from live). */
static int stamp(json_t *obj, const reconcile_plan_target *t, const char *ns, json_t *data,
                 const char *checksum) {
  json_t *meta = json_object_get(obj, "metadata");
  if (meta == NULL) {
    meta = json_object();
    json_object_set_new(obj, "metadata", meta);
  }
  json_t *labels = json_object_get(meta, "labels");
  if (!json_is_object(labels)) {
    labels = json_object();
    json_object_set_new(meta, "labels", labels);
  }
  json_t *ann = json_object_get(meta, "annotations");
  if (!json_is_object(ann)) {
    ann = json_object();
    json_object_set_new(meta, "annotations", ann);
  }
  char sum[80];
  snprintf(sum, sizeof(sum), "hmac-sha256:%s", checksum);
  int rc = set_str(meta, "name", t->secret_name) | set_str(meta, "namespace", ns) |
           put_labels(labels, t, false) | set_str(ann, SPEC_ANNOTATION_CHECKSUM, sum) |
           set_str(obj, "apiVersion", "v1") | set_str(obj, "kind", "Secret") |
           set_str(obj, "type", "Opaque") | json_object_set(obj, "data", data);
  json_object_del(obj, "stringData");
  return rc ? OS_ENOMEM : 0;
}

static bool owned_by(const secret_rec *r, const reconcile_plan_target *t) {
  return r->managed_by_us && r->org && r->env && strcmp(r->org, t->organization) == 0 &&
         strcmp(r->env, t->environment) == 0;
}

/* Is r kept current by the controller's watch of owned Secrets (selected
 * by our managed-by label and the environment, spec_target_selector())? A
 * record that is not (a foreign Secret in a target's way, read by name) may
 * be stale: it is read again before it decides anything. */
static bool watched(const secret_rec *r, const reconcile_plan_target *t) {
  return r->managed_by_us && r->env != NULL && strcmp(r->env, t->environment) == 0;
}

/* Does live (a cache record) hold exactly data? */
static bool same_data(const secret_rec *live, json_t *data) {
  uint8_t want[32];
  data_digest(want, data);
  return os_secure_equal(live->digest, want, sizeof(want));
}

/* True when live (a cache record) already equals what we would write. */
static bool up_to_date(const secret_rec *live, const reconcile_plan_target *t, json_t *data,
                       const char *checksum) {
  char sum[65];
  os_hex_encode(sum, live->checksum, sizeof(live->checksum));
  bool same_app = (t->application == NULL && live->app == NULL) ||
                  (t->application && live->app && strcmp(live->app, t->application) == 0);
  return same_data(live, data) && live->has_checksum && strcmp(sum, checksum) == 0 &&
         live->opaque && same_app && live->part_of && owned_by(live, t);
}

/* A merge patch that brings live (a cache record) to data, our labels and
 * checksum, with resourceVersion as precondition; keys live has and data
 * lacks are removed (null). */
static json_t *update_patch(const secret_rec *live, const reconcile_plan_target *t, json_t *data,
                            const char *checksum) {
  char sum[80];
  snprintf(sum, sizeof(sum), "hmac-sha256:%s", checksum);
  json_t *d = json_deep_copy(data);
  const char *name = live->keys;
  for (size_t i = 0; i < live->n_keys; i++, name += strlen(name) + 1) {
    if (json_object_get(d, name) == NULL)
      json_object_set_new(d, name, json_null());
  }
  json_t *labels = json_object();
  if (labels == NULL || put_labels(labels, t, true) != 0) {
    json_decref(labels);
    json_decref(d);
    return NULL;
  }
  return json_pack("{s:{s:s,s:o,s:{s:s}},s:o}", "metadata", "resourceVersion", live->rv, "labels",
                   labels, "annotations", SPEC_ANNOTATION_CHECKSUM, sum, "data", d);
}

static void emit(reconcile_kubesync_event_fn fn, void *ctx, reconcile_kubesync_event_kind kind,
                 const char *ns, const char *name, const char *kind_name, const char *uid,
                 const reconcile_plan_target *t, const char *msg) {
  if (fn == NULL)
    return;
  reconcile_kubesync_event ev = {kind, ns, name, kind_name, uid, t, msg};
  fn(ctx, &ev);
}

/* The path of a Secret (name NULL: of the namespace's Secrets), names
 * escaped: one from the API server cannot change the request's path. */
static int secret_path(char **out, const char *ns, const char *name, os_error *err) {
  int rc = kube_object_path(out, "/api/v1", ns, "secrets", name, NULL, err);
  return rc < 0 ? os_error_prefix(err, "secret %s/%s", ns, name ? name : "") : 0;
}

typedef struct run_state {
  reconcile_kubesync_result *res;
  kube_client *k;
  reconcile_kubesync_cache *cache;
  const reconcile_plan *p;
  bool rollout;
  const inject_options *inject;
  reconcile_kubesync_event_fn on_event;
  void *ctx;
  json_t *wanted; /* "ns/name" set */
  int first_rc;
  os_error *err;
  json_t *workloads[3]; /* listed once per pass, when a Secret first changes */
  bool listed[3];
} run_state;

static void note_failure(run_state *st, int rc, const os_error *e) {
  st->res->failed++;
  if (st->first_rc == 0) {
    st->first_rc = rc;
    os_error_set(st->err, rc, "%s", e->msg);
  }
}

static int rollout_namespace(run_state *st, const char *ns, const char *secret, const char *sum,
                             os_error *err);

/* Reads the live Secret (404: NULL), records it in the cache and returns it
 * whole; the caller decrefs. */
static int read_live(run_state *st, const char *item, const char *key, json_t **out) {
  *out = NULL;
  os_error ge = OS_ERROR_INIT;
  int g = kube_get(st->k, item, out, &ge);
  if (g == 0) {
    reconcile_kubesync_cache_apply(st->cache, "MODIFIED", *out);
    return 0;
  }
  if (g == OS_ENOTFOUND) {
    cache_forget(st->cache, key, NULL);
    return 0;
  }
  note_failure(st, g, &ge);
  return g;
}

/* One write to bring live (a copy of the cached record, NULL: none) to
 * data: a create, a merge patch with live's resourceVersion as
 * precondition, or, for an immutable Secret holding other data, a delete
 * of that version and a create. *out gets what the API server answered. */
static int write_secret(run_state *st, const reconcile_plan_target *t, const char *ns,
                        const char *key, const char *item, const secret_rec *live, json_t *data,
                        const char *sum, bool recreate, json_t **out, os_error *e) {
  bool update = live != NULL;
  int rc = 0;
  if (recreate) {
    /* no patch may change an immutable Secret's data: delete the version
     * read (precondition) and create it again */
    rc = kube_delete(st->k, item, live->rv, e);
    if (rc == 0 || rc == OS_ENOTFOUND) {
      cache_forget(st->cache, key, live->rv);
      update = false;
      rc = 0;
    }
  }
  if (rc < 0)
    return rc;
  if (update) {
    json_t *patch = update_patch(live, t, data, sum);
    rc = patch ? kube_patch(st->k, item, "application/merge-patch+json", patch, out, e)
               : os_error_set(e, OS_ENOMEM, "out of memory");
    json_decref(patch);
    return rc;
  }
  char *coll = NULL;
  json_t *obj = json_object();
  rc = secret_path(&coll, ns, NULL, e);
  if (rc == 0)
    rc = obj && stamp(obj, t, ns, data, sum) == 0 ? kube_create(st->k, coll, obj, out, e)
                                                  : os_error_set(e, OS_ENOMEM, "out of memory");
  json_decref(obj);
  free(coll);
  return rc;
}

/* Brings one (target, namespace) Secret to its desired content. The cache
 * lock is taken only to copy a record out or to record an answer. */
static void sync_one(run_state *st, const reconcile_plan_target *t, const char *ns) {
  char key[600];
  if (cache_key(key, sizeof(key), ns, t->secret_name) < 0)
    return;
  json_object_set_new(st->wanted, key, json_true());
  os_error e = OS_ERROR_INIT;
  char *item = NULL;
  secret_rec *live = NULL;
  bool changed = false;
  char sum[65] = {0};
  /* values the plan keeps from the live Secret need the live data */
  bool need_values = t->n_kept > 0 || t->keep_unknown, invalid_reread = false;
  json_t *full = NULL;
  int rc = secret_path(&item, ns, t->secret_name, &e);
  if (rc == 0)
    rc = cache_copy(&live, st->cache, key);
  if (rc < 0) {
    note_failure(st, rc, &e);
    goto done;
  }
  /* a read (of one the watch may not keep current, or for its values)
   * replaces the cached record: copy it again */
  bool reread = live != NULL && (need_values || !watched(live, t));
  if (reread && read_live(st, item, key, &full) < 0)
    goto done;
  if (!need_values) {
    json_decref(full);
    full = NULL;
  }
  for (int attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    if (reread) {
      free(live);
      if (cache_copy(&live, st->cache, key) < 0) {
        note_failure(st, os_error_set(&e, OS_ENOMEM, "out of memory"), &e);
        break;
      }
      reread = false;
    }
    json_t *data = desired_data(t, full);
    rc = data ? reconcile_kubesync_checksum(sum, st->p->checksum_key, data, &e) : OS_ENOMEM;
    if (rc < 0) {
      json_decref(data);
      note_failure(st, rc, &e);
      break;
    }
    if (live != NULL && !owned_by(live, t)) {
      st->res->conflicts++;
      emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_CONFLICT, ns, t->secret_name, "Secret",
           live->uid, t,
           "a Secret with this name exists and is not managed by orgsecrets; left untouched");
      json_decref(data);
      if (st->first_rc == 0) {
        st->first_rc = OS_ECONFLICT;
        os_error_set(st->err, OS_ECONFLICT, "secret %s/%s is not owned by orgsecrets", ns,
                     t->secret_name);
      }
      break;
    }
    if (live != NULL && up_to_date(live, t, data, sum)) {
      st->res->unchanged++;
      json_decref(data);
      break;
    }
    json_t *out = NULL;
    bool update = live != NULL, recreate = update && live->immutable && !same_data(live, data);
    rc = write_secret(st, t, ns, key, item, live, data, sum, recreate, &out, &e);
    json_decref(data);
    if (rc == 0) {
      if (out != NULL)
        reconcile_kubesync_cache_apply(st->cache, "MODIFIED", out);
      if (recreate) {
        st->res->recreated++;
        emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_RECREATED, ns, t->secret_name, "Secret",
             meta_str(out, "uid"), t,
             "the Secret was immutable and held other data: deleted and created again");
      } else {
        *(update ? &st->res->updated : &st->res->created) += 1;
        emit(st->on_event, st->ctx,
             update ? RECONCILE_KUBESYNC_UPDATED : RECONCILE_KUBESYNC_CREATED, ns, t->secret_name,
             "Secret", meta_str(out, "uid"), t, update ? "updated" : "created");
      }
      json_decref(out);
      changed = true;
      break;
    }
    json_decref(out);
    if (rc == OS_ENOTFOUND && (!update || recreate)) {
      st->res->missing_namespaces++;
      emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_NAMESPACE_MISSING, ns, t->secret_name,
           "Secret", NULL, t, "namespace not found; skipped");
      if (st->first_rc == 0) {
        st->first_rc = OS_ENOTFOUND;
        os_error_set(st->err, OS_ENOTFOUND, "namespace %s not found", ns);
      }
      break;
    }
    if (rc == OS_ECONFLICT || rc == OS_ENOTFOUND ||
        (rc == OS_EINVAL && update && !recreate && !invalid_reread)) {
      /* someone else wrote (409) or deleted it (404 on update), or made it
       * immutable since we looked (422): read again, retry */
      invalid_reread = invalid_reread || rc == OS_EINVAL;
      json_decref(full);
      full = NULL;
      reread = true;
      if (read_live(st, item, key, &full) < 0)
        break;
      if (!need_values) {
        json_decref(full);
        full = NULL;
      }
      if (attempt + 1 == MAX_CONFLICT_RETRIES) {
        os_error_set(&e, OS_ECONFLICT, "secret %s/%s: still conflicting after %d attempts", ns,
                     t->secret_name, MAX_CONFLICT_RETRIES);
        note_failure(st, OS_ECONFLICT, &e);
      }
      continue;
    }
    emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_FAILED, ns, t->secret_name, "Secret", NULL, t,
         e.msg);
    note_failure(st, rc, &e);
    break;
  }
  if (changed && st->rollout) {
    os_error re = OS_ERROR_INIT;
    int r = rollout_namespace(st, ns, t->secret_name, sum, &re);
    if (r < 0)
      note_failure(st, r, &re);
  }
done:
  free(live);
  json_decref(full);
  free(item);
}

/* Deletes owned Secrets of (org, env) that no target wants any more. */
static void delete_unwanted(run_state *st) {
  const reconcile_plan_target *t0 = &st->p->targets[0];
  if (t0->keep_unknown)
    return;
  secret_rec **victims = NULL; /* copies: the watch may change the table meanwhile */
  size_t n = 0, cap = 0;
  bool oom = false;
  pthread_mutex_lock(&st->cache->mu);
  for (secret_rec *r = st->cache->secrets.head; r != NULL && !oom; r = r->next) {
    char key[600];
    if (cache_key(key, sizeof(key), r->ns, r->name) < 0 ||
        json_object_get(st->wanted, key) != NULL || !owned_by(r, t0))
      continue;
    secret_rec *c =
        os_grow(&victims, &cap, n + 1, sizeof(*victims), SIZE_MAX) == 0 ? rec_copy(r) : NULL;
    if (c == NULL)
      oom = true;
    else
      victims[n++] = c;
  }
  pthread_mutex_unlock(&st->cache->mu);
  if (oom) {
    os_error e = OS_ERROR_INIT;
    note_failure(st, os_error_set(&e, OS_ENOMEM, "out of memory"), &e);
  }
  for (size_t i = 0; i < n; i++) {
    const secret_rec *r = victims[i];
    char key[600], *item = NULL;
    os_error e = OS_ERROR_INIT;
    int rc = secret_path(&item, r->ns, r->name, &e);
    if (rc == 0)
      rc = kube_delete(st->k, item, r->rv, &e);
    if (rc == 0 || rc == OS_ENOTFOUND) {
      if (rc == 0) {
        st->res->deleted++;
        emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_DELETED, r->ns, r->name, "Secret", r->uid,
             NULL, "deleted: no longer wanted by any spec");
      }
      if (cache_key(key, sizeof(key), r->ns, r->name) == 0)
        cache_forget(st->cache, key, r->rv);
    } else {
      /* a 409 here means it changed under us; the next pass looks again */
      note_failure(st, rc, &e);
    }
    free(item);
    free(victims[i]);
  }
  free(victims);
}

/* Does a pod template use the Secret named secret? */
static bool template_uses(const json_t *tmpl, const char *secret) {
  json_t *spec = json_object_get(tmpl, "spec");
  size_t i, j;
  json_t *v;
  json_array_foreach(json_object_get(spec, "volumes"), i, v) {
    const char *s = json_string_value(json_object_get(json_object_get(v, "secret"), "secretName"));
    if (s && strcmp(s, secret) == 0)
      return true;
  }
  const char *lists[] = {"containers", "initContainers"};
  for (size_t l = 0; l < 2; l++) {
    json_t *c;
    json_array_foreach(json_object_get(spec, lists[l]), i, c) {
      json_t *e;
      json_array_foreach(json_object_get(c, "env"), j, e) {
        const char *s = json_string_value(json_object_get(
            json_object_get(json_object_get(e, "valueFrom"), "secretKeyRef"), "name"));
        if (s && strcmp(s, secret) == 0)
          return true;
      }
      json_array_foreach(json_object_get(c, "envFrom"), j, e) {
        const char *s = json_string_value(json_object_get(json_object_get(e, "secretRef"), "name"));
        if (s && strcmp(s, secret) == 0)
          return true;
      }
    }
  }
  return false;
}

/* What the webhook's review of a pod made from a template resolves to,
 * compared with one Secret. */
typedef struct inject_probe {
  const inject_options *inner;
  const char *secret;
  bool uses;
} inject_probe;

static int probe_resolve(void *ctx, const char *ns, const char *name, char **secret_name) {
  inject_probe *pr = ctx;
  int rc = pr->inner->resolve(pr->inner->ctx, ns, name, secret_name);
  if (rc == 0 && strcmp(*secret_name, pr->secret) == 0)
    pr->uses = true;
  return rc;
}

static int probe_list(void *ctx, const char *ns, char ***names, size_t *n) {
  inject_probe *pr = ctx;
  int rc = pr->inner->list(pr->inner->ctx, ns, names, n);
  for (size_t i = 0; rc == 0 && i < *n; i++)
    if (strcmp((*names)[i], pr->secret) == 0)
      pr->uses = true;
  return rc;
}

/* Would the webhook inject a value of the Secret named secret into a pod of
 * this template in namespace ns? The webhook's review runs on the template
 * (opted in by its orgsecrets.io/inject label), so references resolve
 * exactly as they will when its pods are created. */
static bool template_injects(const json_t *tmpl, const char *ns, const char *secret,
                             const inject_options *inject) {
  json_t *meta = json_object_get(tmpl, "metadata");
  const char *opt =
      json_string_value(json_object_get(json_object_get(meta, "labels"), INJECT_LABEL_INJECT));
  if (inject == NULL || inject->resolve == NULL || opt == NULL || strcmp(opt, "true") != 0)
    return false;
  json_t *review = json_pack(
      "{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:{s:s,s:s,s:O,s:O}}}", "apiVersion",
      "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "rollout", "kind",
      "group", "", "version", "v1", "kind", "Pod", "operation", "CREATE", "namespace", ns, "object",
      "apiVersion", "v1", "kind", "Pod", "metadata", meta, "spec", json_object_get(tmpl, "spec"));
  inject_probe pr = {inject, secret, false};
  inject_options o = {probe_resolve, inject->list ? probe_list : NULL, &pr};
  json_t *resp = NULL;
  os_error err = OS_ERROR_INIT;
  if (review != NULL)
    (void)inject_review_opts(&resp, review, &o, &err); /* a refused pod uses what resolved before */
  json_decref(resp);
  json_decref(review);
  return pr.uses;
}

static bool opted_in(const json_t *obj) {
  json_t *meta = json_object_get(obj, "metadata");
  const char *l = json_string_value(
      json_object_get(json_object_get(meta, "labels"), RECONCILE_KUBESYNC_RELOAD));
  const char *a = json_string_value(
      json_object_get(json_object_get(meta, "annotations"), RECONCILE_KUBESYNC_RELOAD));
  return (l && strcmp(l, "true") == 0) || (a && strcmp(a, "true") == 0);
}

/* Annotation key on the pod template for one Secret: keys' name part is at
 * most 63 characters, so long Secret names are shortened with a digest. */
static void rollout_key(char *out, size_t n, const char *secret) {
  size_t len = strlen(secret);
  if (len <= 63) {
    snprintf(out, n, "checksum.orgsecrets.io/%s", secret);
    return;
  }
  unsigned char md[32];
  unsigned int mdl = 0;
  EVP_Digest(secret, len, md, &mdl, EVP_sha256(), NULL);
  snprintf(out, n, "checksum.orgsecrets.io/%.50s-%02x%02x%02x%02x%02x%02x", secret, md[0], md[1],
           md[2], md[3], md[4], md[5]);
}

static int rollout_namespace(run_state *st, const char *ns, const char *secret, const char *sum,
                             os_error *err) {
  static const char *kinds[][2] = {
      {"deployments", "Deployment"}, {"statefulsets", "StatefulSet"}, {"daemonsets", "DaemonSet"}};
  char ann_key[200];
  rollout_key(ann_key, sizeof(ann_key), secret);
  char value[80];
  snprintf(value, sizeof(value), "hmac-sha256:%s", sum);
  int first = 0;
  for (size_t k = 0; k < 3; k++) {
    if (!st->listed[k]) {
      /* one cluster-wide list per kind and pass, however many Secrets change */
      char all[64];
      snprintf(all, sizeof(all), "/apis/apps/v1/%s", kinds[k][0]);
      char *rv = NULL;
      os_error e = OS_ERROR_INIT;
      int rc = kube_list(st->k, all, NULL, &st->workloads[k], &rv, &e);
      free(rv);
      st->listed[k] = true;
      if (rc < 0) {
        st->workloads[k] = NULL;
        if (rc != OS_ENOTFOUND && first == 0) {
          first = rc;
          os_error_set(err, rc, "%s", e.msg);
        }
      }
    }
    json_t *items = st->workloads[k];
    size_t i;
    json_t *w;
    json_array_foreach(items, i, w) {
      json_t *tmpl = json_object_get(json_object_get(w, "spec"), "template");
      const char *wns = meta_str(w, "namespace");
      if (wns == NULL || strcmp(wns, ns) != 0 || !opted_in(w) ||
          !(template_uses(tmpl, secret) || template_injects(tmpl, ns, secret, st->inject)))
        continue;
      const char *cur = json_string_value(json_object_get(
          json_object_get(json_object_get(tmpl, "metadata"), "annotations"), ann_key));
      if (cur && strcmp(cur, value) == 0)
        continue;
      const char *name = meta_str(w, "name");
      char *item = NULL;
      os_error pe = OS_ERROR_INIT;
      json_t *patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "template", "metadata",
                                "annotations", ann_key, value);
      int prc = patch == NULL ? os_error_set(&pe, OS_ENOMEM, "out of memory")
                : name == NULL
                    ? os_error_set(&pe, OS_EINVAL, "a %s in %s has no name", kinds[k][1], ns)
                    : kube_object_path(&item, "/apis/apps/v1", ns, kinds[k][0], name, NULL, &pe);
      if (prc == 0)
        prc = kube_patch(st->k, item, "application/merge-patch+json", patch, NULL, &pe);
      json_decref(patch);
      free(item);
      if (prc == 0) {
        st->res->rollouts++;
        emit(st->on_event, st->ctx, RECONCILE_KUBESYNC_ROLLOUT, ns, name, kinds[k][1],
             meta_str(w, "uid"), NULL, "pod template annotated to roll out a changed Secret");
      } else if (first == 0) {
        first = prc;
        os_error_set(err, prc, "%s", pe.msg);
      }
    }
  }
  return first;
}

int reconcile_kubesync_run(reconcile_kubesync_result *res, kube_client *k,
                           reconcile_kubesync_cache *cache, const reconcile_plan *p, bool rollout,
                           const inject_options *inject, reconcile_kubesync_event_fn on_event,
                           void *ctx, os_error *err) {
  memset(res, 0, sizeof(*res));
  run_state st;
  memset(&st, 0, sizeof(st));
  st.res = res;
  st.k = k;
  st.cache = cache;
  st.p = p;
  st.rollout = rollout;
  st.inject = inject;
  st.on_event = on_event;
  st.ctx = ctx;
  st.wanted = json_object();
  st.err = err;
  if (st.wanted == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->n_targets; i++) {
    const reconcile_plan_target *t = &p->targets[i];
    for (size_t n = 0; n < t->n_namespaces; n++)
      sync_one(&st, t, t->namespaces[n]);
  }
  delete_unwanted(&st);
  json_decref(st.wanted);
  for (size_t w = 0; w < 3; w++)
    json_decref(st.workloads[w]);
  return st.first_rc;
}
