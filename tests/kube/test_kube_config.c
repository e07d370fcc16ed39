/* pkg/kube without a server: kubeconfig and in-cluster configuration, exec
 * plugins, base64/time parsing, rate limiting and backoff arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "kube/kube.h"
#include "kube/kube_internal.h"

/* base64 of these PEM-ish test blobs (not real keys) */
#define CA_TEXT "-----BEGIN CERTIFICATE-----\nCA-TEST\n-----END CERTIFICATE-----\n"
#define CERT_TEXT "-----BEGIN CERTIFICATE-----\nCLIENT-TEST\n-----END CERTIFICATE-----\n"
#define KEY_TEXT "-----BEGIN PRIVATE KEY-----\nKEY-TEST\n-----END PRIVATE KEY-----\n"

static char dir[64];

static char *b64(const char *s) {
  size_t n = strlen(s), len = os_base64_encoded_len(n, 0);
  char *o = malloc(len + 1);
  assert_non_null(o);
  os_base64_encode(o, s, n, 0);
  o[len] = '\0';
  return o;
}

static char *path_in(const char *name) {
  char *p = os_path_join(dir, name);
  assert_non_null(p);
  return p;
}

static void write_text(const char *name, const char *text) {
  char *p = path_in(name);
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_write_file_atomic(p, text, strlen(text), 0600, &err), 0);
  free(p);
}

/* Writes a kubeconfig made of a cluster and user body; returns its path. */
static char *kubeconfig(const char *name, const char *cluster_body, const char *user_body) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(os_buf_printf(&b,
                                 "apiVersion: v1\nkind: Config\n"
                                 "clusters:\n- name: other\n  cluster:\n    server: https://other:1\n"
                                 "- name: c1\n  cluster:\n%s"
                                 "users:\n- name: u1\n  user:\n%s"
                                 "- name: u2\n  user:\n    token: other-token\n"
                                 "contexts:\n- name: ctx2\n  context:\n    cluster: other\n    user: u2\n"
                                 "- name: ctx1\n  context:\n    cluster: c1\n    user: u1\n"
                                 "current-context: ctx1\n",
                                 cluster_body, user_body),
                   0);
  write_text(name, b.data);
  os_buf_free(&b);
  return path_in(name);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/kubecfg-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_ca_data_and_token(void **state) {
  (void)state;
  char *ca = b64(CA_TEXT);
  char cluster[512];
  snprintf(cluster, sizeof(cluster),
           "    server: https://10.1.2.3:6443/\n    certificate-authority-data: %s\n", ca);
  char *p = kubeconfig("k1", cluster, "    token: tok-static-1\n");
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->server, "https://10.1.2.3:6443");  /* trailing '/' dropped */
  assert_string_equal(c->ca_pem, CA_TEXT);
  assert_int_equal(c->ca_len, strlen(CA_TEXT));
  assert_string_equal(c->token, "tok-static-1");
  assert_null(c->token_file);
  assert_null(c->exec);
  assert_false(c->insecure);
  kube_config_free(c);
  /* explicit context picks the other cluster and user */
  assert_int_equal(kube_config_load(&c, p, "ctx2", &err), 0);
  assert_string_equal(c->server, "https://other:1");
  assert_string_equal(c->token, "other-token");
  assert_null(c->ca_pem);
  kube_config_free(c);
  free(ca);
  free(p);
}

static void test_relative_files(void **state) {
  (void)state;
  char *sub = path_in("sub");
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_mkdir_p(sub, 0700, &err), 0);
  write_text("sub/ca.pem", CA_TEXT);
  write_text("sub/client.crt", CERT_TEXT);
  write_text("sub/client.key", KEY_TEXT);
  char *p = kubeconfig("sub/config",
                       "    server: https://h:1\n    certificate-authority: ca.pem\n",
                       "    client-certificate: client.crt\n    client-key: ./client.key\n"
                       "    tokenFile: tok\n");
  kube_config *c = NULL;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->ca_pem, CA_TEXT);
  assert_string_equal(c->cert_pem, CERT_TEXT);
  assert_string_equal(c->key_pem, KEY_TEXT);
  char *want = os_path_join(sub, "tok");
  assert_string_equal(c->token_file, want);
  free(want);
  kube_config_free(c);
  free(p);
  free(sub);
}

