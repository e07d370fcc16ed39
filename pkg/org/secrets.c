/* Secrets: create or update with the metadata rules, reveal, delete, list. */
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "envfile/envfile.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

int org_secret_name_check(const char *name, os_error *err) {
  if (!spec_secret_name_valid(name))
    return os_error_set(err, OS_EINVAL,
                        "invalid secret name: must match ^[A-Z][A-Z0-9_]*$, at most %d characters",
                        SPEC_NAME_MAX);
  return 0;
}

/* org_secret_check, also giving the acting member (borrowed from t). */
static int check(const spec_secret **existing, const spec_member **actor, const org_ctx *c,
                 const spec_tree *t, const org_secret_opts *o, os_error *err) {
  *existing = NULL;
  int rc = org_secret_name_check(o->name, err);
  if (rc < 0)
    return rc;
  if (o->rotation_days < ORG_ROTATION_NONE || o->rotation_days > SPEC_ROTATION_DAYS_MAX)
    return os_error_set(err, OS_EINVAL, "invalid rotation days %d: must be 0 to %d",
                        o->rotation_days, SPEC_ROTATION_DAYS_MAX);
  const spec_org *org = t->org;
  if (spec_org_find_env(org, o->environment) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                        o->environment, org->id);
  if (o->application != NULL && spec_org_find_app(org, o->application) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "application %s is not defined in organization %s",
                        o->application, org->id);
  if ((rc = org_require(actor, c, t, ORG_ACTION_WRITE, err)) < 0)
    return rc;
  const spec_secret *cur = spec_tree_find_secret(t, o->environment, o->name);
  if (cur != NULL && o->mode == ORG_SET_CREATE)
    return os_error_set(err, OS_ECONFLICT, "already exists in %s (created by %s on %s); use update",
                        o->environment, cur->created_by ? cur->created_by : "?",
                        cur->created_at ? cur->created_at : "?");
  if (cur == NULL && o->mode == ORG_SET_UPDATE)
    return os_error_set(err, OS_ENOTFOUND, "no such secret in %s; use create", o->environment);
  const char *hazard = envfile_name_hazard(o->name);
  if (hazard != NULL && cur == NULL && !o->allow_reserved_name)
    return os_error_set(err, OS_EPERM,
                        "refusing to create a secret named %s: that variable %s (`orgsecrets run` "
                        "refuses it and lint reports it); choose another name, or pass "
                        "--allow-env %s", o->name, hazard, o->name);
  if (cur != NULL && o->application != NULL && !org_str_eq(cur->application, o->application))
    return os_error_set(err, OS_ECONFLICT, "the secret belongs to %s%s; delete it first to move it",
                        cur->application ? "application " : "the organization level",
                        cur->application ? cur->application : "");
  *existing = cur;
  return 0;
}

int org_secret_check(const spec_secret **existing, const org_ctx *c, const spec_tree *t,
                     const org_secret_opts *o, os_error *err) {
  const spec_secret *cur = NULL;
  const spec_member *who = NULL;
  int rc = check(&cur, &who, c, t, o, err);
  if (existing != NULL)
    *existing = cur;
  return rc;
}

/* "NAME.yaml" does not fit a 255-byte file name for names of 251 to 253
 * characters: those files are "<first 200>-<16 hex of SHA-256(NAME)>.yaml"
 * (the loader reads any file name). */
static char *secret_file_rel(const char *env, const char *name) {
  size_t n = strlen(name);
  if (n + sizeof(".yaml") - 1 <= NAME_MAX)
    return spec_secret_default_path(env, name);
  unsigned char md[32];
  unsigned int md_len = 0;
  if (EVP_Digest(name, n, md, &md_len, EVP_sha256(), NULL) != 1)
    return NULL;
  char hex[17];
  os_hex_encode(hex, md, 8);
  os_buf b;
  os_buf_init(&b, 4096, false);
  char *out = NULL;
  if (os_buf_printf(&b, "secrets/%s/%.200s-%s.yaml", env, name, hex) < 0 ||
      os_buf_detach(&out, NULL, &b) < 0)
    out = NULL;
  os_buf_free(&b);
  return out;
}

/* The file of a new secret, following the loader's convention for t: paths
 * joined with the folder, or relative to it. Caller frees. */
static char *new_secret_path(const spec_tree *t, const char *env, const char *name) {
  char *rel = secret_file_rel(env, name);
  if (rel == NULL)
    return NULL;
  const char *of = t->org != NULL ? t->org->pos.file : NULL;
  size_t dlen = strlen(t->dir);
  if (of == NULL || strncmp(of, t->dir, dlen) != 0 || of[dlen] != '/')
    return rel;
  char *p = os_path_join(t->dir, rel);
  free(rel);
  return p;
}

