/* env add|list|remove|use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char env_usage[] =
    "usage: orgsecrets env add ENV --controller AGE1... [--controller AGE1...]\n"
    "                          [--namespace NS]... [--env-file PATH] [--secret-name NAME]\n"
    "       orgsecrets env list [-o table|json]\n"
    "       orgsecrets env remove ENV [--delete-secrets]\n"
    "       orgsecrets env use [ENV | --unset]\n"
    "\n"
    "add: adds an environment (a DNS-1123 label such as dev, staging, prod;\n"
    "not `all`). Each --controller is the public key of a controller that\n"
    "deploys it: its secrets are sealed to them. --namespace lists where\n"
    "organization-level secrets are delivered; --secret-name overrides the\n"
    "Kubernetes Secret name (default <org>-secrets). Needs an admin (--as).\n"
    "list: environments with their controllers, namespaces and number of\n"
    "secrets; * marks this checkout's default.\n"
    "remove: refused while the environment has secrets, unless --delete-secrets\n"
    "(which deletes them). Needs an admin.\n"
    "use: makes ENV the default of this checkout for every command that takes\n"
    "--env (kept in its Git config, orgsecrets.env: never committed); without\n"
    "ENV it prints the default and where it comes from. Order: --env, then\n"
    "$ORGSECRETS_ENV, then `env use`, then the only environment.\n";

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
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
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

static int env_list(cli_ctx *ctx, int argc, char **argv) {
  spec_tree *t = NULL;
  enum cli_format fmt;
  int status = cli_listing(&t, &fmt, ctx, argc, argv, env_usage, "env list");
  if (t == NULL)
    return status;
  char *def = NULL;
  (void)org_env_checkout(&def, t->dir);
  const spec_org *o = t->org;
  if (fmt == CLI_FORMAT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < o->n_envs; i++) {
      const spec_environment *e = &o->envs[i];
      cli_json_push(&arr, org_env_json(t, e, def != NULL && strcmp(def, e->name) == 0));
    }
    status = cli_print_json(arr, "env list");
  } else {
    int w = 4;
    for (size_t i = 0; i < o->n_envs; i++) {
      int l = (int)strlen(o->envs[i].name) + 2;
      w = l > w ? l : w;
    }
    printf("%-*s  %-7s  %-11s  %s\n", w, "NAME", "SECRETS", "CONTROLLERS", "NAMESPACES");
    for (size_t i = 0; i < o->n_envs; i++) {
      const spec_environment *e = &o->envs[i];
      bool is_def = def != NULL && strcmp(def, e->name) == 0;
      printf("%s%-*s  %-7zu  %-11zu  ", is_def ? "* " : "", is_def ? w - 2 : w, e->name,
             org_count_secrets(t, e->name, NULL), e->n_controllers);
      for (size_t k = 0; k < e->n_namespaces; k++)
        printf("%s%s", k > 0 ? "," : "", e->namespaces[k]);
      printf("%s\n", e->n_namespaces == 0 ? "-" : "");
    }
  }
  free(def);
  spec_tree_free(t);
  return status;
}

int cli_remove_unit(const char **removed, cli_ctx *ctx, int argc, char **argv, const char *usage,
                    const char *word, const char *kind, cli_remove_fn fn) {
  *removed = NULL;
  bool delete_secrets = false;
  const cli_opt opts[] = {{"--delete-secrets", NULL, CLI_FLAG, &delete_secrets}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "%s remove: %s is required", word, word[0] == 'e' ? "ENV" : "APP");
  char what[128];
  snprintf(what, sizeof(what), "%s remove %s", word, a.pos[0]);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  size_t deleted = 0;
  int status = CLI_OK;
  if (fn(&deleted, oc, t, a.pos[0], delete_secrets, &err) < 0) {
    status = cli_fail(what, &err);
  } else {
    fprintf(stderr, "orgsecrets: removed %s %s (%zu secret(s) deleted)\n", kind, a.pos[0],
            deleted);
    *removed = a.pos[0];
  }
  spec_tree_free(t);
  return status;
}

static int env_remove(cli_ctx *ctx, int argc, char **argv) {
  const char *gone = NULL;
  int status =
      cli_remove_unit(&gone, ctx, argc, argv, env_usage, "env", "environment", org_env_remove);
  char *def = NULL;
  if (gone != NULL && org_env_checkout(&def, cli_dir(ctx)) > 0 && strcmp(def, gone) == 0)
    cli_note("it was this checkout's default: run `orgsecrets env use ENV` (or --unset)");
  free(def);
  return status;
}

static int env_use(cli_ctx *ctx, int argc, char **argv) {
  bool unset = false;
  const cli_opt opts[] = {{"--unset", NULL, CLI_FLAG, &unset}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 1, env_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (unset && a.n_pos > 0)
    return cli_usage_error(env_usage, "env use: ENV and --unset exclude each other");
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  int status = CLI_OK;
  if (a.n_pos == 0 && !unset) {
    /* the default a command would use here, and why */
    char *env = NULL;
    enum org_env_from from = ORG_ENV_NONE;
    if (org_env_default(&env, &from, t->dir, t->org, NULL, getenv("ORGSECRETS_ENV"), &err) < 0)
      status = cli_fail("env use", &err);
    else
      printf("%s (%s)\n", env, org_env_from_name(from));
    free(env);
  } else if (org_env_use(t, unset ? NULL : a.pos[0], &err) < 0) {
    status = cli_fail("env use", &err);
  } else if (unset) {
    fprintf(stderr, "orgsecrets: this checkout has no default environment now\n");
  } else {
    fprintf(stderr, "orgsecrets: %s is this checkout's default environment (git config "
                    "orgsecrets.env)\n", a.pos[0]);
    const char *var = getenv("ORGSECRETS_ENV");
    if (var != NULL && var[0] != '\0' && strcmp(var, a.pos[0]) != 0)
      cli_note("ORGSECRETS_ENV=%s is set and wins over it", var);
  }
  spec_tree_free(t);
  return status;
}

int cmd_env(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(env_usage, stdout);
    return CLI_OK;
  }
  static const struct {
    const char *word;
    int (*fn)(cli_ctx *, int, char **);
  } subs[] = {{"add", env_add}, {"list", env_list}, {"remove", env_remove}, {"use", env_use}};
  for (size_t k = 0; argc >= 2 && k < sizeof(subs) / sizeof(subs[0]); k++) {
    if (strcmp(argv[1], subs[k].word) == 0)
      return subs[k].fn(ctx, argc - 1, argv + 1);
  }
  return cli_usage_error(env_usage, "env: expected add, list, remove or use");
}
