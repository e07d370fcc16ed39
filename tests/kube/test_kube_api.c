/* pkg/kube against tests/fakeapi/fakeapi.py over TLS. Needs python3 and
 * openssl; fails loudly when the fake cannot start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "kube/kube.h"
#include "kube/kube_internal.h"

#define TOKEN_A "tok-A-9f8e7d6c5b4a"
#define TOKEN_B "tok-B-0a1b2c3d4e5f"
#define SECRET_VALUE "hunter2-s3cr3t-value"
#define SECRET_B64 "aHVudGVyMi1zM2NyM3QtdmFsdWU="

static char dir[64];
static char tls_dir[128], token_file[128], kubeconfig[128], ca_file[128];
static char base_url[64];
static pid_t fake_pid = -1;
static char log_path[128];
static int saved_stderr = -1;

/* ---- observe callback: counts attempts per code ---- */

static atomic_int obs_total, obs_net, obs_429, obs_500, obs_503, obs_401, obs_2xx;
static atomic_int obs_list, obs_watch;

static void observe(void *ctx, const char *verb, long code, double seconds) {
  (void)ctx;
  assert_true(seconds >= 0);
  atomic_fetch_add(&obs_total, 1);
  if (strcmp(verb, "LIST") == 0)
    atomic_fetch_add(&obs_list, 1);
  if (strcmp(verb, "WATCH") == 0)
    atomic_fetch_add(&obs_watch, 1);
  if (code == 0)
    atomic_fetch_add(&obs_net, 1);
  else if (code == 429)
    atomic_fetch_add(&obs_429, 1);
  else if (code == 500)
    atomic_fetch_add(&obs_500, 1);
  else if (code == 503)
    atomic_fetch_add(&obs_503, 1);
  else if (code == 401)
    atomic_fetch_add(&obs_401, 1);
  else if (code >= 200 && code < 300)
    atomic_fetch_add(&obs_2xx, 1);
}

static void obs_reset(void) {
  obs_total = obs_net = obs_429 = obs_500 = obs_503 = obs_401 = obs_2xx = 0;
  obs_list = obs_watch = 0;
}

/* ---- fake control ---- */

static size_t collect(char *p, size_t s, size_t n, void *ud) {
  os_buf *b = ud;
  return os_buf_append(b, p, s * n) == 0 ? s * n : 0;
}

/* Calls the fake's control API; returns the parsed JSON (caller decrefs). */
static json_t *fake(const char *method, const char *path, const char *body) {
  CURL *h = curl_easy_init();
  assert_non_null(h);
  char url[512];
  snprintf(url, sizeof(url), "%s%s", base_url, path);
  os_buf b;
  os_buf_init(&b, 64u << 20, false);
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  if (body != NULL)
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  CURLcode cc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (cc != CURLE_OK || code >= 300)
    fail_msg("fake %s %s: curl %d http %ld", method, path, (int)cc, code);
  json_error_t je;
  json_t *j = b.len ? json_loadb(b.data, b.len, 0, &je) : json_null();
  os_buf_free(&b);
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  assert_non_null(j);
  return j;
}

static void fake_do(const char *method, const char *path, const char *body) {
  json_decref(fake(method, path, body));
}

/* Counts logged API requests with method and status whose path contains needle. */
static int fake_count_now(const char *method, const char *needle, long status) {
  json_t *reqs = fake("GET", "/fake/requests", NULL);
  size_t i;
  json_t *r;
  int n = 0;
  json_array_foreach(reqs, i, r) {
    const char *m = json_string_value(json_object_get(r, "method"));
    const char *p = json_string_value(json_object_get(r, "path"));
    json_int_t st = json_integer_value(json_object_get(r, "status"));
    if ((method == NULL || (m && strcmp(m, method) == 0)) && p && strstr(p, needle) &&
        (status == 0 || st == status))
      n++;
  }
  json_decref(reqs);
  return n;
}

/* The fake logs a request after answering it: wait (up to 5 s) for the
 * expected count, then check it stays there. */
static void expect_count(const char *method, const char *needle, long status, int want) {
  int n = fake_count_now(method, needle, status);
  for (int i = 0; i < 50 && n != want; i++) {
    usleep(100000);
    n = fake_count_now(method, needle, status);
  }
  usleep(100000);
  n = fake_count_now(method, needle, status);
  if (n != want)
    fail_msg("fake saw %d %s %s (status %ld), expected %d", n, method ? method : "*", needle, status, want);
}

static void write_file(const char *path, const char *text) {
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
}

static char *in_dir(const char *name) {
  char *p = os_path_join(dir, name);
  assert_non_null(p);
  return p;
}

static kube_client *client_for(const char *kc, const char *context, double qps, int burst) {
  kube_options o = {.kubeconfig = kc, .context = context, .qps = qps, .burst = burst,
                    .observe = observe, .timeout_ms = 10000, .user_agent = "kube-test"};
  kube_client *k = NULL;
  os_error err = OS_ERROR_INIT;
  if (kube_client_new(&k, &o, &err) < 0)
    fail_msg("kube_client_new: %s", err.msg);
  return k;
}

static double now_s(void) { return os_mono_seconds(); }

/* ---- start/stop ---- */

static int start_fake(void) {
  snprintf(dir, sizeof(dir), "/tmp/kubeapi-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(tls_dir, sizeof(tls_dir), "%s/tls", dir);
  snprintf(token_file, sizeof(token_file), "%s/token", dir);
  snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfig", dir);
  snprintf(ca_file, sizeof(ca_file), "%s/tls/ca.crt", dir);
  char port_file[128], script[512], parent[32];
  snprintf(port_file, sizeof(port_file), "%s/port", dir);
  snprintf(script, sizeof(script), "%s/fakeapi/fakeapi.py", TESTS_DIR);
  snprintf(parent, sizeof(parent), "%d", (int)getpid());
  os_error err = OS_ERROR_INIT;
  if (os_write_file_atomic(token_file, TOKEN_A "\n", strlen(TOKEN_A) + 1, 0600, &err) < 0)
    return -1;
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "FATAL: %s is missing\n", script);
    return -1;
  }
  fake_pid = fork();
  if (fake_pid == 0) {
    execlp("python3", "python3", script, "--listen", "127.0.0.1:0", "--tls-dir", tls_dir,
           "--token-file", token_file, "--port-file", port_file, "--kubeconfig-out", kubeconfig,
           "--watch-timeout-max", "30", "--exit-with-pid", parent, (char *)NULL);
    fprintf(stderr, "FATAL: cannot run python3 for the fake API server\n");
    _exit(127);
  }
  for (int i = 0; i < 400; i++) {
    char *text = NULL;
    size_t len = 0;
    os_error e2 = OS_ERROR_INIT;
    if (os_read_file(&text, &len, port_file, 64, &e2) == 0 && len > 0) {
      char *end = NULL;
      long port = strtol(text, &end, 10);
      free(text);
      if (port > 0 && port < 65536) {
        snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%ld", port);
        return 0;
      }
    }
    int st;
    if (waitpid(fake_pid, &st, WNOHANG) == fake_pid) {
      fprintf(stderr, "FATAL: the fake API server exited (status %d)\n", st);
      fake_pid = -1;
      return -1;
    }
    usleep(50000);
  }
  fprintf(stderr, "FATAL: the fake API server did not start within 20s\n");
  return -1;
}

