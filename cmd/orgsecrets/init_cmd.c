/* init: a new organization folder. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "common/fsutil.h"

static const char usage[] =
    "usage: orgsecrets init --org ORG [--rotation-days N]\n"
    "\n"
    "Creates organization.yaml in the organization folder (--dir, else the\n"
    "current directory). ORG is a DNS-1123 label. --rotation-days sets the\n"
    "rotation policy that `lint` checks (0: none; `org set` changes it later).\n"
    "Refuses when the folder already has an organization or is inside one.\n"
    "Also writes .gitignore (or adds to it) so that temporary files of\n"
    "interrupted writes and rendered env files (.env, *.env) are never committed.\n"
    "Next: `orgsecrets member add YOU --role admin --recipient AGE1...`.\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv) {
  const char *org_id = NULL, *rotation = NULL;
  const cli_opt opts[] = {{"--org", NULL, CLI_VALUE, &org_id},
                          {"--rotation-days", NULL, CLI_VALUE, &rotation}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (org_id == NULL)
    return cli_usage_error(usage, "init: --org is required");
  long days = 0;
  if (rotation != NULL && cli_parse_long(&days, rotation, 0, ORG_ROTATION_DAYS_MAX) < 0)
    return cli_failf("init: invalid --rotation-days %s: must be 0 to %d", rotation,
                     ORG_ROTATION_DAYS_MAX);
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  /* the folder named, else this one: never the organization found upward */
  const char *dir = ctx->dir != NULL ? ctx->dir : ".";
  if (org_init(oc, dir, org_id, (int)days, &err) < 0)
    return cli_fail("init", &err);
  char *path = os_path_join(dir, "organization.yaml");
  fprintf(stderr, "orgsecrets: created organization %s in %s\n", org_id,
          path != NULL ? path : dir);
  free(path);
  return CLI_OK;
}
