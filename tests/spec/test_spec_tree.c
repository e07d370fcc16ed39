/* pkg/spec folder tests: every bad-input class names FILE:LINE, failed
 * loads leave files untouched, canonical round trip of a 1,000-secret tree,
 * single-file rewrites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "spec/spec.h"
#include "spec_fixtures.h"

#define SECRET_FILE "secrets/prod/DATABASE_PASSWORD.yaml"

/* Replaces the first occurrence of from in s by to; fails the test when absent. */
static char *replace(const char *s, const char *from, const char *to) {
  const char *p = strstr(s, from);
  if (p == NULL)
    fail_msg("fixture text lacks \"%s\"", from);
  size_t a = (size_t)(p - s), b = strlen(from), c = strlen(to), n = strlen(s);
  char *out = malloc(n - b + c + 1);
  assert_non_null(out);
  memcpy(out, s, a);
  memcpy(out + a, to, c);
  memcpy(out + a + c, p + b, n - a - b + 1);
  return out;
}

static char *org_text(void) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_org_text(&b);
  return b.data;
}

/* Canonical prod secret DATABASE_PASSWORD of app api (line numbers in the
 * tests below refer to this layout: 7 environment, 11 state, 12
 * visibleToViewers, 14 createdAt, 18 recipients, 22 encryptedValue). */
static char *secret_text(void) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_secret_text(&b, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 0);
  return b.data;
}

/* A payload line of the fixture's armor, to check messages never carry it. */
static void payload_line(char *out, size_t size) {
  os_buf b;
  os_buf_init(&b, 4096, false);
  fx_armor(&b, 0, "");
  const char *nl = strchr(b.data, '\n');
  snprintf(out, size, "%.40s", nl + 1);
  os_buf_free(&b);
}

typedef struct snapshot {
  const char *rel[8];
  char *data[8];
  size_t n;
} snapshot;

/* Writes the organization (unless org_override is "" -> none) plus the
 * given files, loads, and checks the error; then checks files untouched. */
static void expect_error(const char *org_override, const char *const *files, size_t n_files,
                         int want_code, const char *want_prefix, const char *want_substring) {
  char *dir = fx_tmpdir();
  snapshot snap = {0};
  char *org = org_text();
  if (org_override == NULL || org_override[0] != '\0') {
    fx_write(dir, "organization.yaml", org_override ? org_override : org);
    snap.rel[snap.n] = "organization.yaml";
    snap.data[snap.n++] = strdup(org_override ? org_override : org);
  }
  for (size_t i = 0; i < n_files; i++) {
    fx_write(dir, files[2 * i], files[2 * i + 1]);
    snap.rel[snap.n] = files[2 * i];
    snap.data[snap.n++] = strdup(files[2 * i + 1]);
  }
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  int rc = spec_tree_load(&t, dir, &err);
  if (rc == 0)
    fail_msg("load succeeded; expected \"%s ... %s\"", want_prefix, want_substring);
  assert_null(t);
  assert_int_equal(rc, want_code);
  assert_int_equal(err.code, want_code);
  if (strncmp(err.msg, want_prefix, strlen(want_prefix)) != 0 || strstr(err.msg, want_substring) == NULL)
    fail_msg("got \"%s\"; want prefix \"%s\" and \"%s\"", err.msg, want_prefix, want_substring);
  char payload[64];
  payload_line(payload, sizeof(payload));
  assert_null(strstr(err.msg, payload));
  assert_null(strstr(err.msg, "BEGIN AGE"));
  for (size_t i = 0; i < snap.n; i++) {
    size_t len = 0;
    char *now = fx_read(dir, snap.rel[i], &len);
    assert_non_null(now);
    assert_int_equal(len, strlen(snap.data[i]));
    assert_memory_equal(now, snap.data[i], len);
    free(now);
    free(snap.data[i]);
  }
  free(org);
  fx_rmtree(dir);
  free(dir);
}

static void expect_secret_error(const char *secret, const char *prefix, const char *substring) {
  const char *files[] = {SECRET_FILE, secret};
  expect_error(NULL, files, 1, OS_EINVAL, prefix, substring);
}

static void expect_secret_edit(const char *from, const char *to, const char *prefix,
                               const char *substring) {
  char *s = secret_text();
  char *bad = replace(s, from, to);
  expect_secret_error(bad, prefix, substring);
  free(bad);
  free(s);
}