static int group_setup(void **state) {
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (start_fake() < 0)
    return -1;
  /* everything pkg/kube logs goes to a file that is checked for secrets at the end */
  snprintf(log_path, sizeof(log_path), "%s/stderr.log", dir);
  fflush(stderr);
  saved_stderr = dup(2);
  int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || saved_stderr < 0)
    return -1;
  dup2(fd, 2);
  close(fd);
  os_log_setup(OS_LOG_DEBUG, 0);
  return 0;
}

/* Copies the captured log to the real stderr, dropping any line with a test secret. */
static void replay_log(void) {
  FILE *f = fopen(log_path, "r");
  if (f == NULL)
    return;
  char line[2048];
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strstr(line, TOKEN_A) || strstr(line, TOKEN_B) || strstr(line, SECRET_VALUE) ||
        strstr(line, SECRET_B64))
      fputs("[line with a test secret withheld]\n", stderr);
    else if (strstr(line, "kube: ") == NULL || strstr(line, "retry") == NULL)
      fputs(line, stderr);  /* retry chatter skipped */
  }
  fclose(f);
}

static int group_teardown(void **state) {
  (void)state;
  if (saved_stderr >= 0) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    replay_log();
  }
  if (fake_pid > 0) {
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, NULL, 0);
  }
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int each_setup(void **state) {
  (void)state;
  int st = 0;
  if (fake_pid > 0 && waitpid(fake_pid, &st, WNOHANG) == fake_pid) {
    fake_pid = -1;
    fail_msg("the fake API server is gone (%s %d)", WIFSIGNALED(st) ? "signal" : "exit status",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
  fake_do("DELETE", "/fake/faults", NULL);
  fake_do("DELETE", "/fake/requests", NULL);
  obs_reset();
  return 0;
}

/* ---- tests ---- */

static json_t *secret_obj(const char *name, const char *rv) {
  json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                        "metadata", "name", name, "namespace", "default", "data", "password",
                        SECRET_B64);
  if (rv != NULL)
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rv));
  return o;
}

static void assert_no_secret(const os_error *err) {
  assert_null(strstr(err->msg, SECRET_VALUE));
  assert_null(strstr(err->msg, SECRET_B64));
  assert_null(strstr(err->msg, TOKEN_A));
  assert_null(strstr(err->msg, TOKEN_B));
}

static void test_server_version(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  int major = 0, minor = 0;
  char *gv = NULL;
  static const struct {
    const char *body, *git;
    int major, minor;
  } cases[] = {{"{\"gitVersion\":\"v1.20.2\"}", "v1.20.2", 1, 20},
               {"{\"gitVersion\":\"v1.19.16\"}", "v1.19.16", 1, 19}};
  for (size_t i = 0; i < 2; i++) {
    fake_do("POST", "/fake/version", cases[i].body);
    assert_int_equal(kube_server_version(k, &major, &minor, &gv, &err), 0);
    assert_int_equal(major, cases[i].major);
    assert_int_equal(minor, cases[i].minor);
    assert_string_equal(gv, cases[i].git);
    free(gv);
  }
  /* a provider's "20+" minor; an answer without numbers is refused */
  fake_do("POST", "/fake/faults",
          "{\"path\":\"^/version$\",\"status\":200,\"body\":"
          "\"{\\\"major\\\":\\\"1\\\",\\\"minor\\\":\\\"20+\\\",\\\"gitVersion\\\":\\\"v1.20.15-gke.1\\\"}\"}");
  assert_int_equal(kube_server_version(k, &major, &minor, NULL, &err), 0);
  assert_int_equal(minor, 20);
  fake_do("POST", "/fake/faults", "{\"path\":\"^/version$\",\"status\":200,\"body\":\"{}\"}");
  assert_int_equal(kube_server_version(k, &major, &minor, &gv, &err), OS_EINVAL);
  assert_null(gv);
  assert_non_null(strstr(err.msg, "/version"));
  fake_do("POST", "/fake/version", "{\"gitVersion\":\"v1.32.0-fakeapi\"}");
  kube_client_free(k);
}

static void test_crud_and_errors(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  const char *coll = "/api/v1/namespaces/default/secrets";
  const char *item = "/api/v1/namespaces/default/secrets/crud-1";
  json_t *obj = secret_obj("crud-1", NULL), *out = NULL;
  assert_int_equal(kube_create(k, coll, obj, &out, &err), 0);
  const char *rv1 = json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion"));
  assert_non_null(rv1);
  char *rv1s = strdup(rv1);
  json_decref(out);

  /* create again: 409 AlreadyExists with the Status message */
  assert_int_equal(kube_create(k, coll, obj, &out, &err), OS_ECONFLICT);
  assert_null(out);
  assert_non_null(strstr(err.msg, "POST /api/v1/namespaces/default/secrets: 409 Conflict: "));
  assert_non_null(strstr(err.msg, "already exists"));
  assert_no_secret(&err);
  json_decref(obj);

  assert_int_equal(kube_get(k, item, &out, &err), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(out, "data"), "password")),
                      SECRET_B64);
  json_decref(out);

  /* update with the current resourceVersion, then with the stale one */
  obj = secret_obj("crud-1", rv1s);
  json_object_set_new(json_object_get(obj, "metadata"), "labels", json_pack("{s:s}", "v", "2"));
  assert_int_equal(kube_update(k, item, obj, &out, &err), 0);
  const char *rv2 = json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion"));
  assert_string_not_equal(rv2, rv1s);
  char *rv2s = strdup(rv2);
  json_decref(out);
  json_object_set_new(json_object_get(obj, "metadata"), "labels", json_pack("{s:s}", "v", "3"));
  assert_int_equal(kube_update(k, item, obj, &out, &err), OS_ECONFLICT);
  assert_non_null(strstr(err.msg, "PUT /api/v1/namespaces/default/secrets/crud-1: 409 Conflict: "));
  assert_non_null(strstr(err.msg, "the object has been modified"));
  assert_no_secret(&err);
  json_decref(obj);

  /* merge patch */
  json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "patched", "yes");
  assert_int_equal(kube_patch(k, item, "application/merge-patch+json", patch, &out, &err), 0);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_object_get(out, "metadata"), "labels"), "patched")),
                      "yes");
  char *rv3s = strdup(json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion")));
  json_decref(out);
  json_decref(patch);

  /* 404 */
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default/secrets/absent", &out, &err), OS_ENOTFOUND);
  assert_null(out);
  assert_non_null(strstr(err.msg, "GET /api/v1/namespaces/default/secrets/absent: 404 Not Found: "));
  assert_non_null(strstr(err.msg, "\"absent\" not found"));

  /* 422 with the Status message; kube_request still hands over the Status */
  obj = secret_obj("Bad_Name", NULL);
  long code = 0;
  assert_int_equal(kube_request(k, "POST", coll, NULL, obj, &out, &code, &err), OS_EINVAL);
  assert_int_equal(code, 422);
  assert_string_equal(json_string_value(json_object_get(out, "reason")), "Invalid");
  assert_non_null(strstr(err.msg, "422 Unprocessable Entity: "));
  assert_non_null(strstr(err.msg, "Bad_Name"));
  assert_no_secret(&err);
  json_decref(out);
  json_decref(obj);

  /* delete with a stale precondition, then the right one */
  assert_int_equal(kube_delete(k, item, rv2s, &err), OS_ECONFLICT);
  assert_non_null(strstr(err.msg, "DELETE"));
  assert_int_equal(kube_delete(k, item, rv3s, &err), 0);
  assert_int_equal(kube_get(k, item, &out, &err), OS_ENOTFOUND);
  assert_int_equal(kube_delete(k, item, NULL, &err), OS_ENOTFOUND);
  assert_int_equal(obs_2xx, 5);
  assert_int_equal(obs_net, 0);
  free(rv1s);
  free(rv2s);
  free(rv3s);
  kube_client_free(k);
}

