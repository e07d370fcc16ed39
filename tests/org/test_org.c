/* pkg/org: roles and the viewer rule, secrets (metadata rules, modes,
 * reveal, delete, list), members, environments and applications, values
 * (render formats, run's environment), Git as a child process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "org_fixture.h"

static const char *const NOW_ENV = "ORGSECRETS_NOW";

static void test_roles(void **state) {
  (void)state;
  static const struct {
    enum spec_role r;
    bool write, del, manage, reveal, list;
  } table[] = {{SPEC_ROLE_ADMIN, true, true, true, true, true},
               {SPEC_ROLE_MEMBER, true, false, false, true, true},
               {SPEC_ROLE_VIEWER, false, false, false, false, true}};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(org_role_allows(table[i].r, ORG_ACTION_WRITE), table[i].write);
    assert_int_equal(org_role_allows(table[i].r, ORG_ACTION_DELETE), table[i].del);
    assert_int_equal(org_role_allows(table[i].r, ORG_ACTION_MANAGE), table[i].manage);
    assert_int_equal(org_role_allows(table[i].r, ORG_ACTION_REVEAL), table[i].reveal);
    assert_int_equal(org_role_allows(table[i].r, ORG_ACTION_LIST), table[i].list);
  }
  spec_member viewer = {.name = "v", .role = SPEC_ROLE_VIEWER};
  spec_member member = {.name = "m", .role = SPEC_ROLE_MEMBER};
  spec_secret hidden = {.visible_to_viewers = false}, shown = {.visible_to_viewers = true};
  assert_false(org_may_reveal(&viewer, &hidden));
  assert_true(org_may_reveal(&viewer, &shown));
  assert_true(org_may_reveal(&member, &hidden));
  assert_true(org_may_reveal(NULL, &hidden)); /* unknown: the cryptography decides */
}

static void test_require(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  const spec_member *who = NULL;
  assert_int_equal(org_require(&who, &f->as[K_ALICE], t, ORG_ACTION_MANAGE, &err), 0);
  assert_string_equal(who->name, "alice@example.com");
  assert_int_equal(org_require(&who, &f->as[K_BOB], t, ORG_ACTION_DELETE, &err), OS_EPERM);
  assert_null(who);
  assert_string_equal(err.msg, "permission denied: bob@example.com is a member; deleting "
                               "secrets needs the role admin");
  assert_int_equal(org_require(&who, &f->as[K_VIC], t, ORG_ACTION_WRITE, &err), OS_EPERM);
  assert_non_null(strstr(err.msg, "creating and updating secrets needs the role member or admin"));
  assert_int_equal(org_require(&who, &f->as[K_VIC], t, ORG_ACTION_LIST, &err), 0);
  assert_int_equal(org_require(&who, &f->as[K_CAROL], t, ORG_ACTION_LIST, &err), OS_EPERM);
  assert_string_equal(err.msg, "carol@example.com is not a member of organization acme (ask an "
                               "admin to run `orgsecrets member add carol@example.com --role "
                               "ROLE ...`, or pass --as NAME)");
  /* no --as and no git config: who acts is unknown */
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  const org_ctx nobody = {0};
  assert_int_equal(org_require(&who, &nobody, t, ORG_ACTION_LIST, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "no acting member"));
  spec_tree_free(t);
}

static const char *field(const spec_tree *t, const char *env, const char *name, int which) {
  const spec_secret *s = spec_tree_find_secret(t, env, NULL, name);
  assert_non_null(s);
  const char *v[] = {s->created_at, s->updated_at, s->rotated_at, s->created_by, s->updated_by};
  return v[which];
}
enum { CREATED_AT, UPDATED_AT, ROTATED_AT, CREATED_BY, UPDATED_BY };

/* The metadata rules: createdBy/At once, updatedBy/At on every change,
 * rotatedAt only when the value changes, nothing at all for the same value. */
