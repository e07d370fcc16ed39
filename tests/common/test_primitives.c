/* The primitives of pkg/common with reference values: clocks and RFC 3339,
 * base64, backoff, array growth, "FILE:LINE: msg". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"

static int64_t parse(const char *s, unsigned flags) {
  int64_t t = -1;
  long ns = -1;
  if (os_time_parse(&t, &ns, s, flags) != 0)
    return INT64_MIN;
  return t;
}

static void test_time_parse_reference(void **state) {
  (void)state;
  /* reference values from `date -u -d ... +%s` */
  assert_true(parse("1970-01-01T00:00:00Z", 0) == 0);
  assert_true(parse("2024-01-02T03:04:05Z", 0) == 1704164645);
  assert_true(parse("2024-01-02T03:04:05Z", OS_TIME_CANONICAL) == 1704164645);
  assert_true(parse("2000-02-29T12:00:00Z", 0) == 951825600);
  assert_true(parse("1969-12-31T23:59:59Z", 0) == -1);
  assert_true(parse("9999-12-31T23:59:59Z", 0) == 253402300799LL);
  assert_true(parse("0000-01-01T00:00:00Z", 0) == -62167219200LL);
  /* offsets: the same instant */
  assert_true(parse("2024-01-02T05:04:05+02:00", 0) == 1704164645);
  assert_true(parse("2024-01-01T22:34:05-04:30", 0) == 1704164645);
  /* fractions as Kubernetes writes MicroTime */
  int64_t t = 0;
  long ns = 0;
  assert_int_equal(os_time_parse(&t, &ns, "2024-01-02T03:04:05.123456Z", 0), 0);
  assert_true(t == 1704164645);
  assert_int_equal(ns, 123456000);
  assert_int_equal(os_time_parse(&t, &ns, "2024-01-02T03:04:05.1Z", 0), 0);
  assert_int_equal(ns, 100000000);
  assert_int_equal(os_time_parse(&t, &ns, "2024-01-02T03:04:05.999999999+00:00", 0), 0);
  assert_int_equal(ns, 999999999);
  assert_int_equal(os_time_parse(&t, NULL, "2024-01-02T03:04:05Z", 0), 0);
}

static void test_time_parse_strict(void **state) {
  (void)state;
  static const char *const bad[] = {
      "2024-02-30T00:00:00Z", /* Feb 30 */
      "2023-02-29T00:00:00Z", /* not a leap year */
      "1900-02-29T00:00:00Z", /* century, not a leap year */
      "2024-04-31T00:00:00Z",
      "2024-13-01T00:00:00Z",
      "2024-00-01T00:00:00Z",
      "2024-01-00T00:00:00Z",
      "2024-01-02T24:00:00Z",
      "2024-01-02T03:60:00Z",
      "2016-12-31T23:59:60Z", /* leap second */
      "2024-01-02t03:04:05Z", /* lower-case t */
      "2024-01-02T03:04:05z",
      "2024-01-02 03:04:05Z",
      "2024-01-02T03:04:05", /* no zone */
      "2024-01-02T03:04:05ZZ",
      "2024-01-02T03:04:05Z ",
      "2024-01-02T03:04:05.Z",           /* empty fraction */
      "2024-01-02T03:04:05.1234567890Z", /* 10 digits */
      "2024-01-02T03:04:05+2:00",
      "2024-01-02T03:04:05+24:00",
      "2024-01-02T03:04:05+02:60",
      "2024-01-02T03:04:05+0200",
      "24-01-02T03:04:05Z",
      "2024-1-02T03:04:05Z",
      "+2024-01-02T03:04:05Z",
      "2024-01-02T03:04:5Z",
      "",
      "2024-01-02T03:04",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t t = 42;
    if (os_time_parse(&t, NULL, bad[i], 0) != OS_EINVAL)
      fail_msg("accepted \"%s\"", bad[i]);
    assert_true(t == 42); /* untouched */
  }
  assert_int_equal(os_time_parse(&(int64_t){0}, NULL, NULL, 0), OS_EINVAL);
  /* the canonical form: no fraction, no offset */
  assert_true(parse("2024-01-02T03:04:05.1Z", OS_TIME_CANONICAL) == INT64_MIN);
  assert_true(parse("2024-01-02T03:04:05+00:00", OS_TIME_CANONICAL) == INT64_MIN);
  /* every day of a leap and a common February */
  char s[32];
  for (int d = 1; d <= 31; d++) {
    snprintf(s, sizeof(s), "2024-02-%02dT00:00:00Z", d);
    assert_int_equal(parse(s, 0) != INT64_MIN, d <= 29);
    snprintf(s, sizeof(s), "2100-02-%02dT00:00:00Z", d);
    assert_int_equal(parse(s, 0) != INT64_MIN, d <= 28);
  }
}

