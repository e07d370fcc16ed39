#define _GNU_SOURCE /* O_TMPFILE, O_PATH */
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/buf.h"

#define TEMP_PREFIX ".orgsecrets-tmp-"
#define TEMP_PREFIX_LEN (sizeof(TEMP_PREFIX) - 1)
#define TEMP_RAND_HEX 12
#define SWEEP_DEPTH_MAX 32

static void (*test_hook)(const char *step);
static bool test_no_tmpfile;

void os_fs_test_hook(void (*fn)(const char *step), bool no_tmpfile) {
  test_hook = fn;
  test_no_tmpfile = no_tmpfile;
}

static void hook(const char *step) {
  if (test_hook != NULL)
    test_hook(step);
}

static int read_fd(char **out, size_t *out_len, int fd, const char *path, size_t max,
                   os_error *err) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return os_error_set(err, OS_EIO, "stat %s: %s", path, strerror(errno));
  if (st.st_size < 0 || (size_t)st.st_size > max)
    return os_error_set(err, OS_ENOMEM, "%s: file larger than %zu bytes", path, max);
  os_buf b;
  os_buf_init(&b, max, false);
  int rc = os_buf_read_fd(&b, fd);
  if (rc == OS_EIO)
    rc = os_error_set(err, OS_EIO, "read %s: %s", path, strerror(errno));
  else if (rc < 0)
    rc = os_error_set(err, OS_ENOMEM, "%s: file larger than %zu bytes", path, max);
  if (rc == 0)
    rc = os_buf_detach(out, out_len, &b);
  os_buf_free(&b);
  return rc;
}

int os_read_file(char **out, size_t *out_len, const char *path, size_t max, os_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open %s: %s", path,
                        strerror(errno));
  int rc = read_fd(out, out_len, fd, path, max, err);
  close(fd);
  return rc;
}

int os_write_all(int fd, const void *p, size_t n, size_t *written) {
  const char *c = p;
  size_t done = 0;
  int rc = 0;
  while (done < n) {
    ssize_t w = write(fd, c + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = EIO;
      rc = -1;
      break;
    }
    done += (size_t)w;
  }
  if (written != NULL)
    *written = done;
  return rc;
}

/* ---- outputs ---- */

static void output_init(os_output *o, const char *path, mode_t mode, unsigned flags) {
  memset(o, 0, sizeof(*o));
  o->fd = -1;
  o->dirfd = -1;
  o->mode = mode;
  o->flags = flags;
  snprintf(o->path, sizeof(o->path), "%s", path);
}

static void close_fds(os_output *o) {
  if (o->fd >= 0 && o->fd != STDOUT_FILENO)
    close(o->fd);
  if (o->dirfd >= 0)
    close(o->dirfd);
  o->fd = -1;
  o->dirfd = -1;
}

static int random_temp_name(char out[32]) {
  unsigned char r[TEMP_RAND_HEX / 2];
  size_t got = 0;
  while (got < sizeof(r)) {
    ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    got += (size_t)n;
  }
  memcpy(out, TEMP_PREFIX, TEMP_PREFIX_LEN);
  os_hex_encode(out + TEMP_PREFIX_LEN, r, sizeof(r));
  return 0;
}

