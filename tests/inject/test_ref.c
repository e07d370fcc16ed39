/* Unit tests for the shared reference parser (pkg/inject/ref.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "inject/ref.h"

/* Records segments as a compact trace: T[raw] D[$$] R[NAME,b] */
typedef struct trace {
  os_buf b;
  int stop_after; /* stop with OS_EIO after this many segments (0: never) */
  int count;
} trace;

static int record(void *ctx, const inject_segment *seg) {
  trace *t = ctx;
  t->count++;
  int rc = 0;
  switch (seg->kind) {
  case INJECT_SEG_TEXT:
    rc = os_buf_printf(&t->b, "T[%.*s]", (int)seg->raw_len, seg->raw);
    break;
  case INJECT_SEG_DOLLAR:
    rc = os_buf_printf(&t->b, "D[%.*s]", (int)seg->raw_len, seg->raw);
    break;
  case INJECT_SEG_REF:
    assert_int_equal(strlen(seg->name), seg->name_len);
    rc = os_buf_printf(&t->b, "R[%s%s|%.*s]", seg->name, seg->braced ? ",b" : "", (int)seg->raw_len,
                       seg->raw);
    break;
  }
  if (rc < 0)
    return rc;
  if (t->stop_after > 0 && t->count >= t->stop_after)
    return OS_EIO;
  return 0;
}

static void check_scan(const char *in, const char *want) {
  trace t = {.stop_after = 0};
  os_buf_init(&t.b, 1 << 20, false);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_ref_scan(in, strlen(in), record, &t, &err), 0);
  assert_string_equal(t.b.data ? t.b.data : "", want);
  os_buf_free(&t.b);
}

static void test_scan_segments(void **state) {
  (void)state;
  check_scan("", "");
  check_scan("plain", "T[plain]");
  check_scan("$A", "R[A|$A]");
  check_scan("${DB_PASSWORD}", "R[DB_PASSWORD,b|${DB_PASSWORD}]");
  check_scan("postgres://app:$DB_PASSWORD@db:5432/app",
             "T[postgres://app:]R[DB_PASSWORD|$DB_PASSWORD]T[@db:5432/app]");
  /* greedy: digits and underscores belong to the name, lower case ends it */
  check_scan("$API_KEY_2x", "R[API_KEY_2|$API_KEY_2]T[x]");
  check_scan("$A$B", "R[A|$A]R[B|$B]");
  check_scan("${A}B", "R[A,b|${A}]T[B]");
  check_scan("a$$b", "T[a]D[$$]T[b]");
  check_scan("$$A", "D[$$]T[A]");
  check_scan("$$$A", "D[$$]R[A|$A]");
  check_scan("$$$$", "D[$$]D[$$]");
}

static void test_scan_literal_dollars(void **state) {
  (void)state;
  check_scan("$", "T[$]");
  check_scan("cost: 5$", "T[cost: 5$]");
  check_scan("$lower", "T[$lower]");
  check_scan("$1ABC", "T[$1ABC]");
  check_scan("$_X", "T[$_X]");
  check_scan("$(VAR)", "T[$(VAR)]");
  check_scan("${lower}", "T[${lower}]");
  check_scan("${A-b}", "T[${A-b}]");
  check_scan("${}", "T[${}]");
  check_scan("${A", "T[${A]");
  check_scan("${A $B", "T[${A ]R[B|$B]");
  check_scan("${1A}", "T[${1A}]");
}

static void test_scan_name_length(void **state) {
  (void)state;
  char in[INJECT_REF_NAME_MAX + 8];
  in[0] = '$';
  memset(in + 1, 'N', INJECT_REF_NAME_MAX);
  in[INJECT_REF_NAME_MAX + 1] = '\0';
  assert_true(inject_ref_is_whole(in, strlen(in), NULL, NULL));
  /* one more character: no longer a name, and its tail is not one either */
  in[INJECT_REF_NAME_MAX + 1] = 'N';
  in[INJECT_REF_NAME_MAX + 2] = '\0';
  trace t = {.stop_after = 0};
  os_buf_init(&t.b, 1 << 20, false);
  assert_int_equal(inject_ref_scan(in, strlen(in), record, &t, NULL), 0);
  assert_int_equal(t.count, 1);
  assert_memory_equal(t.b.data, "T[$", 3);
  os_buf_free(&t.b);
}

static void test_scan_stops_on_callback_error(void **state) {
  (void)state;
  trace t = {.stop_after = 2};
  os_buf_init(&t.b, 1 << 20, false);
  assert_int_equal(inject_ref_scan("a$B c$D e", 9, record, &t, NULL), OS_EIO);
  assert_int_equal(t.count, 2);
  os_buf_free(&t.b);
}