static void test_client_cert_data(void **state) {
  (void)state;
  char *cert = b64(CERT_TEXT), *key = b64(KEY_TEXT);
  char user[1024];
  snprintf(user, sizeof(user), "    client-certificate-data: %s\n    client-key-data: %s\n", cert,
           key);
  char *p = kubeconfig("k2", "    server: https://h:2\n", user);
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->cert_pem, CERT_TEXT);
  assert_string_equal(c->key_pem, KEY_TEXT);
  assert_int_equal(c->key_len, strlen(KEY_TEXT));
  assert_null(c->token);
  kube_config_free(c);
  /* a certificate without its key is refused, naming the file and user */
  snprintf(user, sizeof(user), "    client-certificate-data: %s\n", cert);
  free(p);
  p = kubeconfig("k2b", "    server: https://h:2\n", user);
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, p));
  assert_non_null(strstr(err.msg, "users[\"u1\"]"));
  free(p);
  free(cert);
  free(key);
}

static void test_exec_config(void **state) {
  (void)state;
  char *p = kubeconfig("k3", "    server: https://h:3\n",
                       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                       "      command: ./bin/plugin\n      args: [get-token, --cluster, c1]\n"
                       "      env:\n      - name: FOO\n        value: bar\n"
                       "      interactiveMode: Never\n");
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_non_null(c->exec);
  assert_string_equal(c->exec->api_version, "client.authentication.k8s.io/v1beta1");
  char *want = path_in("./bin/plugin");
  assert_string_equal(c->exec->command, want);  /* relative to the kubeconfig's directory */
  free(want);
  assert_string_equal(c->exec->argv[1], "get-token");
  assert_string_equal(c->exec->argv[3], "c1");
  assert_null(c->exec->argv[4]);
  assert_string_equal(c->exec->env[0], "FOO=bar");
  assert_null(c->exec->env[1]);
  kube_config_free(c);
  free(p);
  /* a bare command name is looked up in $PATH later, not resolved */
  p = kubeconfig("k3b", "    server: https://h:3\n",
                 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                 "      command: aws\n");
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->exec->command, "aws");
  kube_config_free(c);
  free(p);
  /* unknown apiVersion */
  p = kubeconfig("k3c", "    server: https://h:3\n",
                 "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                 "      command: aws\n");
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "exec.apiVersion"));
  assert_non_null(strstr(err.msg, p));
  free(p);
}

/* Runs fn with stderr redirected into a file; returns what was written. */
static char *capture_stderr(void (*fn)(void *), void *arg) {
  char *p = path_in("stderr.txt");
  fflush(stderr);
  int saved = dup(2);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  fn(arg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&out, &len, p, 1 << 20, &err), 0);
  free(p);
  return out;
}

static void load_insecure(void *arg) {
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, arg, NULL, &err), 0);
  assert_true(c->insecure);
  kube_config_free(c);
}

static void test_insecure_warns(void **state) {
  (void)state;
  char *p = kubeconfig("k4", "    server: https://h:4\n    insecure-skip-tls-verify: true\n",
                       "    token: tok-insecure-should-not-leak\n");
  char *log = capture_stderr(load_insecure, p);
  assert_non_null(strstr(log, "insecure-skip-tls-verify"));
  assert_non_null(strstr(log, "NOT verified"));
  assert_null(strstr(log, "tok-insecure-should-not-leak"));
  free(log);
  free(p);
}

/* Loading the kubeconfig file name (with context) fails with code and a message
 * naming the file and needle. */
static void expect_file_error(const char *name, const char *context, int code,
                              const char *needle) {
  char *p = path_in(name);
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, context, &err), code);
  assert_null(c);
  if (strstr(err.msg, p) == NULL || strstr(err.msg, needle) == NULL)
    fail_msg("message \"%s\" should name %s and %s", err.msg, p, needle);
  free(p);
}

static void expect_error(const char *name, const char *cluster, const char *user,
                         const char *context, int code, const char *needle) {
  free(kubeconfig(name, cluster, user));
  expect_file_error(name, context, code, needle);
}

