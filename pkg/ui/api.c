/* The page's JSON API. Every route passes ui_guard() first; reads are GET,
 * everything that changes a file or shows a value is a POST. Every action
 * is a pkg/org call, the one the CLI makes for the same command. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "age/age.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "org/org.h"
#include "seal/seal.h"
#include "spec/spec.h"
#include "ui/ui_internal.h"

typedef int (*api_fn)(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp);

/* ---- helpers ---- */

static json_t *opt_str(const char *v) { return v != NULL ? json_string(v) : json_null(); }

/* A string member of args, or NULL when absent, null or "" (when empty_null);
 * *bad when present with another type. */
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

/* The application argument: absent, null or "" is the organization level. */
static const char *arg_app(json_t *args, bool *bad) {
  const char *a = arg_str(args, "application", bad);
  return a != NULL && a[0] != '\0' ? a : NULL;
}

/* ORG_KEEP, 0 or 1 from an optional boolean. */
static int arg_flag(json_t *args, const char *key, bool *bad) {
  json_t *v = json_object_get(args, key);
  if (v == NULL || json_is_null(v))
    return ORG_KEEP;
  if (!json_is_boolean(v)) {
    *bad = true;
    return ORG_KEEP;
  }
  return json_is_true(v) ? 1 : 0;
}

/* A list of strings (absent: none); NULL with *bad on another shape. The
 * array of pointers is the caller's (free()), the strings are args'. */
static const char **arg_strings(json_t *args, const char *key, size_t *n, bool *bad) {
  json_t *v = json_object_get(args, key);
  *n = 0;
  if (v == NULL || json_is_null(v))
    return calloc(1, sizeof(char *));
  if (!json_is_array(v)) {
    *bad = true;
    return NULL;
  }
  const char **out = calloc(json_array_size(v) + 1, sizeof(*out));
  for (size_t i = 0; out != NULL && i < json_array_size(v); i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_string(e)) {
      *bad = true;
      free(out);
      return NULL;
    }
    out[(*n)++] = json_string_value(e);
  }
  return out;
}

