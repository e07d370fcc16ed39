#include "httpd/httpd.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"

#define DEFAULT_MAX_BODY (1024u * 1024u)
#define DEFAULT_THREADS 4u
#define DEFAULT_TIMEOUT_S 30u
#define DEFAULT_RELOAD_MS 5000u
#define DEFAULT_SHUTDOWN_MS 5000u
#define DEFAULT_CONNECTIONS 1024u
#define BUSY_RETRY_AFTER "1" /* seconds: client-go retries a 429 that carries it */
#define MAX_ROUTES 64
#define MAX_RESP_HEADERS 32
#define MAX_RESP_BODY (64u * 1024u * 1024u)
#define MAX_PEM (1024u * 1024u)
#define MAX_CHAIN 8
#define TLS_SLOTS 16
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef struct route {
  char *method;
  char *path;
  httpd_handler handler;
  void *ctx;
  unsigned max_running; /* 0: no limit */
  unsigned wait_ms;
  unsigned running;     /* under the server's limit_mu */
} route;

/* One loaded certificate chain and key. Retired sets stay allocated until
 * the server is freed, so a handshake holding a pointer is never dangling. */
typedef struct certset {
  gnutls_pcert_st pcerts[MAX_CHAIN];
  unsigned n_pcerts;
  gnutls_privkey_t key;
  struct certset *older;
} certset;

typedef struct file_id {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  bool exists;
} file_id;

struct httpd_server {
  char *listen;
  char *cert_file;
  char *key_file;
  size_t max_body;
  size_t max_pending;
  unsigned max_connections;
  unsigned threads;
  unsigned timeout_s;
  unsigned reload_ms;
  unsigned shutdown_ms;

  route routes[MAX_ROUTES];
  size_t n_routes;

  struct MHD_Daemon *daemon;
  int listen_fd;
  ino_t listen_ino; /* identifies our socket behind listen_fd */
  uint16_t port;
  bool started;
  atomic_int inflight;
  atomic_size_t pending;  /* body bytes held, against max_pending */
  atomic_ulong busy;      /* requests answered 429 */
  pthread_mutex_t limit_mu; /* route limits */
  pthread_cond_t limit_cv;

  /* TLS */
  pthread_mutex_t tls_mu;
  certset *tls_current;
  file_id cert_id, key_id;       /* of the pair in use */
  file_id failed_cert, failed_key; /* of the last pair that failed to load */
  atomic_uint tls_generation;
  int tls_slot;
  pthread_t watcher;
  bool watcher_running;
  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cv;
  bool stopping;
};

struct httpd_request {
  struct MHD_Connection *conn;
  const char *method;
  const char *path;
  const uint8_t *body;
  size_t body_len;
};

typedef struct resp_header {
  char *name;
  char *value;
} resp_header;

struct httpd_response {
  unsigned status;
  char *content_type;
  resp_header headers[MAX_RESP_HEADERS];
  size_t n_headers;
  os_buf body;
  bool failed; /* a setter ran out of memory */
};

/* Per-request state between MHD's access callback invocations. */
typedef struct req_state {
  route *route;
  os_buf body;
  size_t seen;    /* body bytes received */
  size_t held;    /* bytes counted in the server's pending */
  bool too_large;
  bool busy;      /* no room under max_pending: the body is dropped, then 429 */
} req_state;

/* ---- TLS pair loading ---- */

static void certset_free(certset *c) {
  while (c != NULL) {
    certset *older = c->older;
    for (unsigned i = 0; i < c->n_pcerts; i++)
      gnutls_pcert_deinit(&c->pcerts[i]);
    gnutls_privkey_deinit(c->key);
    free(c);
    c = older;
  }
}

static file_id stat_id(const char *path) {
  file_id id;
  memset(&id, 0, sizeof(id));
  struct stat st;
  if (stat(path, &st) == 0) {
    id.exists = true;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = st.st_size;
    id.mtime = st.st_mtim;
  }
  return id;
}

static bool same_id(const file_id *a, const file_id *b) {
  return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
         a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* True when the key's public half is the leaf certificate's public key. */
static bool key_matches(gnutls_privkey_t key, gnutls_pubkey_t cert_pub) {
  bool ok = false;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
  if (gnutls_pubkey_init(&pub) < 0)
    return false;
  if (gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0 ||
      gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) < 0 ||
      gnutls_pubkey_export2(cert_pub, GNUTLS_X509_FMT_DER, &b) < 0)
    goto done;
  /* checksrc: public: two public keys */
  ok = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
done:
  gnutls_free(a.data);
  gnutls_free(b.data);
  gnutls_pubkey_deinit(pub);
  return ok;
}

