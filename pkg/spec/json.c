/* Custom resources (JSON from the API server) <-> the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec_internal.h"

#define JSON_DEPTH_MAX 64

/* JSON values become nodes: strings quoted scalars, true/false/null/numbers
 * plain scalars, so the YAML decoder's type rules apply unchanged. */
static node *from_json(arena *a, const json_t *j, int depth) {
  if (depth > JSON_DEPTH_MAX)
    return NULL;
  node *n = NULL;
  char num[64];
  int w = 0;
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    if ((n = node_new(a, NODE_MAP, 0)) == NULL)
      return NULL;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)j, key, val) {
      node *k = node_new(a, NODE_SCALAR, 0);
      node *v = from_json(a, val, depth + 1);
      if (k == NULL || v == NULL || node_set_str(a, k, key, strlen(key)) < 0)
        return NULL;
      node_append(n, k);
      node_append(n, v);
    }
    return n;
  }
  case JSON_ARRAY: {
    if ((n = node_new(a, NODE_SEQ, 0)) == NULL)
      return NULL;
    size_t i;
    json_t *val;
    json_array_foreach(j, i, val) {
      node *v = from_json(a, val, depth + 1);
      if (v == NULL)
        return NULL;
      node_append(n, v);
    }
    return n;
  }
  case JSON_STRING:
    if ((n = node_new(a, NODE_SCALAR, 0)) == NULL ||
        node_set_str(a, n, json_string_value(j), json_string_length(j)) < 0)
      return NULL;
    return n;
  case JSON_INTEGER:
    w = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    break;
  case JSON_REAL:
    w = snprintf(num, sizeof(num), "%.17g", json_real_value(j));
    break;
  case JSON_TRUE:
    w = snprintf(num, sizeof(num), "true");
    break;
  case JSON_FALSE:
    w = snprintf(num, sizeof(num), "false");
    break;
  case JSON_NULL:
    w = snprintf(num, sizeof(num), "null");
    break;
  }
  if (w < 0 || (size_t)w >= sizeof(num))
    return NULL;
  if ((n = node_new(a, NODE_SCALAR, 0)) == NULL || node_set_str(a, n, num, (size_t)w) < 0)
    return NULL;
  n->plain = true;
  return n;
}

static const char *meta_name(const json_t *obj) {
  const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
  return s != NULL ? s : "";
}