int ui_load_tree(spec_tree **out, const ui_server *s, os_error *err) {
  return org_load(out, s->dir, err);
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

/* Notes of an operation (never values), collected for the answer. */
static void collect_note(void *ctx, const char *msg) {
  json_array_append_new((json_t *)ctx, json_string(msg));
}

/* One operation's context: the acting member, the identity file (read
 * only when the operation needs a key, and wiped with org_keys_free), and
 * the notes. */
typedef struct op {
  org_ctx c;
  json_t *notes;
} op;

/* Returns 0, or OS_ENOMEM with err set; op_end(o) either way. */
static int op_begin(op *o, const ui_server *s, os_error *err) {
  memset(o, 0, sizeof(*o));
  o->notes = json_array();
  o->c.actor = s->as;
  o->c.keys = org_keys_new(s->identity);
  o->c.note = collect_note;
  o->c.note_ctx = o->notes;
  return o->notes != NULL && o->c.keys != NULL ? 0 : os_error_set(err, OS_ENOMEM, "out of memory");
}

static void op_end(op *o) {
  org_keys_free(o->c.keys);
  json_decref(o->notes);
}

/* A fresh tree for a write (the cache may lag behind a change made a
 * moment ago by another program). */
static spec_tree *write_tree(ui_server *s, httpd_response *resp) {
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = ui_load_tree(&t, s, &err);
  if (rc < 0) {
    ui_reply_error(resp, rc, err.msg);
    return NULL;
  }
  return t;
}

/* A path of the tree relative to the folder, as Git and the page show it. */
static const char *rel_path(const ui_server *s, const char *file) {
  size_t dl = strlen(s->dir);
  if (file != NULL && strncmp(file, s->dir, dl) == 0 && file[dl] == '/')
    return file + dl + 1;
  return file;
}

/* Records file as changed by the page (for the commit) with what was done. */
static void note_change(ui_server *s, const char *file, const char *what) {
  file = rel_path(s, file);
  if (file == NULL)
    return;
  if (s->changed == NULL && (s->changed = json_object()) == NULL)
    return;
  json_t *list = json_object_get(s->changed, file);
  if (list == NULL) {
    list = json_array();
    json_object_set_new(s->changed, file, list);
  }
  if (json_array_size(list) < 20)
    json_array_append_new(list, json_string(what));
  ui_snapshot_invalidate(s);
}

/* {..., "changed": [files], "notes": [...]} for a write that succeeded. */
static int reply_changed(httpd_response *resp, json_t *j, json_t *files, op *o) {
  json_object_set_new(j, "changed", files != NULL ? files : json_array());
  json_object_set(j, "notes", o->notes);
  return ui_reply_json(resp, 200, j);
}

static const char *secret_label(char *buf, size_t size, const char *env, const char *app,
                                const char *name) {
  snprintf(buf, size, "%s/%s%s%s", env, app ? app : "", app ? "/" : "", name);
  return buf;
}

static json_t *secret_json(const spec_secret *sec) { return org_secret_json(sec); }

/* ---- the identity's recipients (public data; the keys are wiped at once) ---- */

typedef struct identity_info {
  char fps[8][SPEC_FINGERPRINT_LEN + 1];
  char recipient[128];
  size_t n;
  os_error err;
} identity_info;

static void identity_probe(identity_info *ii, const ui_server *s) {
  memset(ii, 0, sizeof(*ii));
  org_keys *k = org_keys_new(s->identity);
  const age_identity *const *ids = NULL;
  size_t n = 0;
  if (k == NULL || org_keys_get(&ids, &n, k, &ii->err) < 0) {
    if (k == NULL)
      os_error_set(&ii->err, OS_ENOMEM, "out of memory");
    else
      os_error_prefix(&ii->err, "cannot reveal (create an identity with `orgsecrets keygen`, "
                                "pass it with -i)");
    org_keys_free(k);
    return;
  }
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
  org_keys_free(k);
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
  json_t *can = json_object();
  static const struct {
    const char *key;
    enum org_action a;
  } actions[] = {{"write", ORG_ACTION_WRITE},
                 {"delete", ORG_ACTION_DELETE},
                 {"manage", ORG_ACTION_MANAGE},
                 {"reveal", ORG_ACTION_REVEAL}};
  for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
    json_object_set_new(can, actions[i].key,
                        json_boolean(m != NULL && org_role_allows(m->role, actions[i].a)));
  json_t *j = json_pack(
      "{s:s, s:o, s:o, s:o, s:o, s:s, s:I, s:i, s:o, s:o, s:{s:o, s:b, s:o, s:b, s:o}}",
      "organization", o->id, "member", opt_str(s->as),
      "role", m != NULL ? json_string(spec_role_name(m->role)) : json_null(), "can", can,
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
  if (j != NULL)
    json_object_set_new(j, "revealNotes",
                        json_pack("{s:s, s:s, s:s}", "viewer", note_viewer, "identity",
                                  ii.n > 0 ? "" : ii.err.msg, "recipient", note_recipient));
  return ui_reply_json(resp, 200, j);
}

/* ---- GET /api/secrets ---- */

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
  os_error err = OS_ERROR_INIT;
  const spec_secret **list = NULL;
  size_t n = 0;
  if (org_secret_list(&list, &n, t, NULL, &err) < 0)
    return ui_reply_error(resp, err.code, err.msg);
  const spec_member *m = s->as != NULL ? spec_org_find_member(t->org, s->as) : NULL;
  identity_info ii;
  identity_probe(&ii, s);
  int64_t now = os_now();
  json_t *rows = json_array();
  for (size_t i = 0; rows != NULL && i < n; i++) {
    const spec_secret *sec = list[i];
    const char *why = NULL; /* a key of the session's revealNotes */
    if (!org_may_reveal(m, sec))
      why = "viewer";
    else if (ii.n == 0)
      why = "identity";
    else if (!sealed_to(sec, &ii))
      why = "recipient";
    json_t *row = secret_json(sec);
    int64_t days = 0;
    int overdue = org_secret_rotation(&days, t->org, sec, now);
    if (row == NULL || json_object_set_new(row, "canReveal", json_boolean(why == NULL)) != 0 ||
        json_object_set_new(row, "rotatedDays",
                            overdue < 0 ? json_null() : json_integer((json_int_t)days)) != 0 ||
        json_object_set_new(row, "rotationOverdue", json_boolean(overdue == 1)) != 0 ||
        json_object_set_new(row, "revealNote", opt_str(why)) != 0 ||
        json_array_append_new(rows, row) != 0) {
      json_decref(rows);
      rows = NULL;
    }
  }
  free(list);
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

/* ---- POST /api/reveal: the one answer that carries a value ---- */

static int api_reveal(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  bool bad = false;
  const char *env = arg_str(args, "environment", &bad), *name = arg_str(args, "name", &bad);
  const char *app = arg_app(args, &bad);
  if (bad || env == NULL || name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "reveal: environment and name are required");
  spec_tree *t = write_tree(s, resp);
  if (t == NULL)
    return 0;
  op o;
  os_error err = OS_ERROR_INIT;
  uint8_t *value = NULL;
  size_t len = 0;
  const spec_secret *sec = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  int rc = op_begin(&o, s, &err);
  if (rc == 0)
    rc = org_secret_readable(&sec, &o.c, t, env, app, name, &err);
  if (rc == 0 && (rc = org_keys_get(&ids, &n_ids, o.c.keys, &err)) < 0)
    os_error_prefix(&err, "cannot reveal");
  if (rc == 0)
    rc = org_unseal(&value, &len, t->org, sec, ids, n_ids, &err);
  if (rc < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
    goto done;
  }
  /* JSON strings are UTF-8: other bytes go as base64 */
  json_t *str = json_stringn((const char *)value, len);
  const char *encoding = "utf-8";
  if (str == NULL) {
    size_t blen = os_base64_encoded_len(len, 0);
    char *b = malloc(blen + 1);
    if (b != NULL) {
      os_base64_encode(b, value, len, 0);
      str = json_stringn(b, blen);
      os_free_secret(b, blen + 1);
    }
    encoding = "base64";
  }
  rc = ui_reply_json(resp, 200, str != NULL ? json_pack("{s:o, s:s}", "value", str, "encoding",
                                                        encoding)
                                            : NULL);
done:
  os_free_secret(value, len);
  op_end(&o);
  spec_tree_free(t);
  return rc;
}

/* ---- POST /api/generate: a strong value, as `set --generate` draws it ---- */

static int api_generate(ui_server *s, const httpd_request *req, json_t *args,
                        httpd_response *resp) {
  (void)s;
  (void)req;
  json_t *l = json_object_get(args, "length");
  json_int_t n = l == NULL ? 32 : json_is_integer(l) ? json_integer_value(l) : -1;
  if (n < 1 || n > ORG_GENERATE_MAX)
    return ui_reply_error(resp, OS_EINVAL, "length must be 1 to 4096");
  uint8_t *v = NULL;
  os_error err = OS_ERROR_INIT;
  if (org_value_generate(&v, (size_t)n, &err) < 0)
    return ui_reply_error(resp, err.code, err.msg);
  int rc = ui_reply_json(resp, 200, json_pack("{s:s%}", "value", (const char *)v, (size_t)n));
  os_free_secret(v, (size_t)n);
  return rc;
}

/* ---- GET /api/name-check: the naming rule and advice for the add form ---- */

static int api_name_check(ui_server *s, const httpd_request *req, json_t *args,
                          httpd_response *resp) {
  (void)args;
  const char *name = httpd_request_query(req, "name");
  const char *env = httpd_request_query(req, "environment");
  const char *app = httpd_request_query(req, "application");
  if (app != NULL && app[0] == '\0')
    app = NULL;
  if (name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "name is required");
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  os_error err = OS_ERROR_INIT;
  json_t *warnings = json_array();
  const char *error = NULL;
  if (org_secret_name_check(name, &err) < 0) {
    error = err.msg;
  } else if (env != NULL && env[0] != '\0') {
    /* exactly what create would refuse: environment, application, role,
     * an existing name, a reserved name */
    op o;
    if (op_begin(&o, s, &err) < 0) {
      error = err.msg;
    } else {
      const org_secret_opts so = {.environment = env, .application = app, .name = name,
                                  .visible_to_viewers = ORG_KEEP, .state = ORG_KEEP,
                                  .mode = ORG_SET_CREATE};
      const spec_secret *existing = NULL;
      if (org_secret_check(&existing, &o.c, t, &so, &err) < 0)
        error = err.msg;
    }
    op_end(&o);
    org_findings f = {0};
    os_error lerr = OS_ERROR_INIT;
    if (org_lint_name(&f, env, app, name, NULL, 0, &lerr) == 0)
      for (size_t i = 0; i < f.n; i++)
        json_array_append_new(warnings, json_string(f.v[i].message));
    org_findings_free(&f);
  }
  return ui_reply_json(resp, 200, json_pack("{s:o, s:o}", "error", opt_str(error), "warnings",
                                            warnings));
}

/* ---- POST /api/secrets/create and /update ---- */

static int secret_write(ui_server *s, json_t *args, httpd_response *resp, enum org_set_mode mode) {
  bool bad = false;
  org_secret_opts so = {.environment = arg_str(args, "environment", &bad),
                        .application = arg_app(args, &bad),
                        .name = arg_str(args, "name", &bad),
                        .description = arg_str(args, "description", &bad),
                        .visible_to_viewers = arg_flag(args, "visibleToViewers", &bad),
                        .state = ORG_KEEP,
                        .allow_reserved_name =
                            json_is_true(json_object_get(args, "allowReservedName")),
                        .mode = mode};
  const char *state = arg_str(args, "state", &bad);
  json_t *value = json_object_get(args, "value");
  if (value != NULL && !json_is_null(value)) {
    if (!json_is_string(value))
      bad = true;
    so.value = (const uint8_t *)json_string_value(value);
    so.value_len = json_string_length(value);
  }
  if (state != NULL) {
    if (strcmp(state, "active") == 0)
      so.state = SPEC_STATE_ACTIVE;
    else if (strcmp(state, "disabled") == 0)
      so.state = SPEC_STATE_DISABLED;
    else
      bad = true;
  }
  if (mode == ORG_SET_CREATE && so.description != NULL && so.description[0] == '\0')
    so.description = NULL;
  if (bad || so.environment == NULL || so.name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "environment and name are required (strings)");
  spec_tree *t = write_tree(s, resp);
  if (t == NULL)
    return 0;
  op o;
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  memset(&res, 0, sizeof(res));
  int rc = op_begin(&o, s, &err);
  if (rc == 0)
    rc = org_secret_set(&res, &o.c, t, &so, &err);
  if (rc < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
    goto done;
  }
  char what[SPEC_NAME_MAX + 300];
  (void)secret_label(what, sizeof(what), so.environment, so.application, so.name);
  json_t *files = json_array();
  if (res.changed) {
    char act[SPEC_NAME_MAX + 340];
    snprintf(act, sizeof(act), "%s %s", res.created ? "create" : "update", what);
    note_change(s, res.file, act);
    json_array_append_new(files, json_string(rel_path(s, res.file)));
  }
  if (res.moved_from[0] != '\0') { /* a legacy application secret made room for it */
    note_change(s, res.moved_from, "move");
    note_change(s, res.moved_to, "move");
    json_array_append_new(files, json_string(rel_path(s, res.moved_from)));
    json_array_append_new(files, json_string(rel_path(s, res.moved_to)));
  }
  if (res.created) {
    /* the naming advice `set` prints */
    org_findings f = {0};
    os_error lerr = OS_ERROR_INIT;
    if (org_lint_name(&f, so.environment, so.application, so.name, NULL, 0, &lerr) == 0)
      for (size_t i = 0; i < f.n; i++)
        json_array_append_new(o.notes, json_string(f.v[i].message));
    org_findings_free(&f);
  }
  const spec_secret *saved = spec_tree_find_secret(t, so.environment, so.application, so.name);
  rc = reply_changed(resp,
                     json_pack("{s:o, s:b, s:b, s:b}", "secret",
                               saved != NULL ? secret_json(saved) : json_null(), "created",
                               res.created, "valueChanged", res.value_changed, "unchanged",
                               !res.changed),
                     files, &o);
done:
  op_end(&o);
  spec_tree_free(t);
  return rc;
}

static int api_create(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  return secret_write(s, args, resp, ORG_SET_CREATE);
}

static int api_update(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  return secret_write(s, args, resp, ORG_SET_UPDATE);
}

/* ---- POST /api/secrets/delete ---- */

static int api_delete(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  bool bad = false;
  const char *env = arg_str(args, "environment", &bad), *name = arg_str(args, "name", &bad);
  const char *app = arg_app(args, &bad), *confirm = arg_str(args, "confirm", &bad);
  if (bad || env == NULL || name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "environment and name are required");
  /* the page's form of `delete --yes`: the name typed again */
  if (confirm == NULL || strcmp(confirm, name) != 0)
    return ui_reply_error(resp, OS_EINVAL, "not confirmed: type the secret's name to delete it");
  spec_tree *t = write_tree(s, resp);
  if (t == NULL)
    return 0;
  op o;
  os_error err = OS_ERROR_INIT;
  int rc = op_begin(&o, s, &err);
  char *file = NULL;
  if (rc == 0 && (rc = org_secret_delete_check(&o.c, t, env, app, name, &err)) == 0) {
    const spec_secret *sec = spec_tree_find_secret(t, env, app, name);
    if ((file = os_strdup(sec != NULL ? sec->pos.file : NULL)) == NULL)
      rc = os_error_set(&err, OS_ENOMEM, "out of memory");
  }
  if (rc == 0)
    rc = org_secret_delete(&o.c, t, env, app, name, &err);
  if (rc < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
  } else {
    char what[SPEC_NAME_MAX + 300], act[SPEC_NAME_MAX + 320];
    snprintf(act, sizeof(act), "delete %s", secret_label(what, sizeof(what), env, app, name));
    note_change(s, file, act);
    rc = reply_changed(resp, json_object(), json_pack("[s]", rel_path(s, file)), &o);
  }
  free(file);
  op_end(&o);
  spec_tree_free(t);
  return rc;
}

/* ---- members ---- */

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
    json_t *j = org_member_json(m);
    char fp[SPEC_FINGERPRINT_LEN + 1] = "";
    if (m->recipient != NULL && seal_fingerprint(fp, m->recipient, NULL) < 0)
      fp[0] = '\0';
    json_object_set_new(j, "fingerprint", fp[0] ? json_string(fp) : json_null());
    json_array_append_new(arr, j);
  }
  return ui_reply_json(resp, 200, json_pack("{s:o, s:I}", "members", arr, "staleSecrets",
                                            (json_int_t)org_count_stale(t)));
}

