/* Delivery targets: the names, labels and scopes of what secrets are
 * delivered into (spec.h, "Delivery targets"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec.h"

int spec_target_of(spec_target *t, const spec_org *o, const char *env, const char *app,
                   os_error *err) {
  memset(t, 0, sizeof(*t));
  const spec_environment *e = spec_org_find_env(o, env);
  if (e == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s", env,
                        o->id);
  const spec_application *a = NULL;
  if (app != NULL && (a = spec_org_find_app(o, app)) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "application %s is not defined in organization %s", app,
                        o->id);
  t->org = o;
  t->env = e;
  t->app = a;
  return 0;
}

/* The concatenation of the strings up to NULL; caller frees. */
static char *join(const char *first, ...) {
  os_buf b;
  os_buf_init(&b, 4096, false);
  va_list ap;
  va_start(ap, first);
  int rc = 0;
  for (const char *s = first; s != NULL && rc == 0; s = va_arg(ap, const char *))
    rc = os_buf_puts(&b, s);
  va_end(ap);
  char *out = NULL;
  if (rc < 0 || os_buf_detach(&out, NULL, &b) < 0)
    out = NULL;
  os_buf_free(&b);
  return out;
}

char *spec_target_secret_name(const spec_target *t) {
  if (t->app != NULL)
    return t->app->secret_name ? os_strdup(t->app->secret_name)
                               : join(t->app->name, "-secrets", NULL);
  return t->env->secret_name ? os_strdup(t->env->secret_name) : join(t->org->id, "-secrets", NULL);
}

char *spec_target_env_file(const spec_target *t) {
  if (t->app != NULL)
    return join(t->org->id, "-", t->env->name, "-", t->app->name, ".env", NULL);
  return t->env->env_file ? os_strdup(t->env->env_file)
                          : join(t->org->id, "-", t->env->name, ".env", NULL);
}

int spec_target_namespaces(const char ***out, size_t *n_out, const spec_target *t) {
  *out = NULL;
  *n_out = 0;
  size_t cap = t->app != NULL ? t->app->n_namespaces : t->env->n_namespaces;
  if (t->app == NULL)
    for (size_t i = 0; i < t->org->n_apps; i++)
      cap += t->org->apps[i].n_namespaces;
  const char **v = calloc(cap ? cap : 1, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  size_t n = 0;
  /* the environment's (or the application's) first, then, for the
   * organization-level unit, every application's, each namespace once */
  for (size_t pass = 0; pass <= (t->app == NULL ? t->org->n_apps : 0); pass++) {
    char *const *src = pass == 0 ? (t->app != NULL ? t->app->namespaces : t->env->namespaces)
                                 : t->org->apps[pass - 1].namespaces;
    size_t m = pass == 0 ? (t->app != NULL ? t->app->n_namespaces : t->env->n_namespaces)
                         : t->org->apps[pass - 1].n_namespaces;
    for (size_t i = 0; i < m; i++) {
      bool seen = false;
      for (size_t k = 0; k < n && !seen; k++)
        seen = strcmp(v[k], src[i]) == 0;
      if (!seen)
        v[n++] = src[i];
    }
  }
  *out = v;
  *n_out = n;
  return 0;
}

size_t spec_target_labels(spec_label out[SPEC_TARGET_LABELS_MAX], const spec_target *t) {
  size_t n = 0;
  out[n++] = (spec_label){SPEC_LABEL_MANAGED_BY, SPEC_MANAGER};
  out[n++] = (spec_label){SPEC_LABEL_PART_OF, SPEC_MANAGER};
  out[n++] = (spec_label){SPEC_LABEL_ORG, t->org->id};
  out[n++] = (spec_label){SPEC_LABEL_ENV, t->env->name};
  if (t->app != NULL)
    out[n++] = (spec_label){SPEC_LABEL_APP, t->app->name};
  return n;
}

char *spec_target_selector(const char *org, const char *env) {
  if (org == NULL)
    return join(SPEC_LABEL_MANAGED_BY "=" SPEC_MANAGER "," SPEC_LABEL_ENV "=", env, NULL);
  return join(SPEC_LABEL_MANAGED_BY "=" SPEC_MANAGER "," SPEC_LABEL_ORG "=", org,
              "," SPEC_LABEL_ENV "=", env, NULL);
}

static bool same(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool spec_target_holds(const spec_target *t, const spec_secret_ref *s) {
  return same(s->organization, t->org->id) && same(s->environment, t->env->name) &&
         same(s->application, t->app ? t->app->name : NULL);
}

typedef struct pick {
  const char *name;
  size_t idx;
  bool app; /* application-level */
} pick;

static int cmp_pick(const void *a, const void *b) {
  const pick *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c != 0)
    return c;
  if (x->app != y->app)
    return x->app ? -1 : 1; /* the application's first: it wins */
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int spec_target_view(size_t *out, size_t *n_out, const spec_target *t,
                     const spec_secret_ref *const *refs, size_t n) {
  *n_out = 0;
  pick *v = calloc(n ? n : 1, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const spec_secret_ref *s = refs[i];
    if (!same(s->organization, t->org->id) || !same(s->environment, t->env->name) ||
        s->name == NULL)
      continue;
    bool app = s->application != NULL;
    if (app && (t->app == NULL || strcmp(s->application, t->app->name) != 0))
      continue;
    v[k++] = (pick){s->name, i, app};
  }
  if (k > 1)
    qsort(v, k, sizeof(*v), cmp_pick);
  size_t m = 0;
  for (size_t i = 0; i < k; i++)
    if (m == 0 || strcmp(v[i].name, refs[out[m - 1]]->name) != 0)
      out[m++] = v[i].idx;
  free(v);
  *n_out = m;
  return 0;
}