static int decode_json(spec_org **org, spec_secret **secret, const json_t *obj, os_error *err) {
  char object[320];
  const char *kind = json_string_value(json_object_get(obj, "kind"));
  const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
  /* Bounded by the precisions: cannot truncate. */
  int w = snprintf(object, sizeof(object), "%.40s %.253s", kind ? kind : "object",
                   name ? name : "(unnamed)");
  if (w < 0)
    object[0] = '\0';
  dctx d = {.object = object, .lenient_meta = true, .err = err};
  if (!json_is_object(obj))
    return dfail(&d, 0, "expected a JSON object");
  arena *a = arena_new();
  if (a == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  int rc;
  node *root = from_json(a, obj, 0);
  if (root == NULL)
    rc = dfail(&d, 0, "out of memory or nested too deeply");
  else
    rc = spec_decode_document(org, secret, &d, root);
  arena_free(a);
  return rc;
}

int spec_secret_from_json(spec_secret **out, const json_t *obj, os_error *err) {
  *out = NULL;
  spec_org *o = NULL;
  spec_secret *s = NULL;
  int rc = decode_json(&o, &s, obj, err);
  if (rc < 0)
    return rc;
  if (s == NULL) {
    spec_org_free(o);
    return os_error_set(err, OS_EINVAL, "Organization %.253s: expected kind OrgSecret",
                        meta_name(obj));
  }
  *out = s;
  return 0;
}

int spec_org_from_json(spec_org **out, const json_t *obj, os_error *err) {
  *out = NULL;
  spec_org *o = NULL;
  spec_secret *s = NULL;
  int rc = decode_json(&o, &s, obj, err);
  if (rc < 0)
    return rc;
  if (o == NULL) {
    spec_secret_free(s);
    return os_error_set(err, OS_EINVAL, "OrgSecret %.253s: expected kind Organization",
                        meta_name(obj));
  }
  *out = o;
  return 0;
}

/* json_object_set_new that tolerates NULL values (field omitted) and
 * remembers allocation failure in *ok. */
static void set(json_t *o, const char *key, json_t *v, bool *ok) {
  if (v == NULL || json_object_set_new(o, key, v) != 0)
    *ok = false;
}

static void set_str(json_t *o, const char *key, const char *s, bool *ok) {
  if (s != NULL)
    set(o, key, json_string(s), ok);
}

static json_t *str_array(char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    if (json_array_append_new(a, json_string(v[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *kv_object(const spec_kv *kv, size_t n) {
  json_t *o = json_object();
  for (size_t i = 0; o != NULL && i < n; i++)
    if (json_object_set_new(o, kv[i].key, json_string(kv[i].value)) != 0) {
      json_decref(o);
      return NULL;
    }
  return o;
}

static json_t *resource(const char *kind, const char *name, const spec_kv *labels, size_t n_labels,
                        const spec_kv *annotations, size_t n_annotations, json_t *spec, bool *ok) {
  json_t *r = json_object(), *meta = json_object();
  if (r == NULL || meta == NULL) {
    json_decref(r);
    json_decref(meta);
    json_decref(spec);
    *ok = false;
    return NULL;
  }
  set_str(r, "apiVersion", SPEC_API_VERSION, ok);
  set_str(r, "kind", kind, ok);
  set_str(meta, "name", name, ok);
  if (n_labels > 0)
    set(meta, "labels", kv_object(labels, n_labels), ok);
  if (n_annotations > 0)
    set(meta, "annotations", kv_object(annotations, n_annotations), ok);
  set(r, "metadata", meta, ok);
  set(r, "spec", spec, ok);
  return r;
}

json_t *spec_secret_to_json(const spec_secret *s) {
  bool ok = true;
  json_t *spec = json_object();
  if (spec == NULL)
    return NULL;
  char *rname = spec_secret_resource_name(s->organization, s->environment,
                                          s->legacy_name ? NULL : s->application, s->name);
  if (rname == NULL)
    ok = false;
  set_str(spec, "organization", s->organization, &ok);
  set_str(spec, "environment", s->environment, &ok);
  set_str(spec, "name", s->name, &ok);
  set_str(spec, "application", s->application, &ok);
  set_str(spec, "description", s->description, &ok);
  set_str(spec, "state", s->state == SPEC_STATE_DISABLED ? "disabled" : "active", &ok);
  set(spec, "visibleToViewers", json_boolean(s->visible_to_viewers), &ok);
  set_str(spec, "createdBy", s->created_by, &ok);
  set_str(spec, "createdAt", s->created_at, &ok);
  set_str(spec, "updatedBy", s->updated_by, &ok);
  set_str(spec, "updatedAt", s->updated_at, &ok);
  set_str(spec, "rotatedAt", s->rotated_at, &ok);
  if (s->rotation_days != SPEC_ROTATION_INHERIT)
    set(spec, "rotationDays", json_integer(s->rotation_days), &ok);
  set(spec, "recipients", str_array(s->recipients, s->n_recipients), &ok);
  set_str(spec, "encryptedValue", s->encrypted_value, &ok);
  json_t *r = resource("OrgSecret", rname, s->labels, s->n_labels, s->annotations,
                       s->n_annotations, spec, &ok);
  free(rname);
  if (!ok) {
    json_decref(r);
    return NULL;
  }
  return r;
}

json_t *spec_org_to_json(const spec_org *o) {
  bool ok = true;
  json_t *spec = json_object(), *members = json_array(), *envs = json_array(),
         *apps = json_array();
  if (spec == NULL || members == NULL || envs == NULL || apps == NULL) {
    json_decref(spec);
    json_decref(members);
    json_decref(envs);
    json_decref(apps);
    return NULL;
  }
  if (o->rotation_days != 0)
    set(spec, "rotationDays", json_integer(o->rotation_days), &ok);
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    json_t *j = json_object();
    if (j == NULL) {
      ok = false;
      break;
    }
    set_str(j, "name", m->name, &ok);
    set_str(j, "role", spec_role_name(m->role), &ok);
    set_str(j, "recipient", m->recipient, &ok);
    if (json_array_append_new(members, j) != 0)
      ok = false;
  }
  for (size_t i = 0; i < o->n_envs; i++) {
    const spec_environment *e = &o->envs[i];
    json_t *j = json_object();
    if (j == NULL) {
      ok = false;
      break;
    }
    set_str(j, "name", e->name, &ok);
    if (e->n_controllers > 0)
      set(j, "controllers", str_array(e->controllers, e->n_controllers), &ok);
    if (e->n_namespaces > 0)
      set(j, "namespaces", str_array(e->namespaces, e->n_namespaces), &ok);
    set_str(j, "secretName", e->secret_name, &ok);
    set_str(j, "envFile", e->env_file, &ok);
    if (json_array_append_new(envs, j) != 0)
      ok = false;
  }
  for (size_t i = 0; i < o->n_apps; i++) {
    const spec_application *a = &o->apps[i];
    json_t *j = json_object();
    if (j == NULL) {
      ok = false;
      break;
    }
    set_str(j, "name", a->name, &ok);
    if (a->n_namespaces > 0)
      set(j, "namespaces", str_array(a->namespaces, a->n_namespaces), &ok);
    set_str(j, "secretName", a->secret_name, &ok);
    if (json_array_append_new(apps, j) != 0)
      ok = false;
  }
  if (o->n_members > 0)
    set(spec, "members", members, &ok);
  else
    json_decref(members);
  if (o->n_envs > 0)
    set(spec, "environments", envs, &ok);
  else
    json_decref(envs);
  if (o->n_apps > 0)
    set(spec, "applications", apps, &ok);
  else
    json_decref(apps);
  json_t *r = resource("Organization", o->id, o->labels, o->n_labels, o->annotations,
                       o->n_annotations, spec, &ok);
  if (!ok) {
    json_decref(r);
    return NULL;
  }
  return r;
}
