/* rekey: plan who gains and who loses access, then re-seal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

/* Names key holders for one plan; the Git history is read only when a key
 * is neither a current member's nor a controller's. */
typedef struct namer {
  const spec_tree *t;
  org_key_history *history;
  bool loaded;
} namer;

static char *describe(namer *nm, const char *fp, bool gained) {
  const spec_org *o = nm->t->org;
  char f[SPEC_FINGERPRINT_LEN + 1], out[SPEC_NAME_MAX + 160];
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient != NULL && seal_fingerprint(f, m->recipient, NULL) == 0 &&
        strcmp(f, fp) == 0) {
      snprintf(out, sizeof(out), gained ? "%s (%s)" : "%s, now a %s", m->name,
               spec_role_name(m->role));
      return os_strdup(out);
    }
  }
  for (size_t i = 0; i < o->n_envs; i++) {
    for (size_t k = 0; k < o->envs[i].n_controllers; k++) {
      if (seal_fingerprint(f, o->envs[i].controllers[k], NULL) == 0 && strcmp(f, fp) == 0) {
        snprintf(out, sizeof(out), "a controller of %s, key %s", o->envs[i].name, fp);
        return os_strdup(out);
      }
    }
  }
  if (!nm->loaded) {
    nm->loaded = true;
    if (org_key_history_load(&nm->history, nm->t->dir, o->pos.file ? o->pos.file
                                                                    : "organization.yaml",
                             NULL) < 0) {
      org_key_history_free(nm->history);
      nm->history = NULL;
    }
  }
  const char *past = org_key_history_name(nm->history, fp);
  if (past != NULL)
    return os_strdup(past);
  snprintf(out, sizeof(out), "key %s", fp);
  return os_strdup(out);
}

static bool contains(char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i], s) == 0)
      return true;
  }
  return false;
}

static bool is_viewer_key(const spec_org *o, const char *fp) {
  char f[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->role == SPEC_ROLE_VIEWER && m->recipient != NULL &&
        seal_fingerprint(f, m->recipient, NULL) == 0 && strcmp(f, fp) == 0)
      return true;
  }
  return false;
}

/* The fingerprints of a that b lacks, as readers. */
static int readers(org_reader **out, size_t *n, namer *nm, char *const *a, size_t n_a,
                   char *const *b, size_t n_b, bool gained) {
  *out = calloc(n_a ? n_a : 1, sizeof(**out));
  *n = 0;
  if (*out == NULL)
    return OS_ENOMEM;
  for (size_t i = 0; i < n_a; i++) {
    if (contains(b, n_b, a[i]))
      continue;
    org_reader *r = &(*out)[*n];
    snprintf(r->fp, sizeof(r->fp), "%s", a[i]);
    r->as_viewer = gained && is_viewer_key(nm->t->org, a[i]);
    if ((r->who = describe(nm, a[i], gained)) == NULL)
      return OS_ENOMEM;
    (*n)++;
  }
  return 0;
}

static void readers_free(org_reader *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    free(v[i].who);
  free(v);
}

void org_rekey_plan_free(org_rekey_plan *p) {
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n; i++) {
    readers_free(p->v[i].gains, p->v[i].n_gains);
    readers_free(p->v[i].losses, p->v[i].n_losses);
    free(p->v[i].error);
  }
  free(p->v);
  memset(p, 0, sizeof(*p));
}

