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

char *org_secret_label(char *out, size_t size, const char *env, const char *app, const char *name) {
  if (app != NULL)
    snprintf(out, size, "%s/%s/%s", env, app, name);
  else
    snprintf(out, size, "%s/%s", env, name);
  return out;
}

size_t org_secret_app_levels(const char **apps, size_t max, const spec_tree *t, const char *env,
                             const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    if (s->application != NULL && org_str_eq(s->environment, env) && org_str_eq(s->name, name)) {
      if (n < max)
        apps[n] = s->application;
      n++;
    }
  }
  return n;
}

/* ", " separated application names into out ("web, billing and 3 more"). */
static const char *apps_text(char *out, size_t size, const spec_tree *t, const char *env,
                             const char *name, size_t *n_out) {
  const char *apps[4];
  size_t n = org_secret_app_levels(apps, 4, t, env, name);
  os_buf b;
  os_buf_init(&b, size, false);
  int rc = 0;
  for (size_t i = 0; i < n && i < 3 && rc == 0; i++)
    rc = os_buf_printf(&b, "%s%s", i ? ", " : "", apps[i]);
  if (rc == 0 && n > 3)
    rc = os_buf_printf(&b, " and %zu more", n - 3);
  snprintf(out, size, "%.*s", rc == 0 && b.data ? (int)b.len : 0, b.data ? b.data : "");
  os_buf_free(&b);
  *n_out = n;
  return out;
}

/* Says, for an operation that addressed the organization-level secret
 * env/name, that applications have their own secret of that name. */
static void note_app_levels(const org_ctx *c, const spec_tree *t, const char *env,
                            const char *name) {
  char apps[256];
  size_t n = 0;
  apps_text(apps, sizeof(apps), t, env, name, &n);
  if (n > 0)
    org_note(c,
             "note: %s/%s is the organization-level secret; application%s %s %s %s of that "
             "name (pass --app APP to address %s)",
             env, name, n > 1 ? "s" : "", apps, n > 1 ? "have their own" : "has its own",
             n > 1 ? "secrets" : "secret", n > 1 ? "one of them" : "it");
}

/* The error for a secret that is not there: says where one of that name
 * is, for an organization-level lookup that finds only applications'. */
static int not_found(const spec_tree *t, const char *env, const char *app, const char *name,
                     const char *hint, os_error *err) {
  char apps[256];
  size_t n = 0;
  if (app == NULL && apps_text(apps, sizeof(apps), t, env, name, &n) != NULL && n > 0)
    return os_error_set(err, OS_ENOTFOUND,
                        "no organization-level secret %s in %s; application%s %s %s one (pass "
                        "--app APP)",
                        name, env, n > 1 ? "s" : "", apps, n > 1 ? "have" : "has");
  if (app != NULL)
    return os_error_set(err, OS_ENOTFOUND, "no such secret in %s for application %s%s", env, app,
                        hint);
  return os_error_set(err, OS_ENOTFOUND, "no such secret in %s%s", env, hint);
}

int org_bad_error(const spec_bad_file *b, const char *env, const char *app, const char *name,
                  os_error *err) {
  char label[SPEC_NAME_MAX + 160];
  org_secret_label(label, sizeof(label), env, app, name);
  if (b->kind == SPEC_BAD_CONFLICT)
    return os_error_set(err, OS_ECONFLICT,
                        "%s is in %s, which has Git merge conflict markers (line %d); resolve "
                        "them first: orgsecrets resolve %s --env %s%s%s --ours (or --theirs)",
                        label, b->file, b->line, name, env, app ? " --app " : "", app ? app : "");
  return os_error_set(err, OS_ECONFLICT,
                      "%s is in %s, which does not load (%s:%d: %s); fix the "
                      "file first (orgsecrets lint)",
                      label, b->file, b->file, b->line, b->message);
}

