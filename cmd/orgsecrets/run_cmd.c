/* run: start a command with the secrets of an environment in its environment. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "envfile/envfile.h"
#include "inject/ref.h"
#include "values.h"

extern char **environ;

static const char usage[] =
    "usage: orgsecrets run --env ENV [--app APP] [--only NAME,...] [--allow-env NAME]...\n"
    "                      -- CMD [ARG...]\n"
    "\n"
    "Unseals the active secrets of ENV (organization-level plus APP's; --only\n"
    "limits them) with -i and executes CMD with an environment made of the\n"
    "inherited variables and one variable per secret (a secret replaces an\n"
    "inherited variable of the same name). In inherited values, references\n"
    "$NAME and ${NAME} to those secrets are replaced by their values (e.g.\n"
    "DATABASE_URL='postgres://app:${DB_PASSWORD}@db/app'); other references\n"
    "are left as written. Values never appear in CMD's arguments. Disabled\n"
    "secrets are not injected. CMD replaces this process, so the exit status\n"
    "is CMD's (127: not found, 126: not executable). CMD is looked up in the\n"
    "PATH this command was started with, never a secret's. A secret whose name\n"
    "decides what runs or what code gets loaded (PATH, IFS, ENV, BASH_ENV, PS4,\n"
    "HOME, LD_*, PYTHON*, PERL5*, NODE_OPTIONS, GIT_SSH_COMMAND, MAKEFILES, ...;\n"
    "see docs/security.md) is refused unless named by --allow-env NAME. If any\n"
    "secret cannot be unsealed or is refused, nothing is run.\n";

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
  for (char *tok = spec; tok != NULL;) {
    char *comma = strchr(tok, ',');
    if (comma != NULL)
      *comma = '\0';
    if (tok[0] != '\0')
      out->v[out->n++] = tok;
    tok = comma != NULL ? comma + 1 : NULL;
  }
  return 0;
}

static bool listed(const cli_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], name) == 0)
      return true;
  return false;
}

/* Replaces this process with prog, as execvp would: a file without a known
 * executable format runs under /bin/sh. Returns only on failure (errno). */
static void exec_program(const char *prog, char **argv, char **envp) {
  execve(prog, argv, envp);
  if (errno != ENOEXEC)
    return;
  size_t n = 0;
  while (argv[n] != NULL)
    n++;
  char **sh = calloc(n + 2, sizeof(*sh));
  if (sh == NULL)
    return;
  char sh0[] = "sh";
  sh[0] = sh0;
  sh[1] = (char *)(uintptr_t)prog;
  for (size_t i = 1; i < n; i++)
    sh[i + 1] = argv[i];
  execve("/bin/sh", sh, envp);
  int e = errno;
  free(sh);
  errno = e;
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

static int run_parsed(cli_ctx *ctx, int argc, char **argv, const cli_args *ap, const char *env,
                      const char *app, const char *only_s, const cli_list *allowed) {
  const cli_args a = *ap;
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
  char **newenv = NULL, *prog = NULL;
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
    const char *name = vs.v[i].secret->name;
    const char *why = envfile_name_hazard(name);
    if (why != NULL && !listed(allowed, name)) {
      status = cli_failf("run: %s/%s: refusing a secret named %s: that variable %s; rename the "
                         "secret, or pass --allow-env %s", env, name, name, why, name);
      goto done;
    }
  }
  /* looked up with the caller's PATH, before any secret enters the environment */
  prog = os_find_program(argv[a.rest], getenv("PATH"));
  if (prog == NULL) {
    int e = errno;
    status = e == ENOENT ? 127 : 126;
    cli_failf("run: cannot execute %s: %s", argv[a.rest], e == ENOENT ? "not found" : strerror(e));
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
  exec_program(prog, argv + a.rest, newenv);
  int e = errno;
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
  free(prog);
  return status;
}

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *only_s = NULL;
  cli_list allowed = {0};
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--only", NULL, CLI_VALUE, &only_s},
                          {"--allow-env", NULL, CLI_LIST, &allowed}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 4, 0, usage);
  if (prc != 0) {
    cli_list_free(&allowed);
    return prc > 0 ? CLI_OK : CLI_USAGE;
  }
  int status = run_parsed(ctx, argc, argv, &a, env, app, only_s, &allowed);
  cli_list_free(&allowed);
  return status;
}
