/* Who acts with which keys, the role rules, loading and writing the folder. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

struct org_keys {
  char *path; /* NULL: the default */
  bool loaded;
  int rc;
  os_error err;
  age_identity **ids;
  size_t n;
};

int org_identity_path(char *out, size_t out_size, const char *explicit_path, os_error *err) {
  int n;
  if (explicit_path != NULL && explicit_path[0] != '\0') {
    n = snprintf(out, out_size, "%s", explicit_path);
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
      return os_error_set(err, OS_EINVAL, "no identity file: pass -i FILE or set HOME");
    n = snprintf(out, out_size, "%s/.config/orgsecrets/identity", home);
  }
  if (n < 0 || (size_t)n >= out_size)
    return os_error_set(err, OS_EINVAL, "identity path too long");
  return 0;
}

org_keys *org_keys_new(const char *path) {
  org_keys *k = calloc(1, sizeof(*k));
  if (k == NULL)
    return NULL;
  if (path != NULL && path[0] != '\0' && (k->path = os_strdup(path)) == NULL) {
    free(k);
    return NULL;
  }
  return k;
}

static int keys_load(org_keys *k) {
  char path[PATH_MAX];
  int rc = org_identity_path(path, sizeof(path), k->path, &k->err);
  if (rc < 0)
    return rc;
  rc = age_identities_load_file(&k->ids, &k->n, path, &k->err);
  if (rc == OS_ENOTFOUND)
    return os_error_set(&k->err, rc,
                        "no identity file %s: run `orgsecrets keygen` to create one (and give its "
                        "public key to an admin), or pass -i FILE", path);
  if (rc < 0)
    return rc;
  if (k->n == 0) {
    age_identities_free(k->ids, k->n);
    k->ids = NULL;
    return os_error_set(&k->err, OS_EINVAL, "%s holds no identity", path);
  }
  return 0;
}

int org_keys_get(const age_identity *const **ids, size_t *n, org_keys *k, os_error *err) {
  *ids = NULL;
  *n = 0;
  if (k == NULL)
    return os_error_set(err, OS_EINVAL, "no identity file");
  if (!k->loaded) {
    k->loaded = true;
    k->rc = keys_load(k);
  }
  if (k->rc < 0) {
    if (err != NULL)
      *err = k->err;
    return k->rc;
  }
  *ids = (const age_identity *const *)k->ids;
  *n = k->n;
  return 0;
}

void org_keys_free(org_keys *k) {
  if (k == NULL)
    return;
  age_identities_free(k->ids, k->n);
  free(k->path);
  free(k);
}

void org_note(const org_ctx *c, const char *fmt, ...) {
  if (c == NULL || c->note == NULL)
    return;
  char msg[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n >= 0)
    c->note(c->note_ctx, msg);
}

bool org_role_allows(enum spec_role r, enum org_action a) {
  switch (a) {
  case ORG_ACTION_LIST:
    return true;
  case ORG_ACTION_WRITE:
  case ORG_ACTION_REVEAL:
    return r == SPEC_ROLE_ADMIN || r == SPEC_ROLE_MEMBER;
  case ORG_ACTION_DELETE:
  case ORG_ACTION_MANAGE:
    return r == SPEC_ROLE_ADMIN;
  }
  return false;
}

const char *org_action_needs(enum org_action a) {
  switch (a) {
  case ORG_ACTION_WRITE:
    return "creating and updating secrets needs the role member or admin";
  case ORG_ACTION_REVEAL:
    return "reading values needs the role member or admin";
  case ORG_ACTION_DELETE:
    return "deleting secrets needs the role admin";
  case ORG_ACTION_MANAGE:
    return "managing members, environments, applications and the organization needs the role "
           "admin";
  case ORG_ACTION_LIST:
    break;
  }
  return "every member may list";
}

bool org_may_reveal(const spec_member *m, const spec_secret *s) {
  if (m == NULL)
    return true;
  return org_role_allows(m->role, ORG_ACTION_REVEAL) || s->visible_to_viewers;
}

