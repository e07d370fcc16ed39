/* delete: one secret, after confirmation. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets delete NAME [--env ENV] [--app APP] [--yes]\n"
    "\n"
    "Deletes the secret (its file, or its document in a multi-document file):\n"
    "without --app the organization-level one, with --app that application's;\n"
    "the controller removes it from every target on its next reconcile. On a\n"
    "terminal it asks for confirmation unless --yes; without a terminal,\n"
    "--yes is required. Needs an admin (--as).\n";

int cmd_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL;
  bool yes = false;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--yes", "-y", CLI_FLAG, &yes}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "delete: NAME is required");
  const char *name = a.pos[0];
  char what[SPEC_NAME_MAX + 200], label[SPEC_NAME_MAX + 160];

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  int status = CLI_FAIL;
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, "delete")) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  org_secret_label(label, sizeof(label), env, app, name);
  snprintf(what, sizeof(what), "delete %s", label);
  if (org_secret_delete_check(oc, t, env, app, name, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (!yes) {
    if (isatty(0) != 1) {
      status = cli_failf("%s: not confirmed: pass --yes (no terminal to ask on)", what);
      goto done;
    }
    if (app != NULL)
      fprintf(stderr, "delete %s of application %s in %s? [y/N] ", name, app, env);
    else
      fprintf(stderr, "delete %s in %s? [y/N] ", name, env);
    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL || (line[0] != 'y' && line[0] != 'Y')) {
      status = cli_failf("%s: not confirmed", what);
      goto done;
    }
  }
  if (org_secret_delete(oc, t, env, app, name, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: deleted %s\n", label);
  status = CLI_OK;
done:
  spec_tree_free(t);
  return status;
}