static int load_pair(certset **out, const char *cert_file, const char *key_file,
                     os_error *err) {
  int rc = 0, g;
  char *cert_pem = NULL, *key_pem = NULL;
  size_t cert_len = 0, key_len = 0;
  certset *c = NULL;
  *out = NULL;

  rc = os_read_file(&cert_pem, &cert_len, cert_file, MAX_PEM, err);
  if (rc < 0)
    goto done;
  rc = os_read_file(&key_pem, &key_len, key_file, MAX_PEM, err);
  if (rc < 0)
    goto done;
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "tls: out of memory");
    goto done;
  }
  gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)cert_len};
  unsigned n = MAX_CHAIN;
  g = gnutls_pcert_list_import_x509_raw(c->pcerts, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
  if (g < 0 || n == 0) {
    rc = os_error_set(err, OS_EINVAL, "tls certificate %s: %s", cert_file,
                      g < 0 ? gnutls_strerror(g) : "no certificate");
    goto done;
  }
  c->n_pcerts = n;
  if ((g = gnutls_privkey_init(&c->key)) < 0) {
    rc = os_error_set(err, OS_ENOMEM, "tls: %s", gnutls_strerror(g));
    goto done;
  }
  gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)key_len};
  g = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (g < 0) {
    /* gnutls' message names the format problem, never key material */
    rc = os_error_set(err, OS_EINVAL, "tls key %s: %s", key_file, gnutls_strerror(g));
    goto done;
  }
  if (!key_matches(c->key, c->pcerts[0].pubkey)) {
    rc = os_error_set(err, OS_EINVAL, "tls key %s does not match certificate %s", key_file,
                      cert_file);
    goto done;
  }
  *out = c;
  c = NULL;
done:
  certset_free(c);
  free(cert_pem);
  os_free_secret(key_pem, key_len);
  return rc;
}

/* Loads the pair if its files changed since the one in use (always when
 * force). The watcher skips a changed pair that already failed (retry_bad
 * false) until the files change again, to avoid a log line per tick. */
static int reload_if_changed(httpd_server *s, bool force, bool retry_bad, os_error *err) {
  file_id cid = stat_id(s->cert_file);
  file_id kid = stat_id(s->key_file);
  pthread_mutex_lock(&s->tls_mu);
  bool unchanged = same_id(&cid, &s->cert_id) && same_id(&kid, &s->key_id);
  bool known_bad = same_id(&cid, &s->failed_cert) && same_id(&kid, &s->failed_key);
  pthread_mutex_unlock(&s->tls_mu);
  if (!force && (unchanged || (known_bad && !retry_bad)))
    return 0;

  certset *fresh = NULL;
  bool rotated = false;
  int rc = load_pair(&fresh, s->cert_file, s->key_file, err);
  pthread_mutex_lock(&s->tls_mu);
  if (rc < 0) {
    s->failed_cert = cid;
    s->failed_key = kid;
  } else if (fresh != NULL) {
    fresh->older = s->tls_current;
    rotated = fresh->older != NULL;
    s->tls_current = fresh;
    s->cert_id = cid;
    s->key_id = kid;
    memset(&s->failed_cert, 0, sizeof(s->failed_cert));
    memset(&s->failed_key, 0, sizeof(s->failed_key));
  }
  pthread_mutex_unlock(&s->tls_mu);
  if (rotated) {
    atomic_fetch_add(&s->tls_generation, 1);
    os_log_info("httpd %s: reloaded tls certificate %s", s->listen, s->cert_file);
  }
  return rc;
}

/* ---- GnuTLS certificate callback: one trampoline per server slot, since
 * the callback carries no user pointer. ---- */

static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static httpd_server *slots[TLS_SLOTS];

static int cert_for_slot(int slot, gnutls_pcert_st **pcert, unsigned int *n,
                         gnutls_privkey_t *key) {
  pthread_mutex_lock(&slots_mu);
  httpd_server *s = slots[slot];
  pthread_mutex_unlock(&slots_mu);
  if (s == NULL)
    return -1;
  pthread_mutex_lock(&s->tls_mu);
  certset *c = s->tls_current;
  if (c != NULL) {
    *pcert = c->pcerts;
    *n = c->n_pcerts;
    *key = c->key;
  }
  pthread_mutex_unlock(&s->tls_mu);
  return c != NULL ? 0 : -1;
}

