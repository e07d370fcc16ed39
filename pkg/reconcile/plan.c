#include "reconcile/plan.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "seal/seal.h"

static const char CHECKSUM_LABEL[] = "orgsecrets.io/checksum/v1";

const char *reconcile_plan_reason_for(int code) {
  switch (code) {
  case OS_ENOIDENTITY: return "NotRecipient";
  case OS_EBINDING: return "BindingMismatch";
  case OS_EARMOR:
  case OS_EHEADER:
  case OS_EHMAC:
  case OS_EPAYLOAD:
  case OS_ECRYPTO: return "IntegrityError";
  default: return "InvalidSpec";
  }
}

int reconcile_plan_checksum_key(uint8_t key[32], const age_identity *id, os_error *err) {
  char *enc = NULL;
  int rc = age_identity_encode(&enc, id, err);
  if (rc < 0)
    return rc;
  unsigned int len = 32;
  unsigned char *r =
      HMAC(EVP_sha256(), enc, (int)strlen(enc), (const unsigned char *)CHECKSUM_LABEL,
           sizeof(CHECKSUM_LABEL) - 1, key, &len);
  os_free_secret_str(enc);
  if (r == NULL || len != 32)
    return os_error_set(err, OS_ECRYPTO, "checksum key derivation failed");
  return 0;
}

/* One allocation per value: the entry with the value after it. */
typedef struct cache_entry {
  struct cache_entry *next;
  uint8_t digest[32];
  uint32_t len;
  bool used;
  uint8_t value[];
} cache_entry;

struct reconcile_plan_cache {
  cache_entry **buckets;
  size_t n_buckets, n;
  size_t unseals;      /* by the builds since the last sweep */
  size_t last_unseals; /* by the builds of the last pass */
};

int reconcile_plan_cache_new(reconcile_plan_cache **out, os_error *err) {
  reconcile_plan_cache *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->buckets = calloc(1024, sizeof(*c->buckets))) == NULL) {
    free(c);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  c->n_buckets = 1024;
  *out = c;
  return 0;
}

static void entry_free(cache_entry *e) { os_free_secret(e, sizeof(*e) + e->len); }

void reconcile_plan_cache_free(reconcile_plan_cache *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_buckets; i++) {
    for (cache_entry *e = c->buckets[i], *next; e != NULL; e = next) {
      next = e->next;
      entry_free(e);
    }
  }
  free(c->buckets);
  free(c);
}

size_t reconcile_plan_cache_size(const reconcile_plan_cache *c) { return c ? c->n : 0; }
size_t reconcile_plan_cache_last_unseals(const reconcile_plan_cache *c) {
  return c ? c->last_unseals : 0;
}

static size_t bucket_of(const reconcile_plan_cache *c, const uint8_t d[32]) {
  size_t h = 0;
  memcpy(&h, d, sizeof(h));
  return h & (c->n_buckets - 1);
}

static cache_entry *cache_find(reconcile_plan_cache *c, const uint8_t d[32]) {
  for (cache_entry *e = c->buckets[bucket_of(c, d)]; e != NULL; e = e->next)
    if (memcmp(e->digest, d, 32) == 0) /* checksrc: public: digests of names and ciphertexts */
      return e;
  return NULL;
}

