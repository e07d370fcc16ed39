/* os_duration_parse: the one parser of duration options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>

#include "common/duration.h"

static void test_units(void **state) {
  (void)state;
  int64_t v = -1;
  assert_int_equal(os_duration_parse(&v, "90"), 0);
  assert_int_equal(v, 90);
  assert_int_equal(os_duration_parse(&v, "90s"), 0);
  assert_int_equal(v, 90);
  assert_int_equal(os_duration_parse(&v, "10m"), 0);
  assert_int_equal(v, 600);
  assert_int_equal(os_duration_parse(&v, "2h"), 0);
  assert_int_equal(v, 7200);
  assert_int_equal(os_duration_parse(&v, "0"), 0);
  assert_int_equal(v, 0);
  assert_int_equal(os_duration_parse(&v, "2400h"), 0);
  assert_int_equal(v, OS_DURATION_MAX_S);
}

static void test_refused(void **state) {
  (void)state;
  const char *bad[] = {"", "s", "-1", "+5", " 5", "5 ", "5d", "5ms", "1.5h", "2401h",
                       "144001m", "99999999999999999999", "5hh", NULL};
  for (size_t i = 0; bad[i] != NULL; i++) {
    int64_t v = 42;
    assert_int_equal(os_duration_parse(&v, bad[i]), OS_EINVAL);
    assert_int_equal(v, 42);
  }
  int64_t v = 42;
  assert_int_equal(os_duration_parse(&v, NULL), OS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_units), cmocka_unit_test(test_refused)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
