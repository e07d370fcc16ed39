/* Microbenchmark: time per admission request for a typical opted-in pod
 * (one init container, one app container, 12 env entries, 3 whole and
 * 2 embedded references, one reference in args). Not part of CTest.
 * usage: bench_inject_admission [RUNS]   (default 100000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inject/admission.h"

#include "fake_resolver.h"

static const char typical_review[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"0f6c2d4e-bench\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"operation\":\"CREATE\","
    "\"namespace\":\"shop\",\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:replicaset-controller\"},"
    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"web-7d9f8c6b5-\","
    "\"namespace\":\"shop\",\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d9f8c6b5\","
    "\"orgsecrets.io/inject\":\"true\"},\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"2026-01-01T00:00:00Z\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8c6b5\","
    "\"uid\":\"a1\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
    "\"spec\":{\"initContainers\":[{\"name\":\"migrate\",\"image\":\"shop/migrate:1.4\","
    "\"command\":[\"migrate\",\"up\"],\"args\":[\"--dsn\",\"postgres://app:$DB_PASSWORD@db:5432/app\"],"
    "\"resources\":{\"requests\":{\"cpu\":\"50m\",\"memory\":\"32Mi\"}}}],"
    "\"containers\":[{\"name\":\"app\",\"image\":\"shop/web:2.7.1\",\"ports\":[{\"containerPort\":8080,\"protocol\":\"TCP\"}],"
    "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"PORT\",\"value\":\"8080\"},"
    "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
    "{\"name\":\"DB_PASSWORD\",\"value\":\"$DB_PASSWORD\"},{\"name\":\"API_KEY\",\"value\":\"${API_KEY}\"},"
    "{\"name\":\"STRIPE_KEY\",\"value\":\"$STRIPE_KEY\"},"
    "{\"name\":\"DATABASE_URL\",\"value\":\"postgres://app:$DB_PASSWORD@db:5432/app?sslmode=require\"},"
    "{\"name\":\"CACHE_URL\",\"value\":\"redis://:${API_KEY}@cache:6379/0\"},"
    "{\"name\":\"FEATURES\",\"value\":\"checkout,search\"},{\"name\":\"REGION\",\"value\":\"eu-west-1\"},"
    "{\"name\":\"OTEL_SERVICE_NAME\",\"value\":\"web\"},{\"name\":\"GOMAXPROCS\",\"value\":\"2\"}],"
    "\"args\":[\"--listen=:8080\",\"--webhook-secret=$STRIPE_KEY\"],"
    "\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"},\"limits\":{\"memory\":\"512Mi\"}},"
    "\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080}}}],"
    "\"serviceAccountName\":\"web\",\"restartPolicy\":\"Always\"}}}}";

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *t, long runs) {
  qsort(t, (size_t)runs, sizeof(*t), cmp_double);
  double sum = 0;
  for (long i = 0; i < runs; i++)
    sum += t[i];
  printf("%-34s runs %ld  median %.1f us  p99 %.1f us  mean %.1f us  max %.1f us\n", what, runs,
         t[runs / 2] / 1e3, t[(long)((double)runs * 0.99)] / 1e3, sum / (double)runs / 1e3, t[runs - 1] / 1e3);
}

int main(int argc, char **argv) {
  long runs = 100000;
  if (argc > 1) {
    char *end = NULL;
    runs = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || runs < 100 || runs > 100000000) {
      fprintf(stderr, "usage: %s [RUNS >= 100]\n", argv[0]);
      return 2;
    }
  }
  double *t = calloc((size_t)runs, sizeof(double));
  if (t == NULL)
    return 1;
  inject_options o = {.resolve = fake_resolve, .list = fake_list, .ctx = NULL};
  size_t len = strlen(typical_review);
  os_error err = OS_ERROR_INIT;
  json_t *review = NULL;
  if (inject_review_parse(&review, typical_review, len, &err) != 0) {
    fprintf(stderr, "parse: %s\n", err.msg);
    return 1;
  }
  /* sanity: the pod is patched */
  char *out = NULL;
  size_t out_len = 0;
  if (inject_review_handle(&out, &out_len, NULL, typical_review, len, &o, &err) != 0 ||
      strstr(out, "\"patchType\":\"JSONPatch\"") == NULL) {
    fprintf(stderr, "handle: %s\n", err.msg);
    return 1;
  }
  printf("request %zu bytes, response %zu bytes\n", len, out_len);
  free(out);

  for (long i = 0; i < runs; i++) {
    json_t *resp = NULL;
    double t0 = now_ns();
    int rc = inject_review_opts(&resp, review, &o, &err);
    t[i] = now_ns() - t0;
    json_decref(resp);
    if (rc != 0)
      return 1;
  }
  report("inject_review_opts (parsed JSON)", t, runs);

  for (long i = 0; i < runs; i++) {
    double t0 = now_ns();
    int rc = inject_review_handle(&out, &out_len, NULL, typical_review, len, &o, &err);
    t[i] = now_ns() - t0;
    free(out);
    if (rc != 0)
      return 1;
  }
  report("inject_review_handle (body->body)", t, runs);
  json_decref(review);
  free(t);
  return 0;
}
