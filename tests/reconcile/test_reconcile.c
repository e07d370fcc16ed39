/* Unit tests of the controller's pure parts: plans, the unseal cache, env
 * files, and the lenient folder source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "kube/kube.h"
#include "reconcile/envfiles.h"
#include "reconcile/kubesync.h"
#include "reconcile/plan.h"
#include "reconcile/source.h"
#include "seal/seal.h"
#include "spec/spec.h"
#include "../common/scratch.h"

typedef struct fx {
  age_identity *admin, *ctl, *other;
  spec_tree *t;
  char dir[64];
  uint8_t ck[32];
  reconcile_plan_secret refs[16]; /* the plans' view of t->secrets */
  const reconcile_plan_secret *refv[16];
} fx;

static char *rcpt(const age_identity *id) {
  char *s = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(age_recipient_encode(&s, age_identity_recipient(id), &err), 0);
  return s;
}

static char **strv1(const char *s) {
  char **v = calloc(1, sizeof(char *));
  v[0] = strdup(s);
  return v;
}

/* A secret of org sealed to its recipients. */
static spec_secret *sealed(const spec_org *org, const char *app, const char *name,
                           const char *value) {
  os_error err = OS_ERROR_INIT;
  spec_secret *s = spec_secret_new();
  s->organization = strdup(org->id);
  s->environment = strdup("prod");
  s->application = app ? strdup(app) : NULL;
  s->name = strdup(name);
  s->created_by = strdup("a@x");
  s->updated_by = strdup("a@x");
  s->created_at = strdup("2026-01-01T00:00:00Z");
  s->updated_at = strdup("2026-01-01T00:00:00Z");
  s->rotated_at = strdup("2026-01-01T00:00:00Z");
  assert_int_equal(seal_value(s, org, value, strlen(value), &err), 0);
  return s;
}

