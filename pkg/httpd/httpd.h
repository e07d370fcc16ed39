/* A small HTTP/HTTPS server on libmicrohttpd for /healthz, /readyz,
 * /metrics and the admission webhook.
 *
 * Model: routes (method + exact path) are registered before
 * httpd_server_start(); MHD runs a pool of `threads` poll()-based workers
 * (MHD_USE_INTERNAL_POLLING_THREAD + MHD_OPTION_THREAD_POOL_SIZE), so
 * handlers run concurrently and must be thread-safe. HEAD is served by the
 * GET route (MHD drops the body). Unknown path -> 404, known path with
 * another method -> 405 (with Allow). A request whose Content-Length exceeds
 * max_body_bytes gets 413 before any of its body is read; a chunked body is
 * dropped as soon as it crosses the limit (413, or the connection is
 * closed). The handler never sees an oversized body. Nothing about request
 * bodies, headers or query strings is logged; MHD's own messages go to
 * os_log at debug level.
 *
 * Bounded memory under load (the admission webhook is reachable without
 * authentication): a body with a Content-Length is buffered in one
 * allocation of exactly that size; max_pending_bytes bounds the request and
 * response bodies held at once over all connections (a request whose body
 * does not fit is read and dropped, then answered 429 with Retry-After: 1;
 * a response is counted until it is sent); httpd_route_limit() bounds how
 * many handlers of a route run at once (a request waits up to wait_ms for
 * its turn, then gets 429 with Retry-After: 1); max_connections bounds
 * open connections (each costs its TLS state and MHD's buffers, about
 * 40-70 KiB). 429 with Retry-After is what Kubernetes clients retry,
 * including the API server calling a webhook (client-go's rest client).
 *
 * TLS reload (cert-manager rotation): the certificate is served through
 * MHD's GnuTLS certificate callback (MHD_OPTION_HTTPS_CERT_CALLBACK), which
 * asks us for the certificate on every handshake. A watcher thread checks
 * the cert and key files' (mtime, size, inode) every tls_reload_interval_ms
 * and, when they changed, loads both, checks that the key matches the
 * certificate, and swaps the pair atomically; a half-written or mismatched
 * pair is ignored (the old pair stays, one warning is logged) and tried
 * again as soon as either file changes again (e.g. the key lands). No
 * daemon restart, no closed listener, no dropped connection: handshakes
 * started before the swap finish with the old pair, later ones get the new
 * one. Retired pairs are kept until httpd_server_free() (rotation is rare).
 * The GnuTLS callback carries no user pointer, so each running TLS server
 * takes one of 16 process-wide slots (OS_ENOMEM at start beyond that).
 * TLS 1.2 and 1.3 only. Needs GnuTLS headers (libgnutls28-dev, which
 * libmicrohttpd-dev depends on).
 *
 * Threading: httpd_server_new/route/start/stop/free from one controlling
 * thread; httpd_server_reload_tls() and httpd_server_port() from any
 * thread. Request/response objects belong to the worker running the
 * handler and are valid only during the call. A handler must not call
 * httpd_server_stop() (it waits for that very handler). */
#ifndef ORGSECRETS_HTTPD_HTTPD_H
#define ORGSECRETS_HTTPD_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct httpd_server httpd_server;
typedef struct httpd_request httpd_request;
typedef struct httpd_response httpd_response;

/* Open struct; zero values mean the defaults shown. */
typedef struct httpd_options {
  const char *listen;          /* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (all
                                  interfaces); PORT may be 0 (see
                                  httpd_server_port()). Required. */
  const char *tls_cert_file;   /* PEM certificate (chain); NULL: plain HTTP */
  const char *tls_key_file;    /* PEM private key; required with the cert */
  size_t max_body_bytes;       /* default 1 MiB */
  size_t max_pending_bytes;    /* request + response bodies held at once; 0: no limit */
  unsigned max_connections;    /* open connections, default 1024 */
  unsigned threads;            /* worker threads, default 4 */
  unsigned connection_timeout_s;   /* idle connection timeout, default 30 */
  unsigned tls_reload_interval_ms; /* cert/key file check period, default 5000 */
  unsigned shutdown_timeout_ms;    /* httpd_server_stop() grace, default 5000 */
} httpd_options;