static void cache_grow(reconcile_plan_cache *c) {
  size_t nb = c->n_buckets * 2;
  cache_entry **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i < c->n_buckets; i++) {
    for (cache_entry *e = c->buckets[i], *next; e != NULL; e = next) {
      next = e->next;
      size_t h = 0;
      memcpy(&h, e->digest, sizeof(h));
      e->next = b[h & (nb - 1)];
      b[h & (nb - 1)] = e;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = nb;
}

static cache_entry *cache_put(reconcile_plan_cache *c, const uint8_t d[32], const uint8_t *v,
                              size_t len) {
  if (len > UINT32_MAX)
    return NULL;
  if (c->n >= c->n_buckets)
    cache_grow(c);
  cache_entry *e = malloc(sizeof(*e) + len);
  if (e == NULL)
    return NULL;
  memcpy(e->digest, d, 32);
  memcpy(e->value, v, len);
  e->len = (uint32_t)len;
  e->used = true;
  size_t b = bucket_of(c, d);
  e->next = c->buckets[b];
  c->buckets[b] = e;
  c->n++;
  return e;
}

void reconcile_plan_cache_sweep(reconcile_plan_cache *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_buckets; i++) {
    cache_entry **pp = &c->buckets[i];
    while (*pp != NULL) {
      cache_entry *e = *pp;
      if (!e->used) {
        *pp = e->next;
        entry_free(e);
        c->n--;
      } else {
        e->used = false;
        pp = &e->next;
      }
    }
  }
  c->last_unseals = c->unseals;
  c->unseals = 0;
}

void reconcile_plan_secret_digest(uint8_t d[32], const spec_secret *s) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  const char *parts[] = {s->organization, s->environment, s->application ? s->application : "",
                         s->name, s->encrypted_value ? s->encrypted_value : ""};
  unsigned int n = 0;
  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    memset(d, 0, 32);
    EVP_MD_CTX_free(ctx);
    return;
  }
  for (size_t i = 0; i < 5; i++)
    EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
  EVP_DigestFinal_ex(ctx, d, &n);
  EVP_MD_CTX_free(ctx);
}

int reconcile_plan_cache_prefetch(reconcile_plan_cache *c, const uint8_t digest[32],
                                  const spec_secret *s, const age_identity *const *ids,
                                  size_t n_ids) {
  cache_entry *hit = cache_find(c, digest);
  if (hit != NULL) {
    hit->used = true;
    return 0;
  }
  if (s->encrypted_value == NULL)
    return OS_EINVAL;
  uint8_t *value = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  int rc = seal_unseal(&value, &len, s, ids, n_ids, &err);
  if (rc < 0)
    return rc;
  cache_entry *e = cache_put(c, digest, value, len);
  os_free_secret(value, len);
  return e != NULL ? 0 : OS_ENOMEM;
}

void reconcile_plan_secret_of(reconcile_plan_secret *r, const spec_secret *s,
                              const uint8_t *digest) {
  memset(r, 0, sizeof(*r));
  spec_secret_ref_of(&r->ref, s);
  r->state = (uint8_t)s->state;
  r->visible_to_viewers = s->visible_to_viewers;
  r->spec = s;
  if (digest != NULL) {
    memcpy(r->digest, digest, sizeof(r->digest));
    r->has_digest = true;
  }
}

static void target_free(reconcile_plan_target *t) {
  free(t->organization);
  free(t->environment);
  free(t->application);
  free(t->secret_name);
  for (size_t i = 0; i < t->n_namespaces; i++)
    free(t->namespaces[i]);
  free(t->namespaces);
  free(t->env_file);
  free(t->entries); /* names and values are borrowed */
  free(t->kept);
}

void reconcile_plan_free(reconcile_plan *p) {
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n_targets; i++)
    target_free(&p->targets[i]);
  free(p->targets);
  for (size_t i = 0; i < p->n_failures; i++) {
    free(p->failures[i].resource);
    free(p->failures[i].environment);
    free(p->failures[i].name);
    free(p->failures[i].message);
  }
  free(p->failures);
  free(p->results);
  reconcile_plan_cache_free(p->own_cache);
  OPENSSL_cleanse(p->checksum_key, sizeof(p->checksum_key));
  free(p);
}

