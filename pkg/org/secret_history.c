/* A secret's history from the Git history of its file: which commits
 * changed it, how (value, re-seal, description, state, visibility), and
 * who (updatedBy of each version, and the commit's author). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"

#define HISTORY_MAX 1000

void org_history_free(org_history *h) {
  for (size_t i = 0; h != NULL && i < h->n; i++) {
    free(h->v[i].author);
    free(h->v[i].date);
    free(h->v[i].subject);
    free(h->v[i].by);
  }
  if (h != NULL) {
    free(h->v);
    h->v = NULL;
    h->n = 0;
  }
}

const char *org_change_name(unsigned bit) {
  switch (bit) {
  case ORG_CHANGE_CREATED: return "created";
  case ORG_CHANGE_VALUE: return "value";
  case ORG_CHANGE_RESEALED: return "resealed";
  case ORG_CHANGE_DESCRIPTION: return "description";
  case ORG_CHANGE_STATE: return "state";
  case ORG_CHANGE_VISIBILITY: return "visibility";
  case ORG_CHANGE_DELETED: return "deleted";
  default: return "other";
  }
}

static const spec_secret *find(const spec_tree *t, const char *env, const char *app,
                               const char *name) {
  return t != NULL ? spec_tree_find_secret(t, env, app, name) : NULL;
}

static unsigned diff(const spec_secret *was, const spec_secret *now) {
  if (was == NULL && now == NULL)
    return 0;
  if (was == NULL)
    return ORG_CHANGE_CREATED;
  if (now == NULL)
    return ORG_CHANGE_DELETED;
  unsigned c = 0;
  if (!org_str_eq(was->rotated_at, now->rotated_at))
    c |= ORG_CHANGE_VALUE;
  else if (!org_str_eq(was->encrypted_value, now->encrypted_value))
    c |= ORG_CHANGE_RESEALED;
  if (!org_str_eq(was->description, now->description))
    c |= ORG_CHANGE_DESCRIPTION;
  if (was->state != now->state)
    c |= ORG_CHANGE_STATE;
  if (was->visible_to_viewers != now->visible_to_viewers)
    c |= ORG_CHANGE_VISIBILITY;
  return c;
}

int org_secret_history(org_history *out, const char *dir, const char *file, const char *env,
                       const char *app, const char *name, size_t max, os_error *err) {
  memset(out, 0, sizeof(*out));
  if (max == 0 || max > HISTORY_MAX)
    max = HISTORY_MAX;
  if (!org_git_is_commit(dir, "HEAD"))
    return 0;
  out->git = true;
  char count[32];
  snprintf(count, sizeof(count), "-n%zu", max);
  /* fields separated by 0x1f, commits by 0x1e: none can occur in them */
  const char *const args[] = {"log", count, "--format=%H%x1f%an <%ae>%x1f%aI%x1f%s%x1e", "--",
                              file, NULL};
  char *log = NULL;
  int rc = org_git(&log, NULL, dir, args, NULL, 0, ORG_GIT_OUTPUT_MAX, err);
  if (rc < 0)
    return rc;
  size_t cap = 0;
  for (char *rec = log; rc == 0 && rec != NULL && *rec != '\0';) {
    char *end = strchr(rec, '\x1e');
    if (end != NULL)
      *end = '\0';
    while (*rec == '\n')
      rec++;
    char *f[4] = {rec, NULL, NULL, NULL};
    for (int i = 1; i < 4 && f[i - 1] != NULL; i++) {
      char *sep = strchr(f[i - 1], '\x1f');
      if (sep != NULL) {
        *sep = '\0';
        f[i] = sep + 1;
      }
    }
    rec = end != NULL ? end + 1 : NULL;
    if (f[3] == NULL || strlen(f[0]) != 40)
      continue;
    char parent[48];
    snprintf(parent, sizeof(parent), "%s^", f[0]);
    spec_tree *now = org_git_tree_at(dir, f[0], file);
    spec_tree *was = org_git_tree_at(dir, parent, file);
    const spec_secret *sn = find(now, env, app, name), *sw = find(was, env, app, name);
    unsigned changes = diff(sw, sn);
    if (changes == 0 && (sn != NULL || sw != NULL))
      changes = ORG_CHANGE_OTHER;
    if (changes != 0) {
      if (os_grow(&out->v, &cap, out->n + 1, sizeof(*out->v), HISTORY_MAX) < 0) {
        rc = os_error_set(err, OS_ENOMEM, "out of memory");
      } else {
        org_history_entry *e = &out->v[out->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->commit, sizeof(e->commit), "%s", f[0]);
        e->changes = changes;
        const char *by = sn != NULL ? (sn->updated_by ? sn->updated_by : sn->created_by) : NULL;
        if (org_set_str(&e->author, f[1]) || org_set_str(&e->date, f[2]) ||
            org_set_str(&e->subject, f[3]) || org_set_str(&e->by, by))
          rc = os_error_set(err, OS_ENOMEM, "out of memory");
      }
    }
    spec_tree_free(now);
    spec_tree_free(was);
  }
  free(log);
  return rc;
}

char *org_secret_file(const spec_tree *t, const char *env, const char *app, const char *name) {
  const spec_secret *s = find(t, env, app, name);
  if (s == NULL || s->pos.file == NULL)
    return spec_secret_default_path(env, app, name);
  size_t dl = t->dir != NULL ? strlen(t->dir) : 0;
  const char *f = s->pos.file;
  if (dl > 0 && strncmp(f, t->dir, dl) == 0 && f[dl] == '/')
    f += dl + 1;
  return os_strdup(f);
}

int org_secret_at(spec_tree **out, const spec_secret **secret, const spec_tree *t,
                  const char *rev, const char *env, const char *app, const char *name,
                  os_error *err) {
  *out = NULL;
  *secret = NULL;
  if (!org_git_is_commit(t->dir, "HEAD"))
    return os_error_set(err, OS_EINVAL,
                        "%s is not in a Git checkout with commits: past versions come from Git",
                        t->dir);
  if (rev[0] == '-' || !org_git_is_commit(t->dir, rev))
    return os_error_set(err, OS_ENOTFOUND, "unknown revision %s (not a commit of %s)", rev,
                        t->dir);
  char *file = org_secret_file(t, env, app, name);
  char *fallback = spec_secret_default_path(env, app, name);
  int rc = 0;
  if (file == NULL || fallback == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  const char *const tries[] = {file, fallback};
  for (size_t i = 0; i < 2 && *secret == NULL; i++) {
    if (i == 1 && strcmp(file, fallback) == 0)
      break;
    spec_tree *past = org_git_tree_at(t->dir, rev, tries[i]);
    const spec_secret *s = find(past, env, app, name);
    if (s != NULL) {
      *out = past;
      *secret = s;
    } else {
      spec_tree_free(past);
    }
  }
  if (*secret == NULL)
    rc = os_error_set(err, OS_ENOTFOUND, "%s/%s did not exist at %s (%s holds no such secret "
                      "there); `orgsecrets history %s` lists its commits", env, name, rev, file,
                      name);
done:
  free(file);
  free(fallback);
  return rc;
}