static void expect_org_edit(const char *from, const char *to, const char *prefix,
                            const char *substring) {
  char *o = org_text();
  char *bad = replace(o, from, to);
  expect_error(bad, NULL, 0, OS_EINVAL, prefix, substring);
  free(bad);
  free(o);
}

static void test_good_tree_loads(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  char *org = org_text(), *sec = secret_text();
  fx_write(dir, "organization.yaml", org);
  fx_write(dir, SECRET_FILE, sec);
  /* Ignored: hidden directories, node_modules, other extensions. */
  fx_write(dir, ".git/bad.yaml", "not: [valid");
  fx_write(dir, "node_modules/pkg/bad.yml", "kind: Junk\n");
  fx_write(dir, "README.md", "# notes\n");
  char fifo[PATH_MAX];
  snprintf(fifo, sizeof(fifo), "%s/pipe.yaml", dir);
  assert_int_equal(mkfifo(fifo, 0644), 0); /* not a regular file: skipped, never opened */
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_non_null(t->org);
  assert_string_equal(t->org->id, "acme");
  assert_int_equal(t->org->rotation_days, 90);
  assert_int_equal(t->org->n_members, 3);
  assert_null(t->org->members[2].recipient);
  assert_int_equal(t->org->members[2].role, SPEC_ROLE_VIEWER);
  assert_int_equal(t->org->n_envs, 3);
  assert_string_equal(t->org->envs[2].secret_name, "acme-secrets");
  assert_int_equal(t->org->envs[2].n_namespaces, 2);
  assert_int_equal(t->n_secrets, 1);
  spec_secret *s = t->secrets[0];
  assert_string_equal(s->pos.file, SECRET_FILE);
  assert_int_equal(s->pos.line, 1);
  assert_string_equal(s->application, "api");
  assert_string_equal(s->created_at, "2026-11-26T10:00:00Z");
  assert_int_equal(s->n_recipients, 3);
  assert_true(strncmp(s->encrypted_value, "-----BEGIN AGE ENCRYPTED FILE-----\n", 35) == 0);
  assert_ptr_equal(spec_tree_find_secret(t, "prod", "api", "DATABASE_PASSWORD"), s);
  assert_null(spec_tree_find_secret(t, "dev", NULL, "DATABASE_PASSWORD"));
  spec_tree_free(t);
  free(org);
  free(sec);
  fx_rmtree(dir);
  free(dir);
}

static void test_secret_field_errors(void **state) {
  (void)state;
  expect_secret_edit("  visibleToViewers: false\n", "  visibleToViewers: \"yes\"\n",
                     SECRET_FILE ":12: ", "spec.visibleToViewers: expected a boolean");
  expect_secret_edit("  state: active\n", "  state: active\n  colour: blue\n", SECRET_FILE ":12: ",
                     "spec.colour: unknown field");
  expect_secret_edit("  name: acme.prod.api.database-password\n",
                     "  name: acme.prod.api.database-password\n  namespace: default\n",
                     SECRET_FILE ":5: ", "metadata.namespace: unknown field");
  expect_secret_edit("  state: active\n", "  state: active\n  state: disabled\n",
                     SECRET_FILE ":12: ", "spec.state: duplicate key (first at line 11)");
  expect_secret_edit("  state: active\n", "  state: paused\n", SECRET_FILE ":11: ",
                     "spec.state: \"paused\" is not active or disabled");
  expect_secret_edit("  environment: prod\n", "  environment: prod\n   bad: indent\n",
                     SECRET_FILE ":8: ", "invalid YAML");
  expect_secret_edit("  description: Primary database password\n", "  description: \"unterminated\n",
                     SECRET_FILE ":", "invalid YAML");
  expect_secret_edit("  name: DATABASE_PASSWORD\n", "  name: database_password\n",
                     SECRET_FILE ":8: ", "spec.name: \"database_password\" is not a valid secret name");
  expect_secret_edit(
      "  name: acme.prod.api.database-password\n", "  name: acme.prod.other\n",
      SECRET_FILE ":4: ", "does not match the derived name \"acme.prod.api.database-password\"");
  expect_secret_edit("  recipients:\n    - 0123456789abcdef\n    - 1a2b3c4d5e6f7a8b\n    - fedcba9876543210\n",
                     "", SECRET_FILE ":6: ", "spec.recipients: missing");
  expect_secret_edit("  recipients:\n    - 0123456789abcdef\n    - 1a2b3c4d5e6f7a8b\n    - fedcba9876543210\n",
                     "  recipients: []\n", SECRET_FILE ":18: ", "spec.recipients: empty");
  expect_secret_edit("    - 1a2b3c4d5e6f7a8b\n", "    - 1A2B3C4D5E6F7A8B\n", SECRET_FILE ":20: ",
                     "is not a recipient fingerprint");
  expect_secret_edit("  createdAt: \"2026-11-26T10:00:00Z\"\n", "  createdAt: \"2026-11-26 10:00:00\"\n",
                     SECRET_FILE ":14: ", "spec.createdAt: \"2026-11-26 10:00:00\" is not an RFC 3339 UTC time");
  expect_secret_edit("  createdAt: \"2026-11-26T10:00:00Z\"\n", "  createdAt: \"2026-11-26T10:00:00+01:00\"\n",
                     SECRET_FILE ":14: ", "is not an RFC 3339 UTC time");
  expect_secret_edit("  createdBy: alice@example.com\n", "  createdBy: [alice]\n", SECRET_FILE ":13: ",
                     "spec.createdBy: expected a string");
  expect_secret_edit("  description: Primary database password\n", "  description: 42\n",
                     SECRET_FILE ":10: ", "spec.description: expected a string");
  expect_secret_edit("kind: OrgSecret\n", "kind: Secret\n", SECRET_FILE ":2: ",
                     "kind: unsupported \"Secret\"");
  expect_secret_edit("apiVersion: orgsecrets.io/v1\n", "apiVersion: orgsecrets.io/v2\n",
                     SECRET_FILE ":1: ", "apiVersion: unsupported \"orgsecrets.io/v2\"");
}

