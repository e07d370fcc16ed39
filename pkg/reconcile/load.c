/* Sources into plans: the folder (read through the source cache, values
 * opened as files are read) or the custom resources the informers hold,
 * planned one organization at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"
#include "seal/seal.h"

/* Frees the plans and, for the cluster source, the specs they borrow. */
static void free_plans(reconcile_load *l) {
  for (size_t i = 0; i < l->n_plans; i++)
    reconcile_plan_free(l->plans[i]);
  l->n_plans = 0;
  for (size_t i = 0; i < l->n_orgs; i++)
    spec_org_free(l->orgs[i]);
  free(l->orgs);
  l->orgs = NULL;
  l->n_orgs = 0;
  for (size_t i = 0; i < l->n_secrets; i++)
    spec_secret_free(l->secrets[i]);
  free(l->secrets);
  l->secrets = NULL;
  l->n_secrets = 0;
  free(l->refs);
  l->refs = NULL;
  free(l->refv);
  l->refv = NULL;
}

void reconcile_load_clear(reconcile_load *l) {
  free_plans(l);
  free(l->plans);
  reconcile_plan_cache_free(l->values);
  reconcile_source_cache_free(l->folder);
  memset(l, 0, sizeof(*l));
}

/* A secret just read from the folder: open it now (or skip what this
 * environment never needs) so that its spec can be dropped at once and its
 * value kept in the source's block. A failure keeps the spec: the plan
 * retries it and reports why. */
static int on_secret_read(void *ctx, const spec_secret *s, const uint8_t digest[32],
                          uint8_t **value, size_t *len) {
  reconcile_ctl *c = ctx;
  (void)digest;
  bool mine = s->environment != NULL && strcmp(s->environment, c->o->environment) == 0;
  if (!mine || s->state != SPEC_STATE_ACTIVE)
    return 0;
  os_error err = OS_ERROR_INIT;
  c->load.folder_unseals++;
  return seal_unseal(value, len, s, (const age_identity *const *)c->ids, c->n_ids, &err);
}

int reconcile_load_init(reconcile_ctl *c, os_error *err) {
  reconcile_load *l = &c->load;
  memset(l, 0, sizeof(*l));
  int rc = reconcile_plan_cache_new(&l->values, err);
  if (rc == 0 && c->o->source_dir != NULL) {
    rc = reconcile_source_cache_new(&l->folder, c->o->source_dir, err);
    if (rc == 0)
      reconcile_source_cache_set_hook(l->folder, on_secret_read, c);
  }
  return rc;
}

static void report_problem(void *ctx, const char *file, int line, const char *msg) {
  (void)ctx;
  (void)file;
  (void)line;
  os_log_error("spec: %s", msg);
}

/* Plans org's secrets when org deploys this environment. */
static int build_plan(reconcile_ctl *c, const spec_org *org,
                      const reconcile_plan_secret *const *secrets, size_t n, bool incomplete,
                      os_error *err) {
  reconcile_load *l = &c->load;
  if (spec_org_find_env(org, c->o->environment) == NULL)
    return 0;
  reconcile_plan_input in = {
      org,      secrets,         n,          c->o->environment, (const age_identity *const *)c->ids,
      c->n_ids, c->checksum_key, incomplete, l->values};
  reconcile_plan *p = NULL;
  int rc = reconcile_plan_build(&p, &in, err);
  if (rc < 0)
    return rc;
  if (os_grow(&l->plans, &l->cap_plans, l->n_plans + 1, sizeof(*l->plans), SIZE_MAX) < 0) {
    reconcile_plan_free(p);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  l->plans[l->n_plans++] = p;
  return 0;
}

/* The custom resources as the informers hold them, parsed (a resource that
 * does not parse is reported; a broken OrgSecret makes the plans delete
 * nothing) and planned. */
static int load_cluster(reconcile_ctl *c, os_error *err) {
  reconcile_load *l = &c->load;
  json_t *orgs = reconcile_informers_copy(&c->informers, RECONCILE_INFORMER_ORGANIZATIONS);
  json_t *secs = reconcile_informers_copy(&c->informers, RECONCILE_INFORMER_ORGSECRETS);
  int rc = 0;
  if (orgs == NULL || secs == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  l->orgs = calloc(json_object_size(orgs) + 1, sizeof(*l->orgs));
  l->secrets = calloc(json_object_size(secs) + 1, sizeof(*l->secrets));
  if (l->orgs == NULL || l->secrets == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  const char *name;
  json_t *obj;
  json_object_foreach(orgs, name, obj) {
    os_error e = OS_ERROR_INIT;
    spec_org *o = NULL;
    if (spec_org_from_json(&o, obj, &e) < 0) {
      os_log_error("Organization %s: %s", name, e.msg);
      continue;
    }
    l->orgs[l->n_orgs++] = o;
  }
  bool incomplete = false;
  json_object_foreach(secs, name, obj) {
    os_error e = OS_ERROR_INIT;
    spec_secret *s = NULL;
    if (spec_secret_from_json(&s, obj, &e) < 0) {
      os_log_error("OrgSecret %s: %s", name, e.msg);
      incomplete = true;
      continue;
    }
    l->secrets[l->n_secrets++] = s;
  }
  size_t ns = l->n_secrets;
  l->refs = calloc(ns ? ns : 1, sizeof(*l->refs));
  l->refv = calloc(ns ? ns : 1, sizeof(*l->refv));
  if (l->refs == NULL || l->refv == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < ns; i++) {
    reconcile_plan_secret_of(&l->refs[i], l->secrets[i], NULL);
    l->refv[i] = &l->refs[i];
  }
  for (size_t i = 0; i < l->n_orgs && rc == 0; i++)
    rc = build_plan(c, l->orgs[i], l->refv, ns, incomplete, err);
done:
  json_decref(orgs);
  json_decref(secs);
  return rc;
}

static int load_folder(reconcile_ctl *c, os_error *err) {
  reconcile_load *l = &c->load;
  double t0 = os_mono_seconds();
  bool incomplete = false;
  reconcile_source_view view; /* the plan keeps pointers to the records, not to this array */
  int rc = reconcile_source_cache_load(l->folder, &view, &incomplete, report_problem, c, err);
  os_log_debug("reload: folder read in %.1f ms", (os_mono_seconds() - t0) * 1e3);
  if (rc == 0)
    rc = build_plan(c, view.org, view.secrets, view.n_secrets, incomplete, err);
  spec_target unit;
  if (rc == 0 && l->n_plans == 0) /* the organization does not define the environment: say so */
    rc = spec_target_of(&unit, view.org, c->o->environment, NULL, err);
  reconcile_source_view_clear(&view);
  return rc;
}

int reconcile_load_plans(reconcile_ctl *c, os_error *err) {
  reconcile_load *l = &c->load;
  double t0 = os_mono_seconds();
  free_plans(l);
  int rc = l->folder != NULL ? load_folder(c, err) : load_cluster(c, err);
  if (rc < 0) {
    free_plans(l);
    return rc;
  }
  /* after every plan of the pass: values none of them uses go */
  reconcile_plan_cache_sweep(l->values);
  os_log_debug("reload: planned in %.1f ms", (os_mono_seconds() - t0) * 1e3);
  return 0;
}
