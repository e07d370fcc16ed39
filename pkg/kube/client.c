/* The Kubernetes API client: requests, retries, rate limit, list, watch. */
#include "kube/kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "kube/kube_internal.h"

#define RESPONSE_MAX (64u * 1024u * 1024u)
#define ERROR_BODY_MAX (1u * 1024u * 1024u)
#define WATCH_LINE_MAX (16u * 1024u * 1024u)
#define TOKEN_FILE_MAX (64u * 1024u)
#define TOKEN_FILE_RECHECK 5.0   /* seconds between stat() of a token file */
#define EXEC_EXPIRY_SKEW 10      /* re-run an exec plugin this many seconds before expiry */
#define EXEC_TIMEOUT_MS 60000L
#define POOL_MAX 8
#define LIST_PAGE 500
#define LIST_MAX_ITEMS 2000000   /* per list, across pages */
#define RETRY_AFTER_MAX 30L
#define BACKOFF_BASE 0.2
#define BACKOFF_CAP 10.0

struct kube_client {
  kube_config *cfg;
  char *user_agent;
  long timeout_ms;
  long connect_timeout_ms;
  int max_retries;
  kube_observe_fn observe;
  void *observe_ctx;
  size_t response_max;
  size_t line_max;

  CURLSH *share;
  pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
  bool ssl_is_openssl; /* libcurl's TLS backend: the SSL_CTX callback needs OpenSSL */

  pthread_mutex_t pool_mu;
  CURL *pool[POOL_MAX];
  size_t npool;

  pthread_mutex_t rl_mu;
  kube_ratelimit rl;

  /* credential state */
  pthread_mutex_t cred_mu;
  unsigned long cred_gen;      /* bumped whenever credentials change */
  char *file_token;            /* secret */
  double file_checked;
  struct stat file_st;
  kube_exec_result exec;
  bool exec_valid;
};

/* ---- small helpers ---- */

static void sleep_seconds(double s) {
  if (s <= 0)
    return;
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

void kube_ratelimit_init(kube_ratelimit *rl, double qps, int burst, double now) {
  rl->qps = qps > 0 ? qps : 50.0;
  rl->burst = burst > 0 ? (double)burst : 100.0;
  rl->tokens = rl->burst;
  rl->last = now;
}

double kube_ratelimit_reserve(kube_ratelimit *rl, double now) {
  if (now > rl->last) {
    rl->tokens += (now - rl->last) * rl->qps;
    if (rl->tokens > rl->burst)
      rl->tokens = rl->burst;
    rl->last = now;
  }
  rl->tokens -= 1.0;
  if (rl->tokens >= 0)
    return 0;
  return -rl->tokens / rl->qps;
}

char *kube_path_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s), need;
  if (!os_size_mul(&need, n, 3) || !os_size_add(&need, need, 1))
    return NULL;
  char *out = malloc(need);
  if (out == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out[k++] = (char)ch;
    } else {
      out[k++] = '%';
      out[k++] = hex[ch >> 4];
      out[k++] = hex[ch & 15];
    }
  }
  out[k] = '\0';
  return out;
}

const char *kube_client_server(const kube_client *c) { return c->cfg->server; }

void kube_client_set_limits(kube_client *c, size_t response_max, size_t line_max) {
  c->response_max = response_max;
  c->line_max = line_max;
}

/* ---- curl share locking ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx) {
  (void)h;
  (void)access;
  kube_client *c = ctx;
  pthread_mutex_lock(&c->share_mu[(int)data % CURL_LOCK_DATA_LAST]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx) {
  (void)h;
  kube_client *c = ctx;
  pthread_mutex_unlock(&c->share_mu[(int)data % CURL_LOCK_DATA_LAST]);
}

/* Called with each new connection's SSL_CTX (OpenSSL builds of libcurl):
 * an idle connection gives its read and write buffers (about 34 KiB) back. */
static CURLcode ssl_ctx_setup(CURL *h, void *ssl_ctx, void *arg) {
  (void)h;
  (void)arg;
  SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
  return CURLE_OK;
}

static CURL *handle_get(kube_client *c) {
  CURL *h = NULL;
  pthread_mutex_lock(&c->pool_mu);
  if (c->npool > 0)
    h = c->pool[--c->npool];
  pthread_mutex_unlock(&c->pool_mu);
  if (h == NULL)
    h = curl_easy_init();
  else
    curl_easy_reset(h);  /* keeps the handle's live connections */
  return h;
}

