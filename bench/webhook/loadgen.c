#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
/* A small open-loop HTTPS load generator for the webhook benchmark: T
 * threads, each with one keep-alive connection, send requests on a fixed
 * schedule (rate/T per second each) and record latencies. Requests that fall
 * behind the schedule are sent at once and measured from their scheduled
 * time, so queueing shows in the tail (no coordinated omission). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct worker {
  const char *url, *cafile;
  const char *body;
  size_t body_len;
  double interval, duration;
  double *lat;
  size_t n, cap, errors;
  pthread_t th;
} worker;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

static void *run(void *arg) {
  worker *w = arg;
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, w->url);
  curl_easy_setopt(c, CURLOPT_CAINFO, w->cafile);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, w->body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)w->body_len);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  double start = now(), next = start;
  while (next - start < w->duration) {
    double t = now();
    if (t < next)
      usleep((useconds_t)((next - t) * 1e6));
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    double done = now();
    if (rc != CURLE_OK || code != 200) {
      w->errors++;
    } else if (w->n < w->cap) {
      w->lat[w->n++] = done - next;
    }
    next += w->interval;
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: loadgen URL CAFILE BODYFILE RATE SECONDS THREADS\n");
    return 2;
  }
  FILE *f = fopen(argv[3], "rb");
  if (f == NULL) {
    perror(argv[3]);
    return 1;
  }
  static char body[1 << 20];
  size_t len = fread(body, 1, sizeof(body) - 1, f);
  fclose(f);
  double rate = strtod(argv[4], NULL), secs = strtod(argv[5], NULL);
  int threads = (int)strtol(argv[6], NULL, 10);
  if (rate <= 0 || secs <= 0 || threads <= 0 || threads > 256) {
    fprintf(stderr, "loadgen: bad RATE, SECONDS or THREADS\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  worker *w = calloc((size_t)threads, sizeof(*w));
  size_t cap = (size_t)(rate * secs / threads) + 16;
  for (int i = 0; i < threads; i++) {
    w[i] = (worker){argv[1], argv[2], body, len, threads / rate, secs, calloc(cap, sizeof(double)),
                    0, cap, 0, 0};
    pthread_create(&w[i].th, NULL, run, &w[i]);
  }
  size_t total = 0, errors = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(w[i].th, NULL);
    total += w[i].n;
    errors += w[i].errors;
  }
  double *all = calloc(total + 1, sizeof(double));
  size_t k = 0;
  for (int i = 0; i < threads; i++) {
    memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
    k += w[i].n;
    free(w[i].lat);
  }
  qsort(all, total, sizeof(double), cmp);
  if (total == 0) {
    printf("no successful requests, %zu errors\n", errors);
    return 1;
  }
  printf("requests %zu  errors %zu  rate %.0f/s  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
         total, errors, (double)total / secs, all[total / 2] * 1e3, all[total * 9 / 10] * 1e3,
         all[total * 99 / 100] * 1e3, all[total - 1] * 1e3);
  free(all);
  free(w);
  curl_global_cleanup();
  return errors ? 1 : 0;
}
