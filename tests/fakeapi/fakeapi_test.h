/* The fake API server (fakeapi.py, started by start.sh) for C tests that
 * drive pkg/kube clients against it: one per test group, in a scratch
 * folder removed at the end. Include after cmocka.h; link os_kube. */
#ifndef ORGSECRETS_TESTS_FAKEAPI_TEST_H
#define ORGSECRETS_TESTS_FAKEAPI_TEST_H

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "kube/kube.h"

typedef struct fakeapi {
  char dir[64]; /* token, tls/, kubeconfig, pid, log, stderr */
  char kubeconfig[PATH_MAX];
  long pid;
} fakeapi;

/* Starts the fake (its own process exits with the test's); 0 or -1 with a
 * line on stderr. */
static inline int fakeapi_start(fakeapi *f) {
  memset(f, 0, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/os-fakeapi-XXXXXX");
  if (mkdtemp(f->dir) == NULL)
    return -1;
  char cmd[PATH_MAX + 256], url[256] = "";
  snprintf(cmd, sizeof(cmd), "sh '%s/fakeapi/start.sh' '%s' --exit-with-pid %ld", TESTS_DIR, f->dir,
           (long)getpid());
  FILE *p = popen(cmd, "r");
  if (p == NULL || fgets(url, sizeof(url), p) == NULL || pclose(p) != 0 ||
      strncmp(url, "https://", 8) != 0) {
    fprintf(stderr, "FATAL: the fake API server did not start (%s)\n", cmd);
    return -1;
  }
  snprintf(f->kubeconfig, sizeof(f->kubeconfig), "%s/kubeconfig", f->dir);
  snprintf(cmd, sizeof(cmd), "%s/pid", f->dir);
  FILE *pf = fopen(cmd, "r");
  char line[32] = "";
  if (pf != NULL && fgets(line, sizeof(line), pf) != NULL)
    f->pid = strtol(line, NULL, 10);
  if (pf != NULL)
    fclose(pf);
  return f->pid > 0 ? 0 : -1;
}

/* Stops it (waiting up to 2 s for it to go) and removes the folder. */
static inline void fakeapi_stop(fakeapi *f) {
  if (f->pid > 0 && kill((pid_t)f->pid, SIGTERM) == 0)
    for (int i = 0; i < 40 && kill((pid_t)f->pid, 0) == 0; i++)
      usleep(50000);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  if (f->dir[0] != '\0' && system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", f->dir);
  f->pid = 0;
}

/* A client of the fake (no retries, so that a fault is seen once). */
static inline kube_client *fakeapi_client(const fakeapi *f) {
  kube_options o = {.kubeconfig = f->kubeconfig,
                    .max_retries = -1,
                    .qps = 1000,
                    .burst = 1000,
                    .timeout_ms = 20000,
                    .user_agent = "orgsecrets-test"};
  kube_client *k = NULL;
  os_error err = OS_ERROR_INIT;
  if (kube_client_new(&k, &o, &err) < 0)
    fail_msg("kube_client_new: %s", err.msg);
  return k;
}

/* One request to the fake's control API (/fake/...) or its API, body JSON
 * text or NULL (a PATCH is a merge patch); fails the test unless it answers
 * 2xx. Caller decrefs. */
static inline json_t *fakeapi_call(kube_client *k, const char *method, const char *path,
                                   const char *body) {
  json_error_t je;
  json_t *b = body ? json_loads(body, 0, &je) : NULL;
  if (body != NULL && b == NULL)
    fail_msg("bad JSON in a test: %s", je.text);
  json_t *out = NULL;
  long code = 0;
  os_error err = OS_ERROR_INIT;
  const char *type = strcmp(method, "PATCH") == 0 ? "application/merge-patch+json" : NULL;
  if (kube_request(k, method, path, type, b, &out, &code, &err) < 0)
    fail_msg("%s %s: %s", method, path, err.msg);
  json_decref(b);
  return out;
}

static inline void fakeapi_do(kube_client *k, const char *method, const char *path,
                              const char *body) {
  json_decref(fakeapi_call(k, method, path, body));
}

/* How many logged API requests have this method (NULL: any) and a path
 * containing needle (NULL: any); status 0: any. */
static inline size_t fakeapi_count(kube_client *k, const char *method, const char *needle,
                                   long status) {
  json_t *reqs = fakeapi_call(k, "GET", "/fake/requests", NULL);
  size_t i, n = 0;
  json_t *r;
  json_array_foreach(reqs, i, r) {
    const char *m = json_string_value(json_object_get(r, "method"));
    const char *path = json_string_value(json_object_get(r, "path"));
    json_int_t st = json_integer_value(json_object_get(r, "status"));
    if ((method == NULL || (m && strcmp(m, method) == 0)) &&
        (needle == NULL || (path && strstr(path, needle))) && (status == 0 || st == status))
      n++;
  }
  json_decref(reqs);
  return n;
}

/* The fake logs a request just after answering it: waits (up to 5 s) for
 * want such requests, then checks that no more come within 100 ms. */
static inline void fakeapi_expect(kube_client *k, const char *method, const char *needle,
                                  long status, size_t want) {
  size_t n = fakeapi_count(k, method, needle, status);
  for (int i = 0; i < 100 && n < want; i++) {
    usleep(50000);
    n = fakeapi_count(k, method, needle, status);
  }
  usleep(100000);
  n = fakeapi_count(k, method, needle, status);
  if (n != want)
    fail_msg("the fake saw %zu %s %s (status %ld), expected %zu", n, method ? method : "*",
             needle ? needle : "*", status, want);
}

/* Writes (POST, PUT, PATCH, DELETE) logged since the last clear. */
static inline size_t fakeapi_writes(kube_client *k) {
  return fakeapi_count(k, "POST", "/api", 0) + fakeapi_count(k, "PUT", "/api", 0) +
         fakeapi_count(k, "PATCH", "/api", 0) + fakeapi_count(k, "DELETE", "/api", 0);
}

/* Clears faults and the request log. */
static inline void fakeapi_clear(kube_client *k) {
  fakeapi_do(k, "DELETE", "/fake/faults", NULL);
  fakeapi_do(k, "DELETE", "/fake/requests", NULL);
}

/* One fake and one client of it per test group (cmocka group fixtures). */
static fakeapi fakeapi_group;
static kube_client *fakeapi_k;

static inline int fakeapi_group_setup(void **state) {
  (void)state;
  if (fakeapi_start(&fakeapi_group) < 0)
    return -1;
  fakeapi_k = fakeapi_client(&fakeapi_group);
  return 0;
}

static inline int fakeapi_group_teardown(void **state) {
  (void)state;
  kube_client_free(fakeapi_k);
  fakeapi_k = NULL;
  fakeapi_stop(&fakeapi_group);
  return 0;
}

#endif
