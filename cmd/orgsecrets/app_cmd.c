/* app add. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char app_usage[] =
    "usage: orgsecrets app add APP --namespace NS [--namespace NS]... [--secret-name NAME]\n"
    "\n"
    "Adds an application (a DNS-1123 label) and the namespaces it runs in.\n"
    "Its secrets (`set --app APP`) are delivered to one Kubernetes Secret per\n"
    "namespace (default name <app>-secrets). Needs an admin (--as).\n";

static int app_add(cli_ctx *ctx, int argc, char **argv) {
  cli_list namespaces = {0};
  const char *secret_name = NULL;
  const cli_opt opts[] = {{"--namespace", "-n", CLI_LIST, &namespaces},
                          {"--secret-name", NULL, CLI_VALUE, &secret_name}};
  cli_args a;
  spec_tree *t = NULL;
  int status = CLI_USAGE;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 1, app_usage);
  if (prc != 0) {
    status = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  if (a.n_pos != 1) {
    status = cli_usage_error(app_usage, "app add: APP is required");
    goto done;
  }
  if (namespaces.n == 0) {
    status = cli_usage_error(app_usage, "app add: at least one --namespace is required");
    goto done;
  }
  const org_app_opts o = {.name = a.pos[0],
                          .namespaces = namespaces.v,
                          .n_namespaces = namespaces.n,
                          .secret_name = secret_name};
  char what[128];
  snprintf(what, sizeof(what), "app add %s", o.name);
  os_error err = OS_ERROR_INIT;
  status = CLI_FAIL;
  if (org_app_check(&o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if (org_app_add(oc, t, &o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: added application %s\n", o.name);
  status = CLI_OK;
done:
  spec_tree_free(t);
  cli_list_free(&namespaces);
  return status;
}

int cmd_app(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(app_usage, stdout);
    return CLI_OK;
  }
  if (argc >= 2 && strcmp(argv[1], "add") == 0)
    return app_add(ctx, argc - 1, argv + 1);
  return cli_usage_error(app_usage, "app: expected `app add`");
}