static void test_time_format(void **state) {
  (void)state;
  char out[OS_TIME_MAX];
  assert_int_equal(os_time_format(out, 1704164645, 0, 0), 0);
  assert_string_equal(out, "2024-01-02T03:04:05Z");
  assert_int_equal(os_time_format(out, 1704164645, 123456789, 3), 0);
  assert_string_equal(out, "2024-01-02T03:04:05.123Z");
  assert_int_equal(os_time_format(out, 1704164645, 123456789, 6), 0);
  assert_string_equal(out, "2024-01-02T03:04:05.123456Z");
  assert_int_equal(os_time_format(out, 1704164645, 5, 9), 0);
  assert_string_equal(out, "2024-01-02T03:04:05.000000005Z");
  assert_int_equal(os_time_format(out, -1, 0, 0), 0);
  assert_string_equal(out, "1969-12-31T23:59:59Z");
  assert_int_equal(os_time_format(out, 951825600, 0, 0), 0);
  assert_string_equal(out, "2000-02-29T12:00:00Z");
  assert_int_equal(os_time_format(out, 253402300799LL, 999999999, 9), 0);
  assert_string_equal(out, "9999-12-31T23:59:59.999999999Z");
  assert_int_equal(os_time_format(out, 253402300800LL, 0, 0), OS_EINVAL);
  assert_string_equal(out, "");
  assert_int_equal(os_time_format(out, 0, 0, 2), OS_EINVAL);
  assert_int_equal(os_time_format(out, 0, 1000000000, 3), OS_EINVAL);
  /* formatter and parser agree with gmtime_r over a spread of instants */
  for (int64_t t = -2000000000; t < 4000000000LL; t += 86399 * 37 + 13) {
    time_t tt = (time_t)t;
    struct tm tm;
    char ref[OS_TIME_MAX];
    assert_non_null(gmtime_r(&tt, &tm));
    assert_true(strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
    assert_int_equal(os_time_format(out, t, 0, 0), 0);
    assert_string_equal(out, ref);
    assert_true(parse(out, OS_TIME_CANONICAL) == t);
  }
}

static void test_now_hook(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  char out[OS_TIME_MAX];
  unsetenv(OS_NOW_ENV);
  int64_t real = os_wall_clock(NULL);
  assert_true(os_now() - real <= 1 && os_now() - real >= 0);
  assert_int_equal(os_now_check(&err), 0);
  setenv(OS_NOW_ENV, "2024-02-29T10:00:00Z", 1);
  assert_true(os_now() == 1709200800);
  os_now_format(out);
  assert_string_equal(out, "2024-02-29T10:00:00Z");
  assert_int_equal(os_now_check(&err), 0);
  /* the real clock never follows the hook */
  assert_true(os_wall_clock(NULL) >= real);
  /* a value that does not parse: ignored by os_now, reported by os_now_check */
  setenv(OS_NOW_ENV, "2024-02-30T10:00:00Z", 1);
  assert_true(os_now() >= real);
  assert_int_equal(os_now_check(&err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "ORGSECRETS_NOW"));
  unsetenv(OS_NOW_ENV);
  /* monotonic: never goes back, seconds and nanoseconds agree */
  int64_t a = os_mono_ns();
  double s = os_mono_seconds();
  int64_t b = os_mono_ns();
  assert_true(b >= a);
  assert_true(s * 1e9 >= (double)a - 1e3 && s * 1e9 <= (double)b + 1e3);
}

static void test_base64_vectors(void **state) {
  (void)state;
  /* RFC 4648 section 10 */
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const padded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *const raw[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (size_t i = 0; i < 7; i++) {
    char enc[16] = {0};
    uint8_t dec[16];
    size_t got = 99, n = strlen(plain[i]);
    assert_int_equal(os_base64_encoded_len(n, 0), strlen(padded[i]));
    os_base64_encode(enc, plain[i], n, 0);
    assert_string_equal(enc, padded[i]);
    memset(enc, 0, sizeof(enc));
    assert_int_equal(os_base64_encoded_len(n, OS_BASE64_NOPAD), strlen(raw[i]));
    os_base64_encode(enc, plain[i], n, OS_BASE64_NOPAD);
    assert_string_equal(enc, raw[i]);
    assert_int_equal(os_base64_decode(dec, &got, padded[i], strlen(padded[i]), 0), 0);
    assert_int_equal(got, n);
    assert_memory_equal(dec, plain[i], n);
    assert_int_equal(os_base64_decode(dec, &got, raw[i], strlen(raw[i]), OS_BASE64_NOPAD), 0);
    assert_int_equal(got, n);
    assert_memory_equal(dec, plain[i], n);
    /* optional padding takes both */
    assert_int_equal(os_base64_decode(dec, &got, raw[i], strlen(raw[i]), OS_BASE64_PAD_OPTIONAL),
                     0);
    assert_int_equal(got, n);
    assert_int_equal(
        os_base64_decode(dec, &got, padded[i], strlen(padded[i]), OS_BASE64_PAD_OPTIONAL), 0);
    assert_int_equal(got, n);
    assert_true(os_base64_decoded_max(strlen(raw[i])) >= n);
  }
  /* URL-safe alphabet: 0xfb 0xff 0xbf is "+/+/" in standard, "-_-_" in URL */
  const uint8_t bytes[] = {0xfb, 0xef, 0xbe, 0xfb, 0xef, 0xbe};
  char enc[16] = {0};
  os_base64_encode(enc, bytes, 6, 0);
  assert_string_equal(enc, "++++++++");
  const uint8_t bytes2[] = {0xff, 0xff, 0xff};
  os_base64_encode(enc, bytes2, 3, OS_BASE64_URL);
  enc[4] = '\0';
  assert_string_equal(enc, "____");
  uint8_t dec[16];
  size_t got = 0;
  assert_int_equal(os_base64_decode(dec, &got, "____", 4, OS_BASE64_URL), 0);
  assert_int_equal(got, 3);
  assert_memory_equal(dec, bytes2, 3);
  assert_int_equal(os_base64_decode(dec, &got, "////", 4, OS_BASE64_URL), OS_EINVAL);
  assert_int_equal(os_base64_decode(dec, &got, "____", 4, 0), OS_EINVAL);
  /* whitespace only when asked (kubeconfig data spread over lines) */
  assert_int_equal(os_base64_decode(dec, &got, "Zm9v\nYmFy\n", 10, 0), OS_EINVAL);
  assert_int_equal(os_base64_decode(dec, &got, "Zm9v\r\nYm Fy\t", 12, OS_BASE64_SPACE), 0);
  assert_int_equal(got, 6);
  assert_memory_equal(dec, "foobar", 6);
  /* the buffer form */
  os_buf b;
  os_buf_init(&b, 64, false);
  assert_int_equal(os_base64_append(&b, "foob", 4, 0), 0);
  assert_int_equal(os_base64_append(&b, "fo", 2, OS_BASE64_NOPAD), 0);
  assert_string_equal(b.data, "Zm9vYg==Zm8");
  os_buf_free(&b);
  os_buf_init(&b, 7, false);
  assert_int_equal(os_base64_append(&b, "foobar", 6, 0), OS_ENOMEM);
  os_buf_free(&b);
  assert_true(os_base64_encoded_len(SIZE_MAX, 0) == SIZE_MAX);
}

static void test_base64_strict(void **state) {
  (void)state;
  uint8_t dec[32];
  size_t got;
  static const struct {
    const char *in;
    unsigned flags;
  } bad[] = {
      {"Zh", OS_BASE64_NOPAD}, /* non-canonical trailing bits */
      {"Zm9=", 0},             /* non-canonical */
      {"Zh==", 0},
      {"Zg==", OS_BASE64_NOPAD}, /* padding where none is allowed */
      {"Zg", 0},                 /* padding missing */
      {"Zg=", 0},                /* padding short */
      {"Zg===", OS_BASE64_PAD_OPTIONAL},
      {"Z===", 0},
      {"====", 0},
      {"Zm9vY", OS_BASE64_NOPAD}, /* one character left over */
      {"Zm9v\n", OS_BASE64_NOPAD},
      {"Zm 9", OS_BASE64_NOPAD},
      {"Zm-_", OS_BASE64_NOPAD}, /* URL alphabet in standard */
      {"Zg==Zg==", 0},           /* padding in the middle */
      {"aG=Vs", OS_BASE64_PAD_OPTIONAL | OS_BASE64_SPACE},
      {"aGVsbG9", OS_BASE64_PAD_OPTIONAL},
      {"aGV*bG8=", OS_BASE64_PAD_OPTIONAL},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (os_base64_decode(dec, &got, bad[i].in, strlen(bad[i].in), bad[i].flags) != OS_EINVAL)
      fail_msg("accepted \"%s\" with flags %u", bad[i].in, bad[i].flags);
  /* a NUL inside the input is just a bad character */
  assert_int_equal(os_base64_decode(dec, &got, "Zm9\0", 4, OS_BASE64_NOPAD), OS_EINVAL);
  /* round trip of every length up to 40 bytes, both forms */
  uint8_t in[40], out[40];
  for (size_t i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof(in); n++) {
    for (unsigned f = 0; f < 4; f++) {
      char enc[64];
      size_t len = os_base64_encoded_len(n, f);
      os_base64_encode(enc, in, n, f);
      assert_int_equal(os_base64_decode(out, &got, enc, len, f), 0);
      assert_int_equal(got, n);
      assert_memory_equal(out, in, n);
    }
  }
}

static void test_backoff(void **state) {
  (void)state;
  /* d = min(cap, base * 2^attempt); the delay is in [d/2, d] */
  assert_float_equal(os_backoff_jitter(0, 0.2, 10, 0.0), 0.1, 1e-12);
  assert_float_equal(os_backoff_jitter(0, 0.2, 10, 0.5), 0.15, 1e-12);
  assert_float_equal(os_backoff_jitter(3, 0.2, 10, 0.0), 0.8, 1e-12);
  assert_float_equal(os_backoff_jitter(3, 0.2, 10, 0.5), 1.2, 1e-12);
  assert_float_equal(os_backoff_jitter(3, 0.2, 10, 1.0), 1.6, 1e-12);
  assert_float_equal(os_backoff_jitter(3, 0.2, 10, 7.0), 1.6, 1e-12);  /* clamped */
  assert_float_equal(os_backoff_jitter(30, 0.2, 10, 0.0), 5.0, 1e-12); /* capped */
  assert_float_equal(os_backoff_jitter(4000000000u, 1, 60, 0.0), 30.0, 1e-12);
  assert_float_equal(os_backoff_jitter(2, 1, 60, -3), 2.0, 1e-12); /* clamped */
  /* the CSPRNG: in range, and not the same sequence twice */
  double first = os_random_unit(), lo = 1, hi = 0;
  int same = 0;
  for (int i = 0; i < 2000; i++) {
    double u = os_random_unit();
    assert_true(u >= 0 && u < 1);
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
    same += u == first;
    double d = os_backoff_delay(5, 1, 30);
    assert_true(d >= 15 && d <= 30);
  }
  assert_true(same < 2);
  assert_true(lo < 0.05 && hi > 0.95);
}

static void test_grow(void **state) {
  (void)state;
  int *v = NULL;
  size_t cap = 0;
  assert_int_equal(os_grow(&v, &cap, 1, sizeof(*v), 100), 0);
  assert_int_equal(cap, 8);
  for (int i = 0; i < 8; i++)
    v[i] = i;
  assert_int_equal(os_grow(&v, &cap, 8, sizeof(*v), 100), 0); /* room already */
  assert_int_equal(cap, 8);
  assert_int_equal(os_grow(&v, &cap, 9, sizeof(*v), 100), 0);
  assert_int_equal(cap, 16);
  assert_int_equal(v[7], 7);
  assert_int_equal(os_grow(&v, &cap, 70, sizeof(*v), 100), 0); /* more than double */
  assert_int_equal(cap, 70);
  assert_int_equal(os_grow(&v, &cap, 71, sizeof(*v), 100), 0); /* doubling clamped */
  assert_int_equal(cap, 100);
  int *before = v;
  assert_int_equal(os_grow(&v, &cap, 101, sizeof(*v), 100), OS_ENOMEM);
  assert_ptr_equal(v, before);
  assert_int_equal(cap, 100);
  /* byte size overflow */
  assert_int_equal(os_grow(&v, &cap, SIZE_MAX / 2, 4, SIZE_MAX), OS_ENOMEM);
  assert_int_equal(cap, 100);
  /* exact sizes without a capacity */
  assert_int_equal(os_grow(&v, NULL, 3, sizeof(*v), 100), 0);
  assert_int_equal(v[2], 2);
  free(v);
  char **s = NULL;
  assert_int_equal(os_grow(&s, NULL, 0, sizeof(*s), 10), 0);
  assert_non_null(s);
  free(s);
}

static void test_format_at(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(os_format_at(out, sizeof(out), "secrets/a.yaml", 12, "bad name"),
                      "secrets/a.yaml:12: bad name");
  assert_string_equal(os_format_at(out, sizeof(out), "secrets/a.yaml", 0, "bad name"),
                      "secrets/a.yaml: bad name");
  assert_string_equal(os_format_at(out, sizeof(out), NULL, 12, "bad name"), "bad name");
  assert_string_equal(os_format_at(out, 8, "abc", 1, "message"), "abc:1: ");
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_error_at(&err, OS_EINVAL, "o.yaml", 3, "spec.%s: %d", "x", 5), OS_EINVAL);
  assert_int_equal(err.code, OS_EINVAL);
  assert_string_equal(err.msg, "o.yaml:3: spec.x: 5");
  assert_int_equal(os_error_at(NULL, OS_EIO, "f", 1, "m"), OS_EIO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time_parse_reference),
      cmocka_unit_test(test_time_parse_strict),
      cmocka_unit_test(test_time_format),
      cmocka_unit_test(test_now_hook),
      cmocka_unit_test(test_base64_vectors),
      cmocka_unit_test(test_base64_strict),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_grow),
      cmocka_unit_test(test_format_at),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