/* True when fd is what name in dirfd refers to now. */
static bool is_named(int dirfd, const char *name, int fd) {
  struct stat a, b;
  return fstatat(dirfd, name, &a, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A new, locked temporary file with a random name in o->dirfd. */
static int create_named_temp(os_output *o, os_error *err) {
  for (int tries = 0; tries < 64; tries++) {
    if (random_temp_name(o->tmp) < 0)
      return os_error_set(err, OS_EIO, "%s: no random temporary name: %s", o->path,
                          strerror(errno));
    int fd = openat(o->dirfd, o->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0) {
      o->tmp[0] = '\0';
      return os_error_set(err, OS_EIO, "create a temporary file for %s: %s", o->path,
                          strerror(errno));
    }
    /* a sweep that locked it before us has unlinked it: take another name */
    if (flock(fd, LOCK_EX) != 0 || !is_named(o->dirfd, o->tmp, fd)) {
      close(fd);
      continue;
    }
    o->fd = fd;
    return 0;
  }
  o->tmp[0] = '\0';
  return os_error_set(err, OS_EIO, "create a temporary file for %s: too many collisions", o->path);
}

static bool proc_fd_links(void) { return access("/proc/self/fd", X_OK) == 0; }

static int create_temp(os_output *o, os_error *err) {
  if (!test_no_tmpfile && proc_fd_links()) {
    int fd = openat(o->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
      o->fd = fd;
      o->unnamed = true;
    }
  }
  int rc = o->fd >= 0 ? 0 : create_named_temp(o, err);
  if (rc == 0 && fchmod(o->fd, o->mode) != 0)
    rc = os_error_set(err, OS_EIO, "chmod %s: %s", o->path, strerror(errno));
  if (rc == 0)
    hook("temp-created");
  return rc;
}

/* Splits path into a directory fd and a final name in o. */
static int open_parent(os_output *o, const char *path, os_error *err) {
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return os_error_set(err, OS_EINVAL, "%s: not a file name", path);
  if (strlen(name) >= sizeof(o->name))
    return os_error_set(err, OS_EINVAL, "%s: file name too long", path);
  snprintf(o->name, sizeof(o->name), "%s", name);
  char dir[PATH_MAX];
  if (slash == NULL)
    snprintf(dir, sizeof(dir), ".");
  else if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  else if ((size_t)(slash - path) < sizeof(dir))
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
  else
    return os_error_set(err, OS_EINVAL, "%s: path too long", path);
  o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (o->dirfd < 0)
    return os_error_set(err, OS_EIO, "write %s: directory %s: %s", path, dir, strerror(errno));
  return 0;
}

/* Opens a FIFO or character device at path for writing in place; seen is
 * what the caller looked at, so that a swap in between is noticed. */
static int open_in_place(os_output *o, const char *path, const struct stat *seen, int oflags,
                         os_error *err) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | oflags);
  if (fd < 0)
    return os_error_set(err, OS_EIO, "open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != seen->st_dev || st.st_ino != seen->st_ino) {
    close(fd);
    return os_error_set(err, OS_EIO, "open %s: it changed while being opened", path);
  }
  o->fd = fd;
  o->in_place = true;
  return 0;
}

static const char *kind_of(mode_t m) {
  return S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" : S_ISBLK(m) ? "a block device"
                                                                            : "not a regular file";
}

/* A symbolic link: follow it through the kernel and look at what it opens. */
static int open_via_link(os_output *o, const char *path, os_error *err) {
  int pfd = open(path, O_PATH | O_CLOEXEC);
  if (pfd < 0)
    return os_error_set(err, errno == ENOENT ? OS_EINVAL : OS_EIO,
                        "%s: a symbolic link %s; refusing to write through it", path,
                        errno == ENOENT ? "to a missing file" : strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(pfd, &st) != 0) {
    rc = os_error_set(err, OS_EIO, "stat %s: %s", path, strerror(errno));
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    rc = open_in_place(o, path, &st, 0, err);
  } else if (!S_ISREG(st.st_mode)) {
    rc = os_error_set(err, OS_EINVAL, "%s: a symbolic link to %s; refusing to write through it",
                      path, kind_of(st.st_mode));
  } else {
    /* replace the file the link names, in its own directory */
    char real[PATH_MAX];
    struct stat now;
    if (realpath(path, real) == NULL || lstat(real, &now) != 0 || now.st_dev != st.st_dev ||
        now.st_ino != st.st_ino)
      rc = os_error_set(err, OS_EIO, "%s: cannot resolve the symbolic link", path);
    else if ((rc = open_parent(o, real, err)) == 0)
      rc = create_temp(o, err);
  }
  close(pfd);
  return rc;
}

int os_output_open(os_output *o, const char *path, mode_t mode, unsigned flags, os_error *err) {
  output_init(o, path, mode, flags);
  if ((flags & OS_OUTPUT_STDOUT) && (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0)) {
    o->fd = STDOUT_FILENO;
    o->in_place = true;
    return 0;
  }
  struct stat st;
  int rc = 0;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT)
      return os_error_set(err, OS_EIO, "stat %s: %s", path, strerror(errno));
    if ((rc = open_parent(o, path, err)) == 0)
      rc = create_temp(o, err);
  } else if (flags & OS_OUTPUT_EXCL) {
    return os_error_set(err, OS_ECONFLICT, "%s already exists", path);
  } else if (S_ISREG(st.st_mode)) {
    if ((rc = open_parent(o, path, err)) == 0)
      rc = create_temp(o, err);
  } else if (S_ISLNK(st.st_mode)) {
    rc = open_via_link(o, path, err);
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    rc = open_in_place(o, path, &st, O_NOFOLLOW, err);
  } else {
    return os_error_set(err, OS_EINVAL, "%s is %s; refusing to write to it", path,
                        kind_of(st.st_mode));
  }
  if (rc < 0)
    os_output_abort(o);
  return rc;
}

