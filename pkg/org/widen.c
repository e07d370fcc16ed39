/* lint: access widened since a commit (a new reader key, a viewer flag
 * turned on), comparing the folder with its files at that commit, each
 * parsed with the spec decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

spec_tree *org_git_tree_at(const char *dir, const char *ref, const char *file) {
  char *text = NULL;
  size_t len = 0;
  if (org_git_show(&text, &len, dir, ref, file, NULL) < 0)
    return NULL;
  spec_tree *t = spec_tree_new(dir);
  if (t != NULL && spec_tree_parse(t, file, text, len, NULL) < 0) {
    spec_tree_free(t);
    t = NULL;
  }
  free(text);
  return t;
}

/* What the key fp may read in o: 2 every secret, 1 those visible to
 * viewers, 0 nothing. */
static int key_reach(const spec_org *o, const char *fp) {
  int best = 0;
  char f[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; o != NULL && i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient == NULL || seal_fingerprint(f, m->recipient, NULL) < 0 || strcmp(f, fp) != 0)
      continue;
    int r = m->role == SPEC_ROLE_VIEWER ? 1 : 2;
    best = r > best ? r : best;
  }
  return best;
}

static bool env_has_controller(const spec_org *o, const char *env, const char *recipient) {
  const spec_environment *e = o ? spec_org_find_env(o, env) : NULL;
  for (size_t k = 0; e != NULL && k < e->n_controllers; k++)
    if (strcmp(e->controllers[k], recipient) == 0)
      return true;
  return false;
}

static bool has_viewer_key(const spec_org *o) {
  for (size_t i = 0; i < o->n_members; i++)
    if (o->members[i].role == SPEC_ROLE_VIEWER && o->members[i].recipient != NULL)
      return true;
  return false;
}

/* New reader keys in the organization: one warning each. */
static int widened_keys(org_findings *out, const spec_tree *t, const spec_org *oo,
                        const char *ref) {
  const spec_org *o = t->org;
  char fp[SPEC_FINGERPRINT_LEN + 1], object[SPEC_NAME_MAX + 80];
  size_t visible = 0;
  int rc = 0;
  for (size_t i = 0; i < t->n_secrets; i++)
    visible += t->secrets[i]->visible_to_viewers;
  for (size_t i = 0; rc == 0 && i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient == NULL || seal_fingerprint(fp, m->recipient, NULL) < 0)
      continue;
    snprintf(object, sizeof(object), "member %s", m->name);
    int now = m->role == SPEC_ROLE_VIEWER ? 1 : 2, was = key_reach(oo, fp);
    if (now == 2 && was < 2)
      rc = org_finding_add(out, NULL, ORG_WARNING, "widened", object, m->pos.file, m->pos.line,
                           NULL,
                           "since %s, %s (%s, key %s) can read every secret: %s; rekey will "
                           "seal to it", ref, m->name, spec_role_name(m->role), fp,
                           was == 1 ? "the key was a viewer's"
                           : spec_org_find_member(oo, m->name) != NULL ? "the member's key changed"
                                                                       : "a new member");
    else if (now == 1 && was == 0 && visible > 0)
      rc = org_finding_add(out, NULL, ORG_WARNING, "widened", object, m->pos.file, m->pos.line,
                           NULL,
                           "since %s, %s (viewer, key %s) can read the %zu secret(s) visible to "
                           "viewers", ref, m->name, fp, visible);
  }
  for (size_t i = 0; rc == 0 && i < o->n_envs; i++) {
    const spec_environment *e = &o->envs[i];
    if (spec_org_find_env(oo, e->name) == NULL)
      continue; /* a new environment: its secrets are new too */
    snprintf(object, sizeof(object), "environment %s", e->name);
    for (size_t k = 0; rc == 0 && k < e->n_controllers; k++)
      if (!env_has_controller(oo, e->name, e->controllers[k]) &&
          seal_fingerprint(fp, e->controllers[k], NULL) == 0)
        rc = org_finding_add(out, NULL, ORG_WARNING, "widened", object, e->pos.file, e->pos.line,
                             NULL,
                             "since %s, a new controller key %s of environment %s can read its "
                             "secrets", ref, fp, e->name);
  }
  return rc;
}

/* Secrets whose visibleToViewers was turned on: only files whose diff
 * touches that field are read at ref. */
static int widened_visibility(org_findings *out, const spec_tree *t, const char *dir,
                              const char *ref) {
  const char *const args[] = {"diff", "--name-only", "-z", "--relative", "-G",
                              "visibleToViewers:", ref, "--", NULL};
  char *names = NULL;
  size_t len = 0;
  if (org_git(&names, &len, dir, args, NULL, 0, ORG_GIT_OUTPUT_MAX, NULL) < 0)
    return 0;
  int rc = 0;
  for (size_t off = 0; rc == 0 && off < len; off += strlen(names + off) + 1) {
    const char *file = names + off;
    spec_tree *before = org_git_tree_at(dir, ref, file);
    for (size_t i = 0; rc == 0 && before != NULL && i < before->n_secrets; i++) {
      const spec_secret *b = before->secrets[i];
      const spec_secret *s = spec_tree_find_secret(t, b->environment, b->application, b->name);
      if (b->visible_to_viewers || s == NULL || !s->visible_to_viewers)
        continue;
      char object[SPEC_NAME_MAX + 160];
      org_secret_label(object, sizeof(object), s->environment, s->application, s->name);
      rc = org_finding_add(out, NULL, ORG_WARNING, "widened", object, s->pos.file, s->pos.line,
                           "orgsecrets rekey",
                           "%s: since %s, visibleToViewers is on: every viewer with a key can "
                           "read it once it is re-sealed", object, ref);
    }
    spec_tree_free(before);
  }
  free(names);
  return rc;
}

int org_lint_widening(org_findings *out, const spec_tree *t, const char *dir, const char *ref,
                      bool explicit_ref, os_error *err) {
  int rc = 0;
  if (!org_git_is_commit(dir, ref)) {
    if (explicit_ref)
      rc = org_finding_add(out, NULL, ORG_ERROR, "since", NULL, ".", 0, NULL,
                           "--since %s: not a commit of a Git repository at %s", ref, dir);
    goto done;
  }
  const spec_org *o = t->org;
  spec_tree *old = org_git_tree_at(dir, ref, o->pos.file ? o->pos.file : "organization.yaml");
  if (old != NULL && old->org != NULL)
    rc = widened_keys(out, t, old->org, ref);
  spec_tree_free(old);
  if (rc == 0 && has_viewer_key(o))
    rc = widened_visibility(out, t, dir, ref);
done:
  if (rc < 0)
    return os_error_set(err, rc, "lint: out of memory");
  return 0;
}
