#include "reconcile/envfiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fsutil.h"

static bool name_in(const char *const *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], name) == 0)
      return true;
  return false;
}

static const reconcile_plan_entry *entry_in(const reconcile_plan_entry *v, size_t n,
                                            const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0)
      return &v[i];
  return NULL;
}

/* A spec author must not be able to make the controller write outside its
 * env-file folder. */
static bool safe_relative(const char *p) {
  if (p == NULL || p[0] == '\0' || p[0] == '/')
    return false;
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if ((n == 2 && s[0] == '.' && s[1] == '.') || n == 0)
      return false;
    s += n;
    if (*s == '/')
      s++;
  }
  return true;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const reconcile_plan_entry *)a)->name, ((const reconcile_plan_entry *)b)->name);
}

/* Desired entries plus what the old file holds for kept names (borrowed
 * pointers into t, base and old). An application's file holds its view:
 * its own entries, then base's (the organization-level target; NULL for
 * that target itself) whose names it does not have, as `run --app` gives. */
static int merge(reconcile_plan_entry **out, size_t *out_n, const reconcile_plan_target *t,
                 const reconcile_plan_target *base, const envfile_entry *old, size_t n_old) {
  size_t n_base = base != NULL ? base->n_entries : 0;
  reconcile_plan_entry *v = calloc(t->n_entries + n_base + n_old + 1, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < t->n_entries; i++)
    v[n++] = t->entries[i];
  for (size_t i = 0; i < n_base; i++) {
    const char *name = base->entries[i].name;
    if (entry_in(t->entries, t->n_entries, name) == NULL && !name_in(t->kept, t->n_kept, name))
      v[n++] = base->entries[i];
  }
  for (size_t i = 0; i < n_old; i++) {
    if (entry_in(v, n, old[i].name) != NULL)
      continue;
    if (name_in(t->kept, t->n_kept, old[i].name) || t->keep_unknown ||
        (base != NULL && name_in(base->kept, base->n_kept, old[i].name)))
      v[n++] = (reconcile_plan_entry){old[i].name, old[i].value, old[i].len};
  }
  qsort(v, n, sizeof(*v), cmp_entry);
  *out = v;
  *out_n = n;
  return 0;
}

int reconcile_envfiles_sync(reconcile_envfiles_result *res, const reconcile_plan *p,
                            const char *dir, reconcile_envfiles_event_fn on_event, void *ctx,
                            os_error *err) {
  memset(res, 0, sizeof(*res));
  int first_rc = 0;
  os_buf text;
  os_buf_init(&text, 64u * 1024 * 1024, true);
  if (os_mkdir_p(dir, 0700, err) < 0) {
    os_buf_free(&text);
    return err->code;
  }
  /* temporary files a killed writer left (the folder is the controller's) */
  (void)os_temps_sweep(dir, &(os_temps_opts){.recursive = true, .remove = true, .legacy = ""}, NULL,
                       NULL);
  for (size_t i = 0; i < p->n_targets; i++) {
    const reconcile_plan_target *t = &p->targets[i];
    os_error ferr = OS_ERROR_INIT;
    char *path = os_path_join(dir, t->env_file);
    envfile_entry *old = NULL;
    reconcile_plan_entry *merged = NULL;
    size_t n_old = 0, n_merged = 0;
    char *data = NULL;
    size_t len = 0;
    int rc = path ? 0 : os_error_set(&ferr, OS_ENOMEM, "out of memory");
    if (rc == 0 && !safe_relative(t->env_file))
      rc = os_error_set(&ferr, OS_EINVAL,
                        "env file %s: must be a relative path below --env-file-dir without ..",
                        t->env_file);
    const reconcile_plan_target *base = t->application != NULL ? &p->targets[0] : NULL;
    if (rc == 0 && (t->n_kept > 0 || t->keep_unknown || (base != NULL && base->n_kept > 0))) {
      int r = os_read_file_below(&data, &len, dir, t->env_file, 64u * 1024 * 1024, &ferr);
      if (r == 0)
        rc = envfile_parse(&old, &n_old, data, len, &ferr);
      else if (r != OS_ENOTFOUND)
        rc = r;
      os_error_clear(&ferr);
      if (rc < 0)
        os_error_set(&ferr, rc, "%s: cannot read the previous values to keep", t->env_file);
    }
    if (rc == 0 && merge(&merged, &n_merged, t, base, old, n_old) < 0)
      rc = os_error_set(&ferr, OS_ENOMEM, "out of memory");
    if (rc == 0)
      rc = reconcile_plan_envfile_render(&text, merged, n_merged, &ferr);
    bool changed = false;
    if (rc == 0)
      rc = os_write_file_below(dir, t->env_file, text.data ? text.data : "", text.len, 0600,
                               &changed, &ferr);
    if (rc < 0) {
      res->failed++;
      if (first_rc == 0) {
        first_rc = rc;
        os_error_set(err, rc, "%s", ferr.msg);
      }
      if (on_event)
        on_event(ctx, t, path ? path : t->env_file, &ferr);
    } else if (changed) {
      res->written++;
      if (on_event)
        on_event(ctx, t, path, NULL);
    } else {
      res->unchanged++;
    }
    free(merged);
    envfile_entries_free(old, n_old);
    os_free_secret(data, len);
    os_buf_reset(&text);
    free(path);
  }
  os_buf_free(&text);
  return first_rc;
}
