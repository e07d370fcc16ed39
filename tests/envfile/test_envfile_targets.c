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
#include "../common/scratch.h"

static char *slurp(const char *path) {
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, path, 1u << 20, &err), 0);
  return data;
}

/* One org-level target writing A=1 to env_file, keeping KEEP's old value. */
static int sync_one(reconcile_envfiles_result *res, const char *dir, const char *env_file) {
  static const char *const kept[] = {"KEEP"};
  reconcile_plan_entry e = {"A", (const uint8_t *)"1", 1};
  reconcile_plan_target t = {.organization = "acme", .environment = "prod",
                   .env_file = (char *)(uintptr_t)env_file, .entries = &e, .n_entries = 1,
                   .kept = (const char **)(uintptr_t)kept, .n_kept = 1};
  reconcile_plan p = {.targets = &t, .n_targets = 1};
  os_error err = OS_ERROR_INIT;
  return reconcile_envfiles_sync(res, &p, dir, NULL, NULL, &err);
}

static void test_writes_and_keeps(void **state) {
  const char *dir = *state;
  reconcile_envfiles_result res;
  assert_int_equal(sync_one(&res, dir, "apps/prod.env"), 0);
  assert_int_equal(res.written, 1);
  char f[PATH_MAX];
  scratch_at(f, dir, "apps/prod.env");
  char *text = slurp(f);
  assert_string_equal(text, "A=1\n");
  free(text);
  struct stat st;
  assert_int_equal(stat(f, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  scratch_put(f, "A=1\nKEEP=old\n");
  assert_int_equal(chmod(f, 0600), 0);
  assert_int_equal(sync_one(&res, dir, "apps/prod.env"), 0);
  text = slurp(f);
  assert_string_equal(text, "A=1\nKEEP=old\n"); /* a kept name keeps its value */
  free(text);
  assert_int_equal(res.unchanged, 1);
}

static void test_never_through_links(void **state) {
  const char *dir = *state;
  char outside[64];
  scratch_dir(outside);
  char victim[PATH_MAX];
  scratch_at(victim, outside, "victim");
  scratch_put(victim, "KEEP=outside-value\n");
  /* the env file itself is a link out of the folder */
  char link[PATH_MAX];
  scratch_at(link, dir, "prod.env");
  assert_int_equal(symlink(victim, link), 0);
  reconcile_envfiles_result res;
  assert_true(sync_one(&res, dir, "prod.env") < 0);
  assert_int_equal(res.failed, 1);
  char *text = slurp(victim);
  assert_string_equal(text, "KEEP=outside-value\n");
  free(text);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  /* a directory on the way is a link out of the folder */
  char dlink[PATH_MAX];
  scratch_at(dlink, dir, "apps");
  assert_int_equal(symlink(outside, dlink), 0);
  assert_true(sync_one(&res, dir, "apps/victim") < 0);
  assert_true(sync_one(&res, dir, "apps/new.env") < 0);
  text = slurp(victim);
  assert_string_equal(text, "KEEP=outside-value\n");
  free(text);
  char created[PATH_MAX];
  scratch_at(created, outside, "new.env");
  assert_int_equal(access(created, F_OK), -1);
  /* a FIFO is refused, not waited on */
  char fifo[PATH_MAX];
  scratch_fifo(fifo, dir, "fifo.env");
  assert_true(sync_one(&res, dir, "fifo.env") < 0);
  scratch_assert_fifo(fifo);
  scratch_rm(outside);
}

static void test_sweeps_stale_temporaries(void **state) {
  const char *dir = *state;
  char sub[PATH_MAX];
  scratch_mkdir(sub, dir, "apps");
  char stale[PATH_MAX];
  scratch_at(stale, sub, ".orgsecrets-tmp-a1b2c3d4e5f6");
  char legacy[PATH_MAX];
  scratch_at(legacy, sub, "web.env.tmp.Qw3rTy");
  scratch_put(stale, "A=killed-writer\n");
  scratch_put(legacy, "A=killed-writer\n");
  reconcile_envfiles_result res;
  assert_int_equal(sync_one(&res, dir, "prod.env"), 0);
  assert_int_equal(access(stale, F_OK), -1);
  assert_int_equal(access(legacy, F_OK), -1);
}

int main(void) {
  alarm(30); /* an env file that is a FIFO once made the sync wait forever */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writes_and_keeps, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_never_through_links, scratch_setup, scratch_teardown),
      cmocka_unit_test_setup_teardown(test_sweeps_stale_temporaries, scratch_setup, scratch_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