static void test_set_metadata(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  char path[PATH_MAX], *before = NULL, *after = NULL;
  size_t before_len = 0, after_len = 0;
  scratch_at(path, f->org, "secrets/prod/BILLING_API_KEY.yaml");

  setenv(NOW_ENV, "2024-01-10T08:00:00Z", 1);
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "prod", "BILLING_API_KEY", "one", &err), 0);
  assert_true(res.created && res.changed && res.value_changed && res.resealed);
  assert_string_equal(res.file, "secrets/prod/BILLING_API_KEY.yaml");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", CREATED_AT), "2024-01-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", UPDATED_AT), "2024-01-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", ROTATED_AT), "2024-01-10T08:00:00Z");
  assert_int_equal(os_read_file(&before, &before_len, path, 1 << 20, &err), 0);

  /* the same value: nothing written */
  setenv(NOW_ENV, "2024-02-10T08:00:00Z", 1);
  assert_int_equal(fix_set(&res, &f->as[K_BOB], t, "prod", "BILLING_API_KEY", "one", &err), 0);
  assert_false(res.created || res.changed || res.value_changed || res.resealed);
  assert_int_equal(os_read_file(&after, &after_len, path, 1 << 20, &err), 0);
  assert_int_equal(after_len, before_len);
  assert_memory_equal(after, before, before_len);
  free(after);

  /* a new value by bob */
  setenv(NOW_ENV, "2024-03-10T08:00:00Z", 1);
  assert_int_equal(fix_set(&res, &f->as[K_BOB], t, "prod", "BILLING_API_KEY", "two", &err), 0);
  assert_true(!res.created && res.changed && res.value_changed && res.resealed);
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", CREATED_AT), "2024-01-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", UPDATED_AT), "2024-03-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", ROTATED_AT), "2024-03-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", CREATED_BY), "alice@example.com");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", UPDATED_BY), "bob@example.com");

  /* a description only: updatedAt moves, rotatedAt and the ciphertext stay */
  char *ct = strdup(spec_tree_find_secret(t, "prod", NULL, "BILLING_API_KEY")->encrypted_value);
  setenv(NOW_ENV, "2024-04-10T08:00:00Z", 1);
  org_secret_opts o = {.environment = "prod", .name = "BILLING_API_KEY",
                       .description = "billing", .visible_to_viewers = ORG_KEEP,
                       .state = ORG_KEEP};
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_true(res.changed && !res.value_changed && !res.resealed);
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", UPDATED_AT), "2024-04-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", ROTATED_AT), "2024-03-10T08:00:00Z");
  assert_string_equal(spec_tree_find_secret(t, "prod", NULL, "BILLING_API_KEY")->encrypted_value,
                      ct);
  free(ct);

  /* visible to viewers: re-sealed (the viewer's key joins), the value is the same */
  setenv(NOW_ENV, "2024-05-10T08:00:00Z", 1);
  o.description = NULL;
  o.visible_to_viewers = 1;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  assert_true(res.changed && !res.value_changed && res.resealed);
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", ROTATED_AT), "2024-03-10T08:00:00Z");
  char *v = fix_reveal(t, f->keys[K_VIC], "prod", "BILLING_API_KEY");
  assert_non_null(v);
  assert_string_equal(v, "two");
  free(v);

  /* the file on disk says the same */
  spec_tree_free(t);
  fix_load(&t, f);
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", UPDATED_AT), "2024-05-10T08:00:00Z");
  assert_string_equal(field(t, "prod", "BILLING_API_KEY", ROTATED_AT), "2024-03-10T08:00:00Z");
  free(before);
  unsetenv(NOW_ENV);
  spec_tree_free(t);
}

static int count_notes;
static char notes_seen[4][512];
static void note_counter(void *ctx, const char *msg) {
  (void)ctx;
  if (count_notes < 4)
    snprintf(notes_seen[count_notes], sizeof(notes_seen[0]), "%s", msg);
  count_notes++;
}

