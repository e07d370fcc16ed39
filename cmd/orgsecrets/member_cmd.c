/* member add|remove|list. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char member_usage[] =
    "usage: orgsecrets member add NAME --role admin|member|viewer [--recipient AGE1...]\n"
    "       orgsecrets member remove NAME\n"
    "       orgsecrets member list [-o table|json]\n"
    "\n"
    "Admins and members need a recipient (their `orgsecrets keygen` public key);\n"
    "a viewer's is optional (needed only for secrets marked --visible-to-viewers).\n"
    "Adding or removing needs an admin (--as), except the first member, who must\n"
    "be an admin. After a change, run `orgsecrets rekey` so that values are\n"
    "sealed to the new set of recipients; `rekey` lists what a removed member\n"
    "could read so that it can be rotated.\n";

static void hint_rekey(const spec_tree *t) {
  char summary[1024];
  org_reseal_summary(summary, sizeof(summary), t);
  if (summary[0] != '\0')
    cli_note("%s", summary);
}

static int member_add(cli_ctx *ctx, int argc, char **argv) {
  const char *role_s = NULL, *recipient = NULL;
  const cli_opt opts[] = {{"--role", NULL, CLI_VALUE, &role_s},
                          {"--recipient", NULL, CLI_VALUE, &recipient}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 1, member_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(member_usage, "member add: NAME is required");
  if (role_s == NULL)
    return cli_usage_error(member_usage, "member add: --role is required");
  enum spec_role role;
  if (spec_role_parse(&role, role_s) < 0)
    return cli_usage_error(member_usage, "member add: unknown role %s", role_s);
  const char *name = a.pos[0];
  char what[SPEC_NAME_MAX + 64];
  snprintf(what, sizeof(what), "member add %s", name);
  os_error err = OS_ERROR_INIT;
  if (org_member_check(name, role, recipient, &err) < 0)
    return cli_fail(what, &err);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  int status = CLI_OK;
  if (org_member_add(oc, t, name, role, recipient, &err) < 0) {
    status = cli_fail(what, &err);
  } else {
    fprintf(stderr, "orgsecrets: added %s %s\n", spec_role_name(role), name);
    hint_rekey(t);
  }
  spec_tree_free(t);
  return status;
}

static int member_remove(cli_ctx *ctx, int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, NULL, 0, 1, member_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(member_usage, "member remove: NAME is required");
  const char *name = a.pos[0];
  char what[SPEC_NAME_MAX + 64];
  snprintf(what, sizeof(what), "member remove %s", name);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  char fp[SPEC_FINGERPRINT_LEN + 1];
  int status = CLI_OK;
  if (org_member_remove(fp, oc, t, name, &err) < 0) {
    status = cli_fail(what, &err);
  } else {
    fprintf(stderr, "orgsecrets: removed %s (key %s)\n", name, fp);
    hint_rekey(t);
  }
  spec_tree_free(t);
  return status;
}

static int member_list(cli_ctx *ctx, int argc, char **argv) {
  const char *format = "table";
  const cli_opt opts[] = {{"--output", "-o", CLI_VALUE, &format}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 0, member_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  bool json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0)
    return cli_usage_error(member_usage, "member list: unknown output format %s", format);
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  const spec_org *o = t->org;
  int status = CLI_OK;
  if (json) {
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < o->n_members; i++)
      ok = json_array_append_new(arr, org_member_json(&o->members[i])) == 0;
    char *s = ok ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s == NULL)
      status = cli_failf("member list: out of memory");
    else
      printf("%s\n", s);
    free(s);
    json_decref(arr);
  } else {
    int w = 4;
    for (size_t i = 0; i < o->n_members; i++) {
      int l = (int)strlen(o->members[i].name);
      if (l > w)
        w = l;
    }
    printf("%-*s  %-6s  %s\n", w, "NAME", "ROLE", "RECIPIENT");
    for (size_t i = 0; i < o->n_members; i++) {
      const spec_member *m = &o->members[i];
      printf("%-*s  %-6s  %s\n", w, m->name, spec_role_name(m->role),
             m->recipient ? m->recipient : "-");
    }
  }
  spec_tree_free(t);
  return status;
}

int cmd_member(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (argc >= 2) {
      fputs(member_usage, stdout);
      return CLI_OK;
    }
    return cli_usage_error(member_usage, "member: missing subcommand");
  }
  if (strcmp(argv[1], "add") == 0)
    return member_add(ctx, argc - 1, argv + 1);
  if (strcmp(argv[1], "remove") == 0)
    return member_remove(ctx, argc - 1, argv + 1);
  if (strcmp(argv[1], "list") == 0)
    return member_list(ctx, argc - 1, argv + 1);
  return cli_usage_error(member_usage, "member: unknown subcommand %s", argv[1]);
}
