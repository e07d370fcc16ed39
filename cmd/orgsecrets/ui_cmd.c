/* ui: the organization's secrets page on loopback (pkg/ui). */
#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "common/duration.h"
#include "org/org.h"
#include "ui/ui.h"

static const char usage[] =
    "usage: orgsecrets ui [--listen 127.0.0.1:PORT] [--no-open] [--idle-timeout DURATION]\n"
    "\n"
    "Serves the organization's secrets page (list, reveal, add, edit, delete,\n"
    "members, environments and applications, health, history) on a loopback\n"
    "address only, over this checkout (--dir) as the acting member (--as) with\n"
    "the identity file (-i). It changes exactly the files the CLI would and\n"
    "commits only when asked; it never pushes.\n"
    "\n"
    "Prints a URL with a one-time token and opens it with xdg-open (open on\n"
    "macOS) unless --no-open. The token is exchanged on first load for a\n"
    "session cookie; restart the page for a new link.\n"
    "\n"
    "  --listen ADDR:PORT      a loopback address (127.0.0.1, [::1], localhost);\n"
    "                          default 127.0.0.1:0, any free port\n"
    "  --no-open               print the URL only\n"
    "  --idle-timeout D        stop after D without a request (default 30m;\n"
    "                          90s, 10m, 1h)\n"
    "Stops on Ctrl-C (SIGINT) and SIGTERM.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* Starts xdg-open (open on macOS) on url without waiting; its output is
 * discarded. */
static void open_browser(const char *url) {
#ifdef __APPLE__
  const char *prog = "open";
#else
  const char *prog = "xdg-open";
#endif
  pid_t pid = fork();
  if (pid < 0)
    return;
  if (pid == 0) {
    /* a grandchild, so that nobody has to wait for the browser */
    if (fork() != 0)
      _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    execlp(prog, prog, url, (char *)NULL);
    _exit(127);
  }
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

int cmd_ui(cli_ctx *ctx, int argc, char **argv) {
  const char *listen = NULL, *idle = NULL, *hide_ms = NULL;
  bool no_open = false;
  const cli_opt opts[] = {{"--listen", NULL, CLI_VALUE, &listen},
                          {"--no-open", NULL, CLI_FLAG, &no_open},
                          {"--idle-timeout", NULL, CLI_VALUE, &idle},
                          {"--test-hide-after-ms", NULL, CLI_VALUE, &hide_ms}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  ui_options o = {.listen = listen, .dir = cli_dir(ctx)};
  int64_t idle_s = 0;
  if (idle != NULL && (os_duration_parse(&idle_s, idle) < 0 || idle_s == 0))
    return cli_usage_error(usage, "ui: invalid --idle-timeout %s (e.g. 90s, 30m, 1h)", idle);
  o.idle_timeout_s = (unsigned)idle_s;
  long ms = 0;
  if (hide_ms != NULL && cli_parse_long(&ms, hide_ms, 1, 3600000) < 0)
    return cli_usage_error(usage, "ui: invalid --test-hide-after-ms %s", hide_ms);
  o.hide_after_ms = (unsigned)ms;

  os_error err = OS_ERROR_INIT;
  if (ui_listen_check(listen != NULL ? listen : "127.0.0.1:0", &err) < 0)
    return cli_fail("ui", &err);
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  char org[128];
  snprintf(org, sizeof(org), "%s", t->org->id);
  spec_tree_free(t);
  char *actor = NULL;
  const org_ctx oc = {.actor = ctx->as};
  if (org_actor(&actor, &oc, o.dir, &err) < 0)
    cli_note("ui: %s; the page will only list", err.msg);
  o.as = actor;
  char idpath[PATH_MAX];
  os_error_clear(&err);
  if (org_identity_path(idpath, sizeof(idpath), ctx->identity, &err) == 0)
    o.identity = idpath;

  ui_server *s = NULL;
  int status = CLI_FAIL;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (ui_server_new(&s, &o, &err) < 0 || ui_server_start(s, &err) < 0) {
    status = cli_fail("ui", &err);
    goto done;
  }
  char url[256];
  if (ui_server_url(url, sizeof(url), s) < 0) {
    status = cli_failf("ui: internal error: no URL");
    goto done;
  }
  fprintf(stderr, "orgsecrets: ui: organization %s as %s, on loopback only; open (the token "
                  "works once):\n", org, o.as != NULL ? o.as : "(no member)");
  printf("%s\n", url);
  fflush(stdout);
  if (!no_open)
    open_browser(url);
  OPENSSL_cleanse(url, sizeof(url));
  enum ui_stop_reason why = ui_server_run(s, &stop_flag);
  fprintf(stderr, "orgsecrets: ui: %s; stopped\n",
          why == UI_STOP_IDLE ? "idle timeout" : "signal received");
  status = CLI_OK;
done:
  ui_server_free(s);
  free(actor);
  return status;
}