#define CERT_TRAMPOLINE(i)                                                                     \
  static int cert_cb_##i(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,          \
                         int nreqs, const gnutls_pk_algorithm_t *pk_algos, int n_algos,      \
                         gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key) {  \
    (void)session;                                                                             \
    (void)req_ca_dn;                                                                           \
    (void)nreqs;                                                                               \
    (void)pk_algos;                                                                            \
    (void)n_algos;                                                                             \
    return cert_for_slot(i, pcert, n, key);                                                    \
  }
CERT_TRAMPOLINE(0)
CERT_TRAMPOLINE(1)
CERT_TRAMPOLINE(2)
CERT_TRAMPOLINE(3)
CERT_TRAMPOLINE(4)
CERT_TRAMPOLINE(5)
CERT_TRAMPOLINE(6)
CERT_TRAMPOLINE(7)
CERT_TRAMPOLINE(8)
CERT_TRAMPOLINE(9)
CERT_TRAMPOLINE(10)
CERT_TRAMPOLINE(11)
CERT_TRAMPOLINE(12)
CERT_TRAMPOLINE(13)
CERT_TRAMPOLINE(14)
CERT_TRAMPOLINE(15)

static gnutls_certificate_retrieve_function2 *const cert_callbacks[TLS_SLOTS] = {
    cert_cb_0, cert_cb_1, cert_cb_2,  cert_cb_3,  cert_cb_4,  cert_cb_5,  cert_cb_6,  cert_cb_7,
    cert_cb_8, cert_cb_9, cert_cb_10, cert_cb_11, cert_cb_12, cert_cb_13, cert_cb_14, cert_cb_15};

static int slot_acquire(httpd_server *s) {
  int slot = -1;
  pthread_mutex_lock(&slots_mu);
  for (int i = 0; i < TLS_SLOTS && slot < 0; i++) {
    if (slots[i] == NULL) {
      slots[i] = s;
      slot = i;
    }
  }
  pthread_mutex_unlock(&slots_mu);
  return slot;
}

static void slot_release(int slot) {
  if (slot < 0)
    return;
  pthread_mutex_lock(&slots_mu);
  slots[slot] = NULL;
  pthread_mutex_unlock(&slots_mu);
}

/* ---- watcher thread ---- */

static void *watcher_main(void *p) {
  httpd_server *s = p;
  pthread_mutex_lock(&s->stop_mu);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = (long long)until.tv_nsec + (long long)s->reload_ms * 1000000LL;
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    (void)pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &until);
    if (s->stopping)
      break;
    pthread_mutex_unlock(&s->stop_mu);
    os_error err = OS_ERROR_INIT;
    if (reload_if_changed(s, false, false, &err) < 0)
      os_log_warn("httpd %s: keeping the current tls certificate: %s", s->listen, err.msg);
    pthread_mutex_lock(&s->stop_mu);
  }
  pthread_mutex_unlock(&s->stop_mu);
  return NULL;
}

/* ---- server lifecycle ---- */

