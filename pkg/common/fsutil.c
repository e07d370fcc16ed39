#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"

int os_read_file(char **out, size_t *out_len, const char *path, size_t max, os_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "open %s: %s", path,
                        strerror(errno));
  int rc = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = os_error_set(err, OS_EIO, "stat %s: %s", path, strerror(errno));
    goto done;
  }
  if (st.st_size < 0 || (size_t)st.st_size > max) {
    rc = os_error_set(err, OS_ENOMEM, "%s: file larger than %zu bytes", path, max);
    goto done;
  }
  os_buf b;
  os_buf_init(&b, max, false);
  char chunk[16384];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = os_error_set(err, OS_EIO, "read %s: %s", path, strerror(errno));
      break;
    }
    if (n == 0)
      break;
    if (os_buf_append(&b, chunk, (size_t)n) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "%s: file larger than %zu bytes", path, max);
      break;
    }
  }
  if (rc == 0)
    rc = os_buf_detach(out, out_len, &b);
  os_buf_free(&b);
done:
  close(fd);
  return rc;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int os_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         os_error *err) {
  char tmp[PATH_MAX];
  int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return os_error_set(err, OS_EINVAL, "%s: path too long", path);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return os_error_set(err, OS_EIO, "create temporary file for %s: %s", path, strerror(errno));
  int rc = 0;
  if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    rc = os_error_set(err, OS_EIO, "write %s: %s", path, strerror(errno));
    close(fd);
    unlink(tmp);
    return rc;
  }
  if (close(fd) != 0) {
    rc = os_error_set(err, OS_EIO, "close %s: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
  }
  if (rename(tmp, path) != 0) {
    rc = os_error_set(err, OS_EIO, "rename into %s: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
  }
  char dir[PATH_MAX];
  n = snprintf(dir, sizeof(dir), "%s", path);
  if (n >= 0 && (size_t)n < sizeof(dir)) {
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
      snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
      dir[1] = '\0';
    else
      *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  return 0;
}

int os_write_file_if_changed(const char *path, const void *data, size_t len, mode_t mode,
                             bool *changed, os_error *err) {
  if (changed != NULL)
    *changed = false;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
      (st.st_mode & 07777) == mode) {
    char *old = NULL;
    size_t old_len = 0;
    os_error ignored = OS_ERROR_INIT;
    if (os_read_file(&old, &old_len, path, len, &ignored) == 0) {
      bool same = old_len == len && (len == 0 || memcmp(old, data, len) == 0);
      os_free_secret(old, old_len);
      if (same)
        return 0;
    }
  }
  int rc = os_write_file_atomic(path, data, len, mode, err);
  if (rc == 0 && changed != NULL)
    *changed = true;
  return rc;
}

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
