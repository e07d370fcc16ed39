/* The orgsecrets controller: sources (a folder or the custom resources),
 * plans, targets (Kubernetes Secrets, env files), status, events, metrics,
 * health, the pod webhook, leader election and the audit log, wired
 * together (controller_internal.h names the part each file holds).
 * cmd/orgsecrets-controller parses flags into reconcile_controller_options.
 * Threading: reconcile_controller_run() starts and joins its own threads
 * (one per informer, the folder watch, the lease elector, the HTTP
 * servers' workers) and runs the main loop on the calling thread; *stop may
 * be set from a signal handler. */
#ifndef ORGSECRETS_RECONCILE_CONTROLLER_H
#define ORGSECRETS_RECONCILE_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct reconcile_controller_options {
  const char *environment;
  const char *const *identity_files;
  size_t n_identity_files;
  const char *source_dir; /* NULL when source_cluster */
  bool source_cluster;
  const char *kubeconfig;   /* NULL: in-cluster, then $KUBECONFIG */
  const char *env_file_dir; /* NULL: no env files */
  bool no_kubernetes;
  bool once;
  int resync_s;       /* full pass period, default 300 */
  const char *listen; /* /healthz /readyz /metrics /v1/recipients */
  const char *webhook_listen;
  const char *tls_cert, *tls_key;
  bool leader_elect;
  const char *lease_namespace;
  const char *lease_name; /* default orgsecrets-controller-<env> */
  int lease_duration_s;
  const char *audit_log;
  double qps;
  int burst;
  bool rollout; /* annotate opted-in workloads on change */
} reconcile_controller_options;

/* Runs until *stop (or, with once, after one pass). Returns 0 when stopped
 * (with once: when the pass converged); OS_* otherwise, with err, also when
 * a thread cannot be started. */
int reconcile_controller_run(const reconcile_controller_options *o, volatile int *stop,
                             os_error *err);

#endif
