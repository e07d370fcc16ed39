#include "metrics/metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

const double metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1.0,  2.5,   5.0,  10.0};
const size_t metrics_default_buckets_len =
    sizeof(metrics_default_buckets) / sizeof(metrics_default_buckets[0]);

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

#define HASH_SLOTS 1024u
#define LINEAR_MAX 32u /* children found by a scan until a family has this many */

typedef struct child {
  struct child *hash_next;
  char **values;
  size_t n_values;
  double value;       /* counter/gauge value */
  double sum;         /* histogram */
  uint64_t count;     /* histogram */
  uint64_t *buckets;  /* histogram, per-bucket (not cumulative) counts */
} child;

struct metrics_family {
  enum kind kind;
  char *name;
  char *help;
  char **label_names;
  size_t n_labels;
  double *bounds;
  size_t n_bounds;
  pthread_mutex_t mu;
  child **items;
  size_t n_items;
  size_t cap_items;
  child **slots; /* HASH_SLOTS chains, allocated at the LINEAR_MAX-th child */
};

struct metrics_registry {
  pthread_mutex_t *mu; /* a pointer so that const registries can be locked */
  metrics_family **families; /* sorted by name */
  size_t n_families;
  size_t cap_families;
};

static bool valid_name(const char *s, bool colon) {
  if (s == NULL || s[0] == '\0')
    return false;
  for (size_t i = 0; s[i] != '\0'; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

static void child_free(child *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_values; i++)
    free(c->values[i]);
  free(c->values);
  free(c->buckets);
  free(c);
}

static void family_clear_children(metrics_family *f) {
  for (size_t i = 0; i < f->n_items; i++)
    child_free(f->items[i]);
  f->n_items = 0;
  if (f->slots != NULL)
    memset(f->slots, 0, HASH_SLOTS * sizeof(*f->slots));
}

static void family_free(metrics_family *f) {
  if (f == NULL)
    return;
  family_clear_children(f);
  free(f->items);
  free(f->slots);
  for (size_t i = 0; i < f->n_labels; i++)
    free(f->label_names[i]);
  free(f->label_names);
  free(f->bounds);
  free(f->name);
  free(f->help);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

int metrics_registry_new(metrics_registry **out, os_error *err) {
  *out = NULL;
  metrics_registry *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return os_error_set(err, OS_ENOMEM, "metrics: out of memory");
  r->mu = malloc(sizeof(*r->mu));
  if (r->mu == NULL) {
    free(r);
    return os_error_set(err, OS_ENOMEM, "metrics: out of memory");
  }
  pthread_mutex_init(r->mu, NULL);
  *out = r;
  return 0;
}

void metrics_registry_free(metrics_registry *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n_families; i++)
    family_free(r->families[i]);
  free(r->families);
  pthread_mutex_destroy(r->mu);
  free(r->mu);
  free(r);
}

static uint64_t hash_values(const char *const *values, size_t n) {
  static const unsigned char sep = 0xff; /* ("a","b") differs from ("ab","") */
  uint64_t h = OS_FNV1A64_INIT;
  for (size_t i = 0; i < n; i++)
    h = os_fnv1a64(os_fnv1a64(h, values[i], strlen(values[i])), &sep, 1);
  return h;
}

static bool check_values(const metrics_family *f, const char *const *values) {
  if (f->n_labels > 0 && values == NULL)
    return false;
  for (size_t i = 0; i < f->n_labels; i++) {
    if (values[i] == NULL || strlen(values[i]) > METRICS_MAX_LABEL_VALUE)
      return false;
  }
  return true;
}

static bool same_values(const child *c, const char *const *values, size_t n) {
  size_t i = 0;
  while (i < n && strcmp(c->values[i], values[i]) == 0)
    i++;
  return i == n;
}

/* Finds or creates the child; called with f->mu held. NULL with *rc set. */
static child *child_get(metrics_family *f, const char *const *values, bool create, int *rc) {
  *rc = 0;
  if (f->n_labels == 0) {
    if (f->n_items > 0)
      return f->items[0];
  } else if (f->slots != NULL) {
    uint64_t h = hash_values(values, f->n_labels) % HASH_SLOTS;
    for (child *c = f->slots[h]; c != NULL; c = c->hash_next)
      if (same_values(c, values, f->n_labels))
        return c;
  } else { /* a few children: no table yet */
    for (size_t k = 0; k < f->n_items; k++)
      if (same_values(f->items[k], values, f->n_labels))
        return f->items[k];
  }
  if (!create) {
    *rc = OS_ENOTFOUND;
    return NULL;
  }
  if (f->n_items >= METRICS_MAX_CHILDREN) {
    *rc = OS_ENOMEM;
    return NULL;
  }
  if (f->n_labels > 0 && f->slots == NULL && f->n_items >= LINEAR_MAX) {
    f->slots = calloc(HASH_SLOTS, sizeof(*f->slots));
    if (f->slots == NULL)
      goto nomem;
    for (size_t k = 0; k < f->n_items; k++) {
      child *o = f->items[k];
      uint64_t h = hash_values((const char *const *)o->values, f->n_labels) % HASH_SLOTS;
      o->hash_next = f->slots[h];
      f->slots[h] = o;
    }
  }
  if (os_grow(&f->items, &f->cap_items, f->n_items + 1, sizeof(*f->items), SIZE_MAX) < 0)
    goto nomem;
  child *c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto nomem;
  if (f->n_labels > 0) {
    c->values = calloc(f->n_labels, sizeof(*c->values));
    if (c->values == NULL) {
      free(c);
      goto nomem;
    }
    c->n_values = f->n_labels;
    for (size_t i = 0; i < f->n_labels; i++) {
      c->values[i] = os_strdup(values[i]);
      if (c->values[i] == NULL) {
        child_free(c);
        goto nomem;
      }
    }
  }
  if (f->kind == KIND_HISTOGRAM) {
    c->buckets = calloc(f->n_bounds + 1, sizeof(*c->buckets));
    if (c->buckets == NULL) {
      child_free(c);
      goto nomem;
    }
  }
  f->items[f->n_items++] = c;
  if (f->slots != NULL) {
    uint64_t h = hash_values(values, f->n_labels) % HASH_SLOTS;
    c->hash_next = f->slots[h];
    f->slots[h] = c;
  }
  return c;
nomem:
  *rc = OS_ENOMEM;
  return NULL;
}

static int family_new(metrics_family **out, metrics_registry *r, enum kind kind,
                      const char *name, const char *help, const char *const *label_names,
                      size_t n_labels, const double *buckets, size_t n_buckets, os_error *err) {
  int rc = 0;
  metrics_family *f = NULL;
  *out = NULL;
  if (!valid_name(name, true))
    return os_error_set(err, OS_EINVAL, "metrics: invalid metric name \"%s\"",
                        name ? name : "(null)");
  if (n_labels > METRICS_MAX_LABELS || (n_labels > 0 && label_names == NULL))
    return os_error_set(err, OS_EINVAL, "metrics: %s: bad label list", name);
  for (size_t i = 0; i < n_labels; i++) {
    const char *l = label_names[i];
    if (!valid_name(l, false) || strncmp(l, "__", 2) == 0 ||
        (kind == KIND_HISTOGRAM && strcmp(l, "le") == 0))
      return os_error_set(err, OS_EINVAL, "metrics: %s: invalid label name \"%s\"", name,
                          l ? l : "(null)");
    for (size_t j = 0; j < i; j++) {
      if (strcmp(l, label_names[j]) == 0)
        return os_error_set(err, OS_EINVAL, "metrics: %s: duplicate label name \"%s\"",
                            name, l);
    }
  }
  if (kind == KIND_HISTOGRAM) {
    if (buckets == NULL || n_buckets == 0) {
      buckets = metrics_default_buckets;
      n_buckets = metrics_default_buckets_len;
    }
    if (n_buckets > METRICS_MAX_BUCKETS)
      return os_error_set(err, OS_EINVAL, "metrics: %s: too many buckets", name);
    for (size_t i = 0; i < n_buckets; i++) {
      if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
        return os_error_set(err, OS_EINVAL,
                            "metrics: %s: buckets must be finite and strictly increasing",
                            name);
    }
  }

  f = calloc(1, sizeof(*f));
  if (f == NULL)
    goto nomem;
  pthread_mutex_init(&f->mu, NULL);
  f->kind = kind;
  f->name = os_strdup(name);
  f->help = os_strdup(help ? help : "");
  if (f->name == NULL || f->help == NULL)
    goto nomem;
  if (n_labels > 0) {
    f->label_names = calloc(n_labels, sizeof(*f->label_names));
    if (f->label_names == NULL)
      goto nomem;
    f->n_labels = n_labels;
    for (size_t i = 0; i < n_labels; i++) {
      f->label_names[i] = os_strdup(label_names[i]);
      if (f->label_names[i] == NULL)
        goto nomem;
    }
  }
  if (kind == KIND_HISTOGRAM) {
    f->bounds = malloc(n_buckets * sizeof(*f->bounds));
    if (f->bounds == NULL)
      goto nomem;
    memcpy(f->bounds, buckets, n_buckets * sizeof(*f->bounds));
    f->n_bounds = n_buckets;
  }
  if (n_labels == 0) {
    int crc;
    if (child_get(f, NULL, true, &crc) == NULL)
      goto nomem;
  }

  pthread_mutex_lock(r->mu);
  size_t pos = 0;
  while (pos < r->n_families && strcmp(r->families[pos]->name, name) < 0)
    pos++;
  if (pos < r->n_families && strcmp(r->families[pos]->name, name) == 0) {
    pthread_mutex_unlock(r->mu);
    rc = os_error_set(err, OS_ECONFLICT, "metrics: %s: already registered", name);
    goto done;
  }
  if (os_grow(&r->families, &r->cap_families, r->n_families + 1, sizeof(*r->families),
              SIZE_MAX) < 0) {
    pthread_mutex_unlock(r->mu);
    goto nomem;
  }
  memmove(&r->families[pos + 1], &r->families[pos],
          (r->n_families - pos) * sizeof(*r->families));
  r->families[pos] = f;
  r->n_families++;
  pthread_mutex_unlock(r->mu);
  *out = f;
  f = NULL;
done:
  family_free(f);
  return rc;
nomem:
  rc = os_error_set(err, OS_ENOMEM, "metrics: out of memory");
  goto done;
}

int metrics_counter_new(metrics_family **out, metrics_registry *r, const char *name,
                        const char *help, const char *const *label_names, size_t n_labels,
                        os_error *err) {
  return family_new(out, r, KIND_COUNTER, name, help, label_names, n_labels, NULL, 0, err);
}

int metrics_gauge_new(metrics_family **out, metrics_registry *r, const char *name,
                      const char *help, const char *const *label_names, size_t n_labels,
                      os_error *err) {
  return family_new(out, r, KIND_GAUGE, name, help, label_names, n_labels, NULL, 0, err);
}

int metrics_histogram_new(metrics_family **out, metrics_registry *r, const char *name,
                          const char *help, const char *const *label_names, size_t n_labels,
                          const double *buckets, size_t n_buckets, os_error *err) {
  return family_new(out, r, KIND_HISTOGRAM, name, help, label_names, n_labels, buckets,
                    n_buckets, err);
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static int update(metrics_family *f, const char *const *values, enum op op, double v) {
  if (f == NULL || !check_values(f, values))
    return OS_EINVAL;
  switch (op) {
  case OP_ADD:
    if (f->kind == KIND_HISTOGRAM || (f->kind == KIND_COUNTER && !(v >= 0)))
      return OS_EINVAL;
    break;
  case OP_SET:
    if (f->kind != KIND_GAUGE)
      return OS_EINVAL;
    break;
  case OP_OBSERVE:
    if (f->kind != KIND_HISTOGRAM)
      return OS_EINVAL;
    break;
  }
  int rc;
  pthread_mutex_lock(&f->mu);
  child *c = child_get(f, values, true, &rc);
  if (c != NULL) {
    switch (op) {
    case OP_ADD:
      c->value += v;
      break;
    case OP_SET:
      c->value = v;
      break;
    case OP_OBSERVE: {
      size_t i = 0;
      while (i < f->n_bounds && !(v <= f->bounds[i]))
        i++;
      c->buckets[i]++;
      c->count++;
      c->sum += v;
      break;
    }
    }
  }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

int metrics_counter_add(metrics_family *f, const char *const *label_values, double delta) {
  return update(f, label_values, OP_ADD, delta);
}
int metrics_counter_inc(metrics_family *f, const char *const *label_values) {
  return update(f, label_values, OP_ADD, 1.0);
}
int metrics_gauge_set(metrics_family *f, const char *const *label_values, double v) {
  return update(f, label_values, OP_SET, v);
}
int metrics_gauge_add(metrics_family *f, const char *const *label_values, double delta) {
  if (f != NULL && f->kind != KIND_GAUGE)
    return OS_EINVAL;
  return update(f, label_values, OP_ADD, delta);
}
int metrics_histogram_observe(metrics_family *f, const char *const *label_values, double v) {
  return update(f, label_values, OP_OBSERVE, v);
}

int metrics_counter_inc1(metrics_family *f, const char *value) {
  const char *v[1] = {value};
  return metrics_counter_inc(f, v);
}
int metrics_gauge_set1(metrics_family *f, const char *value, double v) {
  const char *vals[1] = {value};
  return metrics_gauge_set(f, vals, v);
}
int metrics_histogram_observe1(metrics_family *f, const char *value, double v) {
  const char *vals[1] = {value};
  return metrics_histogram_observe(f, vals, v);
}

void metrics_family_reset(metrics_family *f) {
  if (f == NULL)
    return;
  pthread_mutex_lock(&f->mu);
  family_clear_children(f);
  if (f->n_labels == 0) {
    int rc;
    (void)child_get(f, NULL, true, &rc);
  }
  pthread_mutex_unlock(&f->mu);
}

int metrics_value_get(double *out, metrics_family *f, const char *const *label_values) {
  *out = 0;
  if (f == NULL || !check_values(f, label_values))
    return OS_EINVAL;
  int rc;
  pthread_mutex_lock(&f->mu);
  child *c = child_get(f, label_values, false, &rc);
  if (c != NULL)
    *out = f->kind == KIND_HISTOGRAM ? (double)c->count : c->value;
  pthread_mutex_unlock(&f->mu);
  return rc;
}

/* Shortest text that reads back as v, as Prometheus clients print floats. */
static void format_double(char *out, size_t cap, double v) {
  if (isnan(v)) {
    snprintf(out, cap, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    return;
  }
  int digits = 17;
  for (int d = 1; d <= 17; d++) {
    snprintf(out, cap, "%.*e", d - 1, v);
    if (strtod(out, NULL) == v) {
      digits = d;
      break;
    }
  }
  const char *e = strchr(out, 'e');
  long exp10 = e != NULL ? strtol(e + 1, NULL, 10) : 0;
  /* Plain notation for ordinary magnitudes ("160000", not "1.6e+05"). */
  if (exp10 >= -4 && exp10 < 21 && exp10 + 1 > digits)
    digits = (int)exp10 + 1;
  snprintf(out, cap, "%.*g", digits, v);
}

static int put_escaped(os_buf *b, const char *s, bool quote) {
  int rc = 0;
  for (const char *p = s; *p != '\0' && rc == 0; p++) {
    if (*p == '\\')
      rc = os_buf_puts(b, "\\\\");
    else if (*p == '\n')
      rc = os_buf_puts(b, "\\n");
    else if (quote && *p == '"')
      rc = os_buf_puts(b, "\\\"");
    else
      rc = os_buf_append(b, p, 1);
  }
  return rc;
}

/* {a="x",b="y"[,le="..."]}, or nothing when there are no labels at all. */
static int put_labels(os_buf *b, const metrics_family *f, const child *c, const char *le) {
  int rc = 0;
  if (f->n_labels == 0 && le == NULL)
    return 0;
  rc = os_buf_puts(b, "{");
  for (size_t i = 0; i < f->n_labels && rc == 0; i++) {
    rc = os_buf_printf(b, "%s%s=\"", i > 0 ? "," : "", f->label_names[i]);
    if (rc == 0)
      rc = put_escaped(b, c->values[i], true);
    if (rc == 0)
      rc = os_buf_puts(b, "\"");
  }
  if (rc == 0 && le != NULL)
    rc = os_buf_printf(b, "%sle=\"%s\"", f->n_labels > 0 ? "," : "", le);
  if (rc == 0)
    rc = os_buf_puts(b, "}");
  return rc;
}

static int sample(os_buf *b, const metrics_family *f, const char *suffix, const child *c,
                  const char *le, double v) {
  char num[40];
  format_double(num, sizeof(num), v);
  int rc = os_buf_printf(b, "%s%s", f->name, suffix);
  if (rc == 0)
    rc = put_labels(b, f, c, le);
  if (rc == 0)
    rc = os_buf_printf(b, " %s\n", num);
  return rc;
}

static int compare_children(const void *pa, const void *pb) {
  const child *a = *(const child *const *)pa;
  const child *b = *(const child *const *)pb;
  for (size_t i = 0; i < a->n_values; i++) {
    int c = strcmp(a->values[i], b->values[i]);
    if (c != 0)
      return c;
  }
  return 0;
}

static int render_family(os_buf *b, metrics_family *f) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  int rc = os_buf_printf(b, "# HELP %s ", f->name);
  if (rc == 0)
    rc = put_escaped(b, f->help, false);
  if (rc == 0)
    rc = os_buf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->kind]);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&f->mu);
  if (f->n_items > 1)
    qsort(f->items, f->n_items, sizeof(*f->items), compare_children);
  for (size_t i = 0; i < f->n_items && rc == 0; i++) {
    const child *c = f->items[i];
    if (f->kind != KIND_HISTOGRAM) {
      rc = sample(b, f, "", c, NULL, c->value);
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t k = 0; k <= f->n_bounds && rc == 0; k++) {
      char le[40];
      if (k < f->n_bounds)
        format_double(le, sizeof(le), f->bounds[k]);
      else
        snprintf(le, sizeof(le), "+Inf");
      cumulative += c->buckets[k];
      rc = sample(b, f, "_bucket", c, le, (double)cumulative);
    }
    if (rc == 0)
      rc = sample(b, f, "_sum", c, NULL, c->sum);
    if (rc == 0)
      rc = sample(b, f, "_count", c, NULL, (double)c->count);
  }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

int metrics_render(os_buf *out, const metrics_registry *r) {
  int rc = 0;
  pthread_mutex_lock(r->mu);
  for (size_t i = 0; i < r->n_families && rc == 0; i++)
    rc = render_family(out, r->families[i]);
  pthread_mutex_unlock(r->mu);
  return rc;
}
