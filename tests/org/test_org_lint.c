/* pkg/org: lint as structured findings (severity, code, object, file:line,
 * message, fix), the naming advice, the plaintext scanner, and access
 * widened since a commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "org_fixture.h"

static const org_finding *find(const org_findings *f, const char *code, const char *object) {
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->v[i].code, code) == 0 &&
        (object == NULL || (f->v[i].object != NULL && strcmp(f->v[i].object, object) == 0)))
      return &f->v[i];
  }
  return NULL;
}

/* find() that fails the test when there is no such finding. */
static const org_finding *must_find(const org_findings *f, const char *code, const char *object) {
  const org_finding *x = find(f, code, object);
  if (x == NULL) {
    fail_msg("no %s finding for %s", code, object ? object : "any object");
    abort();
  }
  return x;
}

static void test_plaintext_kind(void **state) {
  (void)state;
  static const struct {
    const char *line, *kind;
  } cases[] = {
      {"aws_access_key_id = AKIAQWERTYUIOPASDFGH", "an AWS access key id"},
      {"-----BEGIN RSA PRIVATE KEY-----", "a PEM private key"},
      {"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQ", "an age identity (AGE-SECRET-KEY-1...)"},
      {"token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "a GitHub token"},
      {"hook: xoxb-1234567890-abcdefghij", "a Slack token"},
      {"STRIPE=sk_live_abcdefghijklmnop1234", "a Stripe live key"},
      {"  password: correcthorse", "a password-like assignment with a value"},
      {"export DB_PASSWORD='hunter2'", "a password-like assignment with a value"},
      {"x Zr8Kq2VfT1mYp9Lw3NcX7bHd5GsJ0aEu y", "a high-entropy string"},
      {"DB_PASSWORD=${DB_PASSWORD}", NULL},
      {"password: \"\"", NULL},
      {"token: null", NULL},
      {"recipient: age1wch9hde0qpzqjsh56wktdghcf8jccyd96vvy4xmdkavvjqua9dmqzawv04", NULL},
      {"see https://example.com/docs/getting-started", NULL},
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL}, /* long, but no entropy */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *k = org_plaintext_kind(cases[i].line, strlen(cases[i].line));
    if (cases[i].kind == NULL && k != NULL)
      fail_msg("case %zu: flagged as %s", i, k);
    if (cases[i].kind != NULL && (k == NULL || strcmp(k, cases[i].kind) != 0))
      fail_msg("case %zu: got %s", i, k ? k : "nothing");
  }
}

static void test_lint_name(void **state) {
  (void)state;
  org_findings f = {0};
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_lint_name(&f, "prod", NULL, "SECRET123", "x.yaml", 3, &err), 0);
  assert_int_equal(org_lint_name(&f, "prod", NULL, "API_KEY_DEV", NULL, 0, &err), 0);
  assert_int_equal(org_lint_name(&f, "production", NULL, "API_KEY_PROD", NULL, 0, &err), 0);
  assert_int_equal(org_lint_name(&f, "eu1", NULL, "API_KEY_EU1", NULL, 0, &err), 0);
  assert_int_equal(org_lint_name(&f, "prod", NULL, "X1", NULL, 0, &err), 0);
  assert_int_equal(org_lint_name(&f, "prod", NULL, "BILLING_DB_PASSWORD", NULL, 0, &err), 0);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.warnings, 3);
  assert_string_equal(f.v[0].code, "vague-name");
  assert_string_equal(f.v[0].object, "prod/SECRET123");
  assert_string_equal(f.v[0].file, "x.yaml");
  assert_int_equal(f.v[0].line, 3);
  assert_string_equal(f.v[1].code, "env-suffix");
  assert_string_equal(f.v[1].message, "prod/API_KEY_DEV: the suffix _DEV contradicts environment prod");
  assert_string_equal(f.v[2].object, "prod/X1");
  org_findings_free(&f);
}