static void add_secret(fx *f, const char *app, const char *name, const char *value) {
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_put_secret(f->t, sealed(f->t->org, app, name, value), &err), 0);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  os_error err = OS_ERROR_INIT;
  assert_int_equal(age_identity_generate(&f->admin, &err), 0);
  assert_int_equal(age_identity_generate(&f->ctl, &err), 0);
  assert_int_equal(age_identity_generate(&f->other, &err), 0);
  snprintf(f->dir, sizeof(f->dir), "/tmp/os-reconcile-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->t = spec_tree_new(f->dir);
  spec_org *o = spec_org_new();
  o->id = strdup("acme");
  o->n_members = 1;
  o->members = calloc(1, sizeof(*o->members));
  o->members[0].name = strdup("a@x");
  o->members[0].role = SPEC_ROLE_ADMIN;
  o->members[0].recipient = rcpt(f->admin);
  o->n_envs = 1;
  o->envs = calloc(1, sizeof(*o->envs));
  o->envs[0].name = strdup("prod");
  o->envs[0].controllers = calloc(1, sizeof(char *));
  o->envs[0].controllers[0] = rcpt(f->ctl);
  o->envs[0].n_controllers = 1;
  o->envs[0].namespaces = strv1("shop");
  o->envs[0].n_namespaces = 1;
  o->n_apps = 1;
  o->apps = calloc(1, sizeof(*o->apps));
  o->apps[0].name = strdup("api");
  o->apps[0].namespaces = strv1("api");
  o->apps[0].n_namespaces = 1;
  assert_int_equal(spec_tree_set_org(f->t, o, &err), 0);
  add_secret(f, NULL, "DB_PASSWORD", "it's \"quoted\"\nand multi-line");
  add_secret(f, NULL, "API_KEY", "ak-123");
  add_secret(f, "api", "FLAGS", "x=1");
  assert_int_equal(reconcile_plan_checksum_key(f->ck, f->ctl, &err), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  spec_tree_free(f->t);
  age_identity_free(f->admin);
  age_identity_free(f->ctl);
  age_identity_free(f->other);
  free(f);
  return 0;
}

static reconcile_plan *build(fx *f, const age_identity *id, reconcile_plan_cache *cache) {
  const age_identity *ids[] = {id};
  assert_true(f->t->n_secrets <= 16);
  for (size_t i = 0; i < f->t->n_secrets; i++) {
    reconcile_plan_secret_of(&f->refs[i], f->t->secrets[i], NULL);
    f->refv[i] = &f->refs[i];
  }
  reconcile_plan_input in = {f->t->org, f->refv, f->t->n_secrets, "prod", ids,
                             1,         f->ck,   false,           cache};
  reconcile_plan *p = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(reconcile_plan_build(&p, &in, &err), 0);
  return p;
}

static void test_plan_targets(void **state) {
  fx *f = *state;
  reconcile_plan *p = build(f, f->ctl, NULL);
  assert_int_equal(p->n_targets, 2);
  assert_int_equal(p->n_failures, 0);
  assert_int_equal(p->n_active, 3);
  const reconcile_plan_target *org = &p->targets[0], *app = &p->targets[1];
  assert_null(org->application);
  assert_string_equal(org->secret_name, "acme-secrets");
  assert_string_equal(org->env_file, "acme-prod.env");
  assert_int_equal(org->n_entries, 2);
  assert_string_equal(org->entries[0].name, "API_KEY"); /* sorted */
  assert_string_equal(org->entries[1].name, "DB_PASSWORD");
  assert_string_equal(app->application, "api");
  assert_string_equal(app->secret_name, "api-secrets");
  assert_string_equal(app->env_file, "acme-prod-api.env");
  assert_int_equal(app->n_entries, 1);
  assert_memory_equal(app->entries[0].value, "x=1", 3);
  reconcile_plan_free(p);
}

static void test_plan_failure_isolated(void **state) {
  fx *f = *state;
  /* a disabled secret is not delivered */
  spec_tree_find_secret(f->t, "prod", NULL, "API_KEY")->state = SPEC_STATE_DISABLED;
  /* a value moved from another secret fails with a binding error */
  spec_secret *flags = spec_tree_find_secret(f->t, "prod", "api", "FLAGS");
  spec_secret *db = spec_tree_find_secret(f->t, "prod", NULL, "DB_PASSWORD");
  free(flags->encrypted_value);
  flags->encrypted_value = strdup(db->encrypted_value);
  reconcile_plan *p = build(f, f->ctl, NULL);
  assert_int_equal(p->n_disabled, 1);
  assert_int_equal(p->n_failures, 1);
  assert_string_equal(p->failures[0].reason, "BindingMismatch");
  assert_string_equal(p->failures[0].resource, "acme.prod.api.flags");
  assert_int_equal(p->targets[0].n_entries, 1);
  assert_int_equal(p->targets[1].n_entries, 0);
  assert_int_equal(p->targets[1].n_kept, 1);
  assert_string_equal(p->targets[1].kept[0], "FLAGS");
  /* each result has its own message */
  int seen = 0;
  for (size_t i = 0; i < p->n_results; i++) {
    const reconcile_plan_secret_result *r = &p->results[i];
    const char *m = reconcile_plan_result_message(p, r);
    if (strcmp(r->secret->ref.name, "FLAGS") == 0) {
      assert_string_equal(r->reason, "BindingMismatch");
      assert_ptr_equal(m, p->failures[0].message);
      seen |= 1;
    } else if (strcmp(r->secret->ref.name, "API_KEY") == 0) {
      assert_string_equal(r->reason, "Disabled");
      assert_non_null(strstr(m, "disabled"));
      seen |= 2;
    } else {
      assert_string_equal(r->reason, "Synced");
      assert_string_equal(m, "");
      seen |= 4;
    }
  }
  assert_int_equal(seen, 7);
  reconcile_plan_free(p);
  /* a key that is not a recipient: every failure points at its own result */
  p = build(f, f->other, NULL);
  assert_int_equal(p->n_failures, 2);
  assert_string_equal(p->failures[0].reason, "NotRecipient");
  for (size_t i = 0; i < p->n_failures; i++) {
    const reconcile_plan_secret_result *r = &p->results[p->failures[i].result];
    assert_string_equal(r->reason, p->failures[i].reason);
    assert_ptr_equal(reconcile_plan_result_message(p, r), p->failures[i].message);
    assert_string_equal(r->secret->ref.name, p->failures[i].name);
  }
  reconcile_plan_free(p);
}

/* A secret naming an application the Organization does not define (one
 * removed from it): InvalidSpec, and the plan deletes nothing. */
static void test_plan_unknown_application(void **state) {
  fx *f = *state;
  reconcile_plan *p = build(f, f->ctl, NULL);
  assert_false(p->incomplete);
  assert_false(p->targets[0].keep_unknown);
  reconcile_plan_free(p);
  free(f->t->org->apps[0].name);
  f->t->org->apps[0].name = strdup("renamed");
  p = build(f, f->ctl, NULL);
  assert_true(p->incomplete);
  for (size_t i = 0; i < p->n_targets; i++)
    assert_true(p->targets[i].keep_unknown);
  assert_int_equal(p->n_failures, 1);
  assert_string_equal(p->failures[0].reason, "InvalidSpec");
  assert_string_equal(p->failures[0].name, "FLAGS");
  assert_non_null(strstr(p->failures[0].message, "application api is not defined"));
  assert_int_equal(p->targets[0].n_entries, 2); /* the others are still delivered */
  reconcile_plan_free(p);
}

static void test_plan_cache(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  reconcile_plan_cache *c = NULL;
  assert_int_equal(reconcile_plan_cache_new(&c, &err), 0);
  reconcile_plan *p = build(f, f->ctl, c);
  reconcile_plan_cache_sweep(c);
  assert_int_equal(reconcile_plan_cache_last_unseals(c), 3);
  assert_int_equal(reconcile_plan_cache_size(c), 3);
  reconcile_plan_free(p);
  p = build(f, f->ctl, c);
  reconcile_plan_cache_sweep(c);
  assert_int_equal(reconcile_plan_cache_last_unseals(c), 0); /* nothing changed: nothing opened */
  assert_int_equal(p->targets[0].n_entries, 2);
  assert_memory_equal(p->targets[0].entries[0].value, "ak-123", 6);
  reconcile_plan_free(p);
  add_secret(f, NULL, "API_KEY", "ak-456"); /* re-sealed */
  p = build(f, f->ctl, c);
  assert_int_equal(reconcile_plan_cache_size(c), 4); /* the old value stays until the sweep */
  reconcile_plan_cache_sweep(c);
  assert_int_equal(reconcile_plan_cache_last_unseals(c), 1);
  assert_memory_equal(p->targets[0].entries[0].value, "ak-456", 6);
  assert_int_equal(reconcile_plan_cache_size(c), 3); /* the old value was dropped */
  reconcile_plan_free(p);
  reconcile_plan_cache_free(c);
}

/* A copy of the fixture's Organization under another id. */
static spec_org *other_org(const fx *f, const char *id) {
  os_error err = OS_ERROR_INIT;
  spec_org *o = NULL;
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(spec_org_emit(&text, &len, f->t->org, &err), 0);
  spec_tree *t = spec_tree_new(f->dir);
  assert_int_equal(spec_tree_parse(t, "org2.yaml", text, len, &err), 0);
  o = t->org;
  t->org = NULL;
  spec_tree_free(t);
  free(text);
  free(o->id);
  o->id = strdup(id);
  return o;
}

/* The entry name of target t holds exactly value. */
static void assert_entry(const reconcile_plan_target *t, const char *name, const char *value) {
  for (size_t i = 0; i < t->n_entries; i++) {
    if (strcmp(t->entries[i].name, name) == 0) {
      assert_int_equal(t->entries[i].len, strlen(value));
      assert_memory_equal(t->entries[i].value, value, strlen(value));
      return;
    }
  }
  fail_msg("%s not in target %s", name, t->secret_name);
}

/* Several organizations share one cache (the cluster source builds a plan
 * per organization in a pass): building one plan must not drop the values
 * an earlier plan of the same pass borrows. */
static void test_plan_cache_organizations(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  spec_org *globex = other_org(f, "globex");
  spec_secret *g[2] = {sealed(globex, NULL, "SMTP_PASSWORD", "smtp-pw-0123"),
                       sealed(globex, "api", "TOKEN", "tok\n\"globex\"")};
  const age_identity *ids[] = {f->ctl};
  reconcile_plan_secret refs[8];
  const reconcile_plan_secret *refv[8];
  size_t n = 0;
  for (size_t i = 0; i < f->t->n_secrets; i++, n++) {
    reconcile_plan_secret_of(&refs[n], f->t->secrets[i], NULL);
    refv[n] = &refs[n];
  }
  for (size_t i = 0; i < 2; i++, n++) {
    reconcile_plan_secret_of(&refs[n], g[i], NULL);
    refv[n] = &refs[n];
  }
  reconcile_plan_cache *c = NULL;
  assert_int_equal(reconcile_plan_cache_new(&c, &err), 0);
  for (int pass = 0; pass < 2; pass++) {
    reconcile_plan_input a = {f->t->org, refv, n, "prod", ids, 1, f->ck, false, c};
    reconcile_plan_input b = {globex, refv, n, "prod", ids, 1, f->ck, false, c};
    reconcile_plan *pa = NULL, *pb = NULL;
    assert_int_equal(reconcile_plan_build(&pa, &a, &err), 0);
    assert_int_equal(reconcile_plan_build(&pb, &b, &err), 0);
    /* every value of both plans, byte for byte */
    assert_entry(&pa->targets[0], "API_KEY", "ak-123");
    assert_entry(&pa->targets[0], "DB_PASSWORD", "it's \"quoted\"\nand multi-line");
    assert_entry(&pa->targets[1], "FLAGS", "x=1");
    assert_entry(&pb->targets[0], "SMTP_PASSWORD", "smtp-pw-0123");
    assert_entry(&pb->targets[1], "TOKEN", "tok\n\"globex\"");
    reconcile_plan_cache_sweep(c);
    assert_int_equal(reconcile_plan_cache_last_unseals(c), pass == 0 ? 5 : 0);
    assert_int_equal(reconcile_plan_cache_size(c), 5);
    /* the sweep after the pass keeps what its plans borrow */
    assert_entry(&pa->targets[0], "API_KEY", "ak-123");
    assert_entry(&pb->targets[0], "SMTP_PASSWORD", "smtp-pw-0123");
    reconcile_plan_free(pa);
    reconcile_plan_free(pb);
  }
  /* a pass without globex: its values go at the sweep, acme's stay */
  reconcile_plan_input a = {f->t->org, refv, n, "prod", ids, 1, f->ck, false, c};
  reconcile_plan *pa = NULL;
  assert_int_equal(reconcile_plan_build(&pa, &a, &err), 0);
  reconcile_plan_cache_sweep(c);
  assert_int_equal(reconcile_plan_cache_size(c), 3);
  assert_entry(&pa->targets[0], "API_KEY", "ak-123");
  reconcile_plan_free(pa);
  reconcile_plan_cache_free(c);
  spec_secret_free(g[0]);
  spec_secret_free(g[1]);
  spec_org_free(globex);
}

static void test_envfiles_sync_keeps_failed(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  char *envdir = os_path_join(f->dir, "env");
  reconcile_plan *p = build(f, f->ctl, NULL);
  reconcile_envfiles_result r;
  assert_int_equal(reconcile_envfiles_sync(&r, p, envdir, NULL, NULL, &err), 0);
  assert_int_equal(r.written, 2);
  reconcile_plan_free(p);
  p = build(f, f->ctl, NULL);
  assert_int_equal(reconcile_envfiles_sync(&r, p, envdir, NULL, NULL, &err), 0);
  assert_int_equal(r.written, 0);
  assert_int_equal(r.unchanged, 2);
  reconcile_plan_free(p);
  /* API_KEY becomes unreadable: its old line stays, the others update */
  spec_secret *ak = spec_tree_find_secret(f->t, "prod", NULL, "API_KEY");
  spec_secret *db = spec_tree_find_secret(f->t, "prod", NULL, "DB_PASSWORD");
  free(ak->encrypted_value);
  ak->encrypted_value = strdup(db->encrypted_value);
  p = build(f, f->ctl, NULL);
  assert_int_equal(reconcile_envfiles_sync(&r, p, envdir, NULL, NULL, &err), 0);
  char *path = os_path_join(envdir, "acme-prod.env");
  char *data = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&data, &len, path, 1 << 20, &err), 0);
  assert_non_null(strstr(data, "API_KEY=ak-123\n"));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  free(data);
  reconcile_plan_free(p);
  /* a spec may not point the controller outside its folder */
  free(f->t->org->envs[0].env_file);
  f->t->org->envs[0].env_file = strdup("../escape.env");
  p = build(f, f->ctl, NULL);
  assert_int_equal(reconcile_envfiles_sync(&r, p, envdir, NULL, NULL, &err), OS_EINVAL);
  assert_int_equal(r.failed, 1);
  char *escape = os_path_join(f->dir, "escape.env");
  assert_int_not_equal(access(escape, F_OK), 0);
  reconcile_plan_free(p);
  free(escape);
  free(path);
  free(envdir);
}

