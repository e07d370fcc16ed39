/* The one option parser of the CLI: main's global options, every command's
 * options, and `age`'s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The global options, accepted before the command and after it: sets *dest
 * to the ctx field name sets, or returns false. */
static bool global_dest(cli_ctx *ctx, const char *name, const char ***dest) {
  *dest = NULL;
  if (strcmp(name, "--dir") == 0)
    *dest = &ctx->dir;
  else if (strcmp(name, "--as") == 0)
    *dest = &ctx->as;
  else if (strcmp(name, "-i") == 0 || strcmp(name, "--identity") == 0)
    *dest = &ctx->identity;
  return *dest != NULL;
}

/* cli_complete_capture()'s table, while a completion asks for it. */
static cli_opt_table *capture;

void cli_complete_capture(cli_opt_table *t) { capture = t; }

static const cli_opt *find_opt(const cli_opt *opts, size_t n_opts, const char *name) {
  for (size_t k = 0; k < n_opts; k++) {
    if (strcmp(name, opts[k].name) == 0 || (opts[k].alias && strcmp(name, opts[k].alias) == 0))
      return &opts[k];
  }
  return NULL;
}

static int list_push(cli_list *l, const char *v, int argc) {
  if (l->v == NULL) {
    l->v = calloc((size_t)argc + 1, sizeof(*l->v));
    if (l->v == NULL)
      return -1;
  }
  l->v[l->n++] = v;
  return 0;
}

void cli_list_free(cli_list *l) {
  if (l == NULL)
    return;
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* stop_at_word: main's pass, which ends at the command word. */
static int parse(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
                 size_t n_opts, size_t max_pos, const char *usage, bool stop_at_word) {
  args->n_pos = 0;
  args->rest = -1;
  if (capture != NULL && !stop_at_word) {
    for (size_t k = 0; k < n_opts && capture->n < CLI_OPTS_MAX; k++)
      capture->v[capture->n++] = (cli_opt){opts[k].name, opts[k].alias, opts[k].kind, NULL};
    capture->seen = true;
    capture = NULL;
    return 1;
  }
  if (max_pos > CLI_POS_MAX)
    max_pos = CLI_POS_MAX;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0 && !stop_at_word) {
      args->rest = i + 1;
      return 0;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 1;
    }
    if (a[0] != '-' || a[1] == '\0') {
      if (stop_at_word) {
        args->rest = i;
        return 0;
      }
      if (args->n_pos >= max_pos) {
        cli_usage_error(usage, "unexpected argument: %s", a);
        return -1;
      }
      args->pos[args->n_pos++] = a;
      continue;
    }
    /* the option's name: "--name[=value]", "-x" or "-xVALUE" */
    char name[64];
    const char *inline_val = NULL;
    size_t nlen;
    if (a[1] == '-') {
      const char *eq = strchr(a, '=');
      nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
      if (eq != NULL)
        inline_val = eq + 1;
    } else {
      nlen = 2;
      if (a[2] != '\0')
        inline_val = a + 2;
    }
    if (nlen >= sizeof(name)) {
      cli_usage_error(usage, "unknown option: %.40s", a);
      return -1;
    }
    memcpy(name, a, nlen);
    name[nlen] = '\0';
    const cli_opt *o = find_opt(opts, n_opts, name);
    const char **global = NULL;
    if (o == NULL && (ctx == NULL || !global_dest(ctx, name, &global))) {
      cli_usage_error(usage, "unknown option: %s", a[1] == '-' ? name : a);
      return -1;
    }
    if (o != NULL && o->kind == CLI_FLAG) {
      if (inline_val != NULL) {
        cli_usage_error(usage, "option %s takes no value", name);
        return -1;
      }
      *(bool *)o->dest = true;
      continue;
    }
    const char *val = inline_val;
    if (val == NULL) {
      if (i + 1 >= argc) {
        cli_usage_error(usage, "option %s needs a value", name);
        return -1;
      }
      val = argv[++i];
    }
    if (o == NULL) {
      if (val[0] == '\0') {
        cli_usage_error(usage, "option %s needs a non-empty value", name);
        return -1;
      }
      *global = val;
      if (global == &ctx->as)
        ctx->as_from = "--as";
    } else if (o->kind == CLI_VALUE) {
      *(const char **)o->dest = val;
    } else if (list_push((cli_list *)o->dest, val, argc) < 0) {
      cli_usage_error(usage, "out of memory");
      return -1;
    }
  }
  return 0;
}

int cli_parse(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
              size_t n_opts, size_t max_pos, const char *usage) {
  return parse(ctx, args, argc, argv, opts, n_opts, max_pos, usage, false);
}

int cli_parse_main(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
                   size_t n_opts, const char *usage) {
  return parse(ctx, args, argc, argv, opts, n_opts, 0, usage, true);
}

int cli_parse_rotation(int *out, const char *s) {
  long days = 0;
  if (s != NULL && (strcmp(s, "org") == 0 || strcmp(s, "default") == 0)) {
    *out = ORG_ROTATION_ORG;
    return 0;
  }
  if (cli_parse_long(&days, s, 0, SPEC_ROTATION_DAYS_MAX) < 0)
    return -1;
  *out = days == 0 ? ORG_ROTATION_NONE : (int)days;
  return 0;
}

int cli_parse_long(long *out, const char *s, long min, long max) {
  if (s == NULL || s[0] == '\0')
    return -1;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}