static void handle_put(kube_client *c, CURL *h) {
  if (h == NULL)
    return;
  /* drop blobs (client key) held by the handle's options */
  curl_easy_reset(h);
  pthread_mutex_lock(&c->pool_mu);
  if (c->npool < POOL_MAX) {
    c->pool[c->npool++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&c->pool_mu);
  if (h != NULL)
    curl_easy_cleanup(h);
}

/* ---- client lifecycle ---- */

static char *default_kubeconfig(void) {
  const char *env = getenv("KUBECONFIG");
  if (env != NULL && env[0] != '\0') {
    const char *colon = strchr(env, ':');
    /* only the first file of a ':' list is read */
    return colon ? strndup(env, (size_t)(colon - env)) : os_strdup(env);
  }
  const char *home = getenv("HOME");
  if (home == NULL || home[0] == '\0')
    return NULL;
  return os_path_join(home, ".kube/config");
}

int kube_client_new(kube_client **out, const kube_options *opts, os_error *err) {
  *out = NULL;
  static const kube_options defaults;
  if (opts == NULL)
    opts = &defaults;
  /* reference-counted and thread-safe in libcurl >= 7.84; balanced in kube_client_free() */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return os_error_set(err, OS_EIO, "libcurl initialisation failed");
  int rc;
  char *path = NULL;
  kube_client *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    curl_global_cleanup();
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
  c->ssl_is_openssl = vi->ssl_version != NULL && strncmp(vi->ssl_version, "OpenSSL/", 8) == 0;
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&c->share_mu[i], NULL);
  pthread_mutex_init(&c->pool_mu, NULL);
  pthread_mutex_init(&c->rl_mu, NULL);
  pthread_mutex_init(&c->cred_mu, NULL);
  if (opts->kubeconfig != NULL && opts->kubeconfig[0] != '\0') {
    rc = kube_config_load(&c->cfg, opts->kubeconfig, opts->context, err);
  } else if (getenv("KUBERNETES_SERVICE_HOST") != NULL && getenv("KUBERNETES_SERVICE_HOST")[0]) {
    rc = kube_config_in_cluster(&c->cfg, err);
  } else {
    path = default_kubeconfig();
    if (path == NULL)
      rc = os_error_set(err, OS_EINVAL,
                        "no Kubernetes configuration: not in a cluster, and neither $KUBECONFIG "
                        "nor $HOME is set");
    else
      rc = kube_config_load(&c->cfg, path, opts->context, err);
  }
  if (rc < 0)
    goto done;
  c->user_agent = os_strdup(opts->user_agent ? opts->user_agent : "orgsecrets");
  c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
  c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
  c->max_retries = opts->max_retries == 0 ? 5 : opts->max_retries < 0 ? 0 : opts->max_retries;
  c->observe = opts->observe;
  c->observe_ctx = opts->observe_ctx;
  c->response_max = RESPONSE_MAX;
  c->line_max = WATCH_LINE_MAX;
  kube_ratelimit_init(&c->rl, opts->qps, opts->burst, os_mono_seconds());
  c->share = curl_share_init();
  if (c->user_agent == NULL || c->share == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (strncmp(c->cfg->server, "http://", 7) == 0)
    os_log_warn("kubernetes API server %s is plain HTTP: traffic is not encrypted",
                c->cfg->server);
  *out = c;
  c = NULL;
  rc = 0;
done:
  free(path);
  kube_client_free(c);
  return rc;
}

void kube_client_free(kube_client *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->npool; i++)
    curl_easy_cleanup(c->pool[i]);
  if (c->share != NULL)
    curl_share_cleanup(c->share);
  kube_config_free(c->cfg);
  free(c->user_agent);
  os_free_secret_str(c->file_token);
  kube_exec_result_clear(&c->exec);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&c->share_mu[i]);
  pthread_mutex_destroy(&c->pool_mu);
  pthread_mutex_destroy(&c->rl_mu);
  pthread_mutex_destroy(&c->cred_mu);
  free(c);
  curl_global_cleanup();
}

/* ---- credentials ---- */

typedef struct creds {
  char *auth;          /* "Authorization: Bearer ..." (secret) or NULL */
  const char *cert;    /* borrowed copies below are owned */
  char *cert_own;
  size_t cert_len;
  char *key;           /* secret */
  size_t key_len;
  unsigned long gen;
} creds;

static void creds_clear(creds *k) {
  os_free_secret_str(k->auth);
  free(k->cert_own);
  os_free_secret(k->key, k->key_len);
  memset(k, 0, sizeof(*k));
}

static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Under cred_mu: refreshes the token file when it may have changed. */
static int refresh_token_file(kube_client *c, bool force, os_error *err) {
  double now = os_mono_seconds();
  if (!force && c->file_token != NULL && now - c->file_checked < TOKEN_FILE_RECHECK)
    return 0;
  c->file_checked = now;
  struct stat st;
  const char *path = c->cfg->token_file;
  if (stat(path, &st) < 0) {
    if (c->file_token != NULL && !force)
      return 0;  /* keep the last token while the file is being replaced */
    return os_error_set(err, OS_EAUTH, "token file %s: %s", path, strerror(errno));
  }
  if (!force && c->file_token != NULL && same_file(&st, &c->file_st))
    return 0;
  char *tok = NULL;
  size_t len = 0;
  os_error fe = OS_ERROR_INIT;
  int rc = os_read_file(&tok, &len, path, TOKEN_FILE_MAX, &fe);
  if (rc < 0)
    return os_error_set(err, OS_EAUTH, "token file: %s", fe.msg);
  while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ' ||
                     tok[len - 1] == '\t'))
    tok[--len] = '\0';
  if (len == 0 || !kube_token_valid(tok)) {
    os_free_secret(tok, len);
    return os_error_set(err, OS_EAUTH, "token file %s: empty or not a single line", path);
  }
  bool changed = c->file_token == NULL || strcmp(c->file_token, tok) != 0;
  os_free_secret_str(c->file_token);
  c->file_token = tok;
  c->file_st = st;
  if (changed)
    c->cred_gen++;
  return 0;
}

