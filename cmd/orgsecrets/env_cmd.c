/* env add. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char env_usage[] =
    "usage: orgsecrets env add ENV --controller AGE1... [--controller AGE1...]\n"
    "                          [--namespace NS]... [--env-file PATH] [--secret-name NAME]\n"
    "\n"
    "Adds an environment (a DNS-1123 label such as dev, staging, prod). Each\n"
    "--controller is the public key of a controller that deploys it: its\n"
    "secrets are sealed to them. --namespace lists where organization-level\n"
    "secrets are delivered; --secret-name overrides the Kubernetes Secret name\n"
    "(default <org>-secrets). Needs an admin (--as).\n";

static int env_add(cli_ctx *ctx, int argc, char **argv) {
  cli_list controllers = {0}, namespaces = {0};
  const char *env_file = NULL, *secret_name = NULL;
  const cli_opt opts[] = {{"--controller", NULL, CLI_LIST, &controllers},
                          {"--namespace", "-n", CLI_LIST, &namespaces},
                          {"--env-file", NULL, CLI_VALUE, &env_file},
                          {"--secret-name", NULL, CLI_VALUE, &secret_name}};
  cli_args a;
  spec_tree *t = NULL;
  int status = CLI_USAGE;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 4, 1, env_usage);
  if (prc != 0) {
    status = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  if (a.n_pos != 1) {
    status = cli_usage_error(env_usage, "env add: ENV is required");
    goto done;
  }
  if (controllers.n == 0) {
    status = cli_usage_error(env_usage, "env add: at least one --controller is required");
    goto done;
  }
  const org_env_opts o = {.name = a.pos[0],
                          .controllers = controllers.v,
                          .n_controllers = controllers.n,
                          .namespaces = namespaces.v,
                          .n_namespaces = namespaces.n,
                          .env_file = env_file,
                          .secret_name = secret_name};
  char what[128];
  snprintf(what, sizeof(what), "env add %s", o.name);
  os_error err = OS_ERROR_INIT;
  status = CLI_FAIL;
  if (org_env_check(&o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if (org_env_add(oc, t, &o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: added environment %s\n", o.name);
  status = CLI_OK;
done:
  spec_tree_free(t);
  cli_list_free(&controllers);
  cli_list_free(&namespaces);
  return status;
}

int cmd_env(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(env_usage, stdout);
    return CLI_OK;
  }
  if (argc >= 2 && strcmp(argv[1], "add") == 0)
    return env_add(ctx, argc - 1, argv + 1);
  return cli_usage_error(env_usage, "env: expected `env add`");
}