/* An edit of organization.yaml (members, environments, applications): one
 * pkg/org call on a fresh tree; the answer names the file and how many
 * secrets `rekey` must now re-seal. */
typedef struct org_edit {
  enum { EDIT_MEMBER_ADD, EDIT_MEMBER_REMOVE, EDIT_MEMBER_ROLE, EDIT_ENV_ADD, EDIT_APP_ADD } kind;
  const char *name;
  int role;
  const char *recipient;
  const org_env_opts *env;
  const org_app_opts *app;
} org_edit;

static int run_edit(const org_ctx *c, spec_tree *t, const org_edit *e, os_error *err) {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  switch (e->kind) {
  case EDIT_MEMBER_ADD:
    return org_member_add(c, t, e->name, (enum spec_role)e->role, e->recipient, err);
  case EDIT_MEMBER_REMOVE:
    return org_member_remove(fp, c, t, e->name, err);
  case EDIT_MEMBER_ROLE:
    return org_member_update(c, t, e->name, e->role, NULL, err);
  case EDIT_ENV_ADD:
    return org_env_add(c, t, e->env, err);
  case EDIT_APP_ADD:
    return org_app_add(c, t, e->app, err);
  }
  return os_error_set(err, OS_EINVAL, "unknown change");
}

static int org_file_edit(ui_server *s, httpd_response *resp, const org_edit *e, const char *act) {
  spec_tree *t = write_tree(s, resp);
  if (t == NULL)
    return 0;
  op o;
  os_error err = OS_ERROR_INIT;
  int rc = op_begin(&o, s, &err);
  if (rc == 0)
    rc = run_edit(&o.c, t, e, &err);
  if (rc < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
  } else {
    note_change(s, t->org->pos.file, act);
    rc = reply_changed(resp,
                       json_pack("{s:I}", "staleSecrets", (json_int_t)org_count_stale(t)),
                       json_pack("[s]", rel_path(s, t->org->pos.file)), &o);
  }
  op_end(&o);
  spec_tree_free(t);
  return rc;
}

