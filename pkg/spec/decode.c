/* Strict decoding of Organization and OrgSecret documents from nodes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec_internal.h"

#define MAX_KEYS 16
#define DESCRIPTION_MAX (64 * 1024)
#define LIST_MAX 100000
#define KV_MAX 1024

int dfail(const dctx *d, int line, const char *fmt, ...) {
  char msg[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  os_vformat(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (d->file != NULL)
    return os_error_at(d->err, OS_EINVAL, d->file, line, "%s", msg);
  if (d->object != NULL)
    return os_error_set(d->err, OS_EINVAL, "%s: %s", d->object, msg);
  return os_error_set(d->err, OS_EINVAL, "%s", msg);
}

static const char *kind_name(enum node_kind k) {
  switch (k) {
  case NODE_SCALAR: return "a scalar";
  case NODE_SEQ: return "a list";
  case NODE_MAP: return "a mapping";
  }
  return "?";
}

/* Formats an element path ("spec.members[3]") for messages; a truncated
 * path only shortens a message. */
__attribute__((format(printf, 3, 4))) static void msgpath(char *buf, size_t size, const char *fmt,
                                                          ...) {
  va_list ap;
  va_start(ap, fmt);
  os_vformat(buf, size, fmt, ap);
  va_end(ap);
}

/* Joins "path.field" into buf (path may be empty). */
static const char *fpath(char *buf, size_t size, const char *path, const char *field) {
  int n = snprintf(buf, size, "%s%s%s", path, path[0] ? "." : "", field);
  if (n < 0)
    buf[0] = '\0';
  return buf;
}

/* Matches the keys of mapping m against keys[]; vals[i] gets the value of
 * keys[i] or NULL. Unknown keys fail unless lenient; duplicates always fail. */
static int map_fields(const dctx *d, const node *m, const char *path, const char *const *keys,
                      const node **vals, bool lenient) {
  char fp[256];
  size_t nkeys = 0;
  while (keys[nkeys] != NULL)
    nkeys++;
  for (size_t i = 0; i < nkeys; i++)
    vals[i] = NULL;
  if (m->kind != NODE_MAP)
    return dfail(d, m->line, "%s: expected a mapping, found %s", path[0] ? path : "document",
                 kind_name(m->kind));
  int key_line[MAX_KEYS] = {0};
  for (const node *k = m->first; k != NULL && k->next != NULL; k = k->next->next) {
    if (k->kind != NODE_SCALAR)
      return dfail(d, k->line, "%s: keys must be strings", path[0] ? path : "document");
    size_t i = 0;
    for (; i < nkeys; i++)
      if (keys[i][0] == k->str[0] && strcmp(keys[i], k->str) == 0)
        break;
    if (i == nkeys) {
      if (lenient)
        continue;
      return dfail(d, k->line, "%s: unknown field", fpath(fp, sizeof(fp), path, k->str));
    }
    if (vals[i] != NULL)
      return dfail(d, k->line, "%s: duplicate key (first at line %d)",
                   fpath(fp, sizeof(fp), path, k->str), key_line[i]);
    vals[i] = k->next;
    key_line[i] = k->line;
  }
  return 0;
}

static int need(const dctx *d, const node *m, const node *v, const char *path, const char *field) {
  char fp[256];
  if (v == NULL)
    return dfail(d, m->line, "%s: missing", fpath(fp, sizeof(fp), path, field));
  return 0;
}

static bool is_null(const node *v) {
  return v->kind == NODE_SCALAR && v->plain &&
         (v->len == 0 || strcmp(v->str, "null") == 0 || strcmp(v->str, "~") == 0 ||
          strcmp(v->str, "Null") == 0 || strcmp(v->str, "NULL") == 0);
}

static bool is_string(const node *v) {
  return v->kind == NODE_SCALAR && !(v->plain && spec_plain_is_nonstring(v->str, v->len)) &&
         memchr(v->str, '\0', v->len) == NULL;
}

