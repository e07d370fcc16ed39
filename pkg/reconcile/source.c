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
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"

/* Collected relative paths of spec files, sorted. */
typedef struct file_list {
  char **v;
  size_t n, cap;
} file_list;

static void file_list_free(file_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
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
          char **v = realloc(l->v, cap * sizeof(*v));
          if (v == NULL) {
            rc = os_error_set(err, OS_ENOMEM, "out of memory");
          } else {
            l->v = v;
            l->cap = cap;
          }
        }
        if (rc == 0) {
          l->v[l->n++] = child_rel;
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

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(file_list *l, const char *dir, os_error *err) {
  memset(l, 0, sizeof(*l));
  int rc = walk(l, dir, "", 0, err);
  if (rc < 0) {
    file_list_free(l);
    return rc;
  }
  if (l->n > 0)
    qsort(l->v, l->n, sizeof(*l->v), cmp_str);
  return 0;
}

/* Collects the files named by validation errors. */
typedef struct bad_files {
  file_list files;
  source_problem_fn report;
  void *ctx;
} bad_files;

static void on_problem(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  bad_files *b = ctx;
  if (!is_error)
    return;
  if (b->report)
    b->report(b->ctx, pos && pos->file ? pos->file : "-", pos ? pos->line : 0, msg);
  if (pos == NULL || pos->file == NULL)
    return;
  for (size_t i = 0; i < b->files.n; i++)
    if (strcmp(b->files.v[i], pos->file) == 0)
      return;
  if (b->files.n == b->files.cap) {
    size_t cap = b->files.cap ? b->files.cap * 2 : 8;
    char **v = realloc(b->files.v, cap * sizeof(*v));
    if (v == NULL)
      return;
    b->files.v = v;
    b->files.cap = cap;
  }
  char *f = os_strdup(pos->file);
  if (f != NULL)
    b->files.v[b->files.n++] = f;
}

static bool in_list(const file_list *l, const char *s) {
  for (size_t i = 0; s != NULL && i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return true;
  return false;
}

int source_dir_load(spec_tree **out, bool *incomplete, const char *dir, source_problem_fn report,
                    void *ctx, os_error *err) {
  *out = NULL;
  *incomplete = false;
  /* the common case: every file is good, and the strict loader is fast */
  os_error strict = OS_ERROR_INIT;
  if (spec_tree_load(out, dir, &strict) == 0)
    return 0;
  file_list files;
  int rc = list_files(&files, dir, err);
  if (rc < 0)
    return rc;
  spec_tree *t = spec_tree_new(dir);
  if (t == NULL) {
    file_list_free(&files);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < files.n; i++) {
    char *path = os_path_join(dir, files.v[i]);
    char *data = NULL;
    size_t len = 0;
    os_error ferr = OS_ERROR_INIT;
    int frc = path ? os_read_file(&data, &len, path, SPEC_FILE_MAX, &ferr) : OS_ENOMEM;
    free(path);
    spec_tree *scratch = NULL;
    if (frc == 0) {
      scratch = spec_tree_new(dir);
      if (scratch == NULL)
        frc = os_error_set(&ferr, OS_ENOMEM, "out of memory");
      else
        frc = spec_tree_parse(scratch, files.v[i], data, len, &ferr);
    }
    free(data);
    if (frc == 0 && scratch->org != NULL && t->org != NULL)
      frc = os_error_set(&ferr, OS_EINVAL, "%s: a second Organization document", files.v[i]);
    if (frc < 0) {
      *incomplete = true;
      if (report)
        report(ctx, files.v[i], 0, ferr.msg);
      spec_tree_free(scratch);
      continue;
    }
    if (scratch->n_secrets > 0) {
      size_t want;
      if (!os_size_add(&want, t->n_secrets, scratch->n_secrets)) {
        spec_tree_free(scratch);
        rc = os_error_set(err, OS_ENOMEM, "too many secrets");
        goto fail;
      }
      spec_secret **v = realloc(t->secrets, want * sizeof(*v));
      if (v == NULL) {
        spec_tree_free(scratch);
        rc = os_error_set(err, OS_ENOMEM, "out of memory");
        goto fail;
      }
      t->secrets = v;
      memcpy(t->secrets + t->n_secrets, scratch->secrets, scratch->n_secrets * sizeof(*v));
      t->n_secrets = want;
      free(scratch->secrets);
      scratch->secrets = NULL;
      scratch->n_secrets = 0;
    }
    if (scratch->org != NULL) {
      t->org = scratch->org;
      scratch->org = NULL;
    }
    spec_tree_free(scratch);
  }
  if (t->org == NULL) {
    rc = os_error_set(err, OS_ENOTFOUND, "no usable Organization below %s", dir);
    goto fail;
  }
  bad_files bad = {{0}, report, ctx};
  os_error verr = OS_ERROR_INIT;
  if (spec_tree_validate(t, on_problem, &bad, &verr) < 0) {
    *incomplete = true;
    if (in_list(&bad.files, t->org->pos.file)) {
      file_list_free(&bad.files);
      rc = os_error_set(err, OS_EINVAL, "the Organization is invalid: %s", verr.msg);
      goto fail;
    }
    size_t w = 0;
    for (size_t i = 0; i < t->n_secrets; i++) {
      if (in_list(&bad.files, t->secrets[i]->pos.file))
        spec_secret_free(t->secrets[i]);
      else
        t->secrets[w++] = t->secrets[i];
    }
    t->n_secrets = w;
  }
  file_list_free(&bad.files);
  file_list_free(&files);
  *out = t;
  return 0;
fail:
  spec_tree_free(t);
  file_list_free(&files);
  return rc;
}

int source_dir_stamp(uint64_t *out, const char *dir, os_error *err) {
  file_list files;
  int rc = list_files(&files, dir, err);
  if (rc < 0)
    return rc;
  uint64_t h = 1469598103934665603ULL; /* FNV-1a: change detection, not security */
  for (size_t i = 0; i < files.n; i++) {
    char *path = os_path_join(dir, files.v[i]);
    struct stat st;
    uint64_t parts[4] = {0};
    if (path != NULL && stat(path, &st) == 0) {
      parts[0] = (uint64_t)st.st_size;
      parts[1] = (uint64_t)st.st_mtim.tv_sec;
      parts[2] = (uint64_t)st.st_mtim.tv_nsec;
      parts[3] = (uint64_t)st.st_ino;
    }
    free(path);
    const unsigned char *p = (const unsigned char *)files.v[i];
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
  *out = w;
  return 0;
}

/* Reports a change only when the stamp moved, so editor temp files and
 * directory churn do not trigger needless passes. */
static int stamp_changed(source_watch *w) {
  uint64_t now = 0;
  os_error ignored = OS_ERROR_INIT;
  if (source_dir_stamp(&now, w->dir, &ignored) < 0)
    return 0;
  if (now == w->stamp)
    return 0;
  w->stamp = now;
  return 1;
}

int source_watch_wait(source_watch *w, int timeout_ms) {
  if (w->fd < 0) {
    usleep((useconds_t)timeout_ms * 1000);
    return stamp_changed(w);
  }
  struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
  int n = poll(&pfd, 1, timeout_ms);
  if (n <= 0)
    return stamp_changed(w);
  char buf[16384];
  bool new_dir = false;
  for (;;) {
    ssize_t r = read(w->fd, buf, sizeof(buf));
    if (r <= 0)
      break;
    for (char *p = buf; p < buf + r;) {
      struct inotify_event *ev = (struct inotify_event *)(void *)p;
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
        new_dir = true;
      p += sizeof(*ev) + ev->len;
    }
  }
  if (new_dir)
    add_watches(w->fd, w->dir, 0);
  /* let a burst of writes (a git checkout) settle before reading */
  usleep(20000);
  return stamp_changed(w);
}

void source_watch_free(source_watch *w) {
  if (w == NULL)
    return;
  if (w->fd >= 0)
    close(w->fd);
  free(w->dir);
  free(w);
}