static int parse_role(int *role, const char *s, os_error *err) {
  enum spec_role r;
  if (s == NULL || spec_role_parse(&r, s) < 0)
    return os_error_set(err, OS_EINVAL, "role must be admin, member or viewer");
  *role = (int)r;
  return 0;
}

static int api_member_add(ui_server *s, const httpd_request *req, json_t *args,
                          httpd_response *resp) {
  (void)req;
  bool bad = false;
  org_edit e = {.kind = EDIT_MEMBER_ADD, .name = arg_str(args, "name", &bad),
                .recipient = arg_str(args, "recipient", &bad)};
  const char *role_s = arg_str(args, "role", &bad);
  if (e.recipient != NULL && e.recipient[0] == '\0')
    e.recipient = NULL;
  os_error err = OS_ERROR_INIT;
  if (bad || e.name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "name and role are required");
  if (parse_role(&e.role, role_s, &err) < 0 ||
      org_member_check(e.name, (enum spec_role)e.role, e.recipient, &err) < 0)
    return ui_reply_error(resp, err.code, err.msg);
  char act[600];
  snprintf(act, sizeof(act), "add %s %s", role_s, e.name);
  return org_file_edit(s, resp, &e, act);
}

static int api_member_remove(ui_server *s, const httpd_request *req, json_t *args,
                             httpd_response *resp) {
  (void)req;
  bool bad = false;
  org_edit e = {.kind = EDIT_MEMBER_REMOVE, .name = arg_str(args, "name", &bad)};
  if (bad || e.name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "name is required");
  char act[600];
  snprintf(act, sizeof(act), "remove member %s", e.name);
  return org_file_edit(s, resp, &e, act);
}

