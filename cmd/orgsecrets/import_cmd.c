/* import: a dotenv file as secrets of one environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/buf.h"

static const char usage[] =
    "usage: orgsecrets import --from-file FILE [--env ENV] [--app APP] [--overwrite]\n"
    "                         [--allow-env NAME]...\n"
    "\n"
    "Creates one secret per variable of the dotenv file FILE (- : stdin) in ENV\n"
    "(organization level, or APP's): NAME=value lines, `export NAME=value`,\n"
    "values in double quotes (which may span lines; \\n \\t \\\\ \\\" \\$ escapes)\n"
    "or single quotes (literal), # comments and blank lines. Values are taken\n"
    "as written, without ${VAR} expansion. Every line is checked before anything\n"
    "is written: a valid secret name, not given twice, a value of 1 byte to\n"
    "256 KiB, no name that decides what programs run or load unless\n"
    "--allow-env NAME, and no existing secret unless --overwrite (which sets\n"
    "their values, leaving unchanged ones untouched). Needs a member or an\n"
    "admin (--as). `orgsecrets render` is the way back out.\n";

int cmd_import(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *from = NULL;
  bool overwrite = false;
  cli_list allowed = {0};
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--from-file", "-f", CLI_VALUE, &from},
                          {"--overwrite", NULL, CLI_FLAG, &overwrite},
                          {"--allow-env", NULL, CLI_LIST, &allowed}};
  cli_args a;
  spec_tree *t = NULL;
  char *data = NULL;
  size_t len = 0;
  int status = CLI_USAGE;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 5, 0, usage);
  if (prc != 0) {
    status = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  if (from == NULL) {
    status = cli_usage_error(usage, "import: --from-file FILE is required");
    goto done;
  }
  const org_ctx *oc = cli_open_env(&t, &env, &status, ctx, "import");
  if (oc == NULL)
    goto done;
  os_error err = OS_ERROR_INIT;
  /* 2 MiB: a few values of the largest size, or thousands of usual ones */
  const size_t max = (size_t)SPEC_VALUE_MAX * 4 + (1u << 20);
  if (os_read_file(&data, &len, strcmp(from, "-") == 0 ? "/dev/stdin" : from, max, &err) < 0) {
    status = cli_fail("import", &err);
    goto done;
  }
  const org_import_opts o = {.environment = env,
                             .application = app,
                             .overwrite = overwrite,
                             .allowed = allowed.v,
                             .n_allowed = allowed.n,
                             .source = strcmp(from, "-") == 0 ? "stdin" : from};
  org_import_result res;
  if (org_import(&res, oc, t, &o, data, len, &err) < 0) {
    status = cli_fail("import", &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: imported into %s%s%s: %zu created, %zu updated, %zu unchanged\n",
          env, app ? "/" : "", app ? app : "", res.created, res.updated, res.unchanged);
  status = CLI_OK;
done:
  os_free_secret(data, len);
  spec_tree_free(t);
  cli_list_free(&allowed);
  return status;
}