static void test_list_pagination_selector(void **state) {
  (void)state;
  /* 1234 ConfigMaps in a fresh namespace: 1100 labelled batch=b1 */
  os_buf b;
  os_buf_init(&b, 8u << 20, false);
  assert_int_equal(os_buf_puts(&b, "{\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                   "\"metadata\":{\"name\":\"paging\"}}"), 0);
  for (int i = 0; i < 1234; i++)
    assert_int_equal(os_buf_printf(&b,
                                   ",{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                                   "{\"name\":\"cm-%04d\",\"namespace\":\"paging\",\"labels\":"
                                   "{\"batch\":\"%s\"}},\"data\":{\"i\":\"%d\"}}",
                                   i, i < 1100 ? "b1" : "b2", i),
                     0);
  assert_int_equal(os_buf_puts(&b, "]}"), 0);
  fake_do("POST", "/fake/objects", b.data);
  os_buf_free(&b);
  fake_do("DELETE", "/fake/requests", NULL);

  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *items = NULL;
  char *rv = NULL;
  assert_int_equal(kube_list(k, "/api/v1/namespaces/paging/configmaps", "batch=b1", &items, &rv, &err), 0);
  assert_int_equal(json_array_size(items), 1100);
  assert_non_null(rv);
  /* every item once, in order */
  for (size_t i = 0; i < json_array_size(items); i++) {
    char want[32];
    snprintf(want, sizeof(want), "cm-%04zu", i);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(items, i), "metadata"), "name")),
                        want);
  }
  json_decref(items);
  free(rv);
  assert_int_equal(obs_list, 3);  /* observed as LIST, once per page */
  /* three pages of 500 were asked for, two of them with continue */
  expect_count("GET", "/api/v1/namespaces/paging/configmaps", 200, 3);
  json_t *reqs = fake("GET", "/fake/requests", NULL);
  int with_continue = 0;
  size_t i;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    const char *q = json_string_value(json_object_get(r, "query"));
    if (q && strstr(q, "continue="))
      with_continue++;
    assert_true(q && strstr(q, "labelSelector=batch%3Db1") && strstr(q, "limit=500"));
  }
  json_decref(reqs);
  assert_int_equal(with_continue, 2);

  /* a continue token that expires mid-list: the list starts over once */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"continue=\",\"status\":410,\"reason\":\"Expired\",\"count\":1}");
  obs_reset();
  assert_int_equal(kube_list(k, "/api/v1/namespaces/paging/configmaps", "batch=b1", &items, NULL, &err), 0);
  assert_int_equal(json_array_size(items), 1100);  /* no duplicates from the first attempt */
  assert_int_equal(obs_list, 5);  /* page 1, expired page 2, then pages 1-3 */
  json_decref(items);
  /* twice: OS_EGONE */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"continue=\",\"status\":410,\"reason\":\"Expired\",\"count\":2}");
  assert_int_equal(kube_list(k, "/api/v1/namespaces/paging/configmaps", "batch=b1", &items, NULL, &err), OS_EGONE);
  assert_null(items);
  assert_non_null(strstr(err.msg, "410 Gone"));
  fake_do("DELETE", "/fake/faults", NULL);
  /* a set-based selector, escaped properly */
  assert_int_equal(kube_list(k, "/api/v1/namespaces/paging/configmaps", "batch in (b2,b3)", &items, NULL, &err), 0);
  assert_int_equal(json_array_size(items), 134);
  json_decref(items);
  /* a malformed selector: 400 mapped to OS_EINVAL */
  assert_int_equal(kube_list(k, "/api/v1/namespaces/paging/configmaps", "batch in (", &items, NULL, &err), OS_EINVAL);
  assert_null(items);
  assert_non_null(strstr(err.msg, "400 Bad Request"));
  kube_client_free(k);
}

#define EACH_ITEMS 37

typedef struct each_log {
  int seen[EACH_ITEMS]; /* times each cm-NN was handed over */
  int items, restarts;
  int fail_after;       /* fn returns OS_ENOMEM on this item (0: never) */
} each_log;

static int on_item(void *ctx, json_t *item) {
  each_log *l = ctx;
  if (item == NULL) {
    /* the list starts over: forget what was seen */
    memset(l->seen, 0, sizeof(l->seen));
    l->restarts++;
    return 0;
  }
  l->items++;
  if (l->fail_after > 0 && l->items == l->fail_after)
    return OS_ENOMEM;
  const char *name = json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
  int i = -1;
  assert_non_null(name);
  assert_int_equal(sscanf(name, "cm-%d", &i), 1);
  assert_true(i >= 0 && i < EACH_ITEMS);
  l->seen[i]++;
  return 0;
}

static void assert_each_once(const each_log *l) {
  for (int i = 0; i < EACH_ITEMS; i++)
    if (l->seen[i] != 1)
      fail_msg("cm-%02d handed over %d times", i, l->seen[i]);
}

