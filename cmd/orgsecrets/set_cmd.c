/* set: create or update one secret. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "envfile/envfile.h"
#include "seal/seal.h"

static const char usage[] =
    "usage: orgsecrets set NAME --env ENV [--app APP] [--description TEXT]\n"
    "                      [--visible-to-viewers | --hidden-from-viewers]\n"
    "                      [--disable | --enable] [--keep-value]\n"
    "                      [--from-file F | --generate [--length N]] [--allow-env NAME]\n"
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
    "PYTHON*, ...; see docs/security.md) is refused unless --allow-env NAME.\n";

#define GEN_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static int generate(uint8_t **out, size_t *out_len, size_t n) {
  uint8_t *v = malloc(n);
  if (v == NULL)
    return OS_ENOMEM;
  if (RAND_bytes(v, (int)n) != 1) {
    free(v);
    return OS_ECRYPTO;
  }
  for (size_t i = 0; i < n; i++)
    v[i] = (uint8_t)GEN_ALPHABET[v[i] & 63]; /* 256 is a multiple of 64: no bias */
  *out = v;
  *out_len = n;
  return 0;
}

/* Reads stdin up to SPEC_VALUE_MAX + 1 bytes (to detect oversize). On a
 * terminal the input is not echoed. */
static int read_stdin(uint8_t **out, size_t *out_len, const char *name, os_error *err) {
  struct termios old, quiet;
  bool tty = isatty(0) == 1 && tcgetattr(0, &old) == 0;
  if (tty) {
    /* echo off before the prompt, so nothing typed after it is echoed or flushed */
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    (void)tcsetattr(0, TCSAFLUSH, &quiet);
    fprintf(stderr, "value for %s (not echoed; end with Enter then Ctrl-D): ", name);
  }
  os_buf b;
  os_buf_init(&b, SPEC_VALUE_MAX + 1, true);
  char chunk[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = read(0, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = os_error_set(err, OS_EIO, "read stdin: %s", strerror(errno));
      break;
    }
    if (n == 0)
      break;
    if (os_buf_append(&b, chunk, (size_t)n) < 0) {
      rc = os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);
      break;
    }
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
  if (tty) {
    (void)tcsetattr(0, TCSANOW, &old);
    fputc('\n', stderr);
  }
  if (rc == 0) {
    char *d = NULL;
    rc = os_buf_detach(&d, out_len, &b);
    *out = (uint8_t *)d;
  }
  os_buf_free(&b);
  return rc;
}

static bool str_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static int set_str(char **dst, const char *v) {
  char *c = os_strdup(v);
  if (v != NULL && c == NULL)
    return -1;
  free(*dst);
  *dst = c;
  return 0;
}