static void test_set_refusals(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  org_set_result res;
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "prod", "PAYMENT_KEY", "v1", &err), 0);
  assert_int_equal(fix_set(&res, &f->as[K_VIC], t, "prod", "OTHER_KEY", "v", &err), OS_EPERM);
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "qa", "OTHER_KEY", "v", &err), OS_ENOTFOUND);
  assert_string_equal(err.msg, "environment qa is not defined in organization acme");
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "prod", "lower", "v", &err), OS_EINVAL);
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "prod", "OTHER_KEY", "", &err), OS_EINVAL);
  assert_string_equal(err.msg, "empty value refused");
  assert_int_equal(fix_set(&res, &f->as[K_ALICE], t, "prod", "OTHER_KEY", NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "does not exist yet"));

  /* modes: create refuses an existing secret, update a missing one */
  org_secret_opts o = {.environment = "prod", .name = "PAYMENT_KEY", .visible_to_viewers = ORG_KEEP,
                       .state = ORG_KEEP, .value = (const uint8_t *)"v2", .value_len = 2,
                       .mode = ORG_SET_CREATE};
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_ECONFLICT);
  assert_non_null(strstr(err.msg, "already exists in prod (created by alice@example.com on "));
  o.name = "MISSING_KEY";
  o.mode = ORG_SET_UPDATE;
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_ENOTFOUND);

  /* reserved names only when allowed; an application mismatch is refused */
  o.mode = ORG_SET_UPSERT;
  o.name = "LD_PRELOAD";
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_EPERM);
  assert_non_null(strstr(err.msg, "--allow-reserved-name"));
  o.allow_reserved_name = true;
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), 0);
  o.allow_reserved_name = false;
  /* a name ending in _ cannot be a custom resource: refused the same way */
  o.name = "TRAILING_";
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_EPERM);
  assert_non_null(strstr(err.msg, "ending in _"));
  assert_non_null(strstr(err.msg, "--allow-reserved-name"));
  /* names are per application: web gets its own PAYMENT_KEY beside the
   * organization's, in its own folder */
  o.name = "PAYMENT_KEY";
  o.application = "web";
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), 0);
  assert_true(res.created);
  assert_non_null(strstr(res.file, "secrets/prod/web/PAYMENT_KEY.yaml"));
  assert_non_null(spec_tree_find_secret(t, "prod", NULL, "PAYMENT_KEY"));
  assert_non_null(spec_tree_find_secret(t, "prod", "web", "PAYMENT_KEY"));
  o.application = "nowhere";
  assert_int_equal(org_secret_set(&res, &f->as[K_BOB], t, &o, &err), OS_ENOTFOUND);

  /* a key that cannot open the current value: sealed anew, with a note; the
   * organization-level secret is addressed (web's is named), and whose value
   * was replaced is said */
  org_ctx vic_writer = f->as[K_BOB];
  vic_writer.keys = f->keys[K_VIC];
  vic_writer.note = note_counter;
  o.application = NULL;
  count_notes = 0;
  assert_int_equal(org_secret_set(&res, &vic_writer, t, &o, &err), 0);
  assert_int_equal(count_notes, 3);
  assert_non_null(strstr(notes_seen[0], "prod/PAYMENT_KEY is the organization-level secret; "
                                        "application web has its own secret of that name"));
  assert_non_null(strstr(notes_seen[1], "cannot open the current value"));
  assert_non_null(strstr(notes_seen[2], "replaced the value last set by alice@example.com on "));
  assert_true(res.value_changed);
  /* ... but a re-seal of the same value needs to open it */
  o.value = NULL;
  o.visible_to_viewers = 1;
  assert_int_equal(org_secret_set(&res, &vic_writer, t, &o, &err), OS_ECRYPTO);
  assert_non_null(strstr(err.msg, "cannot be opened with -i"));
  spec_tree_free(t);
}