static void test_list_each_pages(void **state) {
  (void)state;
  /* 37 ConfigMaps in a fresh namespace, listed 5 a page: 8 pages */
  os_buf b;
  os_buf_init(&b, 1u << 20, false);
  assert_int_equal(os_buf_puts(&b, "{\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                   "\"metadata\":{\"name\":\"each\"}}"), 0);
  for (int i = 0; i < EACH_ITEMS; i++)
    assert_int_equal(os_buf_printf(&b,
                                   ",{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                                   "{\"name\":\"cm-%02d\",\"namespace\":\"each\"},"
                                   "\"data\":{\"i\":\"%d\"}}",
                                   i, i),
                     0);
  assert_int_equal(os_buf_puts(&b, "]}"), 0);
  fake_do("POST", "/fake/objects", b.data);
  os_buf_free(&b);
  fake_do("DELETE", "/fake/requests", NULL);
  const char *coll = "/api/v1/namespaces/each/configmaps";

  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  each_log l;
  memset(&l, 0, sizeof(l));
  char *rv = NULL;
  obs_reset();
  assert_int_equal(kube_list_each(k, coll, NULL, 5, on_item, &l, &rv, &err), 0);
  assert_int_equal(l.items, EACH_ITEMS);
  assert_int_equal(l.restarts, 0);
  assert_each_once(&l);
  assert_non_null(rv);
  assert_true(rv[0] != '\0');
  free(rv);
  rv = NULL;
  assert_int_equal(obs_list, 8);
  expect_count("GET", coll, 200, 8);
  json_t *reqs = fake("GET", "/fake/requests", NULL);
  size_t i;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    const char *q = json_string_value(json_object_get(r, "query"));
    assert_true(q && strstr(q, "limit=5") && !strstr(q, "labelSelector"));
  }
  json_decref(reqs);

  /* the continue token expires mid-list: fn hears of the restart, and after
   * forgetting sees every item once; rv comes from the second list */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"continue=\",\"status\":410,\"reason\":\"Expired\",\"count\":1}");
  memset(&l, 0, sizeof(l));
  obs_reset();
  assert_int_equal(kube_list_each(k, coll, NULL, 5, on_item, &l, &rv, &err), 0);
  assert_int_equal(l.restarts, 1);
  assert_int_equal(l.items, 5 + EACH_ITEMS);
  assert_each_once(&l);
  assert_non_null(rv);
  free(rv);
  rv = NULL;
  assert_int_equal(obs_list, 10);  /* page 1, expired page 2, then pages 1-8 */
  /* twice: OS_EGONE, no rv */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"continue=\",\"status\":410,\"reason\":\"Expired\",\"count\":2}");
  memset(&l, 0, sizeof(l));
  assert_int_equal(kube_list_each(k, coll, NULL, 5, on_item, &l, &rv, &err), OS_EGONE);
  assert_int_equal(l.restarts, 1);
  assert_null(rv);
  fake_do("DELETE", "/fake/faults", NULL);

  /* fn stops the list: its code comes back, no further page is asked for */
  memset(&l, 0, sizeof(l));
  l.fail_after = 7;
  obs_reset();
  assert_int_equal(kube_list_each(k, coll, NULL, 5, on_item, &l, &rv, &err), OS_ENOMEM);
  assert_int_equal(l.items, 7);
  assert_null(rv);
  assert_non_null(strstr(err.msg, coll));
  assert_int_equal(obs_list, 2);

  /* page_limit 0: the default page, everything at once */
  memset(&l, 0, sizeof(l));
  fake_do("DELETE", "/fake/requests", NULL);
  assert_int_equal(kube_list_each(k, coll, NULL, 0, on_item, &l, NULL, &err), 0);
  assert_each_once(&l);
  expect_count("GET", coll, 200, 1);
  reqs = fake("GET", "/fake/requests", NULL);
  const char *q = json_string_value(json_object_get(json_array_get(reqs, 0), "query"));
  assert_true(q && strstr(q, "limit=500"));
  json_decref(reqs);
  kube_client_free(k);
}

typedef struct watch_log {
  int added, modified, deleted, bookmarks;
  int stop_after;    /* fn returns non-zero after this many events (0: never) */
  int seen;
  char names[8][64];
} watch_log;

static int on_event(void *ctx, const char *type, json_t *obj) {
  watch_log *w = ctx;
  w->seen++;
  if (strcmp(type, "ADDED") == 0) {
    const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (w->added < 8 && n)
      snprintf(w->names[w->added], sizeof(w->names[0]), "%s", n);
    w->added++;
  } else if (strcmp(type, "MODIFIED") == 0) {
    w->modified++;
  } else if (strcmp(type, "DELETED") == 0) {
    w->deleted++;
  } else if (strcmp(type, "BOOKMARK") == 0) {
    w->bookmarks++;
  }
  return w->stop_after > 0 && w->seen >= w->stop_after;
}