static int refresh_exec(kube_client *c, bool force, os_error *err) {
  int64_t now = os_wall_clock(NULL); /* the real clock: credential expiry */
  if (!force && c->exec_valid &&
      (c->exec.expiry == 0 || now + EXEC_EXPIRY_SKEW < c->exec.expiry))
    return 0;
  kube_exec_result r;
  int rc = kube_exec_run(&r, c->cfg->exec, EXEC_TIMEOUT_MS, err);
  if (rc < 0)
    return rc;
  kube_exec_result_clear(&c->exec);
  c->exec = r;
  c->exec_valid = true;
  c->cred_gen++;
  return 0;
}

/* Copies the current credentials; force refreshes them unless they already
 * changed since seen_gen (another thread refreshed after the same 401). */
static int creds_get(creds *out, kube_client *c, bool force, unsigned long seen_gen,
                     os_error *err) {
  memset(out, 0, sizeof(*out));
  int rc = 0;
  pthread_mutex_lock(&c->cred_mu);
  if (force && c->cred_gen != seen_gen)
    force = false;
  if (c->cfg->token_file != NULL)
    rc = refresh_token_file(c, force, err);
  if (rc == 0 && c->cfg->exec != NULL)
    rc = refresh_exec(c, force, err);
  if (rc < 0)
    goto done;
  const char *token = c->cfg->token;
  if (c->file_token != NULL)
    token = c->file_token;
  if (c->exec_valid && c->exec.token != NULL)
    token = c->exec.token;
  const char *cert = c->cfg->cert_pem, *key = c->cfg->key_pem;
  size_t cert_len = c->cfg->cert_len, key_len = c->cfg->key_len;
  if (c->exec_valid && c->exec.cert_pem != NULL) {
    cert = c->exec.cert_pem;
    cert_len = c->exec.cert_len;
    key = c->exec.key_pem;
    key_len = c->exec.key_len;
  }
  if (token != NULL) {
    os_buf b;
    os_buf_init(&b, TOKEN_FILE_MAX + 64, true);
    if (os_buf_printf(&b, "Authorization: Bearer %s", token) < 0 ||
        os_buf_detach(&out->auth, NULL, &b) < 0) {
      os_buf_free(&b);
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (cert != NULL) {
    out->cert_own = malloc(cert_len + 1);
    out->key = malloc(key_len + 1);
    if (out->cert_own == NULL || out->key == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    memcpy(out->cert_own, cert, cert_len);
    out->cert_own[cert_len] = '\0';
    memcpy(out->key, key, key_len);
    out->key[key_len] = '\0';
    out->cert = out->cert_own;
    out->cert_len = cert_len;
    out->key_len = key_len;
  }
  out->gen = c->cred_gen;
done:
  pthread_mutex_unlock(&c->cred_mu);
  if (rc < 0)
    creds_clear(out);
  return rc;
}

/* ---- one HTTP attempt ---- */

typedef struct watch_state watch_state;

typedef struct attempt {
  kube_client *c;
  const char *method;
  const char *url;
  const char *content_type;
  const char *body;
  size_t body_len;
  long total_timeout_ms;       /* 0: none */
  os_buf resp;                 /* secret: may hold Secret data */
  bool too_large;
  watch_state *watch;          /* non-NULL for watches */
  const volatile int *stop;
  /* results */
  long code;
  CURLcode cc;
  curl_off_t sent;
  long retry_after;
  char errbuf[CURL_ERROR_SIZE];
} attempt;

struct watch_state {
  kube_client *c;
  CURL *h;
  kube_watch_fn fn;
  void *ctx;
  os_buf line;                 /* secret */
  long code;                   /* response code seen at the first byte */
  char *last_rv;
  int rc;                      /* error found in the stream */
  bool stopped;                /* fn asked to stop */
  unsigned long events;
  os_error *err;
};

static size_t write_body(char *ptr, size_t size, size_t n, void *ud) {
  attempt *a = ud;
  size_t len = size * n;
  if (os_buf_append(&a->resp, ptr, len) < 0) {
    a->too_large = true;
    return 0;
  }
  return len;
}

static int watch_line(watch_state *ws, const char *line, size_t len);

static size_t write_watch(char *ptr, size_t size, size_t n, void *ud) {
  attempt *a = ud;
  watch_state *ws = a->watch;
  size_t len = size * n;
  if (ws->code == 0)
    curl_easy_getinfo(ws->h, CURLINFO_RESPONSE_CODE, &ws->code);
  if (ws->code != 200)
    return write_body(ptr, size, n, ud);  /* an error Status */
  if (os_buf_append(&ws->line, ptr, len) < 0) {
    ws->rc = os_error_set(ws->err, OS_ENOMEM, "watch: event larger than %zu bytes", ws->line.max);
    return 0;
  }
  size_t start = 0;
  for (size_t i = ws->line.len - len; i < ws->line.len; i++) {
    if (ws->line.data[i] != '\n')
      continue;
    if (i > start && watch_line(ws, ws->line.data + start, i - start) != 0) {
      OPENSSL_cleanse(ws->line.data, ws->line.len);
      ws->line.len = 0;
      return 0;  /* abort the transfer */
    }
    start = i + 1;
  }
  if (start > 0) {
    size_t rest = ws->line.len - start;
    memmove(ws->line.data, ws->line.data + start, rest);
    OPENSSL_cleanse(ws->line.data + rest, ws->line.len - rest);
    ws->line.len = rest;
    ws->line.data[rest] = '\0';
  }
  return len;
}

static int xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow) {
  (void)dltotal;
  (void)dlnow;
  (void)ultotal;
  (void)ulnow;
  attempt *a = ud;
  return a->stop != NULL && *a->stop ? 1 : 0;
}

static bool idempotent(const char *method) {
  return strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 ||
         strcmp(method, "DELETE") == 0 || strcmp(method, "HEAD") == 0;
}

/* Wipes and frees a header list (it holds the bearer token). */
static void headers_free(struct curl_slist *h) {
  for (struct curl_slist *p = h; p != NULL; p = p->next)
    OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(h);
}

static int perform(attempt *a, const creds *k, os_error *err) {
  kube_client *c = a->c;
  const kube_config *cfg = c->cfg;
  CURL *h = handle_get(c);
  struct curl_slist *hdrs = NULL, *tmp;
  int rc = 0;
  if (h == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  if (a->watch != NULL) {
    a->watch->h = h;
    a->watch->code = 0;
    a->watch->rc = 0;
  }
  a->errbuf[0] = '\0';
  char ctype[160];
  snprintf(ctype, sizeof(ctype), "Content-Type: %s",
           a->content_type ? a->content_type : "application/json");
  const char *fixed[] = {"Accept: application/json", a->body ? ctype : NULL, "Expect:"};
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    if (fixed[i] == NULL)
      continue;
    if ((tmp = curl_slist_append(hdrs, fixed[i])) == NULL)
      goto oom;
    hdrs = tmp;
  }
  if (k->auth != NULL) {
    if ((tmp = curl_slist_append(hdrs, k->auth)) == NULL)
      goto oom;
    hdrs = tmp;
  }
  curl_easy_setopt(h, CURLOPT_URL, a->url);
  curl_easy_setopt(h, CURLOPT_SHARE, c->share);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->errbuf);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->total_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  if (strcmp(a->method, "GET") != 0)
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a->method);
  /* libcurl silently resends a request whose reused connection died before
   * any answer; for a write that is not idempotent that could apply it twice */
  if (!idempotent(a->method)) {
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L); /* and it is not kept idle afterwards */
  }
  /* one idle connection per pooled handle at most, holding no TLS buffers */
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
  if (c->ssl_is_openssl)
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_setup);
  if (a->body != NULL) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, a->body);
  }
  if (cfg->insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (cfg->ca_pem != NULL) {
    struct curl_blob ca = {.data = cfg->ca_pem, .len = cfg->ca_len, .flags = CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);  /* trust only the cluster CA */
  }
  if (k->cert != NULL) {
    struct curl_blob cb = {.data = (void *)(uintptr_t)k->cert, .len = k->cert_len,
                           .flags = CURL_BLOB_COPY};
    /* not copied: our buffer outlives the transfer and is wiped afterwards */
    struct curl_blob kb = {.data = k->key, .len = k->key_len, .flags = CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, a->watch ? write_watch : write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
  if (a->stop != NULL) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
  }
  if (a->watch != NULL) {
    /* a silent stream (no bookmark, no event) for this long is dead */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 150L);
  }
  a->cc = curl_easy_perform(h);
  a->code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->code);
  if (a->code == 0 && a->watch != NULL)
    a->code = a->watch->code; /* seen at the first byte of a stream that broke */
  a->sent = 0;
  curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &a->sent);
  curl_off_t ra = -1;
  a->retry_after = 0;
  if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
    a->retry_after = ra > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)ra;
  goto done;
