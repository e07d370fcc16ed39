/* The JSON of `-o json`: the documented, stable fields of lint findings,
 * the rekey plan, a secret's history and a list row (docs/cli.md). */
#include <jansson.h>
#include <string.h>

#include "org/org.h"

static json_t *opt_str(const char *s) { return s != NULL ? json_string(s) : json_null(); }

json_t *org_findings_json(const org_findings *f) {
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < f->n; i++) {
    const org_finding *x = &f->v[i];
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:i, s:s, s:o}", "severity",
                          x->severity == ORG_ERROR ? "error" : "warning", "code", x->code,
                          "object", opt_str(x->object), "file", opt_str(x->file), "line", x->line,
                          "message", x->message, "fix", opt_str(x->fix));
    if (json_array_append_new(arr, j) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  if (arr == NULL)
    return NULL;
  return json_pack("{s:I, s:I, s:o}", "errors", (json_int_t)f->errors, "warnings",
                   (json_int_t)f->warnings, "findings", arr);
}

static json_t *readers_json(const org_reader *v, size_t n, bool with_viewer) {
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < n; i++) {
    json_t *j = with_viewer ? json_pack("{s:s, s:s, s:b}", "fingerprint", v[i].fp, "who", v[i].who,
                                        "asViewer", v[i].as_viewer)
                            : json_pack("{s:s, s:s}", "fingerprint", v[i].fp, "who", v[i].who);
    if (json_array_append_new(arr, j) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

json_t *org_rekey_plan_json(const org_rekey_plan *p) {
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < p->n; i++) {
    const org_rekey_item *it = &p->v[i];
    const spec_secret *s = it->secret;
    json_t *j = json_pack("{s:s, s:o, s:s, s:o, s:o, s:o}", "environment", s->environment,
                          "application", opt_str(s->application), "name", s->name, "file",
                          opt_str(s->pos.file), "gains", readers_json(it->gains, it->n_gains, true),
                          "losses", readers_json(it->losses, it->n_losses, false));
    if (json_array_append_new(arr, j) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  if (arr == NULL)
    return NULL;
  return json_pack("{s:I, s:I, s:I, s:o}", "reseal", (json_int_t)p->n, "widened",
                   (json_int_t)p->widened, "grants", (json_int_t)p->grants, "secrets", arr);
}

json_t *org_history_entry_json(const org_history_entry *e) {
  json_t *changes = json_array();
  for (unsigned bit = 1; changes != NULL && bit <= ORG_CHANGE_OTHER; bit <<= 1) {
    if ((e->changes & bit) != 0 &&
        json_array_append_new(changes, json_string(org_change_name(bit))) != 0) {
      json_decref(changes);
      return NULL;
    }
  }
  if (changes == NULL)
    return NULL;
  return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "commit", e->commit, "date", e->date,
                   "author", e->author, "by", opt_str(e->by), "subject", e->subject, "changes",
                   changes);
}

size_t org_secret_reader_roles(const char *out[3], const spec_secret *s) {
  size_t n = 0;
  out[n++] = spec_role_name(SPEC_ROLE_ADMIN);
  out[n++] = spec_role_name(SPEC_ROLE_MEMBER);
  if (s->visible_to_viewers)
    out[n++] = spec_role_name(SPEC_ROLE_VIEWER);
  return n;
}

json_t *org_secret_row_json(const spec_org *o, const spec_secret *s, int64_t now) {
  json_t *j = org_secret_json(s);
  const char *roles[3];
  size_t n = org_secret_reader_roles(roles, s);
  json_t *readers = json_array();
  for (size_t i = 0; readers != NULL && i < n; i++) {
    if (json_array_append_new(readers, json_string(roles[i])) != 0) {
      json_decref(readers);
      readers = NULL;
    }
  }
  int64_t age = 0;
  int overdue = org_secret_rotation(&age, o, s, now);
  int policy = org_rotation_policy(o, s);
  if (j == NULL || readers == NULL) {
    json_decref(j);
    json_decref(readers);
    return NULL;
  }
  if (
      json_object_set_new(j, "rotationDays", policy > 0 ? json_integer(policy) : json_null()) ||
      json_object_set_new(j, "rotationAge", overdue >= 0 ? json_integer(age) : json_null()) ||
      json_object_set_new(j, "rotationOverdue", json_boolean(overdue == 1)) ||
      json_object_set_new(j, "readers", readers)) {
    json_decref(j);
    return NULL;
  }
  return j;
}
