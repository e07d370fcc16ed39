/* The organization folder's walk (one symlink rule for the CLI, the
 * controller and lint) and the delivery targets. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "spec/spec.h"
#include "spec_fixtures.h"

/* Every entry a walk reports, as "KIND rel" lines. */
static int record(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  os_buf *b = ctx;
  const char *k = e->kind == SPEC_WALK_FILE ? "F" : e->kind == SPEC_WALK_DIR ? "D" : "L";
  /* the entry is reachable from dirfd without following a link */
  struct stat st;
  assert_int_equal(fstatat(e->dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(st.st_ino == e->st->st_ino);
  FX_OK(os_buf_printf(b, "%s %s\n", k, e->rel));
  return 0;
}

/* record() for SPEC_WALK_NO_STAT: no stat, the same entries. */
static int record_no_stat(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  assert_null(e->st);
  FX_OK(os_buf_printf(ctx, "%s %s\n",
                      e->kind == SPEC_WALK_FILE  ? "F"
                      : e->kind == SPEC_WALK_DIR ? "D"
                                                 : "L",
                      e->rel));
  return 0;
}

static char *walk_text(const char *dir, unsigned flags) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(
      spec_walk(dir, flags, flags & SPEC_WALK_NO_STAT ? record_no_stat : record, &b, &err), 0);
  char *s = NULL;
  assert_int_equal(os_buf_detach(&s, NULL, &b), 0);
  return s;
}

static char *text_of(void (*fn)(os_buf *), os_buf *b) {
  os_buf_init(b, 1 << 20, false);
  fn(b);
  return b->data;
}

/* secrets/linked -> ../elsewhere (outside), secrets/inside -> prod (inside),
 * and file links both ways: none is followed, wherever it points. */
static void test_links_are_not_followed(void **state) {
  (void)state;
  char *root = fx_tmpdir();
  char dir[PATH_MAX], path[PATH_MAX + 64];
  snprintf(dir, sizeof(dir), "%s/org", root);
  os_buf b;
  fx_write(dir, "organization.yaml", text_of(fx_org_text, &b));
  os_buf_free(&b);
  os_buf_init(&b, 1 << 20, false);
  fx_secret_text(&b, "prod", "DB_PASSWORD", NULL, NULL, 1);
  fx_write(dir, "secrets/prod/DB_PASSWORD.yaml", b.data);
  os_buf_reset(&b);
  fx_secret_text(&b, "dev", "OUTSIDE_KEY", NULL, NULL, 2);
  fx_write(root, "elsewhere/OUTSIDE_KEY.yaml", b.data);
  os_buf_free(&b);
  snprintf(path, sizeof(path), "%s/secrets/linked", dir);
  assert_int_equal(symlink("../../elsewhere", path), 0); /* leaves the folder */
  snprintf(path, sizeof(path), "%s/secrets/inside", dir);
  assert_int_equal(symlink("prod", path), 0); /* stays inside */
  snprintf(path, sizeof(path), "%s/secrets/out.yaml", dir);
  assert_int_equal(symlink("../../elsewhere/OUTSIDE_KEY.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/secrets/in.yaml", dir);
  assert_int_equal(symlink("prod/DB_PASSWORD.yaml", path), 0);
  snprintf(path, sizeof(path), "%s/dangling.yaml", dir);
  assert_int_equal(symlink("nowhere.yaml", path), 0);

  /* the loader sees the two real files only */
  spec_tree *t = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_tree_load(&t, dir, &err), 0);
  assert_int_equal(t->n_secrets, 1);
  assert_string_equal(t->secrets[0]->name, "DB_PASSWORD");
  assert_string_equal(t->secrets[0]->pos.file, "secrets/prod/DB_PASSWORD.yaml");
  spec_tree_free(t);

  /* a walk reports the links, in path order, without entering them */
  char *s = walk_text(dir, SPEC_WALK_DIRS | SPEC_WALK_LINKS);
  assert_string_equal(s, "D \n"
                         "L dangling.yaml\n"
                         "F organization.yaml\n"
                         "D secrets\n"
                         "L secrets/in.yaml\n"
                         "L secrets/inside\n"
                         "L secrets/linked\n"
                         "L secrets/out.yaml\n"
                         "D secrets/prod\n"
                         "F secrets/prod/DB_PASSWORD.yaml\n");
  free(s);
  s = walk_text(dir, 0);
  assert_string_equal(s, "F organization.yaml\nF secrets/prod/DB_PASSWORD.yaml\n");
  free(s);
  s = walk_text(dir, SPEC_WALK_NO_STAT | SPEC_WALK_DIRS | SPEC_WALK_LINKS);
  assert_string_equal(s, "D \nL dangling.yaml\nF organization.yaml\nD secrets\nL secrets/in.yaml\n"
                         "L secrets/inside\nL secrets/linked\nL secrets/out.yaml\nD secrets/prod\n"
                         "F secrets/prod/DB_PASSWORD.yaml\n");
  free(s);

  /* the folder itself may be a link (git-sync's checkout is one) */
  snprintf(path, sizeof(path), "%s/current", root);
  assert_int_equal(symlink("org", path), 0);
  assert_int_equal(spec_tree_load(&t, path, &err), 0);
  assert_int_equal(t->n_secrets, 1);
  spec_tree_free(t);
  fx_rmtree(root);
  free(root);
}

/* Hidden names, node_modules, other extensions, FIFOs; the path order a
 * merge needs ("a/x" before "a-c"); every regular file on request. */
static void test_rule_and_order(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  fx_write(dir, "a-c.yaml", "");
  fx_write(dir, "a/x.yaml", "");
  fx_write(dir, "a/b.yml", "");
  fx_write(dir, "a/notes.txt", "");
  fx_write(dir, ".git/config.yaml", "");
  fx_write(dir, ".hidden.yaml", "");
  fx_write(dir, "node_modules/m.yaml", "");
  fx_write(dir, "B.yaml", "");
  fx_write(dir, "yaml", "");
  char fifo[PATH_MAX];
  snprintf(fifo, sizeof(fifo), "%s/pipe.yaml", dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  char *s = walk_text(dir, 0);
  assert_string_equal(s, "F B.yaml\nF a/b.yml\nF a/x.yaml\nF a-c.yaml\n");
  free(s);
  s = walk_text(dir, SPEC_WALK_NO_STAT);
  assert_string_equal(s,
                      "F B.yaml\nF a/b.yml\nF a/x.yaml\nF a-c.yaml\n"); /* the FIFO still skipped */
  free(s);
  s = walk_text(dir, SPEC_WALK_ALL_FILES);
  assert_string_equal(s, "F B.yaml\nF a/b.yml\nF a/notes.txt\nF a/x.yaml\nF a-c.yaml\nF yaml\n");
  free(s);
  assert_true(spec_path_cmp("a/x.yaml", "a-c.yaml") < 0);
  assert_true(spec_path_cmp("a-c.yaml", "a/x.yaml") > 0);
  assert_true(spec_path_cmp("a/b", "a/b") == 0);
  assert_true(spec_path_cmp("a", "a/b") < 0);
  assert_true(spec_path_cmp("B", "a") < 0);
  assert_false(spec_walk_name_wanted(".git", true, false));
  assert_false(spec_walk_name_wanted("node_modules", true, false));
  assert_true(spec_walk_name_wanted("node_modules.yaml", false, false));
  assert_true(spec_walk_name_wanted("secrets", true, false));
  assert_false(spec_walk_name_wanted("x.json", false, false));
  assert_true(spec_walk_name_wanted("x.json", false, true));
  assert_false(spec_walk_name_wanted(".x.yaml", false, true));
  fx_rmtree(dir);
  free(dir);
}

static int stop_at_second(void *ctx, const spec_walk_entry *e, os_error *err) {
  (void)e;
  int *n = ctx;
  return ++*n == 2 ? os_error_set(err, OS_ECONFLICT, "stop") : 0;
}

static void test_errors(void **state) {
  (void)state;
  char *dir = fx_tmpdir();
  os_error err = OS_ERROR_INIT;
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/none", dir);
  assert_int_equal(spec_walk(path, 0, stop_at_second, &(int){0}, &err), OS_ENOTFOUND);
  fx_write(dir, "a.yaml", "");
  fx_write(dir, "b.yaml", "");
  fx_write(dir, "c.yaml", "");
  int n = 0;
  assert_int_equal(spec_walk(dir, 0, stop_at_second, &n, &err), OS_ECONFLICT);
  assert_int_equal(n, 2);
  /* 32 levels are walked, 33 are refused */
  char rel[400] = "";
  for (int i = 0; i < SPEC_WALK_DEPTH_MAX; i++)
    memcpy(rel + 2 * i, "d/", 3);
  char file[420];
  snprintf(file, sizeof(file), "%sx.yaml", rel);
  fx_write(dir, file, "");
  n = -100;
  assert_int_equal(spec_walk(dir, 0, stop_at_second, &n, &err), 0);
  snprintf(file, sizeof(file), "%sd/x.yaml", rel);
  fx_write(dir, file, "");
  assert_int_equal(spec_walk(dir, 0, stop_at_second, &n, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "nested deeper than 32"));
  /* an unreadable directory fails the walk (unless we are root) */
  if (geteuid() != 0) {
    fx_write(dir, "locked/x.yaml", "");
    snprintf(path, sizeof(path), "%s/locked", dir);
    assert_int_equal(chmod(path, 0), 0);
    n = -100;
    snprintf(file, sizeof(file), "%s/d", dir);
    assert_int_equal(spec_walk(dir, 0, stop_at_second, &n, &err), OS_EIO);
    assert_non_null(strstr(err.msg, "locked"));
    assert_int_equal(chmod(path, 0700), 0);
  }
  fx_rmtree(dir);
  free(dir);
}

/* ---- delivery targets ---- */

static spec_org *target_org(void) {
  spec_tree *t = spec_tree_new(".");
  os_buf b;
  os_error err = OS_ERROR_INIT;
  const char *text = text_of(fx_org_text, &b);
  assert_int_equal(spec_tree_parse(t, "organization.yaml", text, b.len, &err), 0);
  os_buf_free(&b);
  spec_org *o = t->org;
  t->org = NULL;
  spec_tree_free(t);
  return o;
}

/* The unit of (env, app) has this Secret name, env file and namespace count. */
static void expect_unit(const spec_org *o, const char *env, const char *app, const char *name,
                        const char *file, size_t n_ns) {
  spec_target t;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_target_of(&t, o, env, app, &err), 0);
  char *got_name = spec_target_secret_name(&t), *got_file = spec_target_env_file(&t);
  assert_string_equal(got_name, name);
  assert_string_equal(got_file, file);
  free(got_name);
  free(got_file);
  const char **ns = NULL;
  size_t n = 0;
  assert_int_equal(spec_target_namespaces(&ns, &n, &t), 0);
  assert_int_equal(n, n_ns);
  free(ns);
}

static void test_target_names(void **state) {
  (void)state;
  spec_org *o = target_org();
  os_error err = OS_ERROR_INIT;
  spec_target t;
  /* defaults: dev has neither secretName nor envFile, worker no secretName */
  /* the organization-level Secret goes to the environment's namespaces and
   * then to every application's (each once), so that an application's
   * namespaces hold both Secrets */
  expect_unit(o, "dev", NULL, "acme-secrets", "acme-dev.env", 5);
  expect_unit(o, "dev", "worker", "worker-secrets", "acme-dev-worker.env", 2);
  assert_int_equal(spec_target_of(&t, o, "dev", NULL, &err), 0);
  const char **ns = NULL;
  size_t n_ns = 0;
  assert_int_equal(spec_target_namespaces(&ns, &n_ns, &t), 0);
  static const char *const dev_ns[] = {"default", "api", "web", "worker", "batch"};
  assert_int_equal(n_ns, 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(ns[i], dev_ns[i]);
  free(ns);
  /* a namespace both the environment and an application list, once */
  spec_application *web = spec_org_find_app(o, "web");
  free(web->namespaces[0]);
  web->namespaces[0] = strdup("default");
  assert_int_equal(spec_target_namespaces(&ns, &n_ns, &t), 0);
  assert_int_equal(n_ns, 4);
  free(ns);
  free(web->namespaces[0]);
  web->namespaces[0] = strdup("web");
  spec_label l[SPEC_TARGET_LABELS_MAX];
  assert_int_equal(spec_target_labels(l, &t), 4);
  static const char *const want[][2] = {{"app.kubernetes.io/managed-by", "orgsecrets"},
                                        {"app.kubernetes.io/part-of", "orgsecrets"},
                                        {"orgsecrets.io/organization", "acme"},
                                        {"orgsecrets.io/environment", "dev"},
                                        {"orgsecrets.io/application", "worker"}};
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(l[i].key, want[i][0]);
    assert_string_equal(l[i].value, want[i][1]);
  }
  assert_int_equal(spec_target_of(&t, o, "dev", "worker", &err), 0);
  assert_int_equal(spec_target_namespaces(&ns, &n_ns, &t), 0);
  assert_int_equal(n_ns, 2);
  assert_string_equal(ns[1], "batch");
  free(ns);
  assert_int_equal(spec_target_labels(l, &t), 5);
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(l[i].key, want[i][0]);
    assert_string_equal(l[i].value, want[i][1]);
  }

  /* custom names: prod's secretName and envFile, api's secretName */
  spec_environment *e = spec_org_find_env(o, "prod");
  free(e->secret_name);
  e->secret_name = strdup("shared");
  free(e->env_file);
  e->env_file = strdup("vm/prod.env");
  expect_unit(o, "prod", NULL, "shared", "vm/prod.env", 6);
  spec_application *a = spec_org_find_app(o, "api");
  free(a->secret_name);
  a->secret_name = strdup("api-config");
  /* an application has no envFile of its own */
  expect_unit(o, "prod", "api", "api-config", "acme-prod-api.env", 1);

  /* unknown names */
  assert_int_equal(spec_target_of(&t, o, "qa", NULL, &err), OS_ENOTFOUND);
  assert_string_equal(err.msg, "environment qa is not defined in organization acme");
  assert_int_equal(spec_target_of(&t, o, "prod", "nope", &err), OS_ENOTFOUND);
  assert_string_equal(err.msg, "application nope is not defined in organization acme");

  char *sel = spec_target_selector("acme", "prod");
  assert_string_equal(sel, "app.kubernetes.io/managed-by=orgsecrets,"
                           "orgsecrets.io/organization=acme,orgsecrets.io/environment=prod");
  free(sel);
  sel = spec_target_selector(NULL, "prod");
  assert_string_equal(sel,
                      "app.kubernetes.io/managed-by=orgsecrets,orgsecrets.io/environment=prod");
  free(sel);
  spec_org_free(o);
}