static void count_problem(void *ctx, const char *file, int line, const char *msg) {
  (void)file;
  (void)line;
  (void)msg;
  (*(int *)ctx)++;
}

/* A load that must work, problems counted. */
static void load_ok(reconcile_source_cache *c, reconcile_source_view *v, bool *incomplete,
                    int *problems) {
  os_error err = OS_ERROR_INIT;
  assert_int_equal(reconcile_source_cache_load(c, v, incomplete, count_problem, problems, &err), 0);
}

/* Remembers the last problem reported. */
typedef struct seen_problems {
  int n;
  char last[600];
} seen_problems;

static void keep_problem(void *ctx, const char *file, int line, const char *msg) {
  (void)file;
  (void)line;
  seen_problems *sp = ctx;
  sp->n++;
  snprintf(sp->last, sizeof(sp->last), "%s", msg);
}

static const reconcile_plan_secret *view_find(const reconcile_source_view *v, const char *name) {
  for (size_t i = 0; i < v->n_secrets; i++)
    if (strcmp(v->secrets[i]->ref.name, name) == 0)
      return v->secrets[i];
  return NULL;
}

static const reconcile_plan_secret *must_find(const reconcile_source_view *v, const char *name) {
  const reconcile_plan_secret *p = view_find(v, name);
  if (p == NULL) {
    fail_msg("%s not in the view", name);
    abort();
  }
  return p;
}

