/* Which organization folder and which environment a command acts on when
 * the command line does not say: the folder is found upward from the
 * current directory, as git finds .git; the environment comes from the
 * environment variable, the checkout's own setting, or the only one. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "org/org_internal.h"

#define ORG_FILE "organization.yaml"
#define ENV_KEY "orgsecrets.env"

/* True when path is one of the ':'-separated absolute paths of list. */
static bool is_ceiling(const char *list, const char *path) {
  size_t n = strlen(path);
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *colon = strchr(p, ':');
    size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);
    while (len > 1 && p[len - 1] == '/')
      len--;
    if (len == n && strncmp(p, path, n) == 0)
      return true;
    p = colon != NULL ? colon + 1 : NULL;
  }
  return false;
}

static bool holds_org_file(const char *dir) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof(path), "%s%s" ORG_FILE, dir, strcmp(dir, "/") == 0 ? "" : "/");
  struct stat st;
  /* the folder walk follows no link, so neither does the search */
  return n > 0 && (size_t)n < sizeof(path) && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int org_discover(char **out, const char *start, os_error *err) {
  *out = NULL;
  const char *ceilings = getenv("ORGSECRETS_CEILING_DIRECTORIES");
  char dir[PATH_MAX];
  if (start != NULL) {
    if (realpath(start, dir) == NULL)
      return os_error_set(err, OS_ENOTFOUND, "%s: %s", start, strerror(errno));
  } else if (getcwd(dir, sizeof(dir)) == NULL) {
    return os_error_set(err, OS_EIO, "current directory: %s", strerror(errno));
  }
  char first[PATH_MAX];
  memcpy(first, dir, sizeof(first));
  struct stat st;
  if (stat(dir, &st) != 0)
    return os_error_set(err, OS_EIO, "%s: %s", dir, strerror(errno));
  dev_t dev = st.st_dev;
  const char *stop = "the file system's root";
  for (;;) {
    if (holds_org_file(dir))
      return (*out = os_strdup(dir)) != NULL ? 0 : os_error_set(err, OS_ENOMEM, "out of memory");
    if (strcmp(dir, "/") == 0)
      break;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
      slash[1] = '\0';
    else
      *slash = '\0';
    if (is_ceiling(ceilings, dir)) {
      stop = "a directory of ORGSECRETS_CEILING_DIRECTORIES";
      break;
    }
    if (stat(dir, &st) != 0 || st.st_dev != dev) {
      stop = "a mount point";
      break;
    }
  }
  return os_error_set(err, OS_ENOTFOUND,
                      "no " ORG_FILE " in %s or any parent directory (the search stops at %s): "
                      "pass --dir DIR (or set ORGSECRETS_DIR), or create an organization with "
                      "`orgsecrets init --org ORG`", first, stop);
}

int org_enclosing(char **out, const char *dir) {
  *out = NULL;
  /* the nearest existing directory: init may be asked to create dir */
  char path[PATH_MAX];
  int n = snprintf(path, sizeof(path), "%s", dir);
  if (n <= 0 || (size_t)n >= sizeof(path))
    return 0;
  struct stat st;
  while (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    char *slash = strrchr(path, '/');
    if (slash == NULL) {
      snprintf(path, sizeof(path), ".");
      break;
    }
    if (slash == path)
      slash[1] = '\0';
    else
      *slash = '\0';
  }
  char *found = NULL;
  if (org_discover(&found, path, NULL) != 0)
    return 0;
  char *file = os_path_join(found, ORG_FILE);
  free(found);
  if (file == NULL)
    return OS_ENOMEM;
  *out = file;
  return 1;
}

/* ---- the environment ---- */

const char *org_env_from_name(enum org_env_from f) {
  switch (f) {
  case ORG_ENV_FLAG: return "--env";
  case ORG_ENV_VARIABLE: return "ORGSECRETS_ENV";
  case ORG_ENV_CHECKOUT: return "this checkout's `orgsecrets env use`";
  case ORG_ENV_ONLY: return "the only environment";
  case ORG_ENV_NONE: break;
  }
  return "none";
}

int org_env_checkout(char **out, const char *dir) {
  *out = NULL;
  const char *const args[] = {"config", "--get", ENV_KEY, NULL};
  char *v = NULL;
  size_t len = 0;
  if (org_git(&v, &len, dir, args, NULL, 0, 4096, NULL) < 0)
    return 0; /* unset, or no git: no setting */
  v[strcspn(v, "\r\n")] = '\0';
  if (v[0] == '\0') {
    free(v);
    return 0;
  }
  *out = v;
  return 1;
}