static void test_secret_value_errors(void **state) {
  (void)state;
  char *s = secret_text();
  char *start = strstr(s, "  encryptedValue: |\n");
  assert_non_null(start);
  *start = '\0';
  char text[8192];
  snprintf(text, sizeof(text), "%s  encryptedValue: \"\"\n", s);
  expect_secret_error(text, SECRET_FILE ":22: ", "spec.encryptedValue: empty");
  snprintf(text, sizeof(text), "%s  encryptedValue: |\n    hello world\n", s);
  expect_secret_error(text, SECRET_FILE ":22: ", "spec.encryptedValue: not an ASCII-armored age file");
  snprintf(text, sizeof(text),
           "%s  encryptedValue: |\n    -----BEGIN AGE ENCRYPTED FILE-----\n    not*base64\n"
           "    -----END AGE ENCRYPTED FILE-----\n",
           s);
  expect_secret_error(text, SECRET_FILE ":22: ", "not an ASCII-armored age file");
  snprintf(text, sizeof(text), "%s", s);
  assert_null(strstr(text, "hello"));
  /* Larger than SPEC_ENCRYPTED_MAX. */
  os_buf big;
  os_buf_init(&big, 4 << 20, false);
  FX_OK(os_buf_printf(&big, "%s  encryptedValue: |\n    -----BEGIN AGE ENCRYPTED FILE-----\n", s));
  for (int i = 0; i < 9000; i++)
    FX_OK(os_buf_puts(&big, "    QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"));
  FX_OK(os_buf_puts(&big, "    -----END AGE ENCRYPTED FILE-----\n"));
  expect_secret_error(big.data, SECRET_FILE ":22: ", "spec.encryptedValue: larger than 524288 bytes");
  os_buf_free(&big);
  free(s);
}