static void write_tree(fx *f) {
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_write_file(f->t, f->t->org->pos.file, &err), 0);
  for (size_t i = 0; i < f->t->n_secrets; i++) {
    char *rel = spec_secret_default_path("prod", NULL, f->t->secrets[i]->name);
    free(f->t->secrets[i]->pos.file);
    f->t->secrets[i]->pos.file = rel;
    assert_int_equal(spec_tree_write_file(f->t, rel, &err), 0);
  }
}

static void test_source_cache(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  write_tree(f);
  reconcile_source_cache *c = NULL;
  assert_int_equal(reconcile_source_cache_new(&c, f->dir, &err), 0);
  reconcile_source_view v;
  bool incomplete = true;
  int problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_false(incomplete);
  assert_int_equal(v.n_secrets, 3);
  assert_string_equal(v.org->id, "acme");
  /* without a hook the specs stay, with the digest of what was read */
  const reconcile_plan_secret *ak = must_find(&v, "API_KEY");
  assert_non_null(ak->spec);
  assert_string_equal(ak->ref.pos.file, "secrets/prod/API_KEY.yaml");
  assert_true(ak->ref.pos.line > 0);
  assert_string_equal(ak->ref.organization, "acme");
  assert_null(ak->ref.application);
  assert_string_equal(must_find(&v, "FLAGS")->ref.application, "api");
  /* names many secrets share are held once */
  assert_ptr_equal(must_find(&v, "FLAGS")->ref.organization, ak->ref.organization);
  assert_ptr_equal(must_find(&v, "FLAGS")->ref.environment, ak->ref.environment);
  uint8_t d[32];
  reconcile_plan_secret_digest(d, ak->spec);
  assert_memory_equal(d, ak->digest, 32);
  reconcile_source_view_clear(&v);

  /* unchanged files are not parsed again: the same records come back */
  load_ok(c, &v, &incomplete, &problems);
  assert_ptr_equal(view_find(&v, "API_KEY"), ak);
  reconcile_source_view_clear(&v);

  uint64_t s1 = 0, s2 = 0;
  assert_int_equal(reconcile_source_dir_stamp(&s1, f->dir, &err), 0);
  /* a broken file never read before: the rest loads, the source is incomplete */
  char *bad = os_path_join(f->dir, "secrets/prod/BROKEN.yaml");
  assert_int_equal(os_write_file_atomic(bad, "kind: [unclosed\n", 16, 0644, &err), 0);
  assert_int_equal(reconcile_source_dir_stamp(&s2, f->dir, &err), 0);
  assert_true(s1 != s2);
  problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_true(incomplete);
  assert_int_equal(problems, 1);
  assert_int_equal(v.n_secrets, 3);
  reconcile_source_view_clear(&v);
  unlink(bad);

  /* a good file that breaks keeps its last good documents: complete, reported */
  char *api = os_path_join(f->dir, "secrets/prod/API_KEY.yaml");
  assert_int_equal(os_write_file_atomic(api, "spec: {oops\n", 12, 0644, &err), 0);
  problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_false(incomplete);
  assert_int_equal(problems, 1);
  assert_int_equal(v.n_secrets, 3);
  assert_non_null(view_find(&v, "API_KEY"));
  reconcile_source_view_clear(&v);
  /* a file removed from the folder is gone from the next load */
  unlink(api);
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(v.n_secrets, 2);
  assert_null(view_find(&v, "API_KEY"));
  reconcile_source_view_clear(&v);
  reconcile_source_cache_free(c);
  free(api);
  free(bad);
}