int httpd_server_new(httpd_server **out, const httpd_options *o, os_error *err) {
  int rc = 0;
  *out = NULL;
  if (o == NULL || o->listen == NULL || o->listen[0] == '\0')
    return os_error_set(err, OS_EINVAL, "httpd: a listen address is required");
  if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL))
    return os_error_set(err, OS_EINVAL, "httpd %s: tls needs both a certificate and a key",
                        o->listen);
  httpd_server *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return os_error_set(err, OS_ENOMEM, "httpd: out of memory");
  pthread_mutex_init(&s->tls_mu, NULL);
  pthread_mutex_init(&s->stop_mu, NULL);
  pthread_cond_init(&s->stop_cv, NULL);
  s->listen_fd = -1;
  s->tls_slot = -1;
  atomic_init(&s->inflight, 0);
  atomic_init(&s->pending, 0);
  atomic_init(&s->busy, 0);
  pthread_mutex_init(&s->limit_mu, NULL);
  pthread_cond_init(&s->limit_cv, NULL);
  atomic_init(&s->tls_generation, 0);
  s->max_body = o->max_body_bytes ? o->max_body_bytes : DEFAULT_MAX_BODY;
  s->max_pending = o->max_pending_bytes;
  s->max_connections = o->max_connections ? o->max_connections : DEFAULT_CONNECTIONS;
  s->threads = o->threads ? o->threads : DEFAULT_THREADS;
  s->timeout_s = o->connection_timeout_s ? o->connection_timeout_s : DEFAULT_TIMEOUT_S;
  s->reload_ms = o->tls_reload_interval_ms ? o->tls_reload_interval_ms : DEFAULT_RELOAD_MS;
  s->shutdown_ms = o->shutdown_timeout_ms ? o->shutdown_timeout_ms : DEFAULT_SHUTDOWN_MS;
  s->listen = os_strdup(o->listen);
  s->cert_file = os_strdup(o->tls_cert_file);
  s->key_file = os_strdup(o->tls_key_file);
  if (s->listen == NULL || (o->tls_cert_file && (s->cert_file == NULL || s->key_file == NULL))) {
    rc = os_error_set(err, OS_ENOMEM, "httpd: out of memory");
    goto done;
  }
  if (s->cert_file != NULL) {
    rc = reload_if_changed(s, true, true, err);
    if (rc < 0)
      goto done;
  }
  *out = s;
  s = NULL;
done:
  httpd_server_free(s);
  return rc;
}

int httpd_route(httpd_server *s, const char *method, const char *path, httpd_handler handler,
                void *ctx, os_error *err) {
  if (s->started)
    return os_error_set(err, OS_EINVAL, "httpd: routes must be added before start");
  if (method == NULL || path == NULL || path[0] != '/' || handler == NULL)
    return os_error_set(err, OS_EINVAL, "httpd: a route needs a method, a /path and a handler");
  for (size_t i = 0; i < s->n_routes; i++) {
    if (strcmp(s->routes[i].method, method) == 0 && strcmp(s->routes[i].path, path) == 0)
      return os_error_set(err, OS_ECONFLICT, "httpd: route %s %s already registered", method,
                          path);
  }
  if (s->n_routes == MAX_ROUTES)
    return os_error_set(err, OS_ENOMEM, "httpd: too many routes");
  route *r = &s->routes[s->n_routes];
  r->method = os_strdup(method);
  r->path = os_strdup(path);
  if (r->method == NULL || r->path == NULL) {
    free(r->method);
    free(r->path);
    r->method = r->path = NULL;
    return os_error_set(err, OS_ENOMEM, "httpd: out of memory");
  }
  r->handler = handler;
  r->ctx = ctx;
  s->n_routes++;
  return 0;
}

int httpd_route_limit(httpd_server *s, const char *method, const char *path, unsigned max_running,
                      unsigned wait_ms, os_error *err) {
  if (s->started)
    return os_error_set(err, OS_EINVAL, "httpd: route limits must be set before start");
  if (max_running == 0)
    return os_error_set(err, OS_EINVAL, "httpd: a route limit needs at least one handler");
  for (size_t i = 0; i < s->n_routes; i++) {
    route *r = &s->routes[i];
    if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0) {
      r->max_running = max_running;
      r->wait_ms = wait_ms;
      return 0;
    }
  }
  return os_error_set(err, OS_ENOTFOUND, "httpd: no route %s %s to limit", method, path);
}