oom:
  rc = os_error_set(err, OS_ENOMEM, "out of memory");
done:
  if (a->watch != NULL)
    a->watch->h = NULL;
  handle_put(c, h);
  headers_free(hdrs);
  return rc;
}

/* ---- errors and retries ---- */

static const char *http_phrase(long code) {
  switch (code) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Request Entity Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "HTTP error";
  }
}

static int code_for_http(long code) {
  switch (code) {
  case 400:
  case 422: return OS_EINVAL;
  case 401: return OS_EAUTH;
  case 403: return OS_EPERM;
  case 404: return OS_ENOTFOUND;
  case 409: return OS_ECONFLICT;
  case 410: return OS_EGONE;
  case 413: return OS_ENOMEM;
  case 504: return OS_ETIMEOUT;
  default: return OS_EIO;
  }
}

static bool cc_is_tls_trust(CURLcode cc) {
  return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CERTPROBLEM ||
         cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CIPHER ||
         cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* Whether an attempt may be repeated: nothing was applied, or repeating is harmless. */
static bool retryable(const attempt *a) {
  if (a->cc != CURLE_OK) {
    if (a->too_large || a->cc == CURLE_ABORTED_BY_CALLBACK || a->cc == CURLE_WRITE_ERROR ||
        cc_is_tls_trust(a->cc) || a->cc == CURLE_OUT_OF_MEMORY || a->cc == CURLE_URL_MALFORMAT ||
        a->cc == CURLE_UNSUPPORTED_PROTOCOL)
      return false;
    if (a->sent == 0 || a->cc == CURLE_COULDNT_CONNECT || a->cc == CURLE_COULDNT_RESOLVE_HOST)
      return true;  /* the request never left */
    return idempotent(a->method);
  }
  if (a->code == 429 || a->code == 503)
    return true;  /* the server refused before doing anything */
  if (a->code >= 500 && a->code != 501)
    return idempotent(a->method);
  return false;
}

/* Path without its query string, bounded, for messages. */
static void msg_path(char *dst, size_t n, const char *path) {
  size_t len = strcspn(path, "?");
  if (len >= n)
    len = n - 1;
  memcpy(dst, path, len);
  dst[len] = '\0';
}

static int attempt_error(const attempt *a, const char *path, const json_t *status, os_error *err) {
  char p[256];
  msg_path(p, sizeof(p), path);
  if (a->cc != CURLE_OK && a->code == 0) {
    int code = a->cc == CURLE_OPERATION_TIMEDOUT ? OS_ETIMEOUT : OS_EIO;
    const char *why = a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->cc);
    return os_error_set(err, code, "%s %s: %s%s", a->method, p,
                        cc_is_tls_trust(a->cc) ? "TLS verification failed: " : "", why);
  }
  if (a->too_large)
    return os_error_set(err, OS_ENOMEM, "%s %s: response larger than %zu bytes", a->method, p,
                        a->resp.max);
  if (a->cc != CURLE_OK) {
    const char *why = a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->cc);
    return os_error_set(err, a->cc == CURLE_OPERATION_TIMEDOUT ? OS_ETIMEOUT : OS_EIO,
                        "%s %s: %ld then %s", a->method, p, a->code, why);
  }
  const char *msg = json_string_value(json_object_get(status, "message"));
  if (msg != NULL)
    return os_error_set(err, code_for_http(a->code), "%s %s: %ld %s: %.300s", a->method, p,
                        a->code, http_phrase(a->code), msg);
  return os_error_set(err, code_for_http(a->code), "%s %s: %ld %s", a->method, p, a->code,
                      http_phrase(a->code));
}