static void test_reveal_delete_list(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "ZULU_KEY", "z", &err), 0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "dev", "ALPHA_KEY", "a", &err), 0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "ALPHA_KEY", "b", &err), 0);
  org_secret_opts o = {.environment = "prod", .name = "STATUS_URL", .visible_to_viewers = 1,
                       .state = ORG_KEEP, .value = (const uint8_t *)"s", .value_len = 1};
  org_set_result res;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);

  const spec_secret *s = NULL;
  assert_int_equal(org_secret_readable(&s, &f->as[K_VIC], t, "prod", NULL, "ZULU_KEY", &err),
                   OS_EPERM);
  assert_non_null(strstr(err.msg, "is a viewer"));
  assert_int_equal(org_secret_readable(&s, &f->as[K_VIC], t, "prod", NULL, "STATUS_URL", &err), 0);
  assert_int_equal(org_secret_readable(&s, &f->as[K_BOB], t, "prod", NULL, "ZULU_KEY", &err), 0);
  const org_ctx anonymous = {.keys = f->keys[K_VIC]};
  assert_int_equal(org_secret_readable(&s, &anonymous, t, "prod", NULL, "ZULU_KEY", &err), 0);
  assert_int_equal(org_secret_readable(&s, &f->as[K_BOB], t, "prod", NULL, "NOPE", &err),
                   OS_ENOTFOUND);

  const spec_secret **rows = NULL;
  size_t n = 0;
  assert_int_equal(org_secret_list(&rows, &n, t, NULL, &err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(rows[0]->environment, "dev");
  assert_string_equal(rows[1]->name, "ALPHA_KEY");
  assert_string_equal(rows[2]->name, "STATUS_URL");
  assert_string_equal(rows[3]->name, "ZULU_KEY");
  json_t *j = org_secret_json(rows[3]);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
  assert_string_equal(json_string_value(json_object_get(j, "createdBy")), "alice@example.com");
  assert_null(json_object_get(j, "value"));
  assert_null(json_object_get(j, "encryptedValue"));
  json_decref(j);
  free(rows);
  assert_int_equal(org_secret_list(&rows, &n, t, "prod", &err), 0);
  assert_int_equal(n, 3);
  free(rows);
  assert_int_equal(org_secret_list(&rows, &n, t, "qa", &err), OS_ENOTFOUND);

  char path[PATH_MAX];
  scratch_at(path, f->org, "secrets/prod/ZULU_KEY.yaml");
  assert_int_equal(org_secret_delete(&f->as[K_BOB], t, "prod", NULL, "ZULU_KEY", &err), OS_EPERM);
  assert_int_equal(access(path, F_OK), 0);
  assert_int_equal(org_secret_delete(&f->as[K_ALICE], t, "prod", NULL, "ZULU_KEY", &err), 0);
  assert_int_not_equal(access(path, F_OK), 0);
  assert_int_equal(org_secret_delete_check(&f->as[K_ALICE], t, "prod", NULL, "ZULU_KEY", &err),
                   OS_ENOTFOUND);
  spec_tree_free(t);
}

static void test_members(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_member_check("x", SPEC_ROLE_MEMBER, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "needs --recipient"));
  assert_int_equal(org_member_check("x", SPEC_ROLE_VIEWER, NULL, &err), 0);
  assert_true(org_member_check("x", SPEC_ROLE_MEMBER, "age1nope", &err) < 0);
  assert_non_null(strstr(err.msg, "invalid --recipient"));
  assert_int_equal(org_member_add(&f->as[K_BOB], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), OS_EPERM);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "bob@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), OS_ECONFLICT);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "PAYMENT_KEY", "p", &err), 0);
  assert_int_equal(org_count_stale(t), 0);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  assert_int_equal(org_count_stale(t), 1);
  char fp[SPEC_FINGERPRINT_LEN + 1], want[SPEC_FINGERPRINT_LEN + 1];
  assert_int_equal(seal_fingerprint(want, f->rcpt[K_BOB], NULL), 0);
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "bob@example.com", &err), 0);
  assert_string_equal(fp, want);
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "alice@example.com", &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "last admin"));
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "nobody", &err), OS_ENOTFOUND);
  json_t *j = org_member_json(spec_org_find_member(t->org, "carol@example.com"));
  assert_string_equal(json_string_value(json_object_get(j, "role")), "member");
  assert_string_equal(json_string_value(json_object_get(j, "recipient")), f->rcpt[K_CAROL]);
  json_decref(j);

  /* environments and applications: options checked before anything is written */
  const char *ctl[] = {f->rcpt[K_CTL_DEV]}, *bad_ns[] = {"Bad_NS"};
  org_env_opts e = {.name = "qa", .controllers = ctl, .n_controllers = 1, .env_file = "../x"};
  assert_int_equal(org_env_check(&e, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "--env-file"));
  e.env_file = NULL;
  e.namespaces = bad_ns;
  e.n_namespaces = 1;
  assert_int_equal(org_env_add(&f->as[K_ALICE], t, &e, &err), OS_EINVAL);
  e.n_namespaces = 0;
  e.secret_name = "Not_A_Name";
  assert_int_equal(org_env_check(&e, &err), OS_EINVAL);
  e.secret_name = "qa-secrets";
  assert_int_equal(org_env_add(&f->as[K_BOB], t, &e, &err), OS_EPERM);
  assert_int_equal(org_env_add(&f->as[K_ALICE], t, &e, &err), 0);
  assert_int_equal(org_env_add(&f->as[K_ALICE], t, &e, &err), OS_ECONFLICT);
  org_app_opts ap = {.name = "api"};
  assert_int_equal(org_app_check(&ap, &err), OS_EINVAL);
  const char *ns[] = {"api"};
  ap.namespaces = ns;
  ap.n_namespaces = 1;
  assert_int_equal(org_app_add(&f->as[K_ALICE], t, &ap, &err), 0);
  spec_tree_free(t);
  fix_load(&t, f); /* what was written loads */
  assert_non_null(spec_org_find_env(t->org, "qa"));
  assert_non_null(spec_org_find_app(t->org, "api"));
  assert_null(spec_org_find_member(t->org, "bob@example.com"));
  spec_tree_free(t);

  /* init refuses an existing organization and an invalid id */
  assert_int_equal(org_init(&f->as[K_ALICE], f->org, "acme", 0, &err), OS_ECONFLICT);
  char other[PATH_MAX];
  scratch_at(other, f->dir, "other");
  assert_int_equal(org_init(&f->as[K_ALICE], other, "Not_A_Label", 0, &err), OS_EINVAL);
}