/* Splits "host:port", "[v6]:port" or ":port" and binds a listening socket. */
static int bind_listener(httpd_server *s, os_error *err) {
  int rc = 0;
  char host[256];
  const char *l = s->listen;
  const char *colon = strrchr(l, ':');
  if (colon == NULL || colon[1] == '\0')
    return os_error_set(err, OS_EINVAL, "httpd: listen address %s: expected ADDR:PORT", l);
  size_t hlen = (size_t)(colon - l);
  const char *h = l;
  if (hlen >= 2 && l[0] == '[' && l[hlen - 1] == ']') {
    h = l + 1;
    hlen -= 2;
  }
  if (hlen >= sizeof(host))
    return os_error_set(err, OS_EINVAL, "httpd: listen address %s: host too long", l);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
    return os_error_set(err, OS_EINVAL, "httpd: listen address %s: bad port", l);

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int g = getaddrinfo(hlen > 0 ? host : NULL, colon + 1, &hints, &res);
  if (g != 0)
    return os_error_set(err, OS_EINVAL, "httpd: listen address %s: %s", l, gai_strerror(g));
  int fd = -1;
  int last_errno = 0;
  /* With no host, prefer a dual-stack IPv6 socket, else IPv4. */
  for (int pass = 0; pass < 2 && fd < 0; pass++) {
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
      if (hlen == 0 && (pass == 0) != (ai->ai_family == AF_INET6))
        continue;
      if (hlen > 0 && pass == 1)
        break;
      fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) {
        last_errno = errno;
        continue;
      }
      int one = 1, zero = 0;
      (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (ai->ai_family == AF_INET6 && hlen == 0)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        last_errno = errno;
        close(fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    return os_error_set(err, OS_EIO, "httpd: cannot listen on %s: %s", l,
                        strerror(last_errno ? last_errno : EADDRNOTAVAIL));
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    rc = os_error_set(err, OS_EIO, "httpd: getsockname: %s", strerror(errno));
    close(fd);
    return rc;
  }
  s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  struct stat fst;
  s->listen_ino = fstat(fd, &fst) == 0 ? fst.st_ino : 0;
  s->listen_fd = fd;
  return 0;
}

/* MHD closes a listener handed to it when MHD_start_daemon() fails (seen
 * with 0.9.75), maybe not on every path: close it only if the descriptor
 * still is our socket, never a number some other thread reused. */
static void close_listener_if_ours(httpd_server *s) {
  struct stat fst;
  if (s->listen_fd >= 0 && fstat(s->listen_fd, &fst) == 0 && S_ISSOCK(fst.st_mode) &&
      fst.st_ino == s->listen_ino)
    close(s->listen_fd);
  s->listen_fd = -1;
}

/* ---- request handling ---- */

/* Queues a static text response, with one extra header when hname is set. */
static enum MHD_Result send_simple(struct MHD_Connection *conn, unsigned status,
                                   const char *body, const char *hname, const char *hvalue) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                      MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
  if (hname != NULL)
    (void)MHD_add_response_header(r, hname, hvalue);
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_busy(httpd_server *s, struct MHD_Connection *conn) {
  atomic_fetch_add(&s->busy, 1);
  return send_simple(conn, 429, "busy, retry later\n", MHD_HTTP_HEADER_RETRY_AFTER,
                     BUSY_RETRY_AFTER);
}

/* Counts n more held bytes if they fit under max_pending (always when
 * there is no limit). */
static bool pending_take(httpd_server *s, size_t n) {
  size_t cur = atomic_load(&s->pending);
  for (;;) {
    size_t next;
    if (!os_size_add(&next, cur, n) || (s->max_pending > 0 && next > s->max_pending))
      return false;
    if (atomic_compare_exchange_weak(&s->pending, &cur, next))
      return true;
  }
}

static void pending_give(httpd_server *s, size_t n) { atomic_fetch_sub(&s->pending, n); }

/* Waits up to the route's wait_ms for a free handler slot. */
static bool route_enter(httpd_server *s, route *rt) {
  if (rt->max_running == 0)
    return true;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  long long ns = (long long)until.tv_nsec + (long long)rt->wait_ms * 1000000LL;
  until.tv_sec += (time_t)(ns / 1000000000LL);
  until.tv_nsec = (long)(ns % 1000000000LL);
  bool ok = true;
  pthread_mutex_lock(&s->limit_mu);
  while (rt->running >= rt->max_running && ok)
    ok = pthread_cond_timedwait(&s->limit_cv, &s->limit_mu, &until) == 0 ||
         rt->running < rt->max_running;
  if (ok)
    rt->running++;
  pthread_mutex_unlock(&s->limit_mu);
  return ok;
}

static void route_leave(httpd_server *s, route *rt) {
  if (rt->max_running == 0)
    return;
  pthread_mutex_lock(&s->limit_mu);
  rt->running--;
  pthread_cond_broadcast(&s->limit_cv);
  pthread_mutex_unlock(&s->limit_mu);
}

static void response_clear(httpd_response *resp) {
  free(resp->content_type);
  for (size_t i = 0; i < resp->n_headers; i++) {
    free(resp->headers[i].name);
    free(resp->headers[i].value);
  }
  os_buf_free(&resp->body);
}

/* Frees the request body and stops counting it. */
static void drop_body(httpd_server *s, req_state *st) {
  os_buf_free(&st->body);
  pending_give(s, st->held);
  st->held = 0;
}

static enum MHD_Result run_handler(httpd_server *s, struct MHD_Connection *conn, route *rt,
                                   const char *method, const char *url, req_state *st) {
  if (!route_enter(s, rt)) {
    drop_body(s, st);
    return send_busy(s, conn);
  }
  httpd_request req = {conn, method, url, (const uint8_t *)(st->body.data ? st->body.data : ""),
                       st->body.len};
  httpd_response resp;
  memset(&resp, 0, sizeof(resp));
  resp.status = 200;
  os_buf_init(&resp.body, MAX_RESP_BODY, false);
  int rc = rt->handler(rt->ctx, &req, &resp);
  route_leave(s, rt);
  /* the request body is done with: free it now, not when the response has
   * been sent; from here on the response is what this request holds */
  drop_body(s, st);
  enum MHD_Result ret;
  if (rc < 0 || resp.failed || resp.status < 100 || resp.status > 599) {
    os_log_error("httpd %s: handler for %s %s failed: %s", s->listen, rt->method, rt->path,
                 rc < 0 ? os_error_name(rc) : "invalid response");
    ret = send_simple(conn, 500, "internal error\n", NULL, NULL);
    goto done;
  }
  struct MHD_Response *r = NULL;
  size_t len = resp.body.len;
  if (len == 0) {
    r = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
  } else {
    /* hand the buffer to MHD (it frees it) instead of copying it */
    char *data = NULL;
    if (os_buf_detach(&data, NULL, &resp.body) == 0) {
      r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
      if (r == NULL)
        free(data);
    }
  }
  if (r == NULL) {
    ret = MHD_NO;
    goto done;
  }
  if (resp.content_type != NULL)
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
  for (size_t i = 0; i < resp.n_headers; i++)
    (void)MHD_add_response_header(r, resp.headers[i].name, resp.headers[i].value);
  ret = MHD_queue_response(conn, resp.status, r);
  MHD_destroy_response(r);
  /* counted even beyond max_pending: it exists already, and new requests
   * wait until slow readers have taken theirs */
  atomic_fetch_add(&s->pending, len);
  st->held = len;
done:
  response_clear(&resp);
  return ret;
}

/* First call for a request: routing, the announced body size, and room
 * for the body under max_pending. */
static enum MHD_Result start_request(httpd_server *s, struct MHD_Connection *conn,
                                     const char *url, const char *method, void **con_cls) {
  const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
  route *found = NULL;
  char allow[128] = "";
  bool path_known = false;
  for (size_t i = 0; i < s->n_routes; i++) {
    route *r = &s->routes[i];
    if (strcmp(r->path, url) != 0)
      continue;
    path_known = true;
    if (strcmp(r->method, want) == 0)
      found = r;
    size_t used = strlen(allow);
    (void)snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "", r->method);
  }
  if (!path_known)
    return send_simple(conn, 404, "not found\n", NULL, NULL);
  if (found == NULL)
    return send_simple(conn, 405, "method not allowed\n", MHD_HTTP_HEADER_ALLOW, allow);
  unsigned long long announced = 0;
  const char *cl =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    char *end = NULL;
    errno = 0;
    announced = strtoull(cl, &end, 10);
    if (errno != 0 || end == cl || *end != '\0' || announced > s->max_body)
      return send_simple(conn, 413, "request body too large\n", NULL, NULL);
  }
  req_state *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return MHD_NO;
  st->route = found;
  os_buf_init(&st->body, s->max_body, false);
  if (announced > 0) {
    if (pending_take(s, (size_t)announced))
      st->held = (size_t)announced;
    if (st->held == 0 || os_buf_reserve(&st->body, (size_t)announced) < 0) {
      drop_body(s, st);
      /* no room: a client waiting for "100 Continue" gets the 429 now and
       * sends nothing; any other is still sending, so its body is read
       * and dropped, and it sees the 429 rather than a reset connection */
      const char *expect =
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
      if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
        free(st);
        return send_busy(s, conn);
      }
      st->busy = true;
    }
  }
  *con_cls = st;
  atomic_fetch_add(&s->inflight, 1);
  return MHD_YES;
}

