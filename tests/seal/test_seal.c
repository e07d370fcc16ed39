#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "age/age.h"
#include "common/buf.h"
#include "seal/seal.h"

/* Keys made per run; the test never prints values. */
typedef struct fixture {
  age_identity *admin, *member, *viewer, *prod_ctl, *dev_ctl, *outsider;
  spec_org org;
  spec_member members[3];
  spec_environment envs[2];
  char *rcpt[6];
  char *prod_ctls[1], *dev_ctls[1];
} fixture;

static char *rcpt_of(const age_identity *id) {
  char *s = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(age_recipient_encode(&s, age_identity_recipient(id), &err), 0);
  return s;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  os_error err = OS_ERROR_INIT;
  age_identity **ids[] = {&f->admin, &f->member, &f->viewer, &f->prod_ctl, &f->dev_ctl,
                          &f->outsider};
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(age_identity_generate(ids[i], &err), 0);
    f->rcpt[i] = rcpt_of(*ids[i]);
  }
  f->members[0] = (spec_member){.name = "admin@x", .role = SPEC_ROLE_ADMIN, .recipient = f->rcpt[0]};
  f->members[1] = (spec_member){.name = "member@x", .role = SPEC_ROLE_MEMBER, .recipient = f->rcpt[1]};
  f->members[2] = (spec_member){.name = "viewer@x", .role = SPEC_ROLE_VIEWER, .recipient = f->rcpt[2]};
  f->prod_ctls[0] = f->rcpt[3];
  f->dev_ctls[0] = f->rcpt[4];
  f->envs[0] = (spec_environment){.name = "prod", .controllers = f->prod_ctls, .n_controllers = 1};
  f->envs[1] = (spec_environment){.name = "dev", .controllers = f->dev_ctls, .n_controllers = 1};
  f->org = (spec_org){.id = "acme", .members = f->members, .n_members = 3, .envs = f->envs,
                      .n_envs = 2};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  age_identity *ids[] = {f->admin, f->member, f->viewer, f->prod_ctl, f->dev_ctl, f->outsider};
  for (size_t i = 0; i < 6; i++) {
    age_identity_free(ids[i]);
    free(f->rcpt[i]);
  }
  free(f);
  return 0;
}

static spec_secret *make_secret(const char *env, const char *app, const char *name) {
  spec_secret *s = calloc(1, sizeof(*s));
  s->organization = strdup("acme");
  s->environment = strdup(env);
  s->application = app ? strdup(app) : NULL;
  s->name = strdup(name);
  return s;
}

static void free_secret(spec_secret *s) {
  free(s->organization);
  free(s->environment);
  free(s->application);
  free(s->name);
  free(s->encrypted_value);
  seal_strings_free(s->recipients, s->n_recipients);
  free(s);
}

static int unseal_with(const spec_secret *s, const age_identity *id, os_error *err) {
  uint8_t *v = NULL;
  size_t n = 0;
  const age_identity *ids[] = {id};
  int rc = seal_unseal(&v, &n, s, ids, 1, err);
  if (rc == 0) {
    assert_int_equal(n, 9);
    assert_memory_equal(v, "s3cr3t-pw", 9);
  }
  os_free_secret(v, n);
  return rc;
}

static void test_envelope_roundtrip_and_padding(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  uint8_t *a, *b, *v;
  size_t alen, blen, vlen;
  assert_int_equal(seal_envelope_encode(&a, &alen, "acme", "prod", NULL, "X", "1", 1, &err), 0);
  char long_value[150];
  memset(long_value, 'q', sizeof(long_value));
  assert_int_equal(seal_envelope_encode(&b, &blen, "acme", "prod", NULL, "X", long_value,
                                        sizeof(long_value), &err), 0);
  /* short values are indistinguishable by length */
  assert_int_equal(alen, 256);
  assert_int_equal(blen, 256);
  assert_memory_equal(a, "orgsecrets.io/envelope/v1\norganization: acme\n", 45);
  assert_int_equal(seal_envelope_decode(&v, &vlen, b, blen, "acme", "prod", NULL, "X", &err), 0);
  assert_int_equal(vlen, sizeof(long_value));
  assert_memory_equal(v, long_value, vlen);
  os_free_secret(v, vlen);
  /* every field is bound */
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen, "acme", "prod", NULL, "Y", &err),
                   OS_EBINDING);
  assert_non_null(strstr(err.msg, "binding mismatch"));
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen, "acme", "dev", NULL, "X", &err),
                   OS_EBINDING);
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen, "acme", "prod", "api", "X", &err),
                   OS_EBINDING);
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen, "other", "prod", NULL, "X", &err),
                   OS_EBINDING);
  /* padding must be zero and canonical */
  a[alen - 1] = 1;
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen, "acme", "prod", NULL, "X", &err),
                   OS_EINVAL);
  assert_int_equal(seal_envelope_decode(&v, &vlen, a, alen - 1, "acme", "prod", NULL, "X", &err),
                   OS_EINVAL);
  /* large values are padded to 4 KiB steps */
  uint8_t *big_env;
  size_t big_len;
  char *big = calloc(1, 5000);
  memset(big, 'z', 5000);
  assert_int_equal(seal_envelope_encode(&big_env, &big_len, "acme", "prod", "api", "X", big, 5000,
                                        &err), 0);
  assert_int_equal(big_len, 8192);
  assert_int_equal(seal_envelope_encode(&v, &vlen, "acme", "prod", NULL, "X", big, 0, &err),
                   OS_EINVAL);
  free(big);
  os_free_secret(big_env, big_len);
  os_free_secret(a, alen);
  os_free_secret(b, blen);
}