static void test_bad_kubeconfigs(void **state) {
  (void)state;
  expect_error("b1", "    server: https://h:1\n", "    token: t\n", "nope", OS_EINVAL,
               "contexts: no entry named \"nope\"");
  expect_error("b2", "    certificate-authority-data: QUJD\n", "    token: t\n", NULL, OS_EINVAL,
               "clusters[\"c1\"].cluster.server: missing");
  expect_error("b3", "    server: ftp://h\n", "    token: t\n", NULL, OS_EINVAL, ".server");
  expect_error("b4", "    server: https://h:1\n", "    client-key-data: sec$ret!key\n", NULL,
               OS_EINVAL, "users[\"u1\"].user.client-key-data: invalid base64");
  expect_error("b5", "    server: https://h:1\n    certificate-authority: missing-ca.pem\n",
               "    token: t\n", NULL, OS_ENOTFOUND, "certificate-authority");
  expect_error("b6", "    server: https://h:1\n    insecure-skip-tls-verify: maybe\n",
               "    token: t\n", NULL, OS_EINVAL, "insecure-skip-tls-verify");
  expect_error("b7", "    server: [https://h:1]\n", "    token: t\n", NULL, OS_EINVAL,
               "server: expected a string");
  /* the secret in an invalid field is never echoed */
  char *p = kubeconfig("b8", "    server: https://h:1\n", "    client-key-data: tops3cr*t\n");
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
  assert_null(strstr(err.msg, "tops3cr"));
  free(p);
  /* broken YAML names the file and line */
  write_text("b9", "clusters:\n- name: [x\n");
  p = path_in("b9");
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, p));
  free(p);
  /* a missing file */
  p = path_in("does-not-exist");
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, p));
  free(p);
  /* no current-context */
  write_text("b10", "apiVersion: v1\nclusters: []\n");
  expect_file_error("b10", NULL, OS_EINVAL, "current-context");
  /* lists that are not lists, at the top and in an exec entry; null is an empty list */
  write_text("b11", "apiVersion: v1\ncurrent-context: x\ncontexts: {name: x}\n");
  expect_file_error("b11", NULL, OS_EINVAL, ": contexts: expected a list");
  write_text("b12", "apiVersion: v1\ncurrent-context: x\ncontexts: ~\n");
  expect_file_error("b12", NULL, OS_EINVAL, "contexts: no entry named \"x\"");
  const char *exec = "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                     "      command: /bin/true\n";
  char user[256];
  snprintf(user, sizeof(user), "%s      args: --flag\n", exec);
  expect_error("b13", "    server: https://h:1\n", user, NULL, OS_EINVAL,
               "users[\"u1\"].user.exec.args: expected a list");
  snprintf(user, sizeof(user), "%s      args: ~\n      env: {name: A, value: b}\n", exec);
  expect_error("b14", "    server: https://h:1\n", user, NULL, OS_EINVAL,
               "users[\"u1\"].user.exec.env: expected a list");
}

static void test_in_cluster(void **state) {
  (void)state;
  char *sa = path_in("sa");
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_mkdir_p(sa, 0700, &err), 0);
  write_text("sa/ca.crt", CA_TEXT);
  write_text("sa/token", "sa-token\n");
  setenv("ORGSECRETS_SA_DIR", sa, 1);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::10", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  kube_config *c = NULL;
  assert_int_equal(kube_config_in_cluster(&c, &err), 0);
  assert_string_equal(c->server, "https://[fd00::10]:6443");
  assert_string_equal(c->ca_pem, CA_TEXT);
  char *tf = os_path_join(sa, "token");
  assert_string_equal(c->token_file, tf);
  free(tf);
  kube_config_free(c);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  unsetenv("KUBERNETES_SERVICE_PORT");
  assert_int_equal(kube_config_in_cluster(&c, &err), 0);
  assert_string_equal(c->server, "https://10.96.0.1:443");
  kube_config_free(c);
  /* the client picks in-cluster when no kubeconfig is given */
  kube_client *k = NULL;
  assert_int_equal(kube_client_new(&k, NULL, &err), 0);
  assert_string_equal(kube_client_server(k), "https://10.96.0.1:443");
  kube_client_free(k);
  setenv("KUBERNETES_SERVICE_PORT", "http", 1);
  assert_int_equal(kube_config_in_cluster(&c, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_PORT"));
  unsetenv("KUBERNETES_SERVICE_PORT");
  char *nosa = path_in("nosa");
  setenv("ORGSECRETS_SA_DIR", nosa, 1);
  assert_int_equal(kube_config_in_cluster(&c, &err), OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, "ca.crt"));
  free(nosa);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("ORGSECRETS_SA_DIR");
  free(sa);
}

