/* End-to-end tests of `orgsecrets age` (the real binary, from
 * $ORGSECRETS_BIN) and interop both ways with Debian's age 1.1.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"

#define AGE "/usr/bin/age"
#define AGE_KEYGEN "/usr/bin/age-keygen"
#define MARKER "s3cr3t-marker-9f2c1e"

static const char *bin;
static char dir[64];

/* Runs a shell command with stderr appended to DIR/stderr.txt; returns its
 * exit status. */
__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...) {
  char cmd[4096], full[4300];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  assert_true(n > 0 && (size_t)n < sizeof(cmd));
  n = snprintf(full, sizeof(full), "cd %s && { %s ; } 2>>stderr.txt", dir, cmd);
  assert_true(n > 0 && (size_t)n < sizeof(full));
  int st = system(full);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
}

static char *slurp(const char *name, size_t *len) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  char *data = NULL;
  os_error err = OS_ERROR_INIT;
  if (os_read_file(&data, len, path, 64u << 20, &err) != 0)
    return NULL;
  return data;
}

static void put(const char *name, const void *data, size_t len) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_write_file_atomic(path, data, len, 0600, &err), 0);
}

static bool same_file(const char *a, const char *b) {
  size_t la = 0, lb = 0;
  char *da = slurp(a, &la), *db = slurp(b, &lb);
  bool same = da != NULL && db != NULL && la == lb && memcmp(da, db, la) == 0;
  free(da);
  free(db);
  return same;
}

/* The stderr collected so far; truncates the file. */
static char *take_stderr(void) {
  size_t n = 0;
  char *s = slurp("stderr.txt", &n);
  put("stderr.txt", "", 0);
  return s != NULL ? s : strdup("");
}

