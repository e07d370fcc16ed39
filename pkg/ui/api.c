/* The page's JSON API. Every route passes ui_guard() first; reads are GET,
 * everything that changes a file or shows a value is a POST. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "age/age.h"
#include "common/buf.h"
#include "seal/seal.h"
#include "spec/spec.h"
#include "ui/ui_internal.h"

typedef int (*api_fn)(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp);

/* ---- helpers ---- */

static json_t *opt_str(const char *v) { return v != NULL ? json_string(v) : json_null(); }

/* A string member of args, or NULL when absent or null; *bad when present
 * with another type. */
static const char *arg_str(json_t *args, const char *key, bool *bad) {
  json_t *v = json_object_get(args, key);
  if (v == NULL || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = true;
    return NULL;
  }
  return json_string_value(v);
}

int ui_load_tree(spec_tree **out, const ui_server *s, os_error *err) {
  int rc = spec_tree_load(out, s->dir, err);
  if (rc == 0 && (*out)->org == NULL) {
    spec_tree_free(*out);
    *out = NULL;
    rc = os_error_set(err, OS_ENOTFOUND, "%s holds no organization", s->dir);
  }
  return rc;
}

/* The cached tree for a read; on failure the error is the answer. */
static const spec_tree *read_tree(ui_server *s, httpd_response *resp) {
  const spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = ui_snapshot_tree(&t, s, &err);
  if (rc < 0) {
    ui_reply_error(resp, rc, err.msg);
    return NULL;
  }
  return t;
}

/* The identity's recipients' fingerprints (public data; the keys are wiped
 * at once). *n 0 with note set when the identity cannot be loaded. */
typedef struct identity_info {
  char fps[8][SPEC_FINGERPRINT_LEN + 1];
  char recipient[128];
  size_t n;
  os_error err;
} identity_info;

static void identity_probe(identity_info *ii, const ui_server *s) {
  memset(ii, 0, sizeof(*ii));
  if (s->identity == NULL) {
    os_error_set(&ii->err, OS_ENOTFOUND, "no identity file: pass -i FILE (create one with "
                                         "`orgsecrets keygen`)");
    return;
  }
  age_identity **ids = NULL;
  size_t n = 0;
  if (age_identities_load_file(&ids, &n, s->identity, &ii->err) < 0)
    return;
  for (size_t i = 0; i < n && ii->n < 8; i++) {
    char *r = NULL;
    if (age_recipient_encode(&r, age_identity_recipient(ids[i]), &ii->err) == 0 &&
        seal_fingerprint(ii->fps[ii->n], r, &ii->err) == 0) {
      if (ii->n == 0)
        snprintf(ii->recipient, sizeof(ii->recipient), "%s", r);
      ii->n++;
    }
    free(r);
  }
  age_identities_free(ids, n);
  if (ii->n == 0 && ii->err.code == 0)
    os_error_set(&ii->err, OS_EINVAL, "%s holds no identity", s->identity);
}

static bool sealed_to(const spec_secret *sec, const identity_info *ii) {
  for (size_t k = 0; k < sec->n_recipients; k++)
    for (size_t i = 0; i < ii->n; i++)
      if (strcmp(sec->recipients[k], ii->fps[i]) == 0)
        return true;
  return false;
}

static const char note_viewer[] =
    "viewers cannot reveal this secret: it is not marked visible to viewers";
static const char note_recipient[] =
    "your identity is not among this value's recipients: ask an admin to run `orgsecrets rekey` "
    "(or to add your key with the right role)";

/* ---- GET /api/session ---- */

