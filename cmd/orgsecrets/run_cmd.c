/* run: start a command with the secrets of an environment in its environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "inject/ref.h"
#include "values.h"

extern char **environ;

static const char usage[] =
    "usage: orgsecrets run --env ENV [--app APP] [--only NAME,...] -- CMD [ARG...]\n"
    "\n"
    "Unseals the active secrets of ENV (organization-level plus APP's; --only\n"
    "limits them) with -i and executes CMD with an environment made of the\n"
    "inherited variables and one variable per secret (a secret replaces an\n"
    "inherited variable of the same name). In inherited values, references\n"
    "$NAME and ${NAME} to those secrets are replaced by their values (e.g.\n"
    "DATABASE_URL='postgres://app:${DB_PASSWORD}@db/app'); other references\n"
    "are left as written. Values never appear in CMD's arguments. Disabled\n"
    "secrets are not injected. CMD replaces this process, so the exit status\n"
    "is CMD's (127: not found, 126: not executable). If any secret cannot be\n"
    "unsealed, nothing is run.\n";

typedef struct lookup_ctx {
  const cli_values *vs;
} lookup_ctx;

static int lookup(void *vctx, const char *name, const uint8_t **value, size_t *len) {
  const lookup_ctx *lc = vctx;
  for (size_t i = 0; i < lc->vs->n; i++) {
    if (strcmp(lc->vs->v[i].secret->name, name) == 0) {
      *value = lc->vs->v[i].value;
      *len = lc->vs->v[i].len;
      return 1;
    }
  }
  return 0;
}

static bool is_secret_name(const cli_values *vs, const char *var, size_t len) {
  for (size_t i = 0; i < vs->n; i++) {
    const char *n = vs->v[i].secret->name;
    if (strlen(n) == len && memcmp(n, var, len) == 0)
      return true;
  }
  return false;
}

static int split_only(cli_list *out, char *spec) {
  size_t cap = 1;
  for (const char *p = spec; *p; p++)
    cap += *p == ',';
  out->v = calloc(cap, sizeof(*out->v));
  if (out->v == NULL)
    return -1;
  out->n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(spec, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
    out->v[out->n++] = tok;
  return 0;
}

/* "NAME=value" for an environment, in a secret buffer; *out is freed by
 * the caller (wiped: it holds the value). */
static int env_line(char **out, const char *name, size_t name_len, const void *value, size_t len) {
  os_buf b;
  os_buf_init(&b, name_len + len + 2, true);
  int rc = os_buf_append(&b, name, name_len);
  if (rc == 0)
    rc = os_buf_append(&b, "=", 1);
  if (rc == 0)
    rc = os_buf_append(&b, value, len);
  if (rc == 0)
    rc = os_buf_detach(out, NULL, &b);
  os_buf_free(&b);
  return rc;
}

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *only_s = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--only", NULL, CLI_VALUE, &only_s}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 3, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (env == NULL)
    return cli_usage_error(usage, "run: --env is required");
  if (a.rest < 0 || a.rest >= argc)
    return cli_usage_error(usage, "run: missing -- CMD");

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  age_identity **ids = NULL;
  size_t n_ids = 0;
  cli_values vs = {0};
  cli_list only = {0};
  char *only_copy = NULL;
  char **newenv = NULL;
  size_t n_new = 0;
  int status = CLI_FAIL;
  if (only_s != NULL) {
    if ((only_copy = os_strdup(only_s)) == NULL || split_only(&only, only_copy) < 0) {
      status = cli_failf("run: out of memory");
      goto done;
    }
  }
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  if (cli_load_identities(&ids, &n_ids, ctx, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  if (cli_values_load(&vs, t, env, app, CLI_SCOPE_MERGED, only_s ? &only : NULL,
                      (const age_identity *const *)ids, n_ids, "run") != 0)
    goto done;
  if (vs.failed > 0) {
    status = cli_failf("run: %zu secret(s) could not be unsealed; not running %s", vs.failed,
                       argv[a.rest]);
    goto done;
  }
  for (size_t i = 0; i < vs.n; i++) {
    if (memchr(vs.v[i].value, 0, vs.v[i].len) != NULL) {
      status = cli_failf("run: %s/%s: value contains a NUL byte and cannot be an environment "
                         "variable", env, vs.v[i].secret->name);
      goto done;
    }
  }
  size_t n_inherited = 0;
  while (environ != NULL && environ[n_inherited] != NULL)
    n_inherited++;
  newenv = calloc(n_inherited + vs.n + 1, sizeof(*newenv));
  if (newenv == NULL) {
    status = cli_failf("run: out of memory");
    goto done;
  }
  lookup_ctx lc = {&vs};
  for (size_t i = 0; i < n_inherited; i++) {
    const char *kv = environ[i];
    const char *eq = strchr(kv, '=');
    if (eq == NULL)
      continue;
    if (is_secret_name(&vs, kv, (size_t)(eq - kv)))
      continue;
    char *expanded = NULL;
    size_t exp_len = 0;
    bool changed = false;
    if (inject_ref_expand(&expanded, &exp_len, eq + 1, lookup, &lc, &changed, &err) < 0) {
      status = cli_failf("run: variable %.*s: %s", (int)(eq - kv), kv, err.msg);
      goto done;
    }
    char *line = NULL;
    int rc = env_line(&line, kv, (size_t)(eq - kv), expanded, exp_len);
    os_free_secret(expanded, exp_len + 1);
    if (rc < 0) {
      status = cli_failf("run: out of memory");
      goto done;
    }
    newenv[n_new++] = line;
  }
  for (size_t i = 0; i < vs.n; i++) {
    const char *name = vs.v[i].secret->name;
    char *line = NULL;
    int rc = env_line(&line, name, strlen(name), vs.v[i].value, vs.v[i].len);
    if (rc < 0) {
      status = cli_failf("run: out of memory");
      goto done;
    }
    newenv[n_new++] = line;
  }
  /* the values now live only in newenv; drop everything else before exec */
  cli_values_free(&vs);
  age_identities_free(ids, n_ids);
  ids = NULL;
  n_ids = 0;
  spec_tree_free(t);
  t = NULL;
  fflush(NULL);
  char **old_environ = environ;
  environ = newenv;
  execvp(argv[a.rest], argv + a.rest);
  int e = errno;
  environ = old_environ;
  status = e == ENOENT ? 127 : 126;
  cli_failf("run: cannot execute %s: %s", argv[a.rest], strerror(e));
done:
  if (newenv != NULL) {
    for (size_t i = 0; i < n_new; i++)
      os_free_secret_str(newenv[i]);
    free(newenv);
  }
  cli_values_free(&vs);
  age_identities_free(ids, n_ids);
  spec_tree_free(t);
  cli_list_free(&only);
  free(only_copy);
  return status;
}