/* rel split into its parts: not absolute, no empty, "." or ".." part. */
static bool rel_ok(const char *rel) {
  if (rel == NULL || rel[0] == '\0' || rel[0] == '/')
    return false;
  for (const char *s = rel; *s != '\0';) {
    size_t n = strcspn(s, "/");
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      return false;
    s += n;
    if (*s == '/' && *++s == '\0')
      return false;
  }
  return true;
}

/* Opens the directory of rel below root without following links (creating
 * missing ones when create); *dirfd (never root itself) and name (the last
 * part) on success. */
static int parent_below(int *dirfd, char name[NAME_MAX + 1], int root, const char *rel,
                        bool create, os_error *err) {
  *dirfd = -1;
  if (!rel_ok(rel))
    return os_error_set(err, OS_EINVAL, "%s: must be a relative path without \".\" or \"..\"",
                        rel);
  int cur = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return os_error_set(err, OS_EIO, "%s: open the folder: %s", rel, strerror(errno));
  const char *s = rel;
  for (;;) {
    size_t n = strcspn(s, "/");
    if (n > NAME_MAX) {
      close(cur);
      return os_error_set(err, OS_EINVAL, "%s: file name too long", rel);
    }
    memcpy(name, s, n);
    name[n] = '\0';
    if (s[n] == '\0')
      break;
    int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(cur, name, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        close(cur);
        return os_error_set(err, OS_EIO, "%s: mkdir %.*s: %s", rel, (int)(s - rel + (ptrdiff_t)n),
                            rel, strerror(e));
      }
      next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      int e = errno;
      close(cur);
      if (e == ENOENT)
        return os_error_set(err, OS_ENOTFOUND, "%s: no such directory %.*s", rel,
                            (int)(s - rel + (ptrdiff_t)n), rel);
      return os_error_set(err, OS_EINVAL, "%s: %.*s is %s", rel, (int)(s - rel + (ptrdiff_t)n),
                          rel,
                          e == ELOOP || e == ENOTDIR
                              ? "a symbolic link or not a directory; never followed below the "
                                "folder"
                              : strerror(e));
    }
    close(cur);
    cur = next;
    s += n + 1;
  }
  *dirfd = cur;
  return 0;
}

/* parent_below() from the folder's path. */
static int open_parent_below(int *dirfd, char name[NAME_MAX + 1], const char *dir, const char *rel,
                             bool create, os_error *err) {
  *dirfd = -1;
  int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open %s: %s", dir,
                        strerror(errno));
  int rc = parent_below(dirfd, name, root, rel, create, err);
  close(root);
  return rc;
}

/* openat2(2) with RESOLVE_NO_SYMLINKS: the kernel refuses a link anywhere on
 * the path in one call; -1 with errno ENOSYS where the kernel (or a seccomp
 * profile) does not offer it, remembered. */
static int openat_no_links(int dirfd, const char *rel, int flags) {
#ifdef SYS_openat2
  static atomic_bool unavailable;
  if (!atomic_load(&unavailable) && !test_no_tmpfile) {
    struct open_how how = {.flags = (uint64_t)(unsigned)flags,
                           .resolve = (uint64_t)(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)};
    long f = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (f >= 0 || (errno != ENOSYS && errno != EPERM && errno != E2BIG))
      return (int)f;
    atomic_store(&unavailable, true);
  }
#else
  (void)dirfd;
  (void)rel;
  (void)flags;
#endif
  errno = ENOSYS;
  return -1;
}

int os_open_below(int *fd, struct stat *st, int dirfd, const char *rel, os_error *err) {
  *fd = -1;
  if (!rel_ok(rel))
    return os_error_set(err, OS_EINVAL, "%s: must be a relative path without \".\" or \"..\"",
                        rel);
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  int f = openat_no_links(dirfd, rel, flags), e = errno;
  if (f < 0 && e == ENOSYS) {
    /* one directory at a time, none followed */
    int parent = -1;
    char name[NAME_MAX + 1];
    int rc = parent_below(&parent, name, dirfd, rel, false, err);
    if (rc < 0)
      return rc;
    f = openat(parent, name, flags);
    e = errno;
    close(parent);
  } else if (f < 0 && e == EXDEV) {
    e = ELOOP; /* RESOLVE_BENEATH: only a link can lead out */
  }
  if (f < 0)
    return os_error_set(err, e == ENOENT ? OS_ENOTFOUND : e == ELOOP ? OS_EINVAL : OS_EIO,
                        "%s: open: %s", rel,
                        e == ELOOP ? "a symbolic link; never followed below the folder"
                                   : strerror(e));
  struct stat sb;
  if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(f);
    return os_error_set(err, OS_EINVAL, "%s: not a regular file", rel);
  }
  if (st != NULL)
    *st = sb;
  *fd = f;
  return 0;
}