static void test_kubeconfig_env(void **state) {
  (void)state;
  char *p = kubeconfig("kenv", "    server: https://from-env:9\n", "    token: t\n");
  os_buf b;
  os_buf_init(&b, 4096, false);
  assert_int_equal(os_buf_printf(&b, "%s:/nonexistent/second", p), 0);
  setenv("KUBECONFIG", b.data, 1);
  unsetenv("KUBERNETES_SERVICE_HOST");
  kube_client *k = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_client_new(&k, NULL, &err), 0);
  assert_string_equal(kube_client_server(k), "https://from-env:9");
  kube_client_free(k);
  /* an explicit kubeconfig wins over $KUBECONFIG */
  kube_options o = {.kubeconfig = "/nonexistent/kubeconfig"};
  assert_int_equal(kube_client_new(&k, &o, &err), OS_ENOTFOUND);
  assert_non_null(strstr(err.msg, "/nonexistent/kubeconfig"));
  /* neither: ~/.kube/config */
  unsetenv("KUBECONFIG");
  char *home = path_in("home"), *kdir = path_in("home/.kube");
  assert_int_equal(os_mkdir_p(kdir, 0700, &err), 0);
  free(p);
  p = kubeconfig("home/.kube/config", "    server: https://from-home:7\n", "    token: t\n");
  const char *old_home = getenv("HOME");
  char *saved_home = old_home ? strdup(old_home) : NULL;
  setenv("HOME", home, 1);
  assert_int_equal(kube_client_new(&k, NULL, &err), 0);
  assert_string_equal(kube_client_server(k), "https://from-home:7");
  kube_client_free(k);
  if (saved_home)
    setenv("HOME", saved_home, 1);
  free(saved_home);
  free(home);
  free(kdir);
  os_buf_free(&b);
  free(p);
}

/* *-data as kubectl reads it: padding optional, folded over lines; the
 * exec plugin's expiry through the strict RFC 3339 parser. */
static void test_data_and_expiry(void **state) {
  (void)state;
  char *ca = b64(CA_TEXT);
  size_t n = strlen(ca);
  while (n > 0 && ca[n - 1] == '=')
    ca[--n] = '\0';
  char cluster[1024];
  int w = snprintf(cluster, sizeof(cluster),
                   "    server: https://10.1.2.3:6443\n    certificate-authority-data: %.40s\n      %s\n",
                   ca, ca + 40);
  assert_true(w > 0 && (size_t)w < sizeof(cluster));
  char *p = kubeconfig("k-data", cluster, "    token: t\n");
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->ca_pem, CA_TEXT);
  kube_config_free(c);
  free(p);
  p = kubeconfig("k-bad", "    server: https://h:1\n    certificate-authority-data: aG=Vs\n",
                 "    token: t\n");
  assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "certificate-authority-data: invalid base64"));
  free(p);
  free(ca);

  static const struct {
    const char *at;
    long long want; /* -1: refused */
  } exp[] = {
      {"2024-01-02T03:04:05Z", 1704164645LL},
      {"2024-01-02T03:04:05.123456Z", 1704164645LL},
      {"2024-01-02T05:04:05+02:00", 1704164645LL},
      {"2024-01-02 03:04:05", -1},
      {"2024-02-30T03:04:05Z", -1},
      {"2016-12-31T23:59:60Z", -1},
      {"2024-01-02T03:04:05Zjunk", -1},
  };
  for (size_t i = 0; i < sizeof(exp) / sizeof(exp[0]); i++) {
    char json[300];
    snprintf(json, sizeof(json),
             "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"%s\"}}",
             exp[i].at);
    kube_exec_result r;
    int rc = kube_exec_parse(&r, json, strlen(json), "client.authentication.k8s.io/v1", &err);
    if (exp[i].want < 0) {
      assert_int_equal(rc, OS_EINVAL);
      assert_non_null(strstr(err.msg, "expirationTimestamp"));
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal((long long)r.expiry, exp[i].want);
      kube_exec_result_clear(&r);
    }
  }
}

