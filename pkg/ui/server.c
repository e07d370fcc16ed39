/* The page's server: a loopback-only pkg/httpd server with one worker
 * thread, the embedded assets, and the idle timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "ui/ui_internal.h"

int ui_listen_check(const char *listen, os_error *err) {
  if (listen == NULL || listen[0] == '\0')
    return os_error_set(err, OS_EINVAL, "--listen: empty address");
  const char *colon = strrchr(listen, ':');
  if (colon == NULL || colon == listen)
    return os_error_set(err, OS_EINVAL,
                        "--listen %s: expected a loopback ADDR:PORT (127.0.0.1:PORT, [::1]:PORT, "
                        "localhost:PORT)", listen);
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
    return os_error_set(err, OS_EINVAL, "--listen %s: bad port", listen);
  char host[64];
  size_t hlen = (size_t)(colon - listen);
  const char *h = listen;
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  if (hlen >= sizeof(host))
    return os_error_set(err, OS_EINVAL, "--listen %s: refused: not a loopback address", listen);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  struct in_addr a4;
  struct in6_addr a6;
  bool loopback = strcasecmp(host, "localhost") == 0;
  if (!loopback && inet_pton(AF_INET, host, &a4) == 1)
    loopback = (ntohl(a4.s_addr) >> 24) == 127;
  else if (!loopback && inet_pton(AF_INET6, host, &a6) == 1)
    loopback = IN6_IS_ADDR_LOOPBACK(&a6);
  if (!loopback)
    return os_error_set(err, OS_EINVAL,
                        "--listen %s: refused: the page shows secret values, so it listens on "
                        "a loopback address only (127.0.0.1, [::1] or localhost)", listen);
  return 0;
}

static int asset_handler(void *ctx, const httpd_request *req, httpd_response *resp) {
  ui_server *s = ctx;
  if (ui_guard(s, req, resp) != UI_ACCESS_OK)
    return 0;
  const char *path = httpd_request_path(req);
  for (size_t i = 0; i < ui_n_assets; i++) {
    if (strcmp(ui_assets[i].path, path) == 0)
      return httpd_response_set_body(resp, ui_assets[i].content_type, ui_assets[i].data,
                                     ui_assets[i].len);
  }
  httpd_response_set_status(resp, 404);
  return 0;
}

static char *dup_or_null(const char *v, bool *ok) {
  if (v == NULL)
    return NULL;
  char *c = os_strdup(v);
  *ok = *ok && c != NULL;
  return c;
}

int ui_server_new(ui_server **out, const ui_options *o, os_error *err) {
  *out = NULL;
  const char *listen = o->listen != NULL ? o->listen : "127.0.0.1:0";
  int rc = ui_listen_check(listen, err);
  if (rc < 0)
    return rc;
  if (o->dir == NULL)
    return os_error_set(err, OS_EINVAL, "ui: no organization folder");
  ui_server *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  bool ok = true;
  s->listen = dup_or_null(listen, &ok);
  s->dir = dup_or_null(o->dir, &ok);
  s->as = dup_or_null(o->as, &ok);
  s->identity = dup_or_null(o->identity, &ok);
  s->idle_timeout_s = o->idle_timeout_s ? o->idle_timeout_s : 1800;
  s->hide_after_ms = o->hide_after_ms ? o->hide_after_ms : 30000;
  if (!ok) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = ui_random_hex(s->token, err)) < 0 || (rc = ui_random_hex(s->csrf, err)) < 0)
    goto fail;
  /* one worker: requests are handled one at a time (see ui.h) */
  const httpd_options ho = {.listen = listen,
                            .max_body_bytes = 1024 * 1024,
                            .max_connections = 64,
                            .threads = 1,
                            .connection_timeout_s = 60,
                            .shutdown_timeout_ms = 2000};
  if ((rc = httpd_server_new(&s->http, &ho, err)) < 0)
    goto fail;
  for (size_t i = 0; i < ui_n_assets; i++) {
    if ((rc = httpd_route(s->http, "GET", ui_assets[i].path, asset_handler, s, err)) < 0)
      goto fail;
  }
  if ((rc = ui_api_register(s, err)) < 0)
    goto fail;
  *out = s;
  return 0;
fail:
  ui_server_free(s);
  return rc;
}

int ui_server_start(ui_server *s, os_error *err) {
  int rc = httpd_server_start(s->http, err);
  if (rc < 0)
    return rc;
  s->port = httpd_server_port(s->http);
  ui_guard_setup(s);
  atomic_store(&s->last_activity, (long long)os_mono_ns());
  return 0;
}

uint16_t ui_server_port(const ui_server *s) { return s->port; }

int ui_server_url(char *out, size_t out_size, const ui_server *s) {
  if (s->port == 0)
    return OS_EINVAL;
  /* the listener's own literal (hosts[3]) when it is not 127.0.0.1 or ::1 */
  const char *host = s->hosts[0];
  if (strncmp(s->listen, "[::1]", 5) == 0)
    host = s->hosts[2];
  else if (s->n_hosts > 3)
    host = s->hosts[3];
  int n = snprintf(out, out_size, "http://%s/?token=%s", host, s->token);
  return n > 0 && (size_t)n < out_size ? 0 : OS_EINVAL;
}

enum ui_stop_reason ui_server_run(ui_server *s, volatile sig_atomic_t *stop) {
  enum ui_stop_reason why = UI_STOP_SIGNAL;
  for (;;) {
    if (*stop)
      break;
    long long idle_ns = (long long)os_mono_ns() - atomic_load(&s->last_activity);
    if (idle_ns >= (long long)s->idle_timeout_s * 1000000000LL) {
      why = UI_STOP_IDLE;
      break;
    }
    struct timespec nap = {0, 100 * 1000 * 1000};
    nanosleep(&nap, NULL); /* a signal cuts it short */
  }
  httpd_server_stop(s->http);
  return why;
}

void ui_server_free(ui_server *s) {
  if (s == NULL)
    return;
  httpd_server_free(s->http);
  ui_snapshot_free(s->snap);
  json_decref(s->changed);
  free(s->listen);
  free(s->dir);
  free(s->as);
  free(s->identity);
  OPENSSL_cleanse(s, sizeof(*s));
  free(s);
}
