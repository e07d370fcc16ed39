/* What a pass did, told to people: a log line, an audit record and a
 * Kubernetes Event per write or problem, and the Ready condition of each
 * OrgSecret resource. Names only, never values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"

/* An Event about an object, counted on the earlier one when it repeats;
 * only the writer posts. ns NULL: a cluster-scoped object. */
static void post_event(reconcile_ctl *c, const char *ns, const char *kind, const char *api_version,
                       const char *name, const char *uid, const char *type, const char *reason,
                       const char *message) {
  if (c->events == NULL || !reconcile_ctl_writer(c))
    return;
  reconcile_event_subject about = {api_version, kind, ns, name, uid};
  os_error err = OS_ERROR_INIT;
  if (reconcile_event_recorder_post(c->events, &about, type, reason, message, &err) < 0)
    os_log_warn("post event %s for %s %s: %s", reason, kind, name, err.msg);
}

static void target_key(char *out, size_t n, const reconcile_plan_target *t) {
  snprintf(out, n, "%p", (const void *)t);
}

/* Per kind of sync event: the write it counts as (NULL: none), the
 * Event's reason and type, and the audit record's event. */
static const struct {
  const char *op, *reason, *type, *audited;
} sync_kinds[] = {
    [RECONCILE_KUBESYNC_CREATED] = {"create", "Created", "Normal", "write"},
    [RECONCILE_KUBESYNC_UPDATED] = {"update", "Updated", "Normal", "write"},
    [RECONCILE_KUBESYNC_RECREATED] = {"recreate", "Recreated", "Warning", "write"},
    [RECONCILE_KUBESYNC_DELETED] = {"delete", "Deleted", "Normal", "delete"},
    [RECONCILE_KUBESYNC_ROLLOUT] = {"rollout", "RolloutTriggered", "Normal", "write"},
    [RECONCILE_KUBESYNC_CONFLICT] = {NULL, "TargetConflict", "Warning", "conflict"},
    [RECONCILE_KUBESYNC_NAMESPACE_MISSING] = {NULL, "NamespaceNotFound", "Warning", "write"},
    [RECONCILE_KUBESYNC_FAILED] = {NULL, "WriteFailed", "Warning", "write"},
};

void reconcile_status_on_sync(void *ctx, const reconcile_kubesync_event *ev) {
  reconcile_pass_report *r = ctx;
  reconcile_ctl *c = r->c;
  const char *op = sync_kinds[ev->kind].op, *reason = sync_kinds[ev->kind].reason,
             *type = sync_kinds[ev->kind].type, *audited = sync_kinds[ev->kind].audited;
  if (op != NULL) {
    metrics_counter_inc1(c->metrics.writes, op);
    r->writes++;
  }
  os_log(strcmp(type, "Warning") == 0 ? OS_LOG_WARN : OS_LOG_INFO, "%s %s %s/%s: %s", reason,
         ev->kind_name, ev->namespace_, ev->name, ev->message);
  json_t *fields =
      json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", ev->kind_name, "namespace", ev->namespace_, "name",
                ev->name, "reason", reason, "message", ev->message);
  reconcile_audit_put(&c->audit, audited, fields);
  if (ev->kind != RECONCILE_KUBESYNC_NAMESPACE_MISSING) {
    const char *api = ev->kind == RECONCILE_KUBESYNC_ROLLOUT ? "apps/v1" : "v1";
    post_event(c, ev->namespace_, ev->kind_name, api, ev->name, ev->uid, type, reason, ev->message);
  }
  if (ev->target != NULL &&
      (ev->kind == RECONCILE_KUBESYNC_CONFLICT ||
       ev->kind == RECONCILE_KUBESYNC_NAMESPACE_MISSING || ev->kind == RECONCILE_KUBESYNC_FAILED)) {
    char key[32];
    target_key(key, sizeof(key), ev->target);
    json_object_set_new(r->target_problems, key, json_string(reason));
  }
}

void reconcile_status_on_envfile(void *ctx, const reconcile_plan_target *t, const char *path,
                                 const os_error *failure) {
  reconcile_pass_report *r = ctx;
  json_t *fields = json_pack("{s:s,s:s,s:s?,s:s}", "organization", t->organization, "environment",
                             t->environment, "application", t->application, "file", path);
  if (failure != NULL) {
    os_log_error("env file %s: %s", path, failure->msg);
    json_object_set_new(fields, "error", json_string(failure->msg));
    reconcile_audit_put(&r->c->audit, "envfile-failed", fields);
  } else {
    os_log_info("wrote env file %s", path);
    metrics_counter_inc1(r->c->metrics.writes, "envfile");
    r->writes++;
    reconcile_audit_put(&r->c->audit, "write", fields);
  }
}

static const reconcile_plan_target *target_of(const reconcile_plan *p,
                                              const reconcile_plan_secret *ps) {
  const char *app = ps->ref.application;
  for (size_t i = 0; i < p->n_targets; i++) {
    const char *a = p->targets[i].application;
    if ((a == NULL && app == NULL) || (a && app && strcmp(a, app) == 0))
      return &p->targets[i];
  }
  return NULL;
}

