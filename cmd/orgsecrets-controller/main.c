/* orgsecrets-controller: flags and signals only; the work is in pkg/reconcile. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/clock.h"
#include "common/duration.h"
#include "common/log.h"
#include "reconcile/controller.h"

#ifndef ORGSECRETS_VERSION
#error "ORGSECRETS_VERSION comes from project(VERSION) in CMakeLists.txt"
#endif

static volatile int stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static const char usage[] =
    "usage: orgsecrets-controller --environment ENV --identity FILE [--identity FILE]...\n"
    "         [--source DIR | --source cluster] [--kubeconfig FILE]\n"
    "         [--env-file-dir DIR] [--no-kubernetes] [--once] [--resync DURATION]\n"
    "         [--listen ADDR:PORT] [--webhook-listen ADDR:PORT --tls-cert F --tls-key F]\n"
    "         [--leader-elect --lease-namespace NS [--lease-name NAME] [--lease-duration DURATION]]\n"
    "         [--audit-log FILE] [--qps N] [--burst N] [--no-rollout] [--log-format text|json] [-v]\n"
    "\n"
    "Delivers the sealed secrets of one environment to Kubernetes Secrets and/or env files.\n"
    "\n"
    "  --environment ENV      the environment this controller deploys (required)\n"
    "  --identity FILE        age identity file of the controller; repeat for key rotation\n"
    "  --source DIR|cluster   a folder of specs (default .) or the custom resources\n"
    "  --kubeconfig FILE      else in-cluster configuration, else $KUBECONFIG\n"
    "  --env-file-dir DIR     also write one env file per (organization, application)\n"
    "  --no-kubernetes        do not talk to a cluster (env files only)\n"
    "  --once                 one pass; exit 0 only if everything converged\n"
    "  --resync DURATION      full pass period (default 5m; 30s, 10m, 1h)\n"
    "  --listen ADDR:PORT     serve /healthz /readyz /metrics /v1/recipients\n"
    "  --webhook-listen A:P   serve the pod admission webhook (HTTPS) at /mutate-pods\n"
    "  --leader-elect         only the holder of the Lease writes\n"
    "  --audit-log FILE       hash-chained audit log (names, never values)\n"
    "  --no-rollout           do not annotate workloads when a Secret they use changes\n";

/* A duration option into whole seconds (os_duration_parse). */
static int parse_duration(int *out, const char *s) {
  int64_t v = 0;
  if (os_duration_parse(&v, s) < 0)
    return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  enum { O_ENV = 256, O_ID, O_SOURCE, O_KUBECONFIG, O_ENVDIR, O_NOKUBE, O_ONCE, O_RESYNC, O_LISTEN,
         O_WLISTEN, O_CERT, O_KEY, O_LEADER, O_LEASE_NS, O_LEASE_NAME, O_LEASE_DUR, O_AUDIT, O_QPS,
         O_BURST, O_NOROLLOUT, O_LOGFMT, O_VERSION };
  static const struct option opts[] = {
      {"environment", required_argument, NULL, O_ENV}, {"identity", required_argument, NULL, O_ID},
      {"source", required_argument, NULL, O_SOURCE}, {"kubeconfig", required_argument, NULL, O_KUBECONFIG},
      {"env-file-dir", required_argument, NULL, O_ENVDIR}, {"no-kubernetes", no_argument, NULL, O_NOKUBE},
      {"once", no_argument, NULL, O_ONCE}, {"resync", required_argument, NULL, O_RESYNC},
      {"listen", required_argument, NULL, O_LISTEN}, {"webhook-listen", required_argument, NULL, O_WLISTEN},
      {"tls-cert", required_argument, NULL, O_CERT}, {"tls-key", required_argument, NULL, O_KEY},
      {"leader-elect", no_argument, NULL, O_LEADER}, {"lease-namespace", required_argument, NULL, O_LEASE_NS},
      {"lease-name", required_argument, NULL, O_LEASE_NAME},
      {"lease-duration", required_argument, NULL, O_LEASE_DUR},
      {"audit-log", required_argument, NULL, O_AUDIT}, {"qps", required_argument, NULL, O_QPS},
      {"burst", required_argument, NULL, O_BURST}, {"no-rollout", no_argument, NULL, O_NOROLLOUT},
      {"log-format", required_argument, NULL, O_LOGFMT}, {"version", no_argument, NULL, O_VERSION},
      {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  reconcile_controller_options o;
  memset(&o, 0, sizeof(o));
  o.rollout = true;
  o.resync_s = 300;
  const char *ids[16];
  size_t n_ids = 0;
  const char *source = ".";
  int verbose = 0, json_logs = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
    switch (ch) {
    case 'h': fputs(usage, stdout); return 0;
    case 'v': verbose = 1; break;
    case O_VERSION: printf("orgsecrets-controller %s\n", ORGSECRETS_VERSION); return 0;
    case O_ENV: o.environment = optarg; break;
    case O_ID:
      if (n_ids == sizeof(ids) / sizeof(ids[0])) {
        fprintf(stderr, "orgsecrets-controller: too many --identity files (at most 16)\n");
        return 2;
      }
      ids[n_ids++] = optarg;
      break;
    case O_SOURCE: source = optarg; break;
    case O_KUBECONFIG: o.kubeconfig = optarg; break;
    case O_ENVDIR: o.env_file_dir = optarg; break;
    case O_NOKUBE: o.no_kubernetes = true; break;
    case O_ONCE: o.once = true; break;
    case O_RESYNC:
      if (parse_duration(&o.resync_s, optarg) < 0 || o.resync_s == 0) {
        fprintf(stderr, "orgsecrets-controller: --resync %s: not a duration like 30s, 5m or 1h\n", optarg);
        return 2;
      }
      break;
    case O_LISTEN: o.listen = optarg; break;
    case O_WLISTEN: o.webhook_listen = optarg; break;
    case O_CERT: o.tls_cert = optarg; break;
    case O_KEY: o.tls_key = optarg; break;
    case O_LEADER: o.leader_elect = true; break;
    case O_LEASE_NS: o.lease_namespace = optarg; break;
    case O_LEASE_NAME: o.lease_name = optarg; break;
    case O_LEASE_DUR:
      if (parse_duration(&o.lease_duration_s, optarg) < 0 || o.lease_duration_s < 2) {
        fprintf(stderr, "orgsecrets-controller: --lease-duration %s: not a duration of 2s or more\n", optarg);
        return 2;
      }
      break;
    case O_AUDIT: o.audit_log = optarg; break;
    case O_QPS: {
      char *end = NULL;
      o.qps = strtod(optarg, &end);
      if (end == optarg || *end != '\0' || o.qps <= 0) {
        fprintf(stderr, "orgsecrets-controller: --qps %s: not a positive number\n", optarg);
        return 2;
      }
      break;
    }
    case O_BURST: {
      char *end = NULL;
      long b = strtol(optarg, &end, 10);
      if (end == optarg || *end != '\0' || b <= 0 || b > 100000) {
        fprintf(stderr, "orgsecrets-controller: --burst %s: not a positive integer\n", optarg);
        return 2;
      }
      o.burst = (int)b;
      break;
    }
    case O_NOROLLOUT: o.rollout = false; break;
    case O_LOGFMT:
      if (strcmp(optarg, "json") == 0)
        json_logs = 1;
      else if (strcmp(optarg, "text") != 0) {
        fprintf(stderr, "orgsecrets-controller: --log-format must be text or json\n");
        return 2;
      }
      break;
    default: fputs(usage, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "orgsecrets-controller: unexpected argument %s\n", argv[optind]);
    return 2;
  }
  if (o.environment == NULL || n_ids == 0) {
    fprintf(stderr, "orgsecrets-controller: --environment and --identity are required\n");
    return 2;
  }
  if (strcmp(source, "cluster") == 0)
    o.source_cluster = true;
  else
    o.source_dir = source;
  if (o.no_kubernetes && o.env_file_dir == NULL) {
    fprintf(stderr, "orgsecrets-controller: --no-kubernetes needs --env-file-dir (nothing to deliver to)\n");
    return 2;
  }
  if (o.webhook_listen != NULL && (o.tls_cert == NULL || o.tls_key == NULL)) {
    fprintf(stderr, "orgsecrets-controller: --webhook-listen needs --tls-cert and --tls-key\n");
    return 2;
  }
  if (o.leader_elect && o.no_kubernetes) {
    fprintf(stderr, "orgsecrets-controller: --leader-elect needs Kubernetes\n");
    return 2;
  }
  os_error now_err = OS_ERROR_INIT;
  if (os_now_check(&now_err) < 0) {
    fprintf(stderr, "orgsecrets-controller: %s\n", now_err.msg);
    return 2;
  }
  o.identity_files = ids;
  o.n_identity_files = n_ids;
  os_log_setup(verbose ? OS_LOG_DEBUG : OS_LOG_INFO, json_logs);
#ifdef M_ARENA_MAX
  /* a few long-lived, mostly idle threads: one malloc arena, so memory one
   * thread frees (a parsed list, a request body) is reused by the others
   * instead of sitting in a second arena (measured: 3 MiB less at 10,000
   * secrets) */
  mallopt(M_ARENA_MAX, 1);
  /* a fixed threshold: arrays sized by the number of secrets (a plan's
   * entries and results, listings) are mapped and unmapped whole, instead of
   * glibc raising the threshold after the first free and carving them from
   * the heap, where each pass left holes */
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
#endif
  /* the process holds private keys and values: no core dumps, no ptrace by
   * other processes of the same user */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    os_log_warn("cannot disable core dumps");

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  os_error err = OS_ERROR_INIT;
  int rc = reconcile_controller_run(&o, &stop_flag, &err);
  if (rc < 0) {
    fprintf(stderr, "orgsecrets-controller: %s\n", err.msg);
    return 1;
  }
  return 0;
}