static void test_scan_input_bound(void **state) {
  (void)state;
  size_t n = (size_t)INJECT_REF_INPUT_MAX + 1;
  char *big = malloc(n + 1);
  assert_non_null(big);
  memset(big, 'x', n);
  big[n] = '\0';
  trace t = {.stop_after = 0};
  os_buf_init(&t.b, 2 << 20, false);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_ref_scan(big, n, record, &t, &err), OS_EINVAL);
  assert_int_equal(t.count, 0);
  assert_non_null(strstr(err.msg, "exceeds"));
  /* the expander refuses it too */
  char *out = (char *)1;
  os_error_clear(&err);
  assert_int_equal(inject_ref_expand(&out, NULL, big, NULL, NULL, NULL, &err), OS_EINVAL);
  assert_null(out);
  /* exactly at the limit is fine */
  big[n - 1] = '\0';
  assert_int_equal(inject_ref_scan(big, n - 1, record, &t, NULL), 0);
  free(big);
  os_buf_free(&t.b);
}

static void test_is_whole(void **state) {
  (void)state;
  const char *name = NULL;
  size_t nlen = 0;
  assert_true(inject_ref_is_whole("$DB_PASSWORD", 12, &name, &nlen));
  assert_int_equal(nlen, 11);
  assert_memory_equal(name, "DB_PASSWORD", 11);
  assert_true(inject_ref_is_whole("${DB}", 5, &name, &nlen));
  assert_int_equal(nlen, 2);
  assert_memory_equal(name, "DB", 2);
  assert_false(inject_ref_is_whole("$DB ", 4, NULL, NULL));
  assert_false(inject_ref_is_whole(" $DB", 4, NULL, NULL));
  assert_false(inject_ref_is_whole("$DB$X", 5, NULL, NULL));
  assert_false(inject_ref_is_whole("$$DB", 4, NULL, NULL));
  assert_false(inject_ref_is_whole("${db}", 5, NULL, NULL));
  assert_false(inject_ref_is_whole("$", 1, NULL, NULL));
  assert_false(inject_ref_is_whole("", 0, NULL, NULL));
  assert_true(inject_ref_valid_name("A_1", 3));
  assert_false(inject_ref_valid_name("a", 1));
  assert_false(inject_ref_valid_name("", 0));
}

/* A fixed table of fake secrets; values here are test fixtures. */
typedef struct entry {
  const char *name;
  const char *value;
} entry;

static const entry table[] = {
    {"DB_PASSWORD", "pw-1"},
    {"API_KEY", "k$API_KEY${DB_PASSWORD}$$"}, /* looks like references: must not be expanded */
    {"EMPTY", ""},
};

static int lookup_table(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  int *calls = ctx;
  if (calls != NULL)
    (*calls)++;
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    if (strcmp(table[i].name, name) == 0) {
      *value = (const uint8_t *)table[i].value;
      *len = strlen(table[i].value);
      return 1;
    }
  }
  return 0;
}

static void check_expand(const char *in, const char *want, bool want_changed) {
  char *out = NULL;
  size_t out_len = 0;
  bool changed = !want_changed;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_ref_expand(&out, &out_len, in, lookup_table, NULL, &changed, &err), 0);
  assert_non_null(out);
  assert_int_equal(out_len, strlen(want));
  assert_string_equal(out, want);
  assert_int_equal(changed, want_changed);
  os_free_secret(out, out_len + 1);
}

static void test_expand_known(void **state) {
  (void)state;
  check_expand("$DB_PASSWORD", "pw-1", true);
  check_expand("${DB_PASSWORD}", "pw-1", true);
  check_expand("postgres://app:$DB_PASSWORD@db/app", "postgres://app:pw-1@db/app", true);
  check_expand("x${DB_PASSWORD}y", "xpw-1y", true);
  check_expand("[$EMPTY]", "[]", true);
}

static void test_expand_unknown_untouched(void **state) {
  (void)state;
  check_expand("$DB_PASWORD", "$DB_PASWORD", false);
  check_expand("${DB_PASWORD_TYPO}", "${DB_PASWORD_TYPO}", false);
  /* mixed: the known one is replaced, the unknown stays as written */
  check_expand("$DB_PASSWORD:${NOPE}:$NOPE2", "pw-1:${NOPE}:$NOPE2", true);
  check_expand("$HOME/bin:${PATH}", "$HOME/bin:${PATH}", false);
}

static void test_expand_dollar_escape(void **state) {
  (void)state;
  /* no known reference: the string is left byte for byte, $$ included */
  check_expand("price $$5 and $$DB_PASSWORD", "price $$5 and $$DB_PASSWORD", false);
  check_expand("$$", "$$", false);
  /* with a known reference, $$ means a literal $ */
  check_expand("$$DB_PASSWORD=$DB_PASSWORD", "$DB_PASSWORD=pw-1", true);
  check_expand("a$$b$DB_PASSWORD", "a$bpw-1", true);
  check_expand("lone $ stays, $$ halves: $DB_PASSWORD", "lone $ stays, $ halves: pw-1", true);
}