/* The Ready condition of one OrgSecret: patched when it differs from the
 * one the resource holds. */
static void update_one(reconcile_ctl *c, const char *rname, int64_t generation, const char *reason,
                       const char *message) {
  const char *status = strcmp(reason, "Synced") == 0 ? "True" : "False";
  json_t *cur = reconcile_informers_orgsecret(&c->informers, rname);
  json_t *conds = json_object_get(json_object_get(cur, "status"), "conditions");
  json_t *old = NULL;
  size_t j;
  json_t *cd;
  json_array_foreach(conds, j, cd) {
    const char *type = json_string_value(json_object_get(cd, "type"));
    if (type && strcmp(type, "Ready") == 0)
      old = cd;
  }
  const char *o_status = json_string_value(json_object_get(old, "status"));
  const char *o_reason = json_string_value(json_object_get(old, "reason"));
  const char *o_msg = json_string_value(json_object_get(old, "message"));
  json_int_t o_gen = json_integer_value(json_object_get(old, "observedGeneration"));
  bool same = o_status && o_reason && o_msg && strcmp(o_status, status) == 0 &&
              strcmp(o_reason, reason) == 0 && strcmp(o_msg, message) == 0 && o_gen == generation;
  if (same || cur == NULL) {
    json_decref(cur);
    return;
  }
  char now[OS_TIME_MAX];
  os_now_format(now);
  const char *ltt = json_string_value(json_object_get(old, "lastTransitionTime"));
  bool transition = !(o_status && strcmp(o_status, status) == 0);
  json_t *patch =
      json_pack("{s:{s:I,s:[{s:s,s:s,s:s,s:s,s:s,s:I}]}}", "status", "observedGeneration",
                (json_int_t)generation, "conditions", "type", "Ready", "status", status, "reason",
                reason, "message", message, "lastTransitionTime", transition || !ltt ? now : ltt,
                "observedGeneration", (json_int_t)generation);
  char *path = NULL;
  json_t *out = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = patch ? kube_object_path(&path, "/apis/orgsecrets.io/v1", NULL, "orgsecrets", rname,
                                    "status", &err)
                 : os_error_set(&err, OS_ENOMEM, "out of memory");
  if (rc == 0)
    rc = kube_patch(c->k, path, "application/merge-patch+json", patch, &out, &err);
  if (rc == 0) {
    if (out != NULL)
      reconcile_informers_set_orgsecret(&c->informers, rname, out);
    if (transition && strcmp(status, "False") == 0)
      post_event(c, NULL, "OrgSecret", "orgsecrets.io/v1", rname,
                 json_string_value(json_object_get(json_object_get(cur, "metadata"), "uid")),
                 "Warning", reason, message);
  } else {
    os_log_warn("status of OrgSecret %s: %s", rname, err.msg);
  }
  free(path);
  json_decref(out);
  json_decref(patch);
  json_decref(cur);
}

void reconcile_status_update(reconcile_ctl *c, const reconcile_pass_report *r) {
  for (size_t pi = 0; pi < c->load.n_plans; pi++) {
    const reconcile_plan *p = c->load.plans[pi];
    for (size_t i = 0; i < p->n_results; i++) {
      const reconcile_plan_secret_result *res = &p->results[i];
      const spec_secret_ref *s = &res->secret->ref;
      int64_t generation = res->secret->spec ? res->secret->spec->generation : 0;
      const char *reason = res->reason, *message = reconcile_plan_result_message(p, res);
      const reconcile_plan_target *t = target_of(p, res->secret);
      if (t != NULL && strcmp(reason, "Synced") == 0) {
        char key[32];
        target_key(key, sizeof(key), t);
        const char *prob = json_string_value(json_object_get(r->target_problems, key));
        if (prob != NULL) {
          reason = prob;
          message = strcmp(prob, "TargetConflict") == 0
                        ? "a target Secret exists and is not managed by orgsecrets"
                    : strcmp(prob, "NamespaceNotFound") == 0 ? "a target namespace does not exist"
                                                             : "writing a target failed";
        }
      }
      if (strcmp(reason, "Synced") == 0)
        message = "delivered to every target";
      /* a leak in Git outranks a healthy delivery: Ready False, still delivered */
      char umsg[RECONCILE_PLAN_UNAUTHORIZED_MSG_MAX];
      if (res->unauthorized > 0 &&
          (strcmp(reason, "Synced") == 0 || strcmp(reason, "Disabled") == 0)) {
        reconcile_plan_unauthorized_message(umsg, sizeof(umsg), res);
        reason = RECONCILE_PLAN_UNAUTHORIZED;
        message = umsg;
      }
      char *rname = spec_secret_ref_resource_name(s);
      if (rname != NULL)
        update_one(c, rname, generation, reason, message);
      free(rname);
    }
  }
}