/* The hook decides which specs are dropped after reading. */
typedef struct hook_calls {
  int calls;
  const char *keep; /* name whose spec is kept (the hook "fails" it) */
} hook_calls;

static int test_hook(void *ctx, const spec_secret *s, const uint8_t digest[32], uint8_t **value,
                     size_t *len) {
  hook_calls *h = ctx;
  h->calls++;
  uint8_t d[32];
  reconcile_plan_secret_digest(d, s);
  assert_memory_equal(d, digest, 32);
  assert_non_null(s->encrypted_value); /* the hook sees the whole spec */
  if (h->keep != NULL && strcmp(s->name, h->keep) == 0)
    return OS_ENOIDENTITY;
  char buf[80];
  int n = snprintf(buf, sizeof(buf), "open:%s:%d", s->name, h->calls);
  *value = malloc((size_t)n);
  assert_non_null(*value);
  memcpy(*value, buf, (size_t)n);
  *len = (size_t)n;
  return 0;
}

/* A source cache over the fixture's folder, its hook counting into h. */
static reconcile_source_cache *new_source(fx *f, hook_calls *h) {
  os_error err = OS_ERROR_INIT;
  reconcile_source_cache *c = NULL;
  assert_int_equal(reconcile_source_cache_new(&c, f->dir, &err), 0);
  reconcile_source_cache_set_hook(c, test_hook, h);
  return c;
}

/* The value the record holds, as a string (test values have no NUL). */
static void assert_value(const reconcile_plan_secret *p, const char *want) {
  assert_non_null(p->value);
  assert_int_equal(p->value_len, strlen(want));
  assert_memory_equal(p->value, want, strlen(want));
}

