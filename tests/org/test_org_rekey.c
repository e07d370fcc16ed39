/* pkg/org: rekey's plan (who gains, who loses access) and its application,
 * and the history of who held which key, read from a real Git repository
 * of several commits, each revision parsed with the spec decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "org_fixture.h"

static void commit(const org_fix *f, const char *msg) {
  fix_git(f, "add", "-A", ".");
  fix_git(f, "commit", "-qm", msg);
}

static void fp_of(char fp[SPEC_FINGERPRINT_LEN + 1], const char *recipient) {
  assert_int_equal(seal_fingerprint(fp, recipient, NULL), 0);
}

static void put_org(const org_fix *f, const char *text) {
  char path[PATH_MAX];
  scratch_put(scratch_at(path, f->org, "organization.yaml"), text);
}

/* Revisions: base (alice, bob, vic); bob removed and "ops: team" added (a
 * name YAML must quote); an organization.yaml that does not parse; one
 * written by hand in flow style with erin; "ops: team" replaced by carol
 * holding the same key; carol removed. */
static void make_history(org_fix *f, char *erin_rcpt_out[1]) {
  os_error err = OS_ERROR_INIT;
  fix_git(f, "init", "-q", ".");
  spec_tree *t = NULL;
  fix_load(&t, f);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "prod", "PAYMENT_KEY", "p1", &err), 0);
  assert_int_equal(fix_set(NULL, &f->as[K_ALICE], t, "dev", "DEV_DB_PASSWORD", "d1", &err), 0);
  commit(f, "base");
  char fp[SPEC_FINGERPRINT_LEN + 1];
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "bob@example.com", &err), 0);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "ops: team", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  commit(f, "bob leaves, ops joins");
  char path[PATH_MAX], *saved = NULL;
  size_t saved_len = 0;
  assert_int_equal(os_read_file(&saved, &saved_len, scratch_at(path, f->org, "organization.yaml"),
                                1 << 20, &err), 0);
  put_org(f, "apiVersion: orgsecrets.io/v1\nkind: Organization\nspec: [broken\n");
  commit(f, "a bad edit");
  char keyfile[PATH_MAX];
  char *erin = fix_keygen(scratch_at(keyfile, f->dir, "keys/erin"));
  char flow[4096];
  snprintf(flow, sizeof(flow),
           "apiVersion: orgsecrets.io/v1\nkind: Organization\nmetadata: {name: acme}\n"
           "spec:\n  members: [{name: alice@example.com, role: admin, recipient: %s},\n"
           "    {recipient: %s, role: member, name: erin@example.com}]\n"
           "  environments: [{name: dev, controllers: [%s]}, {name: prod, controllers: [%s]}]\n",
           f->rcpt[K_ALICE], erin, f->rcpt[K_CTL_DEV], f->rcpt[K_CTL_PROD]);
  put_org(f, flow);
  commit(f, "by hand");
  put_org(f, saved);
  free(saved);
  spec_tree_free(t);
  fix_load(&t, f);
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "ops: team", &err), 0);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "carol@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  commit(f, "ops becomes carol");
  assert_int_equal(org_member_remove(fp, &f->as[K_ALICE], t, "carol@example.com", &err), 0);
  commit(f, "carol leaves");
  spec_tree_free(t);
  erin_rcpt_out[0] = erin;
}

static void test_history(void **state) {
  org_fix *f = *state;
  char *erin = NULL;
  make_history(f, &erin);
  org_key_history *h = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_key_history_load(&h, f->org, "organization.yaml", &err), 0);
  assert_int_equal(org_key_history_revisions(h), 5); /* 6 commits, one does not parse */
  char fp[SPEC_FINGERPRINT_LEN + 1];
  fp_of(fp, f->rcpt[K_BOB]);
  assert_string_equal(org_key_history_name(h, fp), "bob@example.com");
  fp_of(fp, f->rcpt[K_ALICE]);
  assert_string_equal(org_key_history_name(h, fp), "alice@example.com");
  fp_of(fp, erin);
  assert_string_equal(org_key_history_name(h, fp), "erin@example.com"); /* flow style, any key order */
  fp_of(fp, f->rcpt[K_CAROL]);
  assert_string_equal(org_key_history_name(h, fp), "carol@example.com"); /* the newest holder */
  fp_of(fp, f->rcpt[K_CTL_PROD]);
  assert_null(org_key_history_name(h, fp)); /* controllers are not members */
  assert_int_equal(org_key_history_size(h), 5);
  org_key_history_free(h);

  /* a folder that is not a Git checkout has an empty history */
  char plain[PATH_MAX];
  scratch_mkdir(plain, f->dir, "plain");
  assert_int_equal(org_key_history_load(&h, plain, "organization.yaml", &err), 0);
  assert_int_equal(org_key_history_size(h), 0);
  org_key_history_free(h);
  free(erin);
}

/* The reader of fp in v; fails the test when there is none. */
static const org_reader *find_reader(const org_reader *v, size_t n, const char *fp) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].fp, fp) == 0)
      return &v[i];
  fail_msg("no reader %s", fp);
  abort();
}

