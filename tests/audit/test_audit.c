#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "audit/audit.h"
#include "common/err.h"
#include "common/fsutil.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_audit.XXXXXX");
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static void append(audit_log *a, const char *event, const char *name) {
  os_error err = OS_ERROR_INIT;
  json_t *f = json_pack("{s:s, s:s, s:s, s:s}", "organization", "acme", "environment", "prod",
                        "name", name, "result", "ok");
  assert_non_null(f);
  assert_int_equal(audit_log_append(a, event, f, &err), 0);
  json_decref(f);
}

/* Writes a log of n lines at path. */
static void make_log(const char *path, int n) {
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  for (int i = 1; i <= n; i++) {
    char name[32];
    snprintf(name, sizeof(name), "SECRET_%d", i);
    append(a, "unseal", name);
  }
  audit_log_close(a);
}

/* The file as an array of lines (each with its newline). */
static size_t load_lines(char **lines, size_t max, const char *path) {
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, path, 1 << 20, &err), 0);
  size_t n = 0;
  char *p = data;
  while (*p != '\0' && n < max) {
    char *nl = strchr(p, '\n');
    size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
    lines[n] = strndup(p, l);
    n++;
    p += l;
  }
  free(data);
  return n;
}

static void store_lines(const char *path, char **lines, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (size_t i = 0; i < n; i++)
    fputs(lines[i], f);
  fclose(f);
}

static void free_lines(char **lines, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(lines[i]);
}

static void expect_bad(const char *path, const char *needle1, const char *needle2) {
  os_error err = OS_ERROR_INIT;
  size_t n = 99;
  assert_int_equal(audit_verify_file(path, &n, &err), OS_EINVAL);
  if (strstr(err.msg, needle1) == NULL || (needle2 && strstr(err.msg, needle2) == NULL))
    fail_msg("unexpected message: %s", err.msg);
}

static void test_format_and_chain_across_reopen(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "a.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  assert_int_equal(audit_log_seq(a), 0);
  append(a, "unseal", "DB_PASSWORD");
  append(a, "write", "DB_PASSWORD");
  assert_int_equal(audit_log_seq(a), 2);
  audit_log_close(a);

  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  assert_int_equal(audit_log_seq(a), 2);   /* resumed */
  audit_log_set_fsync(a, false);
  append(a, "delete", "OLD_KEY");
  audit_log_close(a);

  char *lines[8];
  size_t n = load_lines(lines, 8, path);
  assert_int_equal(n, 3);
  /* First line: fixed members in order, then fields in the caller's order. */
  assert_true(strncmp(lines[0], "{\"seq\":1,\"time\":\"", 17) == 0);
  assert_non_null(strstr(lines[0],
                         "Z\",\"event\":\"unseal\",\"prev\":\"000000000000000000000000000000000"
                         "0000000000000000000000000000000\",\"organization\":\"acme\","
                         "\"environment\":\"prod\",\"name\":\"DB_PASSWORD\",\"result\":\"ok\"}\n"));
  /* Each prev is the SHA-256 of the previous line without its newline,
   * including across the reopen. */
  for (size_t i = 1; i < n; i++) {
    unsigned char md[32];
    unsigned int mdl;
    assert_int_equal(EVP_Digest(lines[i - 1], strlen(lines[i - 1]) - 1, md, &mdl, EVP_sha256(),
                                NULL), 1);
    char hex[65];
    for (int k = 0; k < 32; k++)
      snprintf(hex + 2 * k, 3, "%02x", md[k]);
    json_t *o = json_loads(lines[i], 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "prev")), hex);
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), (json_int_t)i + 1);
    json_decref(o);
  }
  size_t count = 0;
  char head[AUDIT_HASH_HEX_LEN + 1];
  assert_int_equal(audit_verify_file_head(path, &count, head, &err), 0);
  assert_int_equal(count, 3);
  assert_int_equal(strlen(head), 64);
  free_lines(lines, n);
}

