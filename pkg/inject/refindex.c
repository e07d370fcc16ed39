#include "inject/refindex.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

typedef struct ref_entry {
  const char *ns, *name, *secret;
  uint32_t seq; /* order of appearance */
  uint8_t app;  /* 1: an application's target */
} ref_entry;

/* A (namespace, name) pair and its Secret, as offsets into the strings. */
typedef struct ref_slot {
  uint32_t ns, name, secret;
} ref_slot;

struct inject_refindex {
  ref_slot *refs; /* sorted by (ns, name); one per pair */
  size_t n_refs;
  const char **lists;   /* secret names, grouped by namespace */
  const char **list_ns; /* the namespace of each lists[i], sorted */
  size_t n_lists;
  char *strings; /* every string above, equal neighbours shared */
  bool has_fingerprint;
  uint8_t fingerprint[32]; /* of the deliveries (inject_refindex_same) */
};

static int cmp_ref(const void *a, const void *b) {
  const ref_entry *x = a, *y = b;
  int c = strcmp(x->ns, y->ns);
  if (c == 0)
    c = strcmp(x->name, y->name);
  if (c == 0)
    c = (int)x->app - (int)y->app;
  if (c == 0)
    c = x->seq < y->seq ? -1 : x->seq > y->seq;
  return c;
}

/* Lists: (namespace, secret) in target order, sorted by namespace then order. */
typedef struct list_entry {
  const char *ns, *secret;
  uint32_t seq;
} list_entry;

static int cmp_list(const void *a, const void *b) {
  const list_entry *x = a, *y = b;
  int c = strcmp(x->ns, y->ns);
  return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

void inject_refindex_free(inject_refindex *x) {
  if (x == NULL)
    return;
  free(x->refs);
  free(x->lists);
  free(x->list_ns);
  free(x->strings);
  free(x);
}

/* Packs strings into the block, sharing a string equal to the previous one
 * of the same kind; with base NULL it only counts the bytes. */
typedef struct packer {
  char *base;
  size_t used;
  const char *last[3]; /* per kind: the previous source string */
  size_t last_off[3];  /* and where it went */
} packer;

static size_t pack_str(packer *p, int kind, const char *s) {
  if (kind >= 0 && p->last[kind] != NULL && strcmp(p->last[kind], s) == 0)
    return p->last_off[kind];
  size_t off = p->used, n = strlen(s) + 1;
  if (p->base != NULL)
    memcpy(p->base + off, s, n);
  p->used += n;
  if (kind >= 0) {
    p->last[kind] = s;
    p->last_off[kind] = off;
  }
  return off;
}

static void put_len(EVP_MD_CTX *h, size_t n) {
  uint64_t v = (uint64_t)n;
  EVP_DigestUpdate(h, &v, sizeof(v));
}

static void put_str(EVP_MD_CTX *h, const char *s) {
  size_t n = strlen(s);
  put_len(h, n);
  EVP_DigestUpdate(h, s, n);
}

/* SHA-256 over every (namespace, name, Secret) delivered, in order, each
 * string and list length-prefixed; false when hashing is unavailable (the
 * index is then always rebuilt). */
static bool fingerprint(uint8_t out[32], const inject_delivery *v, size_t n) {
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(h);
    return false;
  }
  put_len(h, n);
  for (size_t i = 0; i < n; i++) {
    const inject_delivery *d = &v[i];
    put_len(h, d->application);
    put_str(h, d->secret);
    put_len(h, d->n_namespaces);
    for (size_t s = 0; s < d->n_namespaces; s++)
      put_str(h, d->namespaces[s]);
    put_len(h, d->n_names);
    for (size_t e = 0; e < d->n_names; e++)
      put_str(h, d->name(d->names_ctx, e));
  }
  unsigned int len = 0;
  bool ok = EVP_DigestFinal_ex(h, out, &len) == 1 && len == 32;
  EVP_MD_CTX_free(h);
  return ok;
}

bool inject_refindex_same(const inject_refindex *x, const inject_delivery *v, size_t n) {
  uint8_t now[32];
  return x != NULL && x->has_fingerprint && fingerprint(now, v, n) &&
         memcmp(now, x->fingerprint, sizeof(now)) == 0; /* checksrc: public: a digest of names */
}