static void test_cross_document_errors(void **state) {
  (void)state;
  char *s = secret_text();
  /* The same secret twice: both places named. */
  const char *dup[] = {SECRET_FILE, s, "secrets/prod/copy.yaml", s};
  expect_error(NULL, dup, 2, OS_EINVAL, "secrets/prod/copy.yaml:8: ",
               "duplicate secret DATABASE_PASSWORD of application api (first at " SECRET_FILE
               ":8)");
  char *t1 = replace(s, "  environment: prod\n", "  environment: qa\n");
  char *t2 = replace(t1, "acme.prod.", "acme.qa.");
  expect_secret_error(t2, SECRET_FILE ":7: ", "unknown environment \"qa\"");
  free(t1);
  free(t2);
  t1 = replace(s, "  application: api\n", "  application: billing\n");
  t2 = replace(t1, "acme.prod.api.", "acme.prod.billing.");
  expect_secret_error(t2, SECRET_FILE ":9: ", "unknown application \"billing\"");
  free(t1);
  free(t2);
  t1 = replace(s, "  organization: acme\n", "  organization: other\n");
  t2 = replace(t1, "acme.prod.", "other.prod.");
  expect_secret_error(t2, SECRET_FILE ":6: ", "organization \"other\" is not \"acme\"");
  free(t1);
  free(t2);
  /* An error in the second document of a multi-document file. */
  os_buf multi;
  os_buf_init(&multi, 1 << 20, false);
  fx_secret_text(&multi, "dev", "FIRST", NULL, NULL, 1);
  size_t first_lines = 0;
  for (size_t i = 0; i < multi.len; i++)
    first_lines += multi.data[i] == '\n';
  FX_OK(os_buf_puts(&multi, "---\n"));
  char *bad = replace(s, "  visibleToViewers: false\n", "  visibleToViewers: maybe\n");
  FX_OK(os_buf_puts(&multi, bad));
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "bundle.yaml:%zu: ", first_lines + 1 + 12);
  const char *files[] = {"bundle.yaml", multi.data};
  expect_error(NULL, files, 1, OS_EINVAL, prefix, "spec.visibleToViewers: expected a boolean");
  /* Another kind in the folder is an error, not silently ignored. */
  const char *cm[] = {"extra/configmap.yaml",
                      "# a stray manifest\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"};
  expect_error(NULL, cm, 1, OS_EINVAL, "extra/configmap.yaml:2: ", "apiVersion: unsupported \"v1\"");
  const char *cm2[] = {"extra/configmap.yaml",
                       "apiVersion: orgsecrets.io/v1\nkind: ConfigMap\nmetadata:\n  name: x\n"};
  expect_error(NULL, cm2, 1, OS_EINVAL, "extra/configmap.yaml:2: ", "kind: unsupported \"ConfigMap\"");
  /* No Organization; two Organizations. */
  const char *only[] = {SECRET_FILE, s};
  expect_error("", only, 1, OS_ENOTFOUND, "no Organization found below /tmp/", "");
  char *org = org_text();
  const char *two[] = {"teams/org2.yaml", org};
  expect_error(NULL, two, 1, OS_EINVAL, "teams/org2.yaml:1: ",
               "a second Organization (the first is at organization.yaml:1)");
  free(org);
  free(bad);
  os_buf_free(&multi);
  free(s);
}

static void test_org_errors(void **state) {
  (void)state;
  char r[63];
  fx_recipient(r, 1);
  char line[128];
  snprintf(line, sizeof(line), "      recipient: %s\n", r);
  expect_org_edit("    - name: bob@example.com\n", "    - name: alice@example.com\n",
                  "organization.yaml:11: ", "duplicate member alice@example.com (first at organization.yaml:8)");
  expect_org_edit("    - name: staging\n", "    - name: dev\n", "organization.yaml:22: ",
                  "duplicate environment dev (first at organization.yaml:17)");
  expect_org_edit("    - name: web\n", "    - name: api\n", "organization.yaml:41: ",
                  "duplicate application api (first at organization.yaml:37)");
  expect_org_edit("      role: admin\n", "      role: owner\n", "organization.yaml:9: ",
                  "spec.members[0].role: \"owner\" is not a role");
  expect_org_edit(line, "", "organization.yaml:8: ",
                  "spec.members[0]: alice@example.com has role admin but no recipient");
  expect_org_edit(line, "      recipient: ssh-ed25519 AAAA\n", "organization.yaml:10: ",
                  "spec.members[0].recipient: not an age X25519 recipient");
  char ctl[63], ctl_line[128];
  fx_recipient(ctl, 3);
  snprintf(ctl_line, sizeof(ctl_line), "        - %s\n", ctl);
  expect_org_edit(ctl_line, "        - age1notarecipient\n", "organization.yaml:19: ",
                  "spec.environments[0].controllers[0]: \"age1notarecipient\" is not an age X25519 recipient");
  expect_org_edit("      role: viewer\n", "      role: viewer\n      colour: red\n", "organization.yaml:16: ",
                  "spec.members[2].colour: unknown field");
  expect_org_edit("    - name: dev\n", "    - name: Dev\n", "organization.yaml:17: ",
                  "spec.environments[0].name: \"Dev\" is not a DNS-1123 label");
  expect_org_edit("  rotationDays: 90\n", "  rotationDays: ninety\n", "organization.yaml:6: ",
                  "spec.rotationDays: expected an integer");
  expect_org_edit("  rotationDays: 90\n", "  rotationDays: 90\n  owner: me\n", "organization.yaml:7: ",
                  "spec.owner: unknown field");
  expect_org_edit("  name: acme\n", "  name: Acme Corp\n", "organization.yaml:4: ",
                  "metadata.name: \"Acme Corp\" is not a DNS-1123 label");
  expect_org_edit("      envFile: prod.env\n", "      envFile: ../../etc/passwd\n",
                  "organization.yaml:35: ", "envFile: must be a relative path");
}

