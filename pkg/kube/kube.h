/* Kubernetes API client over HTTPS (libcurl, jansson, libyaml).
 *
 * Threading: a kube_client may be shared by any number of threads once
 * kube_client_new() returned. Each request takes a CURL easy handle from a
 * small internal pool (a new one when the pool is empty) and keeps its
 * connections; DNS and TLS sessions are shared through a CURL share handle
 * guarded by mutexes; the credential state (token, exec plugin output, client
 * certificate) and the rate limiter sit behind their own mutexes.
 * kube_client_free() must be called after every other call has returned.
 * curl_global_init() is called once by kube_client_new() (thread-safe in
 * libcurl >= 7.84).
 *
 * Secrets: bearer tokens, client keys and Secret data never appear in a
 * log line or an os_error message; key material is wiped before release. */
#ifndef ORGSECRETS_KUBE_KUBE_H
#define ORGSECRETS_KUBE_KUBE_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

typedef struct kube_client kube_client;

/* Called after every HTTP attempt (retries included): verb ("GET", "LIST",
 * "WATCH", "POST", "PUT", "PATCH", "DELETE"), the HTTP status or 0 for a
 * network/TLS failure, and the attempt's duration. Must be thread-safe. */
typedef void (*kube_observe_fn)(void *ctx, const char *verb, long http_code, double seconds);

/* Open options struct; zero-initialise and set what you need. */
typedef struct kube_options {
  /* NULL: in-cluster when KUBERNETES_SERVICE_HOST is set, else the first
   * file of $KUBECONFIG (a ':' list: only the first file is read), else
   * ~/.kube/config. */
  const char *kubeconfig;
  const char *context;     /* NULL: the kubeconfig's current-context */
  double qps;              /* token-bucket refill rate; <= 0: 50 */
  int burst;               /* bucket size; <= 0: 100 */
  long timeout_ms;         /* whole request (not watches); <= 0: 30000 */
  long connect_timeout_ms; /* <= 0: 10000 */
  int max_retries;         /* retries on 429/5xx/network errors; 0: 5; < 0: none */
  const char *user_agent;  /* NULL: "orgsecrets" */
  kube_observe_fn observe; /* may be NULL */
  void *observe_ctx;
} kube_options;

/* Creates a client from opts (NULL: all defaults). On failure err names the
 * kubeconfig file and field (or the in-cluster file) that was wrong.
 * Caller frees *out with kube_client_free(). */
int kube_client_new(kube_client **out, const kube_options *opts, os_error *err) OS_NODISCARD;

/* Releases c (wiping credentials); accepts NULL. */
void kube_client_free(kube_client *c);

/* The API server URL, e.g. "https://10.0.0.1:443"; borrowed, valid until
 * kube_client_free(). */
const char *kube_client_server(const kube_client *c);

/* One API call with retries, rate limiting and credential refresh.
 * path starts with '/' and may carry a query string; body may be NULL;
 * content_type NULL means "application/json". *out (out may be NULL) gets
 * the parsed JSON response (caller json_decref()s; NULL for an empty body),
 * also on HTTP errors (the Status object). *http_code (may be NULL) gets the
 * final status, 0 when no response arrived. Error mapping: 404 OS_ENOTFOUND,
 * 409 OS_ECONFLICT, 410 OS_EGONE, 400/422 OS_EINVAL, 401 OS_EAUTH,
 * 403 OS_EPERM, 413 OS_ENOMEM, timeouts OS_ETIMEOUT, others OS_EIO; err->msg
 * is like "PUT /api/v1/namespaces/a/secrets/b: 409 Conflict: <message>"
 * (the query string is not included). */
int kube_request(kube_client *c, const char *method, const char *path, const char *content_type,
                 const json_t *body, json_t **out, long *http_code, os_error *err);

/* GET path; caller json_decref()s *out. */
int kube_get(kube_client *c, const char *path, json_t **out, os_error *err);

/* POST obj to collection_path; *out (out may be NULL) is the created object. */
int kube_create(kube_client *c, const char *collection_path, const json_t *obj, json_t **out,
                os_error *err);

