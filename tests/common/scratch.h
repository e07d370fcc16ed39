/* Scratch folders and files for cmocka tests (include after cmocka.h):
 * paths live in caller buffers, folders are removed by the test. */
#ifndef ORGSECRETS_TESTS_SCRATCH_H
#define ORGSECRETS_TESTS_SCRATCH_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/fsutil.h"

/* A new folder /tmp/os-test-XXXXXX into out. */
static inline void scratch_dir(char out[64]) {
  snprintf(out, 64, "/tmp/os-test-XXXXXX");
  assert_non_null(mkdtemp(out));
}

static inline void scratch_rm(const char *dir) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* cmocka fixtures: *state is a new scratch folder (char *), removed after
 * the test whatever its outcome. */
static inline int scratch_setup(void **state) {
  char *d = malloc(64);
  assert_non_null(d);
  scratch_dir(d);
  *state = d;
  return 0;
}

static inline int scratch_teardown(void **state) {
  scratch_rm(*state);
  free(*state);
  return 0;
}

/* dir/name into out; returns out. */
static inline const char *scratch_at(char out[PATH_MAX], const char *dir, const char *name) {
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  assert_true(n > 0 && n < PATH_MAX);
  return out;
}

/* Creates the folder dir/name (mode 0700), path into out; returns out. */
static inline const char *scratch_mkdir(char out[PATH_MAX], const char *dir, const char *name) {
  assert_int_equal(mkdir(scratch_at(out, dir, name), 0700), 0);
  return out;
}

/* Creates the FIFO dir/name, path into out; returns out. */
static inline const char *scratch_fifo(char out[PATH_MAX], const char *dir, const char *name) {
  assert_int_equal(mkfifo(scratch_at(out, dir, name), 0600), 0);
  return out;
}

/* Fails unless path is (still) a FIFO. */
static inline void scratch_assert_fifo(const char *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
}

static inline void scratch_put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static inline void scratch_assert_content(const char *path, const char *want) {
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, path, 1u << 20, &err), 0);
  assert_string_equal(data, want);
  free(data);
}

#endif
