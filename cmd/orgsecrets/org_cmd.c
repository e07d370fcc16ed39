/* init, member add|remove|list, env add, app add: editing organization.yaml. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "seal/seal.h"

#define ROLE_ADMIN (1u << SPEC_ROLE_ADMIN)

static char **strings_dup(const cli_list *l) {
  char **v = calloc(l->n ? l->n : 1, sizeof(*v));
  if (v == NULL)
    return NULL;
  for (size_t i = 0; i < l->n; i++) {
    if ((v[i] = os_strdup(l->v[i])) == NULL) {
      for (size_t k = 0; k < i; k++)
        free(v[k]);
      free(v);
      return NULL;
    }
  }
  return v;
}

/* Validates the modified tree with the loader's own checks, then writes
 * organization.yaml: nothing is written that could not be loaded again. */
static int save_org(spec_tree *t, const char *action) {
  os_error err = OS_ERROR_INIT;
  if (spec_org_check(t->org, &err) < 0) {
    os_error_prefix(&err, "the change would make organization.yaml unloadable");
    return cli_fail(action, &err);
  }
  if (spec_tree_validate(t, NULL, NULL, &err) < 0)
    return cli_fail(action, &err);
  if (cli_write_file(t, t->org->pos.file, &err) < 0)
    return cli_fail(action, &err);
  return CLI_OK;
}

static void hint_rekey(const spec_tree *t) {
  size_t stale = cli_count_stale(t);
  if (stale > 0)
    cli_note("%zu secret(s) are sealed to an out-of-date recipient set; run `orgsecrets rekey`",
             stale);
}

/* ---- init ---- */

/* True when dir is missing or has no entries besides hidden ones. */
static bool dir_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return true;
  bool empty = true;
  struct dirent *de;
  while (empty && (de = readdir(d)) != NULL)
    empty = de->d_name[0] == '.';
  closedir(d);
  return empty;
}

/* What a careful repository ignores: files that may hold plaintext. */
static const char gitignore_block[] =
    "# orgsecrets: files that may hold plaintext values; never commit them.\n"
    "# Temporary files of an interrupted write (orgsecrets removes them itself)\n"
    ".orgsecrets-tmp-*\n"
    "*.tmp.??????\n"
    "# Rendered values (orgsecrets render -o, env files)\n"
    ".env\n"
    ".env.*\n"
    "*.env\n";

/* Writes .gitignore in dir, or appends the block to an existing one that
 * lacks it. */
static int write_gitignore(const char *dir, os_error *err) {
  char *path = os_path_join(dir, ".gitignore");
  char *old = NULL;
  size_t old_len = 0;
  os_buf b;
  os_buf_init(&b, 16u * 1024 * 1024, false);
  int rc = path == NULL ? os_error_set(err, OS_ENOMEM, "out of memory") : 0;
  if (rc == 0) {
    rc = os_read_file(&old, &old_len, path, b.max / 2, err);
    if (rc == OS_ENOTFOUND) {
      os_error_clear(err);
      rc = 0;
    }
  }
  if (rc == 0 && old != NULL && strstr(old, "\n.orgsecrets-tmp-*\n") != NULL)
    goto done; /* already there */
  if (rc == 0 && old != NULL && old_len > 0) {
    bool ok = os_buf_append(&b, old, old_len) == 0 &&
              (old[old_len - 1] == '\n' || os_buf_puts(&b, "\n") == 0) &&
              os_buf_puts(&b, "\n") == 0;
    if (!ok)
      rc = os_error_set(err, OS_ENOMEM, "%s: too large", path);
  }
  if (rc == 0 && os_buf_puts(&b, gitignore_block) < 0)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  if (rc == 0)
    rc = os_write_file_atomic(path, b.data, b.len, 0644, err);
done:
  os_buf_free(&b);
  free(old);
  free(path);
  return rc;
}