static void test_watch_bookmarks_and_gone(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  fake_do("POST", "/fake/objects", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"watched\"}}");
  const char *coll = "/api/v1/namespaces/watched/configmaps";
  json_t *items = NULL;
  char *rv = NULL;
  assert_int_equal(kube_list(k, coll, NULL, &items, &rv, &err), 0);
  assert_int_equal(json_array_size(items), 0);
  json_decref(items);
  json_t *o = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "w1", "data", "k", "v");
  assert_int_equal(kube_create(k, coll, o, NULL, &err), 0);
  json_decref(o);
  o = json_pack("{s:{s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", "w2", "labels", "sel", "yes", "data", "k", "v");
  assert_int_equal(kube_create(k, coll, o, NULL, &err), 0);
  json_decref(o);
  assert_int_equal(kube_delete(k, "/api/v1/namespaces/watched/configmaps/w1", NULL, &err), 0);
  json_t *h = fake("GET", "/fake/healthz", NULL);
  long now_rv = strtol(json_string_value(json_object_get(h, "resourceVersion")), NULL, 10);
  json_decref(h);

  /* replay from the list's rv; the server ends the watch after 3 s */
  watch_log w;
  memset(&w, 0, sizeof(w));
  char *last = NULL;
  double t0 = now_s();
  assert_int_equal(kube_watch(k, coll, NULL, rv, 3, on_event, &w, &last, NULL, &err), 0);
  double took = now_s() - t0;
  assert_true(took >= 2.5 && took < 10);
  assert_int_equal(w.added, 2);
  assert_string_equal(w.names[0], "w1");
  assert_string_equal(w.names[1], "w2");
  assert_int_equal(w.deleted, 1);
  assert_true(w.bookmarks >= 1);
  assert_non_null(last);
  assert_true(strtol(last, NULL, 10) >= now_rv);
  free(last);

  /* label selector: only w2 */
  memset(&w, 0, sizeof(w));
  assert_int_equal(kube_watch(k, coll, "sel=yes", rv, 1, on_event, &w, &last, NULL, &err), 0);
  assert_int_equal(w.added, 1);
  assert_string_equal(w.names[0], "w2");
  assert_int_equal(w.deleted, 0);
  free(last);

  /* fn asks to stop: returns at once with 0 */
  memset(&w, 0, sizeof(w));
  w.stop_after = 1;
  t0 = now_s();
  assert_int_equal(kube_watch(k, coll, NULL, rv, 20, on_event, &w, &last, NULL, &err), 0);
  assert_true(now_s() - t0 < 3);
  assert_int_equal(w.seen, 1);
  free(last);

  /* after a compaction the old rv is gone: OS_EGONE, so the caller lists again */
  fake_do("POST", "/fake/compact", NULL);
  memset(&w, 0, sizeof(w));
  assert_int_equal(kube_watch(k, coll, NULL, rv, 5, on_event, &w, &last, NULL, &err), OS_EGONE);
  assert_int_equal(w.seen, 0);
  assert_non_null(strstr(err.msg, "410"));
  free(last);
  free(rv);
  /* relist, then watch from the fresh rv works */
  assert_int_equal(kube_list(k, coll, NULL, &items, &rv, &err), 0);
  assert_int_equal(json_array_size(items), 1);
  json_decref(items);
  memset(&w, 0, sizeof(w));
  assert_int_equal(kube_watch(k, coll, NULL, rv, 1, on_event, &w, &last, NULL, &err), 0);
  assert_int_equal(w.added, 0);
  free(last);
  assert_int_equal(obs_watch, 5);  /* five watches, observed as WATCH */

  /* an HTTP 410 on the watch request is OS_EGONE too (not retried) */
  obs_reset();
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"watch=1\",\"status\":410,\"count\":1}");
  assert_int_equal(kube_watch(k, coll, NULL, rv, 1, on_event, &w, &last, NULL, &err), OS_EGONE);
  assert_int_equal(obs_watch, 1);
  assert_non_null(strstr(err.msg, "410 Gone"));
  free(last);
  /* 500s and a 401 before the stream starts are retried / reloaded */
  write_file(token_file, TOKEN_B "\n");
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"watch=1\",\"status\":500,\"count\":2}");
  obs_reset();
  memset(&w, 0, sizeof(w));
  assert_int_equal(kube_watch(k, coll, NULL, rv, 1, on_event, &w, &last, NULL, &err), 0);
  assert_int_equal(obs_500, 2);
  assert_int_equal(obs_401, 1);
  assert_int_equal(obs_2xx, 1);
  write_file(token_file, TOKEN_A "\n");
  free(last);
  free(rv);
  kube_client_free(k);
}

static void test_timeouts(void **state) {
  (void)state;
  kube_options o = {.kubeconfig = kubeconfig, .timeout_ms = 1500, .observe = observe};
  kube_client *k = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(kube_client_new(&k, &o, &err), 0);
  json_t *out = NULL;
  /* one slow answer: the GET times out once, then succeeds */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"delayMs\":6000,\"count\":1}");
  double t0 = now_s();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_true(now_s() - t0 < 5.0);  /* did not wait for the slow answer */
  assert_int_equal(obs_net, 1);
  kube_client_free(k);
  /* without retries the timeout is reported as OS_ETIMEOUT */
  o.max_retries = -1;
  assert_int_equal(kube_client_new(&k, &o, &err), 0);
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"delayMs\":6000,\"count\":1}");
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), OS_ETIMEOUT);
  assert_non_null(strstr(err.msg, "GET /api/v1/namespaces/default: "));
  kube_client_free(k);

}

typedef struct stopper {
  volatile int *flag;
  double after;
} stopper;

static void *stop_later(void *arg) {
  stopper *s = arg;
  usleep((useconds_t)(s->after * 1e6));
  *s->flag = 1;
  return NULL;
}

static void test_watch_stop_flag(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  volatile int stop = 0;
  stopper s = {&stop, 0.5};
  pthread_t t;
  pthread_create(&t, NULL, stop_later, &s);
  watch_log w;
  memset(&w, 0, sizeof(w));
  char *last = NULL;
  double t0 = now_s();
  /* from "now": no replay; only bookmarks would arrive */
  assert_int_equal(kube_watch(k, "/api/v1/namespaces/kube-system/configmaps", NULL, NULL, 25, on_event, &w,
                              &last, &stop, &err), 0);
  double took = now_s() - t0;
  pthread_join(t, NULL);
  assert_true(took >= 0.4 && took < 4.0); /* stop polled each second; slack for loaded CI */
  free(last);
  kube_client_free(k);
}

static void test_429_retry_after(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  fake_do("POST", "/fake/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"status\":429,\"count\":3,\"retryAfter\":1}");
  double t0 = now_s();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  double took = now_s() - t0;
  json_decref(out);
  assert_int_equal(obs_429, 3);
  assert_int_equal(obs_2xx, 1);
  assert_true(took >= 2.9 && took < 8);  /* Retry-After: 1, three times */
  /* POST is retried on 429 too: nothing was applied */
  obs_reset();
  fake_do("POST", "/fake/faults",
          "{\"method\":\"POST\",\"path\":\"configmaps\",\"status\":429,\"count\":2,\"retryAfter\":1}");
  json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "after-429");
  assert_int_equal(kube_create(k, "/api/v1/namespaces/default/configmaps", o, NULL, &err), 0);
  json_decref(o);
  assert_int_equal(obs_429, 2);
  expect_count("POST", "/api/v1/namespaces/default/configmaps", 201, 1);
  /* more 429s than max_retries: gives up with the code in the message */
  kube_options opt = {.kubeconfig = kubeconfig, .max_retries = 2, .observe = observe};
  kube_client *k2 = NULL;
  assert_int_equal(kube_client_new(&k2, &opt, &err), 0);
  obs_reset();
  fake_do("POST", "/fake/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"status\":429,\"count\":5,\"retryAfter\":1}");
  assert_int_equal(kube_get(k2, "/api/v1/namespaces/default", &out, &err), OS_EIO);
  assert_non_null(strstr(err.msg, "429 Too Many Requests"));
  assert_int_equal(obs_429, 3);
  kube_client_free(k2);
  kube_client_free(k);
}

/* Sockets this process has open. */
static int open_sockets(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char path[300], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
    ssize_t len = readlink(path, target, sizeof(target) - 1);
    if (len > 0) {
      target[len] = '\0';
      n += strncmp(target, "socket:", 7) == 0;
    }
  }
  closedir(d);
  return n;
}

/* Writes use a fresh connection each and leave none idle behind them: the
 * client holds no more connections after 20 creates than after one. */
static void test_writes_leave_no_idle_connections(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0); /* warm */
  json_decref(out);
  int before = open_sockets();
  for (int i = 0; i < 20; i++) {
    char name[32];
    snprintf(name, sizeof(name), "conn-%d", i);
    json_t *o = json_pack("{s:{s:s}}", "metadata", "name", name);
    assert_int_equal(kube_create(k, "/api/v1/namespaces/default/configmaps", o, NULL, &err), 0);
    json_decref(o);
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  int after = open_sockets();
  assert_true(after <= before + 1);
  kube_client_free(k);
}