static void test_expand_no_reexpansion(void **state) {
  (void)state;
  check_expand("$API_KEY", "k$API_KEY${DB_PASSWORD}$$", true);
  check_expand("<$API_KEY|$DB_PASSWORD>", "<k$API_KEY${DB_PASSWORD}$$|pw-1>", true);
  int calls = 0;
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(inject_ref_expand(&out, &n, "$API_KEY", lookup_table, &calls, NULL, NULL), 0);
  assert_int_equal(calls, 1); /* the value was not scanned for references */
  os_free_secret(out, n + 1);
}

static int lookup_fails(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  (void)ctx;
  (void)name;
  (void)value;
  (void)len;
  return OS_EIO;
}

static void test_expand_lookup_error(void **state) {
  (void)state;
  char *out = (char *)1;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_ref_expand(&out, NULL, "x$A", lookup_fails, NULL, NULL, &err), OS_EIO);
  assert_null(out);
  assert_int_equal(err.code, OS_EIO);
}

/* Values that would grow the output beyond INJECT_REF_OUTPUT_MAX. */
static int lookup_huge(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  (void)name;
  *value = ctx;
  *len = 256 * 1024;
  return 1;
}

static void test_expand_output_bound(void **state) {
  (void)state;
  uint8_t *val = calloc(256 * 1024, 1);
  assert_non_null(val);
  memset(val, 'v', 256 * 1024);
  /* 40 references x 256 KiB = 10 MiB > 8 MiB */
  char in[41 * 3];
  size_t p = 0;
  for (int i = 0; i < 40; i++) {
    in[p++] = '$';
    in[p++] = 'A';
    in[p++] = ' ';
  }
  in[p] = '\0';
  char *out = (char *)1;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(inject_ref_expand(&out, NULL, in, lookup_huge, val, NULL, &err), OS_ENOMEM);
  assert_null(out);
  assert_null(strstr(err.msg, "vvvv"));
  free(val);
}

static int lookup_binary(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  (void)ctx;
  (void)name;
  static const uint8_t bin[] = {'a', 0, 'b'};
  *value = bin;
  *len = sizeof(bin);
  return 1;
}

static void test_expand_binary_value(void **state) {
  (void)state;
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(inject_ref_expand(&out, &n, "[$A]", lookup_binary, NULL, NULL, NULL), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(out, "[a\0b]", 6); /* NUL-terminated after out_len */
  os_free_secret(out, n + 1);
}

/* Property test over random strings of tricky characters: the raw spans
 * concatenate back to the input, and expansion without known names is the
 * identity. Deterministic seed. */
static int append_raw(void *ctx, const inject_segment *seg) {
  os_buf *b = ctx;
  if (seg->kind == INJECT_SEG_REF)
    assert_true(inject_ref_valid_name(seg->name, seg->name_len));
  return os_buf_append(b, seg->raw, seg->raw_len);
}

static int lookup_none(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  (void)ctx;
  (void)name;
  (void)value;
  (void)len;
  return 0;
}

static void test_random_roundtrip(void **state) {
  (void)state;
  static const char alphabet[] = "$${}()AZ_9a x";
  uint32_t seed = 12345;
  char s[64];
  for (int iter = 0; iter < 20000; iter++) {
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 16) % (sizeof(s) - 1);
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
    }
    s[n] = '\0';
    os_buf b;
    os_buf_init(&b, 1024, false);
    assert_int_equal(inject_ref_scan(s, n, append_raw, &b, NULL), 0);
    assert_int_equal(b.len, n);
    if (n > 0)
      assert_memory_equal(b.data, s, n);
    os_buf_free(&b);
    char *out = NULL;
    size_t out_len = 0;
    bool changed = true;
    assert_int_equal(inject_ref_expand(&out, &out_len, s, lookup_none, NULL, &changed, NULL), 0);
    assert_false(changed);
    assert_int_equal(out_len, n);
    assert_string_equal(out, s);
    os_free_secret(out, out_len + 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scan_segments),
      cmocka_unit_test(test_scan_literal_dollars),
      cmocka_unit_test(test_scan_name_length),
      cmocka_unit_test(test_scan_stops_on_callback_error),
      cmocka_unit_test(test_scan_input_bound),
      cmocka_unit_test(test_is_whole),
      cmocka_unit_test(test_expand_known),
      cmocka_unit_test(test_expand_unknown_untouched),
      cmocka_unit_test(test_expand_dollar_escape),
      cmocka_unit_test(test_expand_no_reexpansion),
      cmocka_unit_test(test_expand_lookup_error),
      cmocka_unit_test(test_expand_output_bound),
      cmocka_unit_test(test_expand_binary_value),
      cmocka_unit_test(test_random_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
