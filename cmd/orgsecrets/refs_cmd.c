/* refs: $NAME references in the repository against the secrets. */
#include <stdio.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets refs [PATH...] [--env ENV] [--strict] [-o table|json]\n"
    "\n"
    "Scans Kubernetes manifests, Helm values, compose files and .env templates\n"
    "for secret references, $NAME and ${NAME} (the syntax `run` and the\n"
    "webhook resolve; $$ is a literal $), and reports\n"
    "  FILE:LINE: unknown reference $NAME    a name no secret has\n"
    "  unused: ENV/NAME                      a secret nothing references\n"
    "PATHs are files (scanned whatever their name) or folders, walked as the\n"
    "organization folder is (hidden names except .env templates, node_modules\n"
    "and symbolic links skipped) for *.yaml, *.yml, *.json, *.env, .env and\n"
    ".env.* files; orgsecrets' own spec files are skipped. Without PATH: the\n"
    "Git work tree that holds the organization (else its folder), paths shown\n"
    "relative to it. --env ENV counts only ENV's secrets (default: all\n"
    "environments). Exit status 0, or 1 with --strict when a reference is\n"
    "unknown (for CI); unused secrets never fail.\n";

int cmd_refs(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *format = NULL;
  bool strict = false;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--strict", NULL, CLI_FLAG, &strict},
                          {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, CLI_POS_MAX, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  enum cli_format fmt;
  if (cli_format_parse(&fmt, format, false, usage, "refs") < 0)
    return CLI_USAGE;
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  org_refs r;
  os_error err = OS_ERROR_INIT;
  int status = CLI_OK;
  if (org_refs_scan(&r, t, env, a.pos, a.n_pos, &err) < 0) {
    status = cli_fail("refs", &err);
  } else if (fmt == CLI_FORMAT_JSON) {
    status = cli_print_json(org_refs_json(&r), "refs");
  } else {
    for (size_t i = 0; i < r.n; i++) {
      if (!r.v[i].known)
        printf("%s:%d: unknown reference $%s\n", r.v[i].file, r.v[i].line, r.v[i].name);
    }
    for (size_t i = 0; i < r.n_unused; i++)
      printf("unused: %s/%s%s%s%s\n", r.unused[i]->environment, r.unused[i]->name,
             r.unused[i]->application ? " (application " : "",
             r.unused[i]->application ? r.unused[i]->application : "",
             r.unused[i]->application ? ")" : "");
  }
  if (status == CLI_OK) {
    fflush(stdout);
    fprintf(stderr,
            "orgsecrets: refs: %zu reference(s) in %zu file(s), %zu unknown, %zu unused "
            "secret(s)%s\n",
            r.n, r.files, r.unknown, r.n_unused, r.skipped ? " (some files not readable)" : "");
    if (strict && r.unknown > 0)
      status = cli_failf("refs: %zu unknown reference(s) (--strict)", r.unknown);
  }
  org_refs_free(&r);
  spec_tree_free(t);
  return status;
}