static int get_str(const dctx *d, const node *v, const char *path, const char *field, char **out) {
  char fp[256];
  if (v->kind != NODE_SCALAR || (v->plain && spec_plain_is_nonstring(v->str, v->len)))
    return dfail(d, v->line, "%s: expected a string", fpath(fp, sizeof(fp), path, field));
  if (strlen(v->str) != v->len)
    return dfail(d, v->line, "%s: contains a NUL character", fpath(fp, sizeof(fp), path, field));
  *out = os_strdup(v->str);
  if (*out == NULL)
    return dfail(d, v->line, "out of memory");
  return 0;
}

static int get_bool(const dctx *d, const node *v, const char *path, const char *field, bool *out) {
  char fp[256];
  if (v->kind == NODE_SCALAR && v->plain) {
    if (strcmp(v->str, "true") == 0 || strcmp(v->str, "True") == 0 || strcmp(v->str, "TRUE") == 0) {
      *out = true;
      return 0;
    }
    if (strcmp(v->str, "false") == 0 || strcmp(v->str, "False") == 0 ||
        strcmp(v->str, "FALSE") == 0) {
      *out = false;
      return 0;
    }
  }
  return dfail(d, v->line, "%s: expected a boolean (true or false)",
               fpath(fp, sizeof(fp), path, field));
}

static int get_int(const dctx *d, const node *v, const char *path, const char *field, long long lo,
                   long long hi, long long *out) {
  char fp[256];
  if (v->kind == NODE_SCALAR && v->plain && v->len > 0 && v->len < 20) {
    size_t i = v->str[0] == '-' ? 1 : 0;
    bool digits = i < v->len;
    for (size_t k = i; k < v->len; k++)
      if (v->str[k] < '0' || v->str[k] > '9')
        digits = false;
    if (digits) {
      errno = 0;
      char *end = NULL;
      long long x = strtoll(v->str, &end, 10);
      if (errno == 0 && end != NULL && *end == '\0') {
        if (x < lo || x > hi)
          return dfail(d, v->line, "%s: must be between %lld and %lld",
                       fpath(fp, sizeof(fp), path, field), lo, hi);
        *out = x;
        return 0;
      }
    }
  }
  return dfail(d, v->line, "%s: expected an integer", fpath(fp, sizeof(fp), path, field));
}

/* A list of strings; each is checked by valid (may be NULL) and described
 * by what in messages. */
static int get_str_list(const dctx *d, const node *v, const char *path, const char *field,
                        bool (*valid)(const char *), const char *what, char ***out, size_t *n_out) {
  char fp[256];
  *out = NULL;
  *n_out = 0;
  if (is_null(v))
    return 0;
  if (v->kind != NODE_SEQ)
    return dfail(d, v->line, "%s: expected a list", fpath(fp, sizeof(fp), path, field));
  if (v->n > LIST_MAX)
    return dfail(d, v->line, "%s: too many entries", fpath(fp, sizeof(fp), path, field));
  if (v->n == 0)
    return 0;
  char **list = calloc(v->n, sizeof(*list));
  if (list == NULL)
    return dfail(d, v->line, "out of memory");
  size_t n = 0;
  int rc = 0;
  for (const node *it = v->first; it != NULL; it = it->next) {
    char item[64];
    if (!is_string(it) || (valid != NULL && !valid(it->str))) {
      msgpath(item, sizeof(item), "%s[%zu]", field, n);
      if (!is_string(it))
        rc = dfail(d, it->line, "%s: expected a string", fpath(fp, sizeof(fp), path, item));
      else
        rc = dfail(d, it->line, "%s: \"%.80s\" is not %s", fpath(fp, sizeof(fp), path, item),
                   it->str, what);
      goto done;
    }
    if ((list[n] = os_strdup(it->str)) == NULL) {
      rc = dfail(d, it->line, "out of memory");
      goto done;
    }
    n++;
  }
done:
  if (rc < 0) {
    spec_strings_free(list, n);
    return rc;
  }
  *out = list;
  *n_out = n;
  return 0;
}