static int api_session(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  (void)args;
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  const spec_org *o = t->org;
  const spec_member *m = s->as != NULL ? spec_org_find_member(o, s->as) : NULL;
  identity_info ii;
  identity_probe(&ii, s);
  bool matches = false;
  if (m != NULL && m->recipient != NULL && ii.n > 0) {
    char fp[SPEC_FINGERPRINT_LEN + 1];
    if (seal_fingerprint(fp, m->recipient, NULL) == 0)
      for (size_t i = 0; i < ii.n; i++)
        matches = matches || strcmp(fp, ii.fps[i]) == 0;
  }
  json_t *envs = json_array(), *apps = json_array();
  for (size_t i = 0; i < o->n_envs; i++)
    json_array_append_new(envs, json_string(o->envs[i].name));
  for (size_t i = 0; i < o->n_apps; i++)
    json_array_append_new(apps, json_string(o->apps[i].name));
  json_t *j = json_pack(
      "{s:s, s:o, s:o, s:o, s:s, s:I, s:i, s:o, s:o, s:{s:o, s:b, s:o, s:b, s:o}}",
      "organization", o->id, "member", opt_str(s->as),
      "role", m != NULL ? json_string(spec_role_name(m->role)) : json_null(),
      "memberNote",
      m != NULL ? json_null()
      : s->as == NULL
          ? json_string("no acting member: start orgsecrets ui with --as NAME, ORGSECRETS_USER "
                        "or git config user.email")
          : json_string("the acting member is not a member of this organization"),
      "csrf", s->csrf, "hideAfterMs", (json_int_t)s->hide_after_ms, "rotationDays",
      o->rotation_days, "environments", envs, "applications", apps, "identity", "file",
      opt_str(s->identity), "loaded", ii.n > 0,
      "recipient", ii.n > 0 ? json_string(ii.recipient) : json_null(), "matchesMember", matches,
      "error", ii.n > 0 ? json_null() : json_string(ii.err.msg));
  json_object_set_new(j, "revealNotes",
                      json_pack("{s:s, s:s, s:s}", "viewer", note_viewer, "identity",
                                ii.n > 0 ? "" : ii.err.msg, "recipient", note_recipient));
  return ui_reply_json(resp, 200, j);
}

/* ---- GET /api/secrets ---- */

static const char *status_name(const spec_secret *sec) {
  return sec->state == SPEC_STATE_DISABLED ? "disabled" : "active";
}

static int api_secrets(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  (void)args;
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  size_t len = 0;
  const char *cached = ui_snapshot_list(s, &len);
  if (cached != NULL) {
    httpd_response_set_status(resp, 200);
    return httpd_response_set_body(resp, "application/json", cached, len);
  }
  const spec_member *m = s->as != NULL ? spec_org_find_member(t->org, s->as) : NULL;
  identity_info ii;
  identity_probe(&ii, s);
  json_t *rows = json_array();
  for (size_t i = 0; rows != NULL && i < t->n_secrets; i++) {
    const spec_secret *sec = t->secrets[i];
    const char *why = NULL; /* a key of the session's revealNotes */
    if (m != NULL && m->role == SPEC_ROLE_VIEWER && !sec->visible_to_viewers)
      why = "viewer";
    else if (ii.n == 0)
      why = "identity";
    else if (!sealed_to(sec, &ii))
      why = "recipient";
    json_t *row = json_pack("{s:s, s:s, s:o, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
                            "name", sec->name, "environment", sec->environment, "application",
                            opt_str(sec->application), "status", status_name(sec),
                            "description", opt_str(sec->description), "visibleToViewers",
                            sec->visible_to_viewers, "createdBy", opt_str(sec->created_by),
                            "createdAt", opt_str(sec->created_at), "updatedBy",
                            opt_str(sec->updated_by), "updatedAt", opt_str(sec->updated_at),
                            "rotatedAt", opt_str(sec->rotated_at), "canReveal", why == NULL,
                            "revealNote", opt_str(why));
    if (row == NULL || json_array_append_new(rows, row) != 0) {
      json_decref(rows);
      rows = NULL;
    }
  }
  json_t *j = rows != NULL ? json_pack("{s:o}", "secrets", rows) : NULL;
  char *body = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  if (body == NULL)
    return ui_reply_error(resp, OS_ENOMEM, "out of memory");
  len = strlen(body);
  int rc = httpd_response_set_body(resp, "application/json", body, len);
  ui_snapshot_set_list(s, body, len);
  return rc;
}

/* ---- GET /api/members ---- */

