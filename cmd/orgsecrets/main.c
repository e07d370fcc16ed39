#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli.h"
#include "common/clock.h"

#ifndef ORGSECRETS_VERSION
#error "ORGSECRETS_VERSION comes from project(VERSION) in CMakeLists.txt"
#endif

static const char usage[] =
    "usage: orgsecrets [--dir DIR] [--as NAME] [-i FILE] COMMAND [ARGS]\n"
    "\n"
    "Secrets for organizations, sealed in Git with age.\n"
    "\n"
    "commands:\n"
    "  keygen [-o FILE]                      new identity; public key on stdout\n"
    "  init --org ORG                        create organization.yaml\n"
    "  member add|remove|update|list         manage members\n"
    "  env add|list|remove|use               manage environments; `env use` sets this\n"
    "                                        checkout's default\n"
    "  app add|list|remove                   manage applications\n"
    "  org set --rotation-days N             the organization's rotation policy\n"
    "  whoami                                acting member, role, identity and its key\n"
    "  create NAME [--env ENV] [...]         create a secret (refuses an existing one)\n"
    "  update NAME [--env ENV] [...]         change an existing secret (only what is given)\n"
    "  set NAME [--env ENV] [...]            create or update a secret (value from stdin)\n"
    "  resolve NAME --env ENV --ours|--theirs  keep one side of a Git merge conflict\n"
    "  import --from-file .env [--env ENV]   one secret per NAME=value line of a dotenv file\n"
    "  list [--env ENV|all] [-o table|json|wide]  names and metadata, never values\n"
    "  reveal NAME [--env ENV] [--at REV]    print a value (of commit REV) to stdout\n"
    "  history NAME [--env ENV]              who changed the secret, when and how (Git)\n"
    "  delete NAME [--env ENV] [--yes]       delete a secret\n"
    "  lint [--strict] [-o json]             check the folder; exit 1 on errors\n"
    "  rekey [--dry-run]                     re-seal values whose recipients changed\n"
    "  refs [PATH...] [--strict]             $NAME references: unknown names, unused secrets\n"
    "  render [--env ENV] [-o env|json|k8s]  the values as an env file, JSON or Secrets\n"
    "  run [--env ENV] -- CMD [ARG...]       run CMD with the secrets in its environment\n"
    "  age keygen|encrypt|decrypt            plain age v1\n"
    "  audit verify FILE                     check a hash-chained audit log\n"
    "  ui [--listen 127.0.0.1:PORT]          the secrets page in a browser (loopback only)\n"
    "  completion bash|zsh|fish              shell completion script\n"
    "  version                               print the version (also --version)\n"
    "\n"
    "global options (before or after the command):\n"
    "  --dir DIR      organization folder (default $ORGSECRETS_DIR, else the nearest\n"
    "                 folder holding organization.yaml, from here upward)\n"
    "  --as NAME      acting member (default $ORGSECRETS_USER, else git config user.email)\n"
    "  -i FILE        identity file (default $ORGSECRETS_IDENTITY or\n"
    "                 ~/.config/orgsecrets/identity)\n"
    "The environment (--env) defaults to $ORGSECRETS_ENV, else this checkout's\n"
    "`orgsecrets env use`, else the only environment; a default is named on stderr.\n"
    "\n"
    "Run `orgsecrets COMMAND --help` for a command's options.\n";

static int print_version(void) {
  printf("orgsecrets %s\n", ORGSECRETS_VERSION);
  return CLI_OK;
}

typedef int (*command_fn)(cli_ctx *ctx, int argc, char **argv);

static const struct {
  const char *name;
  command_fn fn;
} commands[] = {
    {"keygen", cmd_keygen}, {"init", cmd_init},     {"member", cmd_member}, {"env", cmd_env},
    {"app", cmd_app},       {"set", cmd_set},       {"list", cmd_list},     {"reveal", cmd_reveal},
    {"delete", cmd_delete}, {"lint", cmd_lint},     {"rekey", cmd_rekey},   {"render", cmd_render},
    {"run", cmd_run},       {"audit", cmd_audit},   {"age", cmd_age},
    {"ui", cmd_ui},
    /* writing secrets one way each, and getting out of a merge conflict */
    {"create", cmd_create}, {"update", cmd_update}, {"resolve", cmd_resolve},
    /* the everyday CLI: defaults, listings, history, references, completion */
    {"whoami", cmd_whoami},         {"import", cmd_import},
    {"history", cmd_history},       {"refs", cmd_refs},
    {"org", cmd_org},               {"completion", cmd_completion},
    {"__complete", cmd_complete},
};

size_t cli_command_names(const char **out, size_t max) {
  size_t n = 0;
  for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]) && n < max; k++) {
    if (commands[k].name[0] != '_')
      out[n++] = commands[k].name;
  }
  return n;
}

int cli_command_run(cli_ctx *ctx, int argc, char **argv) {
  for (size_t k = 0; argc > 0 && k < sizeof(commands) / sizeof(commands[0]); k++) {
    if (strcmp(argv[0], commands[k].name) == 0)
      return commands[k].fn(ctx, argc, argv);
  }
  return CLI_USAGE;
}

static const char *env_or_null(const char *name) {
  const char *e = getenv(name);
  return e != NULL && e[0] != '\0' ? e : NULL;
}

static int dispatch(cli_ctx *ctx, int argc, char **argv) {
  bool version = false;
  const cli_opt opts[] = {{"--version", NULL, CLI_FLAG, &version}};
  cli_args a;
  int prc = cli_parse_main(ctx, &a, argc, argv, opts, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (version)
    return print_version();
  if (a.rest < 0)
    return cli_usage_error(usage, "missing command");
  const char *word = argv[a.rest];
  if (strcmp(word, "help") == 0) {
    fputs(usage, stdout);
    return CLI_OK;
  }
  if (strcmp(word, "version") == 0)
    return print_version();
  int status = cli_command_run(ctx, argc - a.rest, argv + a.rest);
  bool known = false;
  for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]) && !known; k++)
    known = strcmp(word, commands[k].name) == 0;
  return known ? status : cli_usage_error(usage, "unknown command: %s", word);
}

int main(int argc, char **argv) {
  /* keys and values pass through this process: no core dumps (an exec'd
   * child of `run` is dumpable again, as execve resets the flag) */
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  cli_ctx ctx = {0};
  ctx.dir = env_or_null("ORGSECRETS_DIR");
  ctx.as = env_or_null("ORGSECRETS_USER");
  if (ctx.as != NULL)
    ctx.as_from = "ORGSECRETS_USER";
  ctx.identity = env_or_null("ORGSECRETS_IDENTITY");
  os_error err = OS_ERROR_INIT;
  if (os_now_check(&err) < 0)
    return cli_failf("%s", err.msg);
  int status = dispatch(&ctx, argc, argv);
  cli_ctx_close(&ctx);
  return status;
}
