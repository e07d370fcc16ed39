/* The global options as an org_ctx, and loading the folder. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

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
}

int cli_load_tree(spec_tree **out, const cli_ctx *ctx) {
  os_error err = OS_ERROR_INIT;
  if (org_load(out, ctx->dir, &err) == 0) {
    cli_warn_bad_files(*out);
    return 0;
  }
  char what[PATH_MAX + 16];
  snprintf(what, sizeof(what), "load %s", ctx->dir);
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
