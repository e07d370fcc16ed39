/* list: names and metadata, never values; needs no identity. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/clock.h"

static const char usage[] =
    "usage: orgsecrets list [--env ENV|all] [--app APP] [--status STATUS]\n"
    "                       [-o table|json|wide]\n"
    "\n"
    "Lists secrets with NAME ENV APP STATUS UPDATED CREATED-BY ROTATED, sorted\n"
    "by environment then name. ROTATED is the number of days since the value\n"
    "last changed, with a ! when that is past the rotation policy (the\n"
    "secret's own, else the organization's). Values are never shown and no\n"
    "identity is needed, so viewers can use it.\n"
    "  --env ENV      one environment; `all` for every one. Without it: the\n"
    "                 default environment ($ORGSECRETS_ENV, `env use`, the only\n"
    "                 one), else every environment\n"
    "  --app APP      APP's secrets only (`--app -`: organization-level only)\n"
    "  --status S     only secrets whose STATUS is S (active, disabled, conflict,\n"
    "                 invalid)\n"
    "  -o wide        adds DESCRIPTION and READ-BY (the roles that may read it)\n"
    "  -o json        every field (docs/cli.md lists them)\n";

const char *const cli_list_statuses[] = {"active", "disabled", "conflict", "invalid", NULL};

/* The secrets of the files that do not load, for the STATUS column
 * ("conflict", "invalid"): one row per secret a file holds (or one for the
 * file), in the environment asked for. */
typedef struct bad_row {
  const spec_bad_file *file;
  const spec_secret_id *id; /* NULL: the file names no secret */
} bad_row;

static bool bad_wanted(const spec_bad_file *b, const spec_secret_id *id, const char *env,
                       const char *app, const char *status_f) {
  if (status_f != NULL && strcmp(org_bad_status(b), status_f) != 0)
    return false;
  if (id == NULL)
    return env == NULL && app == NULL;
  if (env != NULL && strcmp(id->environment, env) != 0)
    return false;
  if (app == NULL)
    return true;
  return strcmp(app, "-") == 0 ? id->application == NULL
                               : id->application != NULL && strcmp(id->application, app) == 0;
}

static size_t bad_rows(bad_row *out, const spec_tree *t, const char *env, const char *app,
                       const char *status_f) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_bad; i++) {
    const spec_bad_file *b = &t->bad[i];
    if (b->n_ids == 0 && bad_wanted(b, NULL, env, app, status_f)) {
      if (out != NULL)
        out[n] = (bad_row){b, NULL};
      n++;
    }
    for (size_t k = 0; k < b->n_ids; k++) {
      if (!bad_wanted(b, &b->ids[k], env, app, status_f))
        continue;
      if (out != NULL)
        out[n] = (bad_row){b, &b->ids[k]};
      n++;
    }
  }
  return n;
}

static int width(int w, const char *s) {
  int l = s ? (int)strlen(s) : 1;
  return l > w ? l : w;
}

/* "12d", "120d!" (past the policy) or "-" into out. */
static void rotated(char out[32], const spec_org *o, const spec_secret *s, int64_t now) {
  int64_t days = 0;
  int r = org_secret_rotation(&days, o, s, now);
  if (r < 0)
    snprintf(out, 32, "-");
  else
    snprintf(out, 32, "%lldd%s", (long long)days, r == 1 ? "!" : "");
}