static void test_values_render_environ(void **state) {
  org_fix *f = *state;
  spec_tree *t = NULL;
  fix_load(&t, f);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "DB_PASSWORD", "pw", &err), 0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "QUOTED_SETTING", "a b", &err), 0);
  org_secret_opts o = {.environment = "prod", .application = "web", .name = "WEB_KEY",
                       .visible_to_viewers = ORG_KEEP, .state = ORG_KEEP,
                       .value = (const uint8_t *)"\xff", .value_len = 1};
  org_set_result res;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);
  o.name = "OLD_KEY";
  o.application = NULL;
  o.state = SPEC_STATE_DISABLED;
  o.value = (const uint8_t *)"old";
  o.value_len = 3;
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), 0);

  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  assert_int_equal(org_keys_get(&ids, &n_ids, f->keys[K_CTL_PROD], &err), 0);
  org_values vs;
  assert_int_equal(org_values_load(&vs, t, "prod", "web", ORG_SCOPE_MERGED, NULL, 0, ids, n_ids,
                                   &err), 0);
  assert_int_equal(vs.n, 3); /* disabled left out, org-level and web's merged, sorted */
  assert_string_equal(vs.v[0].secret->name, "DB_PASSWORD");
  assert_string_equal(vs.v[2].secret->name, "WEB_KEY");
  assert_int_equal(vs.failed, 0);

  os_buf b;
  os_buf_init(&b, 1 << 20, true);
  size_t refused = 0;
  assert_int_equal(org_render(&b, &refused, &vs, t->org, "prod", "web", ORG_FORMAT_JSON, &err), 0);
  assert_int_equal(refused, 1); /* "\xff" is not UTF-8 */
  assert_non_null(strstr(vs.v[2].error, "prod/WEB_KEY: value is not UTF-8"));
  assert_string_equal(b.data, "{\n  \"DB_PASSWORD\": \"pw\",\n  \"QUOTED_SETTING\": \"a b\"\n}\n");
  os_buf_free(&b);
  org_values_free(&vs);

  /* k8s: the application's own Secret, labelled */
  assert_int_equal(org_values_load(&vs, t, "prod", "web", ORG_SCOPE_EXACT, NULL, 0, ids, n_ids,
                                   &err), 0);
  assert_int_equal(vs.n, 1);
  os_buf_init(&b, 1 << 20, true);
  assert_int_equal(org_render(&b, NULL, &vs, t->org, "prod", "web", ORG_FORMAT_K8S, &err), 0);
  assert_non_null(strstr(b.data, "  name: web-secrets\n  namespace: web\n"));
  assert_non_null(strstr(b.data, "    orgsecrets.io/application: web\n"));
  assert_non_null(strstr(b.data, "  WEB_KEY: /w==\n"));
  os_buf_free(&b);
  org_values_free(&vs);

  /* run's environment: secrets replace inherited variables, references expand */
  const char *only[] = {"DB_PASSWORD"};
  assert_int_equal(org_values_load(&vs, t, "prod", NULL, ORG_SCOPE_MERGED, only, 1, ids, n_ids,
                                   &err), 0);
  assert_int_equal(vs.n, 1);
  char *inherited[] = {"URL=postgres://app:${DB_PASSWORD}@db", "DB_PASSWORD=inherited",
                       "OTHER=$UNKNOWN", NULL};
  char **envp = NULL;
  assert_int_equal(org_environ(&envp, &vs, inherited, &err), 0);
  assert_string_equal(envp[0], "URL=postgres://app:pw@db");
  assert_string_equal(envp[1], "OTHER=$UNKNOWN");
  assert_string_equal(envp[2], "DB_PASSWORD=pw");
  assert_null(envp[3]);
  org_environ_free(envp);
  const char *none[] = {NULL};
  assert_int_equal(org_values_check_names(&vs, "prod", none, 0, &err), 0);
  org_values_free(&vs);
  const char *missing[] = {"NOPE"};
  assert_int_equal(org_values_load(&vs, t, "prod", NULL, ORG_SCOPE_MERGED, missing, 1, ids, n_ids,
                                   &err), OS_ENOTFOUND);
  org_values_free(&vs);
  /* a key of another environment: every value fails, by name */
  assert_int_equal(org_keys_get(&ids, &n_ids, f->keys[K_CTL_DEV], &err), 0);
  assert_int_equal(org_values_load(&vs, t, "prod", NULL, ORG_SCOPE_MERGED, NULL, 0, ids, n_ids,
                                   &err), 0);
  assert_int_equal(vs.failed, 2);
  assert_non_null(strstr(vs.v[0].error, "prod/DB_PASSWORD: not a recipient"));
  assert_int_equal(org_environ(&envp, &vs, inherited, &err), OS_EINVAL);
  org_values_free(&vs);
  spec_tree_free(t);
}

