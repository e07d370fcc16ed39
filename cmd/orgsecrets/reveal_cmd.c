/* reveal: one value on stdout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/buf.h"
#include "seal/seal.h"

static const char usage[] =
    "usage: orgsecrets reveal NAME [--env ENV] [--app APP] [--at REV]\n"
    "\n"
    "Unseals the secret with the identity file (-i) and writes its value to\n"
    "stdout byte for byte (no newline added). Without --app it is the\n"
    "organization-level secret (a note says when applications have their own of\n"
    "that name). A disabled secret is shown too, with a note on stderr. Viewers\n"
    "can reveal only secrets marked --visible-to-viewers; whoever is not a\n"
    "recipient cannot open it.\n"
    "--at REV opens the value as it was in Git commit REV (a hash, a tag,\n"
    "HEAD~2; `orgsecrets history NAME` lists the commits), e.g. to restore it:\n"
    "  orgsecrets reveal NAME --at REV | orgsecrets set NAME\n";

int cmd_reveal(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *at = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--at", NULL, CLI_VALUE, &at}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "reveal: NAME is required");
  const char *name = a.pos[0];
  if (at != NULL)
    return cli_reveal_at(ctx, name, env, app, at); /* history_cmd.c */
  char what[SPEC_NAME_MAX + 200], label[SPEC_NAME_MAX + 160];

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  uint8_t *value = NULL;
  size_t len = 0;
  int status = CLI_FAIL;
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, "reveal")) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  snprintf(what, sizeof(what), "reveal %s", org_secret_label(label, sizeof(label), env, app, name));
  const spec_secret *s = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  if (org_secret_readable(&s, oc, t, env, app, name, &err) < 0 ||
      org_keys_get(&ids, &n_ids, oc->keys, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (org_unseal(&value, &len, t->org, s, ids, n_ids, &err) < 0) {
    status = cli_fail("reveal", &err); /* the message names ENV/NAME */
    goto done;
  }
  if (cli_write_all(1, value, len) < 0) {
    status = cli_failf("%s: write stdout: %s", what, strerror(errno));
    goto done;
  }
  status = CLI_OK;
done:
  os_free_secret(value, len);
  spec_tree_free(t);
  return status;
}
