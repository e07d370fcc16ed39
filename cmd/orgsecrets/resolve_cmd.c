/* resolve: keep one side of a Git merge conflict in a spec file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets resolve NAME --env ENV [--app APP] --ours|--theirs\n"
    "       orgsecrets resolve FILE --ours|--theirs\n"
    "\n"
    "After a Git merge (or rebase) left conflict markers in a secret's file,\n"
    "keeps one side: --ours (the branch you are on) or --theirs (the one being\n"
    "merged in), checks that it loads, writes the file and, in a merge, marks it\n"
    "resolved (git add). The other secrets are not touched. FILE (relative to\n"
    "the folder) works for any spec file, organization.yaml included, whose\n"
    "conflicts usually need a hand merge instead (see docs/operations.md).\n"
    "Run `orgsecrets lint` afterwards: a side sealed before a membership change\n"
    "may need `orgsecrets rekey`.\n";

int cmd_resolve(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL;
  bool ours = false, theirs = false;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--ours", NULL, CLI_FLAG, &ours},
                          {"--theirs", NULL, CLI_FLAG, &theirs}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 4, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "resolve: NAME (or FILE) is required");
  if (ours == theirs)
    return cli_usage_error(usage, "resolve: give one of --ours and --theirs");
  const char *what = a.pos[0];
  bool is_file =
      strchr(what, '/') != NULL || strstr(what, ".yaml") != NULL || strstr(what, ".yml") != NULL;
  if (!is_file && env == NULL)
    return cli_usage_error(usage, "resolve: --env is required with a secret NAME");
  char label[SPEC_NAME_MAX + 200], id[SPEC_NAME_MAX + 160];
  snprintf(label, sizeof(label), "resolve %s",
           is_file ? what : org_secret_label(id, sizeof(id), env, app, what));
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  char *file = NULL;
  if (org_resolve(&file, oc, ctx->dir, is_file ? what : NULL, env, app, is_file ? NULL : what,
                  theirs, &err) < 0)
    return cli_fail(label, &err);
  fprintf(stderr, "orgsecrets: %s: kept %s side of %s; run `orgsecrets lint`\n", label,
          theirs ? "their" : "our", file);
  free(file);
  return CLI_OK;
}