static int api_member_role(ui_server *s, const httpd_request *req, json_t *args,
                           httpd_response *resp) {
  (void)req;
  bool bad = false;
  org_edit e = {.kind = EDIT_MEMBER_ROLE, .name = arg_str(args, "name", &bad)};
  const char *role_s = arg_str(args, "role", &bad);
  os_error err = OS_ERROR_INIT;
  if (bad || e.name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "name and role are required");
  if (parse_role(&e.role, role_s, &err) < 0)
    return ui_reply_error(resp, err.code, err.msg);
  char act[600];
  snprintf(act, sizeof(act), "make %s a %s", e.name, role_s);
  return org_file_edit(s, resp, &e, act);
}

/* ---- POST /api/rekey ---- */

static json_t *readers(const org_reader *r, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    json_array_append_new(a, json_string(r[i].who));
  return a;
}

static int api_rekey(ui_server *s, const httpd_request *req, json_t *args,
                     httpd_response *resp) {
  (void)req;
  bool dry = json_is_true(json_object_get(args, "dryRun"));
  bool confirmed = json_is_true(json_object_get(args, "confirm"));
  spec_tree *t = write_tree(s, resp);
  if (t == NULL)
    return 0;
  op o;
  os_error err = OS_ERROR_INIT;
  org_rekey_plan p;
  memset(&p, 0, sizeof(p));
  int rc = op_begin(&o, s, &err);
  const spec_member *who = NULL;
  /* re-sealing rewrites secrets: what `set` may do (admins and members) */
  if (rc == 0)
    rc = org_require(&who, &o.c, t, ORG_ACTION_WRITE, &err);
  if (rc == 0)
    rc = org_rekey_plan_build(&p, t, &err);
  /* as `rekey` without --yes: widening access needs the user's yes */
  if (rc == 0 && !dry && p.widened > 0 && !confirmed)
    rc = os_error_set(&err, OS_EINVAL, "re-sealing grants access to %zu secret(s): confirm it",
                      p.widened);
  if (rc == 0 && !dry && p.n > 0)
    rc = org_rekey_apply(&o.c, t, &p, &err);
  if (rc < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
    goto done;
  }
  json_t *items = json_array(), *files = json_array(), *grant = json_array(),
         *rotate = json_array(), *failed = json_array();
  for (size_t i = 0; i < p.n; i++) {
    const org_rekey_item *it = &p.v[i];
    const spec_secret *sec = it->secret;
    char what[SPEC_NAME_MAX + 300], line[SPEC_NAME_MAX + 1200];
    (void)secret_label(what, sizeof(what), sec->environment, sec->application, sec->name);
    json_array_append_new(items, json_pack("{s:s, s:o, s:o, s:o}", "secret", what, "gains",
                                           readers(it->gains, it->n_gains), "losses",
                                           readers(it->losses, it->n_losses), "error",
                                           opt_str(it->error)));
    for (size_t k = 0; k < it->n_gains; k++) {
      snprintf(line, sizeof(line), "%s to %s", what, it->gains[k].who);
      json_array_append_new(grant, json_string(line));
    }
    for (size_t k = 0; k < it->n_losses; k++) {
      snprintf(line, sizeof(line), "%s (was readable by %s)", what, it->losses[k].who);
      json_array_append_new(rotate, json_string(line));
    }
    if (!dry && it->error != NULL) {
      snprintf(line, sizeof(line), "%s: %s", what, it->error);
      json_array_append_new(failed, json_string(line));
    } else if (!dry) {
      char act[SPEC_NAME_MAX + 320];
      snprintf(act, sizeof(act), "re-seal %s", what);
      note_change(s, sec->pos.file, act);
      json_array_append_new(files, json_string(rel_path(s, sec->pos.file)));
    }
  }
  rc = reply_changed(resp,
                     json_pack("{s:b, s:I, s:I, s:o, s:o, s:o, s:o}", "dryRun", dry, "stale",
                               (json_int_t)p.n, "resealed",
                               (json_int_t)(dry ? 0 : p.n - p.failed), "items", items, "grant",
                               grant, "rotate", rotate, "failed", failed),
                     files, &o);
done:
  org_rekey_plan_free(&p);
  op_end(&o);
  spec_tree_free(t);
  return rc;
}

