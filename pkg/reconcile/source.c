#include "reconcile/source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "reconcile/plan.h"

/* The parts of a stat that tell a file changed. */
typedef struct file_stamp {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} file_stamp;

static file_stamp stamp_of(const struct stat *st) {
  file_stamp s = {st->st_dev, st->st_ino, st->st_size, st->st_mtim};
  return s;
}

/* Spec files found below the folder: relative path and stamp, sorted by path. */
typedef struct file_info {
  char *rel;
  file_stamp st;
} file_info;

typedef struct file_list {
  file_info *v;
  size_t n, cap;
} file_list;

static void file_list_free(file_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].rel);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

static bool is_spec_file(const char *name) {
  size_t n = strlen(name);
  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static bool skip_dir(const char *name) {
  return name[0] == '.' || strcmp(name, "node_modules") == 0;
}

static int walk(file_list *l, const char *root, const char *rel, int depth, os_error *err) {
  if (depth > 32)
    return os_error_set(err, OS_EINVAL, "%s: directories nested too deep", root);
  char *path = rel[0] ? os_path_join(root, rel) : os_strdup(root);
  if (path == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  DIR *d = opendir(path);
  if (d == NULL) {
    int rc = os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open directory %s: %s",
                          path, strerror(errno));
    free(path);
    return rc;
  }
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    char *child_rel = rel[0] ? os_path_join(rel, de->d_name) : os_strdup(de->d_name);
    char *child = os_path_join(path, de->d_name);
    if (child_rel == NULL || child == NULL) {
      free(child_rel);
      free(child);
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      break;
    }
    struct stat st;
    if (stat(child, &st) == 0) {
      if (S_ISDIR(st.st_mode) && !skip_dir(de->d_name)) {
        rc = walk(l, root, child_rel, depth + 1, err);
      } else if (S_ISREG(st.st_mode) && is_spec_file(de->d_name) && de->d_name[0] != '.') {
        if (l->n == l->cap) {
          size_t cap = l->cap ? l->cap * 2 : 64;
          file_info *v = realloc(l->v, cap * sizeof(*v));
          if (v == NULL) {
            rc = os_error_set(err, OS_ENOMEM, "out of memory");
          } else {
            l->v = v;
            l->cap = cap;
          }
        }
        if (rc == 0) {
          l->v[l->n].rel = child_rel;
          l->v[l->n].st = stamp_of(&st);
          l->n++;
          child_rel = NULL;
        }
      }
    }
    free(child_rel);
    free(child);
    if (rc < 0)
      break;
  }
  closedir(d);
  free(path);
  return rc;
}

static int cmp_info(const void *a, const void *b) {
  return strcmp(((const file_info *)a)->rel, ((const file_info *)b)->rel);
}

static int list_files(file_list *l, const char *dir, os_error *err) {
  memset(l, 0, sizeof(*l));
  int rc = walk(l, dir, "", 0, err);
  if (rc < 0) {
    file_list_free(l);
    return rc;
  }
  if (l->n > 0)
    qsort(l->v, l->n, sizeof(*l->v), cmp_info);
  return 0;
}

/* One spec file as last read: its stat, and its documents from the last
 * time it parsed (kept while a later version is broken). */
typedef struct file_entry {
  char *rel;
  file_stamp st;
  bool parsed;            /* a good parse is held (org and/or secrets) */
  spec_org *org;          /* its Organization, if it holds one */
  spec_secret **secrets;  /* its secrets */
  size_t n_secrets;
  uint8_t (*digests)[32]; /* one per secret */
  bool broken;            /* the current version does not parse */
} file_entry;

struct source_cache {
  char *dir;
  file_entry *v;
  size_t n;
  source_secret_fn hook;
  void *hook_ctx;
};

void source_cache_set_hook(source_cache *c, source_secret_fn fn, void *ctx) {
  c->hook = fn;
  c->hook_ctx = ctx;
}

static void drop_docs(file_entry *e) {
  spec_org_free(e->org);
  for (size_t i = 0; i < e->n_secrets; i++)
    spec_secret_free(e->secrets[i]);
  free(e->secrets);
  free(e->digests);
  e->org = NULL;
  e->secrets = NULL;
  e->n_secrets = 0;
  e->digests = NULL;
  e->parsed = false;
}