static char **dup_strings(const char *const *v, size_t n) {
  char **out = calloc(n ? n : 1, sizeof(*out));
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if ((out[i] = os_strdup(v[i])) == NULL) {
      for (size_t j = 0; j < i; j++)
        free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

/* A target of the unit: its names are spec_target_*()'s (the ones `render`
 * uses too), copied; the unit itself is borrowed. */
static int init_target(reconcile_plan_target *t, const spec_target *unit) {
  t->unit = *unit;
  t->organization = os_strdup(unit->org->id);
  t->environment = os_strdup(unit->env->name);
  t->application = unit->app != NULL ? os_strdup(unit->app->name) : NULL;
  t->secret_name = spec_target_secret_name(unit);
  t->env_file = spec_target_env_file(unit);
  const char **namespaces = NULL;
  if (spec_target_namespaces(&namespaces, &t->n_namespaces, unit) < 0)
    return OS_ENOMEM;
  t->namespaces = dup_strings(namespaces, t->n_namespaces);
  free(namespaces);
  if (t->organization == NULL || t->environment == NULL || t->secret_name == NULL ||
      t->namespaces == NULL || t->env_file == NULL || (unit->app != NULL && t->application == NULL))
    return OS_ENOMEM;
  return 0;
}

/* Targets by application name; index 0 is the organization-level one. */
static reconcile_plan_target *target_for(reconcile_plan *p, json_t *by_app, const char *app) {
  if (app == NULL)
    return &p->targets[0];
  json_t *i = json_object_get(by_app, app);
  return i ? &p->targets[json_integer_value(i)] : NULL;
}

/* How many keys s is sealed to that a does not authorize for it: from the
 * source's ','-separated list, else from its spec (0 when neither is known). */
static uint32_t unauthorized_keys(const seal_authorized *a, const reconcile_plan_secret *s) {
  size_t bad = 0, missing = 0;
  if (s->recipients != NULL)
    seal_authorized_compare_list(&bad, &missing, a, s->visible_to_viewers, s->recipients);
  else if (s->spec != NULL)
    seal_authorized_compare(&bad, &missing, a, s->visible_to_viewers, s->spec->recipients,
                            s->spec->n_recipients);
  return bad > UINT32_MAX ? UINT32_MAX : (uint32_t)bad;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const reconcile_plan_entry *)a)->name, ((const reconcile_plan_entry *)b)->name);
}

/* Records a failure of result res (growing the array); failures stay in
 * result order. */
static int add_failure(reconcile_plan *p, size_t *cap, const reconcile_plan_secret *s,
                       const char *reason, int code, const char *msg,
                       reconcile_plan_secret_result *res) {
  if (p->n_failures == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    reconcile_plan_failure *v = realloc(p->failures, nc * sizeof(*v));
    if (v == NULL)
      return OS_ENOMEM;
    p->failures = v;
    *cap = nc;
  }
  reconcile_plan_failure *f = &p->failures[p->n_failures];
  memset(f, 0, sizeof(*f));
  p->n_failures++;
  spec_secret_ref named = s->ref;
  named.organization = named.organization ? named.organization : "-";
  named.environment = named.environment ? named.environment : "-";
  named.name = named.name ? named.name : "-";
  f->resource = spec_secret_ref_resource_name(&named);
  f->environment = os_strdup(s->ref.environment);
  f->name = os_strdup(s->ref.name);
  f->message = os_strdup(msg);
  if (f->resource == NULL || (s->ref.environment && !f->environment) || (s->ref.name && !f->name) ||
      f->message == NULL)
    return OS_ENOMEM;
  f->reason = reason;
  f->code = code;
  f->result = (size_t)(res - p->results);
  return 0;
}

