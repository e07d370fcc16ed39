/* The env-file format: exact text, parse round trip, NUL refusal, and a
 * real POSIX shell reading every value back byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envfile/envfile.h"

static const struct {
  const char *name, *value;
} cases[] = {
    {"PLAIN", "abc-DEF_123./:@%+,=x"},
    {"SPACE", "two words"},
    {"QUOTES", "it's \"quoted\""},
    {"DOLLAR", "$HOME and ${PATH} and `cmd` and \\back"},
    {"NEWLINE", "line one\nline two\n"},
    {"HASH", "#not a comment"},
    {"UTF8", "p\xc3\xa4ssw\xc3\xb6rd"},
};
#define N (sizeof(cases) / sizeof(cases[0]))

static void render(os_buf *b) {
  os_error err = OS_ERROR_INIT;
  for (size_t i = 0; i < N; i++)
    assert_int_equal(envfile_append(b, cases[i].name, (const uint8_t *)cases[i].value,
                                    strlen(cases[i].value), &err), 0);
}

static void test_text_and_roundtrip(void **state) {
  (void)state;
  os_buf b;
  os_buf_init(&b, 1 << 20, true);
  render(&b);
  assert_non_null(strstr(b.data, "PLAIN=abc-DEF_123./:@%+,=x\n"));
  assert_non_null(strstr(b.data, "DOLLAR=\"\\$HOME and \\${PATH} and \\`cmd\\` and \\\\back\"\n"));
  envfile_entry *v = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(envfile_parse(&v, &n, b.data, b.len, &err), 0);
  assert_int_equal(n, N);
  for (size_t i = 0; i < N; i++) {
    assert_string_equal(v[i].name, cases[i].name);
    assert_int_equal(v[i].len, strlen(cases[i].value));
    assert_memory_equal(v[i].value, cases[i].value, v[i].len);
  }
  envfile_entries_free(v, n);
  assert_int_equal(envfile_append(&b, "NUL", (const uint8_t *)"SECRETX\0Y", 9, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "NUL"));
  assert_null(strstr(err.msg, "SECRETX"));
  assert_int_equal(envfile_parse(&v, &n, "X=\"open\n", 8, &err), OS_EINVAL);
  os_buf_free(&b);
}

static void test_posix_shell_reads_back(void **state) {
  (void)state;
  char dir[] = "/tmp/os-envfile-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64], out[64];
  snprintf(path, sizeof(path), "%s/f.env", dir);
  snprintf(out, sizeof(out), "%s/out", dir);
  os_buf b;
  os_buf_init(&b, 1 << 20, true);
  render(&b);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
  fclose(f);
  for (size_t i = 0; i < N; i++) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "sh -c 'set -a; . %s; printf %%s \"$%s\"' > %s", path,
             cases[i].name, out);
    assert_int_equal(system(cmd), 0);
    char got[256] = {0};
    f = fopen(out, "r");
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(cases[i].value));
    assert_memory_equal(got, cases[i].value, n);
  }
  os_buf_free(&b);
  unlink(path);
  unlink(out);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_and_roundtrip),
      cmocka_unit_test(test_posix_shell_reads_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
