/* The checks every request of the page passes: Host (DNS rebinding), the
 * one-time token and the session cookie, and for state-changing requests
 * Origin, Sec-Fetch-Site, the JSON content type and the CSRF token. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/clock.h"
#include "ui/ui_internal.h"

int ui_random_hex(char out[UI_SECRET_HEX + 1], os_error *err) {
  uint8_t raw[UI_SECRET_HEX / 2];
  if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
    return os_error_set(err, OS_ECRYPTO, "ui: the random generator failed");
  os_hex_encode(out, raw, sizeof(raw));
  OPENSSL_cleanse(raw, sizeof(raw));
  return 0;
}

void ui_guard_setup(ui_server *s) {
  s->n_hosts = 0;
  const char *fixed[] = {"127.0.0.1", "localhost", "[::1]"};
  for (size_t i = 0; i < 3; i++)
    snprintf(s->hosts[s->n_hosts++], sizeof(s->hosts[0]), "%s:%u", fixed[i], (unsigned)s->port);
  /* a listener on another loopback address (127.0.0.2, ...) is reached by that literal */
  const char *colon = strrchr(s->listen, ':');
  if (colon != NULL && (size_t)(colon - s->listen) < 64) {
    char own[80];
    snprintf(own, sizeof(own), "%.*s:%u", (int)(colon - s->listen), s->listen, (unsigned)s->port);
    bool known = false;
    for (size_t i = 0; i < s->n_hosts; i++)
      known = known || strcasecmp(own, s->hosts[i]) == 0;
    if (!known)
      memcpy(s->hosts[s->n_hosts++], own, sizeof(own));
  }
  snprintf(s->cookie_name, sizeof(s->cookie_name), "orgsecrets_ui_%u", (unsigned)s->port);
}

void ui_guard_headers(httpd_response *resp) {
  (void)httpd_response_set_header(
      resp, "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
      "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
      "object-src 'none'");
  (void)httpd_response_set_header(resp, "X-Content-Type-Options", "nosniff");
  (void)httpd_response_set_header(resp, "Referrer-Policy", "no-referrer");
  (void)httpd_response_set_header(resp, "X-Frame-Options", "DENY");
  (void)httpd_response_set_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  (void)httpd_response_set_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  (void)httpd_response_set_header(resp, "Cache-Control", "no-store");
}

static bool secret_equal(const char *given, size_t given_len, const char *want) {
  size_t n = strlen(want);
  return n > 0 && given != NULL && given_len == n && CRYPTO_memcmp(given, want, n) == 0;
}

static bool host_allowed(const ui_server *s, const char *host) {
  for (size_t i = 0; host != NULL && i < s->n_hosts; i++) {
    if (strcasecmp(host, s->hosts[i]) == 0)
      return true;
  }
  return false;
}

static bool origin_allowed(const ui_server *s, const char *origin) {
  static const char scheme[] = "http://";
  if (origin == NULL || strncmp(origin, scheme, sizeof(scheme) - 1) != 0)
    return false;
  return host_allowed(s, origin + sizeof(scheme) - 1);
}

/* The value of cookie name in a Cookie header, as (pointer, length), or NULL. */
static const char *cookie_value(const char *header, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *p = header; p != NULL && *p != '\0';) {
    while (*p == ' ' || *p == ';')
      p++;
    const char *end = strchr(p, ';');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      *len = n - nl - 1;
      while (*len > 0 && p[nl + *len] == ' ')
        (*len)--;
      return p + nl + 1;
    }
    p = end;
  }
  return NULL;
}