size_t org_unauthorized_count(const spec_secret **example, const spec_tree *t) {
  size_t n = 0;
  if (example != NULL)
    *example = NULL;
  seal_authorized *auth = calloc(t->org->n_envs ? t->org->n_envs : 1, sizeof(*auth));
  bool *ready = calloc(t->org->n_envs ? t->org->n_envs : 1, sizeof(*ready));
  for (size_t i = 0; auth != NULL && ready != NULL && i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    size_t e = 0;
    while (e < t->org->n_envs && !org_str_eq(t->org->envs[e].name, s->environment))
      e++;
    if (e == t->org->n_envs)
      continue; /* validation reports it */
    if (!ready[e]) {
      os_error aerr = OS_ERROR_INIT;
      if (seal_authorized_init(&auth[e], t->org, s->environment, &aerr) < 0)
        continue; /* no controller: nothing can be sealed in it anyway */
      ready[e] = true;
    }
    size_t unauthorized = 0, missing = 0;
    seal_authorized_compare(&unauthorized, &missing, &auth[e], s->visible_to_viewers, s->recipients,
                            s->n_recipients);
    if (unauthorized > 0) {
      if (n == 0 && example != NULL)
        *example = s;
      n++;
    }
  }
  for (size_t e = 0; auth != NULL && e < t->org->n_envs; e++)
    seal_authorized_clear(&auth[e]);
  free(auth);
  free(ready);
  return n;
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
  const char *env = o->environment, *app = o->application, *name = o->name;
  if (spec_org_find_env(org, env) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s", env,
                        org->id);
  if (app != NULL && spec_org_find_app(org, app) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "application %s is not defined in organization %s", app,
                        org->id);
  if ((rc = org_require(actor, c, t, ORG_ACTION_WRITE, err)) < 0)
    return rc;
  const spec_secret *cur = spec_tree_find_secret(t, env, app, name);
  const spec_bad_file *bad = cur == NULL ? spec_tree_find_bad(t, env, app, name) : NULL;
  if (bad != NULL)
    return org_bad_error(bad, env, app, name, err);
  /* a folder where some value is sealed to a key the organization no
   * longer authorizes is the trace of a membership change on another
   * branch: sealing more values there would hide it */
  const spec_secret *ex = NULL;
  size_t unauthorized = org_unauthorized_count(&ex, t);
  if (unauthorized > 0) {
    char label[SPEC_NAME_MAX + 160];
    return os_error_set(
        err, OS_ECONFLICT,
        "refusing to seal: %zu secret(s) here are sealed to keys the "
        "organization no longer authorizes (e.g. %s), as after a member was "
        "removed on another branch; run `orgsecrets rekey` (then rotate the "
        "values it lists), then try again",
        unauthorized,
        org_secret_label(label, sizeof(label), ex->environment, ex->application, ex->name));
  }
  char where[128];
  snprintf(where, sizeof(where), "%s%s%s", env, app ? " for application " : "", app ? app : "");
  if (cur != NULL && o->mode == ORG_SET_CREATE)
    return os_error_set(err, OS_ECONFLICT, "already exists in %s (created by %s on %s); use update",
                        where, cur->created_by ? cur->created_by : "?",
                        cur->created_at ? cur->created_at : "?");
  if (cur == NULL && o->mode == ORG_SET_UPDATE)
    return not_found(t, env, app, name, "; use create", err);
  if (cur == NULL && !o->allow_reserved_name) {
    const char *hazard = envfile_name_hazard(name);
    if (hazard != NULL)
      return os_error_set(err, OS_EPERM,
                          "refusing to create a secret named %s: that variable %s (`orgsecrets "
                          "run` refuses it and lint reports it); choose another name, or pass "
                          "--allow-reserved-name",
                          name, hazard);
    if (name[strlen(name) - 1] == '_')
      return os_error_set(err, OS_EPERM,
                          "refusing to create a secret named %s: a name ending in _ cannot be a "
                          "custom resource (its metadata.name would end in -); choose another "
                          "name, or pass --allow-reserved-name",
                          name);
  }
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
static char *secret_file_rel(const char *env, const char *app, const char *name) {
  size_t n = strlen(name);
  if (n + sizeof(".yaml") - 1 <= NAME_MAX)
    return spec_secret_default_path(env, app, name);
  unsigned char md[32];
  unsigned int md_len = 0;
  if (EVP_Digest(name, n, md, &md_len, EVP_sha256(), NULL) != 1)
    return NULL;
  char hex[17];
  os_hex_encode(hex, md, 8);
  os_buf b;
  os_buf_init(&b, 4096, false);
  char *out = NULL;
  if (os_buf_printf(&b, "secrets/%s%s%s/%.200s-%s.yaml", env, app ? "/" : "", app ? app : "", name,
                    hex) < 0 ||
      os_buf_detach(&out, NULL, &b) < 0)
    out = NULL;
  os_buf_free(&b);
  return out;
}

/* The file of a new secret, following the loader's convention for t: paths
 * joined with the folder, or relative to it. Caller frees. */
static char *new_secret_path(const spec_tree *t, const char *env, const char *app,
                             const char *name) {
  char *rel = secret_file_rel(env, app, name);
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

/* A new organization-level secret env/name takes the metadata.name (and,
 * in the CLI's layout, the file) that an application's secret of that name
 * written before names were per application still has: that secret moves
 * to its own file and name first (its ciphertext stays: the envelope binds
 * organization, environment, application and name, not the file). */
static int move_legacy(org_set_result *res, const org_ctx *c, spec_tree *t, const char *env,
                       const char *name, os_error *err) {
  for (size_t i = 0; i < t->n_secrets; i++) {
    spec_secret *s = t->secrets[i];
    if (!s->legacy_name || !org_str_eq(s->environment, env) || !org_str_eq(s->name, name))
      continue;
    char *to = new_secret_path(t, s->environment, s->application, s->name);
    char *from = s->pos.file;
    if (to == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
    if (spec_tree_bad_file(t, to) != NULL || org_str_eq(to, from)) {
      free(to);
      return os_error_set(err, OS_ECONFLICT,
                          "cannot move application %s's %s out of the way: "
                          "%s is taken",
                          s->application, name, from);
    }
    s->pos.file = to;
    s->pos.line = 0;
    s->legacy_name = false;
    const char *files[] = {from, to};
    int rc = org_write(c, t, files, 2, err);
    if (rc < 0) { /* the tree is dropped by the caller on failure */
      free(from);
      return rc;
    }
    org_note(c,
             "moved application %s's %s/%s from %s to %s (the layout of per-application "
             "names; its value is unchanged) to make room for the organization-level secret",
             s->application, env, name, from, to);
    snprintf(res->moved_from, sizeof(res->moved_from), "%s", from);
    res->moved_to = s->pos.file;
    free(from);
  }
  return 0;
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
  if (have_value && org_value_blank(o->value, o->value_len))
    return os_error_set(err, OS_EINVAL,
                        o->value_len == 0 ? "empty value refused"
                                          : "empty value refused (only whitespace)");
  if (have_value && o->value_len > SPEC_VALUE_MAX)
    return os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);

  const spec_org *org = t->org;
  const char *env = o->environment, *name = o->name, *app = o->application;
  if (app == NULL)
    note_app_levels(c, t, env, name);
  spec_secret *s = NULL;
  uint8_t *old_value = NULL;
  size_t old_len = 0;
  char now[OS_TIME_MAX];
  os_now_format(now);
  s = existing ? spec_secret_dup(existing) : spec_secret_new();
  if (s == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if (existing == NULL) {
    if ((s->pos.file = new_secret_path(t, env, app, name)) == NULL ||
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
  if (existing != NULL && value_changed && o->mode == ORG_SET_UPSERT) {
    /* the scripting upsert says whose value it replaced */
    const char *by = existing->updated_by ? existing->updated_by : existing->created_by;
    const char *at = existing->updated_by ? existing->updated_at : existing->created_at;
    char label[SPEC_NAME_MAX + 160], created[SPEC_NAME_MAX + 32] = "";
    if (existing->created_by != NULL && !org_str_eq(existing->created_by, by))
      snprintf(created, sizeof(created), " (created by %s)", existing->created_by);
    if (by != NULL && !org_str_eq(by, who->name))
      org_note(c, "note: %s: replaced the value last set by %s on %s%s",
               org_secret_label(label, sizeof(label), env, app, name), by, at ? at : "?", created);
  }
  if (existing == NULL && app == NULL && (rc = move_legacy(res, c, t, env, name, err)) < 0)
    goto done;
  spec_secret *put = s;
  s = NULL;
  if ((rc = spec_tree_put_secret(t, put, err)) < 0 ||
      (rc = spec_tree_validate(t, NULL, NULL, err)) < 0)
    goto done;
  const spec_secret *saved = spec_tree_find_secret(t, env, app, name);
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

bool org_value_blank(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] != ' ' && v[i] != '\t' && v[i] != '\n' && v[i] != '\r' && v[i] != '\v' && v[i] != '\f')
      return false;
  return true;
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
  *out = NULL;
  const spec_secret *s = spec_tree_find_secret(t, env, app, name);
  const spec_bad_file *bad = s == NULL ? spec_tree_find_bad(t, env, app, name) : NULL;
  if (bad != NULL)
    return org_bad_error(bad, env, app, name, err);
  if (s == NULL)
    return not_found(t, env, app, name, "", err);
  int rc = org_reader_check(c, t->org, s, err);
  if (rc < 0)
    return rc;
  if (app == NULL)
    note_app_levels(c, t, env, name);
  if (s->state == SPEC_STATE_DISABLED) {
    char label[SPEC_NAME_MAX + 160];
    org_note(c, "note: %s is disabled: it is not delivered, rendered or injected",
             org_secret_label(label, sizeof(label), env, app, name));
  }
  *out = s;
  return 0;
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

/* org_secret_delete_check without its notes. */
static int delete_check(const org_ctx *c, const spec_tree *t, const char *env, const char *app,
                        const char *name, os_error *err) {
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_DELETE, err);
  if (rc < 0)
    return rc;
  if (spec_tree_find_secret(t, env, app, name) != NULL)
    return 0;
  const spec_bad_file *bad = spec_tree_find_bad(t, env, app, name);
  if (bad != NULL)
    return org_bad_error(bad, env, app, name, err);
  return not_found(t, env, app, name, "", err);
}

int org_secret_delete_check(const org_ctx *c, const spec_tree *t, const char *env, const char *app,
                            const char *name, os_error *err) {
  int rc = delete_check(c, t, env, app, name, err);
  if (rc == 0 && app == NULL)
    note_app_levels(c, t, env, name);
  return rc;
}

int org_secret_delete(const org_ctx *c, spec_tree *t, const char *env, const char *app,
                      const char *name, os_error *err) {
  int rc = delete_check(c, t, env, app, name, err);
  if (rc < 0)
    return rc;
  spec_secret *gone = spec_tree_take_secret(t, env, app, name);
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
  if (c == 0)
    c = strcmp(x->name, y->name);
  if (c == 0 && x->application != y->application) /* organization level first */
    c = x->application == NULL   ? -1
        : y->application == NULL ? 1
                                 : strcmp(x->application, y->application);
  return c;
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
