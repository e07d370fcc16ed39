#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "httpd/httpd.h"

static char dir[64];
static atomic_int calls;       /* handler invocations */
static atomic_int in_handler;  /* handlers running now */
static atomic_int max_in_handler;

/* Case-insensitive substring test (header names). */
static const char *has_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p != '\0'; p++) {
    if (strncasecmp(p, needle, n) == 0)
      return p;
  }
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* ---- handlers ---- */

static int echo_handler(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)ctx;
  atomic_fetch_add(&calls, 1);
  size_t len = 0;
  const uint8_t *body = httpd_request_body(req, &len);
  const char *name = httpd_request_query(req, "name");
  const char *hdr = httpd_request_header(req, "x-test");
  char out[512];
  int n = snprintf(out, sizeof(out), "%s %s name=%s hdr=%s len=%zu first=%c",
                   httpd_request_method(req), httpd_request_path(req), name ? name : "-",
                   hdr ? hdr : "-", len, len > 0 ? (char)body[0] : '-');
  httpd_response_set_status(resp, 201);
  assert_int_equal(httpd_response_set_header(resp, "X-Reply", "yes"), 0);
  assert_int_equal(httpd_response_set_header(resp, "X-Bad", "a\r\nInjected: 1"), OS_EINVAL);
  return httpd_response_set_body(resp, "text/plain", out, (size_t)n);
}

static int slow_handler(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)req;
  long ms = ctx != NULL ? *(const long *)ctx : 20;
  atomic_fetch_add(&calls, 1);
  int now = atomic_fetch_add(&in_handler, 1) + 1;
  int prev = atomic_load(&max_in_handler);
  while (now > prev && !atomic_compare_exchange_weak(&max_in_handler, &prev, now)) {
  }
  sleep_ms(ms);
  atomic_fetch_sub(&in_handler, 1);
  return httpd_response_set_body(resp, NULL, "slow\n", 5);
}

/* Answers with a malloc'd body of ctx bytes handed over without a copy. */
static int take_handler(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)req;
  size_t n = *(const size_t *)ctx;
  char *data = malloc(n + 1);
  if (data == NULL)
    return OS_ENOMEM;
  memset(data, 't', n);
  data[n] = '\0';
  return httpd_response_take_body(resp, "text/plain", data, n);
}

static int failing_handler(void *ctx, const httpd_request *req, httpd_response *resp) {
  (void)ctx;
  (void)req;
  (void)resp;
  return OS_EIO;
}

/* ---- client ---- */

typedef struct reply {
  long status;
  os_buf body;
  os_buf headers;
  char subject[256]; /* server certificate subject, for https */
  curl_off_t uploaded; /* request body bytes curl actually sent */
} reply;

static size_t collect(char *p, size_t size, size_t n, void *ud) {
  os_buf *b = ud;
  return os_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

typedef struct upload {
  size_t left;
} upload;

static size_t produce(char *p, size_t size, size_t n, void *ud) {
  upload *u = ud;
  size_t k = size * n < u->left ? size * n : u->left;
  memset(p, 'z', k);
  u->left -= k;
  return k;
}

static void reply_free(reply *r) {
  os_buf_free(&r->body);
  os_buf_free(&r->headers);
}

/* One request. chunked_len > 0 streams that many bytes chunked. */
static CURLcode request(CURL *h, reply *r, const char *url, const char *method,
                        const char *body, size_t body_len, size_t chunked_len,
                        const char *cainfo) {
  memset(r, 0, sizeof(*r));
  os_buf_init(&r->body, 1 << 20, false);
  os_buf_init(&r->headers, 1 << 16, false);
  bool own = h == NULL;
  if (own)
    h = curl_easy_init();
  assert_non_null(h);
  struct curl_slist *hdrs = curl_slist_append(NULL, "X-Test: hello");
  if (body_len > 2048) /* ask before sending a large body, as kube-apiserver may */
    hdrs = curl_slist_append(hdrs, "Expect: 100-continue");
  upload up = {chunked_len};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    if (chunked_len > 0) {
      hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, produce);
      curl_easy_setopt(h, CURLOPT_READDATA, &up);
    } else {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
  if (cainfo != NULL) {
    curl_easy_setopt(h, CURLOPT_CAINFO, cainfo);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
  }
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &r->uploaded);
  if (rc == CURLE_OK && cainfo != NULL) {
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL &&
        ci->num_of_certs > 0) {
      for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
        if (strncmp(s->data, "Subject:", 8) == 0)
          snprintf(r->subject, sizeof(r->subject), "%s", s->data + 8);
      }
    }
  }
  curl_slist_free_all(hdrs);
  if (own)
    curl_easy_cleanup(h);
  return rc;
}