int org_rekey_plan_build(org_rekey_plan *out, const spec_tree *t, os_error *err) {
  memset(out, 0, sizeof(*out));
  namer nm = {t, NULL, false};
  size_t cap = t->n_secrets ? t->n_secrets : 1;
  spec_secret **order = calloc(cap, sizeof(*order));
  out->v = calloc(cap, sizeof(*out->v));
  int rc = 0;
  if (order == NULL || out->v == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  if (t->n_secrets > 0) {
    memcpy(order, t->secrets, t->n_secrets * sizeof(*order));
    qsort(order, t->n_secrets, sizeof(*order), org_secret_cmp);
  }
  for (size_t i = 0; i < t->n_secrets; i++) {
    spec_secret *s = order[i];
    if (spec_org_find_env(t->org, s->environment) == NULL || seal_recipients_current(s, t->org))
      continue; /* an unknown environment is validation's to report */
    char **now = NULL;
    size_t n_now = 0;
    if ((rc = seal_fingerprints_for(&now, &n_now, t->org, s->environment,
                                    s->visible_to_viewers, err)) < 0)
      goto done;
    org_rekey_item *it = &out->v[out->n++];
    it->secret = s;
    rc = readers(&it->gains, &it->n_gains, &nm, now, n_now, s->recipients, s->n_recipients, true);
    if (rc == 0)
      rc = readers(&it->losses, &it->n_losses, &nm, s->recipients, s->n_recipients, now, n_now,
                   false);
    seal_strings_free(now, n_now);
    if (rc < 0) {
      rc = os_error_set(err, rc, "out of memory");
      goto done;
    }
    out->grants += it->n_gains;
    out->widened += it->n_gains > 0;
  }
done:
  org_key_history_free(nm.history);
  free(order);
  return rc;
}

int org_rekey_apply(const org_ctx *c, spec_tree *t, org_rekey_plan *p, os_error *err) {
  p->failed = 0;
  if (p->n == 0)
    return 0;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  int rc = org_keys_get(&ids, &n_ids, c->keys, err);
  if (rc < 0)
    return rc;
  const char **dirty = calloc(p->n, sizeof(*dirty));
  size_t n_dirty = 0;
  if (dirty == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->n; i++) {
    org_rekey_item *it = &p->v[i];
    spec_secret *s = it->secret;
    uint8_t *value = NULL;
    size_t len = 0;
    os_error serr = OS_ERROR_INIT;
    int src = org_unseal(&value, &len, t->org, s, ids, n_ids, &serr);
    if (src == 0) {
      src = seal_value(s, t->org, value, len, &serr);
      os_free_secret(value, len);
    }
    if (src < 0) {
      free(it->error);
      it->error = os_strdup(serr.msg[0] ? serr.msg : os_error_name(src));
      p->failed++;
      continue;
    }
    bool seen = s->pos.file == NULL;
    for (size_t k = 0; k < n_dirty && !seen; k++)
      seen = strcmp(dirty[k], s->pos.file) == 0;
    if (!seen)
      dirty[n_dirty++] = s->pos.file;
  }
  rc = org_write(c, t, dirty, n_dirty, err);
  if (rc == 0)
    p->files = n_dirty;
  free(dirty);
  return rc;
}

void org_reseal_summary(char *out, size_t size, const spec_tree *t) {
  out[0] = '\0';
  size_t stale = 0, unauthorized = org_unauthorized_count(NULL, t);
  os_buf envs;
  os_buf_init(&envs, 4096, false);
  for (size_t e = 0; e < t->org->n_envs; e++) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_secrets; i++)
      if (org_str_eq(t->secrets[i]->environment, t->org->envs[e].name) &&
          !seal_recipients_current(t->secrets[i], t->org))
        n++;
    if (n > 0 && os_buf_printf(&envs, "%s%s: %zu", stale ? ", " : "", t->org->envs[e].name, n) < 0)
      break;
    stale += n;
  }
  if (stale > 0) {
    int w = snprintf(out, size, "%zu secret(s) must be re-sealed (%.*s): run `orgsecrets rekey`",
                     stale, (int)envs.len, envs.data ? envs.data : "");
    if (unauthorized > 0 && w > 0 && (size_t)w < size)
      snprintf(out + w, size - (size_t)w,
               "; %zu of them can still be read by a key that lost access: `orgsecrets lint` "
               "fails until then, and rekey lists them to rotate",
               unauthorized);
  }
  os_buf_free(&envs);
}

void org_rekey_summary(char *out, size_t size, const org_rekey_plan *p, bool applied) {
  os_buf b;
  os_buf_init(&b, 64 * 1024, false);
  size_t done = 0, lost = 0;
  for (size_t i = 0; i < p->n; i++) {
    done += p->v[i].error == NULL;
    lost += p->v[i].error == NULL && p->v[i].n_losses > 0;
  }
  int rc = applied ? os_buf_printf(&b, "re-sealed %zu secret(s) in %zu file(s)", done, p->files)
                   : os_buf_printf(&b, "would re-seal %zu secret(s)", done);
  /* per environment, in the plan's order (sorted by environment) */
  const char *env = NULL;
  size_t count = 0;
  bool first = true;
  for (size_t i = 0; rc == 0 && i <= p->n; i++) {
    const char *e = i < p->n && p->v[i].error == NULL ? p->v[i].secret->environment : NULL;
    if (i < p->n && e == NULL)
      continue;
    if (env != NULL && (e == NULL || strcmp(e, env) != 0)) {
      rc = os_buf_printf(&b, "%s%s: %zu", first ? " (" : ", ", env, count);
      first = false;
      count = 0;
    }
    env = e;
    count++;
  }
  if (rc == 0 && !first)
    rc = os_buf_puts(&b, ")");
  if (rc == 0 && lost > 0)
    rc = os_buf_printf(&b,
                       "; %zu could be read by a key that lost access: rotate %s (rotate: "
                       "lines)",
                       lost, lost > 1 ? "their values" : "its value");
  if (rc == 0 && p->failed > 0)
    rc = os_buf_printf(&b, "; %zu could not be opened with -i", p->failed);
  snprintf(out, size, "%.*s", rc == 0 && b.data ? (int)b.len : 0, b.data ? b.data : "");
  os_buf_free(&b);
}
