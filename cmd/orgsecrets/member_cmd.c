/* member add|remove|update|list. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char member_usage[] =
    "usage: orgsecrets member add NAME --role admin|member|viewer [--recipient AGE1...]\n"
    "       orgsecrets member remove NAME\n"
    "       orgsecrets member update NAME [--role admin|member|viewer] [--recipient AGE1...]\n"
    "       orgsecrets member list [-o table|json]\n"
    "\n"
    "Admins and members need a recipient (their `orgsecrets keygen` public key);\n"
    "a viewer's is optional (needed only for secrets marked --visible-to-viewers).\n"
    "Adding or removing needs an admin (--as), except the first member, who must\n"
    "be an admin. update changes a member's role or key (--recipient '' removes a\n"
    "viewer's key); it needs an admin and never demotes the last admin.\n"
    "After a change, run `orgsecrets rekey` so that values are\n"
    "sealed to the new set of recipients; `rekey` lists what a removed member\n"
    "could read so that it can be rotated.\n";

/* What `rekey` must now re-seal: how many, and the first few by name. */
static void hint_rekey(const spec_tree *t) {
  size_t stale = org_count_stale(t);
  if (stale == 0)
    return;
  os_error err = OS_ERROR_INIT;
  org_rekey_plan p = {0};
  char names[512] = "";
  size_t used = 0;
  if (org_rekey_plan_build(&p, t, &err) == 0) {
    for (size_t i = 0; i < p.n && i < 5; i++) {
      char label[SPEC_NAME_MAX + 160];
      const spec_secret *s = p.v[i].secret;
      int n = snprintf(names + used, sizeof(names) - used, "%s%s", i > 0 ? ", " : "",
                       org_secret_label(label, sizeof(label), s->environment, s->application,
                                        s->name));
      if (n < 0 || (size_t)n >= sizeof(names) - used)
        break;
      used += (size_t)n;
    }
  }
  cli_note("`orgsecrets rekey` must re-seal %zu secret(s) for this to take effect (%s%s); run it",
           stale, names, p.n > 5 ? ", ..." : "");
  org_rekey_plan_free(&p);
  size_t exposed = org_unauthorized_count(NULL, t);
  if (exposed > 0)
    cli_note("%zu of them can still be read by a key that lost access: `orgsecrets lint` fails "
             "until then, and rekey lists them to rotate", exposed);
}

typedef struct member_args {
  const char *name, *role_s, *recipient;
  enum spec_role role;
} member_args;

/* NAME [--role ROLE] [--recipient AGE1...] of `member WORD`: -1 to go on,
 * else the exit status. */
static int parse_member(member_args *m, cli_ctx *ctx, int argc, char **argv, const char *word) {
  *m = (member_args){.role = SPEC_ROLE_VIEWER};
  const cli_opt opts[] = {{"--role", NULL, CLI_VALUE, &m->role_s},
                          {"--recipient", NULL, CLI_VALUE, &m->recipient}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 1, member_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(member_usage, "member %s: NAME is required", word);
  if (m->role_s != NULL && spec_role_parse(&m->role, m->role_s) < 0)
    return cli_usage_error(member_usage, "member %s: unknown role %s", word, m->role_s);
  m->name = a.pos[0];
  return -1;
}

static int member_add(cli_ctx *ctx, int argc, char **argv) {
  member_args m;
  int st = parse_member(&m, ctx, argc, argv, "add");
  if (st >= 0)
    return st;
  if (m.role_s == NULL)
    return cli_usage_error(member_usage, "member add: --role is required");
  const char *name = m.name, *recipient = m.recipient;
  enum spec_role role = m.role;
  char what[SPEC_NAME_MAX + 64];
  snprintf(what, sizeof(what), "member add %s", name);
  os_error err = OS_ERROR_INIT;
  if (org_member_check(name, role, recipient, &err) < 0)
    return cli_fail(what, &err);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
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
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
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

static int member_update(cli_ctx *ctx, int argc, char **argv) {
  member_args ma;
  int st = parse_member(&ma, ctx, argc, argv, "update");
  if (st >= 0)
    return st;
  if (ma.role_s == NULL && ma.recipient == NULL)
    return cli_usage_error(member_usage, "member update: give --role, --recipient or both");
  const char *name = ma.name;
  char what[SPEC_NAME_MAX + 64];
  snprintf(what, sizeof(what), "member update %s", name);
  spec_tree *t = NULL;
  const org_ctx *oc = cli_open(&t, ctx);
  if (oc == NULL)
    return CLI_FAIL;
  os_error err = OS_ERROR_INIT;
  int status = CLI_OK;
  const spec_member *m = spec_org_find_member(t->org, name);
  enum spec_role before = m != NULL ? m->role : ma.role;
  if (org_member_update(oc, t, name, ma.role_s != NULL ? (int)ma.role : -1, ma.recipient, &err) <
      0) {
    status = cli_fail(what, &err);
  } else {
    m = spec_org_find_member(t->org, name);
    fprintf(stderr, "orgsecrets: updated %s: %s%s%s%s\n", name, spec_role_name(m->role),
            before != m->role ? " (was " : "", before != m->role ? spec_role_name(before) : "",
            before != m->role ? ")" : "");
    if (ma.recipient != NULL)
      fprintf(stderr, "orgsecrets: %s's key is now %s\n", name,
              m->recipient != NULL ? m->recipient : "none");
    hint_rekey(t);
  }
  spec_tree_free(t);
  return status;
}

static int member_list(cli_ctx *ctx, int argc, char **argv) {
  spec_tree *t = NULL;
  enum cli_format fmt;
  int status = cli_listing(&t, &fmt, ctx, argc, argv, member_usage, "member list");
  if (t == NULL)
    return status;
  const spec_org *o = t->org;
  if (fmt == CLI_FORMAT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; i < o->n_members; i++)
      cli_json_push(&arr, org_member_json(&o->members[i]));
    status = cli_print_json(arr, "member list");
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
  if (strcmp(argv[1], "update") == 0)
    return member_update(ctx, argc - 1, argv + 1);
  return cli_usage_error(member_usage, "member: unknown subcommand %s", argv[1]);
}