static void entry_clear(file_entry *e) {
  free(e->rel);
  drop_docs(e);
  memset(e, 0, sizeof(*e));
}

int source_cache_new(source_cache **out, const char *dir, os_error *err) {
  source_cache *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->dir = os_strdup(dir)) == NULL) {
    free(c);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  *out = c;
  return 0;
}

void source_cache_free(source_cache *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    entry_clear(&c->v[i]);
  free(c->v);
  free(c->dir);
  free(c);
}

static bool same_stat(const file_stamp *a, const file_stamp *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* (Re)reads one file into e; a parse failure keeps the previous documents. */
static void read_entry(source_cache *c, file_entry *e, source_problem_fn report, void *ctx) {
  char *path = os_path_join(c->dir, e->rel);
  char *data = NULL;
  size_t len = 0;
  os_error ferr = OS_ERROR_INIT;
  int rc = path ? os_read_file(&data, &len, path, SPEC_FILE_MAX, &ferr) : OS_ENOMEM;
  free(path);
  spec_tree *docs = NULL;
  if (rc == 0) {
    docs = spec_tree_new(c->dir);
    rc = docs ? spec_tree_parse(docs, e->rel, data, len, &ferr)
              : os_error_set(&ferr, OS_ENOMEM, "out of memory");
  }
  os_free_secret(data, len);
  uint8_t(*digests)[32] = NULL;
  if (rc == 0 && docs->n_secrets > 0) {
    digests = calloc(docs->n_secrets, sizeof(*digests));
    if (digests == NULL)
      rc = os_error_set(&ferr, OS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < docs->n_secrets; i++)
      plan_secret_digest(digests[i], docs->secrets[i]);
  }
  if (rc < 0) {
    e->broken = true;
    if (report)
      report(ctx, e->rel, 0, ferr.msg);
    spec_tree_free(docs);
    free(digests);
    return;
  }
  drop_docs(e);
  /* keep the documents, not the tree around them */
  e->org = docs->org;
  e->secrets = docs->secrets;
  e->n_secrets = docs->n_secrets;
  e->digests = digests;
  e->parsed = true;
  e->broken = false;
  docs->org = NULL;
  docs->secrets = NULL;
  docs->n_secrets = 0;
  spec_tree_free(docs);
  for (size_t i = 0; c->hook != NULL && i < e->n_secrets; i++)
    c->hook(c->hook_ctx, e->secrets[i], e->digests[i]);
}

/* Collects the files named by validation errors. */
typedef struct bad_files {
  char **v;
  size_t n, cap;
  source_problem_fn report;
  void *ctx;
} bad_files;

static bool in_bad(const bad_files *b, const char *s) {
  for (size_t i = 0; s != NULL && i < b->n; i++)
    if (strcmp(b->v[i], s) == 0)
      return true;
  return false;
}

static void on_problem(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  bad_files *b = ctx;
  if (!is_error)
    return;
  if (b->report)
    b->report(b->ctx, pos && pos->file ? pos->file : "-", pos ? pos->line : 0, msg);
  if (pos == NULL || pos->file == NULL || in_bad(b, pos->file))
    return;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    char **v = realloc(b->v, cap * sizeof(*v));
    if (v == NULL)
      return;
    b->v = v;
    b->cap = cap;
  }
  char *f = os_strdup(pos->file);
  if (f != NULL)
    b->v[b->n++] = f;
}

void source_view_free(spec_tree *view) {
  if (view == NULL)
    return;
  /* the documents belong to the cache */
  view->org = NULL;
  free(view->secrets);
  view->secrets = NULL;
  view->n_secrets = 0;
  spec_tree_free(view);
}

