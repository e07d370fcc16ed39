/* Loading a folder of specs, cross-document validation, editing and writing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "spec/spec_internal.h"
#include "spec/yaml_nodes.h"

#define WALK_FILES_MAX 1000000

spec_tree *spec_tree_new(const char *dir) {
  spec_tree *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  if (dir != NULL && (t->dir = os_strdup(dir)) == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

static void ids_free(spec_secret_id *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++) {
    free(v[i].environment);
    free(v[i].application);
    free(v[i].name);
  }
  free(v);
}

static void bad_clear(spec_bad_file *b) {
  free(b->file);
  free(b->message);
  ids_free(b->ids, b->n_ids);
  memset(b, 0, sizeof(*b));
}

void spec_tree_free(spec_tree *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->n_secrets; i++)
    spec_secret_free(t->secrets[i]);
  free(t->secrets);
  for (size_t i = 0; i < t->n_bad; i++)
    bad_clear(&t->bad[i]);
  free(t->bad);
  spec_org_free(t->org);
  free(t->dir);
  free(t);
}

int spec_tree_set_org(spec_tree *t, spec_org *o, os_error *err) {
  if (o->pos.file == NULL && (o->pos.file = os_strdup("organization.yaml")) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  spec_org_free(t->org);
  t->org = o;
  return 0;
}

/* Grows the array by one each time: other code may have allocated
 * t->secrets with exactly n_secrets entries, so no spare capacity is assumed. */
static int append_secret(spec_tree *t, spec_secret *s) {
  if (os_grow(&t->secrets, NULL, t->n_secrets + 1, sizeof(*t->secrets), SIZE_MAX) < 0)
    return OS_ENOMEM;
  t->secrets[t->n_secrets++] = s;
  return 0;
}

static void part_clear(spec_tree *p);

/* All or nothing: the documents go into a scratch tree first. */
int spec_tree_parse(spec_tree *t, const char *file, const char *data, size_t len, os_error *err) {
  spec_tree part = {0};
  arena *a = arena_new();
  if (a == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  int rc = spec_tree_parse_arena(&part, a, file, data, len, true, err);
  arena_free(a);
  if (rc == 0 && part.org != NULL && t->org != NULL)
    rc = os_error_at(err, OS_EINVAL, file, part.org->pos.line,
                     "a second Organization (the first is at %s:%d)",
                     t->org->pos.file ? t->org->pos.file : "?", t->org->pos.line);
  if (rc == 0 && part.n_secrets > 0) {
    if (os_grow(&t->secrets, NULL, t->n_secrets + part.n_secrets, sizeof(*t->secrets),
                SIZE_MAX) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
    } else {
      memcpy(t->secrets + t->n_secrets, part.secrets, part.n_secrets * sizeof(*t->secrets));
      t->n_secrets += part.n_secrets;
      part.n_secrets = 0;
    }
  }
  if (rc == 0 && part.org != NULL) {
    t->org = part.org;
    part.org = NULL;
  }
  part_clear(&part);
  return rc;
}

int spec_org_check(const spec_org *o, os_error *err) {
  char *text = NULL;
  size_t len = 0;
  int rc = spec_org_emit(&text, &len, o, err);
  if (rc < 0)
    return rc;
  spec_tree *t = spec_tree_new(".");
  if (t == NULL)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  else
    rc = spec_tree_parse(t, o->pos.file ? o->pos.file : "organization.yaml", text, len, err);
  spec_tree_free(t);
  free(text);
  return rc;
}

int spec_tree_parse_arena(spec_tree *t, arena *a, const char *file, const char *data, size_t len,
                          bool fast, os_error *err) {
  dctx d = {.file = file, .err = err};
  if (len > SPEC_FILE_MAX)
    return dfail(&d, 0, "larger than %d bytes", SPEC_FILE_MAX);
  arena_reset(a);
  if (fast && spec_fast_parse(t, a, file, data, len) == 0)
    return 0;
  arena_reset(a);
  node *docs = NULL;
  int rc = yaml_nodes_parse(&docs, a, &d, data, len, fast);
  for (const node *root = rc == 0 ? docs->first : NULL; root != NULL; root = root->next) {
    if (root->kind == NODE_SCALAR && root->plain && root->len == 0)
      continue; /* an empty document */
    spec_org *o = NULL;
    spec_secret *s = NULL;
    if ((rc = spec_decode_document(&o, &s, &d, root)) < 0)
      break;
    if (o != NULL) {
      o->pos.line = root->line;
      if (t->org != NULL) {
        rc = dfail(&d, root->line, "a second Organization (the first is at %s:%d)",
                   t->org->pos.file ? t->org->pos.file : "?", t->org->pos.line);
        spec_org_free(o);
        break;
      }
      t->org = o;
    } else {
      s->pos.line = root->line;
      if (append_secret(t, s) < 0) {
        spec_secret_free(s);
        rc = os_error_set(err, OS_ENOMEM, "out of memory");
        break;
      }
    }
  }
  return rc;
}

typedef struct file_list {
  char **v;
  size_t n, cap;
} file_list;

/* spec_walk()'s callback: collects the spec files' paths, in path order. */
static int list_add(void *ctx, const spec_walk_entry *e, os_error *err) {
  file_list *l = ctx;
  if (os_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v), WALK_FILES_MAX) < 0)
    return os_error_set(err, OS_ENOMEM, "more than %d spec files", WALK_FILES_MAX);
  if ((l->v[l->n] = os_strdup(e->rel)) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  l->n++;
  return 0;
}

/* Reads dirfd/rel into *buf (grown as needed, reused across files; the
 * caller frees it), refusing files over SPEC_FILE_MAX before reading them.
 * No link is followed on the way (spec_walk()'s rule), and a FIFO swapped
 * in after the walk cannot hang the load. */
