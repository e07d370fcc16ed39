/* The folder as last loaded, kept between requests so that the list answers
 * fast, and reloaded as soon as anything the loader reads changed: a stamp
 * over every file, directory and link of the loader's walk (inode, size,
 * mtime, mode), plus the identity file. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/clock.h"
#include "spec/spec.h"
#include "ui/ui_internal.h"

struct ui_snapshot {
  uint64_t stamp;
  spec_tree *tree;
  char *list;     /* the cached /api/secrets body, or NULL */
  size_t list_len;
};

static uint64_t mix_stat(uint64_t h, const struct stat *st) {
  int64_t v[5] = {(int64_t)st->st_ino, (int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
                  (int64_t)st->st_mtim.tv_nsec, (int64_t)st->st_mode};
  return os_fnv1a64(h, v, sizeof(v));
}

static int mix_entry(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  uint64_t *h = ctx;
  *h = os_fnv1a64(*h, e->rel, strlen(e->rel) + 1);
  *h = mix_stat(*h, e->st);
  return 0;
}

/* The loader's own walk (spec_walk): every spec file, directory and link
 * it looks at, with inode, size, mtime and mode; plus the identity file. */
static uint64_t stamp_of(const ui_server *s) {
  uint64_t h = OS_FNV1A64_INIT;
  os_error err = OS_ERROR_INIT;
  if (spec_walk(s->dir, SPEC_WALK_DIRS | SPEC_WALK_LINKS, mix_entry, &h, &err) < 0)
    h = os_fnv1a64(h, err.msg, strlen(err.msg));
  struct stat st;
  if (s->identity != NULL && stat(s->identity, &st) == 0)
    h = mix_stat(h, &st);
  int64_t day = os_now() / 86400; /* the list's day counts (rotation) move at midnight */
  return os_fnv1a64(h, &day, sizeof(day));
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
  uint64_t stamp = stamp_of(s);
  if (c != NULL && stamp == c->stamp) {
    *out = c->tree;
    return 0;
  }
  ui_snapshot_invalidate(s);
  /* the stamp is taken before loading: a change during the load reloads next time */
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
  c->stamp = stamp;
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
