/* Internals of pkg/kube shared between its .c files and its tests.
 * Threading: kube_config and kube_ratelimit belong to one thread unless a
 * caller adds locking (the client does). */
#ifndef ORGSECRETS_KUBE_INTERNAL_H
#define ORGSECRETS_KUBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

/* An exec credential plugin as described by a kubeconfig user. */
typedef struct kube_exec_config {
  char *api_version;   /* client.authentication.k8s.io/v1 or /v1beta1 */
  char *command;       /* resolved: absolute, relative to the kubeconfig, or a bare name for $PATH */
  char **argv;         /* argv[0] = command, NULL-terminated */
  char **env;          /* "NAME=VALUE", NULL-terminated; added to the inherited environment */
} kube_exec_config;

/* Everything needed to reach and authenticate to one API server. Blobs are
 * PEM, NUL-terminated; key_pem and token are secret (wiped on free). */
typedef struct kube_config {
  char *source;        /* kubeconfig path or "in-cluster"; for messages */
  char *server;        /* https://host:port, no trailing '/' */
  char *ca_pem;        /* NULL: system trust store */
  size_t ca_len;
  bool insecure;       /* insecure-skip-tls-verify */
  char *cert_pem;      /* client certificate */
  size_t cert_len;
  char *key_pem;       /* client key (secret) */
  size_t key_len;
  char *token;         /* static bearer token (secret) */
  char *token_file;    /* bearer token re-read from this file */
  kube_exec_config *exec;
} kube_config;

/* Test-only opt-in: with this variable set to 1, a kubeconfig may name a
 * plain http:// server (refused otherwise: the bearer token and Secret data
 * would travel unencrypted). Never set it outside tests. */
#define KUBE_PLAIN_HTTP_FOR_TESTS_ENV "ORGSECRETS_TEST_ONLY_ALLOW_PLAIN_HTTP"

/* Loads context (NULL: current-context) from the kubeconfig at path: the
 * server must be https:// with a host (see KUBE_PLAIN_HTTP_FOR_TESTS_ENV),
 * insecure-skip-tls-verify excludes CA data, a token holds no control
 * character. Errors name the file and the field. Caller frees with
 * kube_config_free(). */
int kube_config_load(kube_config **out, const char *path, const char *context, os_error *err);

/* In-cluster configuration from KUBERNETES_SERVICE_HOST/PORT and the
 * service-account directory ($ORGSECRETS_SA_DIR, default
 * /var/run/secrets/kubernetes.io/serviceaccount). */
int kube_config_in_cluster(kube_config **out, os_error *err);

void kube_config_free(kube_config *c);

/* True when token can be a bearer token: non-empty, no control character
 * (CR and LF would split the Authorization header). */
bool kube_token_valid(const char *token);

/* Result of an exec credential plugin. token, key_pem are secret. */
typedef struct kube_exec_result {
  char *token;
  char *cert_pem;
  char *key_pem;
  size_t cert_len, key_len;
  time_t expiry;       /* 0: does not expire */
} kube_exec_result;

/* Parses an ExecCredential JSON document (stdout of a plugin) expecting
 * api_version. Errors never quote the document. */
int kube_exec_parse(kube_exec_result *out, const char *json, size_t len, const char *api_version,
                    os_error *err);

/* Runs the plugin (no shell), waits at most timeout_ms, parses its output. */
int kube_exec_run(kube_exec_result *out, const kube_exec_config *ec, long timeout_ms,
                  os_error *err);

void kube_exec_result_clear(kube_exec_result *r);

/* Token bucket: burst tokens, refilled at qps per second. */
typedef struct kube_ratelimit {
  double qps;
  double burst;
  double tokens;
  double last;         /* monotonic seconds of the last update */
} kube_ratelimit;

void kube_ratelimit_init(kube_ratelimit *rl, double qps, int burst, double now);

/* Takes one token at time now; returns how long the caller must wait
 * before sending (0 when a token was available). Reservations queue up:
 * tokens may go negative. */
double kube_ratelimit_reserve(kube_ratelimit *rl, double now);

/* Tests: lowers the response (64 MiB) and watch line (16 MiB) limits. */
struct kube_client;
void kube_client_set_limits(struct kube_client *c, size_t response_max, size_t line_max);

#endif
