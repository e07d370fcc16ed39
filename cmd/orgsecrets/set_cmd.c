/* set, create, update: write one secret (cli_secret_write, shared with
 * create_cmd.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"

static const char set_usage[] =
    "usage: orgsecrets set NAME [--env ENV] [--app APP] [--description TEXT]\n"
    "                      [--visible-to-viewers | --hidden-from-viewers]\n"
    "                      [--disable | --enable] [--keep-value]\n"
    "                      [--from-file F | --generate [--length N]] [--trim]\n"
    "                      [--allow-reserved-name] [--rotation-days N|org]\n"
    "\n"
    "Creates or updates (for scripts; people use create and update) the secret\n"
    "NAME (^[A-Z][A-Z0-9_]*$) of environment ENV, organization-level, or of\n"
    "application APP with --app, and writes secrets/ENV/NAME.yaml (or\n"
    "secrets/ENV/APP/NAME.yaml, or the file it was loaded from). Replacing a\n"
    "value someone else set says whose it was. The value comes from\n"
    "--from-file F (- is stdin), from --generate (N random characters of\n"
    "A-Z a-z 0-9 - _, default 32), or else from stdin: on a terminal one line,\n"
    "not echoed, without its newline; from a pipe byte for byte (a trailing\n"
    "newline is kept and warned about: pipe with `printf %s \"$VALUE\"`, or pass\n"
    "--trim to drop trailing newlines). Values must be 1 byte to 256 KiB and not\n"
    "only whitespace.\n"
    "\n"
    "Setting the same value again (checked by unsealing the current one with -i)\n"
    "changes nothing. --disable/--enable on an existing secret without\n"
    "--from-file/--generate only change its state (stdin is not read); so does\n"
    "--keep-value with --description or the viewer flags. Needs an admin or a\n"
    "member (--as); the value is sealed to the environment's controllers, every\n"
    "admin and member, and viewers with a key when --visible-to-viewers.\n"
    "A new secret whose name decides what programs run or load (PATH, LD_*,\n"
    "PYTHON*, ...; see docs/security.md), or ends in _, is refused unless\n"
    "--allow-reserved-name (--allow-env NAME is the older spelling).\n"
    "--rotation-days N gives the secret its own rotation policy (0: none; org:\n"
    "the organization's again); like --disable, it alone changes no value.\n";

static const char create_usage[] =
    "usage: orgsecrets create NAME [--env ENV] [--app APP] [--description TEXT]\n"
    "                         [--visible-to-viewers] [--disable]\n"
    "                         [--from-file F | --generate [--length N]] [--trim]\n"
    "                         [--allow-reserved-name] [--rotation-days N|org]\n"
    "\n"
    "Creates the secret NAME of ENV (organization-level, or of application APP\n"
    "with --app) and refuses a name that already exists there (`update` changes\n"
    "an existing one). The value comes from --from-file F (- is stdin),\n"
    "--generate, or else stdin: on a terminal one line, not echoed, without its\n"
    "newline; from a pipe byte for byte (a trailing newline is kept and warned\n"
    "about; --trim drops it). Prints lint's naming advice. A name that decides\n"
    "what programs run or load (PATH, HOME, LD_*, IFS, ...), or ends in _, is\n"
    "refused unless --allow-reserved-name. --rotation-days N gives the secret\n"
    "its own rotation policy (0: none; org: the organization's). Needs an admin\n"
    "or a member.\n";

static const char update_usage[] =
    "usage: orgsecrets update NAME [--env ENV] [--app APP] [--description TEXT]\n"
    "                         [--visible-to-viewers | --hidden-from-viewers]\n"
    "                         [--disable | --enable] [--rotation-days N|org]\n"
    "                         [--from-file F | --generate [--length N]] [--trim]\n"
    "\n"
    "Changes an existing secret (refuses a missing one: `create` makes it) and\n"
    "only what it is given: `update NAME --env ENV --description TEXT` changes\n"
    "the description and needs no value. The value is read only with\n"
    "--from-file F (- is stdin) or --generate, or from stdin when no other\n"
    "change is given (on a terminal one line, not echoed, without its newline).\n"
    "--rotation-days N|org changes only the secret's rotation policy. Without\n"
    "--app it addresses the organization-level secret. Needs an admin or a\n"
    "member.\n";

int cli_secret_write(cli_ctx *ctx, int argc, char **argv, enum org_set_mode mode) {
  const char *cmd = mode == ORG_SET_CREATE ? "create" : mode == ORG_SET_UPDATE ? "update" : "set";
  const char *usage = mode == ORG_SET_CREATE   ? create_usage
                      : mode == ORG_SET_UPDATE ? update_usage
                                               : set_usage;
  const char *env = NULL, *app = NULL, *description = NULL, *from_file = NULL, *length_s = NULL;
  bool visible = false, hidden = false, disable = false, enable = false, gen = false,
       keep_value = false, trim = false, allow_reserved = false;
  const char *allow_env = NULL, *rotation_s = NULL;
  const cli_opt opts[] = {
      {"--env", "-e", CLI_VALUE, &env},
      {"--app", NULL, CLI_VALUE, &app},
      {"--description", NULL, CLI_VALUE, &description},
      {"--visible-to-viewers", NULL, CLI_FLAG, &visible},
      {"--hidden-from-viewers", NULL, CLI_FLAG, &hidden},
      {"--disable", NULL, CLI_FLAG, &disable},
      {"--enable", NULL, CLI_FLAG, &enable},
      {"--from-file", NULL, CLI_VALUE, &from_file},
      {"--generate", NULL, CLI_FLAG, &gen},
      {"--length", NULL, CLI_VALUE, &length_s},
      {"--trim", NULL, CLI_FLAG, &trim},
      {"--allow-reserved-name", NULL, CLI_FLAG, &allow_reserved},
      {"--allow-env", NULL, CLI_VALUE, &allow_env}, /* the older spelling of set */
      {"--rotation-days", NULL, CLI_VALUE, &rotation_s},
      {"--keep-value", NULL, CLI_FLAG, &keep_value},
  };
  /* update has no --keep-value (it keeps the value unless given one) */
  size_t n_opts = sizeof(opts) / sizeof(opts[0]) - (mode == ORG_SET_UPSERT ? 0 : 1);
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, n_opts, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "%s: NAME is required", cmd);
  if (disable && enable)
    return cli_usage_error(usage, "%s: --disable and --enable exclude each other", cmd);
  if (visible && hidden)
    return cli_usage_error(usage,
                           "%s: --visible-to-viewers and --hidden-from-viewers exclude "
                           "each other",
                           cmd);
  if ((from_file != NULL) + gen + keep_value > 1)
    return cli_usage_error(usage, "%s: give at most one of --from-file, --generate, --keep-value",
                           cmd);
  if (length_s != NULL && !gen)
    return cli_usage_error(usage, "%s: --length needs --generate", cmd);
  if (trim && gen)
    return cli_usage_error(usage, "%s: --trim does not apply to --generate", cmd);
  long gen_len = 32;
  if (length_s != NULL && cli_parse_long(&gen_len, length_s, 1, ORG_GENERATE_MAX) < 0)
    return cli_usage_error(usage, "%s: --length must be 1 to %d", cmd, ORG_GENERATE_MAX);
  int rotation = ORG_ROTATION_KEEP;
  if (rotation_s != NULL && cli_parse_rotation(&rotation, rotation_s) < 0)
    return cli_usage_error(usage, "%s: --rotation-days must be 0 to %d, or org", cmd,
                           SPEC_ROTATION_DAYS_MAX);
  const char *name = a.pos[0];
  os_error err = OS_ERROR_INIT;
  char label[SPEC_NAME_MAX + 160], what[SPEC_NAME_MAX + 200];
  snprintf(what, sizeof(what), "%s %s", cmd, name);
  if (org_secret_name_check(name, &err) < 0)
    return cli_fail(what, &err);

  spec_tree *t = NULL;
  uint8_t *value = NULL;
  size_t value_len = 0;
  int status = CLI_FAIL;
  org_secret_opts o = {
      .environment = env,
      .application = app,
      .name = name,
      .description = description,
      .visible_to_viewers = visible  ? 1
                            : hidden ? 0
                                     : ORG_KEEP,
      .state = disable  ? SPEC_STATE_DISABLED
               : enable ? SPEC_STATE_ACTIVE
                        : ORG_KEEP,
      .allow_reserved_name = allow_reserved || (allow_env != NULL && strcmp(allow_env, name) == 0),
      .mode = mode,
      .rotation_days = rotation,
  };
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, cmd)) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  o.environment = env;
  org_secret_label(label, sizeof(label), env, app, name);
  snprintf(what, sizeof(what), "%s %s", cmd, label);
  const spec_secret *existing = NULL;
  if (org_secret_check(&existing, oc, t, &o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (existing == NULL) { /* the naming advice lint would give, before the value is typed */
    org_findings f = {0};
    os_error lerr = OS_ERROR_INIT;
    if (org_lint_name(&f, env, app, name, NULL, 0, &lerr) == 0)
      for (size_t i = 0; i < f.n; i++)
        cli_note("warning: %s", f.v[i].message);
    org_findings_free(&f);
  }
  /* the value: stdin is read only when nothing else says what to do */
  bool meta = description != NULL || visible || hidden || disable || enable || rotation_s != NULL;
  bool read_stdin = false;
  if (from_file != NULL || gen)
    read_stdin = false;
  else if (mode == ORG_SET_UPDATE)
    read_stdin = !meta;
  else if (mode == ORG_SET_CREATE)
    read_stdin = true;
  else
    read_stdin = !keep_value && !(existing != NULL && (disable || enable || rotation_s != NULL));
  int rc = 0;
  if (from_file != NULL && strcmp(from_file, "-") == 0)
    read_stdin = true;
  else if (from_file != NULL)
    rc = cli_read_value_file(&value, &value_len, from_file, &err);
  else if (gen)
    rc = org_value_generate(&value, (size_t)gen_len, &err);
  if (rc == 0 && read_stdin)
    rc = cli_read_value(&value, &value_len, label, trim, &err);
  else if (rc == 0 && trim && value != NULL)
    value_len = cli_trim_newlines(value, value_len);
  if (rc < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (gen)
    value_len = (size_t)gen_len;
  o.value = value;
  o.value_len = value_len;
  org_set_result res;
  if (org_secret_set(&res, oc, t, &o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (!res.changed)
    fprintf(stderr, "orgsecrets: %s unchanged\n", label);
  else
    fprintf(stderr, "orgsecrets: %s %s (%s)\n", res.created ? "created" : "updated", label,
            res.file);
  status = CLI_OK;
done:
  os_free_secret(value, value_len);
  spec_tree_free(t);
  return status;
}

int cmd_set(cli_ctx *ctx, int argc, char **argv) {
  return cli_secret_write(ctx, argc, argv, ORG_SET_UPSERT);
}