static httpd_server *start_server(const httpd_options *o) {
  os_error err = OS_ERROR_INIT;
  httpd_server *s = NULL;
  if (httpd_server_new(&s, o, &err) != 0)
    fail_msg("httpd_server_new: %s", err.msg);
  static const long slow_ms = 20, very_slow_ms = 400;
  assert_int_equal(httpd_route(s, "GET", "/echo", echo_handler, NULL, &err), 0);
  assert_int_equal(httpd_route(s, "POST", "/echo", echo_handler, NULL, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/only-get", echo_handler, NULL, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/slow", slow_handler, (void *)(uintptr_t)&slow_ms,
                               &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/very-slow", slow_handler,
                               (void *)(uintptr_t)&very_slow_ms, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/fail", failing_handler, NULL, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/echo", echo_handler, NULL, &err), OS_ECONFLICT);
  if (httpd_server_start(s, &err) != 0)
    fail_msg("httpd_server_start: %s", err.msg);
  assert_int_equal(httpd_route(s, "GET", "/late", echo_handler, NULL, &err), OS_EINVAL);
  assert_int_not_equal(httpd_server_port(s), 0);
  return s;
}

static void url_of(char *out, size_t cap, const char *scheme, httpd_server *s,
                   const char *path) {
  snprintf(out, cap, "%s://127.0.0.1:%u%s", scheme, (unsigned)httpd_server_port(s), path);
}

/* ---- plain HTTP ---- */