/* ---- environments and applications ---- */

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
  return ui_reply_json(resp, 200,
                       json_pack("{s:s, s:i, s:o, s:o}", "organization", o->id, "rotationDays",
                                 o->rotation_days, "environments", envs, "applications", apps));
}

static int api_env_add(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  bool bad = false;
  size_t nc = 0, nn = 0;
  const char **ctl = arg_strings(args, "controllers", &nc, &bad);
  const char **ns = arg_strings(args, "namespaces", &nn, &bad);
  org_env_opts eo = {.name = arg_str(args, "name", &bad), .controllers = ctl,
                     .n_controllers = nc, .namespaces = ns, .n_namespaces = nn};
  const org_edit e = {.kind = EDIT_ENV_ADD, .env = &eo};
  os_error err = OS_ERROR_INIT;
  int rc;
  if (bad || eo.name == NULL || ctl == NULL || ns == NULL)
    rc = ui_reply_error(resp, OS_EINVAL, "name, controllers and namespaces are required");
  else if (org_env_check(&eo, &err) < 0)
    rc = ui_reply_error(resp, err.code, err.msg);
  else {
    char act[200];
    snprintf(act, sizeof(act), "add environment %s", eo.name);
    rc = org_file_edit(s, resp, &e, act);
  }
  free(ctl);
  free(ns);
  return rc;
}