static void test_source_hook_releases(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  write_tree(f);
  hook_calls h = {0, "FLAGS"};
  reconcile_source_cache *c = new_source(f, &h);
  reconcile_source_view v;
  bool incomplete = true;
  int problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(h.calls, 3);
  const reconcile_plan_secret *ak = must_find(&v, "API_KEY");
  assert_null(ak->spec);       /* dropped: the value is in the record */
  assert_true(ak->has_digest); /* and its ciphertext can still be recognised */
  assert_non_null(ak->value);
  assert_memory_equal(ak->value, "open:API_KEY:", 13);
  assert_null(must_find(&v, "FLAGS")->value);    /* not opened */
  assert_non_null(must_find(&v, "FLAGS")->spec); /* kept: the plan retries it */
  char first[80];
  snprintf(first, sizeof(first), "%.*s", (int)ak->value_len, (const char *)ak->value);
  reconcile_source_view_clear(&v);
  /* nothing changed: the hook is not called again */
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(h.calls, 3);
  reconcile_source_view_clear(&v);
  /* the file is rewritten with the same ciphertext: it is read again, and
   * the value is carried over without opening it again */
  spec_secret *s = spec_tree_find_secret(f->t, "prod", NULL, "API_KEY");
  char *path = os_path_join(f->dir, s->pos.file), *text = NULL;
  size_t text_len = 0;
  assert_int_equal(os_read_file(&text, &text_len, path, 1 << 20, &err), 0);
  assert_int_equal(os_write_file_atomic(path, text, text_len, 0644, &err), 0); /* a new inode */
  free(text);
  free(path);
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(h.calls, 3);
  assert_true(must_find(&v, "API_KEY") != ak); /* a new record */
  assert_value(must_find(&v, "API_KEY"), first);
  reconcile_source_view_clear(&v);
  /* a new ciphertext is opened again, and only it */
  assert_int_equal(seal_value(s, f->t->org, "rotated", 7, &err), 0);
  assert_int_equal(spec_tree_write_file(f->t, s->pos.file, &err), 0);
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(h.calls, 4);
  assert_value(must_find(&v, "API_KEY"), "open:API_KEY:4");
  reconcile_source_view_clear(&v);
  reconcile_source_cache_free(c);
}

/* Paths whose byte order differs from their per-directory walk order
 * ("a-c" sorts before "a/x" byte-wise, after it by components): a second
 * load must still find every file in the cache and re-read none. */
static void test_source_path_order(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  const char *paths[] = {"s/a-c.yaml", "s/a/x.yaml",  "s/a.yaml",
                         "s/a0.yaml",  "s/a/b/y.yml", "s/A.yaml"};
  const char *names[] = {"P_ONE", "P_TWO", "P_THREE", "P_FOUR", "P_FIVE", "P_SIX"};
  write_tree(f);
  for (size_t i = 0; i < 6; i++) {
    add_secret(f, NULL, names[i], "v");
    spec_secret *s = spec_tree_find_secret(f->t, "prod", NULL, names[i]);
    free(s->pos.file);
    s->pos.file = strdup(paths[i]);
    assert_int_equal(spec_tree_write_file(f->t, paths[i], &err), 0);
  }
  hook_calls h = {0, NULL};
  reconcile_source_cache *c = new_source(f, &h);
  reconcile_source_view v;
  bool incomplete = true;
  int problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(v.n_secrets, 9);
  assert_int_equal(h.calls, 9);
  assert_int_equal(problems, 0);
  reconcile_source_view_clear(&v);
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(v.n_secrets, 9);
  assert_int_equal(h.calls, 9); /* nothing re-read */
  assert_string_equal(must_find(&v, "P_TWO")->ref.pos.file, "s/a/x.yaml");
  reconcile_source_view_clear(&v);
  /* one file removed in the middle of the order: only it is gone */
  char *gone = os_path_join(f->dir, "s/a/x.yaml");
  assert_int_equal(unlink(gone), 0);
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(v.n_secrets, 8);
  assert_int_equal(h.calls, 9);
  assert_null(view_find(&v, "P_TWO"));
  reconcile_source_view_clear(&v);
  free(gone);
  reconcile_source_cache_free(c);
}

/* A walk that fails part-way (a directory nested too deep, sorting before
 * the specs) fails the load but loses nothing: the records not reached are
 * kept, and once the folder is fixed nothing has to be read again. */
/* How many secrets a new source over dir loads, none of them named absent. */
static size_t loaded_without(const char *dir, const char *absent) {
  reconcile_source_cache *c = NULL;
  reconcile_source_view v;
  bool incomplete = true;
  int problems = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(reconcile_source_cache_new(&c, dir, &err), 0);
  load_ok(c, &v, &incomplete, &problems);
  assert_null(view_find(&v, absent));
  assert_false(incomplete);
  size_t n = v.n_secrets;
  reconcile_source_view_clear(&v);
  reconcile_source_cache_free(c);
  return n;
}

/* The controller reads the folder as the CLI does (spec_walk): a symbolic
 * link below it, to a directory or a file, inside or outside, is not
 * followed; the folder itself may be one (a git-sync checkout). */