int os_output_open_below(os_output *o, const char *dir, const char *rel, mode_t mode,
                         os_error *err) {
  char full[PATH_MAX];
  snprintf(full, sizeof(full), "%s/%s", dir, rel);
  output_init(o, full, mode, 0);
  int rc = open_parent_below(&o->dirfd, o->name, dir, rel, true, err);
  struct stat st;
  if (rc == 0 && fstatat(o->dirfd, o->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode))
      rc = os_error_set(err, OS_EINVAL, "%s: a symbolic link; refusing to write through it",
                        o->path);
    else if (!S_ISREG(st.st_mode))
      rc = os_error_set(err, OS_EINVAL, "%s is %s; refusing to replace it", o->path,
                        kind_of(st.st_mode));
  } else if (rc == 0 && errno != ENOENT) {
    rc = os_error_set(err, OS_EIO, "stat %s: %s", o->path, strerror(errno));
  }
  if (rc == 0)
    rc = create_temp(o, err);
  if (rc < 0)
    os_output_abort(o);
  return rc;
}

/* Gives the unnamed file o->fd a temporary name (locked: the lock is on the
 * open file, so it covers the name too). */
static int name_unnamed(os_output *o, char proc[64], os_error *err) {
  if (flock(o->fd, LOCK_EX) != 0)
    return os_error_set(err, OS_EIO, "lock %s: %s", o->path, strerror(errno));
  for (int tries = 0; tries < 64; tries++) {
    if (random_temp_name(o->tmp) < 0)
      break;
    if (linkat(AT_FDCWD, proc, o->dirfd, o->tmp, AT_SYMLINK_FOLLOW) == 0)
      return 0;
    if (errno != EEXIST)
      break;
  }
  int e = errno;
  o->tmp[0] = '\0';
  return os_error_set(err, OS_EIO, "name a temporary file for %s: %s", o->path, strerror(e));
}

int os_output_commit(os_output *o, os_error *err) {
  int rc = 0;
  if (o->in_place) {
    if (o->fd != STDOUT_FILENO && close(o->fd) != 0)
      rc = os_error_set(err, OS_EIO, "close %s: %s", o->path, strerror(errno));
    o->fd = -1;
    return rc;
  }
  if (o->fd < 0)
    return os_error_set(err, OS_EIO, "%s: not open", o->path);
  if (fsync(o->fd) != 0) {
    rc = os_error_set(err, OS_EIO, "write %s: %s", o->path, strerror(errno));
    goto fail;
  }
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
  if (o->unnamed && (o->flags & OS_OUTPUT_EXCL)) {
    hook("temp-named");
    if (linkat(AT_FDCWD, proc, o->dirfd, o->name, AT_SYMLINK_FOLLOW) != 0) {
      rc = os_error_set(err, errno == EEXIST ? OS_ECONFLICT : OS_EIO, "create %s: %s", o->path,
                        errno == EEXIST ? "it already exists" : strerror(errno));
      goto fail;
    }
  } else {
    if (o->unnamed && (rc = name_unnamed(o, proc, err)) < 0)
      goto fail;
    hook("temp-named");
    if (o->flags & OS_OUTPUT_EXCL) {
      /* link(2) never replaces: a file created meanwhile wins */
      if (linkat(o->dirfd, o->tmp, o->dirfd, o->name, 0) != 0) {
        rc = os_error_set(err, errno == EEXIST ? OS_ECONFLICT : OS_EIO, "create %s: %s",
                          o->path, errno == EEXIST ? "it already exists" : strerror(errno));
        goto fail;
      }
      (void)unlinkat(o->dirfd, o->tmp, 0);
    } else if (renameat(o->dirfd, o->tmp, o->dirfd, o->name) != 0) {
      rc = os_error_set(err, OS_EIO, "rename into %s: %s", o->path, strerror(errno));
      goto fail;
    }
    o->tmp[0] = '\0';
  }
  (void)fsync(o->dirfd);
  if (close(o->fd) != 0) {
    o->fd = -1;
    rc = os_error_set(err, OS_EIO, "close %s: %s", o->path, strerror(errno));
  }
  o->fd = -1;
  close_fds(o);
  return rc;
fail:
  os_output_abort(o);
  return rc;
}

