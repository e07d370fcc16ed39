/* audit verify FILE: check a hash-chained audit log written by the controller. */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli.h"

static const char usage[] =
    "usage: orgsecrets audit verify FILE [--head [SEQ:]HASH]\n"
    "\n"
    "Verifies the hash chain of an audit log (orgsecrets-controller\n"
    "--audit-log): prints \"ok: N lines\" and the chain head as SEQ:HASH and\n"
    "exits 0, or names the first bad line (edited, removed, reordered, last\n"
    "line cut short) and exits 1. The file alone cannot show that whole lines\n"
    "were cut off its end: --head checks that the log still contains a head\n"
    "recorded earlier (the controller logs \"chain head seq N sha256 HASH\"\n"
    "when it opens and closes the log and every minute while it grows; or an\n"
    "earlier output of this command), and fails when it does not.\n";

int cmd_audit(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (argc < 2 || strcmp(argv[1], "verify") != 0)
    return cli_usage_error(usage, "audit: expected `audit verify FILE`");
  const char *anchor = NULL;
  const cli_opt opts[] = {{"--head", NULL, CLI_VALUE, &anchor}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc - 1, argv + 1, opts, 1, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "audit verify: FILE is required");
  os_error err = OS_ERROR_INIT;
  size_t n = 0;
  char head[AUDIT_HASH_HEX_LEN + 1];
  char what[4200];
  snprintf(what, sizeof(what), "audit verify %s", a.pos[0]);
  size_t at = 0;
  int rc = anchor != NULL ? audit_verify_file_anchored(a.pos[0], anchor, &n, head, &at, &err)
                          : audit_verify_file_head(a.pos[0], &n, head, &err);
  if (rc < 0)
    return cli_fail(what, &err);
  printf("ok: %zu lines\nhead: %zu:%s\n", n, n, head);
  if (anchor != NULL)
    printf("recorded head: line %zu (%zu line(s) added since)\n", at, n - at);
  return CLI_OK;
}