int org_actor(char **out, const org_ctx *c, const char *dir, os_error *err) {
  *out = NULL;
  if (c != NULL && c->actor != NULL && c->actor[0] != '\0') {
    if ((*out = os_strdup(c->actor)) == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
    return 0;
  }
  const char *const args[] = {"config", "user.email", NULL};
  char *email = NULL;
  size_t len = 0;
  if (org_git(&email, &len, dir, args, NULL, 0, 4096, NULL) == 0) {
    email[strcspn(email, "\r\n")] = '\0';
    if (email[0] != '\0') {
      *out = email;
      return 0;
    }
    free(email);
  }
  return os_error_set(err, OS_EINVAL,
                      "no acting member: pass --as NAME, set ORGSECRETS_USER or git config "
                      "user.email");
}

int org_require(const spec_member **who, const org_ctx *c, const spec_tree *t,
                enum org_action a, os_error *err) {
  *who = NULL;
  char *name = NULL;
  int rc = org_actor(&name, c, t->dir, err);
  if (rc < 0)
    return rc;
  const spec_member *m = spec_org_find_member(t->org, name);
  if (m == NULL)
    rc = os_error_set(err, OS_EPERM,
                      "%s is not a member of organization %s (ask an admin to run `orgsecrets "
                      "member add %s --role ROLE ...`, or pass --as NAME)", name, t->org->id, name);
  else if (!org_role_allows(m->role, a))
    rc = os_error_set(err, OS_EPERM, "permission denied: %s is a %s; %s", name,
                      spec_role_name(m->role), org_action_needs(a));
  else
    *who = m;
  free(name);
  return rc;
}

int org_load(spec_tree **out, const char *dir, os_error *err) {
  *out = NULL;
  int rc = spec_tree_load_lenient(out, dir, err);
  if (rc == OS_ENOTFOUND) {
    char why[OS_ERROR_MSG_MAX];
    snprintf(why, sizeof(why), "%s",
             err != NULL && err->msg[0] != '\0' ? err->msg : "no organization");
    return os_error_set(err, rc, "%s (create one with: orgsecrets init --org ORG)", why);
  }
  if (rc == OS_ECONFLICT && err != NULL) { /* Git conflict markers in the Organization's file */
    char why[OS_ERROR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err->msg);
    return os_error_set(err, rc,
                        "%s; keep one side with `orgsecrets resolve FILE --ours|--theirs`, then "
                        "re-apply the other side's change",
                        why);
  }
  if (rc < 0)
    return rc;
  if ((*out)->org == NULL) {
    spec_tree_free(*out);
    *out = NULL;
    return os_error_set(err, OS_ENOTFOUND,
                        "no organization (create one with: orgsecrets init --org ORG)");
  }
  return 0;
}

/* The directory part of path into out; false when it does not fit. */
static bool dir_of(char out[PATH_MAX], const char *path) {
  const char *slash = strrchr(path, '/');
  int n;
  if (slash == NULL)
    n = snprintf(out, PATH_MAX, ".");
  else
    n = snprintf(out, PATH_MAX, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  return n > 0 && n < PATH_MAX;
}

static void sweep_dir(const org_ctx *c, const char *dir, const char *legacy) {
  size_t n = 0;
  const os_temps_opts o = {.remove = true, .legacy = legacy};
  if (os_temps_sweep(dir, &o, &n, NULL) == 0 && n > 0)
    org_note(c, "removed %zu stale temporary file(s) of an interrupted write in %s", n, dir);
}

void org_sweep_near(const org_ctx *c, const char *path, const char *legacy) {
  char dir[PATH_MAX];
  if (dir_of(dir, path))
    sweep_dir(c, dir, legacy);
}

int org_write(const org_ctx *c, const spec_tree *t, const char *const *files, size_t n,
              os_error *err) {
  char **swept = calloc(n ? n : 1, sizeof(*swept));
  size_t n_swept = 0;
  int rc = swept == NULL ? os_error_set(err, OS_ENOMEM, "out of memory") : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *path = os_path_join(t->dir ? t->dir : ".", files[i]);
    char dir[PATH_MAX];
    if (path != NULL && dir_of(dir, path)) {
      bool seen = false;
      for (size_t k = 0; k < n_swept && !seen; k++)
        seen = strcmp(swept[k], dir) == 0;
      if (!seen) {
        sweep_dir(c, dir, ".yaml");
        if ((swept[n_swept] = os_strdup(dir)) != NULL)
          n_swept++;
      }
    }
    free(path);
    rc = spec_tree_write_file(t, files[i], err);
  }
  for (size_t k = 0; k < n_swept; k++)
    free(swept[k]);
  free(swept);
  return rc;
}

size_t org_count_stale(const spec_tree *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    if (!seal_recipients_current(t->secrets[i], t->org))
      n++;
  }
  return n;
}
