/* The controller's env-file targets (pkg/reconcile/envfiles.c) as files:
 * never written or read through a symbolic link below --env-file-dir, never
 * a FIFO, and stale temporary files of a killed writer swept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "reconcile/envfiles.h"

static char *mkdtemp_dup(void) {
  char *d = strdup("/tmp/os-envfiles-XXXXXX");
  assert_non_null(d);
  assert_non_null(mkdtemp(d));
  return d;
}

static char *at(const char *dir, const char *name) {
  char *p = os_path_join(dir, name);
  assert_non_null(p);
  return p;
}

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path) {
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, path, 1u << 20, &err), 0);
  return data;
}

/* One org-level target writing A=1 to env_file, keeping KEEP's old value. */
static int sync_one(envfiles_result *res, const char *dir, const char *env_file) {
  static const char *const kept[] = {"KEEP"};
  plan_entry e = {"A", (const uint8_t *)"1", 1};
  plan_target t;
  memset(&t, 0, sizeof(t));
  t.organization = (char *)(uintptr_t) "acme";
  t.environment = (char *)(uintptr_t) "prod";
  t.env_file = (char *)(uintptr_t)env_file;
  t.entries = &e;
  t.n_entries = 1;
  t.kept = (const char **)(uintptr_t)kept;
  t.n_kept = 1;
  reconcile_plan p;
  memset(&p, 0, sizeof(p));
  p.targets = &t;
  p.n_targets = 1;
  os_error err = OS_ERROR_INIT;
  return envfiles_sync(res, &p, dir, NULL, NULL, &err);
}

static void test_writes_and_keeps(void **state) {
  (void)state;
  char *dir = mkdtemp_dup();
  envfiles_result res;
  assert_int_equal(sync_one(&res, dir, "apps/prod.env"), 0);
  assert_int_equal(res.written, 1);
  char *f = at(dir, "apps/prod.env");
  char *text = slurp(f);
  assert_string_equal(text, "A=1\n");
  free(text);
  struct stat st;
  assert_int_equal(stat(f, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  put(f, "A=1\nKEEP=old\n");
  assert_int_equal(chmod(f, 0600), 0);
  assert_int_equal(sync_one(&res, dir, "apps/prod.env"), 0);
  text = slurp(f);
  assert_string_equal(text, "A=1\nKEEP=old\n"); /* a kept name keeps its value */
  free(text);
  assert_int_equal(res.unchanged, 1);
  free(f);
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(dir);
}

static void test_never_through_links(void **state) {
  (void)state;
  char *dir = mkdtemp_dup(), *outside = mkdtemp_dup();
  char *victim = at(outside, "victim");
  put(victim, "KEEP=outside-value\n");
  /* the env file itself is a link out of the folder */
  char *link = at(dir, "prod.env");
  assert_int_equal(symlink(victim, link), 0);
  envfiles_result res;
  assert_true(sync_one(&res, dir, "prod.env") < 0);
  assert_int_equal(res.failed, 1);
  char *text = slurp(victim);
  assert_string_equal(text, "KEEP=outside-value\n");
  free(text);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  /* a directory on the way is a link out of the folder */
  char *dlink = at(dir, "apps");
  assert_int_equal(symlink(outside, dlink), 0);
  assert_true(sync_one(&res, dir, "apps/victim") < 0);
  assert_true(sync_one(&res, dir, "apps/new.env") < 0);
  text = slurp(victim);
  assert_string_equal(text, "KEEP=outside-value\n");
  free(text);
  char *created = at(outside, "new.env");
  assert_int_equal(access(created, F_OK), -1);
  /* a FIFO is refused, not waited on */
  char *fifo = at(dir, "fifo.env");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_true(sync_one(&res, dir, "fifo.env") < 0);
  assert_int_equal(lstat(fifo, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, outside);
  assert_int_equal(system(cmd), 0);
  free(fifo);
  free(created);
  free(dlink);
  free(link);
  free(victim);
  free(outside);
  free(dir);
}

static void test_sweeps_stale_temporaries(void **state) {
  (void)state;
  char *dir = mkdtemp_dup();
  char *sub = at(dir, "apps");
  assert_int_equal(mkdir(sub, 0700), 0);
  char *stale = at(sub, ".orgsecrets-tmp-a1b2c3d4e5f6");
  char *legacy = at(sub, "web.env.tmp.Qw3rTy");
  put(stale, "A=killed-writer\n");
  put(legacy, "A=killed-writer\n");
  envfiles_result res;
  assert_int_equal(sync_one(&res, dir, "prod.env"), 0);
  assert_int_equal(access(stale, F_OK), -1);
  assert_int_equal(access(legacy, F_OK), -1);
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(legacy);
  free(stale);
  free(sub);
  free(dir);
}

int main(void) {
  alarm(30); /* an env file that is a FIFO once made the sync wait forever */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writes_and_keeps),
      cmocka_unit_test(test_never_through_links),
      cmocka_unit_test(test_sweeps_stale_temporaries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
