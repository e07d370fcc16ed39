/* The folder as last loaded, kept between requests so that the list answers
 * fast, and reloaded as soon as anything the loader could read changed: a
 * stamp over every directory below the folder (an entry added, removed or
 * renamed changes its directory's mtime) and every file the tree came from
 * (edited in place), plus the identity file. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "spec/spec.h"
#include "ui/ui_internal.h"

struct ui_snapshot {
  uint64_t stamp;
  spec_tree *tree;
  char *list;     /* the cached /api/secrets body, or NULL */
  size_t list_len;
};

static uint64_t mix_stat(uint64_t h, const struct stat *st) {
  int64_t v[4] = {(int64_t)st->st_ino, (int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
                  (int64_t)st->st_mtim.tv_nsec};
  return os_fnv1a64(h, v, sizeof(v));
}

static uint64_t mix_path(uint64_t h, const char *path) {
  struct stat st;
  h = os_fnv1a64(h, path, strlen(path) + 1);
  if (stat(path, &st) == 0)
    return mix_stat(h, &st);
  return os_fnv1a64(h, "-", 1);
}

/* Every directory below path (hidden ones and node_modules skipped, as
 * the loader skips them; symbolic links not followed). */
static uint64_t mix_dirs(uint64_t h, const char *path, int depth) {
  h = mix_path(h, path);
  if (depth > 32)
    return h;
  DIR *d = opendir(path);
  if (d == NULL)
    return h;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || strcmp(de->d_name, "node_modules") == 0 ||
        (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
      continue;
    char sub[PATH_MAX];
    int n = snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
    struct stat st;
    if (n > 0 && (size_t)n < sizeof(sub) && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
      h = mix_dirs(h, sub, depth + 1);
  }
  closedir(d);
  return h;
}

static uint64_t mix_file(uint64_t h, const char *dir, const char *file) {
  if (file == NULL)
    return h;
  char p[PATH_MAX];
  int n = file[0] == '/' ? snprintf(p, sizeof(p), "%s", file)
                         : snprintf(p, sizeof(p), "%s/%s", dir, file);
  return n > 0 && (size_t)n < sizeof(p) ? mix_path(h, p) : h;
}

static uint64_t stamp_of(const ui_server *s, const spec_tree *t) {
  uint64_t h = mix_dirs(OS_FNV1A64_INIT, s->dir, 0);
  if (s->identity != NULL)
    h = mix_path(h, s->identity);
  if (t == NULL)
    return h;
  if (t->org != NULL)
    h = mix_file(h, s->dir, t->org->pos.file);
  const char *last = NULL;
  for (size_t i = 0; i < t->n_secrets; i++) {
    const char *f = t->secrets[i]->pos.file;
    if (f != NULL && (last == NULL || strcmp(f, last) != 0)) /* multi-document files once */
      h = mix_file(h, s->dir, f);
    last = f;
  }
  return h;
}

void ui_snapshot_free(ui_snapshot *snap) {
  if (snap == NULL)
    return;
  spec_tree_free(snap->tree);
  free(snap->list);
  free(snap);
}

void ui_snapshot_invalidate(ui_server *s) {
  ui_snapshot_free(s->snap);
  s->snap = NULL;
}

int ui_snapshot_tree(const spec_tree **out, ui_server *s, os_error *err) {
  *out = NULL;
  ui_snapshot *c = s->snap;
  if (c != NULL && stamp_of(s, c->tree) == c->stamp) {
    *out = c->tree;
    return 0;
  }
  ui_snapshot_invalidate(s);
  /* the stamp is taken before loading: a change during the load reloads next time */
  uint64_t before = stamp_of(s, NULL);
  spec_tree *t = NULL;
  int rc = ui_load_tree(&t, s, err);
  if (rc < 0)
    return rc;
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    spec_tree_free(t);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  c->tree = t;
  c->stamp = stamp_of(s, t);
  if (stamp_of(s, NULL) != before)
    c->stamp = 0; /* a directory changed while loading */
  s->snap = c;
  *out = t;
  return 0;
}

const char *ui_snapshot_list(const ui_server *s, size_t *len) {
  if (s->snap == NULL || s->snap->list == NULL)
    return NULL;
  *len = s->snap->list_len;
  return s->snap->list;
}

void ui_snapshot_set_list(ui_server *s, char *body, size_t len) {
  if (s->snap == NULL) {
    free(body);
    return;
  }
  free(s->snap->list);
  s->snap->list = body;
  s->snap->list_len = len;
}
