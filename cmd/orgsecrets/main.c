#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli.h"

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
    "  member add|remove|list                manage members\n"
    "  env add ENV --controller AGE1...      add an environment\n"
    "  app add APP --namespace NS...         add an application\n"
    "  set NAME --env ENV [...]              create or update a secret (value from stdin)\n"
    "  list [--env ENV] [-o table|json]      names and metadata, never values\n"
    "  reveal NAME --env ENV                 print a value to stdout\n"
    "  delete NAME --env ENV [--yes]         delete a secret\n"
    "  lint                                  check the folder; exit 1 on errors\n"
    "  rekey                                 re-seal values whose recipients changed\n"
    "  render --env ENV [--format F]         env, json or k8s output of the values\n"
    "  run --env ENV -- CMD [ARG...]         run CMD with the secrets in its environment\n"
    "  age keygen|encrypt|decrypt            plain age v1\n"
    "  audit verify FILE                     check a hash-chained audit log\n"
    "  ui [--listen 127.0.0.1:PORT]          the secrets page in a browser (loopback only)\n"
    "  version                               print the version (also --version)\n"
    "\n"
    "global options (before or after the command):\n"
    "  --dir DIR      organization folder (default $ORGSECRETS_DIR or .)\n"
    "  --as NAME      acting member (default $ORGSECRETS_USER, else git config user.email)\n"
    "  -i FILE        identity file (default $ORGSECRETS_IDENTITY or\n"
    "                 ~/.config/orgsecrets/identity)\n"
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
    {"run", cmd_run},       {"audit", cmd_audit},   {"ui", cmd_ui},
};

int main(int argc, char **argv) {
  /* keys and values pass through this process: no core dumps (an exec'd
   * child of `run` is dumpable again, as execve resets the flag) */
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  cli_ctx ctx = {0};
  const char *e = getenv("ORGSECRETS_DIR");
  ctx.dir = e != NULL && e[0] != '\0' ? e : ".";
  e = getenv("ORGSECRETS_USER");
  ctx.as = e != NULL && e[0] != '\0' ? e : NULL;
  e = getenv("ORGSECRETS_IDENTITY");
  ctx.identity = e != NULL && e[0] != '\0' ? e : NULL;

  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0) {
      fputs(usage, stdout);
      return CLI_OK;
    }
    if (strcmp(a, "--version") == 0)
      return print_version();
    if (a[0] != '-')
      break;
    const char **dest = NULL;
    const char *val = NULL;
    size_t nlen = strcspn(a, "=");
    if (strncmp(a, "--dir", nlen) == 0 && nlen == 5)
      dest = &ctx.dir;
    else if (strncmp(a, "--as", nlen) == 0 && nlen == 4)
      dest = &ctx.as;
    else if ((strncmp(a, "--identity", nlen) == 0 && nlen == 10) || strcmp(a, "-i") == 0)
      dest = &ctx.identity;
    else
      return cli_usage_error(usage, "unknown option: %s", a);
    if (a[nlen] == '=')
      val = a + nlen + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return cli_usage_error(usage, "option %s needs a value", a);
    *dest = val;
  }
  if (i >= argc)
    return cli_usage_error(usage, "missing command");
  if (strcmp(argv[i], "version") == 0)
    return print_version();
  if (strcmp(argv[i], "age") == 0) {
    /* a global -i given before `age` is the default identity of age decrypt */
    if (ctx.identity != NULL && setenv("ORGSECRETS_IDENTITY", ctx.identity, 1) != 0) {
      cli_failf("age: cannot pass the identity file on");
      return 1;
    }
    return cmd_age(argc - i, argv + i);
  }
  for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
    if (strcmp(argv[i], commands[k].name) == 0)
      return commands[k].fn(&ctx, argc - i, argv + i);
  }
  return cli_usage_error(usage, "unknown command: %s", argv[i]);
}
