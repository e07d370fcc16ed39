/* history: a secret's changes from the Git history of its file; and
 * reveal --at REV, a value as it was in a commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/buf.h"

static const char usage[] =
    "usage: orgsecrets history NAME [--env ENV] [--app APP] [-o table|json]\n"
    "\n"
    "Lists the commits that changed the secret, newest first, from the Git\n"
    "history of its file: DATE (the commit's author date), COMMIT, BY (the\n"
    "member the file names as updatedBy), CHANGES (created, value, resealed,\n"
    "description, state, visibility, deleted, other) and the commit's SUBJECT.\n"
    "Values are never opened. Uncommitted changes are not history: a note\n"
    "says when the file has some. To see or restore a past value:\n"
    "`orgsecrets reveal NAME --at COMMIT`.\n";

/* The application of env/name: names are per application, so without
 * --app it is the organization level. */
static const char *app_of(const spec_tree *t, const char *env, const char *name, const char *app) {
  (void)t;
  (void)env;
  (void)name;
  return app;
}

static void note_uncommitted(const char *dir, const char *file) {
  const char *const args[] = {"status", "--porcelain", "--", file, NULL};
  char *out = NULL;
  if (org_git(&out, NULL, dir, args, NULL, 0, 4096, NULL) == 0 && out[0] != '\0')
    cli_note("%s has uncommitted changes, which are not part of the history", file);
  free(out);
}

static void print_table(const org_history *h) {
  int wb = 2;
  for (size_t i = 0; i < h->n; i++) {
    int l = h->v[i].by != NULL ? (int)strlen(h->v[i].by) : 1;
    wb = l > wb ? l : wb;
  }
  printf("%-25s  %-12s  %-*s  %-22s  %s\n", "DATE", "COMMIT", wb, "BY", "CHANGES", "SUBJECT");
  for (size_t i = 0; i < h->n; i++) {
    const org_history_entry *e = &h->v[i];
    char changes[128] = "";
    size_t used = 0;
    for (unsigned bit = 1; bit <= ORG_CHANGE_OTHER; bit <<= 1) {
      if ((e->changes & bit) == 0)
        continue;
      int n = snprintf(changes + used, sizeof(changes) - used, "%s%s", used ? "," : "",
                       org_change_name(bit));
      if (n > 0 && (size_t)n < sizeof(changes) - used)
        used += (size_t)n;
    }
    printf("%-25s  %.12s  %-*s  %-22s  %s\n", e->date, e->commit, wb, e->by ? e->by : "-",
           changes, e->subject);
  }
}

int cmd_history(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *format = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "history: NAME is required");
  enum cli_format fmt;
  if (cli_format_parse(&fmt, format, false, usage, "history") < 0)
    return CLI_USAGE;
  const char *name = a.pos[0];
  spec_tree *t = NULL;
  char *file = NULL;
  org_history h = {0};
  os_error err = OS_ERROR_INIT;
  int status = CLI_FAIL;
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, "history")) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  char what[SPEC_NAME_MAX + 128];
  snprintf(what, sizeof(what), "history %s/%s", env, name);
  if (org_secret_name_check(name, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  app = app_of(t, env, name, app);
  if ((file = org_secret_file(t, env, app, name)) == NULL) {
    status = cli_failf("%s: out of memory", what);
    goto done;
  }
  if (org_secret_history(&h, t->dir, file, env, app, name, 0, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (!h.git) {
    status = cli_failf("%s: %s is not in a Git checkout with commits: the history comes from "
                       "Git", what, t->dir);
    goto done;
  }
  if (h.n == 0 && spec_tree_find_secret(t, env, app, name) == NULL) {
    status = cli_failf("%s: no such secret, now or in the history of %s", what, file);
    goto done;
  }
  note_uncommitted(t->dir, file);
  if (fmt == CLI_FORMAT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; i < h.n; i++)
      cli_json_push(&arr, org_history_entry_json(&h.v[i]));
    status = cli_print_json(arr, "history");
  } else {
    if (h.n == 0)
      cli_note("%s: no commit holds %s yet", what, file);
    print_table(&h);
    status = CLI_OK;
  }
done:
  org_history_free(&h);
  free(file);
  spec_tree_free(t);
  return status;
}

int cli_reveal_at(cli_ctx *ctx, const char *name, const char *env, const char *app,
                  const char *rev) {
  spec_tree *t = NULL, *past = NULL;
  uint8_t *value = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  int status = CLI_FAIL;
  const org_ctx *oc = cli_open_env(&t, &env, &status, ctx, "reveal");
  if (oc == NULL)
    goto done;
  char what[SPEC_NAME_MAX + 256];
  snprintf(what, sizeof(what), "reveal %s/%s --at %s", env, name, rev);
  const spec_secret *s = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  if (org_secret_at(&past, &s, t, rev, env, app_of(t, env, name, app), name, &err) < 0 ||
      org_reader_check(oc, t->org, s, &err) < 0 ||
      org_keys_get(&ids, &n_ids, oc->keys, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (org_unseal(&value, &len, t->org, s, ids, n_ids, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (cli_write_all(1, value, len) < 0) {
    status = cli_failf("%s: write stdout: %s", what, strerror(errno));
    goto done;
  }
  cli_note("%s/%s as of %s (updated %s by %s)", env, name, rev,
           s->updated_at ? s->updated_at : "?", s->updated_by ? s->updated_by : "?");
  status = CLI_OK;
done:
  os_free_secret(value, len);
  spec_tree_free(past);
  spec_tree_free(t);
  return status;
}
