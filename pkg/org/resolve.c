/* Files that do not load (Git conflict markers, invalid YAML): how they are
 * shown, and `orgsecrets resolve` taking one side of a conflict. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "org/org_internal.h"

const char *org_bad_status(const spec_bad_file *b) {
  return b->kind == SPEC_BAD_CONFLICT ? "conflict" : "invalid";
}

char *org_bad_describe(const spec_bad_file *b) {
  os_buf o;
  os_buf_init(&o, 64 * 1024, false);
  int rc = os_buf_printf(&o, "%s: %s", org_bad_status(b), b->message);
  for (size_t i = 0; rc == 0 && i < b->n_ids && i < 8; i++) {
    char label[SPEC_NAME_MAX + 160];
    rc = os_buf_printf(&o, "%s%s", i == 0 ? " (" : ", ",
                       org_secret_label(label, sizeof(label), b->ids[i].environment,
                                        b->ids[i].application, b->ids[i].name));
  }
  if (rc == 0 && b->n_ids > 8)
    rc = os_buf_printf(&o, " and %zu more", b->n_ids - 8);
  if (rc == 0 && b->n_ids > 0)
    rc = os_buf_puts(&o, ")");
  if (rc == 0 && b->kind == SPEC_BAD_CONFLICT && b->n_ids > 0) {
    const spec_secret_id *id = &b->ids[0];
    rc = os_buf_printf(&o,
                       "; keep one side with `orgsecrets resolve %s --env %s%s%s --ours` "
                       "(or --theirs)",
                       id->name, id->environment, id->application ? " --app " : "",
                       id->application ? id->application : "");
  } else if (rc == 0 && b->kind == SPEC_BAD_CONFLICT) {
    rc = os_buf_printf(&o, "; keep one side with `orgsecrets resolve %s --ours` (or --theirs)",
                       b->file);
  } else if (rc == 0) {
    rc = os_buf_puts(&o, "; fix the file (the other secrets are not affected)");
  }
  char *out = NULL;
  if (rc < 0 || os_buf_detach(&out, NULL, &o) < 0)
    out = NULL;
  os_buf_free(&o);
  return out;
}

static json_t *opt_string(const char *s) { return s != NULL ? json_string(s) : json_null(); }

json_t *org_bad_json(const spec_bad_file *b, const spec_secret_id *id) {
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  int rc = json_object_set_new(o, "name", opt_string(id ? id->name : NULL)) |
           json_object_set_new(o, "environment", opt_string(id ? id->environment : NULL)) |
           json_object_set_new(o, "application", opt_string(id ? id->application : NULL)) |
           json_object_set_new(o, "status", json_string(org_bad_status(b))) |
           json_object_set_new(o, "file", json_string(b->file)) |
           json_object_set_new(o, "line", json_integer(b->line)) |
           json_object_set_new(o, "error", json_string(b->message));
  if (rc != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Whether the documents of text (one side of a conflict in file) hold the
 * secret env/app/name (name NULL: any). */
static bool side_holds(const char *file, const char *text, size_t len, const char *env,
                       const char *app, const char *name) {
  spec_tree *t = spec_tree_new(".");
  os_error err = OS_ERROR_INIT;
  bool found = false;
  if (t != NULL && spec_tree_parse(t, file, text, len, &err) == 0)
    found = name == NULL || spec_tree_find_secret(t, env, app, name) != NULL;
  spec_tree_free(t);
  return found;
}

typedef struct find_ctx {
  const char *dir, *env, *app, *name;
  char *found; /* the first conflicted file holding the secret */
  int rc;
} find_ctx;

static int find_conflict(void *vctx, const spec_walk_entry *e, os_error *err) {
  find_ctx *f = vctx;
  if (e->kind != SPEC_WALK_FILE || f->found != NULL)
    return 0;
  char *data = NULL;
  size_t len = 0;
  os_error rerr = OS_ERROR_INIT;
  if (os_read_file_below(&data, &len, f->dir, e->rel, SPEC_FILE_MAX, &rerr) < 0)
    return 0;
  int line = 0;
  for (int side = 0; side < 2 && f->found == NULL; side++) {
    char *text = NULL;
    size_t tl = 0;
    os_error cerr = OS_ERROR_INIT;
    if (spec_conflict_side(&text, &tl, &line, data, len, side == 1, &cerr) == 1 &&
        side_holds(e->rel, text, tl, f->env, f->app, f->name) &&
        (f->found = os_strdup(e->rel)) == NULL)
      f->rc = os_error_set(err, OS_ENOMEM, "out of memory");
    free(text);
  }
  free(data);
  return f->rc;
}

static int is_unmerged(const char *dir, const char *file) {
  const char *args[] = {"ls-files", "-u", "--", file, NULL};
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  int rc = org_git(&out, &len, dir, args, NULL, 0, 1024 * 1024, &err);
  bool unmerged = rc == 0 && len > 0;
  free(out);
  return unmerged;
}

int org_resolve(char **file_out, const org_ctx *c, const char *dir, const char *file,
                const char *env, const char *app, const char *name, bool theirs, os_error *err) {
  if (file_out != NULL)
    *file_out = NULL;
  char *rel = NULL, *data = NULL, *side = NULL;
  size_t len = 0, side_len = 0;
  int rc = 0;
  if (file != NULL) {
    if ((rel = os_strdup(file)) == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
  } else {
    find_ctx f = {dir, env, app, name, NULL, 0};
    if ((rc = spec_walk(dir, 0, find_conflict, &f, err)) < 0) {
      free(f.found);
      return rc;
    }
    if (f.found == NULL) {
      char label[SPEC_NAME_MAX + 160];
      return os_error_set(err, OS_ENOTFOUND, "no file with Git conflict markers holds %s",
                          org_secret_label(label, sizeof(label), env, app, name));
    }
    rel = f.found;
  }
  if ((rc = os_read_file_below(&data, &len, dir, rel, SPEC_FILE_MAX, err)) < 0)
    goto done;
  int line = 0;
  rc = spec_conflict_side(&side, &side_len, &line, data, len, theirs, err);
  if (rc == 0) {
    rc = os_error_set(err, OS_ENOTFOUND, "%s has no Git conflict markers", rel);
    goto done;
  }
  if (rc < 0) {
    os_error_prefix(err, "%s: cannot tell the sides apart", rel);
    goto done;
  }
  /* the side must load on its own: the same checks the loader applies */
  spec_tree *check = spec_tree_new(dir);
  if (check == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  rc = spec_tree_parse(check, rel, side, side_len, err);
  spec_tree_free(check);
  if (rc < 0) {
    os_error_prefix(err, "the %s side does not load", theirs ? "theirs" : "ours");
    goto done;
  }
  char *path = os_path_join(dir, rel);
  if (path == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  org_sweep_near(c, path, ".yaml");
  free(path);
  if ((rc = os_write_file_below(dir, rel, side, side_len, 0644, NULL, err)) < 0)
    goto done;
  if (is_unmerged(dir, rel)) {
    const char *args[] = {"add", "--", rel, NULL};
    char *out = NULL;
    size_t out_len = 0;
    os_error gerr = OS_ERROR_INIT;
    if (org_git(&out, &out_len, dir, args, NULL, 0, 1024 * 1024, &gerr) == 0)
      org_note(c, "marked %s as resolved (git add)", rel);
    else
      org_note(c, "could not mark %s as resolved: %s; run git add yourself", rel, gerr.msg);
    free(out);
  }
  if (file_out != NULL) {
    *file_out = rel;
    rel = NULL;
  }
done:
  free(side);
  free(data);
  free(rel);
  return rc;
}
