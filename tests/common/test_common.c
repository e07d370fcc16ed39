#define _GNU_SOURCE /* makedev */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "scratch.h"

static void test_buf_limit(void **state) {
  (void)state;
  os_buf b;
  os_buf_init(&b, 8, true);
  assert_int_equal(os_buf_append(&b, "12345678", 8), 0);
  assert_int_equal(os_buf_append(&b, "9", 1), OS_ENOMEM);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  os_buf_free(&b);
  os_buf_init(&b, 100, false);
  assert_int_equal(os_buf_printf(&b, "%s-%d", "a", 42), 0);
  assert_string_equal(b.data, "a-42");
  char *s;
  size_t n;
  assert_int_equal(os_buf_detach(&s, &n, &b), 0);
  assert_int_equal(n, 4);
  free(s);
  /* reserve: one exact allocation, no doubling, still bounded by max */
  os_buf_init(&b, 100000, false);
  assert_int_equal(os_buf_append(&b, "ab", 2), 0);
  assert_int_equal(os_buf_reserve(&b, 998), 0);
  assert_int_equal(b.cap, 1001);
  assert_int_equal(os_buf_reserve(&b, 99999), OS_ENOMEM);
  assert_string_equal(b.data, "ab");
  os_buf_free(&b);
}

static void test_hex_fnv_pack(void **state) {
  (void)state;
  const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
  char hex[9];
  os_hex_encode(hex, in, sizeof(in));
  assert_string_equal(hex, "000fa5ff");
  /* FNV-1a 64 reference values: "" is the offset basis, "a" and "foobar" */
  assert_true(os_fnv1a64(OS_FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ULL);
  assert_true(os_fnv1a64(OS_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
  assert_true(os_fnv1a64(OS_FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
  /* continuing equals hashing the concatenation */
  assert_true(os_fnv1a64(os_fnv1a64(OS_FNV1A64_INIT, "foo", 3), "bar", 3) ==
              os_fnv1a64(OS_FNV1A64_INIT, "foobar", 6));
  char block[16];
  char *w = block;
  const char *a = os_str_pack(&w, "ab");
  assert_null(os_str_pack(&w, NULL));
  const char *b = os_str_pack(&w, "");
  const char *c = os_str_pack(&w, "xyz");
  assert_string_equal(a, "ab");
  assert_string_equal(b, "");
  assert_string_equal(c, "xyz");
  assert_ptr_equal(b, block + 3);
  assert_ptr_equal(w, block + 8);
}

static void test_error_prefix(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_error_set(&err, OS_EINVAL, "bad %s", "thing"), OS_EINVAL);
  os_error_prefix(&err, "file %s:%d", "x.yaml", 3);
  assert_string_equal(err.msg, "file x.yaml:3: bad thing");
  assert_int_equal(err.code, OS_EINVAL);
}

/* os_write_all: everything on success; on failure errno and how much went out
 * (the audit log tells a torn line from an unwritten one by it). */
static void test_write_all(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  int cap = fcntl(p[1], F_GETPIPE_SZ);
  assert_true(cap > 0);
  size_t n = (size_t)cap + 100;
  char *data = malloc(n);
  assert_non_null(data);
  memset(data, 'x', n);
  size_t written = 1;
  assert_int_equal(os_write_all(p[1], data, 10, &written), 0);
  assert_int_equal(written, 10);
  /* the pipe holds at most cap bytes (filled page by page): a part goes out */
  errno = 0;
  assert_int_equal(os_write_all(p[1], data, n, &written), -1);
  assert_int_equal(errno, EAGAIN);
  assert_true(written > 0 && written <= (size_t)cap - 10);
  close(p[0]);
  close(p[1]);
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full >= 0) {
    assert_int_equal(os_write_all(full, data, 5, &written), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(written, 0);
    close(full);
  }
  assert_int_equal(os_write_all(-1, data, 0, NULL), 0); /* nothing to write */
  free(data);
}

/* os_buf_read_fd: all of it up to the buffer's max, and an error past it. */
static void test_buf_read_fd(void **state) {
  (void)state;
  for (size_t max = 50; max <= 200; max += 150) {
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char data[100];
    memset(data, 'v', sizeof(data));
    assert_int_equal(os_write_all(p[1], data, sizeof(data), NULL), 0);
    close(p[1]);
    os_buf b;
    os_buf_init(&b, max, true);
    int rc = os_buf_read_fd(&b, p[0]);
    if (max < sizeof(data)) {
      assert_int_equal(rc, OS_ENOMEM);
      assert_true(b.len <= max);
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(b.len, sizeof(data));
      assert_memory_equal(b.data, data, sizeof(data));
    }
    os_buf_free(&b);
    close(p[0]);
  }
  os_buf b;
  os_buf_init(&b, 10, false);
  assert_int_equal(os_buf_read_fd(&b, -1), OS_EIO);
  assert_int_equal(errno, EBADF);
  os_buf_free(&b);
}

static void test_atomic_write(void **state) {
  (void)state;
  char dir[] = "/tmp/os-common-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = os_path_join(dir, "f.env");
  os_error err = OS_ERROR_INIT;
  bool changed = false;
  assert_int_equal(os_write_file_if_changed(path, "A=1\n", 4, 0600, &changed, &err), 0);
  assert_true(changed);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  ino_t ino = st.st_ino;
  assert_int_equal(os_write_file_if_changed(path, "A=1\n", 4, 0600, &changed, &err), 0);
  assert_false(changed);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_ino, ino);
  assert_int_equal(os_write_file_if_changed(path, "A=2\n", 4, 0600, &changed, &err), 0);
  assert_true(changed);
  char *data;
  size_t len;
  assert_int_equal(os_read_file(&data, &len, path, 1024, &err), 0);
  assert_string_equal(data, "A=2\n");
  free(data);
  assert_int_equal(os_read_file(&data, &len, path, 2, &err), OS_ENOMEM);
  /* a write into a missing directory fails and creates nothing */
  char *bad = os_path_join(dir, "missing/f.env");
  assert_int_equal(os_write_file_atomic(bad, "x", 1, 0600, &err), OS_EIO);
  unlink(path);
  rmdir(dir);
  free(bad);
  free(path);
}

/* ---- outputs: what a write does to each kind of target ---- */

/* Number of entries in dir besides . and .. */
static int entries(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = -1;
  char line[32];
  if (fgets(line, sizeof(line), p) != NULL)
    n = (int)strtol(line, NULL, 10);
  pclose(p);
  return n;
}

/* A private /dev/null (character device 1,3) in dir, so that a regression
 * replaces this node and not the machine's. false when mknod is not allowed. */
static bool null_node(char out[PATH_MAX], const char *dir) {
  scratch_at(out, dir, "null");
  return mknod(out, S_IFCHR | 0666, makedev(1, 3)) == 0 && chmod(out, 0666) == 0;
}

static void test_output_device(void **state) {
  const char *dir = *state;
  os_error err = OS_ERROR_INIT;
  char dev[PATH_MAX];
  if (!null_node(dev, dir))
    skip();
  assert_int_equal(os_write_file_atomic(dev, "SECRET=1\n", 9, 0600, &err), 0);
  struct stat st;
  assert_int_equal(lstat(dev, &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(st.st_rdev, makedev(1, 3));
  assert_int_equal(st.st_mode & 07777, 0666); /* not chmod'ed either */
  /* through a symbolic link, as /dev/stdout is one */
  char link[PATH_MAX];
  scratch_at(link, dir, "to-null");
  assert_int_equal(symlink(dev, link), 0);
  assert_int_equal(os_write_file_atomic(link, "SECRET=1\n", 9, 0600, &err), 0);
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(lstat(dev, &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(entries(dir), 2); /* no temporary file left */
  /* the creating form refuses an existing device */
  assert_int_equal(os_write_file_new(dev, "x", 1, 0600, &err), OS_ECONFLICT);
}

static void test_output_fifo(void **state) {
  const char *dir = *state;
  char fifo[PATH_MAX];
  scratch_fifo(fifo, dir, "pipe");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) { /* reader: copies what comes through the FIFO to the pipe */
    close(fds[0]);
    alarm(10); /* a FIFO replaced by a file would leave it waiting */
    int fd = open(fifo, O_RDONLY);
    char buf[64];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (n > 0 && write(fds[1], buf, (size_t)n) != n)
      _exit(2);
    _exit(n > 0 ? 0 : 1);
  }
  close(fds[1]);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_write_file_atomic(fifo, "A=1\n", 4, 0600, &err), 0);
  char got[64] = {0};
  assert_int_equal(read(fds[0], got, sizeof(got) - 1), 4);
  assert_string_equal(got, "A=1\n");
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[0]);
  scratch_assert_fifo(fifo);
  assert_int_equal(entries(dir), 1);
}

static void test_output_symlinks(void **state) {
  const char *dir = *state;
  os_error err = OS_ERROR_INIT;
  struct stat st;
  /* a link to a regular file: the file is replaced, the link stays */
  char sub[PATH_MAX];
  scratch_mkdir(sub, dir, "real");
  char target[PATH_MAX];
  scratch_at(target, sub, "out.env");
  scratch_put(target, "OLD=1\n");
  char link[PATH_MAX];
  scratch_at(link, dir, "out.env");
  assert_int_equal(symlink("real/out.env", link), 0);
  assert_int_equal(os_write_file_atomic(link, "NEW=1\n", 6, 0600, &err), 0);
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  scratch_assert_content(target, "NEW=1\n");
  assert_int_equal(stat(target, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(entries(sub), 1);
  /* a dangling link: refused, nothing created where it points */
  char dangling[PATH_MAX];
  scratch_at(dangling, dir, "dangling");
  char nowhere[PATH_MAX];
  scratch_at(nowhere, dir, "nowhere");
  assert_int_equal(symlink(nowhere, dangling), 0);
  assert_int_equal(os_write_file_atomic(dangling, "X=1\n", 4, 0600, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "symbolic link to a missing file"));
  assert_int_equal(lstat(nowhere, &st), -1);
  /* a link to a directory, and a directory: refused */
  char todir[PATH_MAX];
  scratch_at(todir, dir, "todir");
  assert_int_equal(symlink(sub, todir), 0);
  assert_int_equal(os_write_file_atomic(todir, "X=1\n", 4, 0600, &err), OS_EINVAL);
  assert_int_equal(os_write_file_atomic(sub, "X=1\n", 4, 0600, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "a directory"));
  assert_int_equal(entries(dir), 4);
  assert_int_equal(entries(sub), 1);
}

static void test_output_new_and_long(void **state) {
  const char *dir = *state;
  os_error err = OS_ERROR_INIT;
  char p[PATH_MAX];
  scratch_at(p, dir, "id");
  assert_int_equal(os_write_file_new(p, "one\n", 4, 0600, &err), 0);
  assert_int_equal(os_write_file_new(p, "two\n", 4, 0600, &err), OS_ECONFLICT);
  scratch_assert_content(p, "one\n");
  char dangling[PATH_MAX];
  scratch_at(dangling, dir, "dangling");
  assert_int_equal(symlink("/nonexistent/x", dangling), 0);
  assert_int_equal(os_write_file_new(dangling, "x", 1, 0600, &err), OS_ECONFLICT);
  /* a 250-byte name (NAME.yaml of a 245-character secret name) */
  char name[251];
  memset(name, 'A', 245);
  memcpy(name + 245, ".yaml", 6);
  char longp[PATH_MAX];
  scratch_at(longp, dir, name);
  for (int no_tmpfile = 0; no_tmpfile < 2; no_tmpfile++) {
    os_fs_test_hook(NULL, no_tmpfile);
    assert_int_equal(os_write_file_atomic(longp, "a: 1\n", 5, 0644, &err), 0);
    assert_int_equal(os_write_file_atomic(longp, "a: 2\n", 5, 0644, &err), 0);
    scratch_assert_content(longp, "a: 2\n");
  }
  os_fs_test_hook(NULL, false);
  assert_int_equal(entries(dir), 3);
}

static void die_at_rename(const char *step) {
  if (strcmp(step, "temp-named") == 0)
    raise(SIGKILL);
}

/* A writer killed with the new content in a named temporary file. */
static void killed_write(const char *path, bool no_tmpfile) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    os_fs_test_hook(die_at_rename, no_tmpfile);
    os_error err = OS_ERROR_INIT;
    (void)os_write_file_atomic(path, "PLAIN=killed\n", 13, 0600, &err);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static int grep_dir(const char *dir, const char *text) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "grep -rqs '%s' '%s'", text, dir);
  return system(cmd) == 0;
}

static void count_found(void *ctx, const char *path) {
  (void)path;
  (*(int *)ctx)++;
}

static void test_killed_writer(void **state) {
  const char *dir = *state;
  char p[PATH_MAX];
  scratch_at(p, dir, "prod.env");
  os_error err = OS_ERROR_INIT;
  for (int no_tmpfile = 0; no_tmpfile < 2; no_tmpfile++) {
    scratch_put(p, "OLD=1\n");
    killed_write(p, no_tmpfile);
    scratch_assert_content(p, "OLD=1\n");                /* the old file survives */
    assert_true(grep_dir(dir, "PLAIN=killed")); /* and the plaintext is left behind */
    assert_int_equal(entries(dir), 2);
    int found = 0;
    size_t n = 0;
    const os_temps_opts report = {.fn = count_found, .ctx = &found};
    assert_int_equal(os_temps_sweep(dir, &report, &n, &err), 0);
    assert_int_equal(found, 1);
    assert_int_equal(entries(dir), 2); /* reporting removes nothing */
    /* the next write removes it (the CLI sweeps before writing) */
    assert_int_equal(os_temps_sweep(dir, &(os_temps_opts){.remove = true}, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(grep_dir(dir, "PLAIN=killed"));
    assert_int_equal(entries(dir), 1);
  }
  os_fs_test_hook(NULL, false);
  /* a temporary file a live writer holds is not stale; an old-style one is */
  char live[PATH_MAX];
  scratch_at(live, dir, ".orgsecrets-tmp-0123456789ab");
  scratch_put(live, "IN=flight\n");
  int fd = open(live, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  char sub[PATH_MAX];
  scratch_mkdir(sub, dir, "secrets");
  char legacy[PATH_MAX];
  scratch_at(legacy, sub, "DB_PASSWORD.yaml.tmp.Ab3xZ9");
  scratch_put(legacy, "x\n");
  /* another user's leftover is found but not removed; other programs' files never */
  char theirs[PATH_MAX], other[PATH_MAX];
  scratch_at(theirs, dir, ".orgsecrets-tmp-cafecafecafe");
  scratch_put(theirs, "x\n");
  scratch_at(other, sub, "notes.txt.tmp.Qq1Ww2");
  scratch_put(other, "x\n");
  bool chowned = chown(theirs, 65534, 65534) == 0;
  size_t n = 0;
  const os_temps_opts here = {.remove = true, .legacy = ".yaml"};
  assert_int_equal(os_temps_sweep(dir, &here, &n, &err), 0);
  assert_int_equal(n, chowned ? 0 : 1); /* not recursive: the legacy one is below */
  const os_temps_opts below = {.recursive = true, .remove = true, .legacy = ".yaml"};
  assert_int_equal(os_temps_sweep(dir, &below, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(access(live, F_OK), 0);
  assert_int_equal(access(legacy, F_OK), -1);
  assert_int_equal(access(other, F_OK), 0);
  if (chowned)
    assert_int_equal(access(theirs, F_OK), 0);
  int found = 0;
  const os_temps_opts report = {.recursive = true, .legacy = "", .fn = count_found, .ctx = &found};
  assert_int_equal(os_temps_sweep(dir, &report, &n, &err), 0);
  assert_int_equal(found, chowned ? 2 : 1); /* theirs and notes.txt's; the locked one is live */
  close(fd);
  assert_int_equal(os_temps_sweep(dir, &below, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(access(live, F_OK), -1);
  assert_true(os_is_temp_name(".orgsecrets-tmp-0123456789ab"));
  assert_false(os_is_temp_name(".orgsecrets-tmp-0123456789"));
  assert_false(os_is_temp_name("DB.yaml.tmp.Ab3xZ9"));
  assert_int_equal(os_temps_sweep("/nonexistent/dir", &below, &n, &err), 0);
}

static void test_below(void **state) {
  const char *dir = *state;
  os_error err = OS_ERROR_INIT;
  bool changed = false;
  assert_int_equal(os_write_file_below(dir, "a/b/prod.env", "A=1\n", 4, 0600, &changed, &err), 0);
  assert_true(changed);
  struct stat st;
  char a[PATH_MAX];
  scratch_at(a, dir, "a");
  assert_int_equal(stat(a, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(os_write_file_below(dir, "a/b/prod.env", "A=1\n", 4, 0600, &changed, &err), 0);
  assert_false(changed);
  char *data = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file_below(&data, &len, dir, "a/b/prod.env", 100, &err), 0);
  assert_string_equal(data, "A=1\n");
  free(data);
  assert_int_equal(os_read_file_below(&data, &len, dir, "a/b/none.env", 100, &err), OS_ENOTFOUND);
  /* names that leave the folder */
  const char *bad[] = {"../x.env", "/etc/x.env", "a/../../x.env", "a/./x.env", "a//x.env", "a/",
                       ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(os_write_file_below(dir, bad[i], "A=1\n", 4, 0600, NULL, &err), OS_EINVAL);
  /* symbolic links below the folder are never followed, in or out */
  char outside[64];
  scratch_dir(outside);
  char victim[PATH_MAX];
  scratch_at(victim, outside, "victim.env");
  scratch_put(victim, "KEEP=1\n");
  char l1[PATH_MAX];
  scratch_at(l1, dir, "link.env");
  assert_int_equal(symlink(victim, l1), 0);
  assert_int_equal(os_write_file_below(dir, "link.env", "A=1\n", 4, 0600, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "symbolic link"));
  assert_int_equal(os_read_file_below(&data, &len, dir, "link.env", 100, &err), OS_EINVAL);
  char l2[PATH_MAX];
  scratch_at(l2, dir, "ldir");
  assert_int_equal(symlink(outside, l2), 0);
  assert_int_equal(os_write_file_below(dir, "ldir/victim.env", "A=1\n", 4, 0600, NULL, &err),
                   OS_EINVAL);
  assert_int_equal(os_write_file_below(dir, "ldir/new.env", "A=1\n", 4, 0600, NULL, &err),
                   OS_EINVAL);
  char inner[PATH_MAX];
  scratch_at(inner, dir, "inner.env");
  assert_int_equal(symlink("a/b/prod.env", inner), 0); /* even one that stays inside */
  assert_int_equal(os_write_file_below(dir, "inner.env", "A=1\n", 4, 0600, NULL, &err), OS_EINVAL);
  scratch_assert_content(victim, "KEEP=1\n");
  assert_int_equal(entries(outside), 1);
  /* a FIFO is not an env file: refused rather than blocking on it */
  char fifo[PATH_MAX];
  scratch_fifo(fifo, dir, "fifo.env");
  assert_int_equal(os_write_file_below(dir, "fifo.env", "A=1\n", 4, 0600, NULL, &err), OS_EINVAL);
  assert_int_equal(os_read_file_below(&data, &len, dir, "fifo.env", 100, &err), OS_EINVAL);
  scratch_assert_fifo(fifo);
  scratch_rm(outside);
}

/* os_open_below: no link anywhere on the path, in or out of the folder,
 * with openat2() and on the way older kernels take. */
static void test_open_below(void **state) {
  const char *dir = *state;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_write_file_below(dir, "a/b/f.env", "A=1\n", 4, 0600, NULL, &err), 0);
  char outside[64], p[PATH_MAX];
  scratch_dir(outside);
  scratch_at(p, outside, "x.env");
  scratch_put(p, "X=1\n");
  scratch_at(p, outside, "x.env");
  char l[PATH_MAX];
  scratch_at(l, dir, "a/out.env");
  assert_int_equal(symlink(p, l), 0);
  scratch_at(l, dir, "a/in.env");
  assert_int_equal(symlink("b/f.env", l), 0);
  scratch_at(l, dir, "ldir");
  assert_int_equal(symlink("a/b", l), 0);
  scratch_at(l, dir, "outdir");
  assert_int_equal(symlink(outside, l), 0);
  char fifo[PATH_MAX];
  scratch_fifo(fifo, dir, "a/pipe.env");
  int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(root >= 0);
  for (int old_kernel = 0; old_kernel < 2; old_kernel++) {
    os_fs_test_hook(NULL, old_kernel);
    int fd = -1;
    struct stat st;
    assert_int_equal(os_open_below(&fd, &st, root, "a/b/f.env", &err), 0);
    assert_true(fd >= 0 && st.st_size == 4);
    close(fd);
    static const char *const refused[] = {"a/out.env", "a/in.env", "ldir/f.env", "outdir/x.env",
                                          "a/pipe.env", "a/b", "../x", "a/../a/b/f.env"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
      fd = -1;
      if (os_open_below(&fd, NULL, root, refused[i], &err) != OS_EINVAL)
        fail_msg("%s opened (old kernel path: %d): %s", refused[i], old_kernel, err.msg);
      assert_int_equal(fd, -1);
    }
    assert_int_equal(os_open_below(&fd, NULL, root, "a/out.env", &err), OS_EINVAL);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(os_open_below(&fd, NULL, root, "a/none.env", &err), OS_ENOTFOUND);
  }
  os_fs_test_hook(NULL, false);
  close(root);
  scratch_assert_fifo(fifo);
  scratch_rm(outside);
}

static void test_find_program(void **state) {
  const char *dir = *state;
  char noexec[PATH_MAX];
  scratch_at(noexec, dir, "tool");
  scratch_put(noexec, "#!/bin/sh\n");
  char list[600];
  snprintf(list, sizeof(list), "%s:/usr/bin:/bin", dir);
  char *p = os_find_program("sh", list);
  assert_non_null(p);
  assert_true(strcmp(p, "/usr/bin/sh") == 0 || strcmp(p, "/bin/sh") == 0);
  free(p);
  errno = 0;
  assert_null(os_find_program("tool", list)); /* not executable */
  assert_int_equal(errno, EACCES);
  assert_int_equal(chmod(noexec, 0755), 0);
  p = os_find_program("tool", list);
  assert_string_equal(p, noexec);
  free(p);
  assert_null(os_find_program("no-such-program-here", list));
  assert_int_equal(errno, ENOENT);
  p = os_find_program("./rel/x", list);
  assert_string_equal(p, "./rel/x");
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_limit),
      cmocka_unit_test(test_error_prefix),
      cmocka_unit_test(test_hex_fnv_pack),
      cmocka_unit_test(test_write_all),
      cmocka_unit_test(test_buf_read_fd),
      cmocka_unit_test(test_atomic_write),
      cmocka_unit_test_setup_teardown(test_output_device, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_output_fifo, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_output_symlinks, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_output_new_and_long, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_killed_writer, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_below, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_open_below, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_find_program, scratch_setup, scratch_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