static void test_target_scope(void **state) {
  (void)state;
  spec_org *o = target_org();
  os_error err = OS_ERROR_INIT;
  spec_secret_ref r[] = {
      {.organization = "acme", .environment = "prod", .name = "TOKEN"},
      {.organization = "acme", .environment = "prod", .application = "api", .name = "TOKEN"},
      {.organization = "acme", .environment = "prod", .name = "A_SHARED"},
      {.organization = "acme", .environment = "prod", .application = "web", .name = "B_WEB"},
      {.organization = "acme", .environment = "dev", .name = "DEV_ONLY"},
      {.organization = "other", .environment = "prod", .name = "FOREIGN"},
      {.organization = "acme", .environment = "prod", .application = "api", .name = "C_API"},
  };
  const spec_secret_ref *refs[7];
  for (size_t i = 0; i < 7; i++)
    refs[i] = &r[i];
  spec_target org, api, web;
  assert_int_equal(spec_target_of(&org, o, "prod", NULL, &err), 0);
  assert_int_equal(spec_target_of(&api, o, "prod", "api", &err), 0);
  assert_int_equal(spec_target_of(&web, o, "prod", "web", &err), 0);
  /* the delivery units: exactly their own */
  assert_true(spec_target_holds(&org, &r[0]));
  assert_false(spec_target_holds(&org, &r[1]));
  assert_true(spec_target_holds(&api, &r[1]));
  assert_false(spec_target_holds(&api, &r[0]));
  assert_false(spec_target_holds(&org, &r[4]));
  assert_false(spec_target_holds(&org, &r[5]));
  assert_false(spec_target_holds(&web, &r[1]));
  /* the views: organization-level plus the application's, the application's TOKEN wins */
  size_t out[7], n = 99;
  assert_int_equal(spec_target_view(out, &n, &api, refs, 7), 0);
  assert_int_equal(n, 3);
  assert_int_equal(out[0], 2); /* A_SHARED */
  assert_int_equal(out[1], 6); /* C_API */
  assert_int_equal(out[2], 1); /* TOKEN of api, not the organization's */
  assert_int_equal(spec_target_view(out, &n, &web, refs, 7), 0);
  assert_int_equal(n, 3);
  assert_int_equal(out[0], 2);
  assert_int_equal(out[1], 3);
  assert_int_equal(out[2], 0); /* web has no TOKEN of its own */
  assert_int_equal(spec_target_view(out, &n, &org, refs, 7), 0);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 2);
  assert_int_equal(out[1], 0);
  /* the order of the input does not matter */
  const spec_secret_ref *rev[7];
  for (size_t i = 0; i < 7; i++)
    rev[i] = &r[6 - i];
  assert_int_equal(spec_target_view(out, &n, &api, rev, 7), 0);
  assert_int_equal(n, 3);
  assert_ptr_equal(rev[out[2]], &r[1]);
  assert_int_equal(spec_target_view(out, &n, &api, refs, 0), 0);
  assert_int_equal(n, 0);
  spec_org_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_links_are_not_followed),
      cmocka_unit_test(test_rule_and_order),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_target_names),
      cmocka_unit_test(test_target_scope),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
