/* init, members, environments and applications: editing organization.yaml. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

#define ORG_ENTRIES_MAX ((size_t)1 << 20) /* members, environments or applications */

int org_set_str(char **dst, const char *v) {
  char *c = os_strdup(v);
  if (v != NULL && c == NULL)
    return OS_ENOMEM;
  free(*dst);
  *dst = c;
  return 0;
}

bool org_str_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static char **strings_dup(const char *const *v, size_t n) {
  char **out = calloc(n ? n : 1, sizeof(*out));
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if ((out[i] = os_strdup(v[i])) == NULL) {
      for (size_t k = 0; k < i; k++)
        free(out[k]);
      free(out);
      return NULL;
    }
  }
  return out;
}

/* Runs the loader's checks on the organization as it would be written, then
 * writes organization.yaml: nothing is written that could not load again. */
int org_save_org(const org_ctx *c, const spec_tree *t, os_error *err) {
  int rc = spec_org_check(t->org, err);
  if (rc < 0)
    return os_error_prefix(err, "the change would make organization.yaml unloadable");
  if ((rc = spec_tree_validate(t, NULL, NULL, err)) < 0)
    return rc;
  const char *file = t->org->pos.file;
  return org_write(c, t, &file, 1, err);
}

/* ---- init ---- */

/* True when dir is missing or has no entries besides hidden ones. */
static bool dir_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return true;
  bool empty = true;
  struct dirent *de;
  while (empty && (de = readdir(d)) != NULL)
    empty = de->d_name[0] == '.';
  closedir(d);
  return empty;
}

/* What a careful repository ignores: files that may hold plaintext. */
static const char gitignore_block[] =
    "# orgsecrets: files that may hold plaintext values; never commit them.\n"
    "# Temporary files of an interrupted write (orgsecrets removes them itself)\n"
    ".orgsecrets-tmp-*\n"
    "*.tmp.??????\n"
    "# Rendered values (orgsecrets render -o, env files)\n"
    ".env\n"
    ".env.*\n"
    "*.env\n";

/* Writes .gitignore in dir, or appends the block to an existing one that
 * lacks it. */
static int write_gitignore(const char *dir, os_error *err) {
  char *path = os_path_join(dir, ".gitignore");
  char *old = NULL;
  size_t old_len = 0;
  os_buf b;
  os_buf_init(&b, 16u * 1024 * 1024, false);
  int rc = path == NULL ? os_error_set(err, OS_ENOMEM, "out of memory") : 0;
  if (rc == 0) {
    rc = os_read_file(&old, &old_len, path, b.max / 2, err);
    if (rc == OS_ENOTFOUND) {
      os_error_clear(err);
      rc = 0;
    }
  }
  if (rc == 0 && old != NULL && strstr(old, "\n.orgsecrets-tmp-*\n") != NULL)
    goto done; /* already there */
  if (rc == 0 && old != NULL && old_len > 0) {
    bool ok = os_buf_append(&b, old, old_len) == 0 &&
              (old[old_len - 1] == '\n' || os_buf_puts(&b, "\n") == 0) &&
              os_buf_puts(&b, "\n") == 0;
    if (!ok)
      rc = os_error_set(err, OS_ENOMEM, "%s: too large", path);
  }
  if (rc == 0 && os_buf_puts(&b, gitignore_block) < 0)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  if (rc == 0)
    rc = os_write_file_atomic(path, b.data, b.len, 0644, err);
done:
  os_buf_free(&b);
  free(old);
  free(path);
  return rc;
}