static int get_kv(const dctx *d, const node *v, const char *path, const char *field, spec_kv **out,
                  size_t *n_out) {
  char fp[256];
  *out = NULL;
  *n_out = 0;
  if (is_null(v))
    return 0;
  if (v->kind != NODE_MAP)
    return dfail(d, v->line, "%s: expected a mapping", fpath(fp, sizeof(fp), path, field));
  size_t cnt = v->n / 2;
  if (cnt == 0)
    return 0;
  if (cnt > KV_MAX) /* duplicate detection below is quadratic */
    return dfail(d, v->line, "%s: more than %d entries", fpath(fp, sizeof(fp), path, field), KV_MAX);
  spec_kv *kv = calloc(cnt, sizeof(*kv));
  if (kv == NULL)
    return dfail(d, v->line, "out of memory");
  size_t n = 0;
  int rc = 0;
  char sub[256];
  fpath(sub, sizeof(sub), path, field);
  for (const node *k = v->first; k != NULL && k->next != NULL; k = k->next->next) {
    if ((rc = get_str(d, k, sub, "key", &kv[n].key)) < 0)
      goto done;
    n++;
    for (size_t i = 0; i + 1 < n; i++)
      if (strcmp(kv[i].key, kv[n - 1].key) == 0) {
        rc = dfail(d, k->line, "%s: duplicate key", fpath(fp, sizeof(fp), sub, kv[n - 1].key));
        goto done;
      }
    if ((rc = get_str(d, k->next, sub, kv[n - 1].key, &kv[n - 1].value)) < 0)
      goto done;
  }
done:
  if (rc < 0) {
    spec_kv_free(kv, n);
    return rc;
  }
  *out = kv;
  *n_out = n;
  return 0;
}

static bool valid_dns_label(const char *s) { return spec_dns_label_valid(s); }

static char *pos_file(const dctx *d) { return d->file ? os_strdup(d->file) : NULL; }

static const char *const meta_keys[] = {"name", "labels", "annotations", NULL};
static const char *const meta_keys_cr[] = {"name", "labels", "annotations", "generation", NULL};

/* metadata: name, labels, annotations (files); a custom resource's metadata
 * may carry anything, of which generation is kept. */
static int decode_meta(const dctx *d, const node *m, char **name, int *name_line, spec_kv **labels,
                       size_t *n_labels, spec_kv **annotations, size_t *n_annotations,
                       int64_t *generation) {
  const node *v[5] = {NULL};
  int rc = map_fields(d, m, "metadata", d->lenient_meta ? meta_keys_cr : meta_keys, v,
                      d->lenient_meta);
  if (rc < 0)
    return rc;
  if ((rc = need(d, m, v[0], "metadata", "name")) < 0)
    return rc;
  if ((rc = get_str(d, v[0], "metadata", "name", name)) < 0)
    return rc;
  *name_line = v[0]->line;
  if (v[1] != NULL && (rc = get_kv(d, v[1], "metadata", "labels", labels, n_labels)) < 0)
    return rc;
  if (v[2] != NULL &&
      (rc = get_kv(d, v[2], "metadata", "annotations", annotations, n_annotations)) < 0)
    return rc;
  if (v[3] != NULL && d->lenient_meta) {
    long long g = 0;
    if ((rc = get_int(d, v[3], "metadata", "generation", 0, INT64_MAX, &g)) < 0)
      return rc;
    *generation = g;
  }
  return 0;
}

static const char *const member_keys[] = {"name", "role", "recipient", NULL};

