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

static const char *status_name(const spec_secret *s) {
  return s->state == SPEC_STATE_DISABLED ? "disabled" : "active";
}

static json_t *opt_string(const char *s) { return s != NULL ? json_string(s) : json_null(); }

static int print_json(spec_secret **v, size_t n) {
  json_t *arr = json_array();
  if (arr == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    json_t *o = json_object();
    if (o == NULL || json_array_append_new(arr, o) != 0) {
      json_decref(arr);
      return -1;
    }
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "environment", json_string(s->environment));
    json_object_set_new(o, "application", opt_string(s->application));
    json_object_set_new(o, "status", json_string(status_name(s)));
    json_object_set_new(o, "description", opt_string(s->description));
    json_object_set_new(o, "visibleToViewers", json_boolean(s->visible_to_viewers));
    json_object_set_new(o, "createdBy", opt_string(s->created_by));
    json_object_set_new(o, "createdAt", opt_string(s->created_at));
    json_object_set_new(o, "updatedBy", opt_string(s->updated_by));
    json_object_set_new(o, "updatedAt", opt_string(s->updated_at));
    json_object_set_new(o, "rotatedAt", opt_string(s->rotated_at));
  }
  char *out = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
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

static void print_table(spec_secret **v, size_t n) {
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
           s->application ? s->application : "-", ws, status_name(s), wu,
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
  if (env != NULL && spec_org_find_env(t->org, env) == NULL) {
    status = cli_failf("list: environment %s is not defined in organization %s", env, t->org->id);
    goto done;
  }
  spec_secret **v = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*v));
  if (v == NULL) {
    status = cli_failf("list: out of memory");
    goto done;
  }
  size_t n = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    if (env == NULL || strcmp(t->secrets[i]->environment, env) == 0)
      v[n++] = t->secrets[i];
  }
  qsort(v, n, sizeof(*v), cli_secret_cmp);
  if (json) {
    if (print_json(v, n) < 0)
      status = cli_failf("list: out of memory");
  } else {
    print_table(v, n);
  }
  free(v);
done:
  spec_tree_free(t);
  return status;
}
