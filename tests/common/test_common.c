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
      cmocka_unit_test(test_hex_fnv_pack),
      cmocka_unit_test(test_atomic_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