static void test_value_fields_refused(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "refuse.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  const char *bad[] = {"value", "data", "plaintext", "Value", "seq", "prev"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    json_t *f = json_pack("{s:s, s:s}", "name", "API_KEY", bad[i], "hunter2");
    os_error_clear(&err);
    assert_int_equal(audit_log_append(a, "unseal", f, &err), OS_EINVAL);
    assert_non_null(strstr(err.msg, bad[i]));
    assert_null(strstr(err.msg, "hunter2"));
    json_decref(f);
  }
  /* nested too */
  json_t *nested = json_pack("{s:{s:s}}", "target", "data", "x");
  assert_int_equal(audit_log_append(a, "write", nested, &err), OS_EINVAL);
  json_decref(nested);
  assert_int_equal(audit_log_append(a, "bad event\n", NULL, &err), OS_EINVAL);
  assert_int_equal(audit_log_seq(a), 0);
  assert_int_equal(audit_log_append(a, "inject", NULL, &err), 0);
  audit_log_close(a);
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&text, &len, path, 1 << 20, &err), 0);
  assert_null(strstr(text, "hunter2"));
  assert_non_null(strstr(text, "\"seq\":1,"));
  assert_null(strstr(text, "\"seq\":2,"));
  free(text);
}

static void test_verify_edited(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "edited.log");
  make_log(path, 5);
  char *lines[8];
  size_t n = load_lines(lines, 8, path);
  char *p = strstr(lines[2], "SECRET_3");
  assert_non_null(p);
  p[7] = '9'; /* SECRET_3 -> SECRET_9 on line 3 */
  store_lines(path, lines, n);
  expect_bad(path, "line 3: edited", NULL);
  free_lines(lines, n);
}

static void test_verify_removed(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "removed.log");
  make_log(path, 5);
  char *lines[8];
  size_t n = load_lines(lines, 8, path);
  free(lines[3]);
  lines[3] = lines[4]; /* drop line 4 */
  store_lines(path, lines, 4);
  expect_bad(path, "line 4: seq 5 follows seq 3", "removed");
  free_lines(lines, 4);

  /* removing the first line is caught too */
  unlink(path);
  make_log(path, 3);
  n = load_lines(lines, 8, path);
  store_lines(path, lines + 1, n - 1);
  expect_bad(path, "line 1: seq 2", "removed");
  free_lines(lines, n);
}

static void test_verify_reordered(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "reordered.log");
  make_log(path, 5);
  char *lines[8];
  size_t n = load_lines(lines, 8, path);
  char *t = lines[1];
  lines[1] = lines[2];
  lines[2] = t; /* swap lines 2 and 3 */
  store_lines(path, lines, n);
  expect_bad(path, "line 2: seq 3 comes before seq 2 on line 3", "reordered");
  free_lines(lines, n);
}

static void test_verify_truncated_and_garbage(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "trunc.log");
  make_log(path, 4);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(truncate(path, st.st_size - 10), 0);
  expect_bad(path, "line 4: truncated", NULL);
  /* a truncated tail also stops the log from resuming */
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), OS_EINVAL);
  assert_null(a);
  assert_non_null(strstr(err.msg, "truncated"));

  path_of(path, sizeof(path), "garbage.log");
  make_log(path, 3);
  char *lines[8];
  size_t n = load_lines(lines, 8, path);
  free(lines[1]);
  lines[1] = strdup("this is not json\n");
  store_lines(path, lines, n);
  expect_bad(path, "line 2: not JSON", NULL);
  free_lines(lines, n);

  path_of(path, sizeof(path), "empty.log");
  FILE *f = fopen(path, "w");
  fclose(f);
  size_t count = 7;
  assert_int_equal(audit_verify_file(path, &count, &err), 0);
  assert_int_equal(count, 0);
}

static void test_second_writer_refused(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "locked.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL, *b = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  assert_int_equal(audit_log_open(&b, path, &err), OS_ECONFLICT);
  assert_null(b);
  audit_log_close(a);
}

/* Appends {"name":"X","pad":"zzz..."} with pad_len z's; returns the result. */
static int append_padded(audit_log *a, size_t pad_len) {
  os_error err = OS_ERROR_INIT;
  char *pad = malloc(pad_len + 1);
  memset(pad, 'z', pad_len);
  pad[pad_len] = '\0';
  json_t *f = json_pack("{s:s, s:s}", "name", "X", "pad", pad);
  int rc = audit_log_append(a, "write", f, &err);
  json_decref(f);
  free(pad);
  return rc;
}