static int read_spec_file(char **buf, size_t *cap, size_t *out_len, int dirfd, const char *rel,
                          os_error *err) {
  int fd = -1;
  struct stat st;
  int rc = os_open_below(&fd, &st, dirfd, rel, err);
  if (rc < 0)
    return rc;
  if (st.st_size < 0 || st.st_size > SPEC_FILE_MAX) {
    rc = os_error_set(err, OS_EINVAL, "%s: larger than %d bytes", rel, SPEC_FILE_MAX);
    goto done;
  }
  size_t size = (size_t)st.st_size, got = 0;
  if (*buf == NULL || *cap < size + 1) {
    size_t want = size + 1 > 64 * 1024 ? size + 1 : 64 * 1024;
    if (os_grow(buf, NULL, want, 1, (size_t)SPEC_FILE_MAX + 1) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    *cap = want;
  }
  while (got < size) {
    ssize_t r = read(fd, *buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = os_error_set(err, OS_EIO, "%s: read: %s", rel, strerror(errno));
      goto done;
    }
    if (r == 0)
      break; /* shrank while reading: parse what is there */
    got += (size_t)r;
  }
  (*buf)[got] = '\0';
  *out_len = got;
done:
  close(fd);
  return rc;
}

/* What one file parsed into, before the files are merged in sorted order. */
typedef struct file_result {
  spec_tree part;
  int rc;
  char *msg;
  spec_bad_file bad; /* rc < 0: what is known of the file */
} file_result;

/* Splits a file's error "FILE:LINE: msg" or "FILE: msg" into its line (0:
 * none) and the message after the prefix (borrowed from msg). */
static const char *split_file_error(int *line, const char *file, const char *msg) {
  *line = 0;
  size_t fl = strlen(file);
  if (strncmp(msg, file, fl) != 0 || msg[fl] != ':')
    return msg;
  const char *p = msg + fl + 1;
  int n = 0;
  while (*p >= '0' && *p <= '9' && n < 100000000)
    n = n * 10 + (*p++ - '0');
  if (n > 0 && p[0] == ':' && p[1] == ' ') {
    *line = n;
    return p + 2;
  }
  return msg[fl + 1] == ' ' ? msg + fl + 2 : msg;
}

static bool id_known(const spec_bad_file *b, const char *env, const char *app, const char *name) {
  for (size_t i = 0; i < b->n_ids; i++) {
    const spec_secret_id *x = &b->ids[i];
    if (strcmp(x->environment, env) == 0 && strcmp(x->name, name) == 0 &&
        (x->application == NULL ? app == NULL : app != NULL && strcmp(x->application, app) == 0))
      return true;
  }
  return false;
}

/* Records (env, app, name) among the secrets b holds, once. */
static int id_add(spec_bad_file *b, const char *env, const char *app, const char *name) {
  if (env == NULL || name == NULL || id_known(b, env, app, name))
    return 0;
  if (os_grow(&b->ids, NULL, b->n_ids + 1, sizeof(*b->ids), 4096) < 0)
    return OS_ENOMEM;
  spec_secret_id *x = &b->ids[b->n_ids];
  x->environment = os_strdup(env);
  x->application = app != NULL ? os_strdup(app) : NULL;
  x->name = os_strdup(name);
  if (x->environment == NULL || x->name == NULL || (app != NULL && x->application == NULL)) {
    free(x->environment);
    free(x->application);
    free(x->name);
    return OS_ENOMEM;
  }
  b->n_ids++;
  return 0;
}

/* The secret a path names in the CLI's layout: secrets/ENV/NAME.yaml or
 * secrets/ENV/APP/NAME.yaml (or .yml). */
static int id_from_path(spec_bad_file *b, const char *rel) {
  char buf[PATH_MAX];
  int n = snprintf(buf, sizeof(buf), "%s", rel);
  if (n < 0 || (size_t)n >= sizeof(buf) || strncmp(buf, "secrets/", 8) != 0)
    return 0;
  char *parts[4];
  size_t k = 0;
  for (char *p = buf + 8; p != NULL && k < 4;) {
    parts[k++] = p;
    char *slash = strchr(p, '/');
    if (slash != NULL)
      *slash = '\0';
    p = slash != NULL ? slash + 1 : NULL;
    if (p == NULL)
      break;
  }
  if (k < 2 || k > 3)
    return 0;
  char *file = parts[k - 1], *dot = strrchr(file, '.');
  if (dot == NULL || (strcmp(dot, ".yaml") != 0 && strcmp(dot, ".yml") != 0))
    return 0;
  *dot = '\0';
  const char *app = k == 3 ? parts[1] : NULL;
  if (!spec_dns_label_valid(parts[0]) || (app != NULL && !spec_dns_label_valid(app)) ||
      !spec_secret_name_valid(file))
    return 0;
  return id_add(b, parts[0], app, file);
}

static void part_clear(spec_tree *p);

/* What is known of a file that failed to load: conflict or invalid, where,
 * and which secrets it holds (those of either side of a conflict, else the
 * one its path names). */
static int classify(spec_bad_file *b, arena *a, const char *file, const char *data, size_t len,
                    const char *msg) {
  int line = 0;
  const char *m = split_file_error(&line, file, msg);
  os_error e = OS_ERROR_INIT;
  int first = 0;
  int c = spec_conflict_side(NULL, NULL, &first, data, len, false, &e);
  char text[OS_ERROR_MSG_MAX + 64];
  if (first > 0) {
    b->kind = SPEC_BAD_CONFLICT;
    b->line = first;
    snprintf(text, sizeof(text), "Git merge conflict markers from line %d%s%s", first,
             c < 0 ? ": " : "", c < 0 ? e.msg : "");
    m = text;
  } else {
    b->kind = SPEC_BAD_INVALID;
    b->line = line;
  }
  const char *base = strrchr(file, '/');
  b->organization = strcmp(base != NULL ? base + 1 : file, "organization.yaml") == 0;
  if ((b->file = os_strdup(file)) == NULL || (b->message = os_strdup(m)) == NULL)
    return OS_ENOMEM;
  int rc = 0;
  for (int side = 0; c == 1 && side < 2 && rc == 0; side++) {
    char *t = NULL;
    size_t tl = 0;
    os_error se = OS_ERROR_INIT;
    if (spec_conflict_side(&t, &tl, NULL, data, len, side == 1, &se) == 1) {
      spec_tree part = {0};
      if (spec_tree_parse_arena(&part, a, file, t, tl, true, &se) == 0) {
        b->organization |= part.org != NULL;
        for (size_t i = 0; rc == 0 && i < part.n_secrets; i++)
          rc = id_add(b, part.secrets[i]->environment, part.secrets[i]->application,
                      part.secrets[i]->name);
      }
      part_clear(&part);
    }
    free(t);
  }
  if (rc == 0 && b->n_ids == 0)
    rc = id_from_path(b, file);
  return rc;
}

typedef struct load_job {
  int dirfd;
  char **files;
  size_t n;
  file_result *res;
  atomic_size_t next;
} load_job;

/* Parses files by index until none is left; any number of threads may run it. */
static void *parse_files(void *arg) {
  load_job *j = arg;
  arena *a = arena_new();
  char *data = NULL;
  size_t cap = 0;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n)
      break;
    file_result *r = &j->res[i];
    os_error err = OS_ERROR_INIT;
    size_t len = 0;
    int rc = a == NULL ? os_error_set(&err, OS_ENOMEM, "out of memory")
                       : read_spec_file(&data, &cap, &len, j->dirfd, j->files[i], &err);
    if (rc == 0)
      rc = spec_tree_parse_arena(&r->part, a, j->files[i], data, len, true, &err);
    if (rc < 0) {
      r->rc = rc;
      r->msg = os_strdup(err.msg);
      if (r->msg == NULL || (a != NULL && classify(&r->bad, a, j->files[i], data, len, r->msg) < 0))
        r->rc = OS_ENOMEM; /* not a bad file: the load fails */
    }
  }
  free(data);
  arena_free(a);
  return NULL;
}

