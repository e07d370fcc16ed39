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
#include "common/clock.h"
#include "common/fsutil.h"
#include "reconcile/plan.h"

/* What tells a file changed, in one word per file: FNV-1a of its device,
 * inode, size and mtime (change detection, not security: whoever can
 * write the folder decides the specs anyway). */
typedef uint64_t file_stamp;

static file_stamp stamp_of(const struct stat *st) {
  uint64_t parts[4] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                       (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec};
  return os_fnv1a64(OS_FNV1A64_INIT, parts, sizeof(parts));
}

/* One spec file as last read, in one allocation: this header, the records
 * of its secrets, then its path, their names and their opened values (the
 * block is wiped when freed); organization, environment and application
 * names are shared by all records (reconcile_source_cache.names). A file whose current version does not
 * parse keeps the records of its last good version (parsed), or none. */
typedef struct file_rec {
  file_stamp st;
  spec_org *org; /* its Organization, if it holds one */
  uint32_t n_secrets;
  uint32_t size; /* bytes of the block */
  bool parsed;   /* a good parse is held (org and/or secrets) */
  bool broken;   /* the current version does not parse */
  reconcile_plan_secret
      secrets[]; /* records; .spec owned while kept (see reconcile_source_secret_fn) */
} file_rec;

/* The file's path, right after the records. */
static const char *rec_rel(const file_rec *r) { return (const char *)(r->secrets + r->n_secrets); }

/* A name many records share (organization, environment, application):
 * one copy, counted. */
typedef struct interned {
  size_t refs;
  char s[];
} interned;

struct reconcile_source_cache {
  char *dir;
  file_rec **v; /* spec_path_cmp() order, the walk's */
  size_t n;
  interned **names; /* sorted by string */
  size_t n_names, cap_names;
  reconcile_source_secret_fn hook;
  void *hook_ctx;
};

