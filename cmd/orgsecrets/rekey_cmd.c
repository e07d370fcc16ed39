/* rekey: re-seal values whose recipient set is out of date. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets rekey [--dry-run [-o table|json]] [--yes]\n"
    "\n"
    "Finds the secrets sealed to an out-of-date set of recipients (a member\n"
    "added, removed or changed role, a controller key rotated, a viewer flag\n"
    "changed), opens each with -i and seals it again to the current set. The\n"
    "ciphertext and recipients change; the value, updatedAt and rotatedAt do\n"
    "not. When someone lost access, a line\n"
    "  rotate: ENV/NAME (was readable by WHO)\n"
    "is printed on stdout: they may have kept the value, so change it with\n"
    "`orgsecrets set`. Secrets -i cannot open are reported and counted; the\n"
    "others are still re-sealed and written, and the exit status is 1.\n"
    "When re-sealing would give someone access they do not have (a new member\n"
    "or controller key, a viewer of a secret now visibleToViewers), a line\n"
    "  grant: ENV/NAME to WHO\n"
    "is printed on stdout for each, and nothing is written unless --yes is\n"
    "given or the answer on the terminal is y.\n"
    "--dry-run lists what would change (grant: and rotate: lines) without writing;\n"
    "with -o json, as one JSON object (docs/cli.md lists its fields).\n";

/* Prints "grant: ENV/NAME to WHO" for every reader re-sealing adds. */
static void print_grants(const org_rekey_plan *p) {
  for (size_t i = 0; i < p->n; i++) {
    const org_rekey_item *it = &p->v[i];
    char label[SPEC_NAME_MAX + 160];
    org_secret_label(label, sizeof(label), it->secret->environment, it->secret->application,
                     it->secret->name);
    for (size_t k = 0; k < it->n_gains; k++)
      printf("grant: %s to %s%s\n", label, it->gains[k].who,
             it->gains[k].as_viewer ? ", as the secret is visibleToViewers" : "");
  }
  fflush(stdout);
}

/* --yes, or a "y" on the terminal; false when there is no terminal to ask. */
static bool confirmed(bool yes, size_t grants, size_t secrets) {
  if (yes)
    return true;
  if (isatty(0) != 1)
    return false;
  fprintf(stderr, "re-sealing gives %zu new reader(s) access to %zu secret(s) (grant: lines "
                  "above); go on? [y/N] ", grants, secrets);
  char line[16];
  return fgets(line, sizeof(line), stdin) != NULL && (line[0] == 'y' || line[0] == 'Y');
}

int cmd_rekey(cli_ctx *ctx, int argc, char **argv) {
  bool dry_run = false, yes = false;
  const char *format = NULL;
  const cli_opt opts[] = {{"--dry-run", "-n", CLI_FLAG, &dry_run},
                          {"--yes", "-y", CLI_FLAG, &yes},
                          {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  enum cli_format fmt;
  if (cli_format_parse(&fmt, format, false, usage, "rekey") < 0)
    return CLI_USAGE;
  if (fmt == CLI_FORMAT_JSON && !dry_run)
    return cli_usage_error(usage, "rekey: -o json needs --dry-run");

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  org_rekey_plan p = {0};
  int status = CLI_FAIL;
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
    goto done;
  if (org_rekey_plan_build(&p, t, &err) < 0) {
    status = cli_fail("rekey", &err);
    goto done;
  }
  if (fmt == CLI_FORMAT_JSON) {
    status = cli_print_json(org_rekey_plan_json(&p), "rekey");
    goto done;
  }
  if (p.n == 0) {
    fprintf(stderr, "orgsecrets: every secret is sealed to its current recipients\n");
    status = CLI_OK;
    goto done;
  }
  /* widening first: nobody gains access to a value without saying yes */
  if (p.grants > 0)
    print_grants(&p);
  if (p.grants > 0 && dry_run) {
    cli_note("rekey would give %zu new reader(s) access to %zu secret(s) (grant: lines); it "
             "will ask, or needs --yes", p.grants, p.widened);
  } else if (p.grants > 0 && !confirmed(yes, p.grants, p.widened)) {
    status = cli_failf("rekey: not confirmed: re-sealing would give %zu new reader(s) access to "
                       "%zu secret(s) (grant: lines on stdout); check them, then pass --yes",
                       p.grants, p.widened);
    goto done;
  }
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  if (!dry_run && org_keys_get(&ids, &n_ids, oc->keys, &err) < 0) {
    status = cli_fail("rekey", &err);
    goto done;
  }
  /* a failed write comes after the secrets were re-sealed: they are listed first */
  int arc = dry_run ? 0 : org_rekey_apply(oc, t, &p, &err);
  size_t rekeyed = 0;
  for (size_t i = 0; i < p.n; i++) {
    const org_rekey_item *it = &p.v[i];
    if (it->error != NULL) {
      cli_failf("rekey: %s", it->error);
      continue;
    }
    rekeyed++;
    char label[SPEC_NAME_MAX + 160];
    org_secret_label(label, sizeof(label), it->secret->environment, it->secret->application,
                     it->secret->name);
    fprintf(stderr, "orgsecrets: %s %s\n", dry_run ? "would re-seal" : "re-sealed", label);
    for (size_t k = 0; k < it->n_losses; k++) {
      printf("rotate: %s (was readable by %s)\n", label, it->losses[k].who);
      fflush(stdout);
    }
  }
  fflush(stdout);
  if (arc < 0) {
    status = cli_fail("rekey", &err);
    goto done;
  }
  char summary[2048];
  org_rekey_summary(summary, sizeof(summary), &p, !dry_run);
  if (p.failed > 0) {
    status = cli_failf("rekey: %s (see above)", summary);
    goto done;
  }
  fprintf(stderr, "orgsecrets: rekey: %s\n", summary);
  status = CLI_OK;
done:
  org_rekey_plan_free(&p);
  spec_tree_free(t);
  return status;
}