static void test_source_skips_links(void **state) {
  fx *f = *state;
  write_tree(f);
  char outside[64], from[PATH_MAX], to[PATH_MAX], link[PATH_MAX];
  snprintf(outside, sizeof(outside), "/tmp/os-elsewhere-XXXXXX");
  assert_non_null(mkdtemp(outside));
  snprintf(from, sizeof(from), "%s/secrets/prod/API_KEY.yaml", f->dir);
  snprintf(to, sizeof(to), "%s/API_KEY.yaml", outside);
  assert_int_equal(rename(from, to), 0);
  snprintf(link, sizeof(link), "%s/secrets/linked", f->dir);
  assert_int_equal(symlink(outside, link), 0);
  snprintf(link, sizeof(link), "%s/secrets/prod/LINKED.yaml", f->dir);
  assert_int_equal(symlink(to, link), 0);
  snprintf(link, sizeof(link), "%s/inside", f->dir);
  assert_int_equal(symlink("secrets", link), 0);
  assert_int_equal(loaded_without(f->dir, "API_KEY"), 2); /* DB_PASSWORD and FLAGS, each once */
  /* the fingerprint ignores what only a link reaches */
  uint64_t before = 0, after = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(reconcile_source_dir_stamp(&before, f->dir, &err), 0);
  scratch_put(to, "# changed outside\n");
  assert_int_equal(reconcile_source_dir_stamp(&after, f->dir, &err), 0);
  assert_true(before == after);
  /* the folder reached through a link */
  char folder_link[80];
  snprintf(folder_link, sizeof(folder_link), "%s-link", outside);
  assert_int_equal(symlink(f->dir, folder_link), 0);
  assert_int_equal(loaded_without(folder_link, "API_KEY"), 2);
  assert_int_equal(unlink(folder_link), 0);
  scratch_rm(outside);
}

static void test_source_walk_failure_keeps_records(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  write_tree(f);
  hook_calls h = {0, NULL};
  reconcile_source_cache *c = new_source(f, &h);
  reconcile_source_view v;
  bool incomplete = true;
  int problems = 0;
  load_ok(c, &v, &incomplete, &problems);
  assert_int_equal(v.n_secrets, 3);
  assert_int_equal(h.calls, 3);
  reconcile_source_view_clear(&v);
  /* "a/0/1/.../40" sorts before "organization.yaml" and "secrets" */
  char path[4096];
  snprintf(path, sizeof(path), "%s/a", f->dir);
  assert_int_equal(mkdir(path, 0755), 0);
  for (int i = 0; i < 40; i++) {
    size_t n = strlen(path);
    snprintf(path + n, sizeof(path) - n, "/%d", i);
    assert_int_equal(mkdir(path, 0755), 0);
  }
  assert_int_not_equal(
      reconcile_source_cache_load(c, &v, &incomplete, count_problem, &problems, &err), 0);
  assert_non_null(strstr(err.msg, "nested deeper than"));
  assert_null(v.secrets);
  /* fixed: every record is still there, none is read again */
  for (int i = 40; i >= 0; i--) {
    assert_int_equal(rmdir(path), 0);
    *strrchr(path, '/') = '\0';
  }
  load_ok(c, &v, &incomplete, &problems);
  assert_false(incomplete);
  assert_int_equal(v.n_secrets, 3);
  assert_int_equal(h.calls, 3);
  assert_value(must_find(&v, "API_KEY"), "open:API_KEY:1");
  reconcile_source_view_clear(&v);
  reconcile_source_cache_free(c);
}

static void test_source_validation(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  write_tree(f);
  reconcile_source_cache *c = NULL;
  assert_int_equal(reconcile_source_cache_new(&c, f->dir, &err), 0);
  reconcile_source_view v;
  bool incomplete = false;
  seen_problems sp = {0, ""};
  /* a secret naming an application the Organization does not define: left
   * out, reported at its file and line, and nothing may be deleted */
  spec_secret *flags = spec_tree_find_secret(f->t, "prod", "api", "FLAGS");
  free(flags->application);
  flags->application = strdup("nope");
  assert_int_equal(spec_tree_write_file(f->t, flags->pos.file, &err), 0);
  assert_int_equal(reconcile_source_cache_load(c, &v, &incomplete, keep_problem, &sp, &err), 0);
  assert_true(incomplete);
  assert_int_equal(v.n_secrets, 2);
  assert_null(view_find(&v, "FLAGS"));
  assert_non_null(strstr(sp.last, "secrets/prod/FLAGS.yaml:"));
  assert_non_null(strstr(sp.last, "unknown application \"nope\""));
  reconcile_source_view_clear(&v);
  /* a check of one document failing (a bad timestamp) in a file that was
   * good: reported, its last good version stays */
  free(flags->application);
  flags->application = strdup("api");
  assert_int_equal(spec_tree_write_file(f->t, flags->pos.file, &err), 0);
  assert_int_equal(reconcile_source_cache_load(c, &v, &incomplete, keep_problem, &sp, &err), 0);
  assert_false(incomplete);
  assert_int_equal(v.n_secrets, 3);
  const reconcile_plan_secret *good = view_find(&v, "FLAGS");
  reconcile_source_view_clear(&v);
  free(flags->updated_at);
  flags->updated_at = strdup("2026-13-45T00:00:00Z");
  assert_int_equal(spec_tree_write_file(f->t, flags->pos.file, &err), 0);
  sp.n = 0;
  assert_int_equal(reconcile_source_cache_load(c, &v, &incomplete, keep_problem, &sp, &err), 0);
  assert_int_equal(sp.n, 1);
  assert_non_null(strstr(sp.last, "secrets/prod/FLAGS.yaml:"));
  assert_non_null(strstr(sp.last, "RFC 3339"));
  assert_false(incomplete);
  assert_ptr_equal(view_find(&v, "FLAGS"), good);
  reconcile_source_view_clear(&v);
  /* the same secret in a second file: the later one is left out */
  char *src = os_path_join(f->dir, "secrets/prod/API_KEY.yaml");
  char *dup = os_path_join(f->dir, "secrets/prod/zz-copy.yaml");
  char *data = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&data, &len, src, 1 << 20, &err), 0);
  assert_int_equal(os_write_file_atomic(dup, data, len, 0644, &err), 0);
  sp.n = 0;
  assert_int_equal(reconcile_source_cache_load(c, &v, &incomplete, keep_problem, &sp, &err), 0);
  assert_true(incomplete);
  assert_int_equal(v.n_secrets, 3);
  assert_string_equal(must_find(&v, "API_KEY")->ref.pos.file, "secrets/prod/API_KEY.yaml");
  assert_non_null(strstr(sp.last, "secrets/prod/zz-copy.yaml:"));
  assert_non_null(strstr(sp.last, "duplicate secret API_KEY"));
  reconcile_source_view_clear(&v);
  free(data);
  free(src);
  free(dup);
  reconcile_source_cache_free(c);
}