static int decode_member(const dctx *d, const node *m, const char *path, spec_member *out) {
  const node *v[3];
  int rc = map_fields(d, m, path, member_keys, v, false);
  if (rc < 0)
    return rc;
  out->pos.line = m->line;
  out->pos.file = pos_file(d);
  if ((rc = need(d, m, v[0], path, "name")) < 0 || (rc = get_str(d, v[0], path, "name", &out->name)) < 0)
    return rc;
  if (!spec_member_name_valid(out->name))
    return dfail(d, v[0]->line, "%s.name: invalid member name (empty, control characters or too long)", path);
  if ((rc = need(d, m, v[1], path, "role")) < 0)
    return rc;
  char *role = NULL;
  if ((rc = get_str(d, v[1], path, "role", &role)) < 0)
    return rc;
  rc = spec_role_parse(&out->role, role);
  if (rc < 0)
    rc = dfail(d, v[1]->line, "%s.role: \"%.40s\" is not a role (admin, member or viewer)", path, role);
  free(role);
  if (rc < 0)
    return rc;
  if (v[2] != NULL) {
    if ((rc = get_str(d, v[2], path, "recipient", &out->recipient)) < 0)
      return rc;
    if (!spec_recipient_shaped(out->recipient))
      return dfail(d, v[2]->line, "%s.recipient: not an age X25519 recipient (age1...)", path);
  } else if (out->role != SPEC_ROLE_VIEWER) {
    return dfail(d, m->line, "%s: %.80s has role %s but no recipient", path, out->name,
                 spec_role_name(out->role));
  }
  return 0;
}

static const char *const env_keys[] = {"name",       "controllers", "namespaces",
                                       "secretName", "envFile",     NULL};

static int decode_env(const dctx *d, const node *m, const char *path, spec_environment *out) {
  const node *v[5];
  int rc = map_fields(d, m, path, env_keys, v, false);
  if (rc < 0)
    return rc;
  out->pos.line = m->line;
  out->pos.file = pos_file(d);
  if ((rc = need(d, m, v[0], path, "name")) < 0 || (rc = get_str(d, v[0], path, "name", &out->name)) < 0)
    return rc;
  if (!spec_dns_label_valid(out->name))
    return dfail(d, v[0]->line, "%s.name: \"%.80s\" is not a DNS-1123 label", path, out->name);
  if (v[1] != NULL && (rc = get_str_list(d, v[1], path, "controllers", spec_recipient_shaped,
                                         "an age X25519 recipient (age1...)", &out->controllers,
                                         &out->n_controllers)) < 0)
    return rc;
  if (v[2] != NULL && (rc = get_str_list(d, v[2], path, "namespaces", valid_dns_label,
                                         "a DNS-1123 label", &out->namespaces, &out->n_namespaces)) < 0)
    return rc;
  if (v[3] != NULL) {
    if ((rc = get_str(d, v[3], path, "secretName", &out->secret_name)) < 0)
      return rc;
    if (!spec_dns_subdomain_valid(out->secret_name))
      return dfail(d, v[3]->line, "%s.secretName: \"%.80s\" is not a DNS-1123 subdomain", path,
                   out->secret_name);
  }
  if (v[4] != NULL) {
    if ((rc = get_str(d, v[4], path, "envFile", &out->env_file)) < 0)
      return rc;
    if (!spec_env_file_valid(out->env_file))
      return dfail(d, v[4]->line, "%s.envFile: must be a relative path without \"..\"", path);
  }
  return 0;
}

static const char *const app_keys[] = {"name", "namespaces", "secretName", NULL};