static void print_table(const spec_org *o, const spec_secret *const *v, size_t n,
                        const bad_row *bad, size_t n_bad, bool wide, int64_t now) {
  int wn = 4, we = 3, wa = 3, ws = 8, wr = 7, wu = 7, wc = 10;
  char rot[32];
  for (size_t i = 0; i < n_bad; i++) {
    wn = width(wn, bad[i].id ? bad[i].id->name : bad[i].file->file);
    we = width(we, bad[i].id ? bad[i].id->environment : "-");
    wa = width(wa, bad[i].id ? bad[i].id->application : "-");
  }
  for (size_t i = 0; i < n; i++) {
    wn = width(wn, v[i]->name);
    we = width(we, v[i]->environment);
    wa = width(wa, v[i]->application);
    ws = width(ws, org_secret_status(v[i]));
    wu = width(wu, v[i]->updated_at);
    wc = width(wc, v[i]->created_by);
    rotated(rot, o, v[i], now);
    wr = width(wr, rot);
  }
  /* one buffered write per line keeps 10,000 rows fast */
  printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s%s\n", wn, "NAME", we, "ENV", wa, "APP", ws,
         "STATUS", wu, "UPDATED", wc, "CREATED-BY", wide ? wr : 0, "ROTATED",
         wide ? "  READ-BY              DESCRIPTION" : "");
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    rotated(rot, o, s, now);
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s", wn, s->name, we, s->environment, wa,
           s->application ? s->application : "-", ws, org_secret_status(s), wu,
           s->updated_at ? s->updated_at : "-", wc, s->created_by ? s->created_by : "-",
           wide ? wr : 0, rot);
    if (wide) {
      const char *roles[3];
      size_t nr = org_secret_reader_roles(roles, s);
      char readers[64] = "";
      for (size_t k = 0, used = 0; k < nr; k++) {
        int m = snprintf(readers + used, sizeof(readers) - used, "%s%s", k ? "," : "", roles[k]);
        if (m > 0 && (size_t)m < sizeof(readers) - used)
          used += (size_t)m;
      }
      /* one line per row: a description's line breaks are shown as spaces */
      printf("  %-19s  ", readers);
      for (const char *d = s->description ? s->description : "-"; *d; d++)
        fputc(*d == '\n' || *d == '\r' || *d == '\t' ? ' ' : *d, stdout);
    }
    fputc('\n', stdout);
  }
  /* the secrets of files that do not load: where, on stderr (cli_warn_bad_files) */
  for (size_t i = 0; i < n_bad; i++) {
    const spec_secret_id *id = bad[i].id;
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s%s\n", wn, id ? id->name : bad[i].file->file,
           we, id ? id->environment : "-", wa, id && id->application ? id->application : "-", ws,
           org_bad_status(bad[i].file), wu, "-", wc, "-", wide ? wr : 0, "-", wide ? "  -" : "");
  }
}

int cmd_list(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *status_f = NULL, *format = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--status", NULL, CLI_VALUE, &status_f},
                          {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 4, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  enum cli_format fmt;
  if (cli_format_parse(&fmt, format, true, usage, "list") < 0)
    return CLI_USAGE;
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  int status = CLI_OK;
  const spec_secret **v = NULL;
  bad_row *bad = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  if (env != NULL && strcmp(env, "all") == 0) {
    env = NULL;
  } else if (env == NULL) {
    /* the default environment when there is one, else every environment */
    char *def = NULL;
    enum org_env_from from = ORG_ENV_NONE;
    if (org_env_default(&def, &from, t->dir, t->org, NULL, getenv("ORGSECRETS_ENV"), NULL) == 0 &&
        from != ORG_ENV_ONLY) {
      free(def);
      if ((status = cli_env(&env, ctx, t, "list")) != CLI_OK)
        goto done;
    } else {
      free(def);
    }
  }
  bool status_ok = status_f == NULL;
  for (size_t i = 0; !status_ok && cli_list_statuses[i] != NULL; i++)
    status_ok = strcmp(status_f, cli_list_statuses[i]) == 0;
  if (!status_ok) {
    status = cli_usage_error(usage, "list: unknown --status %s (active, disabled, conflict, "
                             "invalid)", status_f);
    goto done;
  }
  if (app != NULL && strcmp(app, "-") != 0 && spec_org_find_app(t->org, app) == NULL) {
    status = cli_failf("list: application %s is not defined in organization %s", app, t->org->id);
    goto done;
  }
  if (org_secret_list(&v, &n, t, env, &err) < 0) {
    status = cli_fail("list", &err);
    goto done;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const spec_secret *s = v[i];
    bool app_ok = app == NULL || (strcmp(app, "-") == 0 ? s->application == NULL
                                                        : s->application != NULL &&
                                                              strcmp(s->application, app) == 0);
    if (app_ok && (status_f == NULL || strcmp(org_secret_status(s), status_f) == 0))
      v[k++] = s;
  }
  size_t n_bad = bad_rows(NULL, t, env, app, status_f);
  bad = calloc(n_bad ? n_bad : 1, sizeof(*bad));
  if (bad == NULL) {
    status = cli_failf("list: out of memory");
    goto done;
  }
  bad_rows(bad, t, env, app, status_f);
  int64_t now = os_now();
  if (fmt == CLI_FORMAT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; i < k; i++)
      cli_json_push(&arr, org_secret_row_json(t->org, v[i], now));
    for (size_t i = 0; i < n_bad; i++)
      cli_json_push(&arr, org_bad_json(bad[i].file, bad[i].id));
    status = cli_print_json(arr, "list");
  } else {
    print_table(t->org, v, k, bad, n_bad, fmt == CLI_FORMAT_WIDE, now);
  }
done:
  free(bad);
  free(v);
  spec_tree_free(t);
  return status;
}