/* A client for a server that is not there (requests fail at once). */
static kube_client *unreachable_client(fx *f) {
  os_error err = OS_ERROR_INIT;
  char *path = os_path_join(f->dir, "kubeconfig");
  const char *text = "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                     "clusters: [{name: k, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
                     "users: [{name: u, user: {token: t}}]\n"
                     "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
  assert_int_equal(os_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
  kube_options ko = {.kubeconfig = path, .max_retries = -1, .connect_timeout_ms = 500};
  kube_client *k = NULL;
  assert_int_equal(kube_client_new(&k, &ko, &err), 0);
  free(path);
  return k;
}

/* An owned Secret of acme/prod as a list or a watch gives it. */
static json_t *owned_secret(const char *ns, const char *name) {
  json_t *o = json_pack("{s:s,s:{s:{s:s,s:s,s:s}},s:{}}", "type", "Opaque", "metadata", "labels",
                        SPEC_LABEL_MANAGED_BY, SPEC_MANAGER, SPEC_LABEL_ORG, "acme", SPEC_LABEL_ENV,
                        "prod", "data");
  json_t *meta = json_object_get(o, "metadata");
  if (ns != NULL)
    json_object_set_new(meta, "namespace", json_string(ns));
  if (name != NULL)
    json_object_set_new(meta, "name", json_string(name));
  return o;
}

/* A Secret from a list or a watch without metadata.namespace or name is
 * neither cached nor acted on. */
static void test_kubesync_nameless_records(void **state) {
  fx *f = *state;
  os_error err = OS_ERROR_INIT;
  reconcile_kubesync_cache *c = NULL;
  assert_int_equal(reconcile_kubesync_cache_new(&c, &err), 0);
  json_t *no_ns = owned_secret(NULL, "acme-secrets"), *no_name = owned_secret("shop", NULL),
         *empty = owned_secret("", "acme-secrets"), *good = owned_secret("shop", "acme-secrets");
  reconcile_kubesync_cache_apply(c, "ADDED", no_ns);
  reconcile_kubesync_cache_apply(c, "MODIFIED", no_name);
  reconcile_kubesync_cache_apply(c, "ADDED", empty);
  assert_int_equal(reconcile_kubesync_cache_size(c), 0);
  reconcile_kubesync_cache_apply(c, "DELETED", no_ns);
  assert_int_equal(reconcile_kubesync_cache_size(c), 0);
  /* a pass with nothing to deliver deletes what is unwanted: nothing here */
  kube_client *k = unreachable_client(f);
  reconcile_plan *p = build(f, f->ctl, NULL);
  size_t n_ns[8];
  for (size_t i = 0; i < p->n_targets; i++) {
    n_ns[i] = p->targets[i].n_namespaces;
    p->targets[i].n_namespaces = 0;
  }
  reconcile_kubesync_result res;
  assert_int_equal(reconcile_kubesync_run(&res, k, c, p, false, NULL, NULL, NULL, &err), 0);
  assert_int_equal(res.deleted + res.failed, 0);
  /* a well-formed record is cached, and its deletion is attempted */
  reconcile_kubesync_cache_apply(c, "ADDED", good);
  assert_int_equal(reconcile_kubesync_cache_size(c), 1);
  assert_int_not_equal(reconcile_kubesync_run(&res, k, c, p, false, NULL, NULL, NULL, &err), 0);
  assert_int_equal(res.failed, 1);
  for (size_t i = 0; i < p->n_targets; i++)
    p->targets[i].n_namespaces = n_ns[i];
  reconcile_plan_free(p);
  kube_client_free(k);
  json_decref(no_ns);
  json_decref(no_name);
  json_decref(empty);
  json_decref(good);
  reconcile_kubesync_cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_plan_targets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_failure_isolated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_unknown_application, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_cache_organizations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_envfiles_sync_keeps_failed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_hook_releases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_path_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_walk_failure_keeps_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_skips_links, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kubesync_nameless_records, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