/* A route handler. Return 0 to send what was set on resp (status default
 * 200, empty body); a negative code makes the server answer 500 with a
 * generic body (the code is logged, never the request). */
typedef int (*httpd_handler)(void *ctx, const httpd_request *req, httpd_response *resp);

/* Validates o, loads the TLS pair if any (OS_EINVAL/OS_EIO/OS_ECRYPTO on a
 * bad pair) and binds nothing yet. Caller frees *out with
 * httpd_server_free(). o's strings are copied. */
int httpd_server_new(httpd_server **out, const httpd_options *o, os_error *err) OS_NODISCARD;

/* Registers handler for method ("GET", "POST", ...) on an exact path ("/a",
 * no query). ctx is borrowed and passed to handler. Only before start;
 * OS_ECONFLICT for a duplicate (method, path). */
int httpd_route(httpd_server *s, const char *method, const char *path, httpd_handler handler,
                void *ctx, os_error *err);

/* Lets at most max_running handlers of the route (method, path) run at
 * once; a request finding none free waits up to wait_ms, then gets 429
 * with Retry-After: 1 without its handler running. Only before start;
 * OS_ENOTFOUND for an unregistered route, OS_EINVAL for max_running 0. */
int httpd_route_limit(httpd_server *s, const char *method, const char *path, unsigned max_running,
                      unsigned wait_ms, os_error *err);

/* Binds the listener and starts serving. OS_EIO when the address cannot be
 * bound. */
int httpd_server_start(httpd_server *s, os_error *err);

/* The bound TCP port (useful with port 0), or 0 when not started. */
uint16_t httpd_server_port(const httpd_server *s);

/* Stops accepting, lets in-flight requests finish (up to
 * shutdown_timeout_ms), then stops the daemon. Idempotent. */
void httpd_server_stop(httpd_server *s);

/* Stops if needed and frees everything; accepts NULL. */
void httpd_server_free(httpd_server *s);

/* Reloads the TLS pair now if the files changed (the watcher calls this
 * periodically). 0 when the pair is current or was swapped; on a bad pair
 * the old one stays and the error is returned. OS_EINVAL for a plain HTTP
 * server. */
int httpd_server_reload_tls(httpd_server *s, os_error *err);

/* Number of successful certificate swaps since start (for tests/metrics). */
unsigned httpd_server_tls_generation(const httpd_server *s);

/* Number of requests answered 429 (max_pending_bytes or a route limit)
 * since start (for tests/metrics). */
unsigned long httpd_server_busy_count(const httpd_server *s);

/* Request accessors; returned strings are borrowed, valid during the
 * handler call. */
const char *httpd_request_method(const httpd_request *req);
const char *httpd_request_path(const httpd_request *req);
/* Query argument value (URL-decoded), or NULL when absent. */
const char *httpd_request_query(const httpd_request *req, const char *key);
/* Header value (name case-insensitive), or NULL when absent. */
const char *httpd_request_header(const httpd_request *req, const char *name);
/* Body bytes (NUL-terminated for convenience, "" when none). */
const uint8_t *httpd_request_body(const httpd_request *req, size_t *len);

/* Response setters. Strings and body are copied. */
void httpd_response_set_status(httpd_response *resp, unsigned status);
/* Adds a header; OS_EINVAL for CR/LF in name or value, OS_ENOMEM. */
int httpd_response_set_header(httpd_response *resp, const char *name, const char *value);
/* Sets the body and its Content-Type (content_type may be NULL). */
int httpd_response_set_body(httpd_response *resp, const char *content_type, const void *data,
                            size_t len);
/* The same without a copy: takes data, a malloc'd buffer of len bytes plus
 * a NUL (freed by the server, also on error). */
int httpd_response_take_body(httpd_response *resp, const char *content_type, char *data,
                             size_t len);

#endif