static void test_generate(void **state) {
  (void)state;
  uint8_t *v = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_value_generate(&v, 0, &err), OS_EINVAL);
  assert_int_equal(org_value_generate(&v, ORG_GENERATE_MAX + 1, &err), OS_EINVAL);
  assert_int_equal(org_value_generate(&v, 4096, &err), 0);
  bool seen[256] = {false};
  for (size_t i = 0; i < 4096; i++) {
    assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", v[i]));
    seen[v[i]] = true;
  }
  size_t distinct = 0;
  for (size_t i = 0; i < 256; i++)
    distinct += seen[i];
  assert_int_equal(distinct, 64); /* 4096 draws cover the alphabet */
  os_free_secret(v, 4096);
}

/* Git with more input than a pipe holds, and a missing program. */
static void test_git(void **state) {
  org_fix *f = *state;
  os_error err = OS_ERROR_INIT;
  const char *const init[] = {"init", "-q", NULL};
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(org_git(&out, &len, f->org, init, NULL, 0, 4096, &err), 0);
  free(out);
  size_t big = 4u << 20;
  char *data = malloc(big);
  memset(data, 'x', big);
  const char *const hash[] = {"hash-object", "--stdin", NULL};
  assert_int_equal(org_git(&out, &len, f->org, hash, data, big, 4096, &err), 0);
  assert_int_equal(len, 41); /* a SHA-1 and a newline */
  free(out);
  free(data);
  assert_false(org_git_is_commit(f->org, "HEAD"));
  const char *const bad[] = {"no-such-subcommand", NULL};
  assert_int_equal(org_git(&out, &len, f->org, bad, NULL, 0, 4096, &err), OS_EIO);
  const char *path = getenv("PATH");
  char *saved = path != NULL ? strdup(path) : NULL;
  setenv("PATH", f->dir, 1);
  assert_int_equal(org_git(&out, &len, f->org, init, NULL, 0, 4096, &err), OS_ENOTFOUND);
  if (saved != NULL)
    setenv("PATH", saved, 1);
  free(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roles),
      cmocka_unit_test_setup_teardown(test_require, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_set_metadata, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_set_refusals, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_reveal_delete_list, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_members, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_values_render_environ, fix_setup, fix_teardown),
      cmocka_unit_test(test_generate),
      cmocka_unit_test_setup_teardown(test_git, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