int source_cache_load(source_cache *c, spec_tree **out, const uint8_t *const **digests_out,
                      bool *incomplete, source_problem_fn report, void *ctx, os_error *err) {
  *out = NULL;
  *digests_out = NULL;
  *incomplete = false;
  file_list files;
  int rc = list_files(&files, c->dir, err);
  if (rc < 0)
    return rc;
  /* merge the sorted listing with the sorted cache: reuse unchanged files */
  file_entry *nv = calloc(files.n ? files.n : 1, sizeof(*nv));
  if (nv == NULL) {
    file_list_free(&files);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  size_t j = 0;
  for (size_t i = 0; i < files.n; i++) {
    while (j < c->n && strcmp(c->v[j].rel, files.v[i].rel) < 0)
      entry_clear(&c->v[j++]);
    file_entry *e = &nv[i];
    if (j < c->n && strcmp(c->v[j].rel, files.v[i].rel) == 0) {
      *e = c->v[j];
      memset(&c->v[j], 0, sizeof(c->v[j]));
      j++;
      free(files.v[i].rel);
    } else {
      e->rel = files.v[i].rel;
    }
    files.v[i].rel = NULL;
    bool fresh = !e->parsed && !e->broken;
    if (fresh || !same_stat(&e->st, &files.v[i].st)) {
      e->st = files.v[i].st;
      read_entry(c, e, report, ctx);
    }
  }
  while (j < c->n)
    entry_clear(&c->v[j++]);
  free(c->v);
  c->v = nv;
  c->n = files.n;
  file_list_free(&files);

  /* a view over the cached documents */
  spec_tree *t = spec_tree_new(c->dir);
  size_t total = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (c->v[i].broken && !c->v[i].parsed)
      *incomplete = true; /* never parsed: we cannot know what it held */
    total += c->v[i].n_secrets;
  }
  const uint8_t **digests = calloc(total ? total : 1, sizeof(*digests));
  if (t == NULL || digests == NULL || (t->secrets = calloc(total ? total : 1, sizeof(spec_secret *))) == NULL) {
    free(digests);
    source_view_free(t);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  const char *org_file = NULL;
  for (size_t i = 0; i < c->n; i++) {
    const file_entry *d = &c->v[i];
    if (!d->parsed)
      continue;
    if (d->org != NULL) {
      if (t->org != NULL) {
        *incomplete = true;
        if (report)
          report(ctx, d->rel, d->org->pos.line, "a second Organization document (ignored)");
        continue;
      }
      t->org = d->org;
      org_file = d->rel;
    }
    for (size_t k = 0; k < d->n_secrets; k++) {
      digests[t->n_secrets] = d->digests[k];
      t->secrets[t->n_secrets++] = d->secrets[k];
    }
  }
  if (t->org == NULL) {
    free(digests);
    source_view_free(t);
    return os_error_set(err, OS_ENOTFOUND, "no usable Organization below %s", c->dir);
  }
  bad_files bad = {NULL, 0, 0, report, ctx};
  os_error verr = OS_ERROR_INIT;
  if (spec_tree_validate(t, on_problem, &bad, &verr) < 0) {
    *incomplete = true;
    if (in_bad(&bad, org_file) || in_bad(&bad, t->org->pos.file)) {
      for (size_t i = 0; i < bad.n; i++)
        free(bad.v[i]);
      free(bad.v);
      free(digests);
      source_view_free(t);
      return os_error_set(err, OS_EINVAL, "the Organization is invalid: %s", verr.msg);
    }
    size_t w = 0;
    for (size_t i = 0; i < t->n_secrets; i++) {
      if (in_bad(&bad, t->secrets[i]->pos.file))
        continue;
      digests[w] = digests[i];
      t->secrets[w++] = t->secrets[i];
    }
    t->n_secrets = w;
  }
  for (size_t i = 0; i < bad.n; i++)
    free(bad.v[i]);
  free(bad.v);
  *out = t;
  *digests_out = digests;
  return 0;
}

int source_dir_stamp(uint64_t *out, const char *dir, os_error *err) {
  file_list files;
  int rc = list_files(&files, dir, err);
  if (rc < 0)
    return rc;
  uint64_t h = 1469598103934665603ULL; /* FNV-1a: change detection, not security */
  for (size_t i = 0; i < files.n; i++) {
    const file_stamp *st = &files.v[i].st;
    uint64_t parts[4] = {(uint64_t)st->size, (uint64_t)st->mtime.tv_sec,
                         (uint64_t)st->mtime.tv_nsec, (uint64_t)st->ino};
    const unsigned char *p = (const unsigned char *)files.v[i].rel;
    for (; *p; p++)
      h = (h ^ *p) * 1099511628211ULL;
    for (size_t k = 0; k < 4; k++)
      for (int b = 0; b < 8; b++)
        h = (h ^ ((parts[k] >> (8 * b)) & 0xff)) * 1099511628211ULL;
  }
  file_list_free(&files);
  *out = h;
  return 0;
}

struct source_watch {
  char *dir;
  int fd;
  uint64_t stamp;
  struct timespec last_stamp;
};

static void add_watches(int fd, const char *path, int depth) {
  if (depth > 32)
    return;
  (void)inotify_add_watch(fd, path,
                          IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_DELETE_SELF | IN_MODIFY | IN_ATTRIB);
  DIR *d = opendir(path);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || skip_dir(de->d_name))
      continue;
    char *child = os_path_join(path, de->d_name);
    struct stat st;
    if (child != NULL && stat(child, &st) == 0 && S_ISDIR(st.st_mode))
      add_watches(fd, child, depth + 1);
    free(child);
  }
  closedir(d);
}