/* What could expose the token or trust the wrong server is refused, naming
 * the file and field, never echoing the token. */
static void test_refused_servers_and_tokens(void **state) {
  (void)state;
  unsetenv(KUBE_PLAIN_HTTP_FOR_TESTS_ENV);
  static const struct {
    const char *server, *why;
  } servers[] = {
      {"http://10.0.0.1:6443", "plain http://"},
      {"\"https://\"", "the URL has no host"},
      {"https:///api", "the URL has no host"},
      {"https://:6443", "the URL has no host"},
      {"https://h:99999", "invalid port"},
      {"\"https://h:\"", "invalid port"},
      {"\"https://h:1\\r\\nX-Evil: 1\"", "control character"},
      {"https://user:pw@h:1", "credentials in the URL"},
      {"https://[fd00::1", "malformed IPv6"},
  };
  for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
    char name[16], body[128];
    snprintf(name, sizeof(name), "s%zu", i);
    snprintf(body, sizeof(body), "    server: %s\n", servers[i].server);
    expect_error(name, body, "    token: t\n", NULL, OS_EINVAL, servers[i].why);
  }
  char *ca = b64(CA_TEXT);
  char cluster[512];
  snprintf(cluster, sizeof(cluster),
           "    server: https://h:1\n    insecure-skip-tls-verify: true\n"
           "    certificate-authority-data: %s\n", ca);
  expect_error("s10", cluster, "    token: t\n", NULL, OS_EINVAL,
               "insecure-skip-tls-verify cannot be combined with certificate-authority");
  write_text("ca-s11.pem", CA_TEXT);
  expect_error("s11",
               "    server: https://h:1\n    insecure-skip-tls-verify: true\n"
               "    certificate-authority: ca-s11.pem\n",
               "    token: t\n", NULL, OS_EINVAL, "insecure-skip-tls-verify cannot be combined");
  free(ca);
  /* a token that would split the Authorization header */
  const char *bad_tokens[] = {"    token: \"zq9sec\\r\\nX-Injected: yes\"\n",
                              "    token: \"zq9sec\\nsecond\"\n", "    token: \"zq9sec\\u0001x\"\n",
                              "    token: \"zq9sec\\u007f\"\n"};
  for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++) {
    char name[16];
    snprintf(name, sizeof(name), "t%zu", i);
    expect_error(name, "    server: https://h:1\n", bad_tokens[i], NULL, OS_EINVAL,
                 "token: contains a control character");
    kube_config *c = NULL;
    os_error err = OS_ERROR_INIT;
    char *p = path_in(name);
    assert_int_equal(kube_config_load(&c, p, NULL, &err), OS_EINVAL);
    assert_null(strstr(err.msg, "zq9sec"));
    free(p);
  }
  assert_true(kube_token_valid("eyJhbGciOi.J9-_x~+/=="));
  assert_false(kube_token_valid(""));
  assert_false(kube_token_valid("a\tb"));
  /* well-formed servers still load; plain http only with the test-only switch */
  const char *good[] = {"https://h", "https://h:1/", "https://[fd00::1]:6443",
                        "https://k8s.example.com/prefix"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    char body[128];
    snprintf(body, sizeof(body), "    server: %s\n", good[i]);
    char *p = kubeconfig("g", body, "    token: t\n");
    kube_config *c = NULL;
    os_error err = OS_ERROR_INIT;
    if (kube_config_load(&c, p, NULL, &err) != 0)
      fail_msg("%s refused: %s", good[i], err.msg);
    kube_config_free(c);
    free(p);
  }
  setenv(KUBE_PLAIN_HTTP_FOR_TESTS_ENV, "1", 1);
  char *p = kubeconfig("h1", "    server: http://127.0.0.1:8080\n", "    token: t\n");
  kube_config *c = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_config_load(&c, p, NULL, &err), 0);
  assert_string_equal(c->server, "http://127.0.0.1:8080");
  kube_config_free(c);
  free(p);
  unsetenv(KUBE_PLAIN_HTTP_FOR_TESTS_ENV);
}

