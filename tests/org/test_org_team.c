/* pkg/org for teams: the name rules (syntax, reserved names, names ending
 * in _, lint's naming advice), names per application and their precedence
 * (lookup, reveal, values of `run --app` / `render --app`), create, update
 * and set, and sealing refused while a value is sealed to a key the
 * organization no longer authorizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "org_fixture.h"

static org_secret_opts opts(const char *env, const char *app, const char *name, const char *value,
                            enum org_set_mode mode) {
  return (org_secret_opts){.environment = env,
                           .application = app,
                           .name = name,
                           .visible_to_viewers = ORG_KEEP,
                           .state = ORG_KEEP,
                           .value = (const uint8_t *)value,
                           .value_len = value != NULL ? strlen(value) : 0,
                           .mode = mode};
}

static void test_name_rules(void **state) {
  org_fix *f = *state;
  os_error err = OS_ERROR_INIT;
  static const char *const good[] = {"A", "DATABASE_URL", "API_KEY_2", "X1_Y2"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    assert_int_equal(org_secret_name_check(good[i], &err), 0);
  static const char *const bad[] = {"", "lower", "1ABC", "_ABC", "A-B", "A B", "ÄPFEL"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(org_secret_name_check(bad[i], &err), OS_EINVAL);
  char longest[SPEC_NAME_MAX + 2];
  memset(longest, 'A', sizeof(longest));
  longest[SPEC_NAME_MAX] = '\0';
  assert_int_equal(org_secret_name_check(longest, &err), 0);
  longest[SPEC_NAME_MAX] = 'A';
  longest[SPEC_NAME_MAX + 1] = '\0';
  assert_int_equal(org_secret_name_check(longest, &err), OS_EINVAL);

  /* names that would break a process environment, and names ending in _,
   * are refused for a new secret unless allowed */
  spec_tree *t = NULL;
  fix_load(&t, f);
  static const char *const reserved[] = {"PATH", "HOME",  "LD_PRELOAD",  "LD_LIBRARY_PATH",
                                         "IFS",  "SHELL", "LD_ANYTHING", "TRAILING_",
                                         "A__"};
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    org_secret_opts o = opts("prod", NULL, reserved[i], "v", ORG_SET_UPSERT);
    const spec_secret *existing = NULL;
    assert_int_equal(org_secret_check(&existing, &f->as[K_ALICE], t, &o, &err), OS_EPERM);
    assert_non_null(strstr(err.msg, reserved[i]));
    assert_non_null(strstr(err.msg, "--allow-reserved-name"));
    o.allow_reserved_name = true;
    assert_int_equal(org_secret_check(&existing, &f->as[K_ALICE], t, &o, &err), 0);
  }
  /* ordinary names that merely contain a reserved word are fine */
  org_secret_opts o = opts("prod", NULL, "HOME_PAGE_TOKEN", "v", ORG_SET_UPSERT);
  assert_int_equal(org_secret_check(NULL, &f->as[K_ALICE], t, &o, &err), 0);
  o.name = "PATHFINDER_KEY";
  assert_int_equal(org_secret_check(NULL, &f->as[K_ALICE], t, &o, &err), 0);
  spec_tree_free(t);

  /* lint's naming advice, which create/set print too */
  org_findings fs = {0};
  assert_int_equal(org_lint_name(&fs, "prod", NULL, "PASSWORD", NULL, 0, &err), 0);
  assert_int_equal(fs.n, 1);
  assert_string_equal(fs.v[0].code, "vague-name");
  assert_int_equal(fs.v[0].severity, ORG_WARNING);
  assert_int_equal(org_lint_name(&fs, "prod", "web", "API_KEY_DEV", NULL, 0, &err), 0);
  assert_int_equal(fs.n, 2);
  assert_string_equal(fs.v[1].code, "env-suffix");
  assert_non_null(strstr(fs.v[1].message, "prod/web/API_KEY_DEV"));
  assert_int_equal(org_lint_name(&fs, "prod", NULL, "BILLING_DB_PASSWORD_PROD", NULL, 0, &err), 0);
  assert_int_equal(org_lint_name(&fs, "dev", NULL, "API_KEY_DEV", NULL, 0, &err), 0);
  assert_int_equal(fs.n, 2);
  org_findings_free(&fs);
}

static int n_notes;
static char last_note[1024];
static void keep_note(void *ctx, const char *msg) {
  (void)ctx;
  n_notes++;
  snprintf(last_note, sizeof(last_note), "%s", msg);
}

