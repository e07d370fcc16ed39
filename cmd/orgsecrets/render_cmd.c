/* render: the values of one environment as an env file, JSON or a v1 Secret. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/buf.h"

static const char usage[] =
    "usage: orgsecrets render [--env ENV] [--app APP] [-o|--format env|json|k8s]\n"
    "                         [--output-file FILE]\n"
    "\n"
    "Unseals the active secrets of ENV with -i and prints them (the only\n"
    "commands that print values are reveal, render and age decrypt):\n"
    "  env   NAME=value lines, organization-level plus APP's secrets. Values of\n"
    "        only A-Z a-z 0-9 _ . / : @ % + , = - are written bare; others in\n"
    "        double quotes with \\ before \\ \" $ and `, newlines kept, so that\n"
    "        `set -a; . FILE` (POSIX sh) and systemd EnvironmentFile= read them\n"
    "        back exactly (docker --env-file does not unquote: use bare values).\n"
    "        Values containing a NUL byte are refused.\n"
    "  json  one object NAME -> value string, same secrets as env; values that\n"
    "        are not UTF-8 text are refused (use k8s, which base64-encodes).\n"
    "  k8s   v1 Secret manifests (base64 data): without --app the\n"
    "        organization-level secrets, one Secret per namespace of ENV (name:\n"
    "        the environment's secretName or <org>-secrets); with --app only\n"
    "        APP's secrets, one per namespace of APP (<app>-secrets).\n"
    "-o is the format, as in kubectl (--format is the same option). `-o FILE`\n"
    "for a value that is not a format still writes FILE, with a warning: it is\n"
    "deprecated and will be refused in the next release.\n"
    "--output-file FILE writes to FILE instead of stdout: a new or regular file is replaced\n"
    "atomically with mode 0600; a FIFO or character device (/dev/null, a\n"
    "terminal) is written in place; a symlink is followed only to one of those;\n"
    "- and /dev/stdout mean stdout. A secret that cannot be unsealed is reported\n"
    "by name on stderr, the others are still rendered, and the exit status is 1.\n";

/* Each value that failed, once: "orgsecrets: render: ENV/NAME: why". */
static void print_failures(const org_values *vs, bool *shown) {
  for (size_t i = 0; i < vs->n; i++) {
    if (vs->v[i].error != NULL && !shown[i]) {
      cli_failf("render: %s", vs->v[i].error);
      shown[i] = true;
    }
  }
}

int cmd_render(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *format = NULL, *output = NULL, *o_arg = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--format", "-f", CLI_VALUE, &format},
                          {"--output", "-o", CLI_VALUE, &o_arg},
                          {"--output-file", NULL, CLI_VALUE, &output}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 5, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  enum org_format fmt;
  if (o_arg != NULL && org_format_parse(&fmt, o_arg) < 0) {
    /* the old meaning of -o, kept for one release */
    if (output != NULL)
      return cli_usage_error(usage, "render: unknown format -o %s", o_arg);
    cli_note("warning: `render -o FILE` is deprecated: -o is the output format now (env, json "
             "or k8s); writing %s as `--output-file %s` does (the old form goes in the next "
             "release)", o_arg, o_arg);
    output = o_arg;
    o_arg = NULL;
  }
  if (o_arg != NULL && format != NULL && strcmp(o_arg, format) != 0)
    return cli_usage_error(usage, "render: -o %s and --format %s disagree", o_arg, format);
  if (format == NULL)
    format = o_arg != NULL ? o_arg : "env";
  if (org_format_parse(&fmt, format) < 0)
    return cli_usage_error(usage, "render: unknown format %s", format);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  const age_identity *const *ids = NULL;
  size_t n_ids = 0;
  org_values vs = {0};
  bool *shown = NULL;
  os_buf b;
  os_buf_init(&b, (size_t)1 << 30, true);
  int status = CLI_FAIL;
  const org_ctx *oc = cli_open_env(&t, &env, &status, ctx, "render");
  if (oc == NULL)
    goto done;
  if (org_keys_get(&ids, &n_ids, oc->keys, &err) < 0) {
    status = cli_fail("render", &err);
    goto done;
  }
  if (org_values_load(&vs, t, env, app, org_format_scope(fmt), NULL, 0, ids, n_ids, &err) < 0) {
    status = cli_fail("render", &err);
    goto done;
  }
  if ((shown = calloc(vs.n ? vs.n : 1, sizeof(*shown))) == NULL) {
    status = cli_failf("render: out of memory");
    goto done;
  }
  print_failures(&vs, shown);
  int rc = org_render(&b, NULL, &vs, t->org, env, app, fmt, &err);
  print_failures(&vs, shown);
  if (rc < 0) {
    status = cli_fail("render", &err);
    goto done;
  }
  if (output != NULL) {
    if (cli_write_output(output, b.data, b.len, 0600, &err) < 0) {
      status = cli_fail("render", &err);
      goto done;
    }
  } else if (cli_write_all(1, b.data, b.len) < 0) {
    status = cli_failf("render: write stdout: %s", strerror(errno));
    goto done;
  }
  if (vs.failed > 0) {
    status = cli_failf("render: %zu secret(s) could not be rendered (see above)", vs.failed);
    goto done;
  }
  status = CLI_OK;
done:
  free(shown);
  os_buf_free(&b);
  org_values_free(&vs);
  spec_tree_free(t);
  return status;
}