/* One piece of the body: kept, or only counted when it is being dropped. */
static enum MHD_Result take_upload(httpd_server *s, struct MHD_Connection *conn, req_state *st,
                                   const char *data, size_t n) {
  if (st->too_large)
    return MHD_YES;
  if (!os_size_add(&st->seen, st->seen, n) || st->seen > s->max_body) {
    /* a chunked body crossed the limit: drop what we have, answer now,
     * or close the connection if MHD cannot answer mid-upload */
    st->too_large = true;
    drop_body(s, st);
    return send_simple(conn, 413, "request body too large\n", NULL, NULL) == MHD_YES ? MHD_YES
                                                                                    : MHD_NO;
  }
  if (st->busy)
    return MHD_YES;
  /* a chunked body is counted as it comes */
  size_t beyond = st->body.len + n > st->held ? st->body.len + n - st->held : 0;
  if (beyond > 0 && !pending_take(s, beyond)) {
    st->busy = true;
    drop_body(s, st);
    return MHD_YES;
  }
  st->held += beyond;
  if (os_buf_append(&st->body, data, n) < 0)
    return MHD_NO; /* cannot happen: seen <= max_body and memory was reserved or counted */
  return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  (void)version;
  httpd_server *s = cls;
  req_state *st = *con_cls;
  if (st == NULL)
    return start_request(s, conn, url, method, con_cls);
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    return take_upload(s, conn, st, upload_data, n);
  }
  if (st->too_large)
    return send_simple(conn, 413, "request body too large\n", NULL, NULL);
  if (st->busy)
    return send_busy(s, conn);
  return run_handler(s, conn, st->route, method, url, st);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  httpd_server *s = cls;
  req_state *st = *con_cls;
  if (st == NULL)
    return;
  drop_body(s, st);
  free(st);
  *con_cls = NULL;
  atomic_fetch_sub(&s->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
                                                            va_list ap) {
  httpd_server *s = cls;
  char msg[256];
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  if (n < 0)
    return;
  size_t len = strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
    msg[--len] = '\0';
  os_log_debug("httpd %s: %s", s->listen, msg);
}

