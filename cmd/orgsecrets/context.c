/* The global options as an org_ctx, the organization folder (named, or
 * found upward from the current directory), its environment, and loading
 * the folder. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_note(void *ctx, const char *msg) {
  (void)ctx;
  cli_note("%s", msg);
}

const org_ctx *cli_org(cli_ctx *ctx) {
  if (ctx->keys == NULL && (ctx->keys = org_keys_new(ctx->identity)) == NULL) {
    cli_failf("out of memory");
    return NULL;
  }
  ctx->org = (org_ctx){.actor = ctx->as, .keys = ctx->keys, .note = print_note};
  return &ctx->org;
}

void cli_ctx_close(cli_ctx *ctx) {
  org_keys_free(ctx->keys);
  ctx->keys = NULL;
  free(ctx->found_dir);
  ctx->found_dir = NULL;
  free(ctx->env_buf);
  ctx->env_buf = NULL;
}

const char *cli_dir(cli_ctx *ctx) {
  if (ctx->dir != NULL)
    return ctx->dir;
  if (ctx->found_dir == NULL && !ctx->discovered) {
    ctx->discovered = true;
    ctx->discover_err = (os_error)OS_ERROR_INIT;
    (void)org_discover(&ctx->found_dir, NULL, &ctx->discover_err);
  }
  return ctx->found_dir != NULL ? ctx->found_dir : ".";
}

int cli_load_tree(spec_tree **out, cli_ctx *ctx) {
  *out = NULL;
  const char *dir = cli_dir(ctx);
  if (ctx->dir == NULL && ctx->found_dir == NULL)
    return cli_failf("%s", ctx->discover_err.msg);
  os_error err = OS_ERROR_INIT;
  if (org_load(out, dir, &err) == 0) {
    cli_warn_bad_files(*out);
    return 0;
  }
  char what[PATH_MAX + 16];
  snprintf(what, sizeof(what), "load %s", dir);
  return cli_fail(what, &err);
}

void cli_warn_bad_files(const spec_tree *t) {
  for (size_t i = 0; i < t->n_bad; i++) {
    char *d = org_bad_describe(&t->bad[i]);
    cli_note("warning: %s:%d: %s; its secrets are left out", t->bad[i].file, t->bad[i].line,
             d ? d : org_bad_status(&t->bad[i]));
    free(d);
  }
}

int cli_env(const char **env, cli_ctx *ctx, const spec_tree *t, const char *what) {
  const char *flag = *env;
  char *pick = NULL;
  enum org_env_from from = ORG_ENV_NONE;
  os_error err = OS_ERROR_INIT;
  const char *dir = t != NULL ? t->dir : cli_dir(ctx);
  if (t == NULL && flag == NULL && ctx->dir == NULL && ctx->found_dir == NULL &&
      getenv("ORGSECRETS_ENV") == NULL)
    return cli_failf("%s: %s", what, ctx->discover_err.msg);
  if (org_env_default(&pick, &from, dir, t != NULL ? t->org : NULL, flag,
                      getenv("ORGSECRETS_ENV"), &err) < 0) {
    cli_note("%s: %s", what, err.msg);
    return err.code == OS_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
  }
  free(ctx->env_buf);
  ctx->env_buf = pick;
  *env = pick;
  if (from != ORG_ENV_FLAG)
    cli_note("environment %s (%s)", pick, org_env_from_name(from));
  return CLI_OK;
}

const org_ctx *cli_open(spec_tree **t, cli_ctx *ctx) {
  *t = NULL;
  const org_ctx *oc = cli_org(ctx);
  return oc != NULL && cli_load_tree(t, ctx) == 0 ? oc : NULL;
}

const org_ctx *cli_open_env(spec_tree **t, const char **env, int *status, cli_ctx *ctx,
                            const char *what) {
  *status = CLI_FAIL;
  const org_ctx *oc = cli_open(t, ctx);
  if (oc == NULL || (*status = cli_env(env, ctx, *t, what)) != CLI_OK)
    return NULL;
  *status = CLI_FAIL;
  return oc;
}

int cli_listing(spec_tree **t, enum cli_format *fmt, cli_ctx *ctx, int argc, char **argv,
                const char *usage, const char *what) {
  *t = NULL;
  const char *format = NULL;
  const cli_opt opts[] = {{"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (cli_format_parse(fmt, format, false, usage, what) < 0)
    return CLI_USAGE;
  return cli_load_tree(t, ctx) == 0 ? CLI_OK : CLI_FAIL;
}