static enum ui_access refuse(httpd_response *resp, unsigned status, const char *msg) {
  char body[512];
  int n = snprintf(body, sizeof(body), "orgsecrets ui: %s\n", msg);
  httpd_response_set_status(resp, status);
  (void)httpd_response_set_body(resp, "text/plain; charset=utf-8", body,
                                n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
  return UI_ACCESS_ANSWERED;
}

static void touch(ui_server *s) { atomic_store(&s->last_activity, (long long)os_mono_ns()); }

static bool state_changing(const char *method) {
  return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

enum ui_access ui_guard(ui_server *s, const httpd_request *req, httpd_response *resp) {
  ui_guard_headers(resp);
  const char *method = httpd_request_method(req);
  const char *path = httpd_request_path(req);
  if (!host_allowed(s, httpd_request_header(req, "Host")))
    return refuse(resp, 403, "the Host header does not name this loopback server");

  size_t clen = 0;
  const char *cookie = cookie_value(httpd_request_header(req, "Cookie"), s->cookie_name, &clen);
  bool authed = secret_equal(cookie, clen, s->session);
  const char *token = httpd_request_query(req, "token");
  if (!authed && token != NULL && strcmp(method, "GET") == 0 && strcmp(path, "/") == 0) {
    if (!secret_equal(token, strlen(token), s->token))
      return refuse(resp, 403, "this link's token is wrong or was already used; restart "
                               "`orgsecrets ui` for a new link");
    os_error err = OS_ERROR_INIT;
    if (ui_random_hex(s->session, &err) < 0)
      return refuse(resp, 500, err.msg);
    OPENSSL_cleanse(s->token, sizeof(s->token)); /* one use only */
    char set[160];
    snprintf(set, sizeof(set), "%s=%s; Path=/; HttpOnly; SameSite=Strict", s->cookie_name,
             s->session);
    (void)httpd_response_set_header(resp, "Set-Cookie", set);
    OPENSSL_cleanse(set, sizeof(set));
    touch(s);
    /* the token leaves the address bar (and the history entry is replaced) */
    (void)httpd_response_set_header(resp, "Location", "/");
    return refuse(resp, 303, "signed in; continue at /");
  }
  if (!authed)
    return refuse(resp, 403, "not signed in: open the link that `orgsecrets ui` printed");
  if (token != NULL && strcmp(path, "/") == 0) {
    (void)httpd_response_set_header(resp, "Location", "/");
    return refuse(resp, 303, "signed in already; continue at /");
  }
  /* a cross-site document may not even read metadata */
  const char *site = httpd_request_header(req, "Sec-Fetch-Site");
  bool api = strncmp(path, "/api/", 5) == 0;
  if (site != NULL && strcmp(site, "same-origin") != 0 && (api || state_changing(method)) &&
      !(strcmp(site, "none") == 0 && !state_changing(method)))
    return refuse(resp, 403, "cross-site request refused");
  if (state_changing(method)) {
    if (!origin_allowed(s, httpd_request_header(req, "Origin")))
      return refuse(resp, 403, "cross-origin request refused (the Origin header must name this "
                               "server)");
    const char *ct = httpd_request_header(req, "Content-Type");
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
      return refuse(resp, 415, "requests that change something must be application/json");
    const char *csrf = httpd_request_header(req, "X-CSRF-Token");
    if (!secret_equal(csrf, csrf ? strlen(csrf) : 0, s->csrf))
      return refuse(resp, 403, "missing or wrong CSRF token (reload the page)");
  }
  touch(s);
  return UI_ACCESS_OK;
}

int ui_reply_json(httpd_response *resp, unsigned status, json_t *j) {
  if (j == NULL)
    return OS_ENOMEM;
  char *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (out == NULL)
    return OS_ENOMEM;
  httpd_response_set_status(resp, status);
  return httpd_response_take_body(resp, "application/json", out, strlen(out));
}

int ui_reply_error(httpd_response *resp, int code, const char *msg) {
  unsigned status = 500;
  switch (code) {
  case OS_EINVAL: status = 400; break;
  case OS_EPERM: status = 403; break;
  case OS_ENOTFOUND: status = 404; break;
  case OS_ECONFLICT: status = 409; break;
  case OS_ENOIDENTITY:
  case OS_EBINDING:
  case OS_EHMAC:
  case OS_EPAYLOAD:
  case OS_EHEADER:
  case OS_EARMOR: status = 422; break;
  default: break;
  }
  return ui_reply_json(resp, status,
                       json_pack("{s:s}", "error", msg && msg[0] ? msg : os_error_name(code)));
}
