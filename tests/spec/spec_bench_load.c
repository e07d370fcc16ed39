/* Measures spec_tree_load on a generated tree: spec_bench_load [N] [DIR].
 * Generates N secrets (default 10000) below DIR (default a new /tmp folder),
 * then loads it several times and prints the best and median times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spec/spec.h"
#include "spec_fixtures.h"

static double clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  size_t n = 10000;
  if (argc > 1) {
    char *end = NULL;
    unsigned long v = strtoul(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || v == 0) {
      fprintf(stderr, "usage: spec_bench_load [N] [DIR]\n");
      return 2;
    }
    n = v;
  }
  char *dir = argc > 2 ? strdup(argv[2]) : fx_tmpdir();
  bool generated = argc <= 2;
  if (generated)
    fx_generate_tree(dir, n);
  enum { RUNS = 7 };
  double t[RUNS], cpu[RUNS];
  size_t loaded = 0;
  for (int r = 0; r < RUNS; r++) {
    os_error err = OS_ERROR_INIT;
    spec_tree *tree = NULL;
    double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    int rc = spec_tree_load(&tree, dir, &err);
    t[r] = clock_ms(CLOCK_MONOTONIC) - t0;
    cpu[r] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (rc < 0) {
      fprintf(stderr, "load failed: %s\n", err.msg);
      return 1;
    }
    loaded = tree->n_secrets;
    spec_tree_free(tree);
  }
  qsort(t, RUNS, sizeof(t[0]), cmp_double);
  qsort(cpu, RUNS, sizeof(cpu[0]), cmp_double);
  printf("spec_tree_load: %zu secrets, wall best %.1f ms, median %.1f ms; cpu best %.1f ms, "
         "median %.1f ms (%d runs, warm cache)\n",
         loaded, t[0], t[RUNS / 2], cpu[0], cpu[RUNS / 2], RUNS);
  if (generated)
    fx_rmtree(dir);
  free(dir);
  return 0;
}