static void part_clear(spec_tree *p) {
  for (size_t i = 0; i < p->n_secrets; i++)
    spec_secret_free(p->secrets[i]);
  free(p->secrets);
  spec_org_free(p->org);
}

#define LOAD_THREADS_MAX 8
#define LOAD_FILES_PER_THREAD 256

/* Moves what r knows of its bad file into t->bad (a second Organization
 * has no classification yet: it gets one here). */
static int add_bad(spec_tree *t, file_result *r, const char *file) {
  if (r->bad.file == NULL) {
    int line = 0;
    const char *m = split_file_error(&line, file, r->msg ? r->msg : "cannot be loaded");
    r->bad.kind = SPEC_BAD_INVALID;
    r->bad.line = line;
    r->bad.organization = r->part.org != NULL;
    if ((r->bad.file = os_strdup(file)) == NULL || (r->bad.message = os_strdup(m)) == NULL)
      return OS_ENOMEM;
    for (size_t i = 0; i < r->part.n_secrets; i++)
      if (id_add(&r->bad, r->part.secrets[i]->environment, r->part.secrets[i]->application,
                 r->part.secrets[i]->name) < 0)
        return OS_ENOMEM;
  }
  if (os_grow(&t->bad, NULL, t->n_bad + 1, sizeof(*t->bad), SIZE_MAX) < 0)
    return OS_ENOMEM;
  t->bad[t->n_bad++] = r->bad;
  memset(&r->bad, 0, sizeof(r->bad));
  return 0;
}

/* How a load treats a file that fails. */
typedef struct load_mode {
  bool validate;          /* cross-document validation (strict, or lenient with tolerant) */
  bool tolerant;          /* record it in t->bad and go on */
  spec_problem_fn report; /* tolerant: also report it here (may be NULL) */
  void *ctx;
  size_t *n_bad; /* tolerant: count them (may be NULL) */
} load_mode;

/* Reads and parses the files on up to LOAD_THREADS_MAX threads (libyaml
 * dominates a load), then merges the results in file order, so that the
 * tree and the first error reported are those of a sequential load. When
 * tolerant, a file that fails is recorded in t->bad (and reported), and
 * the first failure stays in err while the load goes on. */