void os_output_abort(os_output *o) {
  if (o->tmp[0] != '\0' && o->dirfd >= 0)
    (void)unlinkat(o->dirfd, o->tmp, 0);
  o->tmp[0] = '\0';
  close_fds(o);
}

static int write_output(os_output *o, const void *data, size_t len, os_error *err) {
  if (os_write_all(o->fd, data, len, NULL) != 0) {
    int rc = os_error_set(err, OS_EIO, "write %s: %s", o->path, strerror(errno));
    os_output_abort(o);
    return rc;
  }
  return os_output_commit(o, err);
}

int os_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         os_error *err) {
  os_output o;
  int rc = os_output_open(&o, path, mode, 0, err);
  return rc < 0 ? rc : write_output(&o, data, len, err);
}

int os_write_file_new(const char *path, const void *data, size_t len, mode_t mode,
                      os_error *err) {
  os_output o;
  int rc = os_output_open(&o, path, mode, OS_OUTPUT_EXCL, err);
  return rc < 0 ? rc : write_output(&o, data, len, err);
}

/* True when the regular file open at fd holds exactly data, with mode. */
static bool same_content(int fd, const char *path, const void *data, size_t len, mode_t mode) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len ||
      (st.st_mode & 07777) != mode)
    return false;
  char *old = NULL;
  size_t old_len = 0;
  os_error ignored = OS_ERROR_INIT;
  if (read_fd(&old, &old_len, fd, path, len, &ignored) < 0)
    return false;
  /* constant time: env files hold values */
  bool same = old_len == len && (len == 0 || os_secure_equal(old, data, len));
  os_free_secret(old, old_len);
  return same;
}

int os_write_file_if_changed(const char *path, const void *data, size_t len, mode_t mode,
                             bool *changed, os_error *err) {
  if (changed != NULL)
    *changed = false;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    bool same = fd >= 0 && same_content(fd, path, data, len, mode);
    if (fd >= 0)
      close(fd);
    if (same)
      return 0;
  }
  int rc = os_write_file_atomic(path, data, len, mode, err);
  if (rc == 0 && changed != NULL)
    *changed = true;
  return rc;
}

int os_write_file_below(const char *dir, const char *rel, const void *data, size_t len,
                        mode_t mode, bool *changed, os_error *err) {
  if (changed != NULL)
    *changed = false;
  int dirfd = -1;
  char name[NAME_MAX + 1];
  if (open_parent_below(&dirfd, name, dir, rel, false, NULL) == 0) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool same = fd >= 0 && same_content(fd, rel, data, len, mode);
    if (fd >= 0)
      close(fd);
    close(dirfd);
    if (same)
      return 0;
  }
  os_output o;
  int rc = os_output_open_below(&o, dir, rel, mode, err);
  if (rc == 0)
    rc = write_output(&o, data, len, err);
  if (rc == 0 && changed != NULL)
    *changed = true;
  return rc;
}

int os_read_file_below(char **out, size_t *out_len, const char *dir, const char *rel, size_t max,
                       os_error *err) {
  *out = NULL;
  int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open %s: %s", dir,
                        strerror(errno));
  int fd = -1;
  int rc = os_open_below(&fd, NULL, root, rel, err);
  close(root);
  if (rc < 0)
    return os_error_prefix(err, "%s", dir);
  rc = read_fd(out, out_len, fd, rel, max, err);
  close(fd);
  return rc;
}

/* ---- stale temporary files ---- */

static bool is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[n] == '\0';
}

bool os_is_temp_name(const char *name) {
  return strncmp(name, TEMP_PREFIX, TEMP_PREFIX_LEN) == 0 &&
         is_hex(name + TEMP_PREFIX_LEN, TEMP_RAND_HEX);
}

/* "NAME.tmp.XXXXXX" (mkstemp's six letters or digits) with NAME ending in
 * suffix ("" any). */