static char *first_line(const char *name) {
  size_t n = 0;
  char *s = slurp(name, &n);
  assert_non_null(s);
  char *nl = strchr(s, '\n');
  if (nl != NULL)
    *nl = '\0';
  return s;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/age-cli-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  put("stderr.txt", "", 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Encrypts `size` random bytes (p.bin) to k.txt's recipient as c.age;
 * returns the ciphertext (caller frees) and its length in *n. */
static char *encrypt_random_file(size_t size, size_t *n) {
  assert_int_equal(run("head -c %zu /dev/urandom > p.bin && "
                       "%s age encrypt -r $(grep -o 'age1[a-z0-9]*' k.txt) -o c.age p.bin",
                       size, bin),
                   0);
  char *ct = slurp("c.age", n);
  assert_non_null(ct);
  assert_true(*n > size);
  return ct;
}

static void test_keygen(void **state) {
  (void)state;
  assert_int_equal(run("%s age keygen -o k1.txt", bin), 0);
  struct stat st;
  char path[256];
  snprintf(path, sizeof(path), "%s/k1.txt", dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  size_t n = 0;
  char *text = slurp("k1.txt", &n);
  assert_non_null(text);
  assert_non_null(strstr(text, "# created: "));
  char *pk = strstr(text, "# public key: age1");
  assert_non_null(pk);
  assert_non_null(strstr(text, "\nAGE-SECRET-KEY-1"));
  char *err = take_stderr();
  assert_non_null(strstr(err, "Public key: age1"));
  assert_null(strstr(err, "AGE-SECRET-KEY"));
  /* The public key on stderr is the one in the file's comment. */
  char *pk_end = strchr(pk, '\n');
  *pk_end = '\0';
  assert_non_null(strstr(err, pk + strlen("# public key: ")));
  free(err);
  free(text);
  /* Never overwrites an identity. */
  assert_int_equal(run("%s age keygen -o k1.txt", bin), 1);
  err = take_stderr();
  assert_true(strncmp(err, "orgsecrets: ", 12) == 0);
  free(err);
  /* Without -o: the identity file on stdout. */
  assert_int_equal(run("%s age keygen > k2.txt && chmod 600 k2.txt", bin), 0);
  text = slurp("k2.txt", &n);
  assert_non_null(strstr(text, "# public key: age1"));
  assert_non_null(strstr(text, "\nAGE-SECRET-KEY-1"));
  free(text);
}

static void test_help_and_errors(void **state) {
  (void)state;
  static const char *const subs[] = {"keygen", "encrypt", "decrypt"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(run("%s age %s --help > help.txt", bin, subs[i]), 0);
    char *h = first_line("help.txt");
    assert_non_null(strstr(h, "usage: orgsecrets age"));
    free(h);
  }
  assert_int_equal(run("%s age keygen -o k.txt 2>/dev/null", bin), 0);
  assert_int_equal(run("%s age encrypt -R /dev/null < /dev/null > x.age", bin), 1);
  assert_int_equal(run("HOME=/nonexistent ORGSECRETS_IDENTITY= %s age decrypt < /dev/null", bin), 1);
  char *err = take_stderr();
  /* One line per failure, each starting with "orgsecrets: ". */
  size_t lines = 0;
  for (char *p = err; *p != '\0';) {
    assert_true(strncmp(p, "orgsecrets: ", 12) == 0);
    p = strchr(p, '\n');
    assert_non_null(p);
    p++;
    lines++;
  }
  assert_int_equal(lines, 2);
  free(err);
  /* Usage errors exit 2 like every command's, with the usage line. */
  assert_int_equal(run("%s age frobnicate", bin), 2);
  assert_int_equal(run("%s age encrypt --bogus -r x", bin), 2);
  assert_int_equal(run("%s age decrypt -i", bin), 2);
  err = take_stderr();
  assert_non_null(strstr(err, "orgsecrets: age: unknown command frobnicate"));
  assert_non_null(strstr(err, "usage: orgsecrets age"));
  free(err);
  /* An identity file readable by others is refused. */
  assert_int_equal(run("chmod 644 k.txt && echo x | %s age decrypt -i k.txt", bin), 1);
  err = take_stderr();
  assert_non_null(strstr(err, "too open"));
  assert_true(strncmp(err, "orgsecrets: ", 12) == 0);
  assert_string_equal(strchr(err, '\n'), "\n");
  free(err);
  assert_int_equal(run("chmod 600 k.txt"), 0);
  /* -o: a failed decryption leaves neither the output nor a temp file. */
  size_t n = 0;
  char *ct = encrypt_random_file(300000, &n);
  ct[n - 100] ^= 1;
  put("bad.age", ct, n);
  free(ct);
  assert_int_equal(run("%s age decrypt -i k.txt -o out.bin bad.age", bin), 1);
  err = take_stderr();
  assert_non_null(strstr(err, "authentication failed"));
  free(err);
  DIR *d = opendir(dir);
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    assert_true(strncmp(de->d_name, "out.bin", 7) != 0);
  closedir(d);
  /* Without -o, only the authentic prefix reached stdout. */
  assert_int_equal(run("%s age decrypt -i k.txt bad.age > prefix.bin", bin), 1);
  size_t pn = 0, fn = 0;
  char *prefix = slurp("prefix.bin", &pn), *full = slurp("p.bin", &fn);
  assert_int_equal(pn, 4 * 65536);
  assert_memory_equal(prefix, full, pn);
  free(prefix);
  free(full);
  assert_int_equal(run("%s age decrypt -i k.txt -o out.bin c.age", bin), 0);
  assert_true(same_file("out.bin", "p.bin"));
  free(take_stderr());
}

/* A secret value never shows up on stderr, and comes back on stdout. */
static void test_no_secret_on_stderr(void **state) {
  (void)state;
  assert_int_equal(run("%s age keygen -o s.txt", bin), 0);
  assert_int_equal(run("R=$(grep -o 'age1[a-z0-9]*' s.txt) && printf %%s '" MARKER
                       "' | %s age encrypt -a -r $R > s.age",
                       bin),
                   0);
  assert_int_equal(run("%s age decrypt -i s.txt s.age > s.out", bin), 0);
  assert_int_equal(run("ORGSECRETS_IDENTITY=s.txt %s age decrypt s.age > s2.out", bin), 0);
  assert_true(same_file("s.out", "s2.out"));
  assert_int_equal(run("%s age keygen -o other.txt && %s age decrypt -i other.txt s.age", bin,
                       bin),
                   1);
  size_t n = 0;
  char *out = slurp("s.out", &n);
  assert_int_equal(n, strlen(MARKER));
  assert_memory_equal(out, MARKER, n);
  free(out);
  char *ct = slurp("s.age", &n);
  assert_null(strstr(ct, MARKER));
  free(ct);
  char *err = take_stderr();
  assert_null(strstr(err, MARKER));
  assert_null(strstr(err, "AGE-SECRET-KEY"));
  assert_non_null(strstr(err, "no identity matched"));
  free(err);
}

static void test_interop_with_age(void **state) {
  (void)state;
  if (access(AGE, X_OK) != 0 || access(AGE_KEYGEN, X_OK) != 0) {
    print_message("interop: %s not installed, skipping\n", AGE);
    skip();
  }
  /* kA from age-keygen; kB, kC from orgsecrets. */
  assert_int_equal(run(AGE_KEYGEN " -o kA.txt 2>/dev/null && %s age keygen -o kB.txt 2>/dev/null"
                       " && %s age keygen -o kC.txt 2>/dev/null",
                       bin, bin),
                   0);
  assert_int_equal(run("for k in A B C; do " AGE_KEYGEN " -y k$k.txt > r$k.txt; done && "
                       "cat rA.txt rB.txt rC.txt > r3.txt"),
                   0);
  static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 10u << 20};
  int runs = 0;
  for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
    uint8_t *pt = malloc(sizes[s] + 1);
    if (sizes[s] > 0)
      assert_int_equal(RAND_bytes(pt, (int)sizes[s]), 1);
    put("pt.bin", pt, sizes[s]);
    free(pt);
    for (int armor = 0; armor <= 1; armor++) {
      const char *a = armor ? "-a" : "";
      /* orgsecrets -> age: one recipient (an age-keygen key), three (-R). */
      assert_int_equal(run("%s age encrypt %s -r $(cat rA.txt) -o c1.age pt.bin", bin, a), 0);
      assert_int_equal(run(AGE " -d -i kA.txt c1.age > o1.bin"), 0);
      assert_true(same_file("o1.bin", "pt.bin"));
      assert_int_equal(run("%s age encrypt %s -R r3.txt < pt.bin > c3.age", bin, a), 0);
      assert_int_equal(run(AGE " -d -i kC.txt < c3.age > o3.bin"), 0);
      assert_true(same_file("o3.bin", "pt.bin"));
      assert_int_equal(run(AGE " -d -i kA.txt c3.age > o3a.bin"), 0);
      assert_true(same_file("o3a.bin", "pt.bin"));
      /* age -> orgsecrets. */
      assert_int_equal(run(AGE " -e %s -r $(cat rB.txt) -o d1.age pt.bin", a), 0);
      assert_int_equal(run("%s age decrypt -i kB.txt -o p1.bin d1.age", bin), 0);
      assert_true(same_file("p1.bin", "pt.bin"));
      assert_int_equal(run(AGE " -e %s -R r3.txt -o d3.age pt.bin", a), 0);
      assert_int_equal(run("%s age decrypt -i kA.txt < d3.age > p3.bin", bin), 0);
      assert_true(same_file("p3.bin", "pt.bin"));
      assert_int_equal(run("%s age decrypt -i kB.txt -i kC.txt -o p3c.bin d3.age", bin), 0);
      assert_true(same_file("p3c.bin", "pt.bin"));
      runs += 7;
    }
  }
  char *err = take_stderr();
  if (err[0] != '\0')
    fail_msg("unexpected stderr output (%zu bytes)", strlen(err));
  free(err);
  print_message("interop: %d decryptions across age 1.1.1 and orgsecrets matched\n", runs);
}

/* Exit status 1 and one "orgsecrets: " line on stderr that contains what. */
static void expect_one_error(int rc, const char *what) {
  char *err = take_stderr();
  if (rc != 1)
    fail_msg("exit %d (expected 1), stderr: %s", rc, err);
  assert_true(strncmp(err, "orgsecrets: ", 12) == 0);
  assert_non_null(strstr(err, what));
  assert_string_equal(strchr(err, '\n'), "\n");
  free(err);
}

/* A damaged chunk early in a large binary file stops the decryption while
 * its reader thread is still busy: the CLI must exit 1 with the error, not
 * crash or hang. The reader is stopped, not cancelled: cancellation loads
 * libgcc_s at run time, which the image lacks (exit 134/139 there), so as
 * root the same decryption also runs with libgcc_s hidden. */
static void test_damaged_large_file(void **state) {
  (void)state;
  assert_int_equal(run("%s age keygen -o k.txt 2>/dev/null", bin), 0);
  size_t n = 0;
  char *ct = encrypt_random_file(4194304, &n);
  ct[100000] ^= 1; /* the second chunk: the reader is ahead, reading the next segment */
  put("bad.age", ct, n);
  free(ct);
  free(take_stderr());

  /* From a file, and from a pipe whose writer stays open but silent (the
   * reader waits in read(2)); timeout turns a hang into 124. */
  expect_one_error(run("%s age decrypt -i k.txt bad.age > out.bin", bin), "authentication failed");
  expect_one_error(
      run("(head -c 700000 bad.age; sleep 30 &) | timeout 10 %s age decrypt -i k.txt > out.bin", bin),
      "authentication failed");

  const char *san = getenv("ORGSECRETS_SANITIZED");
  if (geteuid() != 0 || (san != NULL && san[0] == '1') || access("/usr/bin/unshare", X_OK) != 0) {
    print_message("damaged file with libgcc_s hidden: needs root, unshare and an "
                  "unsanitized build, skipped\n");
    return;
  }
  expect_one_error(run("lib=$(/sbin/ldconfig -p | awk '$1 == \"libgcc_s.so.1\" { print $NF; exit }') && "
                       "test -n \"$lib\" && /usr/bin/unshare -m sh -c "
                       "'mount --bind /dev/null \"$1\" && exec \"$2\" age decrypt -i k.txt bad.age' "
                       "sh \"$(readlink -f \"$lib\")\" %s > out.bin",
                       bin),
                   "authentication failed");
}

int main(int argc, char **argv) {
  bin = getenv("ORGSECRETS_BIN");
  if (bin == NULL && argc > 1)
    bin = argv[1];
  if (bin == NULL || access(bin, X_OK) != 0) {
    fprintf(stderr, "set ORGSECRETS_BIN to the orgsecrets executable\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_help_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_secret_on_stderr, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interop_with_age, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_large_file, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