/* PUT obj to path (optimistic concurrency through metadata.resourceVersion:
 * a stale one gives OS_ECONFLICT); *out (out may be NULL) is the result. */
int kube_update(kube_client *c, const char *path, const json_t *obj, json_t **out, os_error *err);

/* PATCH path with patch_content_type (e.g. "application/merge-patch+json",
 * "application/json-patch+json"); *out (out may be NULL) is the result. */
int kube_patch(kube_client *c, const char *path, const char *patch_content_type,
               const json_t *patch, json_t **out, os_error *err);

/* DELETE path; with precondition_rv (may be NULL) a DeleteOptions body
 * carrying preconditions.resourceVersion (stale: OS_ECONFLICT). */
int kube_delete(kube_client *c, const char *path, const char *precondition_rv, os_error *err);

/* Called by kube_list_each() for each listed item (borrowed for the call;
 * json_incref to keep it), or with item NULL when the list starts over:
 * forget every item seen so far, they come again. Returns 0 to go on, or a
 * negative code that stops the list. */
typedef int (*kube_list_fn)(void *ctx, json_t *item);

/* Lists every page (limit/continue) of collection_path, optionally filtered
 * by label_selector (unescaped, e.g. "app=x,tier in (a,b)"; may be NULL),
 * page_limit items a page (0: 500), and calls fn for each item of a page,
 * in order, before the next page is asked for: only one page is held at a
 * time. *rv (rv may be NULL; caller frees) gets the list's resourceVersion
 * when it returns 0. Pages above 64 MiB are refused with OS_ENOMEM, as is a
 * list running past 2 million / page_limit pages. A continue token expiring
 * mid-list restarts the list once (fn(ctx, NULL) first), then gives
 * OS_EGONE. A negative code from fn is returned, err naming the list. */
int kube_list_each(kube_client *c, const char *collection_path, const char *label_selector,
                   size_t page_limit, kube_list_fn fn, void *ctx, char **rv, os_error *err);

/* kube_list_each() gathering every item, so all pages are held at once:
 * *items gets a JSON array (caller json_decref()s; NULL on error); *rv as
 * there. */
int kube_list(kube_client *c, const char *collection_path, const char *label_selector,
              json_t **items, char **rv, os_error *err);

/* Called for each watch event: type is "ADDED", "MODIFIED", "DELETED" or
 * "BOOKMARK"; object is borrowed for the call (json_incref to keep it).
 * Returns non-zero to stop the watch. */
typedef int (*kube_watch_fn)(void *ctx, const char *type, json_t *object);

/* Watches collection_path from rv (NULL or "": from now, with synthetic
 * ADDED events for existing objects) with bookmarks, for at most
 * timeout_s seconds (<= 0: 300) on the server side. Returns 0 when the
 * server ends the watch, when the stream breaks after at least one event,
 * when fn asks to stop or when *stop (may be NULL) becomes non-zero (polled
 * about once a second); OS_EGONE when rv is too old (HTTP 410 or an ERROR
 * event with code 410) so the caller lists again; other errors as
 * kube_request() (a stream that breaks before any event is OS_EIO). Failures
 * before the stream starts (429, 5xx, network, one 401) are retried like
 * GETs. *last_rv (last_rv may be NULL; caller frees; NULL when nothing was
 * seen) is the newest resourceVersion seen, bookmarks included. A single
 * event line is limited to 16 MiB (OS_ENOMEM). */
int kube_watch(kube_client *c, const char *collection_path, const char *label_selector,
               const char *rv, int timeout_s, kube_watch_fn fn, void *ctx, char **last_rv,
               const volatile int *stop, os_error *err);

/* The API server's version from GET /version: *major and *minor as
 * numbers (a provider suffix such as GKE's "20+" is ignored), *git_version
 * (git_version may be NULL; caller frees) its gitVersion, e.g. "v1.20.2".
 * OS_EINVAL when the answer has no usable major and minor. */
int kube_server_version(kube_client *c, int *major, int *minor, char **git_version, os_error *err);

/* Percent-escapes s for use as one path segment or a query value
 * (everything but [A-Za-z0-9-._~]). Caller frees; NULL on allocation
 * failure. */
char *kube_path_escape(const char *s);

#endif