static void test_app_names_and_precedence(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  /* the same name at both levels, and one only at the organization level */
  org_secret_opts o = opts("prod", NULL, "DATABASE_URL", "org-db", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_string_equal(res.file, "secrets/prod/DATABASE_URL.yaml");
  o = opts("prod", "web", "DATABASE_URL", "web-db", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_string_equal(res.file, "secrets/prod/web/DATABASE_URL.yaml");
  o = opts("prod", NULL, "SMTP_PASSWORD", "org-smtp", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);

  /* the file's metadata.name carries the application */
  const spec_secret *web = spec_tree_find_secret(t, "prod", "web", "DATABASE_URL");
  const spec_secret *org = spec_tree_find_secret(t, "prod", NULL, "DATABASE_URL");
  assert_non_null(web);
  assert_non_null(org);
  assert_true(web != org);
  spec_secret_ref r;
  spec_secret_ref_of(&r, web);
  char *rname = spec_secret_ref_resource_name(&r);
  assert_string_equal(rname, "acme.prod.web.database-url");
  free(rname);
  spec_secret_ref_of(&r, org);
  rname = spec_secret_ref_resource_name(&r);
  assert_string_equal(rname, "acme.prod.database-url");
  free(rname);

  /* reveal without an application: the organization-level one, with a note */
  const spec_secret *s = NULL;
  org_ctx c = f->as[K_BOB];
  c.note = keep_note;
  n_notes = 0;
  assert_int_equal(org_secret_readable(&s, &c, t, "prod", NULL, "DATABASE_URL", &err), 0);
  assert_ptr_equal(s, org);
  assert_int_equal(n_notes, 1);
  assert_non_null(strstr(last_note, "application web has its own"));
  assert_int_equal(org_secret_readable(&s, &c, t, "prod", "web", "DATABASE_URL", &err), 0);
  assert_ptr_equal(s, web);
  /* an application-only name is not found at the organization level */
  o = opts("prod", "web", "FEATURE_FLAGS", "flags", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_int_equal(org_secret_readable(&s, &c, t, "prod", NULL, "FEATURE_FLAGS", &err),
                   OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, "web"));
  /* ... nor deleted there */
  assert_int_equal(org_secret_delete_check(&f->as[K_ALICE], t, "prod", NULL, "FEATURE_FLAGS", &err),
                   OS_ENOTFOUND);

  /* the values inside web (`run --app web`): its DATABASE_URL wins, the
   * organization's SMTP_PASSWORD is there too; outside, only the
   * organization level */
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  assert_int_equal(org_keys_get(&ids, &n_ids, f->keys[K_ALICE], &err), 0);
  org_values vs = {0};
  assert_int_equal(
      org_values_load(&vs, t, "prod", "web", ORG_SCOPE_MERGED, NULL, 0, ids, n_ids, &err), 0);
  assert_int_equal(vs.n, 3);
  assert_string_equal(vs.v[0].secret->name, "DATABASE_URL");
  assert_memory_equal(vs.v[0].value, "web-db", 6);
  assert_string_equal(vs.v[1].secret->name, "FEATURE_FLAGS");
  assert_string_equal(vs.v[2].secret->name, "SMTP_PASSWORD");
  assert_memory_equal(vs.v[2].value, "org-smtp", 8);
  org_values_free(&vs);
  assert_int_equal(
      org_values_load(&vs, t, "prod", NULL, ORG_SCOPE_MERGED, NULL, 0, ids, n_ids, &err), 0);
  assert_int_equal(vs.n, 2);
  assert_memory_equal(vs.v[0].value, "org-db", 6);
  org_values_free(&vs);
  /* the exact scope (render -o k8s: one Secret) holds only web's own */
  assert_int_equal(
      org_values_load(&vs, t, "prod", "web", ORG_SCOPE_EXACT, NULL, 0, ids, n_ids, &err), 0);
  assert_int_equal(vs.n, 2);
  assert_memory_equal(vs.v[0].value, "web-db", 6);
  org_values_free(&vs);

  /* a disabled application-level secret does not hide the organization's */
  o = opts("prod", "web", "DATABASE_URL", NULL, ORG_SET_UPDATE);
  o.state = SPEC_STATE_DISABLED;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_int_equal(
      org_values_load(&vs, t, "prod", "web", ORG_SCOPE_MERGED, NULL, 0, ids, n_ids, &err), 0);
  assert_string_equal(vs.v[0].secret->name, "DATABASE_URL");
  assert_memory_equal(vs.v[0].value, "org-db", 6);
  org_values_free(&vs);

  /* delete without an application removes the organization's only */
  assert_int_equal(org_secret_delete(&f->as[K_ALICE], t, "prod", NULL, "DATABASE_URL", &err), 0);
  assert_null(spec_tree_find_secret(t, "prod", NULL, "DATABASE_URL"));
  assert_non_null(spec_tree_find_secret(t, "prod", "web", "DATABASE_URL"));
  spec_tree_free(t);

  /* and all of it as loaded again from the files */
  fix_load(&t, f);
  assert_non_null(spec_tree_find_secret(t, "prod", "web", "DATABASE_URL"));
  assert_null(spec_tree_find_secret(t, "prod", NULL, "DATABASE_URL"));
  assert_non_null(spec_tree_find_secret(t, "prod", NULL, "SMTP_PASSWORD"));
  spec_tree_free(t);
}

/* An application's secret written before names were per application:
 * secrets/prod/NAME.yaml with the organization-level metadata.name. */
static void write_legacy(const org_fix *f) {
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  org_secret_opts o = opts("prod", "web", "DATABASE_URL", "web-db", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  spec_tree_free(t);
  char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];
  scratch_at(from, f->org, "secrets/prod/web/DATABASE_URL.yaml");
  scratch_at(to, f->org, "secrets/prod/DATABASE_URL.yaml");
  scratch_at(dir, f->org, "secrets/prod/web");
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&text, &len, from, 1 << 20, &err), 0);
  char *at = strstr(text, "name: acme.prod.web.database-url\n");
  assert_non_null(at);
  memmove(at + strlen("name: acme.prod."), at + strlen("name: acme.prod.web."),
          len - (size_t)(at - text) - strlen("name: acme.prod.web.") + 1);
  assert_int_equal(os_write_file_new(to, text, strlen(text), 0644, &err), 0);
  free(text);
  assert_int_equal(unlink(from), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_legacy_layout(void **state) {
  org_fix *f = *state;
  write_legacy(f);
  spec_tree *t = NULL;
  fix_load(&t, f); /* loads unchanged */
  assert_int_equal(t->n_bad, 0);
  spec_secret *s = spec_tree_find_secret(t, "prod", "web", "DATABASE_URL");
  assert_non_null(s);
  assert_true(s->legacy_name);
  assert_null(spec_tree_find_secret(t, "prod", NULL, "DATABASE_URL"));
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  /* updated in place: same file, same metadata.name */
  org_secret_opts o = opts("prod", "web", "DATABASE_URL", "web-db-2", ORG_SET_UPDATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_string_equal(res.file, "secrets/prod/DATABASE_URL.yaml");
  assert_string_equal(res.moved_from, "");
  spec_tree_free(t);
  fix_load(&t, f);
  assert_true(spec_tree_find_secret(t, "prod", "web", "DATABASE_URL")->legacy_name);
  /* an organization-level secret of that name moves it out of the way */
  o = opts("prod", NULL, "DATABASE_URL", "org-db", ORG_SET_CREATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_string_equal(res.moved_from, "secrets/prod/DATABASE_URL.yaml");
  assert_string_equal(res.moved_to, "secrets/prod/web/DATABASE_URL.yaml");
  assert_string_equal(res.file, "secrets/prod/DATABASE_URL.yaml");
  spec_tree_free(t);
  fix_load(&t, f);
  assert_int_equal(t->n_bad, 0);
  s = spec_tree_find_secret(t, "prod", "web", "DATABASE_URL");
  assert_non_null(s);
  assert_false(s->legacy_name);
  assert_string_equal(s->pos.file, "secrets/prod/web/DATABASE_URL.yaml");
  char *v = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0, len = 0;
  assert_int_equal(org_keys_get(&ids, &n_ids, f->keys[K_BOB], &err), 0);
  assert_int_equal(seal_unseal((uint8_t **)&v, &len, s, ids, n_ids, &err), 0);
  assert_memory_equal(v, "web-db-2", 8);
  os_free_secret(v, len);
  v = fix_reveal(t, f->keys[K_BOB], "prod", "DATABASE_URL");
  assert_string_equal(v, "org-db");
  free(v);
  spec_tree_free(t);
}

static void test_create_update_set(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  setenv("ORGSECRETS_NOW", "2024-05-01T10:00:00Z", 1);
  org_secret_opts o = opts("prod", NULL, "BILLING_API_KEY", "b1", ORG_SET_UPDATE);
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, "use create"));
  assert_null(spec_tree_find_secret(t, "prod", NULL, "BILLING_API_KEY"));
  o.mode = ORG_SET_CREATE;
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), 0);
  assert_true(res.created);
  o.value = (const uint8_t *)"b2";
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), OS_ECONFLICT);
  assert_non_null(strstr(
      err.msg, "already exists in prod (created by bob@example.com on 2024-05-01T10:00:00Z); "
               "use update"));

  /* update with a description only: no value needed, the value stays */
  setenv("ORGSECRETS_NOW", "2024-05-02T10:00:00Z", 1);
  const spec_secret *s = spec_tree_find_secret(t, "prod", NULL, "BILLING_API_KEY");
  char *ct = strdup(s->encrypted_value);
  o = opts("prod", NULL, "BILLING_API_KEY", NULL, ORG_SET_UPDATE);
  o.description = "charges customers";
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_true(res.changed && !res.value_changed && !res.created);
  s = spec_tree_find_secret(t, "prod", NULL, "BILLING_API_KEY");
  assert_string_equal(s->description, "charges customers");
  assert_string_equal(s->encrypted_value, ct);
  assert_string_equal(s->rotated_at, "2024-05-01T10:00:00Z");
  assert_string_equal(s->updated_at, "2024-05-02T10:00:00Z");
  assert_string_equal(s->updated_by, "alice@example.com");
  assert_string_equal(s->created_by, "bob@example.com");
  free(ct);
  char *v = fix_reveal(t, f->keys[K_ALICE], "prod", "BILLING_API_KEY");
  assert_string_equal(v, "b1");
  free(v);

  /* set: the upsert, saying whose value it replaced */
  org_ctx c = f->as[K_BOB];
  c.note = keep_note;
  n_notes = 0;
  o = opts("prod", NULL, "BILLING_API_KEY", "b3", ORG_SET_UPSERT);
  assert_int_equal(org_secret_set(&res, &c, t, &o, &err), 0);
  assert_true(res.value_changed);
  assert_non_null(strstr(last_note, "replaced the value last set by alice@example.com"));
  /* bob's own value again: no note about anyone */
  n_notes = 0;
  o.value = (const uint8_t *)"b4";
  assert_int_equal(org_secret_set(&res, &c, t, &o, &err), 0);
  assert_int_equal(n_notes, 0);
  o = opts("prod", NULL, "NEW_UPSERTED_KEY", "n", ORG_SET_UPSERT);
  assert_int_equal(org_secret_set(&res, &c, t, &o, &err), 0);
  assert_true(res.created);

  /* values: whitespace only is empty; a newline inside is kept */
  assert_true(org_value_blank((const uint8_t *)"", 0));
  assert_true(org_value_blank((const uint8_t *)" \t\r\n\v\f", 6));
  assert_false(org_value_blank((const uint8_t *)" x\n", 3));
  o = opts("prod", NULL, "NEW_UPSERTED_KEY", " \n", ORG_SET_UPSERT);
  assert_int_equal(org_secret_set(&res, &c, t, &o, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "empty"));
  o.value = (const uint8_t *)"line\n";
  o.value_len = 5;
  assert_int_equal(org_secret_set(&res, &c, t, &o, &err), 0);
  v = fix_reveal(t, f->keys[K_BOB], "prod", "NEW_UPSERTED_KEY");
  assert_string_equal(v, "line\n");
  free(v);
  unsetenv("ORGSECRETS_NOW");
  spec_tree_free(t);
}