static void test_recipients_by_role(void **state) {
  fixture *f = *state;
  os_error err = OS_ERROR_INIT;
  char **r;
  size_t n;
  assert_int_equal(seal_recipients_for(&r, &n, &f->org, "prod", false, &err), 0);
  assert_int_equal(n, 3); /* prod controller, admin, member */
  for (size_t i = 0; i + 1 < n; i++)
    assert_true(strcmp(r[i], r[i + 1]) < 0);
  bool has_viewer = false, has_dev = false;
  for (size_t i = 0; i < n; i++) {
    has_viewer |= strcmp(r[i], f->rcpt[2]) == 0;
    has_dev |= strcmp(r[i], f->rcpt[4]) == 0;
  }
  assert_false(has_viewer);
  assert_false(has_dev);
  seal_strings_free(r, n);
  assert_int_equal(seal_recipients_for(&r, &n, &f->org, "prod", true, &err), 0);
  assert_int_equal(n, 4);
  seal_strings_free(r, n);
  assert_int_equal(seal_recipients_for(&r, &n, &f->org, "staging", false, &err), OS_ENOTFOUND);
  char fp[SPEC_FINGERPRINT_LEN + 1];
  assert_int_equal(seal_fingerprint(fp, f->rcpt[0], &err), 0);
  assert_int_equal(strlen(fp), 16);
  assert_int_equal(seal_fingerprint(fp, "age1notakey", &err) < 0, 1);
}

static void test_seal_roles(void **state) {
  fixture *f = *state;
  os_error err = OS_ERROR_INIT;
  spec_secret *s = make_secret("prod", NULL, "DB_PASSWORD");
  assert_int_equal(seal_value(s, &f->org, "s3cr3t-pw", 9, &err), 0);
  assert_non_null(strstr(s->encrypted_value, "-----BEGIN AGE ENCRYPTED FILE-----"));
  assert_int_equal(s->n_recipients, 3);
  assert_true(seal_recipients_current(s, &f->org));
  assert_int_equal(unseal_with(s, f->admin, &err), 0);
  assert_int_equal(unseal_with(s, f->member, &err), 0);
  assert_int_equal(unseal_with(s, f->prod_ctl, &err), 0);
  assert_int_equal(unseal_with(s, f->viewer, &err), OS_ENOIDENTITY);
  assert_non_null(strstr(err.msg, "not a recipient"));
  assert_int_equal(unseal_with(s, f->dev_ctl, &err), OS_ENOIDENTITY);
  assert_int_equal(unseal_with(s, f->outsider, &err), OS_ENOIDENTITY);

  /* visible to viewers: the viewer joins the recipients */
  s->visible_to_viewers = true;
  assert_false(seal_recipients_current(s, &f->org));
  assert_int_equal(seal_value(s, &f->org, "s3cr3t-pw", 9, &err), 0);
  assert_int_equal(unseal_with(s, f->viewer, &err), 0);

  /* a removed member falls out of the current set */
  f->org.n_members = 1; /* admin only */
  assert_false(seal_recipients_current(s, &f->org));
  assert_int_equal(seal_value(s, &f->org, "s3cr3t-pw", 9, &err), 0);
  assert_int_equal(unseal_with(s, f->member, &err), OS_ENOIDENTITY);
  f->org.n_members = 3;
  free_secret(s);
}

static void test_moved_ciphertext_fails(void **state) {
  fixture *f = *state;
  os_error err = OS_ERROR_INIT;
  spec_secret *a = make_secret("prod", NULL, "DB_PASSWORD");
  assert_int_equal(seal_value(a, &f->org, "s3cr3t-pw", 9, &err), 0);
  const char *moves[][3] = {{"prod", NULL, "OTHER"}, {"dev", NULL, "DB_PASSWORD"},
                            {"prod", "api", "DB_PASSWORD"}};
  for (size_t i = 0; i < 3; i++) {
    spec_secret *b = make_secret(moves[i][0], moves[i][1], moves[i][2]);
    b->encrypted_value = strdup(a->encrypted_value);
    assert_int_equal(unseal_with(b, f->admin, &err), OS_EBINDING);
    assert_non_null(strstr(err.msg, "binding mismatch"));
    free_secret(b);
  }
  spec_secret *c = make_secret("prod", NULL, "DB_PASSWORD");
  free(c->organization);
  c->organization = strdup("globex");
  c->encrypted_value = strdup(a->encrypted_value);
  assert_int_equal(unseal_with(c, f->admin, &err), OS_EBINDING);
  free_secret(c);
  /* a flipped byte in the armored payload fails integrity */
  char *p = strstr(a->encrypted_value, "---\n");
  size_t len = strlen(a->encrypted_value);
  char *last_line = a->encrypted_value + len - 40;
  assert_non_null(p);
  last_line[-10] = last_line[-10] == 'A' ? 'B' : 'A';
  int rc = unseal_with(a, f->admin, &err);
  assert_true(rc == OS_EPAYLOAD || rc == OS_EHMAC || rc == OS_EHEADER || rc == OS_EARMOR);
  free_secret(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_envelope_roundtrip_and_padding),
      cmocka_unit_test_setup_teardown(test_recipients_by_role, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seal_roles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_moved_ciphertext_fails, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