static void test_empty_and_minimal(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_load(&t, dir, &err), OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, "no Organization found below "));
  fx_write(dir, "organization.yaml",
           "apiVersion: orgsecrets.io/v1\nkind: Organization\nmetadata:\n  name: solo\nspec: {}\n");
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_string_equal(t->org->id, "solo");
  assert_int_equal(t->n_secrets, 0);
  assert_int_equal(spec_tree_write_file(t, "organization.yaml", &err), 0);
  spec_tree_free(t);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/missing", dir);
  assert_int_equal(spec_tree_load(&t, path, &err), OS_ENOTFOUND);
  fx_rmtree(dir);
  free(dir);
}

static void test_file_too_large(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  char *org = org_text();
  fx_write(dir, "organization.yaml", org);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/huge.yaml", dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)SPEC_FILE_MAX + 1), 0);
  close(fd);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_load(&t, dir, &err), OS_EINVAL);
  assert_string_equal(err.msg, "huge.yaml: larger than 16777216 bytes");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, (off_t)SPEC_FILE_MAX + 1);
  free(org);
  fx_rmtree(dir);
  free(dir);
}

typedef struct file_state {
  char *rel;
  char *data;
  size_t len;
  struct timespec mtime;
} file_state;

static int cmp_rel(const void *a, const void *b) {
  return strcmp(((const file_state *)a)->rel, ((const file_state *)b)->rel);
}

/* Records every distinct document file of t (sorted). */
static file_state *capture(const spec_tree *t, size_t *n_out) {
  file_state *v = calloc(t->n_secrets + 1, sizeof(*v));
  assert_non_null(v);
  size_t n = 0;
  for (size_t i = 0; i <= t->n_secrets; i++) {
    const char *rel = i == t->n_secrets ? t->org->pos.file : t->secrets[i]->pos.file;
    bool seen = false;
    for (size_t k = n; k > 0 && !seen; k--)
      seen = strcmp(v[k - 1].rel, rel) == 0;
    if (seen && i < t->n_secrets)
      continue;
    if (seen)
      continue;
    v[n].rel = strdup(rel);
    v[n].data = fx_read(t->dir, rel, &v[n].len);
    assert_non_null(v[n].data);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    v[n].mtime = st.st_mtim;
    n++;
  }
  qsort(v, n, sizeof(*v), cmp_rel);
  *n_out = n;
  return v;
}

static void free_capture(file_state *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].rel);
    free(v[i].data);
  }
  free(v);
}

/* Compares two captures; returns how many files differ (bytes or mtime),
 * and the name of the last one in *which. */
static size_t diff_capture(const file_state *a, const file_state *b, size_t n, const char **which) {
  size_t changed = 0;
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(a[i].rel, b[i].rel);
    bool same = a[i].len == b[i].len && memcmp(a[i].data, b[i].data, a[i].len) == 0 &&
                a[i].mtime.tv_sec == b[i].mtime.tv_sec && a[i].mtime.tv_nsec == b[i].mtime.tv_nsec;
    if (!same) {
      changed++;
      *which = a[i].rel;
    }
  }
  return changed;
}