static int api_app_add(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  bool bad = false;
  size_t nn = 0;
  const char **ns = arg_strings(args, "namespaces", &nn, &bad);
  org_app_opts ao = {.name = arg_str(args, "name", &bad), .namespaces = ns, .n_namespaces = nn};
  const org_edit e = {.kind = EDIT_APP_ADD, .app = &ao};
  os_error err = OS_ERROR_INIT;
  int rc;
  if (bad || ao.name == NULL || ns == NULL)
    rc = ui_reply_error(resp, OS_EINVAL, "name and namespaces are required");
  else if (org_app_check(&ao, &err) < 0)
    rc = ui_reply_error(resp, err.code, err.msg);
  else {
    char act[200];
    snprintf(act, sizeof(act), "add application %s", ao.name);
    rc = org_file_edit(s, resp, &e, act);
  }
  free(ns);
  return rc;
}

/* ---- GET /api/lint ---- */

static int api_lint(ui_server *s, const httpd_request *req, json_t *args, httpd_response *resp) {
  (void)req;
  (void)args;
  org_findings f = {0};
  os_error err = OS_ERROR_INIT;
  const org_lint_opts lo = {0};
  if (org_lint(&f, s->dir, &lo, &err) < 0) {
    org_findings_free(&f);
    return ui_reply_error(resp, err.code, err.msg);
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < f.n; i++) {
    const org_finding *x = &f.v[i];
    json_t *fix = json_null();
    /* one-click fixes where a command exists */
    if (strcmp(x->code, "stale-recipients") == 0 || (x->fix != NULL && strstr(x->fix, "rekey")))
      fix = json_pack("{s:s}", "action", "rekey");
    else if (strcmp(x->code, "rotation") == 0 && x->object != NULL)
      fix = json_pack("{s:s, s:s}", "action", "rotate", "object", x->object);
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:o, s:o, s:i, s:s, s:o, s:o}", "severity",
                       x->severity == ORG_ERROR ? "error" : "warning", "code", x->code, "object",
                       opt_str(x->object), "file", opt_str(x->file), "line", x->line, "message",
                       x->message, "command", opt_str(x->fix), "fix", fix));
  }
  json_t *j = json_pack("{s:o, s:I, s:I}", "findings", arr, "errors", (json_int_t)f.errors,
                        "warnings", (json_int_t)f.warnings);
  org_findings_free(&f);
  return ui_reply_json(resp, 200, j);
}

/* ---- GET /api/history ---- */

static int api_history(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)args;
  const char *env = httpd_request_query(req, "environment");
  const char *name = httpd_request_query(req, "name");
  const char *app = httpd_request_query(req, "application");
  if (app != NULL && app[0] == '\0')
    app = NULL;
  if (env == NULL || name == NULL)
    return ui_reply_error(resp, OS_EINVAL, "environment and name are required");
  const spec_tree *t = read_tree(s, resp);
  if (t == NULL)
    return 0;
  const spec_secret *sec = spec_tree_find_secret(t, env, app, name);
  char *file = sec != NULL ? os_strdup(rel_path(s, sec->pos.file))
                           : spec_secret_default_path(env, app, name);
  if (file == NULL)
    return ui_reply_error(resp, OS_ENOMEM, "out of memory");
  org_history h;
  os_error err = OS_ERROR_INIT;
  int rc = org_secret_history(&h, s->dir, file, env, app, name, 200, &err);
  free(file);
  if (rc < 0) {
    org_history_free(&h);
    return ui_reply_error(resp, rc, err.msg);
  }
  json_t *entries = json_array();
  for (size_t i = 0; entries != NULL && i < h.n; i++)
    json_array_append_new(entries, org_history_entry_json(&h.v[i]));
  json_t *j = json_pack("{s:b, s:o, s:o}", "git", h.git, "entries", entries, "note",
                        h.git ? json_null()
                              : json_string("the folder is not a Git checkout (or has no "
                                            "commit): no history"));
  org_history_free(&h);
  return ui_reply_json(resp, 200, j);
}

/* ---- changes and commit ---- */

/* The files the page changed that Git still sees as changed. */
static int page_changes(json_t **out, org_changes *ch, ui_server *s, os_error *err) {
  *out = json_array();
  int rc = org_git_changes(ch, s->dir, err);
  for (size_t i = 0; rc == 0 && i < ch->n; i++) {
    json_t *what = s->changed != NULL ? json_object_get(s->changed, ch->v[i].path) : NULL;
    if (what != NULL)
      json_array_append_new(*out, json_pack("{s:s, s:s, s:O}", "path", ch->v[i].path, "status",
                                            ch->v[i].status, "actions", what));
  }
  return rc;
}