static double retry_delay(const attempt *a, int n) {
  if ((a->code == 429 || a->code == 503) && a->retry_after > 0)
    return (double)a->retry_after;
  return os_backoff_delay((unsigned)n, BACKOFF_BASE, BACKOFF_CAP);
}

static void rate_wait(kube_client *c) {
  pthread_mutex_lock(&c->rl_mu);
  double d = kube_ratelimit_reserve(&c->rl, os_mono_seconds());
  pthread_mutex_unlock(&c->rl_mu);
  sleep_seconds(d);
}

static int build_url(char **out, const kube_client *c, const char *path, os_error *err) {
  if (path == NULL || path[0] != '/')
    return os_error_set(err, OS_EINVAL, "kube: path must start with '/'");
  os_buf b;
  os_buf_init(&b, 64 * 1024, false);
  if (os_buf_printf(&b, "%s%s", c->cfg->server, path) < 0 || os_buf_detach(out, NULL, &b) < 0) {
    os_buf_free(&b);
    return os_error_set(err, OS_ENOMEM, "kube: URL too long");
  }
  return 0;
}

/* The one request loop of every request and watch. Each attempt waits for
 * the rate limit, takes the current credentials and runs *a (set up by the
 * caller: method, url, body, timeout, watch) with a fresh response buffer
 * of resp_max bytes, and is observed as verb. settled() says whether the
 * attempt ends the request (success, or a stream that ended); when it does
 * not, a 401 re-reads the credentials and tries once more (they may have
 * rotated), a retryable failure backs off (os_backoff_delay, or the
 * server's Retry-After) up to max_retries, and anything else ends the
 * request. Returns 0 with the last attempt in *a (the caller frees
 * a->resp), or an error of its own (credentials, memory). A set *a->stop
 * ends the loop before the next attempt. */
static int request_loop(kube_client *c, attempt *a, const char *verb, size_t resp_max,
                        bool (*settled)(const attempt *a), const char *path, os_error *err) {
  creds k;
  memset(&k, 0, sizeof(k));
  bool auth_retried = false, force = false;
  unsigned long seen_gen = 0;
  int rc = 0;
  os_buf_init(&a->resp, resp_max, true);
  for (int n = 0;;) {
    if (a->stop != NULL && *a->stop)
      break;
    rate_wait(c);
    creds_clear(&k);
    if ((rc = creds_get(&k, c, force, seen_gen, err)) < 0)
      break;
    os_buf_free(&a->resp);
    os_buf_init(&a->resp, resp_max, true);
    a->too_large = false;
    double t0 = os_mono_seconds();
    if ((rc = perform(a, &k, err)) < 0)
      break;
    if (c->observe != NULL)
      c->observe(c->observe_ctx, verb, a->cc == CURLE_OK || a->watch ? a->code : 0,
                 os_mono_seconds() - t0);
    if (settled(a))
      break;
    if (a->code == 401 && !auth_retried) {
      auth_retried = true;
      force = true;
      seen_gen = k.gen;
      continue;
    }
    force = false;
    if (n >= c->max_retries || !retryable(a))
      break;
    double d = retry_delay(a, n);
    char p[256];
    msg_path(p, sizeof(p), path);
    os_log_debug("kube: %s %s: %ld (curl %d), retry %d in %.2fs", verb, p, a->code, (int)a->cc,
                 n + 1, d);
    sleep_seconds(d);
    n++;
  }
  creds_clear(&k);
  return rc;
}

