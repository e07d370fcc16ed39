/* `orgsecrets ui`: the organization's secrets page, served on loopback only
 * over the user's own checkout and identity (docs/ui.md).
 *
 * One embedded single-page app (pkg/ui/web, compiled in) and a JSON API
 * whose every action calls the pkg/ functions the CLI calls. Security: the
 * listener must be a loopback address; every request needs the one-time
 * token printed in the URL (exchanged on first load for an HttpOnly,
 * SameSite=Strict cookie) or that cookie; the Host header must name the
 * loopback listener (DNS rebinding); every POST needs a same-origin Origin
 * and the session's CSRF token; every answer carries a strict
 * Content-Security-Policy, nosniff, no-referrer, frame denial and
 * Cache-Control: no-store. Values leave only in answers to explicit POSTs
 * (reveal) and never reach a log line.
 *
 * Threading: ui_server_new/start/run/free from one thread. Requests are
 * handled one at a time on the HTTP server's single worker thread, so the
 * handlers share the server's state without locks; ui_server_run() waits on
 * the calling thread. */
#ifndef ORGSECRETS_UI_UI_H
#define ORGSECRETS_UI_UI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct ui_server ui_server;

/* Open struct; zero values mean the defaults shown. Strings are copied. */
typedef struct ui_options {
  const char *listen;       /* loopback "ADDR:PORT"; default "127.0.0.1:0" (any free port) */
  const char *dir;          /* the organization folder; required */
  const char *as;           /* the acting member (resolved by the caller); may be NULL */
  const char *identity;     /* identity file path; may be NULL (nothing can be revealed) */
  unsigned idle_timeout_s;  /* exit after this long without a request; default 1800 */
  unsigned hide_after_ms;   /* how long the page shows a revealed value; default 30000 */
} ui_options;

/* 0 when listen ("ADDR:PORT", "[V6]:PORT") names a loopback address
 * (127.0.0.0/8, ::1, localhost) with a valid port; else OS_EINVAL with a
 * message saying why the page refuses it. */
int ui_listen_check(const char *listen, os_error *err);

/* Checks the options (ui_listen_check) and draws the one-time token and
 * the session secrets from the CSPRNG. Binds nothing yet. Caller frees
 * *out with ui_server_free(). */
int ui_server_new(ui_server **out, const ui_options *o, os_error *err) OS_NODISCARD;

/* Binds the loopback listener and starts serving. OS_EIO when the address
 * cannot be bound. */
int ui_server_start(ui_server *s, os_error *err);

/* The URL to open, "http://HOST:PORT/?token=TOKEN", into out (NUL-
 * terminated); 0, or OS_EINVAL when out is too small or not started. The
 * token is a credential: print it only to the user who started the page. */
int ui_server_url(char *out, size_t out_size, const ui_server *s);

/* The bound port, or 0 before start. */
uint16_t ui_server_port(const ui_server *s);

enum ui_stop_reason { UI_STOP_SIGNAL = 1, UI_STOP_IDLE = 2 };

/* Serves until *stop becomes non-zero (a signal handler sets it) or no
 * request came for idle_timeout_s; then stops the HTTP server and returns
 * the reason. */
enum ui_stop_reason ui_server_run(ui_server *s, volatile sig_atomic_t *stop);

/* Stops if needed and frees everything (secrets wiped); accepts NULL. */
void ui_server_free(ui_server *s);

#endif
