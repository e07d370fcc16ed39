/* run: start a command with the secrets of an environment in its environment. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"

extern char **environ;

static const char usage[] =
    "usage: orgsecrets run [--env ENV] [--app APP] [--only NAME,...] [--allow-env NAME]...\n"
    "                      [--strict] -- CMD [ARG...]\n"
    "\n"
    "Unseals the active secrets of ENV (organization-level plus APP's; --only\n"
    "limits them) with -i and executes CMD with an environment made of the\n"
    "inherited variables and one variable per secret (a secret replaces an\n"
    "inherited variable of the same name). In inherited values, references\n"
    "$NAME and ${NAME} to those secrets are replaced by their values (e.g.\n"
    "DATABASE_URL='postgres://app:${DB_PASSWORD}@db/app'); other references\n"
    "are left as written, with a warning on stderr for each (no such secret,\n"
    "or a disabled one); --strict makes that an error and runs nothing, as the\n"
    "pod webhook refuses such pods. Values never appear in CMD's arguments.\n"
    "Disabled secrets are not injected. CMD replaces this process, so the exit status\n"
    "is CMD's (127: not found, 126: not executable). CMD is looked up in the\n"
    "PATH this command was started with, never a secret's. A secret whose name\n"
    "decides what runs or what code gets loaded (PATH, IFS, ENV, BASH_ENV, PS4,\n"
    "HOME, LD_*, PYTHON*, PERL5*, NODE_OPTIONS, GIT_SSH_COMMAND, MAKEFILES, ...;\n"
    "see docs/security.md) is refused unless named by --allow-env NAME. If any\n"
    "secret cannot be unsealed or is refused, nothing is run.\n";

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

static int run_parsed(cli_ctx *ctx, int argc, char **argv, const cli_args *ap, const char *env,
                      const char *app, const char *only_s, const cli_list *allowed, bool strict) {
  const cli_args a = *ap;
  if (a.rest < 0 || a.rest >= argc)
    return cli_usage_error(usage, "run: missing -- CMD");

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  org_values vs = {0};
  cli_list only = {0};
  char *only_copy = NULL;
  char **newenv = NULL, *prog = NULL, **unresolved = NULL;
  size_t n_unresolved = 0;
  int status = CLI_FAIL;
  if (only_s != NULL) {
    if ((only_copy = os_strdup(only_s)) == NULL || split_only(&only, only_copy) < 0) {
      status = cli_failf("run: out of memory");
      goto done;
    }
  }
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, "run")) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  if (org_keys_get(&ids, &n_ids, oc->keys, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  if (org_values_load(&vs, t, env, app, ORG_SCOPE_MERGED, only.v, only.n, ids, n_ids, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  for (size_t i = 0; i < vs.n; i++) {
    if (vs.v[i].error != NULL)
      cli_failf("run: %s", vs.v[i].error);
  }
  if (vs.failed > 0) {
    status = cli_failf("run: %zu secret(s) could not be unsealed; not running %s", vs.failed,
                       argv[a.rest]);
    goto done;
  }
  if (org_values_check_names(&vs, env, allowed->v, allowed->n, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  /* the references a pod would be refused for */
  if (org_environ_unresolved(&unresolved, &n_unresolved, t, env, app, &vs, environ, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  for (size_t i = 0; i < n_unresolved; i++)
    cli_note("%s: %s", strict ? "run" : "warning", unresolved[i]);
  if (strict && n_unresolved > 0) {
    status = cli_failf("run: %zu reference(s) name no active secret (--strict); not running %s",
                       n_unresolved, argv[a.rest]);
    goto done;
  }
  /* looked up with the caller's PATH, before any secret enters the environment */
  prog = os_find_program(argv[a.rest], getenv("PATH"));
  if (prog == NULL) {
    int e = errno;
    status = e == ENOENT ? 127 : 126;
    cli_failf("run: cannot execute %s: %s", argv[a.rest], e == ENOENT ? "not found" : strerror(e));
    goto done;
  }
  if (org_environ(&newenv, &vs, environ, &err) < 0) {
    status = cli_fail("run", &err);
    goto done;
  }
  /* the values now live only in newenv; drop everything else before exec */
  org_values_free(&vs);
  spec_tree_free(t);
  t = NULL;
  cli_ctx_close(ctx);
  fflush(NULL);
  exec_program(prog, argv + a.rest, newenv);
  int e = errno;
  status = e == ENOENT ? 127 : 126;
  cli_failf("run: cannot execute %s: %s", argv[a.rest], strerror(e));
done:
  org_strings_free(unresolved, n_unresolved);
  org_environ_free(newenv);
  org_values_free(&vs);
  spec_tree_free(t);
  cli_list_free(&only);
  free(only_copy);
  free(prog);
  return status;
}

int cmd_run(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *only_s = NULL;
  bool strict = false;
  cli_list allowed = {0};
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--only", NULL, CLI_VALUE, &only_s},
                          {"--allow-env", NULL, CLI_LIST, &allowed},
                          {"--strict", NULL, CLI_FLAG, &strict}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 5, 0, usage);
  if (prc != 0) {
    cli_list_free(&allowed);
    return prc > 0 ? CLI_OK : CLI_USAGE;
  }
  int status = run_parsed(ctx, argc, argv, &a, env, app, only_s, &allowed, strict);
  cli_list_free(&allowed);
  return status;
}