/* An answer in 2xx settles a request. */
static bool request_settled(const attempt *a) {
  return a->cc == CURLE_OK && a->code >= 200 && a->code < 300;
}

/* A request of any verb; verb is what observe() sees. */
static int do_request(kube_client *c, const char *verb, const char *method, const char *path,
                      const char *content_type, const json_t *body, json_t **out,
                      long *http_code, os_error *err) {
  if (out != NULL)
    *out = NULL;
  if (http_code != NULL)
    *http_code = 0;
  char *url = NULL, *body_s = NULL;
  json_t *parsed = NULL;
  attempt a;
  memset(&a, 0, sizeof(a));
  int rc = build_url(&url, c, path, err);
  if (rc < 0)
    return rc;
  if (body != NULL) {
    body_s = json_dumps(body, JSON_COMPACT);
    if (body_s == NULL) {
      rc = os_error_set(err, OS_EINVAL, "%s %s: body is not serialisable JSON", method, path);
      goto done;
    }
    a.body_len = strlen(body_s);
  }
  a.c = c;
  a.method = method;
  a.url = url;
  a.content_type = content_type;
  a.body = body_s;
  a.total_timeout_ms = c->timeout_ms;
  if ((rc = request_loop(c, &a, verb, c->response_max, request_settled, path, err)) < 0)
    goto done;
  if (a.cc == CURLE_OK && a.resp.len > 0) {
    json_error_t je;
    parsed = json_loadb(a.resp.data, a.resp.len, 0, &je);
  }
  if (http_code != NULL)
    *http_code = a.cc == CURLE_OK ? a.code : 0;
  if (!request_settled(&a)) {
    rc = attempt_error(&a, path, parsed, err);
  } else if (parsed == NULL && a.resp.len > 0) {
    char p[256];
    msg_path(p, sizeof(p), path);
    rc = os_error_set(err, OS_EIO, "%s %s: %ld: response is not JSON", method, p, a.code);
  }
done:
  os_buf_free(&a.resp);
  if (out != NULL && (rc == 0 || parsed != NULL)) {
    *out = parsed;
    parsed = NULL;
  }
  json_decref(parsed);
  os_free_secret_str(body_s);
  free(url);
  return rc;
}

int kube_request(kube_client *c, const char *method, const char *path, const char *content_type,
                 const json_t *body, json_t **out, long *http_code, os_error *err) {
  return do_request(c, method, method, path, content_type, body, out, http_code, err);
}

