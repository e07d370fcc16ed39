/* A scratch organization for the pkg/org tests (include after cmocka.h):
 * admin alice, member bob, viewer vic (with a key), environments dev and
 * prod with controller keys, application web; identity files in DIR/keys.
 * Values are made per run and never printed. */
#ifndef ORGSECRETS_TESTS_ORG_FIXTURE_H
#define ORGSECRETS_TESTS_ORG_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "seal/seal.h"
#include "../common/scratch.h"

enum { K_ALICE, K_BOB, K_VIC, K_CAROL, K_CTL_DEV, K_CTL_PROD, K_N };
static const char *const key_names[K_N] = {"alice", "bob", "vic", "carol", "ctl-dev", "ctl-prod"};

typedef struct org_fix {
  char dir[64];             /* scratch folder */
  char org[PATH_MAX];       /* dir/org, the organization folder */
  char key[K_N][PATH_MAX];  /* identity files */
  char *rcpt[K_N];          /* their recipients */
  org_keys *keys[K_N];
  org_ctx as[K_N];          /* ctx acting as alice, bob, vic, carol with their keys */
} org_fix;

/* A new identity file at path (mode 0600); returns its recipient (caller frees). */
static inline char *fix_keygen(const char *path) {
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  char *secret = NULL, *pub = NULL;
  assert_int_equal(age_identity_generate(&id, &err), 0);
  assert_int_equal(age_identity_encode(&secret, id, &err), 0);
  assert_int_equal(age_recipient_encode(&pub, age_identity_recipient(id), &err), 0);
  assert_int_equal(os_write_file_new(path, secret, strlen(secret), 0600, &err), 0);
  os_free_secret_str(secret);
  age_identity_free(id);
  return pub;
}

static inline void fix_load(spec_tree **t, const org_fix *f) {
  os_error err = OS_ERROR_INIT;
  int rc = org_load(t, f->org, &err);
  if (rc != 0)
    fail_msg("load: %s", err.msg);
}

/* Makes the organization (through pkg/org itself). */
static inline org_fix *fix_new(void) {
  org_fix *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  scratch_dir(f->dir);
  char keys[PATH_MAX];
  scratch_mkdir(keys, f->dir, "keys");
  scratch_at(f->org, f->dir, "org");
  static const char *const actors[K_N] = {"alice@example.com", "bob@example.com",
                                          "vic@example.com", "carol@example.com", NULL, NULL};
  for (int k = 0; k < K_N; k++) {
    scratch_at(f->key[k], keys, key_names[k]);
    f->rcpt[k] = fix_keygen(f->key[k]);
    f->keys[k] = org_keys_new(f->key[k]);
    assert_non_null(f->keys[k]);
    f->as[k] = (org_ctx){.actor = actors[k], .keys = f->keys[k]};
  }
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_init(&f->as[K_ALICE], f->org, "acme", 90, &err), 0);
  spec_tree *t = NULL;
  fix_load(&t, f);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "alice@example.com", SPEC_ROLE_ADMIN,
                                  f->rcpt[K_ALICE], &err), 0);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "bob@example.com", SPEC_ROLE_MEMBER,
                                  f->rcpt[K_BOB], &err), 0);
  assert_int_equal(org_member_add(&f->as[K_ALICE], t, "vic@example.com", SPEC_ROLE_VIEWER,
                                  f->rcpt[K_VIC], &err), 0);
  const char *dev_ctl[] = {f->rcpt[K_CTL_DEV]}, *prod_ctl[] = {f->rcpt[K_CTL_PROD]};
  const char *dev_ns[] = {"dev"}, *prod_ns[] = {"prod"}, *web_ns[] = {"web"};
  const org_env_opts dev = {.name = "dev", .controllers = dev_ctl, .n_controllers = 1,
                            .namespaces = dev_ns, .n_namespaces = 1};
  const org_env_opts prod = {.name = "prod", .controllers = prod_ctl, .n_controllers = 1,
                             .namespaces = prod_ns, .n_namespaces = 1};
  const org_app_opts web = {.name = "web", .namespaces = web_ns, .n_namespaces = 1};
  assert_int_equal(org_env_add(&f->as[K_ALICE], t, &dev, &err), 0);
  assert_int_equal(org_env_add(&f->as[K_ALICE], t, &prod, &err), 0);
  assert_int_equal(org_app_add(&f->as[K_ALICE], t, &web, &err), 0);
  spec_tree_free(t);
  return f;
}

static inline void fix_free(org_fix *f) {
  if (f == NULL)
    return;
  for (int k = 0; k < K_N; k++) {
    free(f->rcpt[k]);
    org_keys_free(f->keys[k]);
  }
  scratch_rm(f->dir);
  free(f);
}

static inline int fix_setup(void **state) {
  *state = fix_new();
  return 0;
}

static inline int fix_teardown(void **state) {
  fix_free(*state);
  return 0;
}

/* Sets (creates or updates) env/name to the string value as c's actor. */
static inline int fix_set(org_set_result *res, const org_ctx *c, spec_tree *t, const char *env,
                          const char *name, const char *value, os_error *err) {
  org_set_result ignored;
  const org_secret_opts o = {.environment = env,
                             .name = name,
                             .visible_to_viewers = ORG_KEEP,
                             .state = ORG_KEEP,
                             .value = (const uint8_t *)value,
                             .value_len = value != NULL ? strlen(value) : 0};
  return org_secret_set(res != NULL ? res : &ignored, c, t, &o, err);
}

/* The opened value of env/name with keys (caller frees). */
static inline char *fix_reveal(const spec_tree *t, org_keys *keys, const char *env,
                               const char *name) {
  const spec_secret *s = spec_tree_find_secret(t, env, NULL, name);
  assert_non_null(s);
  const age_identity *const *ids = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(org_keys_get(&ids, &n, keys, &err), 0);
  uint8_t *v = NULL;
  size_t len = 0;
  if (seal_unseal(&v, &len, s, ids, n, &err) < 0)
    return NULL;
  char *out = calloc(1, len + 1);
  memcpy(out, v, len);
  os_free_secret(v, len);
  return out;
}

/* git -C ORG A1 A2 A3 as a fixed author; fails the test when git does. */
static inline void fix_git(const org_fix *f, const char *a1, const char *a2, const char *a3) {
  const char *const args[] = {"-c", "user.email=t@example.com", "-c", "user.name=t", a1, a2, a3,
                              NULL};
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  if (org_git(&out, &len, f->org, args, NULL, 0, 1 << 20, &err) != 0)
    fail_msg("git %s: %s", a1, err.msg);
  free(out);
}

#endif