static void test_roundtrip_1000(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  fx_generate_tree(dir, 1000);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(t->n_secrets, 1000);
  /* Parsed on several threads, merged in sorted file order. */
  for (size_t i = 1; i < t->n_secrets; i++) {
    int c = strcmp(t->secrets[i - 1]->pos.file, t->secrets[i]->pos.file);
    assert_true(c < 0 || (c == 0 && t->secrets[i - 1]->pos.line < t->secrets[i]->pos.line));
  }
  size_t n_before = 0, n_after = 0;
  file_state *before = capture(t, &n_before);
  assert_int_equal(n_before, 1 + 980 + 1); /* organization, single files, multi.yaml */
  /* Bytes of each file equal the canonical emission of its documents. */
  for (size_t i = 0; i < n_before; i++) {
    if (strcmp(before[i].rel, "bundles/multi.yaml") != 0)
      continue;
    assert_true(strstr(before[i].data, "\n---\napiVersion: orgsecrets.io/v1\n") != NULL);
  }
  /* Save every file. */
  if (spec_tree_write_file(t, t->org->pos.file, &err) != 0)
    fail_msg("%s", err.msg);
  for (size_t i = 0; i < t->n_secrets; i++)
    if (spec_tree_write_file(t, t->secrets[i]->pos.file, &err) != 0)
      fail_msg("%s", err.msg);
  file_state *after = capture(t, &n_after);
  assert_int_equal(n_before, n_after);
  const char *which = NULL;
  size_t changed = diff_capture(before, after, n_before, &which);
  if (changed != 0)
    fail_msg("%zu files changed by an unchanged save, e.g. %s", changed, which);
  free_capture(after, n_after);

  /* Change one secret's field: exactly its file changes. */
  spec_secret *s = spec_tree_find_secret(t, "staging", "worker", "SECRET_00010_KEY");
  assert_non_null(s);
  free(s->description);
  s->description = strdup("changed: now with a colon");
  if (spec_tree_write_file(t, s->pos.file, &err) != 0)
    fail_msg("%s", err.msg);
  after = capture(t, &n_after);
  assert_int_equal(diff_capture(before, after, n_before, &which), 1);
  assert_string_equal(which, "secrets/staging/SECRET_00010_KEY.yaml");
  free_capture(after, n_after);

  /* Change a secret inside the multi-document file: only that file. */
  spec_secret *m = spec_tree_find_secret(t, "prod", "api", "SECRET_00257_KEY");
  assert_non_null(m);
  assert_string_equal(m->pos.file, "bundles/multi.yaml");
  m->visible_to_viewers = !m->visible_to_viewers;
  if (spec_tree_write_file(t, m->pos.file, &err) != 0)
    fail_msg("%s", err.msg);
  after = capture(t, &n_after);
  assert_int_equal(diff_capture(before, after, n_before, &which), 2);
  free_capture(after, n_after);
  spec_tree_free(t);

  /* The rewritten tree loads and carries both edits. */
  t = NULL;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_string_equal(
      spec_tree_find_secret(t, "staging", "worker", "SECRET_00010_KEY")->description,
      "changed: now with a colon");
  assert_int_equal(t->n_secrets, 1000);
  spec_tree_free(t);
  free_capture(before, n_before);
  fx_rmtree(dir);
  free(dir);
}

/* With files parsed in parallel, the error reported is still the one a
 * sequential load meets first (sorted order), every time. */
static void test_first_error_is_deterministic(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  fx_generate_tree(dir, 1200);
  size_t len = 0;
  char *late = fx_read(dir, "secrets/prod/SECRET_01199_KEY.yaml", &len);
  char *early = fx_read(dir, "bundles/multi.yaml", &len);
  assert_non_null(late);
  assert_non_null(early);
  char *bad_late = replace(late, "  visibleToViewers: false\n", "  visibleToViewers: 0\n");
  char *bad_early = replace(early, "  state: active\n", "  state: gone\n");
  fx_write(dir, "secrets/prod/SECRET_01199_KEY.yaml", bad_late);
  fx_write(dir, "bundles/multi.yaml", bad_early);
  for (int i = 0; i < 5; i++) {
    spec_tree *t = NULL;
    os_error err = OS_ERROR_INIT;
    assert_int_equal(spec_tree_load(&t, dir, &err), OS_EINVAL);
    if (strncmp(err.msg, "bundles/multi.yaml:11: spec.state:", 34) != 0)
      fail_msg("run %d: %s", i, err.msg);
  }
  fx_write(dir, "bundles/multi.yaml", early);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_load(&t, dir, &err), OS_EINVAL);
  assert_true(strncmp(err.msg, "secrets/prod/SECRET_01199_KEY.yaml:12: spec.visibleToViewers:", 61) == 0);
  free(bad_late);
  free(bad_early);
  free(late);
  free(early);
  fx_rmtree(dir);
  free(dir);
}