static void test_5xx_and_drops(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  fake_do("POST", "/fake/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"status\":500,\"count\":3}");
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_500, 3);
  assert_int_equal(obs_2xx, 1);

  /* dropped connections on GET converge */
  obs_reset();
  fake_do("POST", "/fake/faults",
          "{\"method\":\"GET\",\"path\":\"^/api/v1/namespaces/default$\",\"drop\":true,\"count\":2}");
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  /* libcurl itself resends once when a reused connection dies silently */
  assert_true(obs_net >= 1 && obs_net <= 2);
  expect_count("GET", "/api/v1/namespaces/default", -1, 2);

  /* a PUT (idempotent) through 502/504 */
  obs_reset();
  json_t *cm = NULL;
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default/configmaps/after-429", &cm, &err), 0);
  json_object_set_new(cm, "data", json_pack("{s:s}", "x", "1"));
  fake_do("POST", "/fake/faults",
          "{\"method\":\"PUT\",\"path\":\"after-429\",\"status\":502,\"count\":1}");
  fake_do("POST", "/fake/faults",
          "{\"method\":\"PUT\",\"path\":\"after-429\",\"status\":504,\"count\":1}");
  assert_int_equal(kube_update(k, "/api/v1/namespaces/default/configmaps/after-429", cm, NULL, &err), 0);
  json_decref(cm);

  /* POST is not retried after a 500 or a dropped connection (it may have been applied) */
  obs_reset();
  fake_do("POST", "/fake/faults", "{\"method\":\"POST\",\"path\":\"configmaps\",\"status\":500,\"count\":1}");
  json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "post-500");
  assert_int_equal(kube_create(k, "/api/v1/namespaces/default/configmaps", o, NULL, &err), OS_EIO);
  assert_non_null(strstr(err.msg, "500 Internal Server Error"));
  assert_int_equal(obs_total, 1);
  fake_do("POST", "/fake/faults", "{\"method\":\"POST\",\"path\":\"configmaps\",\"drop\":true,\"count\":1}");
  obs_reset();
  assert_int_equal(kube_create(k, "/api/v1/namespaces/default/configmaps", o, NULL, &err), OS_EIO);
  assert_int_equal(obs_total, 1);
  assert_int_equal(obs_net, 1);
  /* sent once only, even though a warm connection was available (no silent resend) */
  expect_count("POST", "/api/v1/namespaces/default/configmaps", -1, 1);
  /* ... but it is retried on 503 */
  obs_reset();
  fake_do("POST", "/fake/faults", "{\"method\":\"POST\",\"path\":\"configmaps\",\"status\":503,\"count\":2}");
  assert_int_equal(kube_create(k, "/api/v1/namespaces/default/configmaps", o, NULL, &err), 0);
  assert_int_equal(obs_503, 2);
  json_decref(o);

  /* a refused connection (nothing sent) is retried and reported as a network error */
  kube_options opt = {.kubeconfig = NULL, .max_retries = 2, .observe = observe};
  char *kc = in_dir("refused.kubeconfig");
  write_file(kc, "apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
                 "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
                 "users:\n- name: u\n  user:\n    token: x\ncurrent-context: c\n");
  opt.kubeconfig = kc;
  kube_client *k2 = NULL;
  assert_int_equal(kube_client_new(&k2, &opt, &err), 0);
  obs_reset();
  assert_int_equal(kube_get(k2, "/api/v1/namespaces", &out, &err), OS_EIO);
  assert_int_equal(obs_net, 3);
  assert_non_null(strstr(err.msg, "GET /api/v1/namespaces: "));
  kube_client_free(k2);
  free(kc);
  kube_client_free(k);
}

static void test_token_rotation(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  /* the fake re-reads the token file on every request: the old token is now refused */
  write_file(token_file, TOKEN_B "\n");
  obs_reset();
  fake_do("DELETE", "/fake/requests", NULL);
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_401, 1);
  assert_int_equal(obs_2xx, 1);
  expect_count("GET", "/api/v1/namespaces/default", 401, 1);
  /* a later request uses the new token straight away */
  obs_reset();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_401, 0);
  /* a token nobody accepts: one reload, then OS_EAUTH without the token in the message */
  write_file(token_file, TOKEN_A "\n");
  char *other = in_dir("other-token");
  kube_client *k2 = NULL;
  char *kc = in_dir("wrongtoken.kubeconfig");
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&text, &len, kubeconfig, 1 << 20, &err), 0);
  char *p = strstr(text, "tokenFile: ");
  assert_non_null(p);
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(os_buf_append(&b, text, (size_t)(p - text)), 0);
  assert_int_equal(os_buf_printf(&b, "token: %s%s", TOKEN_B, strchr(p, '\n')), 0);
  write_file(kc, b.data);
  os_buf_free(&b);
  free(text);
  kube_options o = {.kubeconfig = kc, .observe = observe};
  assert_int_equal(kube_client_new(&k2, &o, &err), 0);
  obs_reset();
  assert_int_equal(kube_get(k2, "/api/v1/namespaces/default", &out, &err), OS_EAUTH);
  assert_null(out);
  assert_non_null(strstr(err.msg, "401 Unauthorized"));
  assert_no_secret(&err);
  assert_int_equal(obs_401, 2);
  kube_client_free(k2);
  free(kc);
  free(other);
  kube_client_free(k);
}

/* The watch goes through the same 401 re-read as every request: the token
 * rotated while the client still holds the old one, and the watch still
 * streams, after exactly one 401. */
static void test_watch_token_rotation(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  fake_do("POST", "/fake/objects", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"rot\"}}");
  const char *coll = "/api/v1/namespaces/rot/configmaps";
  json_t *items = NULL, *o = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "c1", "data", "k", "v");
  char *rv = NULL, *last = NULL;
  assert_int_equal(kube_list(k, coll, NULL, &items, &rv, &err), 0);
  json_decref(items);
  assert_int_equal(kube_create(k, coll, o, NULL, &err), 0);
  json_decref(o);
  write_file(token_file, TOKEN_B "\n"); /* the client re-checks the file only every 5 s */
  obs_reset();
  watch_log w;
  memset(&w, 0, sizeof(w));
  w.stop_after = 1;
  assert_int_equal(kube_watch(k, coll, NULL, rv, 5, on_event, &w, &last, NULL, &err), 0);
  assert_int_equal(w.added, 1);
  assert_string_equal(w.names[0], "c1");
  assert_int_equal(obs_401, 1);
  assert_int_equal(obs_watch, 2);
  write_file(token_file, TOKEN_A "\n");
  free(last);
  free(rv);
  kube_client_free(k);
}