int cmd_set(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *description = NULL, *from_file = NULL, *length_s = NULL;
  bool visible = false, hidden = false, disable = false, enable = false, gen = false,
       keep_value = false;
  const char *allow_env = NULL;
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
  };
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (a.n_pos != 1)
    return cli_usage_error(usage, "set: NAME is required");
  if (env == NULL)
    return cli_usage_error(usage, "set: --env is required");
  if (disable && enable)
    return cli_usage_error(usage, "set: --disable and --enable exclude each other");
  if (visible && hidden)
    return cli_usage_error(usage, "set: --visible-to-viewers and --hidden-from-viewers exclude each other");
  if ((from_file != NULL) + gen + keep_value > 1)
    return cli_usage_error(usage, "set: give at most one of --from-file, --generate, --keep-value");
  if (length_s != NULL && !gen)
    return cli_usage_error(usage, "set: --length needs --generate");
  long gen_len = 32;
  if (length_s != NULL && cli_parse_long(&gen_len, length_s, 1, 4096) < 0)
    return cli_usage_error(usage, "set: --length must be 1 to 4096");
  const char *name = a.pos[0];
  if (!spec_secret_name_valid(name))
    return cli_failf("set %s: invalid secret name: must match ^[A-Z][A-Z0-9_]*$, at most %d "
                     "characters", name, SPEC_NAME_MAX);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  spec_secret *s = NULL;
  uint8_t *value = NULL, *old_value = NULL;
  size_t value_len = 0, old_len = 0;
  age_identity **ids = NULL;
  size_t n_ids = 0;
  char *path = NULL;
  int status = CLI_FAIL;
  char what[SPEC_NAME_MAX + 128];
  snprintf(what, sizeof(what), "set %s/%s", env, name);

  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  const spec_org *o = t->org;
  if (spec_org_find_env(o, env) == NULL) {
    status = cli_failf("%s: environment %s is not defined in organization %s", what, env, o->id);
    goto done;
  }
  if (app != NULL && spec_org_find_app(o, app) == NULL) {
    status = cli_failf("%s: application %s is not defined in organization %s", what, app, o->id);
    goto done;
  }
  const spec_member *who = NULL;
  if (cli_require_role(&who, ctx, t, (1u << SPEC_ROLE_ADMIN) | (1u << SPEC_ROLE_MEMBER), what) != 0)
    goto done;
  const spec_secret *existing = spec_tree_find_secret(t, env, name);
  const char *hazard = envfile_name_hazard(name);
  if (hazard != NULL && existing == NULL && (allow_env == NULL || strcmp(allow_env, name) != 0)) {
    status = cli_failf("%s: refusing to create a secret named %s: that variable %s (`orgsecrets "
                       "run` refuses it and lint reports it); choose another name, or pass "
                       "--allow-env %s", what, name, hazard, name);
    goto done;
  }
  if (existing != NULL && app != NULL && !str_eq(existing->application, app)) {
    status = cli_failf("%s: the secret belongs to %s%s; delete it first to move it", what,
                       existing->application ? "application " : "the organization level",
                       existing->application ? existing->application : "");
    goto done;
  }

  /* the value */
  bool have_value = true;
  if (from_file != NULL) {
    char *d = NULL;
    int rc = os_read_file(&d, &value_len, from_file, SPEC_VALUE_MAX, &err);
    value = (uint8_t *)d;
    if (rc == OS_ENOMEM) {
      status = cli_failf("%s: %s: value larger than %d bytes", what, from_file, SPEC_VALUE_MAX);
      goto done;
    }
    if (rc < 0) {
      status = cli_fail(what, &err);
      goto done;
    }
  } else if (gen) {
    if (generate(&value, &value_len, (size_t)gen_len) < 0) {
      status = cli_failf("%s: random generator failed", what);
      goto done;
    }
  } else if (keep_value || (existing != NULL && (disable || enable))) {
    have_value = false;
  } else if (read_stdin(&value, &value_len, name, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (!have_value && existing == NULL) {
    status = cli_failf("%s: the secret does not exist yet; give it a value", what);
    goto done;
  }
  if (have_value && value_len == 0) {
    status = cli_failf("%s: empty value refused", what);
    goto done;
  }
  if (have_value && value_len > SPEC_VALUE_MAX) {
    status = cli_failf("%s: value larger than %d bytes", what, SPEC_VALUE_MAX);
    goto done;
  }

  /* the new document */
  char now[32];
  cli_now(now);
  s = existing ? spec_secret_dup(existing) : spec_secret_new();
  if (s == NULL) {
    status = cli_failf("%s: out of memory", what);
    goto done;
  }
  if (existing == NULL) {
    path = cli_new_secret_path(t, env, name);
    if (path == NULL || set_str(&s->organization, o->id) || set_str(&s->environment, env) ||
        set_str(&s->name, name) || set_str(&s->application, app) ||
        set_str(&s->created_by, who->name) || set_str(&s->created_at, now)) {
      status = cli_failf("%s: out of memory", what);
      goto done;
    }
    s->pos.file = path;
    path = NULL;
    s->state = SPEC_STATE_ACTIVE;
  }
  bool meta_changed = false;
  if (description != NULL) {
    const char *d = description[0] ? description : NULL;
    meta_changed |= !str_eq(s->description, d);
    if (set_str(&s->description, d)) {
      status = cli_failf("%s: out of memory", what);
      goto done;
    }
  }
  if (visible || hidden) {
    meta_changed |= s->visible_to_viewers != visible;
    s->visible_to_viewers = visible;
  }
  if (disable || enable) {
    enum spec_state st = disable ? SPEC_STATE_DISABLED : SPEC_STATE_ACTIVE;
    meta_changed |= s->state != st;
    s->state = st;
  }

  bool value_changed = true;
  if (existing != NULL) {
    os_error ierr = OS_ERROR_INIT;
    if (cli_load_identities(&ids, &n_ids, ctx, &ierr) == 0 &&
        seal_unseal(&old_value, &old_len, existing, (const age_identity *const *)ids, n_ids,
                    &ierr) == 0) {
      value_changed = have_value && !(old_len == value_len &&
                                      CRYPTO_memcmp(old_value, value, value_len) == 0);
    } else {
      if (have_value)
        cli_note("note: %s: cannot open the current value to compare (%s); sealing anew", what,
                 ierr.msg);
      else
        value_changed = false;
    }
    if (!have_value && old_value == NULL && !seal_recipients_current(s, o)) {
      status = cli_failf("%s: the recipients changed, so the value must be re-sealed, but it "
                         "cannot be opened with -i: %s", what, ierr.msg);
      goto done;
    }
  }
  bool reseal = value_changed || !seal_recipients_current(s, o);
  if (existing != NULL && !reseal && !meta_changed) {
    fprintf(stderr, "orgsecrets: %s/%s unchanged\n", env, name);
    status = CLI_OK;
    goto done;
  }
  if (reseal) {
    const uint8_t *v = value_changed ? value : old_value;
    size_t vl = value_changed ? value_len : old_len;
    if (seal_value(s, o, v, vl, &err) < 0) {
      status = cli_fail(what, &err);
      goto done;
    }
  }
  if (set_str(&s->updated_by, who->name) || set_str(&s->updated_at, now) ||
      (value_changed && set_str(&s->rotated_at, now))) {
    status = cli_failf("%s: out of memory", what);
    goto done;
  }
  spec_secret *put = s;
  s = NULL;
  if (spec_tree_put_secret(t, put, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  if (spec_tree_validate(t, NULL, NULL, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  const spec_secret *saved = spec_tree_find_secret(t, env, name);
  if (saved == NULL || saved->pos.file == NULL) {
    status = cli_failf("%s: internal error: secret has no file", what);
    goto done;
  }
  if (cli_write_file(t, saved->pos.file, &err) < 0) {
    status = cli_fail(what, &err);
    goto done;
  }
  fprintf(stderr, "orgsecrets: %s %s/%s (%s)\n", existing ? "updated" : "created", env, name,
          saved->pos.file);
  status = CLI_OK;
done:
  os_free_secret(value, value_len);
  os_free_secret(old_value, old_len);
  age_identities_free(ids, n_ids);
  spec_secret_free(s);
  free(path);
  spec_tree_free(t);
  return status;
}