int httpd_server_start(httpd_server *s, os_error *err) {
  int rc = 0;
  if (s->started)
    return os_error_set(err, OS_EINVAL, "httpd %s: already started", s->listen);
  rc = bind_listener(s, err);
  if (rc < 0)
    return rc;
  /* poll, not epoll: in epoll mode one worker may accept a burst of
   * connections and serve them all itself (seen in tests: simultaneous
   * clients were served one at a time) */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  if (s->cert_file != NULL) {
    s->tls_slot = slot_acquire(s);
    if (s->tls_slot < 0) {
      rc = os_error_set(err, OS_ENOMEM, "httpd %s: too many tls servers in one process",
                        s->listen);
      goto fail;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem opts[12];
  size_t k = 0;
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL};
  if (s->threads > 1) /* one thread: MHD's internal thread alone, no pool */
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->threads, NULL};
  opts[k++] =
      (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->timeout_s, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->max_connections,
                                      NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, s};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s};
  if (s->cert_file != NULL) {
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                        (void *)cert_callbacks[s->tls_slot]};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                        (void *)(uintptr_t)TLS_PRIORITIES};
  }
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

  s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_ARRAY, opts,
                               MHD_OPTION_END);
  if (s->daemon == NULL) {
    rc = os_error_set(err, OS_EIO, "httpd %s: cannot start the http daemon", s->listen);
    goto fail;
  }
  s->started = true;
  s->stopping = false;
  if (s->cert_file != NULL) {
    if (pthread_create(&s->watcher, NULL, watcher_main, s) == 0)
      s->watcher_running = true;
    else
      os_log_warn("httpd %s: no tls reload watcher (thread creation failed)", s->listen);
  }
  return 0;
fail:
  slot_release(s->tls_slot);
  s->tls_slot = -1;
  close_listener_if_ours(s);
  s->port = 0;
  return rc;
}

uint16_t httpd_server_port(const httpd_server *s) { return s->started ? s->port : 0; }