static void test_in_cluster_against_fake(void **state) {
  (void)state;
  char *sa = in_dir("sa");
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_mkdir_p(sa, 0700, &err), 0);
  char *ca = NULL;
  size_t len = 0;
  assert_int_equal(os_read_file(&ca, &len, ca_file, 1 << 20, &err), 0);
  char *sa_ca = os_path_join(sa, "ca.crt"), *sa_tok = os_path_join(sa, "token");
  write_file(sa_ca, ca);
  write_file(sa_tok, TOKEN_A);
  free(ca);
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", strrchr(base_url, ':') + 1, 1);
  setenv("ORGSECRETS_SA_DIR", sa, 1);
  kube_client *k = NULL;
  kube_options o = {.observe = observe};
  assert_int_equal(kube_client_new(&k, &o, &err), 0);
  assert_string_equal(kube_client_server(k), base_url);
  json_t *out = NULL;
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  /* the kubelet rotates the projected token; the fake accepts extra tokens via /fake/tokens */
  fake_do("POST", "/fake/tokens", "{\"tokens\":[\"" TOKEN_B "\"]}");
  write_file(sa_tok, TOKEN_B);
  /* both tokens are accepted for a while; the client notices the new file by itself */
  usleep(5300000);
  write_file(token_file, "nobody-has-this-token\n");  /* TOKEN_A no longer accepted */
  obs_reset();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_401, 0);  /* re-read within 5 s, before any 401 */
  assert_int_equal(obs_2xx, 1);
  /* rotated again and the old one revoked at once: recovered through one 401 */
  fake_do("POST", "/fake/tokens", "{\"tokens\":[\"" TOKEN_A "\"]}");
  write_file(sa_tok, TOKEN_A);
  obs_reset();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_401, 1);
  assert_int_equal(obs_2xx, 1);
  kube_client_free(k);
  write_file(token_file, TOKEN_A "\n");
  fake_do("POST", "/fake/tokens", "{\"tokens\":[]}");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  unsetenv("ORGSECRETS_SA_DIR");
  free(sa_ca);
  free(sa_tok);
  free(sa);
}

static void test_client_certificate(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, "fakeapi-cert", 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  json_decref(fake("DELETE", "/fake/requests", NULL)); /* only this test's GET can match */
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  /* the newest GET of that path: the fake logs a request after answering
   * it, and a watch of an earlier test when it ends, so look for it */
  json_t *reqs = NULL;
  const char *auth = NULL;
  for (int tries = 0; tries < 60 && auth == NULL; tries++) {
    if (reqs != NULL) {
      json_decref(reqs);
      usleep(50000);
    }
    reqs = fake("GET", "/fake/requests", NULL);
    for (size_t i = json_array_size(reqs); i-- > 0 && auth == NULL;) {
      json_t *r = json_array_get(reqs, i);
      const char *m = json_string_value(json_object_get(r, "method"));
      const char *p = json_string_value(json_object_get(r, "path"));
      if (m && p && strcmp(m, "GET") == 0 && strcmp(p, "/api/v1/namespaces/default") == 0)
        auth = json_string_value(json_object_get(r, "auth"));
    }
  }
  assert_non_null(auth);
  assert_string_equal(auth, "cert");  /* authenticated by certificate, not bearer */
  json_decref(reqs);
  kube_client_free(k);
}

static void test_wrong_ca_fails(void **state) {
  (void)state;
  /* trust the client certificate (not the server's CA) */
  char *text = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&text, &len, kubeconfig, 1 << 20, &err), 0);
  char *p = strstr(text, "certificate-authority-data: ");
  assert_non_null(p);
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(os_buf_append(&b, text, (size_t)(p - text)), 0);
  assert_int_equal(os_buf_printf(&b, "certificate-authority: tls/client.crt%s", strchr(p, '\n')), 0);
  char *kc = in_dir("wrongca.kubeconfig");
  write_file(kc, b.data);
  os_buf_free(&b);
  free(text);
  kube_client *k = client_for(kc, NULL, 0, 0);
  json_t *out = NULL;
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), OS_EIO);
  assert_non_null(strstr(err.msg, "TLS verification failed"));
  assert_int_equal(obs_total, 1);  /* not retried */
  assert_int_equal(obs_net, 1);
  expect_count(NULL, "/api", 0, 0);
  kube_client_free(k);
  free(kc);
}

static void write_exec_kubeconfig(const char *kc, const char *extra_env) {
  /* the plugin is copied next to the kubeconfig and named relatively */
  char src[512];
  snprintf(src, sizeof(src), "%s/kube/exec_plugin.sh", TESTS_DIR);
  char *script = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&script, &len, src, 1 << 20, &err), 0);
  char *dst = in_dir("bin/plugin.sh");
  char *bin = in_dir("bin");
  assert_int_equal(os_mkdir_p(bin, 0700, &err), 0);
  assert_int_equal(os_write_file_atomic(dst, script, len, 0755, &err), 0);
  free(script);
  free(dst);
  free(bin);
  char *text = NULL;
  assert_int_equal(os_read_file(&text, &len, kubeconfig, 1 << 20, &err), 0);
  char *p = strstr(text, "    tokenFile: ");
  assert_non_null(p);
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(os_buf_append(&b, text, (size_t)(p - text)), 0);
  assert_int_equal(os_buf_printf(&b,
                                 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: ./bin/plugin.sh\n      args: [\"get token\"]\n"
                                 "      env:\n      - name: PLUGIN_COUNT_FILE\n        value: %s/count\n"
                                 "      - name: PLUGIN_TOKEN_FILE\n        value: %s\n%s%s",
                                 dir, token_file, extra_env, strchr(p, '\n') + 1),
                   0);
  write_file(kc, b.data);
  os_buf_free(&b);
  free(text);
}

static int plugin_runs(void) {
  char *p = in_dir("count");
  char *text = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  int n = 0;
  if (os_read_file(&text, &len, p, 1 << 20, &err) == 0) {
    for (char *q = text; (q = strstr(q, "run get token\n")) != NULL; q++)
      n++;
    free(text);
  }
  free(p);
  return n;
}

