/* Internals shared by the pkg/ui sources; not part of the public API.
 * Threading: every handler runs on the HTTP server's single worker thread
 * (see ui.h); only last_activity is read from another thread. */
#ifndef ORGSECRETS_UI_INTERNAL_H
#define ORGSECRETS_UI_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "httpd/httpd.h"
#include "spec/spec.h"
#include "ui/ui.h"

#define UI_SECRET_HEX 64 /* 32 random bytes in hex: the URL token, session and CSRF tokens */

typedef struct ui_snapshot ui_snapshot;

struct ui_server {
  char *listen;
  char *dir;
  char *as;
  char *identity;
  unsigned idle_timeout_s;
  unsigned hide_after_ms;
  httpd_server *http;
  uint16_t port;
  char hosts[4][80];     /* Host header values accepted: 127.0.0.1:P, localhost:P, [::1]:P, ADDR:P */
  size_t n_hosts;
  char cookie_name[40];  /* "orgsecrets_ui_<port>": cookies are shared across ports */
  char token[UI_SECRET_HEX + 1];   /* the one-time URL token; "" once used */
  char session[UI_SECRET_HEX + 1]; /* cookie value; "" until the token is exchanged */
  char csrf[UI_SECRET_HEX + 1];
  atomic_llong last_activity; /* os_mono_ns() of the last authenticated request */
  ui_snapshot *snap;      /* the cached folder (list answers) */
  json_t *changed;        /* file -> [what the page did]: the files a commit may take */
};

/* ---- guard.c: the checks every request passes ---- */

/* Draws 32 random bytes from the CSPRNG as lower-case hex into out. */
int ui_random_hex(char out[UI_SECRET_HEX + 1], os_error *err);

/* Fills s->hosts for the bound port and the listen address. */
void ui_guard_setup(ui_server *s);

/* Adds the headers every answer carries (CSP, nosniff, no-referrer, frame
 * denial, no-store). */
void ui_guard_headers(httpd_response *resp);

enum ui_access {
  UI_ACCESS_OK = 0,   /* authenticated; go on */
  UI_ACCESS_ANSWERED  /* the guard wrote the answer (refusal or token exchange) */
};

/* The checks of every request: Host, then the session cookie (or, on
 * "GET /", the one-time token, answered with the cookie and a redirect to
 * "/"), then for state-changing methods the Origin, Sec-Fetch-Site, JSON
 * content type and CSRF token. Refusals are answered here (403/400) with
 * the security headers. */
enum ui_access ui_guard(ui_server *s, const httpd_request *req, httpd_response *resp);

/* Sets a JSON body (compact) with the given status; takes j (decref'd). */
int ui_reply_json(httpd_response *resp, unsigned status, json_t *j);
/* {"error": msg} with a status derived from code (400, 403, 404, 409, 422,
 * 500); msg never holds a value. */
int ui_reply_error(httpd_response *resp, int code, const char *msg);

/* ---- assets (generated from pkg/ui/web at build time) ---- */

typedef struct ui_asset {
  const char *path;         /* "/", "/app.js", ... */
  const char *content_type;
  const unsigned char *data;
  size_t len;
} ui_asset;

extern const ui_asset ui_assets[];
extern const size_t ui_n_assets;

/* ---- api.c ---- */

/* Registers the JSON API routes on s->http. */
int ui_api_register(ui_server *s, os_error *err);

/* Loads the folder afresh as the CLI does; caller frees *out. */
int ui_load_tree(spec_tree **out, const ui_server *s, os_error *err);

/* ---- snapshot.c: the folder as last loaded ---- */

/* The cached tree (borrowed until the next call or invalidation), reloaded
 * first when the folder or the identity file changed. */
int ui_snapshot_tree(const spec_tree **out, ui_server *s, os_error *err);
/* Drops the cache (after a write). */
void ui_snapshot_invalidate(ui_server *s);
/* The cached /api/secrets body of the current tree, or NULL. */
const char *ui_snapshot_list(const ui_server *s, size_t *len);
/* Caches body (takes it) for the current tree. */
void ui_snapshot_set_list(ui_server *s, char *body, size_t len);
void ui_snapshot_free(ui_snapshot *snap);

#endif