static void test_edit_and_write(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  char *org = org_text(), *sec = secret_text();
  fx_write(dir, "organization.yaml", org);
  fx_write(dir, SECRET_FILE, sec);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  /* A new secret goes to its default path. */
  spec_secret *n = spec_secret_dup(t->secrets[0]);
  assert_non_null(n);
  free(n->name);
  n->name = strdup("API_TOKEN");
  free(n->pos.file);
  n->pos.file = NULL;
  n->pos.line = 0;
  assert_int_equal(spec_tree_put_secret(t, n, &err), 0);
  assert_string_equal(n->pos.file, "secrets/prod/api/API_TOKEN.yaml");
  assert_int_equal(spec_tree_write_file(t, n->pos.file, &err), 0);
  /* Replacing keeps the old place. */
  spec_secret *r = spec_secret_dup(n);
  free(r->pos.file);
  r->pos.file = strdup("elsewhere.yaml");
  free(r->description);
  r->description = strdup("replaced");
  assert_int_equal(spec_tree_put_secret(t, r, &err), 0);
  assert_string_equal(r->pos.file, "secrets/prod/api/API_TOKEN.yaml");
  assert_int_equal(t->n_secrets, 2);
  assert_int_equal(spec_tree_validate(t, NULL, NULL, &err), 0);
  spec_tree_free(t);
  t = NULL;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(t->n_secrets, 2);
  /* Taking a secret and writing its file removes the file. */
  spec_secret *taken = spec_tree_take_secret(t, "prod", "api", "DATABASE_PASSWORD");
  assert_non_null(taken);
  assert_int_equal(t->n_secrets, 1);
  assert_int_equal(spec_tree_write_file(t, taken->pos.file, &err), 0);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, SECRET_FILE);
  assert_int_equal(access(path, F_OK), -1);
  spec_secret_free(taken);
  assert_null(spec_tree_take_secret(t, "prod", "api", "DATABASE_PASSWORD"));
  spec_tree_free(t);
  free(org);
  free(sec);
  fx_rmtree(dir);
  free(dir);
}

typedef struct file_problems {
  int n;
  char where[4][128];
  char msg[4][OS_ERROR_MSG_MAX];
} file_problems;

static void collect_files(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  file_problems *p = ctx;
  assert_true(is_error);
  if (p->n < 4) {
    snprintf(p->where[p->n], sizeof(p->where[0]), "%s:%d", pos->file, pos->line);
    snprintf(p->msg[p->n], sizeof(p->msg[0]), "%s", msg);
  }
  p->n++;
}

static void test_load_partial(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  char *org = org_text(), *sec = secret_text();
  fx_write(dir, "organization.yaml", org);
  fx_write(dir, SECRET_FILE, sec);
  char *bad = replace(sec, "  state: active\n", "  state: paused\n");
  fx_write(dir, "secrets/prod/BAD.yaml", bad);
  fx_write(dir, "secrets/dev/broken.yaml", "apiVersion: [\n");
  spec_tree *t = NULL;
  size_t n_bad = 0;
  os_error err = OS_ERROR_INIT;
  file_problems p = {0};
  assert_int_equal(spec_tree_load_partial(&t, &n_bad, dir, collect_files, &p, &err), 0);
  assert_int_equal(n_bad, 2);
  assert_int_equal(p.n, 2);
  assert_string_equal(p.where[0], "secrets/dev/broken.yaml:2");
  assert_non_null(strstr(p.msg[0], "invalid YAML"));
  assert_string_equal(p.where[1], "secrets/prod/BAD.yaml:11");
  assert_string_equal(p.msg[1], "spec.state: \"paused\" is not active or disabled");
  assert_true(strncmp(err.msg, "secrets/dev/broken.yaml:2: ", 27) == 0);
  assert_int_equal(t->n_secrets, 1);
  assert_int_equal(spec_tree_validate(t, NULL, NULL, &err), 0);
  spec_tree_free(t);
  free(bad);
  free(org);
  free(sec);
  fx_rmtree(dir);
  free(dir);
}

/* Organization and secrets in one multi-document file: saved unchanged
 * byte for byte, Organization first. */