int reconcile_plan_build(reconcile_plan **out, const reconcile_plan_input *in, os_error *err) {
  *out = NULL;
  const spec_org *org = in->org;
  spec_target unit;
  int rc = spec_target_of(&unit, org, in->environment, NULL, err);
  if (rc < 0)
    return rc;
  reconcile_plan *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  json_t *by_app = NULL;
  size_t *counts = NULL;
  seal_authorized authorized;
  if (seal_authorized_init(&authorized, org, in->environment, err) < 0) {
    seal_authorized_clear(&authorized);
    free(p);
    return err->code;
  }
  reconcile_plan_cache *cache = in->cache;
  if (cache == NULL) {
    if (reconcile_plan_cache_new(&p->own_cache, err) < 0) {
      seal_authorized_clear(&authorized);
      free(p);
      return err->code;
    }
    cache = p->own_cache;
  }
  size_t n = in->n_secrets;
  p->targets = calloc(org->n_apps + 1, sizeof(*p->targets));
  size_t failures_cap = 0;
  p->results = calloc(n ? n : 1, sizeof(*p->results));
  if (p->targets == NULL || p->results == NULL)
    goto oom;
  p->n_targets = org->n_apps + 1;
  if (init_target(&p->targets[0], &unit) < 0)
    goto oom;
  for (size_t i = 0; i < org->n_apps; i++) {
    spec_target app = {org, unit.env, &org->apps[i]};
    if (init_target(&p->targets[i + 1], &app) < 0)
      goto oom;
  }
  by_app = json_object();
  if (by_app == NULL)
    goto oom;
  for (size_t i = 1; i < p->n_targets; i++)
    if (json_object_set_new(by_app, p->targets[i].application, json_integer((json_int_t)i)) < 0)
      goto oom;
  /* size each target for exactly the secrets that can land in it */
  counts = calloc(p->n_targets, sizeof(*counts));
  if (counts == NULL)
    goto oom;
  for (size_t i = 0; i < n; i++) {
    const reconcile_plan_secret *s = in->secrets[i];
    const spec_secret_ref *r = &s->ref;
    if (r->environment == NULL || strcmp(r->environment, in->environment) != 0)
      continue;
    reconcile_plan_target *t = target_for(p, by_app, r->application);
    if (t != NULL)
      counts[t - p->targets]++;
  }
  for (size_t i = 0; i < p->n_targets; i++) {
    p->targets[i].entries = calloc(counts[i] ? counts[i] : 1, sizeof(reconcile_plan_entry));
    if (p->targets[i].entries == NULL)
      goto oom;
  }
  for (size_t i = 0; i < n; i++) {
    const reconcile_plan_secret *s = in->secrets[i];
    const spec_secret_ref *r = &s->ref;
    if (r->environment == NULL || strcmp(r->environment, in->environment) != 0 ||
        r->organization == NULL || strcmp(r->organization, org->id) != 0)
      continue;
    reconcile_plan_secret_result *res = &p->results[p->n_results++];
    res->secret = s;
    /* find the cached value first and keep it alive even when the secret is
     * not delivered this time (its ciphertext may no longer be in memory) */
    uint8_t digest[32];
    cache_entry *hit = NULL;
    bool have_digest = false;
    if (s->has_digest) {
      memcpy(digest, s->digest, sizeof(digest));
      have_digest = true;
    } else if (s->spec != NULL && s->spec->encrypted_value != NULL) {
      reconcile_plan_secret_digest(digest, s->spec);
      have_digest = true;
    }
    if (have_digest && s->value == NULL) {
      hit = cache_find(cache, digest);
      if (hit != NULL)
        hit->used = true;
    }
    reconcile_plan_target *t = target_for(p, by_app, r->application);
    if (t == NULL) {
      p->incomplete = true; /* its application's Secret keeps its values */
      res->reason = "InvalidSpec";
      char msg[OS_ERROR_MSG_MAX];
      snprintf(msg, sizeof(msg), "application %s is not defined", r->application);
      if (add_failure(p, &failures_cap, s, res->reason, OS_EINVAL, msg, res) < 0)
        goto oom;
      continue;
    }
    /* delivered all the same: whoever holds such a key can read the value
     * from Git already, and withholding it would only break applications */
    res->unauthorized = unauthorized_keys(&authorized, s);
    if (res->unauthorized > 0)
      p->n_unauthorized++;
    if (s->state == SPEC_STATE_DISABLED) {
      res->reason = "Disabled";
      p->n_disabled++;
      continue;
    }
    p->n_active++;
    const uint8_t *value = s->value; /* held open by the source, else from the cache */
    size_t len = s->value_len;
    if (value == NULL) {
      os_error uerr = OS_ERROR_INIT;
      int urc = 0;
      if (hit == NULL) {
        uint8_t *opened = NULL;
        size_t opened_len = 0;
        if (s->spec == NULL || s->spec->encrypted_value == NULL || !have_digest)
          urc = os_error_set(&uerr, OS_EINVAL, "%s/%s: the ciphertext is no longer in memory",
                             r->environment, r->name);
        else
          urc = seal_unseal(&opened, &opened_len, s->spec, in->ids, in->n_ids, &uerr);
        cache->unseals++;
        if (urc == 0) {
          hit = cache_put(cache, digest, opened, opened_len);
          os_free_secret(opened, opened_len);
          if (hit == NULL)
            goto oom;
        }
      }
      if (urc < 0) {
        res->reason = reconcile_plan_reason_for(urc);
        if (add_failure(p, &failures_cap, s, res->reason, urc, uerr.msg, res) < 0)
          goto oom;
        if (t->kept == NULL && (t->kept = calloc(counts[t - p->targets], sizeof(char *))) == NULL)
          goto oom; /* sized on the first failure only */
        t->kept[t->n_kept++] = r->name;
        continue;
      }
      if (hit == NULL)
        goto oom; /* not reached: an unseal that worked put its value in the cache */
      value = hit->value;
      len = hit->len;
    }
    res->reason = "Synced";
    reconcile_plan_entry *e = &t->entries[t->n_entries++];
    e->name = r->name;
    e->value = value;
    e->len = len;
  }
  p->incomplete = in->incomplete || p->incomplete;
  for (size_t i = 0; i < p->n_targets; i++) {
    reconcile_plan_target *t = &p->targets[i];
    qsort(t->entries, t->n_entries, sizeof(*t->entries), cmp_entry);
    t->keep_unknown = p->incomplete;
  }
  memcpy(p->checksum_key, in->checksum_key, sizeof(p->checksum_key));
  seal_authorized_clear(&authorized);
  json_decref(by_app);
  free(counts);
  *out = p;
  return 0;
oom:
  rc = os_error_set(err, OS_ENOMEM, "out of memory");
  seal_authorized_clear(&authorized);
  json_decref(by_app);
  free(counts);
  reconcile_plan_free(p);
  return rc;
}

const char *reconcile_plan_result_message(const reconcile_plan *p,
                                          const reconcile_plan_secret_result *r) {
  if (strcmp(r->reason, "Synced") == 0)
    return "";
  if (strcmp(r->reason, "Disabled") == 0)
    return "secret is disabled and not delivered";
  size_t want = (size_t)(r - p->results), lo = 0, hi = p->n_failures;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->failures[mid].result == want)
      return p->failures[mid].message;
    if (p->failures[mid].result < want)
      lo = mid + 1;
    else
      hi = mid;
  }
  return "";
}

void reconcile_plan_unauthorized_message(char *out, size_t size,
                                         const reconcile_plan_secret_result *r) {
  snprintf(out, size,
           "sealed to %u key(s) the organization does not authorize for it (a member removed "
           "or a key rotated on another branch?): whoever holds one can read the value from "
           "Git; run `orgsecrets rekey`, then rotate the value",
           (unsigned)r->unauthorized);
}

int reconcile_plan_envfile_render(os_buf *out, const reconcile_plan_entry *entries, size_t n,
                                  os_error *err) {
  os_buf_reset(out);
  for (size_t i = 0; i < n; i++) {
    int rc = envfile_append(out, entries[i].name, entries[i].value, entries[i].len, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}