int kube_get(kube_client *c, const char *path, json_t **out, os_error *err) {
  int rc = do_request(c, "GET", "GET", path, NULL, NULL, out, NULL, err);
  if (rc < 0 && out != NULL) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

static int write_verb(kube_client *c, const char *method, const char *path, const char *ctype,
                      const json_t *obj, json_t **out, os_error *err) {
  json_t *res = NULL;
  int rc = do_request(c, method, method, path, ctype, obj, &res, NULL, err);
  if (rc == 0 && out != NULL)
    *out = res;
  else
    json_decref(res);
  if (rc < 0 && out != NULL)
    *out = NULL;
  return rc;
}

int kube_create(kube_client *c, const char *collection_path, const json_t *obj, json_t **out,
                os_error *err) {
  return write_verb(c, "POST", collection_path, NULL, obj, out, err);
}

int kube_update(kube_client *c, const char *path, const json_t *obj, json_t **out, os_error *err) {
  return write_verb(c, "PUT", path, NULL, obj, out, err);
}

int kube_patch(kube_client *c, const char *path, const char *patch_content_type,
               const json_t *patch, json_t **out, os_error *err) {
  return write_verb(c, "PATCH", path,
                    patch_content_type ? patch_content_type : "application/merge-patch+json",
                    patch, out, err);
}

int kube_delete(kube_client *c, const char *path, const char *precondition_rv, os_error *err) {
  json_t *opts = NULL;
  if (precondition_rv != NULL) {
    opts = json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                     "preconditions", "resourceVersion", precondition_rv);
    if (opts == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  int rc = write_verb(c, "DELETE", path, NULL, opts, NULL, err);
  json_decref(opts);
  return rc;
}

/* The leading decimal number of s ("20" of "20+"); -1 when there is none. */
static int leading_number(const char *s) {
  if (s == NULL || s[0] < '0' || s[0] > '9')
    return -1;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || v > 100000 || (*end != '\0' && *end != '+'))
    return -1;
  return (int)v;
}

int kube_server_version(kube_client *c, int *major, int *minor, char **git_version, os_error *err) {
  if (git_version != NULL)
    *git_version = NULL;
  json_t *v = NULL;
  int rc = kube_get(c, "/version", &v, err);
  if (rc < 0)
    return rc;
  const char *gv = json_string_value(json_object_get(v, "gitVersion"));
  *major = leading_number(json_string_value(json_object_get(v, "major")));
  *minor = leading_number(json_string_value(json_object_get(v, "minor")));
  if (*major < 0 || *minor < 0) {
    rc = os_error_set(err, OS_EINVAL, "GET /version: no major and minor version in the answer");
  } else if (git_version != NULL && (*git_version = os_strdup(gv ? gv : "")) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  }
  json_decref(v);
  return rc;
}

/* ---- list ---- */

/* One attempt at a list: every page in turn, fn called for each item of a
 * page before the next is asked for. *expired is set when a continue token
 * was refused as too old, so the caller may start over. */
static int list_once(kube_client *c, const char *collection_path, const char *sel_esc,
                     size_t limit, kube_list_fn fn, void *ctx, char **rv_out, bool *expired,
                     os_error *err) {
  *expired = false;
  char *rv = NULL, *cont = NULL;
  int rc = 0;
  char sep = strchr(collection_path, '?') ? '&' : '?';
  /* a server handing out continue tokens forever is cut off after this */
  size_t max_pages = LIST_MAX_ITEMS / limit + (LIST_MAX_ITEMS % limit != 0);
  for (size_t page = 0;; page++) {
    os_buf b;
    os_buf_init(&b, 64 * 1024, false);
    if (os_buf_printf(&b, "%s%climit=%zu", collection_path, sep, limit) < 0 ||
        (sel_esc && os_buf_printf(&b, "&labelSelector=%s", sel_esc) < 0) ||
        (cont && os_buf_printf(&b, "&continue=%s", cont) < 0)) {
      os_buf_free(&b);
      rc = os_error_set(err, OS_ENOMEM, "list %s: URL too long", collection_path);
      goto done;
    }
    json_t *res = NULL;
    long code = 0;
    rc = do_request(c, "LIST", "GET", b.data, NULL, NULL, &res, &code, err);
    os_buf_free(&b);
    if (rc < 0) {
      json_decref(res);
      if (rc == OS_EGONE && cont != NULL)
        *expired = true;
      goto done;
    }
    json_t *meta = json_object_get(res, "metadata");
    json_t *its = json_object_get(res, "items");
    if (!json_is_object(res) || !(json_is_array(its) || json_is_null(its) || its == NULL)) {
      json_decref(res);
      rc = os_error_set(err, OS_EIO, "list %s: response is not a list", collection_path);
      goto done;
    }
    const char *r = json_string_value(json_object_get(meta, "resourceVersion"));
    if (page == 0 && r != NULL && (rv = os_strdup(r)) == NULL) {
      json_decref(res);
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    size_t i;
    json_t *it;
    json_array_foreach(its, i, it) {
      if ((rc = fn(ctx, it)) != 0) {
        json_decref(res);
        rc = os_error_set(err, rc, "list %s: %s", collection_path, os_error_name(rc));
        goto done;
      }
    }
    const char *next = json_string_value(json_object_get(meta, "continue"));
    free(cont);
    cont = next && next[0] ? kube_path_escape(next) : NULL;
    bool more = next && next[0];
    json_decref(res);
    if (more && cont == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    if (!more)
      break;
    if (page + 1 >= max_pages) {
      rc = os_error_set(err, OS_ENOMEM, "list %s: more than %zu pages", collection_path,
                        max_pages);
      goto done;
    }
  }
  if (rv_out != NULL) {
    *rv_out = rv;
    rv = NULL;
  }
done:
  free(rv);
  free(cont);
  return rc;
}

int kube_list_each(kube_client *c, const char *collection_path, const char *label_selector,
                   size_t page_limit, kube_list_fn fn, void *ctx, char **rv, os_error *err) {
  if (rv != NULL)
    *rv = NULL;
  char *sel = NULL;
  if (label_selector != NULL && label_selector[0] != '\0' &&
      (sel = kube_path_escape(label_selector)) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  size_t limit = page_limit ? page_limit : LIST_PAGE;
  bool expired = false;
  int rc = list_once(c, collection_path, sel, limit, fn, ctx, rv, &expired, err);
  if (rc < 0 && expired) {
    /* the continue token expired between pages: the caller forgets what it
     * was given, and the list starts over once */
    os_error_clear(err);
    rc = fn(ctx, NULL);
    rc = rc != 0 ? os_error_set(err, rc, "list %s: %s", collection_path, os_error_name(rc))
                 : list_once(c, collection_path, sel, limit, fn, ctx, rv, &expired, err);
  }
  free(sel);
  return rc;
}

/* kube_list()'s callback: items into a JSON array, emptied on a restart. */
static int collect_item(void *ctx, json_t *item) {
  json_t *items = ctx;
  int rc = item != NULL ? json_array_append(items, item) : json_array_clear(items);
  return rc < 0 ? OS_ENOMEM : 0;
}

int kube_list(kube_client *c, const char *collection_path, const char *label_selector,
              json_t **items, char **rv, os_error *err) {
  *items = NULL;
  if (rv != NULL)
    *rv = NULL;
  json_t *all = json_array();
  if (all == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  int rc = kube_list_each(c, collection_path, label_selector, 0, collect_item, all, rv, err);
  if (rc < 0) {
    json_decref(all);
    return rc;
  }
  *items = all;
  return 0;
}

/* ---- watch ---- */

static int set_last_rv(watch_state *ws, json_t *obj) {
  const char *r = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                    "resourceVersion"));
  if (r == NULL || r[0] == '\0')
    return 0;
  char *n = os_strdup(r);
  if (n == NULL)
    return os_error_set(ws->err, OS_ENOMEM, "out of memory");
  free(ws->last_rv);
  ws->last_rv = n;
  return 0;
}

/* Handles one event line; non-zero stops the stream. */
static int watch_line(watch_state *ws, const char *line, size_t len) {
  json_error_t je;
  json_t *ev = json_loadb(line, len, 0, &je);
  int stop = 0;
  const char *type = json_string_value(json_object_get(ev, "type"));
  json_t *obj = json_object_get(ev, "object");
  if (type == NULL || !json_is_object(obj)) {
    ws->rc = os_error_set(ws->err, OS_EIO, "watch: malformed event (%zu bytes)", len);
    stop = 1;
    goto done;
  }
  if (strcmp(type, "ERROR") == 0) {
    json_int_t code = json_integer_value(json_object_get(obj, "code"));
    const char *msg = json_string_value(json_object_get(obj, "message"));
    int oc = code == 410 ? OS_EGONE : code >= 400 ? code_for_http((long)code) : OS_EIO;
    ws->rc = os_error_set(ws->err, oc, "watch: ERROR event %lld: %.300s", (long long)code,
                          msg ? msg : "");
    stop = 1;
    goto done;
  }
  if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0 &&
      strcmp(type, "DELETED") != 0 && strcmp(type, "BOOKMARK") != 0) {
    ws->rc = os_error_set(ws->err, OS_EIO, "watch: unknown event type \"%.32s\"", type);
    stop = 1;
    goto done;
  }
  if (set_last_rv(ws, obj) < 0) {
    ws->rc = OS_ENOMEM;
    stop = 1;
    goto done;
  }
  ws->events++;
  if (ws->fn != NULL && ws->fn(ws->ctx, type, obj) != 0) {
    ws->stopped = true;
    stop = 1;
  }
done:
  json_decref(ev);
  return stop;
}

/* A watch is settled by anything but an error answer before the stream:
 * an event stream that ended or broke after events, an ERROR event or a
 * malformed line in it, a requested stop. */
static bool watch_settled(const attempt *a) {
  const watch_state *ws = a->watch;
  if (ws->rc != 0 || ws->stopped || (a->stop != NULL && *a->stop))
    return true;
  return a->code == 200;
}

int kube_watch(kube_client *c, const char *collection_path, const char *label_selector,
               const char *rv, int timeout_s, kube_watch_fn fn, void *ctx, char **last_rv,
               const volatile int *stop, os_error *err) {
  if (last_rv != NULL)
    *last_rv = NULL;
  if (timeout_s <= 0)
    timeout_s = 300;
  char *sel = NULL, *rv_esc = NULL, *url = NULL;
  watch_state ws;
  memset(&ws, 0, sizeof(ws));
  ws.c = c;
  ws.fn = fn;
  ws.ctx = ctx;
  ws.err = err;
  os_buf_init(&ws.line, c->line_max, true);
  int rc = 0;
  os_buf p;
  os_buf_init(&p, 64 * 1024, false);
  if ((label_selector && label_selector[0] && (sel = kube_path_escape(label_selector)) == NULL) ||
      (rv && rv[0] && (rv_esc = kube_path_escape(rv)) == NULL)) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  if (os_buf_printf(&p, "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%d",
                    collection_path, strchr(collection_path, '?') ? '&' : '?', timeout_s) < 0 ||
      (rv_esc && os_buf_printf(&p, "&resourceVersion=%s", rv_esc) < 0) ||
      (sel && os_buf_printf(&p, "&labelSelector=%s", sel) < 0)) {
    rc = os_error_set(err, OS_ENOMEM, "watch %s: URL too long", collection_path);
    goto done;
  }
  rc = build_url(&url, c, p.data, err);
  if (rc < 0)
    goto done;
  attempt a;
  memset(&a, 0, sizeof(a));
  a.c = c;
  a.method = "GET";
  a.url = url;
  a.total_timeout_ms = ((long)timeout_s + 60) * 1000;
  a.watch = &ws;
  a.stop = stop;
  rc = request_loop(c, &a, "WATCH", ERROR_BODY_MAX, watch_settled, p.data, err);
  if (rc == 0) {
    if (ws.rc != 0 || ws.stopped || (stop != NULL && *stop)) {
      rc = ws.rc; /* an ERROR event, a malformed line, or a requested stop */
    } else if (a.code == 200 && (a.cc == CURLE_OK || ws.events > 0)) {
      /* the server ended the stream (timeout) or the connection dropped after
       * events: either way the caller resumes from last_rv */
      if (a.cc != CURLE_OK)
        os_log_debug("kube: watch %s ended: %s", collection_path,
                     a.errbuf[0] ? a.errbuf : curl_easy_strerror(a.cc));
    } else {
      json_t *status = NULL;
      if (a.code != 200 && a.resp.len > 0) {
        json_error_t je;
        status = json_loadb(a.resp.data, a.resp.len, 0, &je);
      }
      if (a.code == 200)
        a.code = 0; /* broke before any event: an error, so the caller backs off */
      a.method = "WATCH";
      rc = attempt_error(&a, p.data, status, err);
      json_decref(status);
    }
  }
  os_buf_free(&a.resp);
done:
  if (last_rv != NULL) {
    *last_rv = ws.last_rv;
    ws.last_rv = NULL;
  }
  free(ws.last_rv);
  os_buf_free(&ws.line);
  os_buf_free(&p);
  free(url);
  free(sel);
  free(rv_esc);
  return rc;
}
