/* list: names and metadata, never values; needs no identity. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets list [--env ENV] [-o table|json]\n"
    "\n"
    "Lists the secrets of every environment (or of ENV) with NAME ENV APP\n"
    "STATUS UPDATED CREATED-BY, sorted by environment then name. Values are\n"
    "never shown and no identity is needed, so viewers can use it. json adds\n"
    "description, createdAt, updatedBy, rotatedAt and visibleToViewers.\n";

static int print_json(const spec_secret *const *v, size_t n) {
  json_t *arr = json_array();
  bool ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++)
    ok = json_array_append_new(arr, org_secret_json(v[i])) == 0;
  char *out = ok ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(arr);
  if (out == NULL)
    return -1;
  fputs(out, stdout);
  fputc('\n', stdout);
  free(out);
  return 0;
}

static int width(int w, const char *s) {
  int l = s ? (int)strlen(s) : 1;
  return l > w ? l : w;
}

static void print_table(const spec_secret *const *v, size_t n) {
  int wn = 4, we = 3, wa = 3, ws = 8, wu = 7;
  for (size_t i = 0; i < n; i++) {
    wn = width(wn, v[i]->name);
    we = width(we, v[i]->environment);
    wa = width(wa, v[i]->application);
    wu = width(wu, v[i]->updated_at);
  }
  /* one buffered write per line keeps 10,000 rows fast */
  printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wn, "NAME", we, "ENV", wa, "APP", ws, "STATUS", wu,
         "UPDATED", "CREATED-BY");
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wn, s->name, we, s->environment, wa,
           s->application ? s->application : "-", ws, org_secret_status(s), wu,
           s->updated_at ? s->updated_at : "-", s->created_by ? s->created_by : "-");
  }
}

int cmd_list(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *format = "table";
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env}, {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  bool json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0)
    return cli_usage_error(usage, "list: unknown output format %s", format);
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  int status = CLI_OK;
  const spec_secret **v = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  if (org_secret_list(&v, &n, t, env, &err) < 0) {
    status = cli_fail("list", &err);
  } else if (json) {
    if (print_json(v, n) < 0)
      status = cli_failf("list: out of memory");
  } else {
    print_table(v, n);
  }
  free(v);
  spec_tree_free(t);
  return status;
}
