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

/* The parts of a stat that tell a file changed, packed (one per file). */
typedef struct file_stamp {
  uint64_t ino;
  int64_t mtime_ns;
  uint32_t size; /* saturated: spec files above 4 GiB are refused anyway */
  uint32_t dev;  /* folded */
} file_stamp;

static file_stamp stamp_of(const struct stat *st) {
  uint64_t dev = (uint64_t)st->st_dev;
  file_stamp s = {(uint64_t)st->st_ino,
                  (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                  st->st_size > (off_t)UINT32_MAX ? UINT32_MAX : (uint32_t)st->st_size,
                  (uint32_t)(dev ^ (dev >> 32))};
  return s;
}

/* Orders paths component by component ("a/x" before "a-c"): the order a
 * walk visiting each directory's names in strcmp order produces, so a
 * listing needs no sort of its own. */
static int path_cmp(const char *a, const char *b) {
  for (;; a++, b++) {
    unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
    if (ca == cb) {
      if (ca == 0)
        return 0;
      continue;
    }
    if (ca == 0 || ca == '/')
      return -1;
    if (cb == 0 || cb == '/')
      return 1;
    return ca < cb ? -1 : 1;
  }
}

static bool is_spec_file(const char *name) {
  size_t n = strlen(name);
  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static bool skip_dir(const char *name) {
  return name[0] == '.' || strcmp(name, "node_modules") == 0;
}

/* Called for each spec file in path_cmp order; takes rel (heap) when it
 * sets *rel to NULL. */
typedef int (*file_fn)(void *ctx, char **rel, const file_stamp *st, os_error *err);

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(const char *root, const char *rel, int depth, file_fn fn, void *ctx, os_error *err) {
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
  /* this directory's names, sorted */
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **v = realloc(names, nc * sizeof(*v));
      if (v == NULL) {
        rc = os_error_set(err, OS_ENOMEM, "out of memory");
        break;
      }
      names = v;
      cap = nc;
    }
    if ((names[n] = os_strdup(de->d_name)) == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 1)
    qsort(names, n, sizeof(*names), cmp_name);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *child_rel = rel[0] ? os_path_join(rel, names[i]) : os_strdup(names[i]);
    char *child = os_path_join(path, names[i]);
    if (child_rel == NULL || child == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
    } else {
      struct stat st;
      if (stat(child, &st) == 0) {
        if (S_ISDIR(st.st_mode) && !skip_dir(names[i])) {
          rc = walk(root, child_rel, depth + 1, fn, ctx, err);
        } else if (S_ISREG(st.st_mode) && is_spec_file(names[i]) && names[i][0] != '.') {
          file_stamp fs = stamp_of(&st);
          rc = fn(ctx, &child_rel, &fs, err);
        }
      }
    }
    free(child_rel);
    free(child);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(path);
  return rc;
}

/* A secret as the cache keeps it: the plan's view, with its strings in the
 * same block and pos.file borrowed from the file entry. */
typedef struct src_secret {
  plan_secret p;
  uint8_t digest[32];
} src_secret;

/* One spec file as last read: its stat, and its documents from the last
 * time it parsed (kept while a later version is broken). */
typedef struct file_entry {
  char *rel;
  file_stamp st;
  uint32_t n_secrets;
  bool parsed;            /* a good parse is held (org and/or secrets) */
  bool broken;            /* the current version does not parse */
  spec_org *org;          /* its Organization, if it holds one */
  src_secret *secrets;    /* one block: n_secrets records, then their strings */
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
    spec_secret_free((spec_secret *)(uintptr_t)e->secrets[i].p.spec); /* owned when kept */
  free(e->secrets);
  e->org = NULL;
  e->secrets = NULL;
  e->n_secrets = 0;
  e->parsed = false;
}

static void entry_clear(file_entry *e) {
  drop_docs(e);
  free(e->rel);
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
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static size_t str_size(const char *s) { return s ? strlen(s) + 1 : 0; }

/* The plan's view of a file's secrets in one block; NULL on allocation failure. */
static src_secret *pack(spec_secret *const *v, size_t n, const char *rel) {
  size_t bytes = n * sizeof(src_secret);
  for (size_t i = 0; i < n; i++)
    bytes += str_size(v[i]->organization) + str_size(v[i]->environment) +
             str_size(v[i]->application) + str_size(v[i]->name);
  src_secret *b = malloc(bytes);
  if (b == NULL)
    return NULL;
  char *w = (char *)(b + n);
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    src_secret *r = &b[i];
    memset(r, 0, sizeof(*r));
    r->p.ref.organization = os_str_pack(&w, s->organization);
    r->p.ref.environment = os_str_pack(&w, s->environment);
    r->p.ref.application = os_str_pack(&w, s->application);
    r->p.ref.name = os_str_pack(&w, s->name);
    r->p.ref.pos.file = (char *)(uintptr_t)rel;
    r->p.ref.pos.line = s->pos.line;
    r->p.ref.lines.organization = s->lines.organization;
    r->p.ref.lines.environment = s->lines.environment;
    r->p.ref.lines.name = s->lines.name;
    r->p.ref.lines.application = s->lines.application;
    r->p.state = s->state;
    plan_secret_digest(r->digest, s);
    r->p.digest = r->digest;
  }
  return b;
}

/* Hands a spec problem to report as "FILE:LINE: msg". */
static void report_at(source_problem_fn report, void *ctx, const spec_pos *pos, const char *msg) {
  if (report == NULL)
    return;
  const char *file = pos && pos->file ? pos->file : "-";
  int line_no = pos ? pos->line : 0;
  char line[OS_ERROR_MSG_MAX + 300];
  snprintf(line, sizeof(line), "%s:%d: %s", file, line_no, msg);
  report(ctx, file, line_no, line);
}

/* Reports the checks of one document that fail, at their file and line. */
typedef struct local_problems {
  source_problem_fn report;
  void *ctx;
  int errors;
} local_problems;

static void on_local_problem(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  local_problems *lp = ctx;
  if (!is_error)
    return;
  lp->errors++;
  report_at(lp->report, lp->ctx, pos, msg);
}

/* (Re)reads one file into e; a failure keeps the previous documents. */
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
  bool reported = false;
  if (rc == 0) {
    local_problems lp = {report, ctx, 0};
    for (size_t i = 0; i < docs->n_secrets; i++)
      spec_secret_validate_local(docs->secrets[i], on_local_problem, &lp, NULL);
    if (lp.errors > 0) {
      rc = OS_EINVAL;
      reported = true;
    }
  }
  src_secret *block = NULL;
  if (rc == 0 && docs->n_secrets > 0 && (block = pack(docs->secrets, docs->n_secrets, e->rel)) == NULL)
    rc = os_error_set(&ferr, OS_ENOMEM, "%s: out of memory", e->rel);
  if (rc < 0) {
    e->broken = true;
    if (report && !reported)
      report(ctx, e->rel, 0, ferr.msg);
    spec_tree_free(docs);
    return;
  }
  drop_docs(e);
  e->org = docs->org;
  docs->org = NULL;
  e->secrets = block;
  e->n_secrets = (uint32_t)docs->n_secrets;
  e->parsed = true;
  e->broken = false;
  /* keep a spec only while its value is not in the plan cache */
  for (size_t i = 0; i < docs->n_secrets; i++) {
    if (c->hook == NULL || c->hook(c->hook_ctx, docs->secrets[i], block[i].digest) < 0) {
      block[i].p.spec = docs->secrets[i];
      docs->secrets[i] = NULL;
    }
  }
  spec_tree_free(docs);
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
  report_at(b->report, b->ctx, pos, msg);
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

void source_view_clear(source_view *v) {
  free(v->secrets);
  memset(v, 0, sizeof(*v));
}

/* The merge of a walk into the cache: entries before the walk's position
 * are in nv, the cache's entries from j on are not reached yet. */
typedef struct merge_ctx {
  source_cache *c;
  file_entry *nv;
  size_t n, cap, j;
  source_problem_fn report;
  void *ctx;
} merge_ctx;

static int merge_room(merge_ctx *m, size_t more) {
  if (m->n + more <= m->cap)
    return 0;
  size_t cap = m->cap ? m->cap + m->cap / 2 : (m->c->n ? m->c->n + 16 : 64);
  if (cap < m->n + more)
    cap = m->n + more;
  file_entry *v = realloc(m->nv, cap * sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  m->nv = v;
  m->cap = cap;
  return 0;
}

static int merge_add(void *ctx, char **rel, const file_stamp *st, os_error *err) {
  merge_ctx *m = ctx;
  source_cache *c = m->c;
  if (merge_room(m, 1) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  while (m->j < c->n && path_cmp(c->v[m->j].rel, *rel) < 0)
    entry_clear(&c->v[m->j++]); /* gone from the folder */
  file_entry *e = &m->nv[m->n++];
  memset(e, 0, sizeof(*e));
  if (m->j < c->n && path_cmp(c->v[m->j].rel, *rel) == 0) {
    *e = c->v[m->j]; /* rel keeps its address: the records point at it */
    memset(&c->v[m->j], 0, sizeof(c->v[m->j]));
    m->j++;
  } else {
    e->rel = *rel;
    *rel = NULL;
  }
  bool fresh = !e->parsed && !e->broken;
  if (fresh || !same_stat(&e->st, st)) {
    e->st = *st;
    read_entry(c, e, m->report, m->ctx);
  }
  return 0;
}

int source_cache_load(source_cache *c, source_view *out, bool *incomplete,
                      source_problem_fn report, void *ctx, os_error *err) {
  memset(out, 0, sizeof(*out));
  *incomplete = false;
  /* walk the folder in path order, merging each file into the cache as it
   * is found (no listing of the whole folder is kept) */
  merge_ctx m = {c, NULL, 0, 0, 0, report, ctx};
  int rc = walk(c->dir, "", 0, merge_add, &m, err);
  if (rc < 0) {
    /* keep what was merged and what was not reached yet: still in order */
    if (merge_room(&m, c->n - m.j) == 0) {
      for (; m.j < c->n; m.j++) {
        m.nv[m.n++] = c->v[m.j];
        memset(&c->v[m.j], 0, sizeof(c->v[m.j]));
      }
    }
  }
  while (m.j < c->n)
    entry_clear(&c->v[m.j++]);
  free(c->v);
  if (m.cap > m.n + m.n / 8 + 16) { /* give back the slack of a growing first load */
    file_entry *v = realloc(m.nv, (m.n ? m.n : 1) * sizeof(*v));
    if (v != NULL)
      m.nv = v;
  }
  c->v = m.nv;
  c->n = m.n;
  if (rc < 0)
    return rc;

  /* a view over the cached documents */
  size_t total = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (c->v[i].broken && !c->v[i].parsed)
      *incomplete = true; /* never parsed: we cannot know what it held */
    total += c->v[i].n_secrets;
  }
  const plan_secret **v = calloc(total ? total : 1, sizeof(*v));
  const spec_secret_ref **refs = calloc(total ? total : 1, sizeof(*refs));
  if (v == NULL || refs == NULL) {
    free(v);
    free(refs);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  const spec_org *org = NULL;
  const char *org_file = NULL;
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++) {
    const file_entry *d = &c->v[i];
    if (!d->parsed)
      continue;
    if (d->org != NULL) {
      if (org != NULL) {
        *incomplete = true;
        if (report)
          report(ctx, d->rel, d->org->pos.line, "a second Organization document (ignored)");
        continue;
      }
      org = d->org;
      org_file = d->rel;
    }
    for (size_t k = 0; k < d->n_secrets; k++) {
      refs[n] = &d->secrets[k].p.ref;
      v[n++] = &d->secrets[k].p;
    }
  }
  if (org == NULL) {
    free(v);
    free(refs);
    return os_error_set(err, OS_ENOTFOUND, "no usable Organization below %s", c->dir);
  }
  bad_files bad = {NULL, 0, 0, report, ctx};
  os_error verr = OS_ERROR_INIT;
  rc = spec_validate_refs(org, refs, n, on_problem, &bad, &verr);
  free(refs);
  if (rc < 0) {
    *incomplete = true;
    if (in_bad(&bad, org_file) || in_bad(&bad, org->pos.file)) {
      for (size_t i = 0; i < bad.n; i++)
        free(bad.v[i]);
      free(bad.v);
      free(v);
      return os_error_set(err, OS_EINVAL, "the Organization is invalid: %s", verr.msg);
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
      if (!in_bad(&bad, v[i]->ref.pos.file))
        v[w++] = v[i];
    n = w;
  }
  for (size_t i = 0; i < bad.n; i++)
    free(bad.v[i]);
  free(bad.v);
  out->org = org;
  out->secrets = v;
  out->n_secrets = n;
  return 0;
}

/* Adds one file to a fingerprint: FNV-1a of its path and stamp, summed so
 * that no listing has to be kept (change detection, not security). */
static int stamp_add(void *ctx, char **rel, const file_stamp *st, os_error *err) {
  (void)err;
  uint64_t parts[4] = {(uint64_t)st->size, (uint64_t)st->mtime_ns, (uint64_t)st->dev, st->ino};
  uint64_t h = os_fnv1a64(os_fnv1a64(OS_FNV1A64_INIT, *rel, strlen(*rel)), parts, sizeof(parts));
  uint64_t *sum = ctx;
  *sum += h ^ (h >> 29);
  return 0;
}

int source_dir_stamp(uint64_t *out, const char *dir, os_error *err) {
  uint64_t sum = 0;
  int rc = walk(dir, "", 0, stamp_add, &sum, err);
  if (rc < 0)
    return rc;
  *out = sum;
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
