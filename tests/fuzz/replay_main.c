/* A main() for the fuzz targets outside libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line (or
 * found in a directory named there), so that the ordinary test build
 * compiles every target and runs it over its seeds (ctest fuzz_replay.*),
 * under the sanitizers in the sanitizer build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path, size_t *count) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  size_t cap = 1u << 16, len = 0;
  uint8_t *buf = malloc(cap);
  int rc = -1;
  while (buf != NULL) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap)
      break;
    if (cap > (64u << 20)) {
      fprintf(stderr, "replay: %s is over 64 MiB\n", path);
      goto done;
    }
    uint8_t *nb = realloc(buf, cap * 2);
    if (nb == NULL)
      goto done;
    buf = nb;
    cap *= 2;
  }
  if (buf == NULL || ferror(f)) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    goto done;
  }
  (void)LLVMFuzzerTestOneInput(buf, len);
  (*count)++;
  rc = 0;
done:
  free(buf);
  fclose(f);
  return rc;
}

static int run_path(const char *path, size_t *count) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: no such file or directory: %s\n", path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return run_file(path, count);
  struct dirent **names = NULL;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "replay: cannot list %s\n", path);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char child[4096];
    if (names[i]->d_name[0] != '.' &&
        snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name) < (int)sizeof(child) &&
        run_path(child, count) != 0)
      rc = -1;
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize != NULL)
    (void)LLVMFuzzerInitialize(&argc, &argv);
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc; i++)
    if (run_path(argv[i], &count) != 0)
      rc = 1;
  printf("replay: %zu inputs\n", count);
  if (count == 0) {
    fprintf(stderr, "replay: no inputs\n");
    return 1;
  }
  return rc;
}