int source_watch_new(source_watch **out, const char *dir, os_error *err) {
  source_watch *w = calloc(1, sizeof(*w));
  if (w == NULL || (w->dir = os_strdup(dir)) == NULL) {
    free(w);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd >= 0)
    add_watches(w->fd, dir, 0);
  os_error ignored = OS_ERROR_INIT;
  (void)source_dir_stamp(&w->stamp, dir, &ignored);
  clock_gettime(CLOCK_MONOTONIC, &w->last_stamp);
  *out = w;
  return 0;
}

/* Compares the folder's fingerprint with the last one; 1 when it moved. */
static int stamp_changed(source_watch *w) {
  uint64_t now = 0;
  os_error ignored = OS_ERROR_INIT;
  clock_gettime(CLOCK_MONOTONIC, &w->last_stamp);
  if (source_dir_stamp(&now, w->dir, &ignored) < 0)
    return 0;
  if (now == w->stamp)
    return 0;
  w->stamp = now;
  return 1;
}

/* With inotify working, the fingerprint is only a safety net (events can
 * be lost on overflow): checked every 30 s. Without inotify, every wait. */
static int safety_check(source_watch *w) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (t.tv_sec - w->last_stamp.tv_sec < 30)
    return 0;
  return stamp_changed(w);
}

static bool relevant(const struct inotify_event *ev) {
  if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF))
    return true;
  if (ev->len == 0)
    return false;
  if (ev->mask & IN_ISDIR)
    return ev->name[0] != '.';
  return ev->name[0] != '.' && is_spec_file(ev->name);
}

int source_watch_wait(source_watch *w, int timeout_ms) {
  if (w->fd < 0) {
    usleep((useconds_t)timeout_ms * 1000);
    return stamp_changed(w);
  }
  struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
  int n = poll(&pfd, 1, timeout_ms);
  if (n <= 0)
    return safety_check(w);
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  bool new_dir = false, changed = false;
  for (;;) {
    ssize_t r = read(w->fd, buf, sizeof(buf));
    if (r <= 0)
      break;
    for (char *p = buf; p < buf + r;) {
      struct inotify_event *ev = (struct inotify_event *)(void *)p;
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
        new_dir = true;
      if (relevant(ev))
        changed = true;
      p += sizeof(*ev) + ev->len;
    }
  }
  if (new_dir)
    add_watches(w->fd, w->dir, 0);
  if (!changed)
    return safety_check(w);
  /* let a burst of writes (a git checkout) settle before reading */
  usleep(10000);
  char drain[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (read(w->fd, drain, sizeof(drain)) > 0)
    ;
  return 1;
}

void source_watch_free(source_watch *w) {
  if (w == NULL)
    return;
  if (w->fd >= 0)
    close(w->fd);
  free(w->dir);
  free(w);
}
