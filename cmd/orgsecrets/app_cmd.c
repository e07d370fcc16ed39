/* app add|list|remove. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char app_usage[] =
    "usage: orgsecrets app add APP --namespace NS [--namespace NS]... [--secret-name NAME]\n"
    "       orgsecrets app list [-o table|json]\n"
    "       orgsecrets app remove APP [--delete-secrets]\n"
    "\n"
    "add: adds an application (a DNS-1123 label) and the namespaces it runs in.\n"
    "Its secrets (`set --app APP`) are delivered to one Kubernetes Secret per\n"
    "namespace (default name <app>-secrets). Needs an admin (--as).\n"
    "list: applications with their namespaces and number of secrets.\n"
    "remove: refused while the application has secrets (in any environment),\n"
    "unless --delete-secrets (which deletes them). Needs an admin.\n";

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
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
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

static int app_list(cli_ctx *ctx, int argc, char **argv) {
  spec_tree *t = NULL;
  enum cli_format fmt;
  int status = cli_listing(&t, &fmt, ctx, argc, argv, app_usage, "app list");
  if (t == NULL)
    return status;
  const spec_org *o = t->org;
  if (fmt == CLI_FORMAT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; i < o->n_apps; i++)
      cli_json_push(&arr, org_app_json(t, &o->apps[i]));
    status = cli_print_json(arr, "app list");
  } else {
    int w = 4;
    for (size_t i = 0; i < o->n_apps; i++) {
      int l = (int)strlen(o->apps[i].name);
      w = l > w ? l : w;
    }
    printf("%-*s  %-7s  %s\n", w, "NAME", "SECRETS", "NAMESPACES");
    for (size_t i = 0; i < o->n_apps; i++) {
      const spec_application *ap = &o->apps[i];
      printf("%-*s  %-7zu  ", w, ap->name, org_count_secrets(t, NULL, ap->name));
      for (size_t k = 0; k < ap->n_namespaces; k++)
        printf("%s%s", k > 0 ? "," : "", ap->namespaces[k]);
      printf("\n");
    }
  }
  spec_tree_free(t);
  return status;
}

int cmd_app(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(app_usage, stdout);
    return CLI_OK;
  }
  if (argc >= 2 && strcmp(argv[1], "add") == 0)
    return app_add(ctx, argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "list") == 0)
    return app_list(ctx, argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "remove") == 0) {
    const char *gone = NULL;
    return cli_remove_unit(&gone, ctx, argc - 1, argv + 1, app_usage, "app", "application",
                           org_app_remove);
  }
  return cli_usage_error(app_usage, "app: expected add, list or remove");
}
