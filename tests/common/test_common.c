#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"

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
}

static void test_error_prefix(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_error_set(&err, OS_EINVAL, "bad %s", "thing"), OS_EINVAL);
  os_error_prefix(&err, "file %s:%d", "x.yaml", 3);
  assert_string_equal(err.msg, "file x.yaml:3: bad thing");
  assert_int_equal(err.code, OS_EINVAL);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_limit),
      cmocka_unit_test(test_error_prefix),
      cmocka_unit_test(test_atomic_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
