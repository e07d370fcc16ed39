/* audit verify FILE: check a hash-chained audit log written by the controller. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef ORGSECRETS_HAVE_AUDIT
#include "audit/audit.h"
#endif

static const char usage[] =
    "usage: orgsecrets audit verify FILE\n"
    "\n"
    "Verifies the hash chain of an audit log (orgsecrets-controller\n"
    "--audit-log): prints \"ok: N lines\" and the chain head and exits 0, or\n"
    "names the first bad line (edited, removed, reordered, truncated) and\n"
    "exits 1. Keep the head elsewhere to detect a rewritten tail.\n";

int cmd_audit(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (argc < 2 || strcmp(argv[1], "verify") != 0)
    return cli_usage_error(usage, "audit: expected `audit verify FILE`");
  cli_args a;
  int prc = cli_parse(ctx, &a, argc - 1, argv + 1, NULL, 0, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "audit verify: FILE is required");
#ifdef ORGSECRETS_HAVE_AUDIT
  os_error err = OS_ERROR_INIT;
  size_t n = 0;
  char head[AUDIT_HASH_HEX_LEN + 1];
  char what[4200];
  snprintf(what, sizeof(what), "audit verify %s", a.pos[0]);
  if (audit_verify_file_head(a.pos[0], &n, head, &err) < 0)
    return cli_fail(what, &err);
  printf("ok: %zu lines\nhead: %s\n", n, head);
  return CLI_OK;
#else
  return cli_failf("audit verify: this build has no audit module");
#endif
}