int inject_refindex_build(inject_refindex **out, const inject_delivery *dv, size_t n_dv,
                          os_error *err) {
  *out = NULL;
  size_t n = 0, nl = 0;
  for (size_t i = 0; i < n_dv; i++) {
    size_t pairs;
    if (!os_size_mul(&pairs, dv[i].n_namespaces, dv[i].n_names) || !os_size_add(&n, n, pairs) ||
        !os_size_add(&nl, nl, dv[i].n_namespaces))
      return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  inject_refindex *x = calloc(1, sizeof(*x));
  ref_entry *v = calloc(n ? n : 1, sizeof(*v));
  list_entry *l = calloc(nl ? nl : 1, sizeof(*l));
  if (x == NULL || v == NULL || l == NULL || n > UINT32_MAX || nl > UINT32_MAX) {
    free(x);
    free(v);
    free(l);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  size_t k = 0, kl = 0;
  for (size_t i = 0; i < n_dv; i++) {
    const inject_delivery *d = &dv[i];
    for (size_t s = 0; s < d->n_namespaces; s++) {
      l[kl] = (list_entry){d->namespaces[s], d->secret, (uint32_t)kl};
      kl++;
      for (size_t e = 0; e < d->n_names; e++) {
        v[k] = (ref_entry){d->namespaces[s], d->name(d->names_ctx, e), d->secret, (uint32_t)k,
                           d->application};
        k++;
      }
    }
  }
  qsort(v, n, sizeof(*v), cmp_ref);
  qsort(l, nl, sizeof(*l), cmp_list);
  /* one entry per (ns, name): the last application's, else the first
   * organization-level one */
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && strcmp(v[j + 1].ns, v[i].ns) == 0 && strcmp(v[j + 1].name, v[i].name) == 0)
      j++;
    v[w++] = v[j].app ? v[j] : v[i];
    i = j + 1;
  }
  n = w;
  /* copy the strings into one block of the exact size (counted first),
   * sharing runs of equal ones */
  packer p = {NULL, 0, {NULL, NULL, NULL}, {0, 0, 0}};
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      x->strings = malloc(p.used ? p.used : 1);
      x->refs = malloc((n ? n : 1) * sizeof(*x->refs));
      x->lists = calloc(nl ? nl : 1, sizeof(*x->lists));
      x->list_ns = calloc(nl ? nl : 1, sizeof(*x->list_ns));
      if (x->strings == NULL || x->refs == NULL || x->lists == NULL || x->list_ns == NULL ||
          p.used > UINT32_MAX) {
        free(v);
        free(l);
        inject_refindex_free(x);
        return os_error_set(err, OS_ENOMEM, "out of memory");
      }
      p = (packer){x->strings, 0, {NULL, NULL, NULL}, {0, 0, 0}};
    }
    for (size_t i = 0; i < n; i++) {
      ref_slot r = {(uint32_t)pack_str(&p, 0, v[i].ns), (uint32_t)pack_str(&p, -1, v[i].name),
                    (uint32_t)pack_str(&p, 1, v[i].secret)};
      if (pass == 1)
        x->refs[i] = r;
    }
    for (size_t i = 0; i < nl; i++) {
      size_t ns = pack_str(&p, 2, l[i].ns), secret = pack_str(&p, 1, l[i].secret);
      if (pass == 1) {
        x->list_ns[i] = x->strings + ns;
        x->lists[i] = x->strings + secret;
      }
    }
  }
  free(v);
  free(l);
  x->n_refs = n;
  x->n_lists = nl;
  x->has_fingerprint = fingerprint(x->fingerprint, dv, n_dv);
  *out = x;
  return 0;
}

const char *inject_refindex_resolve(const inject_refindex *x, const char *ns, const char *name) {
  size_t lo = 0, hi = x ? x->n_refs : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const ref_slot *r = &x->refs[mid];
    int c = strcmp(x->strings + r->ns, ns);
    if (c == 0)
      c = strcmp(x->strings + r->name, name);
    if (c == 0)
      return x->strings + r->secret;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

size_t inject_refindex_list(const inject_refindex *x, const char *ns, const char *const **names) {
  size_t lo = 0, hi = x ? x->n_lists : 0;
  while (lo < hi) { /* the first list entry of ns */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(x->list_ns[mid], ns) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t end = lo;
  while (x != NULL && end < x->n_lists && strcmp(x->list_ns[end], ns) == 0)
    end++;
  *names = x != NULL ? x->lists + lo : NULL;
  return end - lo;
}

size_t inject_refindex_size(const inject_refindex *x) { return x ? x->n_refs : 0; }