/* Where s is, or would go, in the sorted names. */
static size_t name_slot(const reconcile_source_cache *c, const char *s, bool *found) {
  size_t lo = 0, hi = c->n_names;
  *found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(c->names[mid]->s, s);
    if (cmp == 0) {
      *found = true;
      return mid;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The shared copy of s (NULL stays NULL), counted; NULL when out of memory. */
static const char *intern(reconcile_source_cache *c, const char *s, bool *oom) {
  if (s == NULL)
    return NULL;
  bool found;
  size_t i = name_slot(c, s, &found);
  if (found) {
    c->names[i]->refs++;
    return c->names[i]->s;
  }
  size_t len = strlen(s) + 1;
  interned *e = NULL;
  if (os_grow(&c->names, &c->cap_names, c->n_names + 1, sizeof(*c->names), SIZE_MAX) < 0 ||
      (e = malloc(sizeof(*e) + len)) == NULL) {
    *oom = true;
    return NULL;
  }
  e->refs = 1;
  memcpy(e->s, s, len);
  memmove(&c->names[i + 1], &c->names[i], (c->n_names - i) * sizeof(*c->names));
  c->names[i] = e;
  c->n_names++;
  return e->s;
}

/* Releases one count of a string intern() returned (NULL ignored). */
static void unintern(reconcile_source_cache *c, const char *s) {
  if (s == NULL)
    return;
  bool found;
  size_t i = name_slot(c, s, &found);
  if (!found || c->names[i]->s != s)
    return; /* not reached: every record name is interned */
  if (--c->names[i]->refs > 0)
    return;
  free(c->names[i]);
  memmove(&c->names[i], &c->names[i + 1], (c->n_names - i - 1) * sizeof(*c->names));
  c->n_names--;
}

void reconcile_source_cache_set_hook(reconcile_source_cache *c, reconcile_source_secret_fn fn,
                                     void *ctx) {
  c->hook = fn;
  c->hook_ctx = ctx;
}

static void rec_free(reconcile_source_cache *c, file_rec *r) {
  if (r == NULL)
    return;
  spec_org_free(r->org);
  for (size_t i = 0; i < r->n_secrets; i++) {
    const reconcile_plan_secret *p = &r->secrets[i];
    spec_secret_free((spec_secret *)(uintptr_t)p->spec); /* owned when kept */
    unintern(c, p->ref.organization);
    unintern(c, p->ref.environment);
    unintern(c, p->ref.application);
    unintern(c, p->recipients);
  }
  os_free_secret(r, r->size);
}

int reconcile_source_cache_new(reconcile_source_cache **out, const char *dir, os_error *err) {
  reconcile_source_cache *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->dir = os_strdup(dir)) == NULL) {
    free(c);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  *out = c;
  return 0;
}

void reconcile_source_cache_free(reconcile_source_cache *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    rec_free(c, c->v[i]);
  free(c->v);
  for (size_t i = 0; i < c->n_names; i++)
    free(c->names[i]);
  free(c->names);
  free(c->dir);
  free(c);
}

static size_t str_size(const char *s) { return s ? strlen(s) + 1 : 0; }

/* An opened value on its way into a block. */
typedef struct open_value {
  const uint8_t *p; /* NULL: none */
  size_t len;
  uint8_t *owned; /* p when it came from the hook (wiped after packing) */
} open_value;

/* The fingerprints s is sealed to as "fp,fp,..." (caller frees); NULL when
 * out of memory. Validation has checked each is SPEC_FINGERPRINT_LEN long. */
static char *recipients_list(const spec_secret *s) {
  char *out = malloc(s->n_recipients * (SPEC_FINGERPRINT_LEN + 1) + 1), *w = out;
  if (out == NULL)
    return NULL;
  for (size_t j = 0; j < s->n_recipients; j++) {
    size_t fl = strnlen(s->recipients[j], SPEC_FINGERPRINT_LEN);
    memcpy(w, s->recipients[j], fl);
    w += fl;
    if (j + 1 < s->n_recipients)
      *w++ = ',';
  }
  *w = '\0';
  return out;
}

/* A file's records in one block (see file_rec); NULL on allocation failure
 * or a block above 4 GiB. digests[i] is secret i's reconcile_plan_secret_digest(). */
static file_rec *rec_new(reconcile_source_cache *c, const char *rel, spec_secret *const *v,
                         size_t n, const uint8_t (*digests)[32], const open_value *values) {
  size_t bytes = sizeof(file_rec) + n * sizeof(reconcile_plan_secret) + strlen(rel) + 1;
  for (size_t i = 0; i < n; i++)
    bytes += str_size(v[i]->name) + values[i].len;
  if (bytes > UINT32_MAX)
    return NULL;
  file_rec *r = calloc(1, bytes);
  if (r == NULL)
    return NULL;
  r->size = (uint32_t)bytes;
  r->n_secrets = (uint32_t)n;
  char *w = (char *)(r->secrets + n);
  char *file = (char *)(uintptr_t)os_str_pack(&w, rel);
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    reconcile_plan_secret *p = &r->secrets[i];
    spec_secret_ref_of(&p->ref, s); /* position and lines; every string is set below */
    bool oom = false;
    p->ref.organization = intern(c, s->organization, &oom);
    p->ref.environment = intern(c, s->environment, &oom);
    p->ref.application = intern(c, s->application, &oom);
    /* what the plan checks against the organization; the secrets of one
     * environment mostly share one set, so it is held once */
    char *fps = recipients_list(s);
    p->recipients = fps != NULL ? intern(c, fps, &oom) : NULL;
    oom = oom || fps == NULL;
    free(fps);
    if (oom) {
      r->n_secrets = (uint32_t)i + 1; /* release what this record took */
      rec_free(c, r);
      return NULL;
    }
    p->ref.name = os_str_pack(&w, s->name);
    p->ref.pos.file = file;
    p->state = (uint8_t)s->state;
    p->visible_to_viewers = s->visible_to_viewers;
    memcpy(p->digest, digests[i], 32);
    p->has_digest = true;
  }
  for (size_t i = 0; i < n; i++) { /* values last: the strings stay together */
    if (values[i].p == NULL)
      continue;
    memcpy(w, values[i].p, values[i].len);
    r->secrets[i].value = (const uint8_t *)w;
    r->secrets[i].value_len = (uint32_t)values[i].len;
    w += values[i].len;
  }
  return r;
}

