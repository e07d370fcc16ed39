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
    "description, createdAt, updatedBy, rotatedAt and visibleToViewers.\n"
    "A file that does not load (Git conflict markers, invalid YAML) shows its\n"
    "secrets with STATUS conflict or invalid, and a line on stderr says where\n"
    "and what to do; the other secrets are listed as usual.\n";

/* The secrets of the files that do not load, for the STATUS column
 * ("conflict", "invalid"): one row per secret a file holds (or one for the
 * file), in the environment asked for. */
typedef struct bad_row {
  const spec_bad_file *file;
  const spec_secret_id *id; /* NULL: the file names no secret */
} bad_row;

static size_t bad_rows(bad_row *out, const spec_tree *t, const char *env) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_bad; i++) {
    const spec_bad_file *b = &t->bad[i];
    if (b->n_ids == 0 && env == NULL && out != NULL)
      out[n] = (bad_row){b, NULL};
    n += b->n_ids == 0 && env == NULL;
    for (size_t k = 0; k < b->n_ids; k++) {
      if (env != NULL && strcmp(b->ids[k].environment, env) != 0)
        continue;
      if (out != NULL)
        out[n] = (bad_row){b, &b->ids[k]};
      n++;
    }
  }
  return n;
}

static int print_json(const spec_secret *const *v, size_t n, const bad_row *bad, size_t n_bad) {
  json_t *arr = json_array();
  bool ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++)
    ok = json_array_append_new(arr, org_secret_json(v[i])) == 0;
  for (size_t i = 0; ok && i < n_bad; i++)
    ok = json_array_append_new(arr, org_bad_json(bad[i].file, bad[i].id)) == 0;
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

static void print_table(const spec_secret *const *v, size_t n, const bad_row *bad,
                        size_t n_bad) {
  int wn = 4, we = 3, wa = 3, ws = 8, wu = 7;
  for (size_t i = 0; i < n; i++) {
    wn = width(wn, v[i]->name);
    we = width(we, v[i]->environment);
    wa = width(wa, v[i]->application);
    wu = width(wu, v[i]->updated_at);
  }
  for (size_t i = 0; i < n_bad; i++) {
    if (bad[i].id == NULL)
      continue;
    wn = width(wn, bad[i].id->name);
    we = width(we, bad[i].id->environment);
    wa = width(wa, bad[i].id->application);
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
  /* files that do not load: their secrets, with STATUS conflict or invalid
   * (where and why: cli_load_tree's warnings) */
  for (size_t i = 0; i < n_bad; i++) {
    const spec_secret_id *id = bad[i].id;
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wn, id ? id->name : "?", we,
           id ? id->environment : "-", wa, id && id->application ? id->application : "-", ws,
           org_bad_status(bad[i].file), wu, "-", "-");
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
  size_t n_bad = bad_rows(NULL, t, env);
  bad_row *bad = calloc(n_bad ? n_bad : 1, sizeof(*bad));
  if (bad == NULL) {
    status = cli_failf("list: out of memory");
  } else if (org_secret_list(&v, &n, t, env, &err) < 0) {
    status = cli_fail("list", &err);
  } else if (json) {
    bad_rows(bad, t, env);
    if (print_json(v, n, bad, n_bad) < 0)
      status = cli_failf("list: out of memory");
  } else {
    bad_rows(bad, t, env);
    print_table(v, n, bad, n_bad);
  }
  free(bad);
  free(v);
  spec_tree_free(t);
  return status;
}