static void test_exec_parse(void **state) {
  (void)state;
  kube_exec_result r;
  os_error err = OS_ERROR_INIT;
  const char *v1 = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                   "\"status\":{\"token\":\"exec-tok-1\",\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}";
  assert_int_equal(kube_exec_parse(&r, v1, strlen(v1), "client.authentication.k8s.io/v1", &err), 0);
  assert_string_equal(r.token, "exec-tok-1");
  assert_int_equal((long long)r.expiry, 1893456000LL);
  kube_exec_result_clear(&r);
  /* wrong apiVersion for what was asked; the token never reaches the message */
  assert_int_equal(kube_exec_parse(&r, v1, strlen(v1), "client.authentication.k8s.io/v1beta1", &err),
                   OS_EINVAL);
  assert_non_null(strstr(err.msg, "apiVersion"));
  assert_null(strstr(err.msg, "exec-tok-1"));
  const char *cert = "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
                     "\"status\":{\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY\"}}";
  assert_int_equal(kube_exec_parse(&r, cert, strlen(cert), "client.authentication.k8s.io/v1beta1", &err),
                   0);
  assert_null(r.token);
  assert_string_equal(r.cert_pem, "CERT");
  assert_string_equal(r.key_pem, "KEY");
  assert_int_equal((long long)r.expiry, 0);
  kube_exec_result_clear(&r);
  const char *half = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                     "\"status\":{\"clientCertificateData\":\"CERT\"}}";
  assert_int_equal(kube_exec_parse(&r, half, strlen(half), "client.authentication.k8s.io/v1", &err),
                   OS_EINVAL);
  const char *none = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}";
  assert_int_equal(kube_exec_parse(&r, none, strlen(none), "client.authentication.k8s.io/v1", &err),
                   OS_EINVAL);
  assert_int_equal(kube_exec_parse(&r, "not json", 8, "client.authentication.k8s.io/v1", &err),
                   OS_EINVAL);
  /* a plugin's token that would split the Authorization header */
  const char *crlf = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                     "\"status\":{\"token\":\"exec-tok\\r\\nX-Injected: 1\"}}";
  assert_int_equal(kube_exec_parse(&r, crlf, strlen(crlf), "client.authentication.k8s.io/v1", &err),
                   OS_EINVAL);
  assert_non_null(strstr(err.msg, "control character"));
  assert_null(strstr(err.msg, "exec-tok"));
  assert_null(r.token);
}

static void test_exec_run(void **state) {
  (void)state;
  char *count = path_in("count"), *tok = path_in("plugin-token");
  write_text("plugin-token", "plugin-tok-xyz");
  char script[512];
  snprintf(script, sizeof(script), "%s/kube/exec_plugin.sh", TESTS_DIR);
  char e1[600], e2[600];
  snprintf(e1, sizeof(e1), "PLUGIN_COUNT_FILE=%s", count);
  snprintf(e2, sizeof(e2), "PLUGIN_TOKEN_FILE=%s", tok);
  char *argv[] = {script, "alpha", "beta", NULL};
  char *env[] = {e1, e2, NULL, NULL};
  kube_exec_config ec = {.api_version = "client.authentication.k8s.io/v1", .command = script,
                         .argv = argv, .env = env};
  kube_exec_result r;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_exec_run(&r, &ec, 10000, &err), 0);
  assert_string_equal(r.token, "plugin-tok-xyz");
  kube_exec_result_clear(&r);
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&text, &len, count, 4096, &err), 0);
  assert_string_equal(text, "run alpha beta\n");  /* args passed, no shell splitting */
  free(text);
  char *info = path_in("count.info");
  assert_int_equal(os_read_file(&text, &len, info, 4096, &err), 0);
  assert_non_null(strstr(text, "\"kind\":\"ExecCredential\""));
  free(text);
  free(info);
  /* non-zero exit: OS_EAUTH naming the command and status, nothing of stdout */
  env[2] = "PLUGIN_FAIL=1";
  assert_int_equal(kube_exec_run(&r, &ec, 10000, &err), OS_EAUTH);
  assert_non_null(strstr(err.msg, "exit status 3"));
  assert_non_null(strstr(err.msg, "exec_plugin.sh"));
  assert_null(strstr(err.msg, "should-not-leak"));
  /* the answer's apiVersion must be the one asked for */
  env[2] = "PLUGIN_API=client.authentication.k8s.io/v1beta1";
  assert_int_equal(kube_exec_run(&r, &ec, 10000, &err), OS_EINVAL);
  assert_null(strstr(err.msg, "plugin-tok-xyz"));
  /* a missing program */
  ec.command = "/nonexistent/plugin";
  argv[0] = "/nonexistent/plugin";
  assert_int_equal(kube_exec_run(&r, &ec, 10000, &err), OS_EAUTH);
  assert_non_null(strstr(err.msg, "/nonexistent/plugin"));
  /* a bare name is searched in $PATH */
  char *sleep_argv[] = {"sh", "-c", "sleep 5", NULL};
  char *no_env[] = {NULL};
  kube_exec_config slow = {.api_version = "client.authentication.k8s.io/v1", .command = "sh",
                           .argv = sleep_argv, .env = no_env};
  double t0 = os_mono_seconds();
  assert_int_equal(kube_exec_run(&r, &slow, 300, &err), OS_ETIMEOUT);
  assert_true(os_mono_seconds() - t0 < 3.0);  /* killed at the deadline */
  /* closing stdout early does not escape the deadline */
  char *daemon_argv[] = {"sh", "-c", "exec >&-; sleep 5", NULL};
  slow.argv = daemon_argv;
  t0 = os_mono_seconds();
  assert_int_equal(kube_exec_run(&r, &slow, 300, &err), OS_ETIMEOUT);
  assert_non_null(strstr(err.msg, "did not exit"));
  assert_true(os_mono_seconds() - t0 < 3.0);
  free(count);
  free(tok);
}