/* Hands a spec problem to report as "FILE:LINE: msg". */
static void report_at(reconcile_source_problem_fn report, void *ctx, const spec_pos *pos,
                      const char *msg) {
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
  reconcile_source_problem_fn report;
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

/* The value old already holds for this digest, if any. */
static const reconcile_plan_secret *old_value(const file_rec *old, const uint8_t digest[32]) {
  for (size_t i = 0; old != NULL && old->parsed && i < old->n_secrets; i++)
    /* checksrc: public: digests of names and ciphertexts */
    if (old->secrets[i].value != NULL && memcmp(old->secrets[i].digest, digest, 32) == 0)
      return &old->secrets[i];
  return NULL;
}

/* Opens the values of a file just parsed: carried over from its previous
 * version when the ciphertext did not change, else from the hook. A hook
 * failure marks the spec in kept[i] (kept whole: the plan retries it). */
static int open_values(reconcile_source_cache *c, const file_rec *old, spec_tree *docs,
                       const uint8_t (*digests)[32], open_value *values, spec_secret **kept) {
  for (size_t i = 0; i < docs->n_secrets; i++) {
    const reconcile_plan_secret *prev = old_value(old, digests[i]);
    if (prev != NULL) {
      values[i].p = prev->value;
      values[i].len = prev->value_len;
      continue;
    }
    uint8_t *value = NULL;
    size_t len = 0;
    if (c->hook == NULL || c->hook(c->hook_ctx, docs->secrets[i], digests[i], &value, &len) < 0) {
      os_free_secret(value, len);
      kept[i] = docs->secrets[i];
      continue;
    }
    if (value != NULL && len > UINT32_MAX) {
      os_free_secret(value, len);
      return OS_ENOMEM;
    }
    values[i].p = values[i].owned = value;
    values[i].len = value ? len : 0;
  }
  return 0;
}

/* (Re)reads the file rel into *slot (NULL: a file not seen before). A
 * failure keeps the previous records; only running out of memory for a
 * file never seen before fails. */
static int read_entry(reconcile_source_cache *c, file_rec **slot, const char *rel,
                      const file_stamp *st, reconcile_source_problem_fn report, void *ctx) {
  file_rec *old = *slot;
  char *data = NULL;
  size_t len = 0;
  os_error ferr = OS_ERROR_INIT;
  int rc = os_read_file_below(&data, &len, c->dir, rel, SPEC_FILE_MAX, &ferr);
  spec_tree *docs = NULL;
  if (rc == 0) {
    docs = spec_tree_new(c->dir);
    rc = docs ? spec_tree_parse(docs, rel, data, len, &ferr)
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
  size_t n = rc == 0 ? docs->n_secrets : 0;
  uint8_t(*digests)[32] = NULL;
  open_value *values = NULL;
  spec_secret **kept = NULL;
  file_rec *r = NULL;
  if (rc == 0) {
    digests = calloc(n ? n : 1, sizeof(*digests));
    values = calloc(n ? n : 1, sizeof(*values));
    kept = calloc(n ? n : 1, sizeof(*kept));
    if (digests == NULL || values == NULL || kept == NULL)
      rc = os_error_set(&ferr, OS_ENOMEM, "%s: out of memory", rel);
  }
  if (rc == 0) {
    for (size_t i = 0; i < n; i++)
      reconcile_plan_secret_digest(digests[i], docs->secrets[i]);
    if (open_values(c, old, docs, (const uint8_t(*)[32])digests, values, kept) < 0 ||
        (r = rec_new(c, rel, docs->secrets, n, (const uint8_t(*)[32])digests, values)) == NULL)
      rc = os_error_set(&ferr, OS_ENOMEM, "%s: out of memory", rel);
  }
  /* rec_new copied them: wipe the hook's values */
  for (size_t i = 0; values != NULL && i < n; i++)
    os_free_secret(values[i].owned, values[i].len);
  free(values);
  free(digests);
  if (rc < 0) {
    free(kept);
    spec_tree_free(docs);
    if (report && !reported)
      report(ctx, rel, 0, ferr.msg);
    if (old == NULL) {
      spec_secret *none = NULL;
      old = rec_new(c, rel, &none, 0, NULL, NULL);
      if (old == NULL)
        return OS_ENOMEM;
      *slot = old;
    }
    old->st = *st;
    old->broken = true;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (kept[i] != NULL) { /* the record takes the spec over */
      r->secrets[i].spec = kept[i];
      docs->secrets[i] = NULL;
    }
  }
  free(kept);
  r->org = docs->org;
  docs->org = NULL;
  r->st = *st;
  r->parsed = true;
  spec_tree_free(docs);
  rec_free(c, old);
  *slot = r;
  return 0;
}

/* Collects the files named by validation errors. */
typedef struct bad_files {
  char **v;
  size_t n, cap;
  reconcile_source_problem_fn report;
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
  if (os_grow(&b->v, &b->cap, b->n + 1, sizeof(*b->v), SIZE_MAX) < 0)
    return;
  char *f = os_strdup(pos->file);
  if (f != NULL)
    b->v[b->n++] = f;
}

void reconcile_source_view_clear(reconcile_source_view *v) {
  free(v->secrets);
  memset(v, 0, sizeof(*v));
}

/* The merge of a walk into the cache: records before the walk's position
 * are in nv, the cache's records from j on are not reached yet. */
typedef struct merge_ctx {
  reconcile_source_cache *c;
  file_rec **nv;
  size_t n, cap, j;
  reconcile_source_problem_fn report;
  void *ctx;
} merge_ctx;

/* Room for more records; the first reservation is the last load's count
 * (and some), so a reload of the same folder allocates once. */
static int merge_room(merge_ctx *m, size_t more) {
  size_t need = m->n + more;
  if (m->cap == 0) {
    size_t first = m->c->n ? m->c->n + 16 : 64;
    if (os_grow(&m->nv, NULL, need > first ? need : first, sizeof(*m->nv), SIZE_MAX) < 0)
      return OS_ENOMEM;
    m->cap = need > first ? need : first;
    return 0;
  }
  return os_grow(&m->nv, &m->cap, need, sizeof(*m->nv), SIZE_MAX);
}

/* spec_walk_fn: one spec file of the folder, merged into the cache. */
static int merge_add(void *ctx, const spec_walk_entry *e, os_error *err) {
  merge_ctx *m = ctx;
  reconcile_source_cache *c = m->c;
  const char *rel = e->rel;
  file_stamp st = stamp_of(e->st);
  if (merge_room(m, 1) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  while (m->j < c->n && spec_path_cmp(rec_rel(c->v[m->j]), rel) < 0) {
    rec_free(c, c->v[m->j]); /* gone from the folder */
    c->v[m->j++] = NULL;
  }
  file_rec *r = NULL;
  if (m->j < c->n && spec_path_cmp(rec_rel(c->v[m->j]), rel) == 0) {
    r = c->v[m->j];
    c->v[m->j++] = NULL;
  }
  if ((r == NULL || r->st != st) && read_entry(c, &r, rel, &st, m->report, m->ctx) < 0)
    return os_error_set(err, OS_ENOMEM, "%s: out of memory", rel);
  m->nv[m->n++] = r;
  return 0;
}

int reconcile_source_cache_load(reconcile_source_cache *c, reconcile_source_view *out,
                                bool *incomplete, reconcile_source_problem_fn report, void *ctx,
                                os_error *err) {
  memset(out, 0, sizeof(*out));
  *incomplete = false;
  /* walk the folder in path order, merging each file into the cache as it
   * is found (no listing of the whole folder is kept) */
  merge_ctx m = {c, NULL, 0, 0, 0, report, ctx};
  int rc = spec_walk(c->dir, 0, merge_add, &m, err);
  if (rc < 0) {
    /* keep what was merged and what was not reached yet: still in order */
    if (merge_room(&m, c->n - m.j) == 0) {
      for (; m.j < c->n; m.j++) {
        m.nv[m.n++] = c->v[m.j];
        c->v[m.j] = NULL;
      }
    }
  }
  while (m.j < c->n) {
    rec_free(c, c->v[m.j]);
    c->v[m.j++] = NULL;
  }
  free(c->v);
  /* give back the slack of a growing first load (kept as it is when that fails) */
  if (m.cap > m.n + m.n / 8 + 16 && os_grow(&m.nv, NULL, m.n, sizeof(*m.nv), SIZE_MAX) == 0)
    m.cap = m.n;
  c->v = m.nv;
  c->n = m.n;
  if (rc < 0)
    return rc;

  /* a view over the cached documents */
  size_t total = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (c->v[i]->broken && !c->v[i]->parsed)
      *incomplete = true; /* never parsed: we cannot know what it held */
    total += c->v[i]->n_secrets;
  }
  const reconcile_plan_secret **v = calloc(total ? total : 1, sizeof(*v));
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
    const file_rec *d = c->v[i];
    if (!d->parsed)
      continue;
    if (d->org != NULL) {
      if (org != NULL) {
        *incomplete = true;
        if (report)
          report(ctx, rec_rel(d), d->org->pos.line, "a second Organization document (ignored)");
        continue;
      }
      org = d->org;
      org_file = rec_rel(d);
    }
    for (size_t k = 0; k < d->n_secrets; k++) {
      refs[n] = &d->secrets[k].ref;
      v[n++] = &d->secrets[k];
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
static int stamp_add(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  file_stamp st = stamp_of(e->st);
  uint64_t h = os_fnv1a64(os_fnv1a64(OS_FNV1A64_INIT, e->rel, strlen(e->rel)), &st, sizeof(st));
  uint64_t *sum = ctx;
  *sum += h ^ (h >> 29);
  return 0;
}

int reconcile_source_dir_stamp(uint64_t *out, const char *dir, os_error *err) {
  uint64_t sum = 0;
  int rc = spec_walk(dir, 0, stamp_add, &sum, err);
  if (rc < 0)
    return rc;
  *out = sum;
  return 0;
}

struct reconcile_source_watch {
  char *dir;
  int fd;
  uint64_t stamp;
  double last_stamp; /* monotonic seconds of the last fingerprint */
};

#define WATCH_MASK                                                                         \
  (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
   IN_MODIFY | IN_ATTRIB)

/* spec_walk_fn (with SPEC_WALK_DIRS): watches each directory the walk
 * reads, the folder first; only the folder itself may be reached through a
 * link. */
static int watch_dir(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  const reconcile_source_watch *w = ctx;
  if (e->kind != SPEC_WALK_DIR)
    return 0;
  if (e->rel[0] == '\0') {
    (void)inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    return 0;
  }
  char *path = os_path_join(w->dir, e->rel);
  if (path != NULL)
    (void)inotify_add_watch(w->fd, path, WATCH_MASK | IN_DONT_FOLLOW | IN_ONLYDIR);
  free(path);
  return 0;
}

static void add_watches(reconcile_source_watch *w) {
  os_error ignored = OS_ERROR_INIT;
  if (spec_walk(w->dir, SPEC_WALK_DIRS, watch_dir, w, &ignored) < 0)
    return; /* what it reached is watched; the fingerprint covers the rest */
}

int reconcile_source_watch_new(reconcile_source_watch **out, const char *dir, os_error *err) {
  reconcile_source_watch *w = calloc(1, sizeof(*w));
  if (w == NULL || (w->dir = os_strdup(dir)) == NULL) {
    free(w);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd >= 0)
    add_watches(w);
  os_error ignored = OS_ERROR_INIT;
  (void)reconcile_source_dir_stamp(&w->stamp, dir, &ignored);
  w->last_stamp = os_mono_seconds();
  *out = w;
  return 0;
}

/* Compares the folder's fingerprint with the last one; 1 when it moved. */
static int stamp_changed(reconcile_source_watch *w) {
  uint64_t now = 0;
  os_error ignored = OS_ERROR_INIT;
  w->last_stamp = os_mono_seconds();
  if (reconcile_source_dir_stamp(&now, w->dir, &ignored) < 0)
    return 0;
  if (now == w->stamp)
    return 0;
  w->stamp = now;
  return 1;
}

/* With inotify working, the fingerprint is only a safety net (events can
 * be lost on overflow): checked every 30 s. Without inotify, every wait. */
static int safety_check(reconcile_source_watch *w) {
  if (os_mono_seconds() - w->last_stamp < 30)
    return 0;
  return stamp_changed(w);
}

/* Does the event concern something the walk reads? */
static bool relevant(const struct inotify_event *ev) {
  if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF))
    return true;
  return ev->len > 0 && spec_walk_name_wanted(ev->name, (ev->mask & IN_ISDIR) != 0, false);
}

int reconcile_source_watch_wait(reconcile_source_watch *w, int timeout_ms) {
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
    add_watches(w);
  if (!changed)
    return safety_check(w);
  /* let a burst of writes (a git checkout) settle before reading */
  usleep(10000);
  char drain[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (read(w->fd, drain, sizeof(drain)) > 0)
    ;
  return 1;
}

void reconcile_source_watch_free(reconcile_source_watch *w) {
  if (w == NULL)
    return;
  if (w->fd >= 0)
    close(w->fd);
  free(w->dir);
  free(w);
}