static void test_single_file_folder(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_org_text(&b);
  FX_OK(os_buf_puts(&b, "---\n"));
  fx_secret_text(&b, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 0);
  FX_OK(os_buf_puts(&b, "---\n"));
  fx_secret_text(&b, "dev", "API_KEY", NULL, NULL, 1);
  fx_write(dir, "all.yaml", b.data);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_tree_load(&t, dir, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(t->n_secrets, 2);
  assert_string_equal(t->org->pos.file, "all.yaml");
  /* Rewrite from scratch: remove the file first so the bytes are new. */
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/all.yaml", dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(spec_tree_write_file(t, "all.yaml", &err), 0);
  size_t len = 0;
  char *again = fx_read(dir, "all.yaml", &len);
  assert_non_null(again);
  assert_int_equal(len, b.len);
  assert_memory_equal(again, b.data, len);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  free(again);
  spec_tree_free(t);
  os_buf_free(&b);
  fx_rmtree(dir);
  free(dir);
}

typedef struct problems {
  int errors, warnings;
  char first[OS_ERROR_MSG_MAX];
  char warning[4][OS_ERROR_MSG_MAX];
} problems;

static void collect(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  problems *p = ctx;
  (void)pos;
  if (is_error && p->errors++ == 0)
    snprintf(p->first, sizeof(p->first), "%s", msg);
  if (!is_error && p->warnings++ < 4)
    snprintf(p->warning[p->warnings - 1], sizeof(p->warning[0]), "%s", msg);
}

static void test_validate_reports_all(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  char *org = org_text(), *sec = secret_text();
  fx_write(dir, "organization.yaml", org);
  char *a0 = replace(sec, "  application: api\n", "  application: billing\n");
  char *a = replace(a0, "acme.prod.api.", "acme.prod.billing.");
  free(a0);
  fx_write(dir, SECRET_FILE, a);
  fx_write(dir, "secrets/prod/copy.yaml", a);
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_load(&t, dir, &err), OS_EINVAL);
  assert_int_equal(spec_tree_load_unvalidated(&t, dir, &err), 0);
  problems p = {0};
  assert_int_equal(spec_tree_validate(t, collect, &p, &err), OS_EINVAL);
  assert_int_equal(p.errors, 3); /* two unknown applications and one duplicate */
  assert_non_null(strstr(err.msg, p.first));
  spec_tree_free(t);
  /* Warnings only: shared member key, no admin, repeated controller. */
  char r1[63], r3[63], line2[160];
  fx_recipient(r1, 1);
  fx_recipient(r3, 3);
  char *w1 = replace(org, "      role: admin\n", "      role: member\n");
  snprintf(line2, sizeof(line2), "        - %s\n", r3);
  char line3[256];
  snprintf(line3, sizeof(line3), "        - %s\n        - %s\n", r3, r3);
  char *w2 = replace(w1, line2, line3);
  char bob[63], bob_same[160];
  fx_recipient(bob, 2);
  snprintf(bob_same, sizeof(bob_same), "      recipient: %s\n", bob);
  char shared[160];
  snprintf(shared, sizeof(shared), "      recipient: %s\n", r1);
  char *w3 = replace(w2, bob_same, shared);
  fx_write(dir, "organization.yaml", w3);
  fx_write(dir, SECRET_FILE, sec);
  fx_write(dir, "secrets/prod/copy.yaml", "# nothing\n");
  t = NULL;
  assert_int_equal(spec_tree_load(&t, dir, &err), 0);
  problems w = {0};
  assert_int_equal(spec_tree_validate(t, collect, &w, &err), 0);
  assert_int_equal(w.errors, 0);
  assert_int_equal(w.warnings, 3);
  assert_string_equal(w.warning[0], "member bob@example.com has the same recipient as alice@example.com");
  assert_string_equal(w.warning[1], "organization acme has no admin");
  assert_string_equal(w.warning[2], "environment dev lists controller 0 twice");
  spec_tree_free(t);
  free(w1);
  free(w2);
  free(w3);
  free(a);
  free(org);
  free(sec);
  fx_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_tree_loads),      cmocka_unit_test(test_secret_field_errors),
      cmocka_unit_test(test_secret_value_errors),  cmocka_unit_test(test_cross_document_errors),
      cmocka_unit_test(test_org_errors),           cmocka_unit_test(test_file_too_large),
      cmocka_unit_test(test_empty_and_minimal),
      cmocka_unit_test(test_roundtrip_1000),       cmocka_unit_test(test_first_error_is_deterministic),       cmocka_unit_test(test_edit_and_write),
      cmocka_unit_test(test_validate_reports_all), cmocka_unit_test(test_single_file_folder),
      cmocka_unit_test(test_load_partial),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