static int api_changes(ui_server *s, const httpd_request *req, json_t *args,
                       httpd_response *resp) {
  (void)req;
  (void)args;
  org_changes ch;
  json_t *files = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = page_changes(&files, &ch, s, &err);
  if (rc < 0) {
    json_decref(files);
    org_changes_free(&ch);
    return ui_reply_error(resp, rc, err.msg);
  }
  /* the generated message: what the page did, file by file */
  os_buf msg;
  os_buf_init(&msg, 64 * 1024, false);
  size_t n = json_array_size(files), actions = 0;
  for (size_t i = 0; i < n; i++)
    actions += json_array_size(json_object_get(json_array_get(files, i), "actions"));
  bool ok = os_buf_printf(&msg, "orgsecrets: %zu change%s from the secrets page\n\n", actions,
                          actions == 1 ? "" : "s") == 0;
  for (size_t i = 0; i < n; i++) {
    json_t *acts = json_object_get(json_array_get(files, i), "actions");
    for (size_t k = 0; ok && k < json_array_size(acts); k++)
      ok = os_buf_printf(&msg, "- %s\n", json_string_value(json_array_get(acts, k))) == 0;
  }
  json_t *j = json_pack("{s:b, s:o, s:I, s:s, s:o}", "git", ch.git, "files", files, "other",
                        (json_int_t)(ch.n - n), "message", msg.data ? msg.data : "", "note",
                        ch.git ? json_null()
                               : json_string("the folder is not a Git checkout: nothing to "
                                             "commit"));
  os_buf_free(&msg);
  org_changes_free(&ch);
  return ui_reply_json(resp, 200, j);
}

static int api_commit(ui_server *s, const httpd_request *req, json_t *args,
                      httpd_response *resp) {
  (void)req;
  bool bad = false;
  size_t n = 0;
  const char **files = arg_strings(args, "files", &n, &bad);
  const char *message = arg_str(args, "message", &bad);
  os_error err = OS_ERROR_INIT;
  org_changes ch;
  memset(&ch, 0, sizeof(ch));
  json_t *pending = NULL;
  int rc = 0;
  if (bad || files == NULL) {
    rc = ui_reply_error(resp, OS_EINVAL, "files (a list) and message are required");
    goto done;
  }
  /* only files the page changed and Git still sees as changed */
  if ((rc = page_changes(&pending, &ch, s, &err)) < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    bool known = false;
    for (size_t k = 0; k < json_array_size(pending) && !known; k++)
      known = strcmp(files[i], json_string_value(json_object_get(json_array_get(pending, k),
                                                                  "path"))) == 0;
    if (!known) {
      rc = ui_reply_error(resp, OS_EINVAL,
                          "a file to commit was not changed by this page (or is committed "
                          "already): reload the Changes tab");
      goto done;
    }
  }
  char commit[41];
  if ((rc = org_git_commit(commit, s->dir, files, n, message, s->as, &err)) < 0) {
    rc = ui_reply_error(resp, rc, err.msg);
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    json_object_del(s->changed, files[i]);
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, json_string(files[i]));
  rc = ui_reply_json(resp, 200, json_pack("{s:s, s:o}", "commit", commit, "files", list));
done:
  json_decref(pending);
  org_changes_free(&ch);
  free(files);
  return rc;
}

/* ---- routing ---- */

static const struct {
  const char *method, *path;
  api_fn fn;
} routes[] = {
    {"GET", "/api/session", api_session},
    {"GET", "/api/secrets", api_secrets},
    {"GET", "/api/name-check", api_name_check},
    {"GET", "/api/history", api_history},
    {"GET", "/api/members", api_members},
    {"GET", "/api/org", api_org},
    {"GET", "/api/lint", api_lint},
    {"GET", "/api/changes", api_changes},
    {"POST", "/api/reveal", api_reveal},
    {"POST", "/api/generate", api_generate},
    {"POST", "/api/secrets/create", api_create},
    {"POST", "/api/secrets/update", api_update},
    {"POST", "/api/secrets/delete", api_delete},
    {"POST", "/api/members/add", api_member_add},
    {"POST", "/api/members/remove", api_member_remove},
    {"POST", "/api/members/role", api_member_role},
    {"POST", "/api/envs/add", api_env_add},
    {"POST", "/api/apps/add", api_app_add},
    {"POST", "/api/rekey", api_rekey},
    {"POST", "/api/commit", api_commit},
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