static void test_lint_folder(void **state) {
  org_fix *f = *state;
  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  fix_load(&t, f);
  setenv("ORGSECRETS_NOW", "2024-01-01T00:00:00Z", 1);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "PAYMENT_API_KEY", "p", &err), 0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "TOKEN", "t", &err), 0);
  unsetenv("ORGSECRETS_NOW");
  org_findings out;
  int64_t day = 86400, created;
  assert_int_equal(os_time_parse(&created, NULL, "2024-01-01T00:00:00Z", 0), 0);
  org_lint_opts o = {.now = created + 90 * day};
  assert_int_equal(org_lint(&out, f->org, &o, &err), 0);
  assert_int_equal(out.errors, 0);
  assert_int_equal(out.warnings, 1); /* TOKEN is vague; 90 days is within the policy */
  assert_non_null(find(&out, "vague-name", "prod/TOKEN"));
  org_findings_free(&out);

  /* 91 days, a new member (out-of-date recipients), a plaintext file */
  o.now = created + 91 * day;
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  char path[PATH_MAX];
  scratch_put(scratch_at(path, f->org, "notes.txt"), "# notes\n\nDB_PASSWORD=hunter2hunter2\n");
  assert_int_equal(org_lint(&out, f->org, &o, &err), 0);
  const org_finding *x = must_find(&out, "rotation", "prod/PAYMENT_API_KEY");
  assert_non_null(x);
  assert_int_equal(x->severity, ORG_WARNING);
  assert_string_equal(x->file, "secrets/prod/PAYMENT_API_KEY.yaml");
  assert_int_equal(x->line, 1);
  assert_non_null(strstr(x->message, "91 days ago"));
  /* a newly authorized key a value lacks: an availability warning */
  x = must_find(&out, "missing-recipients", "prod/PAYMENT_API_KEY");
  assert_non_null(x);
  assert_int_equal(x->severity, ORG_WARNING);
  assert_string_equal(x->fix, "orgsecrets rekey");
  assert_non_null(strstr(x->message, "not sealed to carol@example.com (member), newly authorized"));
  assert_null(find(&out, "unauthorized-recipients", NULL));
  x = must_find(&out, "plaintext", NULL);
  assert_non_null(x);
  assert_int_equal(x->severity, ORG_ERROR);
  assert_string_equal(x->file, "notes.txt");
  assert_int_equal(x->line, 3);
  assert_null(strstr(x->message, "hunter2")); /* never the text */
  assert_int_equal(out.errors, 1);
  org_findings_free(&out);

  /* a removed member's key: an error naming the key (no Git history here
   * to name its holder), the fix, and the rest */
  char fp[SPEC_FINGERPRINT_LEN + 1];
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "bob@example.com", &err), 0);
  assert_int_equal(org_lint(&out, f->org, &o, &err), 0);
  x = must_find(&out, "unauthorized-recipients", "prod/TOKEN");
  assert_int_equal(x->severity, ORG_ERROR);
  assert_string_equal(x->fix, "orgsecrets rekey");
  char want[256];
  snprintf(want, sizeof(want),
           "prod/TOKEN: sealed to key %s, which the organization does not "
           "authorize for it",
           fp);
  if (strstr(x->message, want) == NULL)
    fail_msg("message: %s", x->message);
  assert_non_null(strstr(x->message, "run `orgsecrets rekey`, then rotate the value"));
  assert_int_equal(out.errors, 3); /* both secrets, and the plaintext */
  org_findings_free(&out);

  /* a spec error is a finding with the file and line; lint still scans */
  scratch_put(scratch_at(path, f->org, "secrets/prod/BROKEN.yaml"), "apiVersion: [\n");
  assert_int_equal(org_lint(&out, f->org, &o, &err), 0);
  x = must_find(&out, "spec", NULL);
  assert_non_null(x);
  assert_string_equal(x->file, "secrets/prod/BROKEN.yaml");
  assert_true(x->line > 0);
  assert_non_null(find(&out, "plaintext", NULL));
  org_findings_free(&out);
  spec_tree_free(t);
}

static void test_lint_widening(void **state) {
  org_fix *f = *state;
  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  fix_load(&t, f);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "PAYMENT_API_KEY", "p", &err), 0);
  org_findings out;
  const org_lint_opts head = {0}, bad = {.since = "no-such-ref"};
  assert_int_equal(org_lint(&out, f->org, &head, &err), 0);
  assert_null(find(&out, "widened", NULL)); /* not a Git checkout: skipped */
  org_findings_free(&out);
  assert_int_equal(org_lint(&out, f->org, &bad, &err), 0);
  assert_non_null(find(&out, "since", NULL));
  assert_int_equal(out.errors, 1);
  org_findings_free(&out);

  fix_git(f, "init", "-q", ".");
  fix_git(f, "add", "-A", ".");
  fix_git(f, "commit", "-qm", "base");
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  org_secret_opts o = {.environment = "prod", .name = "PAYMENT_API_KEY", .visible_to_viewers = 1,
                       .state = ORG_KEEP};
  org_set_result res;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_int_equal(org_lint(&out, f->org, &head, &err), 0);
  const org_finding *x = must_find(&out, "widened", "member carol@example.com");
  assert_non_null(x);
  assert_non_null(strstr(x->message, "can read every secret: a new member"));
  x = must_find(&out, "widened", "prod/PAYMENT_API_KEY");
  assert_non_null(x);
  assert_non_null(strstr(x->message, "since HEAD, visibleToViewers is on"));
  org_findings_free(&out);
  spec_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plaintext_kind),
      cmocka_unit_test(test_lint_name),
      cmocka_unit_test_setup_teardown(test_lint_folder, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_lint_widening, fix_setup, fix_teardown),
  };
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