static int api_members(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  (void)args;
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  const spec_org *o = t->org;
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    char fp[SPEC_FINGERPRINT_LEN + 1] = "";
    if (m->recipient != NULL && seal_fingerprint(fp, m->recipient, NULL) < 0)
      fp[0] = '\0';
    json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o}", "name", m->name, "role",
                                         spec_role_name(m->role), "recipient",
                                         opt_str(m->recipient), "fingerprint",
                                         fp[0] ? json_string(fp) : json_null()));
  }
  size_t stale = 0;
  for (size_t i = 0; i < t->n_secrets; i++)
    stale += !seal_recipients_current(t->secrets[i], o);
  return ui_reply_json(resp, 200, json_pack("{s:o, s:I}", "members", arr, "staleSecrets",
                                            (json_int_t)stale));
}

/* ---- GET /api/org: environments and applications ---- */

static json_t *strings(char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

static int api_org(ui_server *s, const httpd_request *req, json_t *args, httpd_response *resp) {
  (void)req;
  (void)args;
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  const spec_org *o = t->org;
  json_t *envs = json_array(), *apps = json_array();
  for (size_t i = 0; i < o->n_envs; i++) {
    const spec_environment *e = &o->envs[i];
    size_t count = 0;
    for (size_t k = 0; k < t->n_secrets; k++)
      count += strcmp(t->secrets[k]->environment, e->name) == 0;
    json_array_append_new(
        envs, json_pack("{s:s, s:o, s:o, s:o, s:o, s:I}", "name", e->name, "controllers",
                        strings(e->controllers, e->n_controllers), "namespaces",
                        strings(e->namespaces, e->n_namespaces), "secretName",
                        opt_str(e->secret_name), "envFile", opt_str(e->env_file), "secrets",
                        (json_int_t)count));
  }
  for (size_t i = 0; i < o->n_apps; i++) {
    const spec_application *a = &o->apps[i];
    size_t count = 0;
    for (size_t k = 0; k < t->n_secrets; k++)
      count += t->secrets[k]->application != NULL &&
               strcmp(t->secrets[k]->application, a->name) == 0;
    json_array_append_new(apps, json_pack("{s:s, s:o, s:o, s:I}", "name", a->name, "namespaces",
                                          strings(a->namespaces, a->n_namespaces), "secretName",
                                          opt_str(a->secret_name), "secrets",
                                          (json_int_t)count));
  }
  json_t *j = json_pack("{s:s, s:i, s:o, s:o}", "organization", o->id, "rotationDays",
                        o->rotation_days, "environments", envs, "applications", apps);
  return ui_reply_json(resp, 200, j);
}

/* ---- POST /api/reveal ---- */

static int api_reveal(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  bool bad = false;
  const char *env = arg_str(args, "environment", &bad), *name = arg_str(args, "name", &bad);
  if (bad || env == NULL || name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "reveal: environment and name are required");
  (void)s;
  return ui_reply_error(resp, OS_EUNSUPPORTED, "reveal: not available yet");
}

/* ---- routing ---- */

static const struct {
  const char *method, *path;
  api_fn fn;
} routes[] = {
    {"GET", "/api/session", api_session},   {"GET", "/api/secrets", api_secrets},
    {"GET", "/api/members", api_members},   {"GET", "/api/org", api_org},
    {"POST", "/api/reveal", api_reveal},
};

static int dispatch(void *ctx, const httpd_request *req, httpd_response *resp) {
  ui_server *s = ctx;
  if (ui_guard(s, req, resp) != UI_ACCESS_OK)
    return 0;
  const char *method = httpd_request_method(req), *path = httpd_request_path(req);
  api_fn fn = NULL;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    if (strcmp(routes[i].path, path) == 0 &&
        (strcmp(routes[i].method, method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)))
      fn = routes[i].fn;
  }
  if (fn == NULL)
    return ui_reply_error(resp, OS_ENOTFOUND, "no such API");
  json_t *args = NULL;
  if (strcmp(method, "POST") == 0) {
    size_t len = 0;
    const uint8_t *body = httpd_request_body(req, &len);
    json_error_t jerr;
    args = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (args == NULL || !json_is_object(args)) {
      json_decref(args);
      return ui_reply_error(resp, OS_EINVAL, "the request body must be a JSON object");
    }
  }
  int rc = fn(s, req, args, resp);
  json_decref(args);
  return rc;
}

int ui_api_register(ui_server *s, os_error *err) {
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    int rc = httpd_route(s->http, routes[i].method, routes[i].path, dispatch, s, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}
