/* reveal and delete: one secret by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "seal/seal.h"

static const char reveal_usage[] =
    "usage: orgsecrets reveal NAME --env ENV\n"
    "\n"
    "Unseals the secret with the identity file (-i) and writes its value to\n"
    "stdout byte for byte (no newline added). Viewers can reveal only secrets\n"
    "marked --visible-to-viewers; whoever is not a recipient cannot open it.\n";

int cmd_reveal(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 1, reveal_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(reveal_usage, "reveal: NAME is required");
  if (env == NULL)
    return cli_usage_error(reveal_usage, "reveal: --env is required");
  const char *name = a.pos[0];
  char what[SPEC_NAME_MAX + 128];
  snprintf(what, sizeof(what), "reveal %s/%s", env, name);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  age_identity **ids = NULL;
  size_t n_ids = 0;
  uint8_t *value = NULL;
  size_t len = 0;
  int status = CLI_FAIL;
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  const spec_secret *s = spec_tree_find_secret(t, env, name);
  if (s == NULL) {
    status = cli_failf("%s: no such secret", what);
    goto done;
  }
  /* a friendly refusal for a known viewer; the real check is the cryptography */
  const char *as = ctx->as;
  if (as != NULL) {
    const spec_member *m = spec_org_find_member(t->org, as);
    if (m != NULL && m->role == SPEC_ROLE_VIEWER && !s->visible_to_viewers) {
      status = cli_failf("%s: permission denied: %s is a viewer and the secret is not visible "
                         "to viewers", what, as);
      goto done;
    }
  }
  if (cli_load_identities(&ids, &n_ids, ctx, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (seal_unseal(&value, &len, s, (const age_identity *const *)ids, n_ids, &err) < 0) {
    status = cli_fail("reveal", &err);
    goto done;
  }
  if (cli_write_all(1, value, len) < 0) {
    status = cli_failf("%s: write stdout: %s", what, strerror(errno));
    goto done;
  }
  status = CLI_OK;
done:
  os_free_secret(value, len);
  age_identities_free(ids, n_ids);
  spec_tree_free(t);
  return status;
}

static const char delete_usage[] =
    "usage: orgsecrets delete NAME --env ENV [--yes]\n"
    "\n"
    "Deletes the secret (its file, or its document in a multi-document file);\n"
    "the controller removes it from every target on its next reconcile. On a\n"
    "terminal it asks for confirmation unless --yes; without a terminal,\n"
    "--yes is required. Needs an admin (--as).\n";

int cmd_delete(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL;
  bool yes = false;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env}, {"--yes", "-y", CLI_FLAG, &yes}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 1, delete_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(delete_usage, "delete: NAME is required");
  if (env == NULL)
    return cli_usage_error(delete_usage, "delete: --env is required");
  const char *name = a.pos[0];
  char what[SPEC_NAME_MAX + 128];
  snprintf(what, sizeof(what), "delete %s/%s", env, name);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  spec_secret *gone = NULL;
  int status = CLI_FAIL;
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  const spec_member *who = NULL;
  if (cli_require_role(&who, ctx, t, 1u << SPEC_ROLE_ADMIN, what) != 0)
    goto done;
  if (spec_tree_find_secret(t, env, name) == NULL) {
    status = cli_failf("%s: no such secret", what);
    goto done;
  }
  if (!yes) {
    if (isatty(0) != 1) {
      status = cli_failf("%s: not confirmed: pass --yes (no terminal to ask on)", what);
      goto done;
    }
    fprintf(stderr, "delete %s in %s? [y/N] ", name, env);
    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL || (line[0] != 'y' && line[0] != 'Y')) {
      status = cli_failf("%s: not confirmed", what);
      goto done;
    }
  }
  gone = spec_tree_take_secret(t, env, name);
  if (gone == NULL || gone->pos.file == NULL) {
    status = cli_failf("%s: internal error: secret has no file", what);
    goto done;
  }
  if (cli_write_file(t, gone->pos.file, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: deleted %s/%s\n", env, name);
  status = CLI_OK;
done:
  spec_secret_free(gone);
  spec_tree_free(t);
  return status;
}
