/* The controller put together: identities, the API client, the parts
 * (controller_internal.h), the threads, and their tear-down. */
#include "reconcile/controller.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "reconcile/controller_internal.h"

#ifndef ORGSECRETS_VERSION
#error "ORGSECRETS_VERSION comes from project(VERSION) in CMakeLists.txt"
#endif

/* The oldest Kubernetes supported (docs/install.md says which and why; the
 * chart's kubeVersion says the same). */
#define KUBE_MIN_MAJOR 1
#define KUBE_MIN_MINOR 20

/* Refuses an API server older than the supported floor, naming both. */
static int check_server_version(kube_client *k, os_error *err) {
  int major = 0, minor = 0;
  char *gv = NULL;
  os_error e = OS_ERROR_INIT;
  int rc = kube_server_version(k, &major, &minor, &gv, &e);
  if (rc < 0)
    return os_error_set(err, rc, "reading the Kubernetes version: %s", e.msg);
  if (major < KUBE_MIN_MAJOR || (major == KUBE_MIN_MAJOR && minor < KUBE_MIN_MINOR))
    rc = os_error_set(err, OS_EINVAL,
                      "kubernetes API server %s (%d.%d) is older than %d.%d, the oldest version "
                      "orgsecrets supports (docs/install.md)",
                      gv[0] ? gv : "-", major, minor, KUBE_MIN_MAJOR, KUBE_MIN_MINOR);
  else
    os_log_info("kubernetes %s (%d.%d)", gv[0] ? gv : "-", major, minor);
  free(gv);
  return rc;
}

/* Loads every --identity file, logs their recipients, derives the checksum
 * key and the /v1/recipients document. */
static int load_identities(reconcile_ctl *c, os_error *err) {
  size_t cap = 0;
  for (size_t i = 0; i < c->o->n_identity_files; i++) {
    age_identity **ids = NULL;
    size_t n = 0;
    int rc = age_identities_load_file(&ids, &n, c->o->identity_files[i], err);
    if (rc < 0)
      return rc;
    if (os_grow(&c->ids, &cap, c->n_ids + n, sizeof(*c->ids), SIZE_MAX) < 0) {
      age_identities_free(ids, n);
      return os_error_set(err, OS_ENOMEM, "out of memory");
    }
    memcpy(c->ids + c->n_ids, ids, n * sizeof(*ids));
    c->n_ids += n;
    free(ids);
  }
  if (c->n_ids == 0)
    return os_error_set(err, OS_EINVAL, "no identity given (--identity FILE)");
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < c->n_ids; i++) {
    char *r = NULL;
    if (age_recipient_encode(&r, age_identity_recipient(c->ids[i]), err) < 0) {
      json_decref(arr);
      return err->code;
    }
    os_log_info("identity %zu: recipient %s", i + 1, r);
    json_array_append_new(arr, json_string(r));
    free(r);
  }
  json_t *doc =
      arr ? json_pack("{s:s,s:o}", "environment", c->o->environment, "recipients", arr) : NULL;
  c->endpoints.recipients_json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (c->endpoints.recipients_json == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return reconcile_plan_checksum_key(c->checksum_key, c->ids[0], err);
}

static int connect_kubernetes(reconcile_ctl *c, os_error *err) {
  kube_options ko = {.kubeconfig = c->o->kubeconfig,
                     .qps = c->o->qps,
                     .burst = c->o->burst,
                     .user_agent = "orgsecrets-controller/" ORGSECRETS_VERSION,
                     .observe = reconcile_metrics_observe_kube,
                     .observe_ctx = &c->metrics};
  int rc = kube_client_new(&c->k, &ko, err);
  if (rc == 0) {
    os_log_info("kubernetes API server %s", kube_client_server(c->k));
    rc = check_server_version(c->k, err);
  }
  if (rc == 0)
    rc = reconcile_event_recorder_new(&c->events, c->k, "orgsecrets-controller", err);
  return rc;
}

static void on_leader_change(void *ctx, bool leader) {
  reconcile_ctl *c = ctx;
  metrics_gauge_set(c->metrics.leader, NULL, leader ? 1 : 0);
  if (leader)
    reconcile_wake_mark(&c->wake, true);
}