static void test_routing(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0", .max_body_bytes = 1024};
  httpd_server *s = start_server(&o);
  char url[256];
  reply r;

  url_of(url, sizeof(url), "http", s, "/echo?name=a%20b&other=1");
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_string_equal(r.body.data, "GET /echo name=a b hdr=hello len=0 first=-");
  assert_non_null(has_ci(r.headers.data, "\r\nX-Reply: yes\r\n"));
  assert_non_null(has_ci(r.headers.data, "\r\nContent-Type: text/plain\r\n"));
  assert_null(has_ci(r.headers.data, "Injected"));
  reply_free(&r);

  url_of(url, sizeof(url), "http", s, "/echo");
  assert_int_equal(request(NULL, &r, url, "POST", "payload", 7, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_string_equal(r.body.data, "POST /echo name=- hdr=hello len=7 first=p");
  reply_free(&r);

  url_of(url, sizeof(url), "http", s, "/nope");
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 404);
  reply_free(&r);

  url_of(url, sizeof(url), "http", s, "/only-get");
  assert_int_equal(request(NULL, &r, url, "DELETE", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 405);
  assert_non_null(has_ci(r.headers.data, "\r\nAllow: GET\r\n"));
  reply_free(&r);

  url_of(url, sizeof(url), "http", s, "/fail");
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 500);
  assert_string_equal(r.body.data, "internal error\n");
  reply_free(&r);

  httpd_server_free(s);
}

static void test_body_limit(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0", .max_body_bytes = 1024};
  httpd_server *s = start_server(&o);
  char url[256];
  url_of(url, sizeof(url), "http", s, "/echo");
  reply r;
  char *big = malloc(4096);
  memset(big, 'x', 4096);

  /* exactly at the limit: accepted */
  int before = atomic_load(&calls);
  assert_int_equal(request(NULL, &r, url, "POST", big, 1024, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_non_null(strstr(r.body.data, "len=1024"));
  assert_int_equal(atomic_load(&calls), before + 1);
  reply_free(&r);

  /* Content-Length above the limit: 413 before the body is read (the
   * server answers the Expect: 100-continue with 413, so the client never
   * sends the body); the handler never runs */
  before = atomic_load(&calls);
  assert_int_equal(request(NULL, &r, url, "POST", big, 4096, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 413);
  assert_int_equal(r.uploaded, 0);
  assert_int_equal(atomic_load(&calls), before);
  reply_free(&r);
  /* control: with a higher limit the same client flow does send its body */
  httpd_options o2 = {.listen = "127.0.0.1:0", .max_body_bytes = 8192};
  httpd_server *s2 = start_server(&o2);
  char url2[256];
  url_of(url2, sizeof(url2), "http", s2, "/echo");
  assert_int_equal(request(NULL, &r, url2, "POST", big, 4096, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_int_equal(r.uploaded, 4096);
  assert_non_null(strstr(r.body.data, "len=4096"));
  reply_free(&r);
  httpd_server_free(s2);

  /* chunked, no Content-Length: cut off once it crosses the limit */
  before = atomic_load(&calls);
  CURLcode rc = request(NULL, &r, url, "POST", NULL, 0, 256 * 1024, NULL);
  assert_true(rc != CURLE_OK || r.status == 413);
  assert_int_equal(atomic_load(&calls), before);
  reply_free(&r);

  /* chunked within the limit reaches the handler whole */
  assert_int_equal(request(NULL, &r, url, "POST", NULL, 0, 1000, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_non_null(strstr(r.body.data, "len=1000 first=z"));
  reply_free(&r);

  free(big);
  httpd_server_free(s);
}

typedef struct client_job {
  const char *url;
  const char *cainfo;
  int n;
  int ok;
  int failed;
} client_job;

static void *client_main(void *p) {
  client_job *j = p;
  CURL *h = curl_easy_init();
  for (int i = 0; i < j->n; i++) {
    reply r;
    if (request(h, &r, j->url, "GET", NULL, 0, 0, j->cainfo) == CURLE_OK && r.status == 200)
      j->ok++;
    else
      j->failed++;
    reply_free(&r);
  }
  curl_easy_cleanup(h);
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0", .threads = 4};
  httpd_server *s = start_server(&o);
  char url[256];
  url_of(url, sizeof(url), "http", s, "/slow");
  atomic_store(&max_in_handler, 0);
  int before = atomic_load(&calls);
  enum { N = 8, PER = 20 };
  pthread_t th[N];
  client_job jobs[N];
  for (int i = 0; i < N; i++) {
    jobs[i] = (client_job){url, NULL, PER, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, client_main, &jobs[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(jobs[i].ok, PER);
  }
  assert_int_equal(atomic_load(&calls), before + N * PER);
  if (atomic_load(&max_in_handler) < 2) /* really ran in parallel */
    fail_msg("max concurrent handlers %d", atomic_load(&max_in_handler));
  httpd_server_free(s);
}

static void *one_very_slow(void *p) {
  client_job *j = p;
  client_main(j);
  return NULL;
}

static void test_graceful_stop(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0"};
  httpd_server *s = start_server(&o);
  char url[256];
  url_of(url, sizeof(url), "http", s, "/very-slow");
  atomic_store(&in_handler, 0);
  client_job j = {url, NULL, 1, 0, 0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, one_very_slow, &j), 0);
  for (int i = 0; i < 2500 && atomic_load(&in_handler) == 0; i++)
    sleep_ms(2);
  assert_int_equal(atomic_load(&in_handler), 1);
  httpd_server_stop(s);       /* waits for the in-flight request */
  pthread_join(th, NULL);
  assert_int_equal(j.ok, 1);
  assert_int_equal(httpd_server_port(s), 0);
  /* nothing listens any more */
  reply r;
  assert_int_not_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  reply_free(&r);
  httpd_server_stop(s); /* idempotent */
  httpd_server_free(s);
}

static void test_bad_options(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  httpd_server *s = NULL;
  httpd_options o = {.listen = "127.0.0.1"};
  assert_int_equal(httpd_server_new(&s, &o, &err), 0);
  assert_int_equal(httpd_server_start(s, &err), OS_EINVAL);
  httpd_server_free(s);
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = "/nonexistent.pem";
  assert_int_not_equal(httpd_server_new(&s, &o, &err), 0);
  assert_null(s);
}

static void test_listen_forms(void **state) {
  (void)state;
  char url[256];
  reply r;
  /* ":PORT" listens on all interfaces (dual-stack when IPv6 exists) */
  httpd_options o = {.listen = ":0"};
  httpd_server *s = start_server(&o);
  url_of(url, sizeof(url), "http", s, "/echo");
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  reply_free(&r);
  httpd_server_free(s);

  /* "[::1]:PORT", where the host has IPv6 */
  os_error err = OS_ERROR_INIT;
  httpd_options o6 = {.listen = "[::1]:0"};
  s = NULL;
  assert_int_equal(httpd_server_new(&s, &o6, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/echo", echo_handler, NULL, &err), 0);
  if (httpd_server_start(s, &err) == 0) {
    snprintf(url, sizeof(url), "http://[::1]:%u/echo", (unsigned)httpd_server_port(s));
    assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
    assert_int_equal(r.status, 201);
    reply_free(&r);
  } else {
    assert_int_equal(err.code, OS_EIO); /* no IPv6 here */
  }
  httpd_server_free(s);

  /* a port already in use is an error, not a silent second listener */
  httpd_options first = {.listen = "127.0.0.1:0"};
  httpd_server *a = start_server(&first);
  char taken[64];
  snprintf(taken, sizeof(taken), "127.0.0.1:%u", (unsigned)httpd_server_port(a));
  httpd_options second = {.listen = taken};
  s = NULL;
  assert_int_equal(httpd_server_new(&s, &second, &err), 0);
  assert_int_equal(httpd_server_start(s, &err), OS_EIO);
  httpd_server_free(s);
  httpd_server_free(a);
}

/* A raw client that announces a body and sends only part of it, holding
 * its share of max_pending_bytes. Returns the socket. */
static int hold_upload(httpd_server *s, size_t announced, size_t sent) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(httpd_server_port(s))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  char head[128];
  int n = snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                   announced);
  assert_int_equal(send(fd, head, (size_t)n, 0), n);
  char *part = calloc(1, sent);
  assert_non_null(part);
  assert_int_equal(send(fd, part, sent, 0), (ssize_t)sent);
  free(part);
  return fd;
}

static void test_pending_limit(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0", .max_body_bytes = 8192, .max_pending_bytes = 4096};
  httpd_server *s = start_server(&o);
  char url[256];
  url_of(url, sizeof(url), "http", s, "/echo");
  reply r;
  char body[3000];
  memset(body, 'b', sizeof(body));
  /* one client holds 3,000 of the 4,096 bytes; 2,000 more do not fit:
   * read, dropped, 429 with Retry-After (retried until the server has read
   * the holder's headers) */
  int held = hold_upload(s, 3000, 100);
  for (int k = 0; k < 100; k++) {
    assert_int_equal(request(NULL, &r, url, "POST", body, 2000, 0, NULL), CURLE_OK);
    if (r.status == 429)
      break;
    reply_free(&r);
    sleep_ms(50);
  }
  int before = atomic_load(&calls);
  assert_int_equal(r.status, 429);
  assert_non_null(has_ci(r.headers.data, "\r\nRetry-After: 1\r\n"));
  assert_int_equal(r.uploaded, 2000);
  reply_free(&r);
  /* a client that asks first (Expect: 100-continue) sends nothing */
  assert_int_equal(request(NULL, &r, url, "POST", body, 3000, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 429);
  assert_int_equal(r.uploaded, 0);
  reply_free(&r);
  /* a chunked body is counted as it comes */
  CURLcode rc = request(NULL, &r, url, "POST", NULL, 0, 2000, NULL);
  assert_true(rc != CURLE_OK || r.status == 429);
  reply_free(&r);
  /* what fits still passes; GETs carry no body and are never held up */
  assert_int_equal(request(NULL, &r, url, "POST", body, 900, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  reply_free(&r);
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  reply_free(&r);
  assert_int_equal(atomic_load(&calls), before + 2);
  assert_true(httpd_server_busy_count(s) >= 2);
  /* the holder goes away: its share comes back */
  close(held);
  sleep_ms(200);
  assert_int_equal(request(NULL, &r, url, "POST", body, 2000, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_non_null(strstr(r.body.data, "len=2000"));
  reply_free(&r);
  httpd_server_free(s);
}

typedef struct limited_job {
  const char *url;
  long status;
  bool retry_after;
} limited_job;

static void *limited_main(void *p) {
  limited_job *j = p;
  reply r;
  if (request(NULL, &r, j->url, "GET", NULL, 0, 0, NULL) == CURLE_OK) {
    j->status = r.status;
    j->retry_after = has_ci(r.headers.data, "\r\nRetry-After: 1\r\n") != NULL;
  }
  reply_free(&r);
  return NULL;
}

/* Two requests at once on a route limited to one running handler (300 ms
 * each): with a short wait the second gets 429, with a long one it runs
 * after the first. */
static void test_route_limit(void **state) {
  (void)state;
  static const long ms = 300;
  for (int pass = 0; pass < 2; pass++) {
    os_error err = OS_ERROR_INIT;
    httpd_options o = {.listen = "127.0.0.1:0", .threads = 4};
    httpd_server *s = NULL;
    assert_int_equal(httpd_server_new(&s, &o, &err), 0);
    assert_int_equal(httpd_route(s, "GET", "/slow", slow_handler, (void *)(uintptr_t)&ms, &err), 0);
    assert_int_equal(httpd_route_limit(s, "GET", "/nope", 1, 50, &err), OS_ENOTFOUND);
    assert_int_equal(httpd_route_limit(s, "GET", "/slow", 0, 50, &err), OS_EINVAL);
    assert_int_equal(httpd_route_limit(s, "GET", "/slow", 1, pass == 0 ? 50 : 3000, &err), 0);
    assert_int_equal(httpd_server_start(s, &err), 0);
    assert_int_equal(httpd_route_limit(s, "GET", "/slow", 2, 50, &err), OS_EINVAL);
    char url[256];
    url_of(url, sizeof(url), "http", s, "/slow");
    atomic_store(&max_in_handler, 0);
    atomic_store(&in_handler, 0);
    limited_job jobs[2] = {{url, 0, false}, {url, 0, false}};
    pthread_t th[2];
    /* the second starts once the first is in its handler (a worker thread
     * busy with it cannot take the second connection) */
    for (int i = 0; i < 2; i++) {
      assert_int_equal(pthread_create(&th[i], NULL, limited_main, &jobs[i]), 0);
      for (int k = 0; i == 0 && k < 2500 && atomic_load(&in_handler) == 0; k++)
        sleep_ms(2);
    }
    for (int i = 0; i < 2; i++)
      pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&max_in_handler), 1);
    long lo = jobs[0].status < jobs[1].status ? jobs[0].status : jobs[1].status;
    long hi = jobs[0].status < jobs[1].status ? jobs[1].status : jobs[0].status;
    assert_int_equal(lo, 200);
    if (pass == 0) {
      assert_int_equal(hi, 429);
      assert_true(jobs[0].retry_after || jobs[1].retry_after);
      assert_int_equal(httpd_server_busy_count(s), 1);
    } else {
      assert_int_equal(hi, 200);
      assert_int_equal(httpd_server_busy_count(s), 0);
    }
    httpd_server_free(s);
  }
}

/* Connections beyond max_connections are not served while the first ones
 * stay open. */
static void test_connection_limit(void **state) {
  (void)state;
  httpd_options o = {.listen = "127.0.0.1:0", .threads = 1, .max_connections = 3};
  httpd_server *s = start_server(&o);
  enum { N = 6 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(httpd_server_port(s))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
    static const char get[] = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fds[i], get, sizeof(get) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(get) - 1);
  }
  int answered = 0;
  bool done[N] = {false};
  /* until three are answered (or 5 s), then 300 ms more: no fourth */
  for (int round = 0, extra = -1; round < 500 && extra != 0; round++) {
    for (int i = 0; i < N; i++) {
      struct pollfd p = {.fd = fds[i], .events = POLLIN};
      char buf[64];
      if (!done[i] && poll(&p, 1, 0) == 1 && recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0 &&
          strncmp(buf, "HTTP/1.1 201", 12) == 0) {
        done[i] = true;
        answered++;
      }
    }
    if (answered >= 3 && extra < 0)
      extra = 30;
    if (extra > 0)
      extra--;
    sleep_ms(10);
  }
  assert_int_equal(answered, 3);
  for (int i = 0; i < N; i++)
    close(fds[i]);
  httpd_server_free(s);
}

/* A handler's buffer handed over without a copy arrives whole. */
static void test_take_body(void **state) {
  (void)state;
  static const size_t big = 300 * 1000;
  os_error err = OS_ERROR_INIT;
  httpd_options o = {.listen = "127.0.0.1:0"};
  httpd_server *s = NULL;
  assert_int_equal(httpd_server_new(&s, &o, &err), 0);
  assert_int_equal(httpd_route(s, "GET", "/take", take_handler, (void *)(uintptr_t)&big, &err), 0);
  assert_int_equal(httpd_server_start(s, &err), 0);
  char url[256];
  url_of(url, sizeof(url), "http", s, "/take");
  reply r;
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, NULL), CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body.len, big);
  assert_int_equal(r.body.data[0], 't');
  assert_int_equal(r.body.data[big - 1], 't');
  assert_non_null(has_ci(r.headers.data, "\r\nContent-Type: text/plain\r\n"));
  reply_free(&r);
  httpd_server_free(s);
}

/* ---- HTTPS and rotation ---- */

static void make_pair(const char *name, const char *cn) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
           "-keyout %s.key -out %s.crt -days 2 -subj /CN=%s "
           "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
           dir, name, name, cn);
  assert_int_equal(system(cmd), 0);
}

static void path_of(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

/* Copies dir/from to dir/to atomically (temp + rename), as kubelet does. */
static void install(const char *from, const char *to) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "cd '%s' && cp %s %s.tmp && mv -f %s.tmp %s", dir, from, to, to,
           to);
  assert_int_equal(system(cmd), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test_httpd.XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  make_pair("a", "orgsecrets-test-a");
  make_pair("b", "orgsecrets-test-b");
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "cd '%s' && cat a.crt b.crt > both.crt", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_https(void **state) {
  (void)state;
  char cert[128], key[128], ca_a[128], ca_b[128], url[256];
  install("a.crt", "tls.crt");
  install("a.key", "tls.key");
  path_of(cert, sizeof(cert), "tls.crt");
  path_of(key, sizeof(key), "tls.key");
  path_of(ca_a, sizeof(ca_a), "a.crt");
  path_of(ca_b, sizeof(ca_b), "b.crt");
  httpd_options o = {.listen = "127.0.0.1:0", .tls_cert_file = cert, .tls_key_file = key};
  httpd_server *s = start_server(&o);
  url_of(url, sizeof(url), "https", s, "/echo?name=tls");
  reply r;
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, ca_a), CURLE_OK);
  assert_int_equal(r.status, 201);
  assert_non_null(strstr(r.body.data, "name=tls"));
  assert_non_null(strstr(r.subject, "orgsecrets-test-a"));
  reply_free(&r);
  /* a client trusting only b refuses the server */
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, ca_b),
                   CURLE_PEER_FAILED_VERIFICATION);
  reply_free(&r);
  /* plain HTTP to the TLS port does not get a response */
  url_of(url, sizeof(url), "http", s, "/echo");
  CURLcode rc = request(NULL, &r, url, "GET", NULL, 0, 0, NULL);
  assert_true(rc != CURLE_OK || r.status != 201);
  reply_free(&r);
  httpd_server_free(s);

  /* a key that does not match the certificate is refused up front */
  os_error err = OS_ERROR_INIT;
  httpd_options bad = o;
  char key_b[128];
  path_of(key_b, sizeof(key_b), "b.key");
  bad.tls_key_file = key_b;
  s = NULL;
  assert_int_equal(httpd_server_new(&s, &bad, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "does not match"));
  assert_null(s);
}

typedef struct loop_job {
  const char *url;
  const char *cainfo;
  bool reuse;
  atomic_bool *stop;
  atomic_int ok;
  atomic_int failed;
  atomic_bool saw_a;
  atomic_bool saw_b;
  atomic_bool b_then_a; /* went back to the old certificate on a new connection */
  char last_error[CURL_ERROR_SIZE];
} loop_job;

static void *loop_main(void *p) {
  loop_job *j = p;
  CURL *h = curl_easy_init();
  while (!atomic_load(j->stop)) {
    if (!j->reuse) {
      curl_easy_reset(h);
      curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
      curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    }
    reply r;
    CURLcode rc = request(h, &r, j->url, "GET", NULL, 0, 0, j->cainfo);
    if (rc == CURLE_OK && r.status == 200) {
      atomic_fetch_add(&j->ok, 1);
      if (!j->reuse) {
        bool a = strstr(r.subject, "orgsecrets-test-a") != NULL;
        bool b = strstr(r.subject, "orgsecrets-test-b") != NULL;
        if (a && atomic_load(&j->saw_b))
          atomic_store(&j->b_then_a, true);
        if (a)
          atomic_store(&j->saw_a, true);
        if (b)
          atomic_store(&j->saw_b, true);
      }
    } else {
      atomic_fetch_add(&j->failed, 1);
      snprintf(j->last_error, sizeof(j->last_error), "%s (status %ld)", curl_easy_strerror(rc),
               r.status);
    }
    reply_free(&r);
  }
  curl_easy_cleanup(h);
  return NULL;
}

static void test_tls_rotation(void **state) {
  (void)state;
  char cert[128], key[128], ca_both[128], ca_a[128], ca_b[128], url[256];
  install("a.crt", "tls.crt");
  install("a.key", "tls.key");
  path_of(cert, sizeof(cert), "tls.crt");
  path_of(key, sizeof(key), "tls.key");
  path_of(ca_both, sizeof(ca_both), "both.crt");
  path_of(ca_a, sizeof(ca_a), "a.crt");
  path_of(ca_b, sizeof(ca_b), "b.crt");
  httpd_options o = {.listen = "127.0.0.1:0",
                     .tls_cert_file = cert,
                     .tls_key_file = key,
                     .tls_reload_interval_ms = 20};
  httpd_server *s = start_server(&o);
  assert_int_equal(httpd_server_tls_generation(s), 0);
  url_of(url, sizeof(url), "https", s, "/slow");

  atomic_bool stop;
  atomic_init(&stop, false);
  loop_job fresh = {.url = url, .cainfo = ca_both, .reuse = false, .stop = &stop};
  loop_job kept = {.url = url, .cainfo = ca_both, .reuse = true, .stop = &stop};
  pthread_t t1, t2;
  assert_int_equal(pthread_create(&t1, NULL, loop_main, &fresh), 0);
  assert_int_equal(pthread_create(&t2, NULL, loop_main, &kept), 0);
  /* both loops are running against certificate a */
  for (int i = 0; i < 1000 && (atomic_load(&fresh.ok) < 5 || atomic_load(&kept.ok) < 5); i++)
    sleep_ms(10);
  assert_true(atomic_load(&fresh.saw_a));

  /* cert first, key a little later: the watcher sees a mismatched pair
   * for a moment and must keep serving the old one */
  install("b.crt", "tls.crt");
  sleep_ms(100);
  install("b.key", "tls.key");
  for (int i = 0; i < 1000 && httpd_server_tls_generation(s) == 0; i++)
    sleep_ms(10);
  assert_int_equal(httpd_server_tls_generation(s), 1);
  /* keep both loops going until they have each done more requests after
   * the swap, and the fresh-connection loop has met certificate b */
  int fresh_at = atomic_load(&fresh.ok), kept_at = atomic_load(&kept.ok);
  for (int i = 0; i < 1000 && (!atomic_load(&fresh.saw_b) || atomic_load(&fresh.ok) < fresh_at + 5 ||
                               atomic_load(&kept.ok) < kept_at + 5);
       i++)
    sleep_ms(10);
  atomic_store(&stop, true);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);

  if (atomic_load(&fresh.failed) != 0 || atomic_load(&kept.failed) != 0)
    fail_msg("requests failed across rotation: fresh %d failed/%d ok, kept %d failed/%d ok: %s %s",
             atomic_load(&fresh.failed), atomic_load(&fresh.ok), atomic_load(&kept.failed),
             atomic_load(&kept.ok), fresh.last_error, kept.last_error);
  assert_true(atomic_load(&fresh.ok) >= fresh_at + 5);
  assert_true(atomic_load(&kept.ok) >= kept_at + 5);
  assert_true(atomic_load(&fresh.saw_b));
  assert_false(atomic_load(&fresh.b_then_a));

  /* new connections now get b only */
  reply r;
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, ca_b), CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.subject, "orgsecrets-test-b"));
  reply_free(&r);
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, ca_a),
                   CURLE_PEER_FAILED_VERIFICATION);
  reply_free(&r);

  /* an explicit reload of a broken file reports it and keeps serving b */
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "printf 'not a certificate' > '%s/junk' && cd '%s' && mv junk tls.crt",
           dir, dir);
  assert_int_equal(system(cmd), 0);
  os_error err = OS_ERROR_INIT;
  assert_int_not_equal(httpd_server_reload_tls(s, &err), 0);
  assert_non_null(strstr(err.msg, "tls.crt"));
  assert_int_equal(httpd_server_tls_generation(s), 1);
  assert_int_equal(request(NULL, &r, url, "GET", NULL, 0, 0, ca_b), CURLE_OK);
  assert_int_equal(r.status, 200);
  reply_free(&r);
  httpd_server_free(s);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routing),      cmocka_unit_test(test_body_limit),
      cmocka_unit_test(test_concurrent),   cmocka_unit_test(test_graceful_stop),
      cmocka_unit_test(test_bad_options),  cmocka_unit_test(test_listen_forms),
      cmocka_unit_test(test_pending_limit), cmocka_unit_test(test_route_limit),
      cmocka_unit_test(test_connection_limit), cmocka_unit_test(test_take_body),
      cmocka_unit_test(test_https),
      cmocka_unit_test(test_tls_rotation),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  curl_global_cleanup();
  return rc;
}
