#include "values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "seal/seal.h"

static int value_cmp(const void *a, const void *b) {
  return strcmp(((const cli_value *)a)->secret->name, ((const cli_value *)b)->secret->name);
}

static bool in_list(const cli_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->v[i], name) == 0)
      return true;
  }
  return false;
}

int cli_values_load(cli_values *out, const spec_tree *t, const char *env, const char *app,
                    enum cli_scope scope, const cli_list *only, const age_identity *const *ids,
                    size_t n_ids, const char *cmd) {
  memset(out, 0, sizeof(*out));
  if (spec_org_find_env(t->org, env) == NULL)
    return cli_failf("%s: environment %s is not defined in organization %s", cmd, env, t->org->id);
  if (app != NULL && spec_org_find_app(t->org, app) == NULL)
    return cli_failf("%s: application %s is not defined in organization %s", cmd, app, t->org->id);
  out->v = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*out->v));
  if (out->v == NULL)
    return cli_failf("%s: out of memory", cmd);
  for (size_t i = 0; i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    if (strcmp(s->environment, env) != 0 || s->state != SPEC_STATE_ACTIVE)
      continue;
    bool in_scope;
    if (s->application == NULL)
      in_scope = scope == CLI_SCOPE_MERGED || app == NULL;
    else
      in_scope = app != NULL && strcmp(s->application, app) == 0;
    if (!in_scope)
      continue;
    if (only != NULL && only->n > 0 && !in_list(only, s->name))
      continue;
    out->v[out->n++].secret = s;
  }
  if (only != NULL) {
    for (size_t k = 0; k < only->n; k++) {
      bool found = false;
      for (size_t i = 0; i < out->n && !found; i++)
        found = strcmp(out->v[i].secret->name, only->v[k]) == 0;
      if (!found) {
        cli_values_free(out);
        return cli_failf("%s: --only %s: no active secret of that name in %s%s%s", cmd,
                         only->v[k], env, app ? " for application " : "", app ? app : "");
      }
    }
  }
  qsort(out->v, out->n, sizeof(*out->v), value_cmp);
  for (size_t i = 0; i < out->n; i++) {
    os_error err = OS_ERROR_INIT;
    cli_value *cv = &out->v[i];
    if (seal_unseal(&cv->value, &cv->len, cv->secret, ids, n_ids, &err) < 0) {
      cli_fail(cmd, &err);
      cv->value = NULL;
      cv->len = 0;
      out->failed++;
    }
  }
  return 0;
}

void cli_values_free(cli_values *vs) {
  if (vs == NULL)
    return;
  for (size_t i = 0; i < vs->n; i++)
    os_free_secret(vs->v[i].value, vs->v[i].len);
  free(vs->v);
  memset(vs, 0, sizeof(*vs));
}