static void test_exec_plugin(void **state) {
  (void)state;
  char *kc = in_dir("exec.kubeconfig");
  char *count = in_dir("count");
  unlink(count);
  write_exec_kubeconfig(kc, "");
  kube_client *k = client_for(kc, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  assert_int_equal(plugin_runs(), 1);  /* cached: no expiry */
  /* rotation: the fake now wants TOKEN_B; the cached one gets 401 and the plugin runs again */
  write_file(token_file, TOKEN_B "\n");
  obs_reset();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  assert_int_equal(obs_401, 1);
  assert_int_equal(plugin_runs(), 2);
  kube_client_free(k);
  write_file(token_file, TOKEN_A "\n");

  /* an already-expired credential is fetched again for every request */
  unlink(count);
  write_exec_kubeconfig(kc, "      - name: PLUGIN_EXPIRY\n        value: \"2001-01-01T00:00:00Z\"\n");
  k = client_for(kc, NULL, 0, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  assert_int_equal(plugin_runs(), 3);
  kube_client_free(k);
  /* a far expiry is cached */
  unlink(count);
  write_exec_kubeconfig(kc, "      - name: PLUGIN_EXPIRY\n        value: \"2099-01-01T00:00:00Z\"\n");
  k = client_for(kc, NULL, 0, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  assert_int_equal(plugin_runs(), 1);
  kube_client_free(k);
  /* a failing plugin: OS_EAUTH naming the plugin, nothing of its output */
  write_exec_kubeconfig(kc, "      - name: PLUGIN_FAIL\n        value: \"1\"\n");
  k = client_for(kc, NULL, 0, 0);
  obs_reset();
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), OS_EAUTH);
  assert_non_null(strstr(err.msg, "plugin.sh"));
  assert_null(strstr(err.msg, "should-not-leak"));
  assert_int_equal(obs_total, 0);  /* nothing was sent */
  kube_client_free(k);
  free(count);
  free(kc);
}

static void test_rate_limit_timing(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 20, 5);
  os_error err = OS_ERROR_INIT;
  json_t *out = NULL;
  double t0 = now_s();
  for (int i = 0; i < 5; i++) {
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  double burst = now_s() - t0;
  for (int i = 0; i < 20; i++) {
    assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
    json_decref(out);
  }
  double total = now_s() - t0;
  /* 5 free, then 20 at 20/s: about one second (minus what the first 5 took) */
  assert_true(burst < 0.9);
  if (total < 0.9 || total > 4.0)
    fail_msg("25 requests at qps 20 burst 5 took %.2fs", total);
  kube_client_free(k);
}

static void test_size_limits(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 0, 0);
  os_error err = OS_ERROR_INIT;
  /* a 20 KiB ConfigMap */
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  assert_int_equal(os_buf_puts(&b, "{\"metadata\":{\"name\":\"big\"},\"data\":{\"v\":\""), 0);
  for (int i = 0; i < 20 * 1024; i++)
    assert_int_equal(os_buf_puts(&b, "x"), 0);
  assert_int_equal(os_buf_puts(&b, "\"}}"), 0);
  json_error_t je;
  json_t *cm = json_loads(b.data, 0, &je);
  os_buf_free(&b);
  assert_non_null(cm);
  assert_int_equal(kube_create(k, "/api/v1/namespaces/kube-public/configmaps", cm, NULL, &err), 0);
  json_decref(cm);
  kube_client_set_limits(k, 8 * 1024, 4 * 1024);
  json_t *out = NULL;
  /* refused, not retried */
  assert_int_equal(kube_get(k, "/api/v1/namespaces/kube-public/configmaps/big", &out, &err), OS_ENOMEM);
  assert_null(out);
  assert_non_null(strstr(err.msg, "response larger than 8192 bytes"));
  assert_int_equal(obs_total, 2);  /* the create, and one GET */
  json_t *items = NULL;
  assert_int_equal(kube_list(k, "/api/v1/namespaces/kube-public/configmaps", NULL, &items, NULL, &err), OS_ENOMEM);
  assert_null(items);
  char *last = NULL;
  watch_log w;
  memset(&w, 0, sizeof(w));
  assert_int_equal(kube_watch(k, "/api/v1/namespaces/kube-public/configmaps", NULL, NULL, 5, on_event, &w,
                              &last, NULL, &err), OS_ENOMEM);
  assert_non_null(strstr(err.msg, "event larger than 4096 bytes"));
  assert_int_equal(w.seen, 0);
  free(last);
  /* small objects still pass */
  assert_int_equal(kube_get(k, "/api/v1/namespaces/default", &out, &err), 0);
  json_decref(out);
  kube_client_free(k);
}

typedef struct worker {
  kube_client *k;
  int ok;
} worker;

static void *hammer(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 25; i++) {
    json_t *out = NULL;
    os_error err = OS_ERROR_INIT;
    if (kube_get(w->k, "/api/v1/namespaces/default", &out, &err) == 0)
      w->ok++;
    json_decref(out);
  }
  return NULL;
}

static void test_threads_share_client(void **state) {
  (void)state;
  kube_client *k = client_for(kubeconfig, NULL, 1000, 1000);
  /* a few 500s and 429s along the way */
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"namespaces/default$\",\"status\":500,\"count\":4}");
  fake_do("POST", "/fake/faults", "{\"method\":\"GET\",\"path\":\"namespaces/default$\",\"status\":429,\"count\":2,\"retryAfter\":1}");
  pthread_t t[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i].k = k;
    w[i].ok = 0;
    pthread_create(&t[i], NULL, hammer, &w[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].ok, 25);
  }
  assert_int_equal(obs_2xx, 100);
  kube_client_free(k);
}

static void test_no_secrets_in_logs(void **state) {
  (void)state;
  fflush(stderr);
  char *text = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&text, &len, log_path, 64u << 20, &err), 0);
  assert_null(strstr(text, TOKEN_A));
  assert_null(strstr(text, TOKEN_B));
  assert_null(strstr(text, SECRET_VALUE));
  assert_null(strstr(text, SECRET_B64));
  assert_null(strstr(text, "PRIVATE KEY"));
  /* the debug log did record the retries */
  assert_non_null(strstr(text, "retry"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_server_version, each_setup),
      cmocka_unit_test_setup(test_crud_and_errors, each_setup),
      cmocka_unit_test_setup(test_list_pagination_selector, each_setup),
      cmocka_unit_test_setup(test_list_each_pages, each_setup),
      cmocka_unit_test_setup(test_watch_bookmarks_and_gone, each_setup),
      cmocka_unit_test_setup(test_watch_stop_flag, each_setup),
      cmocka_unit_test_setup(test_timeouts, each_setup),
      cmocka_unit_test_setup(test_429_retry_after, each_setup),
      cmocka_unit_test_setup(test_5xx_and_drops, each_setup),
      cmocka_unit_test_setup(test_writes_leave_no_idle_connections, each_setup),
      cmocka_unit_test_setup(test_token_rotation, each_setup),
      cmocka_unit_test_setup(test_watch_token_rotation, each_setup),
      cmocka_unit_test_setup(test_in_cluster_against_fake, each_setup),
      cmocka_unit_test_setup(test_client_certificate, each_setup),
      cmocka_unit_test_setup(test_wrong_ca_fails, each_setup),
      cmocka_unit_test_setup(test_exec_plugin, each_setup),
      cmocka_unit_test_setup(test_rate_limit_timing, each_setup),
      cmocka_unit_test_setup(test_size_limits, each_setup),
      cmocka_unit_test_setup(test_threads_share_client, each_setup),
      cmocka_unit_test(test_no_secrets_in_logs),
  };
  int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
  return failed != 0 ? 1 : 0;
}