int org_init(const org_ctx *c, const char *dir, const char *org_id, int rotation_days,
             os_error *err) {
  if (!spec_dns_label_valid(org_id))
    return os_error_set(err, OS_EINVAL,
                        "invalid organization id %s: must be a DNS-1123 label (lower-case "
                        "letters, digits and '-', at most 63)", org_id);
  if (rotation_days < 0 || rotation_days > ORG_ROTATION_DAYS_MAX)
    return os_error_set(err, OS_EINVAL, "invalid rotation days %d: must be 0 to %d",
                        rotation_days, ORG_ROTATION_DAYS_MAX);
  spec_tree *t = NULL;
  int rc = 0;
  char *path = os_path_join(dir, "organization.yaml");
  if (path == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  struct stat st;
  os_error lerr = OS_ERROR_INIT;
  if (stat(path, &st) == 0) {
    rc = os_error_set(err, OS_ECONFLICT, "%s already exists; refusing to replace it", path);
    goto done;
  }
  if (!dir_empty(dir) && spec_tree_load(&t, dir, &lerr) == 0 && t->org != NULL) {
    rc = os_error_set(err, OS_ECONFLICT, "%s already holds organization %s (%s)", dir,
                      t->org->id, t->org->pos.file ? t->org->pos.file : "?");
    goto done;
  }
  spec_tree_free(t);
  t = NULL;
  char *enclosing = NULL;
  if ((rc = org_enclosing(&enclosing, dir)) != 0) {
    rc = rc < 0 ? os_error_set(err, rc, "out of memory")
                : os_error_set(err, OS_ECONFLICT,
                               "%s is inside the organization of %s, whose folder cannot hold "
                               "another: run `orgsecrets init` outside it (or work in that one)",
                               dir, enclosing);
    free(enclosing);
    goto done;
  }
  if ((rc = os_mkdir_p(dir, 0755, err)) < 0 || (rc = write_gitignore(dir, err)) < 0)
    goto done;
  t = spec_tree_new(dir);
  spec_org *o = spec_org_new();
  if (t == NULL || o == NULL || (o->id = os_strdup(org_id)) == NULL) {
    spec_org_free(o);
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  o->rotation_days = rotation_days;
  if ((rc = spec_tree_set_org(t, o, err)) < 0)
    goto done;
  const char *file = t->org->pos.file;
  rc = org_write(c, t, &file, 1, err);
done:
  spec_tree_free(t);
  free(path);
  return rc;
}

/* ---- members ---- */

int org_member_check(const char *name, enum spec_role role, const char *recipient,
                     os_error *err) {
  if (role != SPEC_ROLE_VIEWER && recipient == NULL)
    return os_error_set(err, OS_EINVAL,
                        "a %s needs --recipient AGE1... (from orgsecrets keygen)",
                        spec_role_name(role));
  if (recipient != NULL) {
    age_recipient *r = NULL;
    int rc = age_recipient_parse(&r, recipient, err);
    if (rc < 0)
      return os_error_prefix(err, "invalid --recipient");
    age_recipient_free(r);
  }
  (void)name; /* the loader's own checks run on the organization as it would be written */
  return 0;
}

static bool has_admin(const spec_org *o) {
  for (size_t i = 0; i < o->n_members; i++) {
    if (o->members[i].role == SPEC_ROLE_ADMIN)
      return true;
  }
  return false;
}

int org_member_add(const org_ctx *c, spec_tree *t, const char *name, enum spec_role role,
                   const char *recipient, os_error *err) {
  int rc = org_member_check(name, role, recipient, err);
  if (rc < 0)
    return rc;
  spec_org *o = t->org;
  if (has_admin(o)) {
    const spec_member *who = NULL;
    if ((rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err)) < 0)
      return rc;
  } else if (role != SPEC_ROLE_ADMIN) {
    return os_error_set(err, OS_EINVAL, "the organization has no admin yet; add one first");
  }
  if (spec_org_find_member(o, name) != NULL)
    return os_error_set(err, OS_ECONFLICT, "already a member");
  if (os_grow(&o->members, NULL, o->n_members + 1, sizeof(*o->members), ORG_ENTRIES_MAX) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  spec_member *m = &o->members[o->n_members];
  memset(m, 0, sizeof(*m));
  o->n_members++;
  m->role = role;
  if ((m->name = os_strdup(name)) == NULL ||
      (recipient != NULL && (m->recipient = os_strdup(recipient)) == NULL))
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return org_save_org(c, t, err);
}

int org_member_remove(char fp[SPEC_FINGERPRINT_LEN + 1], const org_ctx *c, spec_tree *t,
                      const char *name, os_error *err) {
  snprintf(fp, SPEC_FINGERPRINT_LEN + 1, "none");
  spec_org *o = t->org;
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err);
  if (rc < 0)
    return rc;
  size_t idx = o->n_members, admins = 0;
  for (size_t i = 0; i < o->n_members; i++) {
    if (strcmp(o->members[i].name, name) == 0)
      idx = i;
    if (o->members[i].role == SPEC_ROLE_ADMIN)
      admins++;
  }
  if (idx == o->n_members)
    return os_error_set(err, OS_ENOTFOUND, "not a member of organization %s", o->id);
  if (o->members[idx].role == SPEC_ROLE_ADMIN && admins == 1)
    return os_error_set(err, OS_EINVAL, "refusing to remove the last admin");
  if (o->members[idx].recipient != NULL &&
      seal_fingerprint(fp, o->members[idx].recipient, NULL) < 0)
    snprintf(fp, SPEC_FINGERPRINT_LEN + 1, "?");
  spec_member gone = o->members[idx];
  memmove(&o->members[idx], &o->members[idx + 1], (o->n_members - idx - 1) * sizeof(gone));
  o->n_members--;
  free(gone.name);
  free(gone.recipient);
  free(gone.pos.file);
  return org_save_org(c, t, err);
}

json_t *org_member_json(const spec_member *m) {
  /* recipient is always there (null: a viewer without a key): a stable field set */
  return json_pack("{s:s, s:s, s:s?}", "name", m->name, "role", spec_role_name(m->role),
                   "recipient", m->recipient);
}

/* ---- environments and applications ---- */

static int check_namespaces(const char *const *v, size_t n, os_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (!spec_dns_label_valid(v[i]))
      return os_error_set(err, OS_EINVAL, "invalid namespace %s", v[i]);
  }
  return 0;
}