static void test_refuse_to_seal_for_removed_member(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err),
                   0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "PAGER_KEY", "p", &err), 0);
  char summary[512];
  org_reseal_summary(summary, sizeof(summary), t);
  assert_string_equal(summary, "");
  char fp[SPEC_FINGERPRINT_LEN + 1];
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "carol@example.com", &err), 0);
  /* what the removal leaves to re-seal is said */
  org_reseal_summary(summary, sizeof(summary), t);
  assert_non_null(strstr(summary, "1 secret(s) must be re-sealed"));
  assert_non_null(strstr(summary, "orgsecrets rekey"));
  const spec_secret *example = NULL;
  assert_int_equal(org_unauthorized_count(&example, t), 1);
  assert_string_equal(example->name, "PAGER_KEY");
  /* no new value is sealed while one is sealed to carol's key */
  org_secret_opts o = opts("dev", NULL, "OTHER_KEY", "o", ORG_SET_CREATE);
  org_set_result res;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), OS_ECONFLICT);
  assert_non_null(strstr(err.msg, "orgsecrets rekey"));
  assert_null(spec_tree_find_secret(t, "dev", NULL, "OTHER_KEY"));
  char path[PATH_MAX];
  scratch_at(path, f->org, "secrets/dev/OTHER_KEY.yaml");
  assert_int_not_equal(access(path, F_OK), 0);
  /* rekey first, then it works */
  org_rekey_plan p = {0};
  assert_int_equal(org_rekey_plan_build(&p, t, &err), 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.v[0].n_losses, 1);
  assert_int_equal(org_rekey_apply(&f->as[K_ALICE], t, &p, &err), 0);
  org_rekey_plan_free(&p);
  assert_int_equal(org_unauthorized_count(NULL, t), 0);
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  spec_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_name_rules, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_app_names_and_precedence, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_legacy_layout, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_create_update_set, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_refuse_to_seal_for_removed_member, fix_setup,
                                      fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