static int load_files(spec_tree *t, int dirfd, char **files, size_t n, const load_mode *mode,
                      os_error *err) {
  load_job j = {.dirfd = dirfd, .files = files, .n = n};
  atomic_init(&j.next, 0);
  int rc = 0;
  size_t n_bad = 0;
  if (n == 0)
    return 0;
  if ((j.res = calloc(n, sizeof(*j.res))) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t want = cpus > 1 ? (size_t)cpus : 1;
  if (want > LOAD_THREADS_MAX)
    want = LOAD_THREADS_MAX;
  if (want > n / LOAD_FILES_PER_THREAD + 1)
    want = n / LOAD_FILES_PER_THREAD + 1;
  pthread_t threads[LOAD_THREADS_MAX];
  size_t started = 0;
  for (size_t i = 1; i < want; i++, started++)
    if (pthread_create(&threads[started], NULL, parse_files, &j) != 0)
      break;
  parse_files(&j);
  for (size_t i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += j.res[i].part.n_secrets;
  if (total > 0 &&
      os_grow(&t->secrets, NULL, t->n_secrets + total, sizeof(*t->secrets), SIZE_MAX) < 0) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    file_result *r = &j.res[i];
    if (r->rc == 0 && r->part.org != NULL && t->org != NULL) {
      os_error e = OS_ERROR_INIT;
      r->rc = os_error_at(&e, OS_EINVAL, r->part.org->pos.file, r->part.org->pos.line,
                          "a second Organization (the first is at %s:%d)", t->org->pos.file,
                          t->org->pos.line);
      r->msg = os_strdup(e.msg);
    }
    if (r->rc < 0) {
      const char *msg = r->msg ? r->msg : "out of memory";
      if (!mode->tolerant || r->rc == OS_ENOMEM) {
        rc = os_error_set(err, r->rc, "%s", msg);
        goto done;
      }
      if (n_bad++ == 0)
        os_error_set(err, r->rc, "%s", msg);
      if (mode->report != NULL) {
        int line = 0;
        const char *m = split_file_error(&line, files[i], msg);
        spec_pos pos = {files[i], line};
        mode->report(mode->ctx, &pos, true, m);
      }
      if (add_bad(t, r, files[i]) < 0) {
        rc = os_error_set(err, OS_ENOMEM, "out of memory");
        goto done;
      }
      continue;
    }
    if (r->part.org != NULL) {
      t->org = r->part.org;
      r->part.org = NULL;
    }
    if (r->part.n_secrets > 0)
      memcpy(t->secrets + t->n_secrets, r->part.secrets, r->part.n_secrets * sizeof(*t->secrets));
    t->n_secrets += r->part.n_secrets;
    r->part.n_secrets = 0;
  }
done:
  if (mode->n_bad != NULL)
    *mode->n_bad = n_bad;
  for (size_t i = 0; i < n; i++) {
    part_clear(&j.res[i].part);
    free(j.res[i].msg);
    bad_clear(&j.res[i].bad);
  }
  free(j.res);
  return rc;
}

static int validate_lenient(spec_tree *t, os_error *err);

static int load(spec_tree **out, const char *dir, const load_mode *mode, os_error *err) {
  *out = NULL;
  file_list l = {0};
  int dirfd = -1, rc = 0;
  spec_tree *t = spec_tree_new(dir);
  if (t == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if ((rc = spec_walk(dir, SPEC_WALK_NO_STAT, list_add, &l, err)) < 0)
    goto done;
  dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    rc = os_error_set(err, OS_EIO, "open directory %s: %s", dir, strerror(errno));
    goto done;
  }
  os_error first = OS_ERROR_INIT;
  if ((rc = load_files(t, dirfd, l.v, l.n, mode, &first)) < 0) {
    if (err != NULL)
      *err = first;
    goto done;
  }
  if (t->org == NULL) {
    /* the Organization may be in a file that did not load: say which */
    const spec_bad_file *b = NULL;
    for (size_t i = 0; i < t->n_bad && b == NULL; i++)
      if (t->bad[i].organization)
        b = &t->bad[i];
    if (b != NULL)
      rc = os_error_at(err, b->kind == SPEC_BAD_CONFLICT ? OS_ECONFLICT : OS_EINVAL, b->file,
                       b->line, "%s (the Organization is in this file)", b->message);
    else
      rc = os_error_set(err, OS_ENOTFOUND, "no Organization found below %s", dir);
    goto done;
  }
  if (mode->tolerant && mode->report != NULL && err != NULL)
    *err = first; /* partial: the first bad file's error, for the caller */
  if (mode->validate && mode->tolerant)
    rc = validate_lenient(t, err);
  else if (mode->validate)
    rc = spec_tree_validate(t, NULL, NULL, err);
done:
  if (dirfd >= 0)
    close(dirfd);
  for (size_t i = 0; i < l.n; i++)
    free(l.v[i]);
  free(l.v);
  if (rc < 0) {
    spec_tree_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int spec_tree_load(spec_tree **out, const char *dir, os_error *err) {
  load_mode m = {.validate = true};
  return load(out, dir, &m, err);
}

int spec_tree_load_unvalidated(spec_tree **out, const char *dir, os_error *err) {
  load_mode m = {.validate = false};
  return load(out, dir, &m, err);
}

int spec_tree_load_partial(spec_tree **out, size_t *n_bad_files, const char *dir,
                           spec_problem_fn report, void *ctx, os_error *err) {
  *n_bad_files = 0;
  load_mode m = {.tolerant = true, .report = report, .ctx = ctx, .n_bad = n_bad_files};
  os_error scratch = OS_ERROR_INIT;
  return load(out, dir, &m, err != NULL ? err : &scratch);
}

int spec_tree_load_lenient(spec_tree **out, const char *dir, os_error *err) {
  load_mode m = {.validate = true, .tolerant = true};
  return load(out, dir, &m, err);
}

const spec_bad_file *spec_tree_bad_file(const spec_tree *t, const char *file) {
  for (size_t i = 0; file != NULL && i < t->n_bad; i++)
    if (strcmp(t->bad[i].file, file) == 0)
      return &t->bad[i];
  return NULL;
}

const spec_bad_file *spec_tree_find_bad(const spec_tree *t, const char *env, const char *app,
                                        const char *name) {
  for (size_t i = 0; env != NULL && name != NULL && i < t->n_bad; i++)
    if (id_known(&t->bad[i], env, app, name))
      return &t->bad[i];
  return NULL;
}

/* Validation: every problem goes to report; the first error is returned. */
typedef struct vctx {
  spec_problem_fn report;
  void *ctx;
  os_error *err;
  int rc;
} vctx;

__attribute__((format(printf, 4, 5))) static void problem(vctx *v, const spec_pos *pos,
                                                          bool is_error, const char *fmt, ...) {
  char msg[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  os_vformat(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (v->report != NULL)
    v->report(v->ctx, pos, is_error, msg);
  if (is_error && v->rc == 0)
    v->rc = os_error_at(v->err, OS_EINVAL, pos ? pos->file : NULL, pos ? pos->line : 0, "%s", msg);
}

static const char *where_file(const spec_pos *p) { return p->file ? p->file : "(new)"; }

typedef struct named {
  const char *a, *b, *c;  /* sort keys */
  spec_pos pos;           /* file borrowed */
  size_t index;
} named;

static int cmp_named(const void *x, const void *y) {
  const named *p = x, *q = y;
  int c = strcmp(p->a, q->a);
  if (c == 0)
    c = strcmp(p->b, q->b);
  if (c == 0)
    c = strcmp(p->c, q->c);
  if (c == 0)
    c = p->index < q->index ? -1 : p->index > q->index;
  return c;
}

/* Reports every entry whose keys equal an earlier one's (O(n log n)). */
static int report_duplicates(vctx *v, named *items, size_t n, const char *what) {
  if (n < 2)
    return 0;
  qsort(items, n, sizeof(*items), cmp_named);
  for (size_t i = 1; i < n; i++) {
    size_t first = i - 1;
    while (i < n && strcmp(items[i].a, items[first].a) == 0 &&
           strcmp(items[i].b, items[first].b) == 0 && strcmp(items[i].c, items[first].c) == 0) {
      problem(v, &items[i].pos, true, "duplicate %s %.253s (first at %s:%d)", what, items[i].c,
              where_file(&items[first].pos), items[first].pos.line);
      i++;
    }
  }
  return 0;
}

static void validate_org(vctx *v, const spec_org *o) {
  if (!spec_dns_label_valid(o->id))
    problem(v, &o->pos, true, "metadata.name: \"%.80s\" is not a DNS-1123 label", o->id ? o->id : "");
  size_t most = o->n_members > o->n_envs ? o->n_members : o->n_envs;
  if (o->n_apps > most)
    most = o->n_apps;
  named *items = most ? calloc(most, sizeof(*items)) : NULL;
  if (most && items == NULL) {
    problem(v, &o->pos, true, "out of memory");
    return;
  }
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (!spec_member_name_valid(m->name))
      problem(v, &m->pos, true, "member: invalid name");
    if (m->recipient != NULL && !spec_recipient_shaped(m->recipient))
      problem(v, &m->pos, true, "member %.80s: recipient is not an age X25519 recipient (age1...)",
              m->name ? m->name : "");
    if (m->recipient == NULL && m->role != SPEC_ROLE_VIEWER)
      problem(v, &m->pos, true, "member %.80s has role %s but no recipient", m->name ? m->name : "",
              spec_role_name(m->role));
    items[i] = (named){"", "", m->name ? m->name : "", m->pos, i};
  }
  report_duplicates(v, items, o->n_members, "member");
  /* Members sharing a key cannot be revoked one at a time. */
  size_t keyed = 0, admins = 0;
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    admins += m->role == SPEC_ROLE_ADMIN;
    if (m->recipient != NULL)
      items[keyed++] = (named){"", "", m->recipient, m->pos, i};
  }
  if (keyed > 1) {
    qsort(items, keyed, sizeof(*items), cmp_named);
    for (size_t i = 1; i < keyed; i++)
      if (strcmp(items[i].c, items[i - 1].c) == 0)
        problem(v, &items[i].pos, false, "member %.80s has the same recipient as %.80s",
                o->members[items[i].index].name ? o->members[items[i].index].name : "",
                o->members[items[i - 1].index].name ? o->members[items[i - 1].index].name : "");
  }
  if (o->n_members > 0 && admins == 0)
    problem(v, &o->pos, false, "organization %.80s has no admin", o->id ? o->id : "");
  for (size_t i = 0; i < o->n_envs; i++) {
    const spec_environment *e = &o->envs[i];
    if (!spec_dns_label_valid(e->name))
      problem(v, &e->pos, true, "environment: \"%.80s\" is not a DNS-1123 label", e->name ? e->name : "");
    if (e->n_controllers == 0)
      problem(v, &e->pos, false, "environment %.80s has no controllers: no cluster can deploy it",
              e->name ? e->name : "");
    for (size_t k = 0; k < e->n_controllers; k++) {
      if (!spec_recipient_shaped(e->controllers[k]))
        problem(v, &e->pos, true, "environment %.80s: controller %zu is not an age X25519 recipient",
                e->name ? e->name : "", k);
      for (size_t q = 0; q < k && q < 64; q++)
        if (strcmp(e->controllers[q], e->controllers[k]) == 0) {
          problem(v, &e->pos, false, "environment %.80s lists controller %zu twice",
                  e->name ? e->name : "", q);
          break;
        }
    }
    items[i] = (named){"", "", e->name ? e->name : "", e->pos, i};
  }
  report_duplicates(v, items, o->n_envs, "environment");
  for (size_t i = 0; i < o->n_apps; i++) {
    const spec_application *a = &o->apps[i];
    if (!spec_dns_label_valid(a->name))
      problem(v, &a->pos, true, "application: \"%.80s\" is not a DNS-1123 label", a->name ? a->name : "");
    if (a->n_namespaces == 0)
      problem(v, &a->pos, false, "application %.80s has no namespaces: its secrets go nowhere",
              a->name ? a->name : "");
    items[i] = (named){"", "", a->name ? a->name : "", a->pos, i};
  }
  report_duplicates(v, items, o->n_apps, "application");
  free(items);
}

/* The position of a field of s: its own line when known, else the document's. */
static spec_pos field_pos(const spec_secret *s, int line) {
  spec_pos p = {s->pos.file, line > 0 ? line : s->pos.line};
  return p;
}

/* The checks that need the Organization: org, environment, application. */
static void validate_ref(vctx *v, const spec_org *o, const spec_secret_ref *r) {
  const char *name = r->name ? r->name : "";
  spec_pos at = {r->pos.file, r->lines.organization > 0 ? r->lines.organization : r->pos.line};
  if (r->organization == NULL || strcmp(r->organization, o->id ? o->id : "") != 0)
    problem(v, &at, true, "secret %.253s: organization \"%.80s\" is not \"%.80s\"", name,
            r->organization ? r->organization : "", o->id ? o->id : "");
  at.line = r->lines.environment > 0 ? r->lines.environment : r->pos.line;
  if (spec_org_find_env(o, r->environment) == NULL)
    problem(v, &at, true, "secret %.253s: unknown environment \"%.80s\"", name,
            r->environment ? r->environment : "");
  at.line = r->lines.application > 0 ? r->lines.application : r->pos.line;
  if (r->application != NULL && spec_org_find_app(o, r->application) == NULL)
    problem(v, &at, true, "secret %.253s: unknown application \"%.80s\"", name, r->application);
}

void spec_secret_ref_of(spec_secret_ref *r, const spec_secret *s) {
  r->organization = s->organization;
  r->environment = s->environment;
  r->application = s->application;
  r->name = s->name;
  r->legacy_name = s->legacy_name;
  r->pos = s->pos;
  r->lines.organization = s->lines.organization;
  r->lines.environment = s->lines.environment;
  r->lines.name = s->lines.name;
  r->lines.application = s->lines.application;
}

/* o NULL: only the checks that need no other document. */
static void validate_secret(vctx *v, const spec_org *o, const spec_secret *s) {
  const spec_pos *p = &s->pos;
  spec_pos at;
  const char *name = s->name ? s->name : "";
  at = field_pos(s, s->lines.name);
  if (!spec_secret_name_valid(s->name))
    problem(v, &at, true, "spec.name: \"%.80s\" is not a valid secret name", name);
  if (o != NULL) {
    spec_secret_ref r;
    spec_secret_ref_of(&r, s);
    validate_ref(v, o, &r);
  }
  if (s->n_recipients == 0)
    problem(v, p, true, "secret %.253s: no recipients", name);
  for (size_t i = 0; i < s->n_recipients; i++)
    if (!spec_fingerprint_valid(s->recipients[i])) {
      problem(v, p, true, "secret %.253s: recipient %zu is not a fingerprint", name, i);
      break;
    }
  /* Decoding checked the armor in full; here only its frame, to stay cheap. */
  if (s->value_released)
    ; /* checked when it was read */
  else if (s->encrypted_value == NULL || s->encrypted_value[0] == '\0')
    problem(v, p, true, "secret %.253s: empty encryptedValue", name);
  else if (strncmp(s->encrypted_value, "-----BEGIN AGE ENCRYPTED FILE-----\n", 35) != 0)
    problem(v, p, true, "secret %.253s: encryptedValue is not an ASCII-armored age file", name);
  const char *ts[] = {s->created_at, s->updated_at, s->rotated_at};
  for (size_t i = 0; i < 3; i++)
    if (ts[i] != NULL && !spec_timestamp_valid(ts[i])) {
      problem(v, p, true, "secret %.253s: timestamp \"%.40s\" is not RFC 3339 UTC", name, ts[i]);
      break;
    }
  char rname[3 * 64 + SPEC_NAME_MAX + 8];
  size_t rlen = spec_resource_name_into(
      rname, sizeof(rname), s->organization ? s->organization : "",
      s->environment ? s->environment : "", s->legacy_name ? NULL : s->application, name);
  if (rlen > 0 && !spec_dns_subdomain_valid(rname))
    problem(v, p, false,
            "secret %.253s: resource name %.253s is not a valid Kubernetes name (too long, or "
            "a name ending in _); it cannot be applied as a custom resource",
            name, rname);
}

static void check_duplicates(vctx *v, const spec_secret_ref *const *refs, size_t n);

int spec_tree_validate(const spec_tree *t, spec_problem_fn report, void *ctx, os_error *err) {
  vctx v = {report, ctx, err, 0};
  if (t->org == NULL) {
    problem(&v, NULL, true, "no Organization found below %s", t->dir ? t->dir : ".");
    if (err != NULL)
      err->code = OS_ENOTFOUND;
    return OS_ENOTFOUND;
  }
  validate_org(&v, t->org);
  for (size_t i = 0; i < t->n_secrets; i++)
    validate_secret(&v, t->org, t->secrets[i]);
  if (t->n_secrets > 1) {
    spec_secret_ref *refs = calloc(t->n_secrets, sizeof(*refs));
    const spec_secret_ref **ptrs = calloc(t->n_secrets, sizeof(*ptrs));
    if (refs == NULL || ptrs == NULL) {
      problem(&v, NULL, true, "out of memory");
    } else {
      for (size_t i = 0; i < t->n_secrets; i++) {
        spec_secret_ref_of(&refs[i], t->secrets[i]);
        ptrs[i] = &refs[i];
      }
      check_duplicates(&v, ptrs, t->n_secrets);
    }
    free(refs);
    free(ptrs);
  }
  return v.rc;
}

int spec_secret_validate_local(const spec_secret *s, spec_problem_fn report, void *ctx,
                               os_error *err) {
  vctx v = {report, ctx, err, 0};
  validate_secret(&v, NULL, s);
  return v.rc;
}

static const char *nz(const char *s) { return s ? s : ""; }

typedef struct ref_at {
  const spec_secret_ref *r;
  size_t index;
} ref_at;

static int cmp_ref(const void *x, const void *y) {
  const ref_at *a = x, *b = y;
  const spec_secret_ref *p = a->r, *q = b->r;
  int c = strcmp(nz(p->organization), nz(q->organization));
  if (c == 0)
    c = strcmp(nz(p->environment), nz(q->environment));
  if (c == 0)
    c = strcmp(nz(p->name), nz(q->name));
  if (c == 0) /* stable: the first one given stays, later ones are reported */
    c = a->index < b->index ? -1 : a->index > b->index;
  return c;
}

static spec_pos name_pos(const spec_secret_ref *r) {
  spec_pos at = {r->pos.file, r->lines.name > 0 ? r->lines.name : r->pos.line};
  return at;
}

static bool same_app(const char *a, const char *b) {
  return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The application part of a secret's metadata.name (NULL: none). */
static const char *resource_app(const spec_secret_ref *r) {
  return r->legacy_name ? NULL : r->application;
}

/* Names are unique per (organization, environment, application or
 * organization level), and so are metadata.names: an application's secret
 * with the legacy name must not meet the organization-level secret of that
 * name (or another application's legacy one). Sorts small (pointer, index)
 * pairs, not copies (this runs on every controller pass). */
static void check_duplicates(vctx *v, const spec_secret_ref *const *refs, size_t n) {
  if (n < 2)
    return;
  ref_at *sorted = malloc(n * sizeof(*sorted));
  if (sorted == NULL) {
    problem(v, NULL, true, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    sorted[i] = (ref_at){refs[i], i};
  qsort(sorted, n, sizeof(*sorted), cmp_ref);
  for (size_t i = 0; i < n;) {
    size_t end = i + 1;
    const spec_secret_ref *f = sorted[i].r;
    while (end < n && strcmp(nz(sorted[end].r->organization), nz(f->organization)) == 0 &&
           strcmp(nz(sorted[end].r->environment), nz(f->environment)) == 0 &&
           strcmp(nz(sorted[end].r->name), nz(f->name)) == 0)
      end++;
    /* a group of one name in one environment: usually one secret, a few
     * when applications share a name */
    for (size_t q = i + 1; q < end; q++) {
      const spec_secret_ref *b = sorted[q].r;
      for (size_t p = i; p < q; p++) {
        const spec_secret_ref *a = sorted[p].r;
        spec_pos at = name_pos(b), at0 = name_pos(a);
        if (same_app(a->application, b->application)) {
          if (b->application != NULL)
            problem(v, &at, true, "duplicate secret %.253s of application %.80s (first at %s:%d)",
                    nz(b->name), b->application, where_file(&at0), at0.line);
          else
            problem(v, &at, true, "duplicate secret %.253s (first at %s:%d)", nz(b->name),
                    where_file(&at0), at0.line);
          break;
        }
        if (same_app(resource_app(a), resource_app(b))) {
          const spec_secret_ref *legacy = b->legacy_name ? b : a, *other = legacy == b ? a : b;
          spec_pos lat = name_pos(legacy), oat = name_pos(other);
          problem(v, &lat, true,
                  "secret %.253s of application %.80s has the metadata.name of an "
                  "organization-level secret (the form written before names were per "
                  "application), which %s:%d uses too; rename it to the form "
                  "<org>.<env>.<app>.<name> and move it to secrets/%.80s/%.80s/%.253s.yaml",
                  nz(legacy->name), nz(legacy->application), where_file(&oat), oat.line,
                  nz(legacy->environment), nz(legacy->application), nz(legacy->name));
          break;
        }
      }
    }
    i = end;
  }
  free(sorted);
}

int spec_validate_refs(const spec_org *o, const spec_secret_ref *const *refs, size_t n,
                       spec_problem_fn report, void *ctx, os_error *err) {
  vctx v = {report, ctx, err, 0};
  validate_org(&v, o);
  for (size_t i = 0; i < n; i++)
    validate_ref(&v, o, refs[i]);
  check_duplicates(&v, refs, n);
  return v.rc;
}

/* Collects the files of the errors a validation reports. */
typedef struct error_files {
  char **v;
  size_t n;
  int oom;
  bool unplaced; /* an error without a file, or in the Organization's */
  const char *org_file;
} error_files;

static void on_error_file(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  (void)msg;
  error_files *e = ctx;
  if (!is_error)
    return;
  if (pos == NULL || pos->file == NULL || strcmp(pos->file, e->org_file) == 0) {
    e->unplaced = true;
    return;
  }
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->v[i], pos->file) == 0)
      return;
  char *f = os_strdup(pos->file);
  if (f == NULL || os_grow(&e->v, NULL, e->n + 1, sizeof(*e->v), SIZE_MAX) < 0) {
    free(f);
    e->oom = 1;
    return;
  }
  e->v[e->n++] = f;
}

/* Takes every secret of file out of t into a bad file (invalid, with the
 * first validation error found in it). */
static int move_out(spec_tree *t, const char *file, const char *msg, int line) {
  spec_bad_file b = {0};
  b.kind = SPEC_BAD_INVALID;
  b.line = line;
  int rc = (b.file = os_strdup(file)) && (b.message = os_strdup(msg)) ? 0 : OS_ENOMEM;
  size_t w = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    spec_secret *s = t->secrets[i];
    if (s->pos.file == NULL || strcmp(s->pos.file, file) != 0) {
      t->secrets[w++] = s;
      continue;
    }
    if (rc == 0)
      rc = id_add(&b, s->environment, s->application, s->name);
    spec_secret_free(s);
  }
  t->n_secrets = w;
  if (rc == 0 && os_grow(&t->bad, NULL, t->n_bad + 1, sizeof(*t->bad), SIZE_MAX) < 0)
    rc = OS_ENOMEM;
  if (rc < 0) {
    bad_clear(&b);
    return rc;
  }
  t->bad[t->n_bad++] = b;
  return 0;
}

/* The first error validation reports at file: its line and message. */
typedef struct first_at {
  const char *file;
  int line;
  char msg[OS_ERROR_MSG_MAX];
} first_at;

static void on_first_at(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  first_at *f = ctx;
  if (is_error && f->msg[0] == '\0' && pos != NULL && pos->file != NULL &&
      strcmp(pos->file, f->file) == 0) {
    f->line = pos->line;
    snprintf(f->msg, sizeof(f->msg), "%s", msg);
  }
}

/* Validation for spec_tree_load_lenient: the files of secrets that fail go
 * to t->bad, then the rest is validated again (a duplicate's first copy
 * stays). The Organization failing fails the load. */
static int validate_lenient(spec_tree *t, os_error *err) {
  for (int round = 0; round < 3; round++) {
    error_files e = {.org_file = t->org->pos.file ? t->org->pos.file : "organization.yaml"};
    os_error verr = OS_ERROR_INIT;
    int rc = spec_tree_validate(t, on_error_file, &e, &verr);
    if (rc == 0 || e.unplaced || e.oom || e.n == 0) {
      for (size_t i = 0; i < e.n; i++)
        free(e.v[i]);
      free(e.v);
      if (rc < 0 && err != NULL)
        *err = verr;
      return e.oom ? os_error_set(err, OS_ENOMEM, "out of memory") : rc;
    }
    for (size_t i = 0; i < e.n && rc != OS_ENOMEM; i++) {
      first_at f = {.file = e.v[i]};
      spec_tree_validate(t, on_first_at, &f, NULL);
      rc = move_out(t, e.v[i], f.msg[0] ? f.msg : "invalid", f.line);
    }
    for (size_t i = 0; i < e.n; i++)
      free(e.v[i]);
    free(e.v);
    if (rc == OS_ENOMEM)
      return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  return spec_tree_validate(t, NULL, NULL, err);
}

static bool same(const char *a, const char *b) { return a != NULL && b != NULL && strcmp(a, b) == 0; }

static ssize_t find_index(const spec_tree *t, const char *env, const char *app, const char *name) {
  for (size_t i = 0; i < t->n_secrets; i++)
    if (same(t->secrets[i]->environment, env) && same(t->secrets[i]->name, name) &&
        same_app(t->secrets[i]->application, app))
      return (ssize_t)i;
  return -1;
}

spec_secret *spec_tree_find_secret(const spec_tree *t, const char *env, const char *app,
                                   const char *name) {
  ssize_t i = find_index(t, env, app, name);
  return i < 0 ? NULL : t->secrets[i];
}

spec_secret *spec_tree_take_secret(spec_tree *t, const char *env, const char *app,
                                   const char *name) {
  ssize_t i = find_index(t, env, app, name);
  if (i < 0)
    return NULL;
  spec_secret *s = t->secrets[i];
  memmove(&t->secrets[i], &t->secrets[i + 1], (t->n_secrets - (size_t)i - 1) * sizeof(*t->secrets));
  t->n_secrets--;
  return s;
}

int spec_tree_put_secret(spec_tree *t, spec_secret *s, os_error *err) {
  if (s->environment == NULL || s->name == NULL)
    return os_error_set(err, OS_EINVAL, "secret without environment or name");
  ssize_t i = find_index(t, s->environment, s->application, s->name);
  if (i >= 0) {
    spec_secret *old = t->secrets[i];
    if (old == s)
      return 0;
    free(s->pos.file);
    s->pos = old->pos;
    s->legacy_name = old->legacy_name;
    old->pos.file = NULL;
    spec_secret_free(old);
    t->secrets[i] = s;
    return 0;
  }
  if (s->pos.file == NULL &&
      (s->pos.file = spec_secret_default_path(s->environment, s->application, s->name)) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if (append_secret(t, s) < 0)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return 0;
}

typedef struct doc_ref {
  const spec_secret *s;
  size_t index;
} doc_ref;

static int cmp_doc(const void *x, const void *y) {
  const doc_ref *p = x, *q = y;
  int lp = p->s->pos.line > 0 ? p->s->pos.line : INT_MAX;
  int lq = q->s->pos.line > 0 ? q->s->pos.line : INT_MAX;
  if (lp != lq)
    return lp < lq ? -1 : 1;
  return p->index < q->index ? -1 : p->index > q->index;
}

static int parent_dirs(const char *path, os_error *err) {
  char dir[PATH_MAX];
  int n = snprintf(dir, sizeof(dir), "%s", path);
  if (n < 0 || (size_t)n >= sizeof(dir))
    return os_error_set(err, OS_EINVAL, "%s: path too long", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir)
    return 0;
  *slash = '\0';
  return os_mkdir_p(dir, 0755, err);
}

/* A secret without pos.file belongs at its default path. */
static bool secret_in_file(const spec_secret *s, const char *file) {
  if (s->pos.file != NULL)
    return strcmp(s->pos.file, file) == 0;
  char *def = spec_secret_default_path(s->environment, s->application, s->name);
  bool match = def != NULL && strcmp(def, file) == 0;
  free(def);
  return match;
}

int spec_tree_write_file(const spec_tree *t, const char *file, os_error *err) {
  os_buf out;
  os_buf_init(&out, SPEC_FILE_MAX, false);
  doc_ref *refs = NULL;
  char *path = NULL;
  size_t n = 0;
  int rc = 0;
  if (file == NULL || file[0] == '\0' || file[0] == '/')
    return os_error_set(err, OS_EINVAL, "spec file must be a relative path");
  const spec_bad_file *bad = spec_tree_bad_file(t, file);
  if (bad != NULL)
    return os_error_set(err, OS_ECONFLICT,
                        "%s:%d: %s; resolve it first, writing it would drop "
                        "what it holds",
                        bad->file, bad->line, bad->message);
  if ((path = os_path_join(t->dir ? t->dir : ".", file)) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  bool have_org = t->org != NULL && same(t->org->pos.file ? t->org->pos.file : "organization.yaml", file);
  for (size_t i = 0; i < t->n_secrets; i++)
    if (secret_in_file(t->secrets[i], file))
      n++;
  if (n > 0 && (refs = calloc(n, sizeof(*refs))) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  n = 0;
  for (size_t i = 0; i < t->n_secrets; i++)
    if (secret_in_file(t->secrets[i], file))
      refs[n++] = (doc_ref){t->secrets[i], i};
  if (n > 1)
    qsort(refs, n, sizeof(*refs), cmp_doc);
  size_t docs = 0;
  char *doc = NULL;
  size_t doc_len = 0;
  if (have_org) {
    if ((rc = spec_org_emit(&doc, &doc_len, t->org, err)) < 0)
      goto done;
    rc = os_buf_append(&out, doc, doc_len);
    free(doc);
    docs++;
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if ((rc = spec_secret_emit(&doc, &doc_len, refs[i].s, err)) < 0)
      goto done;
    if (docs++ > 0)
      rc = os_buf_puts(&out, "---\n");
    if (rc == 0)
      rc = os_buf_append(&out, doc, doc_len);
    free(doc);
  }
  if (rc < 0) {
    rc = os_error_set(err, rc, "%s: larger than %d bytes", file, SPEC_FILE_MAX);
    goto done;
  }
  if (docs == 0) {
    if (unlink(path) != 0 && errno != ENOENT)
      rc = os_error_set(err, OS_EIO, "remove %s: %s", path, strerror(errno));
    goto done;
  }
  if ((rc = parent_dirs(path, err)) < 0)
    goto done;
  rc = os_write_file_if_changed(path, out.data, out.len, 0644, NULL, err);
done:
  free(path);
  free(refs);
  os_buf_free(&out);
  return rc;
}
