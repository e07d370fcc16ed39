/* Mutating admission for pods: rewrites secret references ($NAME, ${NAME})
 * in opted-in pods into Kubernetes Secret references, as pure functions on
 * jansson values. The webhook's HTTP handler passes the request body to
 * inject_review_handle() and writes the response; nothing here does I/O.
 *
 * Rules (docs/injection.md has examples):
 *   - Only a CREATE of a Pod (group "", kind "Pod") labelled
 *     orgsecrets.io/inject: "true" is changed; anything else is allowed
 *     without a patch.
 *   - In every container and init container (ephemeral containers are left
 *     alone: they are added through a subresource this webhook ignores):
 *     an env value that is exactly $NAME or ${NAME} becomes
 *     valueFrom.secretKeyRef {name: <Secret>, key: NAME}; a reference inside
 *     a longer env value, or in command/args, becomes $(ORGSECRETS_NAME),
 *     and an env var ORGSECRETS_NAME fed by the secretKeyRef is inserted
 *     before the first env entry that uses it (appended to env when only
 *     command/args use it).
 *   - Everything but the references keeps the meaning Kubernetes gives it:
 *     $$ stays $$ (Kubernetes turns it into $); in literal text of a
 *     rewritten string, a $( not closed before the next reference is
 *     escaped to $$(; in every string of a container, a literal
 *     $(ORGSECRETS_X) is escaped to $$(ORGSECRETS_X) when this review adds
 *     ORGSECRETS_X to that container; any other $(VAR) is left as written.
 *   - Annotation orgsecrets.io/inject-all: "true" adds envFrom secretRef for
 *     every Secret the list callback returns for the namespace.
 *   - The pod is annotated orgsecrets.io/injected: "NAME1,NAME2" (sorted,
 *     merged with an existing value; names only).
 *   - A reference to an unknown name is refused: allowed false, status code
 *     403, message naming the reference, the container and the namespace;
 *     so is a pod with more than INJECT_REVIEW_MAX_REFERENCES references.
 *   - Idempotent: a pod that was already rewritten gets no further patch.
 *
 * Threading: reentrant; callbacks are called from the calling thread only. */
#ifndef ORGSECRETS_INJECT_ADMISSION_H
#define ORGSECRETS_INJECT_ADMISSION_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

#define INJECT_LABEL_INJECT "orgsecrets.io/inject"
#define INJECT_ANNOTATION_INJECT_ALL "orgsecrets.io/inject-all"
#define INJECT_ANNOTATION_INJECTED "orgsecrets.io/injected"
#define INJECT_ENV_PREFIX "ORGSECRETS_"           /* injected variables: ORGSECRETS_<NAME> */
/* Resource bounds of the webhook (docs/injection.md, "Limits"); a large
 * real pod's review (bench/webhook/bodies.py) is 351 KiB and parses into
 * about 4 MiB. */
#define INJECT_REVIEW_MAX_BYTES (2 * 1024 * 1024)       /* larger request bodies are refused */
#define INJECT_REVIEW_MAX_DEPTH 64                      /* deeper JSON is refused */
#define INJECT_REVIEW_MAX_PARSE_BYTES (8 * 1024 * 1024) /* a review that would parse into more is refused */
#define INJECT_REVIEW_MAX_REFERENCES 1024               /* a pod with more references is refused (403) */
#define INJECT_WEBHOOK_MAX_PARALLEL 2                   /* reviews answered at once */
#define INJECT_WEBHOOK_MAX_PENDING (2 * INJECT_REVIEW_MAX_BYTES) /* request + response bodies held */
#define INJECT_WEBHOOK_QUEUE_MS 1000   /* a review waits this long for its turn, then gets 429 */
#define INJECT_WEBHOOK_MAX_CONNECTIONS 128

/* Finds the Kubernetes Secret in namespace ns that carries key name:
 * returns 0 and sets *secret_name (caller frees with free()), OS_ENOTFOUND
 * when name is not a known (active) secret there, or another negative code
 * on failure (inject_review then fails with that code). */
typedef int (*inject_resolve_fn)(void *ctx, const char *ns, const char *name, char **secret_name);

/* Lists the Secrets orgsecrets delivers to namespace ns (for inject-all):
 * returns 0 and sets *names to an array of *n strings (caller frees each
 * and the array with free()), or a negative code. */
typedef int (*inject_list_fn)(void *ctx, const char *ns, char ***names, size_t *n);

/* Open options struct. */
typedef struct inject_options {
  inject_resolve_fn resolve; /* required */
  inject_list_fn list;       /* NULL: pods asking for inject-all are refused */
  void *ctx;                 /* passed to both callbacks */
} inject_options;

/* Answers one AdmissionReview (admission.k8s.io/v1). On success returns 0
 * and sets *response (caller frees with json_decref) to a response review:
 * uid echoed, allowed true or false, status {code, message} on refusal,
 * patchType "JSONPatch" and a base64 patch when the pod changes. Returns
 * OS_EINVAL when request_review is not a well-formed AdmissionReview (the
 * server answers HTTP 400), or the resolve/list callback's error code (the
 * server answers 500 and the API server applies the failurePolicy). */
int inject_review_opts(json_t **response, const json_t *request_review, const inject_options *opts,
                       os_error *err);

/* inject_review_opts() without a list callback. */
int inject_review(json_t **response, const json_t *request_review, inject_resolve_fn resolve, void *ctx,
                  os_error *err);

/* Parses a request body: refuses with OS_EINVAL a body over
 * INJECT_REVIEW_MAX_BYTES, and, before building anything (a single pass
 * over the bytes), JSON nested deeper than INJECT_REVIEW_MAX_DEPTH or
 * that would take more than INJECT_REVIEW_MAX_PARSE_BYTES to parse (many
 * small values: `[0,0,...]`, `[{},{},...]`); then invalid JSON and
 * duplicate keys. Caller frees *review with json_decref. */
int inject_review_parse(json_t **review, const char *body, size_t len, os_error *err);

typedef enum inject_result {
  INJECT_ALLOWED, /* allowed without a patch */
  INJECT_PATCHED, /* allowed with a patch */
  INJECT_DENIED   /* refused (403) */
} inject_result;

/* What one review did, for the audit log and metrics: names only, never
 * a value. Strings are NULL when the review has no such field. */
typedef struct inject_outcome {
  inject_result result;
  char *names;         /* names this review injected, sorted, comma-separated; "" when none */
  char *uid;           /* request.uid */
  char *ns;            /* the pod's namespace (NULL unless a pod was looked at) */
  char *pod;           /* metadata.name */
  char *generate_name; /* metadata.generateName */
} inject_outcome;

/* Frees the outcome's strings and zeroes it; accepts NULL. */
void inject_outcome_clear(inject_outcome *outcome);

/* Parses body (once), answers it and serialises the response (compact
 * JSON): caller frees *response_body with free(). When outcome is not NULL
 * it is filled on success (caller frees with inject_outcome_clear()) and
 * zeroed on failure. Same return codes as inject_review_opts(). */
int inject_review_handle(char **response_body, size_t *response_len, inject_outcome *outcome, const char *body,
                         size_t len, const inject_options *opts, os_error *err);

/* Writes the RFC 6901 escape of s (~ -> ~0, / -> ~1) to out[0..cap), NUL-terminated;
 * returns the escaped length, or OS_ENOMEM when it does not fit. */
int inject_json_pointer_escape(char *out, size_t cap, const char *s);

#endif