static void test_longest_line_resumes(void **state) {
  (void)state;
  char path[128], probe[128];
  path_of(path, sizeof(path), "long.log");
  path_of(probe, sizeof(probe), "probe.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  /* measure the fixed overhead of a seq-2 line */
  assert_int_equal(audit_log_open(&a, probe, &err), 0);
  append(a, "unseal", "A");
  assert_int_equal(append_padded(a, 100), 0);
  audit_log_close(a);
  char *lines[4];
  size_t n = load_lines(lines, 4, probe);
  assert_int_equal(n, 2);
  size_t overhead = strlen(lines[1]) - 1 - 100;
  free_lines(lines, n);

  a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  append(a, "unseal", "A");
  assert_int_equal(append_padded(a, AUDIT_MAX_LINE - overhead + 1), OS_EINVAL); /* too long */
  assert_int_equal(append_padded(a, AUDIT_MAX_LINE - overhead), 0);  /* exactly the limit */
  audit_log_close(a);
  a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  assert_int_equal(audit_log_seq(a), 2);
  append(a, "delete", "B");
  audit_log_close(a);
  size_t count = 0;
  assert_int_equal(audit_verify_file(path, &count, &err), 0);
  assert_int_equal(count, 3);
}

#define N_THREADS 6
#define N_PER 50

static void *writer(void *p) {
  audit_log *a = p;
  for (int i = 0; i < N_PER; i++)
    append(a, "inject", "SHARED");
  return NULL;
}

static void test_concurrent_appends(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "threads.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  audit_log_set_fsync(a, false);
  pthread_t th[N_THREADS];
  for (int i = 0; i < N_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, writer, a), 0);
  for (int i = 0; i < N_THREADS; i++)
    pthread_join(th[i], NULL);
  audit_log_close(a);
  size_t n = 0;
  assert_int_equal(audit_verify_file(path, &n, &err), 0);
  assert_int_equal(n, N_THREADS * N_PER);
}

/* The file alone cannot show that whole lines were cut off its end; a head
 * recorded outside it can. */
static void test_tail_cut_needs_the_recorded_head(void **state) {
  (void)state;
  char path[128], forged[128];
  path_of(path, sizeof(path), "anchored.log");
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  for (int i = 1; i <= 5; i++)
    append(a, "unseal", "DB_PASSWORD");
  unsigned long long seq = 0;
  char h5[AUDIT_HASH_HEX_LEN + 1], anchor[AUDIT_HASH_HEX_LEN + 32];
  audit_log_head(a, &seq, h5);
  assert_int_equal(seq, 5);
  audit_log_close(a);
  snprintf(anchor, sizeof(anchor), "%llu:%s", seq, h5);
  size_t n = 0, at = 0;
  char head[AUDIT_HASH_HEX_LEN + 1];
  assert_int_equal(audit_verify_file_anchored(path, anchor, &n, head, &at, &err), 0);
  assert_int_equal(n, 5);
  assert_int_equal(at, 5);
  assert_string_equal(head, h5);
  assert_int_equal(audit_verify_file_anchored(path, h5, &n, head, &at, &err), 0);
  /* the log grows: the old head is still in it */
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  append(a, "write", "DB_PASSWORD");
  append(a, "write", "API_KEY");
  audit_log_close(a);
  assert_int_equal(audit_verify_file_anchored(path, anchor, &n, head, &at, &err), 0);
  assert_int_equal(n, 7);
  assert_int_equal(at, 5);
  /* cut at a line boundary: the chain alone is fine, the recorded head is gone */
  char *lines[16];
  size_t nl = load_lines(lines, 16, path);
  assert_int_equal(nl, 7);
  store_lines(path, lines, 4);
  assert_int_equal(audit_verify_file(path, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_int_equal(audit_verify_file_anchored(path, anchor, &n, head, &at, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "past the end of the log"));
  assert_int_equal(audit_verify_file_anchored(path, h5, &n, head, &at, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "is not in the log"));
  /* emptied */
  store_lines(path, lines, 0);
  assert_int_equal(audit_verify_file(path, &n, &err), 0);
  assert_int_equal(audit_verify_file_anchored(path, anchor, &n, head, &at, &err), OS_EINVAL);
  /* the tail rewritten with a fresh chain from line 3 on */
  path_of(forged, sizeof(forged), "forged.log");
  store_lines(forged, lines, 3);
  assert_int_equal(audit_log_open(&a, forged, &err), 0);
  for (int i = 4; i <= 7; i++)
    append(a, "unseal", "OTHER");
  audit_log_close(a);
  assert_int_equal(audit_verify_file(forged, &n, &err), 0);
  assert_int_equal(n, 7);
  assert_int_equal(audit_verify_file_anchored(forged, anchor, &n, head, &at, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "cut off or rewritten"));
  /* the head of line 3, recorded before the forgery, is still there */
  store_lines(path, lines, 7);
  char h3[AUDIT_HASH_HEX_LEN + 1];
  assert_int_equal(audit_verify_file_head(forged, &n, head, &err), 0);
  {
    char tmp3[128];
    path_of(tmp3, sizeof(tmp3), "three.log");
    store_lines(tmp3, lines, 3);
    assert_int_equal(audit_verify_file_head(tmp3, &n, h3, &err), 0);
  }
  snprintf(anchor, sizeof(anchor), "3:%s", h3);
  assert_int_equal(audit_verify_file_anchored(forged, anchor, &n, head, &at, &err), 0);
  assert_int_equal(at, 3);
  /* the start of every chain, and malformed heads */
  assert_int_equal(audit_verify_file_anchored(
                       path, "0:0000000000000000000000000000000000000000000000000000000000000000",
                       &n, head, &at, &err),
                   0);
  assert_int_equal(audit_verify_file_anchored(path, "xyz", &n, head, &at, &err), OS_EINVAL);
  assert_int_equal(audit_verify_file_anchored(path, "5:abc", &n, head, &at, &err), OS_EINVAL);
  snprintf(anchor, sizeof(anchor), ":%s", h5);
  assert_int_equal(audit_verify_file_anchored(path, anchor, &n, head, &at, &err), OS_EINVAL);
  free_lines(lines, nl);
}

/* Runs fn with stderr going to a file; returns what was written. */
static char *stderr_of(void (*fn)(const char *), const char *arg) {
  char cap[128];
  path_of(cap, sizeof(cap), "stderr.txt");
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(cap, "w");
  assert_non_null(f);
  dup2(fileno(f), 2);
  fn(arg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(f);
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, cap, 1 << 20, &err), 0);
  return data;
}

static char logged_anchor[AUDIT_HASH_HEX_LEN + 32];

static void open_append_close(const char *path) {
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, path, &err), 0);
  audit_log_set_head_interval(a, 0);
  append(a, "unseal", "DB_PASSWORD");
  unsigned long long seq = 0;
  char h[AUDIT_HASH_HEX_LEN + 1];
  audit_log_head(a, &seq, h);
  snprintf(logged_anchor, sizeof(logged_anchor), "%llu:%s", seq, h);
  audit_log_close(a);
}