static int decode_app(const dctx *d, const node *m, const char *path, spec_application *out) {
  const node *v[3];
  int rc = map_fields(d, m, path, app_keys, v, false);
  if (rc < 0)
    return rc;
  out->pos.line = m->line;
  out->pos.file = pos_file(d);
  if ((rc = need(d, m, v[0], path, "name")) < 0 || (rc = get_str(d, v[0], path, "name", &out->name)) < 0)
    return rc;
  if (!spec_dns_label_valid(out->name))
    return dfail(d, v[0]->line, "%s.name: \"%.80s\" is not a DNS-1123 label", path, out->name);
  if (v[1] != NULL && (rc = get_str_list(d, v[1], path, "namespaces", valid_dns_label,
                                         "a DNS-1123 label", &out->namespaces, &out->n_namespaces)) < 0)
    return rc;
  if (v[2] != NULL) {
    if ((rc = get_str(d, v[2], path, "secretName", &out->secret_name)) < 0)
      return rc;
    if (!spec_dns_subdomain_valid(out->secret_name))
      return dfail(d, v[2]->line, "%s.secretName: \"%.80s\" is not a DNS-1123 subdomain", path,
                   out->secret_name);
  }
  return 0;
}

/* Checks v is a list (or null) and allocates n zeroed elements of size sz. */
static int list_alloc(const dctx *d, const node *v, const char *path, size_t sz, void **out,
                      size_t *n) {
  *out = NULL;
  *n = 0;
  if (is_null(v))
    return 0;
  if (v->kind != NODE_SEQ)
    return dfail(d, v->line, "%s: expected a list", path);
  if (v->n > LIST_MAX)
    return dfail(d, v->line, "%s: too many entries", path);
  if (v->n == 0)
    return 0;
  *out = calloc(v->n, sz);
  if (*out == NULL)
    return dfail(d, v->line, "out of memory");
  return 0;
}

static const char *const org_spec_keys[] = {"rotationDays", "members", "environments",
                                            "applications", NULL};