void httpd_server_stop(httpd_server *s) {
  if (s == NULL || !s->started)
    return;
  if (s->watcher_running) {
    pthread_mutex_lock(&s->stop_mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->stop_cv);
    pthread_mutex_unlock(&s->stop_mu);
    pthread_join(s->watcher, NULL);
    s->watcher_running = false;
  }
  /* Stop accepting; requests already read keep running. */
  MHD_socket quiesced = MHD_quiesce_daemon(s->daemon);
  int64_t start = os_mono_ns();
  for (;;) {
    if (atomic_load(&s->inflight) <= 0)
      break;
    long long ms = (long long)((os_mono_ns() - start) / 1000000);
    if (ms >= (long long)s->shutdown_ms) {
      os_log_warn("httpd %s: stopping with %d request(s) still running", s->listen,
                  atomic_load(&s->inflight));
      break;
    }
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  MHD_stop_daemon(s->daemon);
  s->daemon = NULL;
  if (quiesced != MHD_INVALID_SOCKET)
    close(quiesced); /* after quiesce MHD leaves the listener to us */
  s->listen_fd = -1;
  slot_release(s->tls_slot);
  s->tls_slot = -1;
  s->started = false;
}

void httpd_server_free(httpd_server *s) {
  if (s == NULL)
    return;
  httpd_server_stop(s);
  for (size_t i = 0; i < s->n_routes; i++) {
    free(s->routes[i].method);
    free(s->routes[i].path);
  }
  certset_free(s->tls_current);
  free(s->listen);
  free(s->cert_file);
  free(s->key_file);
  pthread_cond_destroy(&s->limit_cv);
  pthread_mutex_destroy(&s->limit_mu);
  pthread_cond_destroy(&s->stop_cv);
  pthread_mutex_destroy(&s->stop_mu);
  pthread_mutex_destroy(&s->tls_mu);
  free(s);
}

int httpd_server_reload_tls(httpd_server *s, os_error *err) {
  if (s->cert_file == NULL)
    return os_error_set(err, OS_EINVAL, "httpd %s: not a tls server", s->listen);
  return reload_if_changed(s, false, true, err);
}

unsigned httpd_server_tls_generation(const httpd_server *s) {
  return atomic_load(&((httpd_server *)(uintptr_t)s)->tls_generation);
}

unsigned long httpd_server_busy_count(const httpd_server *s) {
  return atomic_load(&((httpd_server *)(uintptr_t)s)->busy);
}

/* ---- request / response accessors ---- */

const char *httpd_request_method(const httpd_request *req) { return req->method; }
const char *httpd_request_path(const httpd_request *req) { return req->path; }

const char *httpd_request_query(const httpd_request *req, const char *key) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *httpd_request_header(const httpd_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *httpd_request_body(const httpd_request *req, size_t *len) {
  if (len != NULL)
    *len = req->body_len;
  return req->body;
}

void httpd_response_set_status(httpd_response *resp, unsigned status) { resp->status = status; }

static bool has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

int httpd_response_set_header(httpd_response *resp, const char *name, const char *value) {
  if (name == NULL || value == NULL || name[0] == '\0' || has_crlf(name) || has_crlf(value) ||
      strchr(name, ':') != NULL)
    return OS_EINVAL;
  if (resp->n_headers == MAX_RESP_HEADERS)
    return OS_ENOMEM;
  resp_header *h = &resp->headers[resp->n_headers];
  h->name = os_strdup(name);
  h->value = os_strdup(value);
  if (h->name == NULL || h->value == NULL) {
    free(h->name);
    free(h->value);
    h->name = h->value = NULL;
    resp->failed = true;
    return OS_ENOMEM;
  }
  resp->n_headers++;
  return 0;
}

static int set_content_type(httpd_response *resp, const char *content_type) {
  if (content_type != NULL && has_crlf(content_type))
    return OS_EINVAL;
  free(resp->content_type);
  resp->content_type = NULL;
  if (content_type != NULL) {
    resp->content_type = os_strdup(content_type);
    if (resp->content_type == NULL) {
      resp->failed = true;
      return OS_ENOMEM;
    }
  }
  return 0;
}

int httpd_response_take_body(httpd_response *resp, const char *content_type, char *data,
                             size_t len) {
  int rc = set_content_type(resp, content_type);
  if (rc < 0 || len > resp->body.max) {
    free(data);
    if (rc == 0)
      resp->failed = true;
    return rc < 0 ? rc : OS_ENOMEM;
  }
  os_buf_free(&resp->body);
  resp->body.data = data;
  resp->body.len = len;
  resp->body.cap = len + 1;
  return 0;
}

int httpd_response_set_body(httpd_response *resp, const char *content_type, const void *data,
                            size_t len) {
  int rc = set_content_type(resp, content_type);
  if (rc < 0)
    return rc;
  os_buf_reset(&resp->body);
  if (len > 0 && os_buf_append(&resp->body, data, len) < 0) {
    resp->failed = true;
    return OS_ENOMEM;
  }
  return 0;
}