static void test_head_is_logged(void **state) {
  (void)state;
  char path[128];
  path_of(path, sizeof(path), "logged.log");
  char *out = stderr_of(open_append_close, path);
  assert_non_null(strstr(out, "opened: chain head seq 0 sha256 "
                              "0000000000000000000000000000000000000000000000000000000000000000"));
  char want[256];
  snprintf(want, sizeof(want), "growing: chain head seq %s", "1 sha256 ");
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof(want), "closed: chain head seq 1 sha256 %s", logged_anchor + 2);
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof(want), "--head %s", logged_anchor);
  assert_non_null(strstr(out, want));
  assert_null(strstr(out, "DB_PASSWORD"));
  free(out);
  os_error err = OS_ERROR_INIT;
  size_t n = 0, at = 0;
  assert_int_equal(audit_verify_file_anchored(path, logged_anchor, &n, NULL, &at, &err), 0);
  assert_int_equal(at, 1);
}

static void test_symlink_refused(void **state) {
  (void)state;
  char real[128], link[128], dangling[128], nowhere[128];
  path_of(real, sizeof(real), "real.log");
  path_of(link, sizeof(link), "link.log");
  path_of(dangling, sizeof(dangling), "dangling.log");
  path_of(nowhere, sizeof(nowhere), "nowhere.log");
  make_log(real, 2);
  assert_int_equal(symlink(real, link), 0);
  assert_int_equal(symlink(nowhere, dangling), 0);
  os_error err = OS_ERROR_INIT;
  audit_log *a = NULL;
  assert_int_equal(audit_log_open(&a, link, &err), OS_EINVAL);
  assert_null(a);
  assert_non_null(strstr(err.msg, "symbolic link"));
  assert_int_equal(audit_log_open(&a, dangling, &err), OS_EINVAL);
  assert_int_equal(access(nowhere, F_OK), -1);
  size_t n = 0;
  assert_int_equal(audit_verify_file(real, &n, &err), 0);
  assert_int_equal(n, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_and_chain_across_reopen),
      cmocka_unit_test(test_value_fields_refused),
      cmocka_unit_test(test_verify_edited),
      cmocka_unit_test(test_verify_removed),
      cmocka_unit_test(test_verify_reordered),
      cmocka_unit_test(test_verify_truncated_and_garbage),
      cmocka_unit_test(test_second_writer_refused),
      cmocka_unit_test(test_longest_line_resumes),
      cmocka_unit_test(test_concurrent_appends),
      cmocka_unit_test(test_tail_cut_needs_the_recorded_head),
      cmocka_unit_test(test_head_is_logged),
      cmocka_unit_test(test_symlink_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
