/* set: create or update one secret. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/buf.h"

static const char usage[] =
    "usage: orgsecrets set NAME [--env ENV] [--app APP] [--description TEXT]\n"
    "                      [--visible-to-viewers | --hidden-from-viewers]\n"
    "                      [--disable | --enable] [--keep-value]\n"
    "                      [--from-file F | --generate [--length N]] [--allow-env NAME]\n"
    "                      [--rotation-days N|org]\n"
    "\n"
    "Creates or updates the secret NAME (^[A-Z][A-Z0-9_]*$) of environment ENV\n"
    "and writes secrets/ENV/NAME.yaml (or the file it was loaded from). The\n"
    "value comes from --from-file F, from --generate (N random characters of\n"
    "A-Z a-z 0-9 - _, default 32), or else from stdin. Values are taken byte\n"
    "for byte: a trailing newline is part of the value, so pipe with\n"
    "`printf %s \"$VALUE\" | orgsecrets set ...`, not echo. Values must be 1 byte\n"
    "to 256 KiB.\n"
    "\n"
    "Setting the same value again (checked by unsealing the current one with -i)\n"
    "changes nothing. --disable/--enable on an existing secret without\n"
    "--from-file/--generate only change its state (stdin is not read); so does\n"
    "--keep-value with --description or the viewer flags. Needs an admin or a\n"
    "member (--as); the value is sealed to the environment's controllers, every\n"
    "admin and member, and viewers with a key when --visible-to-viewers.\n"
    "A new secret whose name decides what programs run or load (PATH, LD_*,\n"
    "PYTHON*, ...; see docs/security.md) is refused unless --allow-env NAME.\n"
    "--rotation-days N gives the secret its own rotation policy (0: none; org:\n"
    "the organization's again); like --disable, it alone changes no value.\n";

int cmd_set(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *description = NULL, *from_file = NULL, *length_s = NULL;
  bool visible = false, hidden = false, disable = false, enable = false, gen = false,
       keep_value = false;
  const char *allow_env = NULL, *rotation_s = NULL;
  const cli_opt opts[] = {
      {"--env", "-e", CLI_VALUE, &env},
      {"--app", NULL, CLI_VALUE, &app},
      {"--description", NULL, CLI_VALUE, &description},
      {"--visible-to-viewers", NULL, CLI_FLAG, &visible},
      {"--hidden-from-viewers", NULL, CLI_FLAG, &hidden},
      {"--disable", NULL, CLI_FLAG, &disable},
      {"--enable", NULL, CLI_FLAG, &enable},
      {"--keep-value", NULL, CLI_FLAG, &keep_value},
      {"--from-file", NULL, CLI_VALUE, &from_file},
      {"--generate", NULL, CLI_FLAG, &gen},
      {"--length", NULL, CLI_VALUE, &length_s},
      {"--allow-env", NULL, CLI_VALUE, &allow_env},
      {"--rotation-days", NULL, CLI_VALUE, &rotation_s},
  };
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "set: NAME is required");
  if (disable && enable)
    return cli_usage_error(usage, "set: --disable and --enable exclude each other");
  if (visible && hidden)
    return cli_usage_error(usage, "set: --visible-to-viewers and --hidden-from-viewers exclude each other");
  if ((from_file != NULL) + gen + keep_value > 1)
    return cli_usage_error(usage, "set: give at most one of --from-file, --generate, --keep-value");
  if (length_s != NULL && !gen)
    return cli_usage_error(usage, "set: --length needs --generate");
  long gen_len = 32;
  if (length_s != NULL && cli_parse_long(&gen_len, length_s, 1, ORG_GENERATE_MAX) < 0)
    return cli_usage_error(usage, "set: --length must be 1 to %d", ORG_GENERATE_MAX);
  int rotation = ORG_ROTATION_KEEP;
  if (rotation_s != NULL && cli_parse_rotation(&rotation, rotation_s) < 0)
    return cli_usage_error(usage, "set: --rotation-days must be 0 to %d, or org",
                           SPEC_ROTATION_DAYS_MAX);
  const char *name = a.pos[0];
  os_error err = OS_ERROR_INIT;
  char what[SPEC_NAME_MAX + 128];
  snprintf(what, sizeof(what), "set %s", name);
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
      .visible_to_viewers = visible ? 1 : hidden ? 0 : ORG_KEEP,
      .state = disable ? SPEC_STATE_DISABLED : enable ? SPEC_STATE_ACTIVE : ORG_KEEP,
      .allow_reserved_name = allow_env != NULL && strcmp(allow_env, name) == 0,
      .mode = ORG_SET_UPSERT,
      .rotation_days = rotation,
  };
  const org_ctx *oc = cli_org(ctx);
  if (oc == NULL || cli_load_tree(&t, ctx) != 0)
    goto done;
  if ((status = cli_env(&env, ctx, t, "set")) != CLI_OK)
    goto done;
  status = CLI_FAIL;
  o.environment = env;
  snprintf(what, sizeof(what), "set %s/%s", env, name);
  const spec_secret *existing = NULL;
  if (org_secret_check(&existing, oc, t, &o, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  /* the value: stdin is read only when nothing else says what to do */
  int rc = 0;
  if (from_file != NULL)
    rc = cli_read_value_file(&value, &value_len, from_file, &err);
  else if (gen)
    rc = org_value_generate(&value, (size_t)gen_len, &err);
  else if (!keep_value && !(existing != NULL && (disable || enable || rotation_s != NULL)))
    rc = cli_read_stdin(&value, &value_len, name, &err);
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
    fprintf(stderr, "orgsecrets: %s/%s unchanged\n", env, name);
  else
    fprintf(stderr, "orgsecrets: %s %s/%s (%s)\n", res.created ? "created" : "updated", env, name,
            res.file);
  status = CLI_OK;
done:
  os_free_secret(value, value_len);
  spec_tree_free(t);
  return status;
}