static int check_secret_name(const char *s, os_error *err) {
  if (s != NULL && !spec_dns_subdomain_valid(s))
    return os_error_set(err, OS_EINVAL,
                        "invalid --secret-name %s: must be a Kubernetes object name (DNS-1123 "
                        "subdomain)", s);
  return 0;
}

int org_env_check(const org_env_opts *o, os_error *err) {
  if (!spec_dns_label_valid(o->name))
    return os_error_set(err, OS_EINVAL, "invalid environment name %s: must be a DNS-1123 label",
                        o->name);
  if (strcmp(o->name, "all") == 0)
    return os_error_set(err, OS_EINVAL,
                        "invalid environment name all: reserved for `orgsecrets list --env all`");
  if (o->n_controllers == 0)
    return os_error_set(err, OS_EINVAL, "at least one --controller is required");
  for (size_t i = 0; i < o->n_controllers; i++) {
    age_recipient *r = NULL;
    if (age_recipient_parse(&r, o->controllers[i], err) < 0)
      return os_error_prefix(err, "invalid --controller");
    age_recipient_free(r);
  }
  int rc = check_namespaces(o->namespaces, o->n_namespaces, err);
  if (rc < 0)
    return rc;
  if (o->env_file != NULL && !spec_env_file_valid(o->env_file))
    return os_error_set(err, OS_EINVAL,
                        "invalid --env-file %s: must be a relative path below the controller's "
                        "--env-file-dir, without \".\" or \"..\" parts", o->env_file);
  return check_secret_name(o->secret_name, err);
}

int org_env_add(const org_ctx *c, spec_tree *t, const org_env_opts *o, os_error *err) {
  int rc = org_env_check(o, err);
  const spec_member *who = NULL;
  if (rc < 0 || (rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err)) < 0)
    return rc;
  spec_org *org = t->org;
  if (spec_org_find_env(org, o->name) != NULL)
    return os_error_set(err, OS_ECONFLICT, "the environment already exists");
  if (os_grow(&org->envs, NULL, org->n_envs + 1, sizeof(*org->envs), ORG_ENTRIES_MAX) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  spec_environment *e = &org->envs[org->n_envs];
  memset(e, 0, sizeof(*e));
  org->n_envs++;
  if ((e->name = os_strdup(o->name)) == NULL ||
      (e->controllers = strings_dup(o->controllers, o->n_controllers)) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  e->n_controllers = o->n_controllers;
  if (o->n_namespaces > 0) {
    if ((e->namespaces = strings_dup(o->namespaces, o->n_namespaces)) == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
    e->n_namespaces = o->n_namespaces;
  }
  if ((o->env_file != NULL && (e->env_file = os_strdup(o->env_file)) == NULL) ||
      (o->secret_name != NULL && (e->secret_name = os_strdup(o->secret_name)) == NULL))
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return org_save_org(c, t, err);
}

int org_app_check(const org_app_opts *o, os_error *err) {
  if (!spec_dns_label_valid(o->name))
    return os_error_set(err, OS_EINVAL, "invalid application name %s: must be a DNS-1123 label",
                        o->name);
  if (o->n_namespaces == 0)
    return os_error_set(err, OS_EINVAL, "at least one --namespace is required");
  int rc = check_namespaces(o->namespaces, o->n_namespaces, err);
  if (rc < 0)
    return rc;
  return check_secret_name(o->secret_name, err);
}

int org_app_add(const org_ctx *c, spec_tree *t, const org_app_opts *o, os_error *err) {
  int rc = org_app_check(o, err);
  const spec_member *who = NULL;
  if (rc < 0 || (rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err)) < 0)
    return rc;
  spec_org *org = t->org;
  if (spec_org_find_app(org, o->name) != NULL)
    return os_error_set(err, OS_ECONFLICT, "the application already exists");
  if (os_grow(&org->apps, NULL, org->n_apps + 1, sizeof(*org->apps), ORG_ENTRIES_MAX) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  spec_application *ap = &org->apps[org->n_apps];
  memset(ap, 0, sizeof(*ap));
  org->n_apps++;
  if ((ap->name = os_strdup(o->name)) == NULL ||
      (ap->namespaces = strings_dup(o->namespaces, o->n_namespaces)) == NULL ||
      (o->secret_name != NULL && (ap->secret_name = os_strdup(o->secret_name)) == NULL))
    return os_error_set(err, OS_ENOMEM, "out of memory");
  ap->n_namespaces = o->n_namespaces;
  return org_save_org(c, t, err);
}