/* o's environments as "dev, prod" into b (best effort). */
static void env_names(os_buf *b, const spec_org *o) {
  for (size_t i = 0; o != NULL && i < o->n_envs; i++) {
    if (os_buf_printf(b, "%s%s", i > 0 ? ", " : "", o->envs[i].name) < 0)
      return;
  }
  if ((o == NULL || o->n_envs == 0) && os_buf_puts(b, "none yet") < 0)
    return;
}

/* The Organization of dir: organization.yaml alone when it holds it (cheap),
 * else the whole folder. Caller frees. */
static int read_org(spec_tree **out, const char *dir, os_error *err) {
  *out = NULL;
  char *path = os_path_join(dir, ORG_FILE);
  char *data = NULL;
  size_t len = 0;
  spec_tree *t = NULL;
  int rc = path != NULL ? 0 : OS_ENOMEM;
  if (rc == 0 && os_read_file(&data, &len, path, SPEC_FILE_MAX, NULL) == 0 &&
      (t = spec_tree_new(dir)) != NULL && spec_tree_parse(t, ORG_FILE, data, len, NULL) == 0 &&
      t->org != NULL) {
    *out = t;
    t = NULL;
  } else if (rc == 0) {
    rc = org_load(out, dir, err);
  }
  spec_tree_free(t);
  free(data);
  free(path);
  return rc == OS_ENOMEM ? os_error_set(err, rc, "out of memory") : rc;
}

int org_env_default(char **out, enum org_env_from *from, const char *dir, const spec_org *o,
                    const char *flag, const char *env_var, os_error *err) {
  *out = NULL;
  *from = ORG_ENV_NONE;
  const char *pick = NULL;
  char *checkout = NULL;
  spec_tree *t = NULL;
  int rc = 0;
  if (flag != NULL) {
    pick = flag;
    *from = ORG_ENV_FLAG;
  } else if (env_var != NULL && env_var[0] != '\0') {
    pick = env_var;
    *from = ORG_ENV_VARIABLE;
  } else if (org_env_checkout(&checkout, dir) > 0) {
    pick = checkout;
    *from = ORG_ENV_CHECKOUT;
  } else {
    if (o == NULL) {
      if ((rc = read_org(&t, dir, err)) < 0)
        return rc;
      o = t->org;
    }
    if (o->n_envs == 1) {
      pick = o->envs[0].name;
      *from = ORG_ENV_ONLY;
    } else {
      os_buf names;
      os_buf_init(&names, 4096, false);
      env_names(&names, o);
      rc = os_error_set(err, OS_ENOTFOUND,
                        "no environment given: pass --env ENV, set ORGSECRETS_ENV, or choose "
                        "this checkout's with `orgsecrets env use ENV` (environments: %s)",
                        names.data != NULL ? names.data : "?");
      os_buf_free(&names);
    }
  }
  if (rc == 0 && (*out = os_strdup(pick)) == NULL)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  if (rc < 0)
    *from = ORG_ENV_NONE;
  free(checkout);
  spec_tree_free(t);
  return rc;
}

int org_env_use(const spec_tree *t, const char *env, os_error *err) {
  const char *const probe[] = {"rev-parse", "--git-dir", NULL};
  char *out = NULL;
  if (org_git(&out, NULL, t->dir, probe, NULL, 0, 4096, NULL) < 0)
    return os_error_set(err, OS_EINVAL,
                        "%s is not in a Git checkout, where this setting is kept (git config "
                        ENV_KEY "): set ORGSECRETS_ENV instead", t->dir);
  free(out);
  if (env != NULL && spec_org_find_env(t->org, env) == NULL) {
    os_buf names;
    os_buf_init(&names, 4096, false);
    env_names(&names, t->org);
    int rc = os_error_set(err, OS_ENOTFOUND,
                          "environment %s is not defined in organization %s (environments: %s)",
                          env, t->org->id, names.data != NULL ? names.data : "?");
    os_buf_free(&names);
    return rc;
  }
  /* this worktree's own config; a repository with several worktrees but
   * without extensions.worktreeConfig has none, so its shared one */
  const char *set[] = {"config", "--worktree", ENV_KEY, env, NULL};
  const char *unset[] = {"config", "--worktree", "--unset-all", ENV_KEY, NULL};
  const char **args = env != NULL ? set : unset;
  int rc = org_git(&out, NULL, t->dir, args, NULL, 0, 4096, NULL);
  free(out);
  out = NULL;
  if (rc < 0) {
    args[1] = "--local";
    rc = org_git(&out, NULL, t->dir, args, NULL, 0, 4096, err);
    free(out);
  }
  if (rc < 0 && env == NULL) {
    char *cur = NULL;
    if (org_env_checkout(&cur, t->dir) == 0)
      return 0; /* nothing was set: nothing to unset */
    free(cur);
  }
  if (rc < 0)
    return os_error_prefix(err, "git config " ENV_KEY);
  return 0;
}