static bool is_legacy_temp(const char *name, const char *suffix) {
  size_t n = strlen(name), sl = strlen(suffix);
  if (n < 12 || strncmp(name + n - 11, ".tmp.", 5) != 0 || n - 11 < sl ||
      strncmp(name + n - 11 - sl, suffix, sl) != 0)
    return false;
  for (size_t i = n - 6; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

typedef struct sweep {
  const os_temps_opts *o;
  size_t n;
} sweep;

/* A temporary file nobody holds locked: its writer is gone. *mine: owned
 * by this process's user. */
static bool stale_at(int dirfd, const char *name, int *fd_out, bool *mine) {
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) != 0 ||
      !is_named(dirfd, name, fd)) {
    close(fd);
    return false;
  }
  *fd_out = fd;
  *mine = st.st_uid == geteuid();
  return true;
}

static void sweep_dir(sweep *sw, int dirfd, const char *path, int depth) {
  int dup_fd = dup(dirfd);
  DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if (d == NULL) {
    if (dup_fd >= 0)
      close(dup_fd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
      continue;
    const os_temps_opts *o = sw->o;
    if (os_is_temp_name(nm) || (o->legacy != NULL && is_legacy_temp(nm, o->legacy))) {
      int fd = -1;
      bool mine = false;
      if (!stale_at(dirfd, nm, &fd, &mine))
        continue;
      char *p = os_path_join(path, nm);
      if (!o->remove || (mine && unlinkat(dirfd, nm, 0) == 0)) {
        sw->n++;
        if (o->fn != NULL && p != NULL)
          o->fn(o->ctx, p);
      }
      free(p);
      close(fd); /* after the unlink: a writer that locks it then sees it gone */
      continue;
    }
    if (!o->recursive || depth >= SWEEP_DEPTH_MAX || strcmp(nm, ".git") == 0)
      continue;
    int sub = openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
      continue;
    char *p = os_path_join(path, nm);
    if (p != NULL)
      sweep_dir(sw, sub, p, depth + 1);
    free(p);
    close(sub);
  }
  closedir(d);
}

int os_temps_sweep(const char *dir, const os_temps_opts *o, size_t *n, os_error *err) {
  if (n != NULL)
    *n = 0;
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    if (errno == ENOENT)
      return 0;
    return os_error_set(err, OS_EIO, "open %s: %s", dir, strerror(errno));
  }
  sweep sw = {o, 0};
  sweep_dir(&sw, dirfd, dir, 0);
  close(dirfd);
  if (n != NULL)
    *n = sw.n;
  return 0;
}

/* ---- directories, paths, programs ---- */

int os_mkdir_p(const char *path, mode_t mode, os_error *err) {
  char p[PATH_MAX];
  int n = snprintf(p, sizeof(p), "%s", path);
  if (n < 0 || (size_t)n >= sizeof(p))
    return os_error_set(err, OS_EINVAL, "%s: path too long", path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, mode) != 0 && errno != EEXIST)
      return os_error_set(err, OS_EIO, "mkdir %s: %s", p, strerror(errno));
    *s = '/';
  }
  if (mkdir(p, mode) != 0 && errno != EEXIST)
    return os_error_set(err, OS_EIO, "mkdir %s: %s", p, strerror(errno));
  return 0;
}

char *os_path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  bool slash = la > 0 && a[la - 1] != '/';
  char *p = malloc(la + lb + 2);
  if (p == NULL)
    return NULL;
  memcpy(p, a, la);
  if (slash)
    p[la++] = '/';
  memcpy(p + la, b, lb + 1);
  return p;
}

char *os_find_program(const char *name, const char *path_list) {
  if (strchr(name, '/') != NULL) {
    char *p = os_strdup(name);
    if (p == NULL)
      errno = ENOMEM;
    return p;
  }
  if (path_list == NULL)
    path_list = "/usr/local/bin:/usr/bin:/bin";
  bool denied = false;
  for (const char *s = path_list;;) {
    size_t n = strcspn(s, ":");
    char dir[PATH_MAX];
    if (n < sizeof(dir)) {
      snprintf(dir, sizeof(dir), "%.*s", (int)n, n > 0 ? s : ".");
      char *full = os_path_join(dir, name);
      if (full == NULL) {
        errno = ENOMEM;
        return NULL;
      }
      struct stat st;
      if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
        if (access(full, X_OK) == 0)
          return full;
        denied = true;
      }
      free(full);
    }
    if (s[n] == '\0')
      break;
    s += n + 1;
  }
  errno = denied ? EACCES : ENOENT;
  return NULL;
}