int org_secret_set(org_set_result *res, const org_ctx *c, spec_tree *t,
                   const org_secret_opts *o, os_error *err) {
  memset(res, 0, sizeof(*res));
  const spec_secret *existing = NULL;
  const spec_member *who = NULL;
  int rc = check(&existing, &who, c, t, o, err);
  if (rc < 0)
    return rc;
  bool have_value = o->value != NULL;
  if (!have_value && existing == NULL)
    return os_error_set(err, OS_EINVAL, "the secret does not exist yet; give it a value");
  if (have_value && o->value_len == 0)
    return os_error_set(err, OS_EINVAL, "empty value refused");
  if (have_value && o->value_len > SPEC_VALUE_MAX)
    return os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);

  const spec_org *org = t->org;
  const char *env = o->environment, *name = o->name;
  spec_secret *s = NULL;
  uint8_t *old_value = NULL;
  size_t old_len = 0;
  char now[OS_TIME_MAX];
  os_now_format(now);
  s = existing ? spec_secret_dup(existing) : spec_secret_new();
  if (s == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if (existing == NULL) {
    if ((s->pos.file = new_secret_path(t, env, name)) == NULL ||
        org_set_str(&s->organization, org->id) || org_set_str(&s->environment, env) ||
        org_set_str(&s->name, name) || org_set_str(&s->application, o->application) ||
        org_set_str(&s->created_by, who->name) || org_set_str(&s->created_at, now)) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    s->state = SPEC_STATE_ACTIVE;
  }
  bool meta_changed = false;
  if (o->description != NULL) {
    const char *d = o->description[0] ? o->description : NULL;
    meta_changed |= !org_str_eq(s->description, d);
    if (org_set_str(&s->description, d)) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (o->visible_to_viewers != ORG_KEEP) {
    bool v = o->visible_to_viewers != 0;
    meta_changed |= s->visible_to_viewers != v;
    s->visible_to_viewers = v;
  }
  if (o->rotation_days != ORG_ROTATION_KEEP) {
    int days = o->rotation_days == ORG_ROTATION_ORG    ? SPEC_ROTATION_INHERIT
               : o->rotation_days == ORG_ROTATION_NONE ? 0
                                                       : o->rotation_days;
    meta_changed |= s->rotation_days != days;
    s->rotation_days = days;
  }
  if (o->state != ORG_KEEP) {
    enum spec_state st = o->state == SPEC_STATE_DISABLED ? SPEC_STATE_DISABLED : SPEC_STATE_ACTIVE;
    meta_changed |= s->state != st;
    s->state = st;
  }

  /* an existing value is opened to compare it, or to re-seal it unchanged */
  bool value_changed = true;
  bool recipients_current = seal_recipients_current(s, org);
  if (existing != NULL && (have_value || !recipients_current)) {
    os_error oerr = OS_ERROR_INIT;
    const age_identity *const *ids = NULL;
    size_t n_ids = 0;
    if (org_keys_get(&ids, &n_ids, c->keys, &oerr) == 0 &&
        seal_unseal(&old_value, &old_len, existing, ids, n_ids, &oerr) == 0) {
      value_changed = have_value && !(old_len == o->value_len &&
                                      os_secure_equal(old_value, o->value, o->value_len));
    } else if (have_value) {
      org_note(c, "note: set %s/%s: cannot open the current value to compare (%s); sealing anew",
               env, name, oerr.msg);
    } else {
      rc = os_error_set(err, OS_ECRYPTO,
                        "the recipients changed, so the value must be re-sealed, but it cannot be "
                        "opened with -i: %s", oerr.msg);
      goto done;
    }
  }
  if (existing != NULL && !have_value)
    value_changed = false;
  bool reseal = value_changed || !recipients_current;
  res->created = existing == NULL;
  res->value_changed = value_changed;
  if (existing != NULL && !reseal && !meta_changed) {
    res->file = existing->pos.file;
    goto done; /* nothing changes: no file is written */
  }
  if (reseal) {
    const uint8_t *v = value_changed ? o->value : old_value;
    size_t vl = value_changed ? o->value_len : old_len;
    if ((rc = seal_value(s, org, v, vl, err)) < 0)
      goto done;
    res->resealed = true;
  }
  if (org_set_str(&s->updated_by, who->name) || org_set_str(&s->updated_at, now) ||
      (value_changed && org_set_str(&s->rotated_at, now))) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  spec_secret *put = s;
  s = NULL;
  if ((rc = spec_tree_put_secret(t, put, err)) < 0 ||
      (rc = spec_tree_validate(t, NULL, NULL, err)) < 0)
    goto done;
  const spec_secret *saved = spec_tree_find_secret(t, env, name);
  if (saved == NULL || saved->pos.file == NULL) {
    rc = os_error_set(err, OS_EINVAL, "internal error: secret has no file");
    goto done;
  }
  const char *file = saved->pos.file;
  if ((rc = org_write(c, t, &file, 1, err)) < 0)
    goto done;
  res->changed = true;
  res->file = saved->pos.file;
done:
  os_free_secret(old_value, old_len);
  spec_secret_free(s);
  return rc;
}

#define GEN_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

int org_value_generate(uint8_t **out, size_t n, os_error *err) {
  *out = NULL;
  if (n == 0 || n > ORG_GENERATE_MAX)
    return os_error_set(err, OS_EINVAL, "a generated value has 1 to %d characters",
                        ORG_GENERATE_MAX);
  uint8_t *v = malloc(n);
  if (v == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if (RAND_bytes(v, (int)n) != 1) {
    free(v);
    return os_error_set(err, OS_ECRYPTO, "random generator failed");
  }
  for (size_t i = 0; i < n; i++)
    v[i] = (uint8_t)GEN_ALPHABET[v[i] & 63]; /* 256 is a multiple of 64: no bias */
  *out = v;
  return 0;
}

int org_secret_readable(const spec_secret **out, const org_ctx *c, const spec_tree *t,
                        const char *env, const char *app, const char *name, os_error *err) {
  (void)app;
  *out = NULL;
  const spec_secret *s = spec_tree_find_secret(t, env, name);
  if (s == NULL)
    return os_error_set(err, OS_ENOTFOUND, "no such secret");
  int rc = org_reader_check(c, t->org, s, err);
  if (rc == 0)
    *out = s;
  return rc;
}

int org_reader_check(const org_ctx *c, const spec_org *o, const spec_secret *s, os_error *err) {
  /* a friendly refusal for a known viewer; the real check is the cryptography */
  const char *as = c != NULL ? c->actor : NULL;
  if (as == NULL || as[0] == '\0')
    return 0;
  const spec_member *m = spec_org_find_member(o, as);
  if (!org_may_reveal(m, s))
    return os_error_set(err, OS_EPERM,
                        "permission denied: %s is a viewer and the secret is not visible to "
                        "viewers; %s", as, org_action_needs(ORG_ACTION_REVEAL));
  if (m != NULL && m->recipient == NULL)
    return os_error_set(err, OS_EPERM,
                        "%s is a viewer without a key, so no value is sealed to them: create "
                        "one with `orgsecrets keygen` and ask an admin to run `orgsecrets "
                        "member update %s --recipient AGE1...` with its public key, then "
                        "`orgsecrets rekey`", as, as);
  return 0;
}

int org_secret_delete_check(const org_ctx *c, const spec_tree *t, const char *env,
                            const char *app, const char *name, os_error *err) {
  (void)app;
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_DELETE, err);
  if (rc < 0)
    return rc;
  if (spec_tree_find_secret(t, env, name) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "no such secret");
  return 0;
}

int org_secret_delete(const org_ctx *c, spec_tree *t, const char *env, const char *app,
                      const char *name, os_error *err) {
  int rc = org_secret_delete_check(c, t, env, app, name, err);
  if (rc < 0)
    return rc;
  spec_secret *gone = spec_tree_take_secret(t, env, name);
  if (gone == NULL || gone->pos.file == NULL) {
    spec_secret_free(gone);
    return os_error_set(err, OS_EINVAL, "internal error: secret has no file");
  }
  const char *file = gone->pos.file;
  rc = org_write(c, t, &file, 1, err);
  spec_secret_free(gone);
  return rc;
}

int org_secret_cmp(const void *a, const void *b) {
  const spec_secret *x = *(const spec_secret *const *)a;
  const spec_secret *y = *(const spec_secret *const *)b;
  int c = strcmp(x->environment, y->environment);
  return c != 0 ? c : strcmp(x->name, y->name);
}

int org_secret_list(const spec_secret ***out, size_t *n, const spec_tree *t, const char *env,
                    os_error *err) {
  *out = NULL;
  *n = 0;
  if (env != NULL && spec_org_find_env(t->org, env) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                        env, t->org->id);
  const spec_secret **v = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*v));
  if (v == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    if (env == NULL || strcmp(t->secrets[i]->environment, env) == 0)
      v[k++] = t->secrets[i];
  }
  qsort(v, k, sizeof(*v), org_secret_cmp);
  *out = v;
  *n = k;
  return 0;
}

const char *org_secret_status(const spec_secret *s) {
  return s->state == SPEC_STATE_DISABLED ? "disabled" : "active";
}

static json_t *opt_string(const char *s) { return s != NULL ? json_string(s) : json_null(); }

json_t *org_secret_json(const spec_secret *s) {
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  int rc = json_object_set_new(o, "name", json_string(s->name)) |
           json_object_set_new(o, "environment", json_string(s->environment)) |
           json_object_set_new(o, "application", opt_string(s->application)) |
           json_object_set_new(o, "status", json_string(org_secret_status(s))) |
           json_object_set_new(o, "description", opt_string(s->description)) |
           json_object_set_new(o, "visibleToViewers", json_boolean(s->visible_to_viewers)) |
           json_object_set_new(o, "createdBy", opt_string(s->created_by)) |
           json_object_set_new(o, "createdAt", opt_string(s->created_at)) |
           json_object_set_new(o, "updatedBy", opt_string(s->updated_by)) |
           json_object_set_new(o, "updatedAt", opt_string(s->updated_at)) |
           json_object_set_new(o, "rotatedAt", opt_string(s->rotated_at));
  if (rc != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}