static void test_ratelimit(void **state) {
  (void)state;
  kube_ratelimit rl;
  kube_ratelimit_init(&rl, 10.0, 5, 100.0);
  for (int i = 0; i < 5; i++)
    assert_true(kube_ratelimit_reserve(&rl, 100.0) == 0.0);  /* the burst */
  /* then one every 1/qps seconds, queued */
  assert_float_equal(kube_ratelimit_reserve(&rl, 100.0), 0.1, 1e-9);
  assert_float_equal(kube_ratelimit_reserve(&rl, 100.0), 0.2, 1e-9);
  /* after 0.3 s, the two reservations are paid and one token is free again */
  assert_float_equal(kube_ratelimit_reserve(&rl, 100.3), 0.0, 1e-9);
  assert_float_equal(kube_ratelimit_reserve(&rl, 100.3), 0.1, 1e-9);
  /* idle time refills at most to burst */
  kube_ratelimit_init(&rl, 10.0, 2, 0.0);
  assert_float_equal(kube_ratelimit_reserve(&rl, 1000.0), 0.0, 1e-9);
  assert_float_equal(kube_ratelimit_reserve(&rl, 1000.0), 0.0, 1e-9);
  assert_float_equal(kube_ratelimit_reserve(&rl, 1000.0), 0.1, 1e-9);
  /* defaults */
  kube_ratelimit_init(&rl, 0, 0, 0.0);
  assert_float_equal(rl.qps, 50.0, 1e-9);
  assert_float_equal(rl.burst, 100.0, 1e-9);
}

static void test_path_escape(void **state) {
  (void)state;
  char *e = kube_path_escape("app in (a,b),tier!=x/y z");
  assert_string_equal(e, "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx%2Fy%20z");
  free(e);
  e = kube_path_escape("Az09-._~");
  assert_string_equal(e, "Az09-._~");
  free(e);
}

int main(void) {
  os_log_setup(OS_LOG_INFO, 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_data_and_token), cmocka_unit_test(test_relative_files),
      cmocka_unit_test(test_client_cert_data),  cmocka_unit_test(test_exec_config),
      cmocka_unit_test(test_insecure_warns),    cmocka_unit_test(test_bad_kubeconfigs),
      cmocka_unit_test(test_refused_servers_and_tokens),
      cmocka_unit_test(test_in_cluster),        cmocka_unit_test(test_kubeconfig_env),
      cmocka_unit_test(test_data_and_expiry),   cmocka_unit_test(test_exec_parse),
      cmocka_unit_test(test_exec_run),          cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_path_escape),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
