/* lint: every problem of the folder, plus naming, rotation, recipient and
 * plaintext-leak checks. */
#include <stdio.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets lint [--since REF] [--strict] [-o table|json]\n"
    "\n"
    "Checks the organization folder and prints one line per finding,\n"
    "FILE:LINE: error|warning: MESSAGE, on stdout (-o json: every field, see\n"
    "docs/cli.md). Exit status 1 when there is an error, 0 with warnings only;\n"
    "--strict (for CI) fails on warnings too.\n"
    "errors: YAML syntax, wrong types, unknown fields, duplicate secrets,\n"
    "  invalid names, unknown environments/applications, missing values or\n"
    "  recipients, names that decide what programs run or load (PATH, LD_*,\n"
    "  IFS, BASH_ENV, PYTHON*, ...; docs/security.md has the list), and anything in any non-hidden file below the folder that\n"
    "  looks like a plaintext secret outside an encryptedValue: AWS access key\n"
    "  ids, PEM private keys, age identities, GitHub/Slack/Stripe tokens,\n"
    "  `password: VALUE`-style assignments, and high-entropy strings (20+\n"
    "  characters of A-Za-z0-9+/=_- at 4.0 bits/character or more), and stale\n"
    "  temporary files of interrupted writes (.orgsecrets-tmp-*, *.tmp.XXXXXX).\n"
    "warnings: vague names (PASSWORD, SECRET, KEY, TOKEN, API_KEY, ..., such a\n"
    "  word followed only by digits like SECRET123, or fewer than 4 characters),\n"
    "  an environment suffix contradicting the environment (API_KEY_DEV in\n"
    "  prod), values older than their rotation policy (the secret's\n"
    "  rotationDays, else the organization's), and secrets\n"
    "  sealed to an out-of-date recipient set (run `orgsecrets rekey`), and,\n"
    "  in a Git checkout, changes since REF (default HEAD: uncommitted ones)\n"
    "  that let more keys read values: a new admin or member, a viewer made\n"
    "  member or admin, a member's key changed, a new viewer key while secrets\n"
    "  are visible to viewers, a new controller key of an environment, and a\n"
    "  secret whose visibleToViewers was turned on. In CI, pass the base\n"
    "  branch: lint --since origin/main.\n";

int cmd_lint(cli_ctx *ctx, int argc, char **argv) {
  const char *since = NULL, *format = NULL;
  bool strict = false;
  const cli_opt opts[] = {{"--since", NULL, CLI_VALUE, &since},
                          {"--strict", NULL, CLI_FLAG, &strict},
                          {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  enum cli_format fmt;
  if (cli_format_parse(&fmt, format, false, usage, "lint") < 0)
    return CLI_USAGE;
  const char *dir = cli_dir(ctx);
  if (ctx->dir == NULL && ctx->found_dir == NULL)
    return cli_failf("lint: %s", ctx->discover_err.msg);
  org_findings f;
  os_error err = OS_ERROR_INIT;
  const org_lint_opts o = {.since = since};
  int rc = org_lint(&f, dir, &o, &err);
  int status = f.errors > 0 || (strict && f.warnings > 0) ? CLI_FAIL : CLI_OK;
  if (rc == 0 && fmt == CLI_FORMAT_JSON) {
    if (cli_print_json(org_findings_json(&f), "lint") != CLI_OK)
      status = CLI_FAIL;
  } else {
    for (size_t i = 0; i < f.n; i++) {
      const org_finding *x = &f.v[i];
      const char *sev = x->severity == ORG_ERROR ? "error" : "warning";
      if (x->file == NULL)
        printf("%s: %s: %s\n", dir, sev, x->message);
      else
        printf("%s:%d: %s: %s\n", x->file, x->line, sev, x->message);
    }
  }
  fflush(stdout);
  if (rc < 0)
    status = cli_fail("lint", &err);
  else
    fprintf(stderr, "orgsecrets: lint: %zu error(s), %zu warning(s)%s\n", f.errors, f.warnings,
            strict && f.errors == 0 && f.warnings > 0 ? " (--strict: warnings fail)" : "");
  org_findings_free(&f);
  return status;
}