static void test_plan_and_apply(void **state) {
  org_fix *f = *state;
  char *erin = NULL;
  make_history(f, &erin);
  free(erin);
  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  fix_load(&t, f);
  /* a viewer-visible secret; dave joins (a gain); the secrets were sealed
   * to bob at base (a loss, named from the history) */
  org_secret_opts o = {.environment = "prod", .name = "STATUS_URL", .visible_to_viewers = 1,
                       .state = ORG_KEEP, .value = (const uint8_t *)"s", .value_len = 1};
  org_set_result res;
  /* values sealed to bob, who is gone: nothing more is sealed here before a rekey */
  assert_int_equal(org_secret_set(&res, &f->as[K_ALICE], t, &o, &err), OS_ECONFLICT);
  assert_non_null(strstr(err.msg, "refusing to seal: 2 secret(s) here are sealed to keys the "
                                  "organization no longer authorizes (e.g. dev/DEV_DB_PASSWORD)"));
  assert_non_null(strstr(err.msg, "run `orgsecrets rekey`"));
  assert_int_equal(org_unauthorized_count(NULL, t), 2);
  {
    /* so STATUS_URL is sealed the way a clone that never saw bob would */
    spec_secret *s = spec_secret_new();
    assert_non_null(s);
    s->organization = strdup("acme");
    s->environment = strdup("prod");
    s->name = strdup("STATUS_URL");
    s->visible_to_viewers = true;
    assert_int_equal(seal_value(s, t->org, "s", 1, &err), 0);
    assert_int_equal(spec_tree_put_secret(t, s, &err), 0);
    const char *file = s->pos.file;
    assert_int_equal(org_write(&f->as[K_ALICE], t, &file, 1, &err), 0);
  }
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "dave@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_CAROL], &err), 0);
  org_rekey_plan p;
  assert_int_equal(org_rekey_plan_build(&p, t, &err), 0);
  assert_int_equal(p.n, 3);
  assert_string_equal(p.v[0].secret->environment, "dev"); /* sorted */
  assert_string_equal(p.v[1].secret->name, "PAYMENT_KEY");
  assert_string_equal(p.v[2].secret->name, "STATUS_URL");
  char bob[SPEC_FINGERPRINT_LEN + 1], dave[SPEC_FINGERPRINT_LEN + 1];
  fp_of(bob, f->rcpt[K_BOB]);
  fp_of(dave, f->rcpt[K_CAROL]);
  const org_reader *r = find_reader(p.v[1].losses, p.v[1].n_losses, bob);
  assert_string_equal(r->who, "bob@example.com");
  r = find_reader(p.v[1].gains, p.v[1].n_gains, dave);
  assert_string_equal(r->who, "dave@example.com (member)");
  assert_false(r->as_viewer);
  assert_int_equal(p.v[2].n_losses, 0); /* made after bob left */
  assert_int_equal(p.v[2].n_gains, 1);  /* dave */
  assert_int_equal(p.grants, 3);
  assert_int_equal(p.widened, 3);

  /* a key that opens nothing: every item fails, nothing is written */
  char path[PATH_MAX], *before = NULL, *after = NULL;
  size_t blen = 0, alen = 0;
  scratch_at(path, f->org, "secrets/prod/PAYMENT_KEY.yaml");
  assert_int_equal(os_read_file(&before, &blen, path, 1 << 20, &err), 0);
  assert_int_equal(org_rekey_apply(&f->as[K_CAROL], t, &p, &err), 0);
  assert_int_equal(p.failed, 3);
  assert_non_null(strstr(p.v[1].error, "prod/PAYMENT_KEY: not a recipient"));
  assert_int_equal(os_read_file(&after, &alen, path, 1 << 20, &err), 0);
  assert_true(alen == blen && memcmp(after, before, blen) == 0);
  free(after);
  free(before);
  org_rekey_plan_free(&p);
  spec_tree_free(t);

  /* the admin re-seals: dave reads, bob no longer can, the timestamps stay */
  fix_load(&t, f);
  char *updated = strdup(spec_tree_find_secret(t, "prod", NULL, "PAYMENT_KEY")->updated_at);
  assert_int_equal(org_rekey_plan_build(&p, t, &err), 0);
  assert_int_equal(org_rekey_apply(&f->as[K_ALICE], t, &p, &err), 0);
  assert_int_equal(p.failed, 0);
  org_rekey_plan_free(&p);
  spec_tree_free(t);
  fix_load(&t, f);
  assert_int_equal(org_count_stale(t), 0);
  char *v = fix_reveal(t, f->keys[K_CAROL], "prod", "PAYMENT_KEY");
  assert_string_equal(v, "p1");
  free(v);
  assert_null(fix_reveal(t, f->keys[K_BOB], "prod", "PAYMENT_KEY"));
  assert_string_equal(spec_tree_find_secret(t, "prod", NULL, "PAYMENT_KEY")->updated_at, updated);
  free(updated);
  assert_int_equal(org_rekey_plan_build(&p, t, &err), 0);
  assert_int_equal(p.n, 0);
  org_rekey_plan_free(&p);
  spec_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_history, fix_setup, fix_teardown),
      cmocka_unit_test_setup_teardown(test_plan_and_apply, fix_setup, fix_teardown),
  };
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