static int decode_org(spec_org **out, const dctx *d, const node *meta, const node *spec) {
  spec_org *o = spec_org_new();
  int rc = 0, name_line = 0;
  char path[96];
  if (o == NULL)
    return dfail(d, meta->line, "out of memory");
  o->pos.file = pos_file(d);
  if ((rc = decode_meta(d, meta, &o->id, &name_line, &o->labels, &o->n_labels, &o->annotations,
                        &o->n_annotations, &o->generation)) < 0)
    goto done;
  if (!spec_dns_label_valid(o->id)) {
    rc = dfail(d, name_line, "metadata.name: \"%.80s\" is not a DNS-1123 label", o->id);
    goto done;
  }
  const node *v[4];
  if ((rc = map_fields(d, spec, "spec", org_spec_keys, v, false)) < 0)
    goto done;
  if (v[0] != NULL) {
    long long days = 0;
    if ((rc = get_int(d, v[0], "spec", "rotationDays", 0, SPEC_ROTATION_DAYS_MAX, &days)) < 0)
      goto done;
    o->rotation_days = (int)days;
  }
  if (v[1] != NULL) {
    void *p = NULL;
    if ((rc = list_alloc(d, v[1], "spec.members", sizeof(spec_member), &p, &o->n_members)) < 0)
      goto done;
    o->members = p;
    for (const node *it = p ? v[1]->first : NULL; it != NULL; it = it->next) {
      msgpath(path, sizeof(path), "spec.members[%zu]", o->n_members);
      rc = decode_member(d, it, path, &o->members[o->n_members++]);
      if (rc < 0)
        goto done;
    }
  }
  if (v[2] != NULL) {
    void *p = NULL;
    if ((rc = list_alloc(d, v[2], "spec.environments", sizeof(spec_environment), &p, &o->n_envs)) < 0)
      goto done;
    o->envs = p;
    for (const node *it = p ? v[2]->first : NULL; it != NULL; it = it->next) {
      msgpath(path, sizeof(path), "spec.environments[%zu]", o->n_envs);
      rc = decode_env(d, it, path, &o->envs[o->n_envs++]);
      if (rc < 0)
        goto done;
    }
  }
  if (v[3] != NULL) {
    void *p = NULL;
    if ((rc = list_alloc(d, v[3], "spec.applications", sizeof(spec_application), &p, &o->n_apps)) < 0)
      goto done;
    o->apps = p;
    for (const node *it = p ? v[3]->first : NULL; it != NULL; it = it->next) {
      msgpath(path, sizeof(path), "spec.applications[%zu]", o->n_apps);
      rc = decode_app(d, it, path, &o->apps[o->n_apps++]);
      if (rc < 0)
        goto done;
    }
  }
done:
  if (rc < 0) {
    spec_org_free(o);
    return rc;
  }
  *out = o;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const secret_spec_keys[] = {
    "organization", "environment", "name",      "application", "description",
    "state",        "visibleToViewers", "createdBy", "createdAt", "updatedBy",
    "updatedAt",    "rotatedAt",   "recipients", "encryptedValue", "rotationDays", NULL};

enum {
  K_ORG, K_ENV, K_NAME, K_APP, K_DESC, K_STATE, K_VISIBLE, K_CBY, K_CAT, K_UBY, K_UAT, K_RAT,
  K_RECIPIENTS, K_VALUE, K_ROTATION, K_COUNT
};

static int decode_secret(spec_secret **out, const dctx *d, const node *meta, const node *spec) {
  spec_secret *s = spec_secret_new();
  char *mname = NULL, *state = NULL;
  const char *derived = NULL;
  int rc = 0, name_line = 0;
  if (s == NULL)
    return dfail(d, meta->line, "out of memory");
  s->pos.file = pos_file(d);
  if ((rc = decode_meta(d, meta, &mname, &name_line, &s->labels, &s->n_labels, &s->annotations,
                        &s->n_annotations, &s->generation)) < 0)
    goto done;
  const node *v[K_COUNT];
  if ((rc = map_fields(d, spec, "spec", secret_spec_keys, v, false)) < 0)
    goto done;
  if ((rc = need(d, spec, v[K_ORG], "spec", "organization")) < 0 ||
      (rc = get_str(d, v[K_ORG], "spec", "organization", &s->organization)) < 0)
    goto done;
  if (!spec_dns_label_valid(s->organization)) {
    rc = dfail(d, v[K_ORG]->line, "spec.organization: \"%.80s\" is not a DNS-1123 label",
               s->organization);
    goto done;
  }
  if ((rc = need(d, spec, v[K_ENV], "spec", "environment")) < 0 ||
      (rc = get_str(d, v[K_ENV], "spec", "environment", &s->environment)) < 0)
    goto done;
  if (!spec_dns_label_valid(s->environment)) {
    rc = dfail(d, v[K_ENV]->line, "spec.environment: \"%.80s\" is not a DNS-1123 label",
               s->environment);
    goto done;
  }
  if ((rc = need(d, spec, v[K_NAME], "spec", "name")) < 0 ||
      (rc = get_str(d, v[K_NAME], "spec", "name", &s->name)) < 0)
    goto done;
  if (!spec_secret_name_valid(s->name)) {
    rc = dfail(d, v[K_NAME]->line,
               "spec.name: \"%.80s\" is not a valid secret name (^[A-Z][A-Z0-9_]*$, at most %d "
               "characters)",
               s->name, SPEC_NAME_MAX);
    goto done;
  }
  if (v[K_APP] != NULL) {
    if ((rc = get_str(d, v[K_APP], "spec", "application", &s->application)) < 0)
      goto done;
    if (!spec_dns_label_valid(s->application)) {
      rc = dfail(d, v[K_APP]->line, "spec.application: \"%.80s\" is not a DNS-1123 label",
                 s->application);
      goto done;
    }
  }
  if (v[K_DESC] != NULL) {
    if ((rc = get_str(d, v[K_DESC], "spec", "description", &s->description)) < 0)
      goto done;
    if (strlen(s->description) > DESCRIPTION_MAX) {
      rc = dfail(d, v[K_DESC]->line, "spec.description: longer than %d bytes", DESCRIPTION_MAX);
      goto done;
    }
  }
  if (v[K_STATE] != NULL) {
    if ((rc = get_str(d, v[K_STATE], "spec", "state", &state)) < 0)
      goto done;
    if (strcmp(state, "active") == 0) {
      s->state = SPEC_STATE_ACTIVE;
    } else if (strcmp(state, "disabled") == 0) {
      s->state = SPEC_STATE_DISABLED;
    } else {
      rc = dfail(d, v[K_STATE]->line, "spec.state: \"%.40s\" is not active or disabled", state);
      goto done;
    }
  }
  if (v[K_VISIBLE] != NULL &&
      (rc = get_bool(d, v[K_VISIBLE], "spec", "visibleToViewers", &s->visible_to_viewers)) < 0)
    goto done;
  if (v[K_ROTATION] != NULL) {
    long long days = 0;
    if ((rc = get_int(d, v[K_ROTATION], "spec", "rotationDays", 0, SPEC_ROTATION_DAYS_MAX,
                      &days)) < 0)
      goto done;
    s->rotation_days = (int)days;
  }
  struct {
    int k;
    char **dst;
    bool ts;
  } strs[] = {{K_CBY, &s->created_by, false}, {K_CAT, &s->created_at, true},
              {K_UBY, &s->updated_by, false}, {K_UAT, &s->updated_at, true},
              {K_RAT, &s->rotated_at, true}};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    const node *x = v[strs[i].k];
    const char *key = secret_spec_keys[strs[i].k];
    if (x == NULL)
      continue;
    if ((rc = get_str(d, x, "spec", key, strs[i].dst)) < 0)
      goto done;
    if (strs[i].ts && !spec_timestamp_valid(*strs[i].dst)) {
      rc = dfail(d, x->line, "spec.%s: \"%.40s\" is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
                 key, *strs[i].dst);
      goto done;
    }
    if (!strs[i].ts && !spec_member_name_valid(*strs[i].dst)) {
      rc = dfail(d, x->line, "spec.%s: invalid member name", key);
      goto done;
    }
  }
  if ((rc = need(d, spec, v[K_RECIPIENTS], "spec", "recipients")) < 0 ||
      (rc = get_str_list(d, v[K_RECIPIENTS], "spec", "recipients", spec_fingerprint_valid,
                         "a recipient fingerprint (16 lower-case hex digits)", &s->recipients,
                         &s->n_recipients)) < 0)
    goto done;
  if (s->n_recipients == 0) {
    rc = dfail(d, v[K_RECIPIENTS]->line, "spec.recipients: empty");
    goto done;
  }
  qsort(s->recipients, s->n_recipients, sizeof(char *), cmp_str);
  for (size_t i = 1; i < s->n_recipients; i++)
    if (strcmp(s->recipients[i - 1], s->recipients[i]) == 0) {
      rc = dfail(d, v[K_RECIPIENTS]->line, "spec.recipients: duplicate fingerprint %s",
                 s->recipients[i]);
      goto done;
    }
  if ((rc = need(d, spec, v[K_VALUE], "spec", "encryptedValue")) < 0)
    goto done;
  const node *ev = v[K_VALUE];
  if (ev->kind != NODE_SCALAR || (ev->plain && spec_plain_is_nonstring(ev->str, ev->len))) {
    rc = dfail(d, ev->line, "spec.encryptedValue: expected a string");
    goto done;
  }
  if (ev->len == 0) {
    rc = dfail(d, ev->line, "spec.encryptedValue: empty");
    goto done;
  }
  if (ev->len > SPEC_ENCRYPTED_MAX) {
    rc = dfail(d, ev->line, "spec.encryptedValue: larger than %d bytes", SPEC_ENCRYPTED_MAX);
    goto done;
  }
  {
    /* A custom resource may lose the final newline on the way through JSON. */
    bool add_nl = ev->str[ev->len - 1] != '\n';
    size_t n = ev->len + (add_nl ? 1 : 0);
    if ((s->encrypted_value = malloc(n + 1)) == NULL) {
      rc = dfail(d, ev->line, "out of memory");
      goto done;
    }
    memcpy(s->encrypted_value, ev->str, ev->len);
    if (add_nl)
      s->encrypted_value[ev->len] = '\n';
    s->encrypted_value[n] = '\0';
    if (!spec_armor_shaped(s->encrypted_value, n)) {
      rc = dfail(d, ev->line, "spec.encryptedValue: not an ASCII-armored age file");
      goto done;
    }
  }
  s->lines.organization = v[K_ORG]->line;
  s->lines.environment = v[K_ENV]->line;
  s->lines.name = v[K_NAME]->line;
  s->lines.application = v[K_APP] != NULL ? v[K_APP]->line : 0;
  /* Bounded: labels of 63 characters and a name of at most SPEC_NAME_MAX. */
  char derived_buf[3 * 64 + SPEC_NAME_MAX + 8], legacy_buf[3 * 64 + SPEC_NAME_MAX + 8];
  if (spec_resource_name_into(derived_buf, sizeof(derived_buf), s->organization, s->environment,
                              s->application, s->name) == 0) {
    rc = dfail(d, meta->line, "metadata.name: cannot derive the name");
    goto done;
  }
  derived = derived_buf;
  /* an application's secret written before names were per application has
   * the organization-level form: it still loads, and keeps it */
  if (strcmp(derived, mname) != 0 && s->application != NULL &&
      spec_resource_name_into(legacy_buf, sizeof(legacy_buf), s->organization, s->environment, NULL,
                              s->name) > 0 &&
      strcmp(legacy_buf, mname) == 0)
    s->legacy_name = true;
  else if (strcmp(derived, mname) != 0) {
    rc = dfail(d, name_line, "metadata.name: \"%.80s\" does not match the derived name \"%.200s\"",
               mname, derived);
    goto done;
  }
done:
  free(mname);
  free(state);
  if (rc < 0) {
    spec_secret_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

static const char *const top_keys[] = {"apiVersion", "kind", "metadata", "spec", NULL};
static const char *const top_keys_cr[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};

int spec_decode_document(spec_org **org, spec_secret **secret, const dctx *d, const node *root) {
  *org = NULL;
  *secret = NULL;
  const node *v[5];
  int rc = map_fields(d, root, "", top_keys, v, true);
  if (rc < 0)
    return rc;
  if ((rc = need(d, root, v[0], "", "apiVersion")) < 0 || (rc = need(d, root, v[1], "", "kind")) < 0)
    return rc;
  if (v[0]->kind != NODE_SCALAR || strcmp(v[0]->str, SPEC_API_VERSION) != 0)
    return dfail(d, v[0]->line, "apiVersion: unsupported \"%.80s\" (want %s)",
                 v[0]->kind == NODE_SCALAR ? v[0]->str : "", SPEC_API_VERSION);
  bool is_org = v[1]->kind == NODE_SCALAR && strcmp(v[1]->str, "Organization") == 0;
  bool is_secret = v[1]->kind == NODE_SCALAR && strcmp(v[1]->str, "OrgSecret") == 0;
  if (!is_org && !is_secret)
    return dfail(d, v[1]->line, "kind: unsupported \"%.80s\" (want Organization or OrgSecret)",
                 v[1]->kind == NODE_SCALAR ? v[1]->str : "");
  if ((rc = map_fields(d, root, "", d->lenient_meta ? top_keys_cr : top_keys, v, false)) < 0)
    return rc;
  if ((rc = need(d, root, v[2], "", "metadata")) < 0 || (rc = need(d, root, v[3], "", "spec")) < 0)
    return rc;
  if (is_org)
    return decode_org(org, d, v[2], v[3]);
  return decode_secret(secret, d, v[2], v[3]);
}