static const char init_usage[] =
    "usage: orgsecrets init --org ORG [--rotation-days N]\n"
    "\n"
    "Creates organization.yaml in the organization folder (--dir). ORG is a\n"
    "DNS-1123 label. --rotation-days sets the rotation policy that `lint`\n"
    "checks (0: none). Refuses when the folder already has an organization.\n"
    "Also writes .gitignore (or adds to it) so that temporary files of\n"
    "interrupted writes and rendered env files (.env, *.env) are never committed.\n"
    "Next: `orgsecrets member add YOU --role admin --recipient AGE1...`.\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv) {
  const char *org_id = NULL, *rotation = NULL;
  const cli_opt opts[] = {{"--org", NULL, CLI_VALUE, &org_id},
                          {"--rotation-days", NULL, CLI_VALUE, &rotation}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 0, init_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (org_id == NULL)
    return cli_usage_error(init_usage, "init: --org is required");
  if (!spec_dns_label_valid(org_id))
    return cli_failf("init: invalid organization id %s: must be a DNS-1123 label "
                     "(lower-case letters, digits and '-', at most 63)", org_id);
  long days = 0;
  if (rotation != NULL && cli_parse_long(&days, rotation, 0, 36500) < 0)
    return cli_failf("init: invalid --rotation-days %s: must be 0 to 36500", rotation);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  int status = CLI_FAIL;
  char *path = os_path_join(ctx->dir, "organization.yaml");
  if (path == NULL)
    return cli_failf("init: out of memory");
  struct stat st;
  if (stat(path, &st) == 0) {
    status = cli_failf("init: %s already exists; refusing to replace it", path);
    goto done;
  }
  if (!dir_empty(ctx->dir) && spec_tree_load(&t, ctx->dir, &err) == 0 && t->org != NULL) {
    status = cli_failf("init: %s already holds organization %s (%s)", ctx->dir, t->org->id,
                       t->org->pos.file ? t->org->pos.file : "?");
    goto done;
  }
  spec_tree_free(t);
  t = NULL;
  if (os_mkdir_p(ctx->dir, 0755, &err) < 0 || write_gitignore(ctx->dir, &err) < 0) {
    status = cli_fail("init", &err);
    goto done;
  }
  t = spec_tree_new(ctx->dir);
  spec_org *o = spec_org_new();
  if (t == NULL || o == NULL || (o->id = os_strdup(org_id)) == NULL) {
    spec_org_free(o);
    status = cli_failf("init: out of memory");
    goto done;
  }
  o->rotation_days = (int)days;
  if (spec_tree_set_org(t, o, &err) < 0) {
    status = cli_fail("init", &err);
    goto done;
  }
  if (cli_write_file(t, t->org->pos.file, &err) < 0) {
    status = cli_fail("init", &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: created organization %s in %s\n", org_id, path);
  status = CLI_OK;
done:
  spec_tree_free(t);
  free(path);
  return status;
}

/* ---- member ---- */

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

static bool has_admin(const spec_org *o) {
  for (size_t i = 0; i < o->n_members; i++) {
    if (o->members[i].role == SPEC_ROLE_ADMIN)
      return true;
  }
  return false;
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
  os_error err = OS_ERROR_INIT;
  if (role != SPEC_ROLE_VIEWER && recipient == NULL)
    return cli_failf("member add %s: a %s needs --recipient AGE1... (from orgsecrets keygen)",
                     name, spec_role_name(role));
  if (recipient != NULL) {
    age_recipient *r = NULL;
    if (age_recipient_parse(&r, recipient, &err) < 0)
      return cli_fail("member add: invalid --recipient", &err);
    age_recipient_free(r);
  }
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  int status = CLI_FAIL;
  spec_org *o = t->org;
  if (has_admin(o)) {
    const spec_member *who = NULL;
    if (cli_require_role(&who, ctx, t, ROLE_ADMIN, "member add") != 0)
      goto done;
  } else if (role != SPEC_ROLE_ADMIN) {
    status = cli_failf("member add %s: the organization has no admin yet; add one first", name);
    goto done;
  }
  if (spec_org_find_member(o, name) != NULL) {
    status = cli_failf("member add %s: already a member", name);
    goto done;
  }
  spec_member *nm = realloc(o->members, (o->n_members + 1) * sizeof(*nm));
  if (nm == NULL) {
    status = cli_failf("member add: out of memory");
    goto done;
  }
  o->members = nm;
  spec_member *m = &o->members[o->n_members];
  memset(m, 0, sizeof(*m));
  o->n_members++;
  m->role = role;
  if ((m->name = os_strdup(name)) == NULL ||
      (recipient != NULL && (m->recipient = os_strdup(recipient)) == NULL)) {
    status = cli_failf("member add: out of memory");
    goto done;
  }
  if ((status = save_org(t, "member add")) != CLI_OK)
    goto done;
  fprintf(stderr, "orgsecrets: added %s %s\n", spec_role_name(role), name);
  hint_rekey(t);
done:
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
  spec_tree *t = NULL;
  if (cli_load_tree(&t, ctx) != 0)
    return CLI_FAIL;
  int status = CLI_FAIL;
  spec_org *o = t->org;
  const spec_member *who = NULL;
  if (cli_require_role(&who, ctx, t, ROLE_ADMIN, "member remove") != 0)
    goto done;
  size_t idx = o->n_members, admins = 0;
  for (size_t i = 0; i < o->n_members; i++) {
    if (strcmp(o->members[i].name, name) == 0)
      idx = i;
    if (o->members[i].role == SPEC_ROLE_ADMIN)
      admins++;
  }
  if (idx == o->n_members) {
    status = cli_failf("member remove %s: not a member of organization %s", name, o->id);
    goto done;
  }
  if (o->members[idx].role == SPEC_ROLE_ADMIN && admins == 1) {
    status = cli_failf("member remove %s: refusing to remove the last admin", name);
    goto done;
  }
  char fp[SPEC_FINGERPRINT_LEN + 1] = "none";
  if (o->members[idx].recipient != NULL &&
      seal_fingerprint(fp, o->members[idx].recipient, NULL) < 0)
    snprintf(fp, sizeof(fp), "?");
  spec_member gone = o->members[idx];
  memmove(&o->members[idx], &o->members[idx + 1], (o->n_members - idx - 1) * sizeof(gone));
  o->n_members--;
  free(gone.name);
  free(gone.recipient);
  free(gone.pos.file);
  if ((status = save_org(t, "member remove")) != CLI_OK)
    goto done;
  fprintf(stderr, "orgsecrets: removed %s (key %s)\n", name, fp);
  hint_rekey(t);
done:
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
    for (size_t i = 0; arr != NULL && i < o->n_members; i++) {
      const spec_member *m = &o->members[i];
      json_t *obj = json_pack("{s:s, s:s}", "name", m->name, "role", spec_role_name(m->role));
      if (obj != NULL && m->recipient != NULL)
        json_object_set_new(obj, "recipient", json_string(m->recipient));
      json_array_append_new(arr, obj);
    }
    char *s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
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

/* ---- env ---- */

static const char env_usage[] =
    "usage: orgsecrets env add ENV --controller AGE1... [--controller AGE1...]\n"
    "                          [--namespace NS]... [--env-file PATH] [--secret-name NAME]\n"
    "\n"
    "Adds an environment (a DNS-1123 label such as dev, staging, prod). Each\n"
    "--controller is the public key of a controller that deploys it: its\n"
    "secrets are sealed to them. --namespace lists where organization-level\n"
    "secrets are delivered; --secret-name overrides the Kubernetes Secret name\n"
    "(default <org>-secrets). Needs an admin (--as).\n";

static int env_add(cli_ctx *ctx, int argc, char **argv) {
  cli_list controllers = {0}, namespaces = {0};
  const char *env_file = NULL, *secret_name = NULL;
  const cli_opt opts[] = {{"--controller", NULL, CLI_LIST, &controllers},
                          {"--namespace", "-n", CLI_LIST, &namespaces},
                          {"--env-file", NULL, CLI_VALUE, &env_file},
                          {"--secret-name", NULL, CLI_VALUE, &secret_name}};
  cli_args a;
  spec_tree *t = NULL;
  int status = CLI_USAGE;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 4, 1, env_usage);
  if (prc != 0) {
    status = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  if (a.n_pos != 1) {
    status = cli_usage_error(env_usage, "env add: ENV is required");
    goto done;
  }
  if (controllers.n == 0) {
    status = cli_usage_error(env_usage, "env add: at least one --controller is required");
    goto done;
  }
  status = CLI_FAIL;
  const char *name = a.pos[0];
  if (!spec_dns_label_valid(name)) {
    status = cli_failf("env add: invalid environment name %s: must be a DNS-1123 label", name);
    goto done;
  }
  os_error err = OS_ERROR_INIT;
  for (size_t i = 0; i < controllers.n; i++) {
    age_recipient *r = NULL;
    if (age_recipient_parse(&r, controllers.v[i], &err) < 0) {
      status = cli_fail("env add: invalid --controller", &err);
      goto done;
    }
    age_recipient_free(r);
  }
  for (size_t i = 0; i < namespaces.n; i++) {
    if (!spec_dns_label_valid(namespaces.v[i])) {
      status = cli_failf("env add: invalid namespace %s", namespaces.v[i]);
      goto done;
    }
  }
  if (env_file != NULL && !spec_env_file_valid(env_file)) {
    status = cli_failf("env add: invalid --env-file %s: must be a relative path below the "
                       "controller's --env-file-dir, without \".\" or \"..\" parts", env_file);
    goto done;
  }
  if (secret_name != NULL && !spec_dns_subdomain_valid(secret_name)) {
    status = cli_failf("env add: invalid --secret-name %s: must be a Kubernetes object name "
                       "(DNS-1123 subdomain)", secret_name);
    goto done;
  }
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  const spec_member *who = NULL;
  if (cli_require_role(&who, ctx, t, ROLE_ADMIN, "env add") != 0)
    goto done;
  spec_org *o = t->org;
  if (spec_org_find_env(o, name) != NULL) {
    status = cli_failf("env add %s: the environment already exists", name);
    goto done;
  }
  spec_environment *ne = realloc(o->envs, (o->n_envs + 1) * sizeof(*ne));
  if (ne == NULL) {
    status = cli_failf("env add: out of memory");
    goto done;
  }
  o->envs = ne;
  spec_environment *e = &o->envs[o->n_envs];
  memset(e, 0, sizeof(*e));
  o->n_envs++;
  if ((e->name = os_strdup(name)) == NULL ||
      (e->controllers = strings_dup(&controllers)) == NULL) {
    status = cli_failf("env add: out of memory");
    goto done;
  }
  e->n_controllers = controllers.n;
  if (namespaces.n > 0) {
    if ((e->namespaces = strings_dup(&namespaces)) == NULL) {
      status = cli_failf("env add: out of memory");
      goto done;
    }
    e->n_namespaces = namespaces.n;
  }
  if ((env_file != NULL && (e->env_file = os_strdup(env_file)) == NULL) ||
      (secret_name != NULL && (e->secret_name = os_strdup(secret_name)) == NULL)) {
    status = cli_failf("env add: out of memory");
    goto done;
  }
  if ((status = save_org(t, "env add")) != CLI_OK)
    goto done;
  fprintf(stderr, "orgsecrets: added environment %s\n", name);
done:
  spec_tree_free(t);
  cli_list_free(&controllers);
  cli_list_free(&namespaces);
  return status;
}

int cmd_env(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(env_usage, stdout);
    return CLI_OK;
  }
  if (argc >= 2 && strcmp(argv[1], "add") == 0)
    return env_add(ctx, argc - 1, argv + 1);
  return cli_usage_error(env_usage, "env: expected `env add`");
}

/* ---- app ---- */

static const char app_usage[] =
    "usage: orgsecrets app add APP --namespace NS [--namespace NS]... [--secret-name NAME]\n"
    "\n"
    "Adds an application (a DNS-1123 label) and the namespaces it runs in.\n"
    "Its secrets (`set --app APP`) are delivered to one Kubernetes Secret per\n"
    "namespace (default name <app>-secrets). Needs an admin (--as).\n";

static int app_add(cli_ctx *ctx, int argc, char **argv) {
  cli_list namespaces = {0};
  const char *secret_name = NULL;
  const cli_opt opts[] = {{"--namespace", "-n", CLI_LIST, &namespaces},
                          {"--secret-name", NULL, CLI_VALUE, &secret_name}};
  cli_args a;
  spec_tree *t = NULL;
  int status = CLI_USAGE;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 1, app_usage);
  if (prc != 0) {
    status = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  if (a.n_pos != 1) {
    status = cli_usage_error(app_usage, "app add: APP is required");
    goto done;
  }
  if (namespaces.n == 0) {
    status = cli_usage_error(app_usage, "app add: at least one --namespace is required");
    goto done;
  }
  status = CLI_FAIL;
  const char *name = a.pos[0];
  if (!spec_dns_label_valid(name)) {
    status = cli_failf("app add: invalid application name %s: must be a DNS-1123 label", name);
    goto done;
  }
  for (size_t i = 0; i < namespaces.n; i++) {
    if (!spec_dns_label_valid(namespaces.v[i])) {
      status = cli_failf("app add: invalid namespace %s", namespaces.v[i]);
      goto done;
    }
  }
  if (secret_name != NULL && !spec_dns_subdomain_valid(secret_name)) {
    status = cli_failf("app add: invalid --secret-name %s: must be a Kubernetes object name "
                       "(DNS-1123 subdomain)", secret_name);
    goto done;
  }
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  const spec_member *who = NULL;
  if (cli_require_role(&who, ctx, t, ROLE_ADMIN, "app add") != 0)
    goto done;
  spec_org *o = t->org;
  if (spec_org_find_app(o, name) != NULL) {
    status = cli_failf("app add %s: the application already exists", name);
    goto done;
  }
  spec_application *na = realloc(o->apps, (o->n_apps + 1) * sizeof(*na));
  if (na == NULL) {
    status = cli_failf("app add: out of memory");
    goto done;
  }
  o->apps = na;
  spec_application *ap = &o->apps[o->n_apps];
  memset(ap, 0, sizeof(*ap));
  o->n_apps++;
  if ((ap->name = os_strdup(name)) == NULL ||
      (ap->namespaces = strings_dup(&namespaces)) == NULL ||
      (secret_name != NULL && (ap->secret_name = os_strdup(secret_name)) == NULL)) {
    status = cli_failf("app add: out of memory");
    goto done;
  }
  ap->n_namespaces = namespaces.n;
  if ((status = save_org(t, "app add")) != CLI_OK)
    goto done;
  fprintf(stderr, "orgsecrets: added application %s\n", name);
done:
  spec_tree_free(t);
  cli_list_free(&namespaces);
  return status;
}

int cmd_app(cli_ctx *ctx, int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(app_usage, stdout);
    return CLI_OK;
  }
  if (argc >= 2 && strcmp(argv[1], "add") == 0)
    return app_add(ctx, argc - 1, argv + 1);
  return cli_usage_error(app_usage, "app: expected `app add`");
}
