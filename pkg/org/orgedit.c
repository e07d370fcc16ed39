/* Removing environments and applications, the organization's rotation
 * policy, and environments and applications as `env list` / `app list`
 * show them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"

size_t org_count_secrets(const spec_tree *t, const char *env, const char *app) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    if ((env == NULL || strcmp(s->environment, env) == 0) &&
        (app == NULL || org_str_eq(s->application, app)))
      n++;
  }
  return n;
}

/* Deletes the secrets of env (or of app) from t and writes their files,
 * before the organization loses what they belong to: a failure half-way
 * leaves fewer secrets, never secrets of an unknown environment. */
static int delete_secrets(const org_ctx *c, spec_tree *t, const char *env, const char *app,
                          size_t n, os_error *err) {
  spec_secret **gone = calloc(n, sizeof(*gone));
  const char **files = calloc(n, sizeof(*files));
  size_t k = 0, kept = 0;
  int rc = gone != NULL && files != NULL ? 0 : os_error_set(err, OS_ENOMEM, "out of memory");
  for (size_t i = 0; rc == 0 && i < t->n_secrets; i++) {
    spec_secret *s = t->secrets[i];
    if (k < n && (env == NULL || strcmp(s->environment, env) == 0) &&
        (app == NULL || org_str_eq(s->application, app)) && s->pos.file != NULL) {
      files[k] = s->pos.file;
      gone[k++] = s;
    } else {
      t->secrets[kept++] = s;
    }
  }
  if (rc == 0) {
    t->n_secrets = kept;
    rc = org_write(c, t, files, k, err);
  }
  for (size_t i = 0; gone != NULL && i < k; i++)
    spec_secret_free(gone[i]);
  free(files);
  free(gone);
  return rc;
}

static void strings_free(char **v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    free(v[i]);
  free(v);
}

static void drop_env(spec_org *o, spec_environment *e) {
  size_t idx = (size_t)(e - o->envs);
  spec_environment gone = *e;
  memmove(&o->envs[idx], &o->envs[idx + 1], (o->n_envs - idx - 1) * sizeof(gone));
  o->n_envs--;
  free(gone.name);
  strings_free(gone.controllers, gone.n_controllers);
  strings_free(gone.namespaces, gone.n_namespaces);
  free(gone.secret_name);
  free(gone.env_file);
  free(gone.pos.file);
}

static void drop_app(spec_org *o, spec_application *a) {
  size_t idx = (size_t)(a - o->apps);
  spec_application gone = *a;
  memmove(&o->apps[idx], &o->apps[idx + 1], (o->n_apps - idx - 1) * sizeof(gone));
  o->n_apps--;
  free(gone.name);
  strings_free(gone.namespaces, gone.n_namespaces);
  free(gone.secret_name);
  free(gone.pos.file);
}

/* Removes environment env or application app (the other NULL). */
static int remove_unit(size_t *deleted, const org_ctx *c, spec_tree *t, const char *env,
                       const char *app, bool delete_secrets_too, os_error *err) {
  *deleted = 0;
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err);
  if (rc < 0)
    return rc;
  spec_org *o = t->org;
  const char *kind = env != NULL ? "environment" : "application";
  const char *name = env != NULL ? env : app;
  spec_environment *e = env != NULL ? spec_org_find_env(o, env) : NULL;
  spec_application *a = app != NULL ? spec_org_find_app(o, app) : NULL;
  if (e == NULL && a == NULL)
    return os_error_set(err, OS_ENOTFOUND, "%s %s is not defined in organization %s", kind, name,
                        o->id);
  size_t n = org_count_secrets(t, env, app);
  if (n > 0 && !delete_secrets_too)
    return os_error_set(err, OS_ECONFLICT,
                        "%s %s still has %zu secret(s): delete them first, or pass "
                        "--delete-secrets to delete them with it", kind, name, n);
  if (n > 0 && (rc = delete_secrets(c, t, env, app, n, err)) < 0)
    return rc;
  *deleted = n;
  if (e != NULL)
    drop_env(o, e);
  else
    drop_app(o, a);
  return org_save_org(c, t, err);
}

int org_env_remove(size_t *deleted, const org_ctx *c, spec_tree *t, const char *name,
                   bool delete_secrets_too, os_error *err) {
  return remove_unit(deleted, c, t, name, NULL, delete_secrets_too, err);
}

int org_app_remove(size_t *deleted, const org_ctx *c, spec_tree *t, const char *name,
                   bool delete_secrets_too, os_error *err) {
  return remove_unit(deleted, c, t, NULL, name, delete_secrets_too, err);
}

int org_set_rotation(const org_ctx *c, spec_tree *t, int days, os_error *err) {
  if (days < 0 || days > SPEC_ROTATION_DAYS_MAX)
    return os_error_set(err, OS_EINVAL, "invalid rotation days %d: must be 0 to %d", days,
                        SPEC_ROTATION_DAYS_MAX);
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err);
  if (rc < 0)
    return rc;
  if (t->org->rotation_days == days)
    return 0;
  t->org->rotation_days = days;
  return org_save_org(c, t, err);
}

static json_t *strings_json(char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++) {
    if (json_array_append_new(a, json_string(v[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static json_t *opt_str(const char *s) { return s != NULL ? json_string(s) : json_null(); }

json_t *org_env_json(const spec_tree *t, const spec_environment *e, bool is_default) {
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:b}", "name", e->name, "controllers",
                   strings_json(e->controllers, e->n_controllers), "namespaces",
                   strings_json(e->namespaces, e->n_namespaces), "secretName",
                   opt_str(e->secret_name), "envFile", opt_str(e->env_file), "secrets",
                   (json_int_t)org_count_secrets(t, e->name, NULL), "default", is_default);
}

json_t *org_app_json(const spec_tree *t, const spec_application *a) {
  return json_pack("{s:s, s:o, s:o, s:I}", "name", a->name, "namespaces",
                   strings_json(a->namespaces, a->n_namespaces), "secretName",
                   opt_str(a->secret_name), "secrets",
                   (json_int_t)org_count_secrets(t, NULL, a->name));
}
