/* import: the variables of a dotenv file as secrets of one environment,
 * every one checked before the first is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "envfile/envfile.h"
#include "org/org.h"
#include "org/org_internal.h"

static bool allowed(const org_import_opts *o, const char *name) {
  for (size_t i = 0; i < o->n_allowed; i++) {
    if (strcmp(o->allowed[i], name) == 0)
      return true;
  }
  return false;
}

static org_secret_opts secret_opts(const org_import_opts *o, const envfile_entry *e) {
  return (org_secret_opts){.environment = o->environment,
                           .application = o->application,
                           .name = e->name,
                           .visible_to_viewers = ORG_KEEP,
                           .state = ORG_KEEP,
                           .value = e->value,
                           .value_len = e->len,
                           .allow_reserved_name = allowed(o, e->name),
                           .mode = o->overwrite ? ORG_SET_UPSERT : ORG_SET_CREATE};
}

/* Every problem of entry i, each passed to c->note as "FILE:LINE: ...";
 * returns how many. */
static size_t check_entry(const org_ctx *c, const spec_tree *t, const org_import_opts *o,
                          const envfile_entry *v, size_t i) {
  const envfile_entry *e = &v[i];
  const char *src = o->source != NULL ? o->source : "import";
  for (size_t k = 0; k < i; k++) {
    if (strcmp(v[k].name, e->name) == 0) {
      org_note(c, "%s:%d: %s is already set on line %d", src, e->line, e->name, v[k].line);
      return 1;
    }
  }
  if (e->len == 0) {
    org_note(c, "%s:%d: %s has an empty value (values are 1 byte to 256 KiB)", src, e->line,
             e->name);
    return 1;
  }
  if (e->len > SPEC_VALUE_MAX) {
    org_note(c, "%s:%d: %s: value larger than %d bytes", src, e->line, e->name, SPEC_VALUE_MAX);
    return 1;
  }
  const org_secret_opts so = secret_opts(o, e);
  os_error err = OS_ERROR_INIT;
  if (org_secret_check(NULL, c, t, &so, &err) < 0) {
    if (err.code == OS_ECONFLICT && !o->overwrite && spec_tree_find_secret(t, o->environment,
                                                                            o->application,
                                                                            e->name) != NULL)
      org_note(c, "%s:%d: %s already exists in %s: pass --overwrite to replace its value", src,
               e->line, e->name, o->environment);
    else
      org_note(c, "%s:%d: %s: %s", src, e->line, e->name, err.msg);
    return 1;
  }
  return 0;
}

int org_import(org_import_result *res, const org_ctx *c, spec_tree *t, const org_import_opts *o,
               const char *data, size_t len, os_error *err) {
  memset(res, 0, sizeof(*res));
  const char *src = o->source != NULL ? o->source : "import";
  envfile_entry *v = NULL;
  size_t n = 0;
  int rc = envfile_parse(&v, &n, data, len, err);
  if (rc < 0)
    return os_error_prefix(err, "%s", src);
  if (n == 0) {
    rc = os_error_set(err, OS_EINVAL, "%s: no NAME=value line", src);
    goto done;
  }
  /* the environment, the application and the role once, not once per line */
  const spec_member *who = NULL;
  if (spec_org_find_env(t->org, o->environment) == NULL) {
    rc = os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                      o->environment, t->org->id);
    goto done;
  }
  if (o->application != NULL && spec_org_find_app(t->org, o->application) == NULL) {
    rc = os_error_set(err, OS_ENOTFOUND, "application %s is not defined in organization %s",
                      o->application, t->org->id);
    goto done;
  }
  if ((rc = org_require(&who, c, t, ORG_ACTION_WRITE, err)) < 0)
    goto done;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    bad += check_entry(c, t, o, v, i);
  if (bad > 0) {
    rc = os_error_set(err, OS_EINVAL, "%zu problem(s) in %s (see above); nothing was imported",
                      bad, src);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const org_secret_opts so = secret_opts(o, &v[i]);
    org_set_result r;
    if ((rc = org_secret_set(&r, c, t, &so, err)) < 0) {
      os_error_prefix(err, "%s:%d: %s (%zu secret(s) imported before it)", src, v[i].line,
                      v[i].name, res->created + res->updated);
      goto done;
    }
    if (r.created)
      res->created++;
    else if (r.changed)
      res->updated++;
    else
      res->unchanged++;
  }
done:
  envfile_entries_free(v, n);
  return rc;
}
