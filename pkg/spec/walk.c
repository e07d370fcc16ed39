/* The walk of an organization folder: the one rule for which entries are
 * read (spec.h, "The organization folder"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "spec/spec.h"

#define NAMES_MAX 1000000 /* entries in one directory */

int spec_path_cmp(const char *a, const char *b) {
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

static bool spec_file_name(const char *name) {
  size_t n = strlen(name);
  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
         (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

bool spec_walk_name_wanted(const char *name, bool is_dir, bool all_files) {
  if (name[0] == '.' || name[0] == '\0')
    return false;
  if (is_dir)
    return strcmp(name, "node_modules") != 0;
  return all_files || spec_file_name(name);
}

typedef struct walker {
  unsigned flags;
  spec_walk_fn fn;
  void *ctx;
  os_error *err;
  char rel[PATH_MAX];
} walker;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dfd that the rule may want, sorted; *names (one block: the
 * pointers, then the strings, each after its d_type byte: names[i][-1]) is
 * freed by the caller. */
static int list_names(char ***names, size_t *n, int dfd, const char *rel, os_error *err) {
  *names = NULL;
  *n = 0;
  int dup_fd = dup(dfd);
  DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if (d == NULL) {
    int e = errno;
    if (dup_fd >= 0)
      close(dup_fd);
    return os_error_set(err, OS_EIO, "read directory %s: %s", rel[0] ? rel : ".", strerror(e));
  }
  os_buf blob;
  os_buf_init(&blob, (size_t)1 << 30, false);
  size_t count = 0;
  int rc = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue; /* hidden, and "." / ".." */
    unsigned char type = de->d_type;
    if (count == NAMES_MAX || os_buf_append(&blob, &type, 1) < 0 ||
        os_buf_append(&blob, de->d_name, strlen(de->d_name) + 1) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "%s: too many entries", rel[0] ? rel : ".");
      break;
    }
    count++;
  }
  if (rc == 0 && errno != 0 && de == NULL)
    rc = os_error_set(err, OS_EIO, "read directory %s: %s", rel[0] ? rel : ".", strerror(errno));
  closedir(d);
  size_t bytes;
  char **v = NULL;
  if (rc == 0 && (!os_size_mul(&bytes, count, sizeof(char *)) ||
                  !os_size_add(&bytes, bytes, blob.len + 1) || (v = malloc(bytes)) == NULL))
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  if (rc == 0) {
    char *s = (char *)(v + count);
    memcpy(s, blob.data ? blob.data : "", blob.len + 1);
    for (size_t i = 0; i < count; i++) {
      v[i] = s + 1;
      s += strlen(s + 1) + 2;
    }
    if (count > 1)
      qsort(v, count, sizeof(*v), cmp_str);
    *names = v;
    *n = count;
  }
  os_buf_free(&blob);
  return rc;
}

static int call(walker *w, enum spec_walk_kind kind, const char *name, int dirfd,
                const struct stat *st) {
  spec_walk_entry e = {kind, w->rel, name, dirfd, st};
  return w->fn(w->ctx, &e, w->err);
}

/* Walks the directory dfd, whose path below the folder is w->rel (of
 * rel_len bytes), at depth levels below it. */
static int walk_dir(walker *w, int dfd, size_t rel_len, int depth) {
  char **names = NULL;
  size_t n = 0;
  int rc = list_names(&names, &n, dfd, w->rel, w->err);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const char *name = names[i];
    unsigned char type = (unsigned char)name[-1];
    struct stat st, *stp = &st;
    mode_t mode;
    if ((w->flags & SPEC_WALK_NO_STAT) && (type == DT_REG || type == DT_DIR || type == DT_LNK)) {
      mode = type == DT_REG ? S_IFREG : type == DT_DIR ? S_IFDIR : S_IFLNK;
      stp = NULL;
    } else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      mode = st.st_mode;
    } else {
      continue; /* removed since it was listed */
    }
    bool dir = S_ISDIR(mode), link = S_ISLNK(mode);
    if (!link && !(dir || S_ISREG(mode)))
      continue; /* FIFOs, sockets, devices are never specs */
    if (!link && !spec_walk_name_wanted(name, dir, w->flags & SPEC_WALK_ALL_FILES))
      continue;
    size_t len = strlen(name), at = rel_len + (rel_len > 0);
    if (at + len >= sizeof(w->rel)) {
      rc = os_error_set(w->err, OS_EINVAL, "%s/%s: path too long", w->rel, name);
      break;
    }
    if (rel_len > 0)
      w->rel[rel_len] = '/';
    memcpy(w->rel + at, name, len + 1);
    if (link) {
      if (w->flags & SPEC_WALK_LINKS)
        rc = call(w, SPEC_WALK_LINK, name, dfd, stp);
    } else if (!dir) {
      rc = call(w, SPEC_WALK_FILE, name, dfd, stp);
    } else if (depth + 1 > SPEC_WALK_DEPTH_MAX) {
      rc = os_error_set(w->err, OS_EINVAL, "%s: directories nested deeper than %d levels", w->rel,
                        SPEC_WALK_DEPTH_MAX);
    } else {
      int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 && errno != ENOENT) {
        rc = os_error_set(w->err, OS_EIO, "open directory %s: %s", w->rel, strerror(errno));
      } else if (sub >= 0) {
        if (w->flags & SPEC_WALK_DIRS)
          rc = call(w, SPEC_WALK_DIR, name, dfd, stp);
        if (rc == 0)
          rc = walk_dir(w, sub, at + len, depth + 1);
        close(sub);
      }
    }
    w->rel[rel_len] = '\0';
  }
  free(names);
  return rc;
}

int spec_walk(const char *dir, unsigned flags, spec_walk_fn fn, void *ctx, os_error *err) {
  walker *w = malloc(sizeof(*w));
  if (w == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  w->flags = flags;
  w->fn = fn;
  w->ctx = ctx;
  w->err = err;
  w->rel[0] = '\0';
  int rc = 0;
  int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    rc = os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open directory %s: %s", dir,
                      strerror(errno));
  } else {
    struct stat st;
    if (fstat(root, &st) != 0)
      rc = os_error_set(err, OS_EIO, "stat %s: %s", dir, strerror(errno));
    if (rc == 0 && (flags & SPEC_WALK_DIRS))
      rc = call(w, SPEC_WALK_DIR, ".", root, (flags & SPEC_WALK_NO_STAT) ? NULL : &st);
    if (rc == 0)
      rc = walk_dir(w, root, 0, 0);
    close(root);
  }
  free(w);
  return rc;
}