static void *lease_thread(void *arg) {
  reconcile_ctl *c = arg;
  kube_lease_elector_run(c->lease, c->stop);
  return NULL;
}

static int new_elector(reconcile_ctl *c, os_error *err) {
  const reconcile_controller_options *o = c->o;
  char ident[300], host[256] = "unknown", lname[300];
  if (gethostname(host, sizeof(host) - 1) != 0)
    snprintf(host, sizeof(host), "unknown");
  snprintf(ident, sizeof(ident), "%s_%ld", host, (long)getpid());
  snprintf(lname, sizeof(lname), "orgsecrets-controller-%s", o->environment);
  kube_lease_options lo = {.namespace_ =
                               o->lease_namespace ? o->lease_namespace : "orgsecrets-system",
                           .name = o->lease_name ? o->lease_name : lname,
                           .identity = ident,
                           .duration_s = o->lease_duration_s};
  if (lo.duration_s > 0) {
    lo.renew_deadline_s = lo.duration_s * 2 / 3 > 0 ? lo.duration_s * 2 / 3 : 1;
    lo.retry_period_s = lo.duration_s / 5 > 0 ? lo.duration_s / 5 : 1;
  }
  return kube_lease_elector_new(&c->lease, c->k, &lo, on_leader_change, c, err);
}

int reconcile_controller_run(const reconcile_controller_options *o, volatile int *stop,
                             os_error *err) {
  reconcile_ctl *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  c->o = o;
  c->stop = stop;
  reconcile_wake_init(&c->wake);
  reconcile_endpoints_init(&c->endpoints);
  pthread_t lease;
  bool lease_started = false, informers = false;
  int rc = reconcile_metrics_init(&c->metrics, err);
  if (rc == 0)
    rc = load_identities(c, err);
  if (rc == 0)
    rc = reconcile_load_init(c, err);
  if (rc == 0)
    rc = reconcile_audit_open(&c->audit, o->audit_log, err);
  if (rc == 0 && !o->no_kubernetes)
    rc = connect_kubernetes(c, err);
  if (rc == 0 && o->source_cluster && c->k == NULL)
    rc = os_error_set(err, OS_EINVAL, "--source cluster needs Kubernetes (drop --no-kubernetes)");
  if (rc == 0) {
    informers = true;
    rc = reconcile_informers_init(&c->informers, c->k, o->environment, o->source_cluster,
                                  o->once ? NULL : o->source_dir, &c->wake, stop, err);
  }
  if (rc == 0)
    rc = reconcile_endpoints_start(c, err);
  if (rc < 0)
    goto done;
  metrics_gauge_set(c->metrics.leader, NULL, o->leader_elect ? 0 : 1);

  if (o->once) {
    rc = reconcile_informers_list(&c->informers, err);
    if (rc == 0)
      rc = reconcile_loop_pass(c, true, err);
    goto done;
  }
  rc = reconcile_informers_start(&c->informers, err);
  if (rc == 0 && o->leader_elect && c->k != NULL) {
    rc = new_elector(c, err);
    int e = rc == 0 ? pthread_create(&lease, NULL, lease_thread, c) : 0;
    if (e != 0)
      rc = os_error_set(err, OS_EIO, "starting leader election: %s", strerror(e));
    lease_started = rc == 0;
  }
  if (rc == 0) {
    reconcile_loop_run(c);
    os_log_info("shutting down");
  }
  *stop = 1;
  reconcile_informers_stop(&c->informers);
  if (lease_started)
    pthread_join(lease, NULL); /* it releases the lease on its way out */
done:
  reconcile_endpoints_clear(&c->endpoints);
  kube_lease_elector_free(c->lease);
  reconcile_load_clear(&c->load);
  if (informers)
    reconcile_informers_clear(&c->informers);
  reconcile_event_recorder_free(c->events);
  kube_client_free(c->k);
  reconcile_audit_close(&c->audit);
  age_identities_free(c->ids, c->n_ids);
  OPENSSL_cleanse(c->checksum_key, sizeof(c->checksum_key));
  reconcile_metrics_clear(&c->metrics);
  reconcile_wake_destroy(&c->wake);
  free(c);
  return rc;
}
