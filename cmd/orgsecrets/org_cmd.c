/* org set: the organization's own settings (the rotation policy). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets org set --rotation-days N\n"
    "\n"
    "Sets the organization's rotation policy in organization.yaml: `lint`\n"
    "warns about values not changed for more than N days (0: no policy).\n"
    "A secret's own policy (`set NAME --rotation-days N`) wins over it. Needs\n"
    "an admin (--as).\n";

int cmd_org(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (argc < 2 || strcmp(argv[1], "set") != 0)
    return cli_usage_error(usage, "org: expected `org set`");
  const char *days_s = NULL;
  const cli_opt opts[] = {{"--rotation-days", NULL, CLI_VALUE, &days_s}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc - 1, argv + 1, opts, 1, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (days_s == NULL)
    return cli_usage_error(usage, "org set: give --rotation-days N");
  long days = 0;
  if (cli_parse_long(&days, days_s, 0, SPEC_ROTATION_DAYS_MAX) < 0)
    return cli_usage_error(usage, "org set: invalid --rotation-days %s: must be 0 to %d", days_s,
                           SPEC_ROTATION_DAYS_MAX);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  int status = CLI_OK;
  if (org_set_rotation(oc, t, (int)days, &err) < 0)
    status = cli_fail("org set", &err);
  else if (days == 0)
    fprintf(stderr, "orgsecrets: organization %s has no rotation policy now\n", t->org->id);
  else
    fprintf(stderr, "orgsecrets: organization %s: values older than %ld days are reported by "
                    "lint\n", t->org->id, days);
  spec_tree_free(t);
  return status;
}
