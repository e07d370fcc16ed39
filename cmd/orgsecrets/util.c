#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "seal/seal.h"

static void sweep_dir_of(const char *path, const char *legacy, bool once);

static int match_global(cli_ctx *ctx, const char *name, const char *value) {
  if (strcmp(name, "--dir") == 0)
    ctx->dir = value;
  else if (strcmp(name, "--as") == 0)
    ctx->as = value;
  else if (strcmp(name, "-i") == 0 || strcmp(name, "--identity") == 0)
    ctx->identity = value;
  else
    return 0;
  return 1;
}

static bool is_global(const char *name) {
  return strcmp(name, "--dir") == 0 || strcmp(name, "--as") == 0 || strcmp(name, "-i") == 0 ||
         strcmp(name, "--identity") == 0;
}

int cli_usage_error(const char *usage, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0)
    msg[0] = '\0';
  fprintf(stderr, "orgsecrets: %s\n", msg);
  if (usage != NULL) {
    const char *nl = strchr(usage, '\n');
    int len = nl ? (int)(nl - usage) : (int)strlen(usage);
    fprintf(stderr, "%.*s (see --help)\n", len, usage);
  }
  return CLI_USAGE;
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

int cli_parse(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
              size_t n_opts, size_t max_pos, const char *usage) {
  args->n_pos = 0;
  args->rest = -1;
  if (max_pos > sizeof(args->pos) / sizeof(args->pos[0]))
    max_pos = sizeof(args->pos) / sizeof(args->pos[0]);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      args->rest = i + 1;
      return 0;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 1;
    }
    if (a[0] != '-' || a[1] == '\0') {
      if (args->n_pos >= max_pos) {
        cli_usage_error(usage, "unexpected argument: %s", a);
        return -1;
      }
      args->pos[args->n_pos++] = a;
      continue;
    }
    char name[64];
    const char *inline_val = NULL;
    const char *eq = strchr(a, '=');
    size_t nlen = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
    if (nlen >= sizeof(name)) {
      cli_usage_error(usage, "unknown option: %.40s", a);
      return -1;
    }
    memcpy(name, a, nlen);
    name[nlen] = '\0';
    if (eq && a[1] == '-')
      inline_val = eq + 1;
    const cli_opt *o = NULL;
    for (size_t k = 0; k < n_opts; k++) {
      if (strcmp(name, opts[k].name) == 0 || (opts[k].alias && strcmp(name, opts[k].alias) == 0)) {
        o = &opts[k];
        break;
      }
    }
    if (o == NULL && !is_global(name)) {
      cli_usage_error(usage, "unknown option: %s", name);
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
      match_global(ctx, name, val);
    } else if (o->kind == CLI_VALUE) {
      *(const char **)o->dest = val;
    } else if (list_push((cli_list *)o->dest, val, argc) < 0) {
      cli_usage_error(usage, "out of memory");
      return -1;
    }
  }
  return 0;
}

int cli_fail(const char *what, const os_error *err) {
  fprintf(stderr, "orgsecrets: %s: %s\n", what,
          err && err->msg[0] ? err->msg : os_error_name(err ? err->code : OS_EINVAL));
  return CLI_FAIL;
}

static void vnote(const char *fmt, va_list ap) {
  fputs("orgsecrets: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int cli_failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(fmt, ap);
  va_end(ap);
  return CLI_FAIL;
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(fmt, ap);
  va_end(ap);
}

int cli_load_tree(spec_tree **out, const cli_ctx *ctx) {
  os_error err = OS_ERROR_INIT;
  int rc = spec_tree_load(out, ctx->dir, &err);
  if (rc == OS_ENOTFOUND) {
    return cli_failf("load %s: %s (create one with: orgsecrets init --org ORG)", ctx->dir,
                     err.msg[0] ? err.msg : "no organization");
  }
  if (rc < 0) {
    char what[PATH_MAX + 16];
    snprintf(what, sizeof(what), "load %s", ctx->dir);
    return cli_fail(what, &err);
  }
  if ((*out)->org == NULL) {
    spec_tree_free(*out);
    *out = NULL;
    return cli_failf("load %s: no organization (create one with: orgsecrets init --org ORG)",
                     ctx->dir);
  }
  return 0;
}

int cli_capture(char **out, size_t *out_len, char *const argv[], size_t max) {
  *out = NULL;
  *out_len = 0;
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    if (dup2(fds[1], 1) < 0)
      _exit(127);
    FILE *null = freopen("/dev/null", "w", stderr);
    (void)null;
    execvp(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  os_buf b;
  os_buf_init(&b, max, false);
  char chunk[16384];
  bool too_big = false;
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (!too_big && os_buf_append(&b, chunk, (size_t)n) < 0)
      too_big = true;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (too_big || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      os_buf_detach(out, out_len, &b) < 0) {
    os_buf_free(&b);
    return -1;
  }
  os_buf_free(&b);
  return 0;
}

/* Runs `git -C dir config user.email` and returns its first line, or NULL. */
static char *git_user_email(const char *dir) {
  char a0[] = "git", a1[] = "-C", a3[] = "config", a4[] = "user.email";
  char *d = os_strdup(dir);
  if (d == NULL)
    return NULL;
  char *const argv[] = {a0, a1, d, a3, a4, NULL};
  char *out = NULL;
  size_t len = 0;
  int rc = cli_capture(&out, &len, argv, 4096);
  free(d);
  if (rc < 0)
    return NULL;
  out[strcspn(out, "\r\n")] = '\0';
  if (out[0] == '\0') {
    free(out);
    return NULL;
  }
  return out;
}

const char *cli_author(const cli_ctx *ctx, os_error *err) {
  static char *from_git = NULL;
  if (ctx->as != NULL && ctx->as[0] != '\0')
    return ctx->as;
  if (from_git == NULL)
    from_git = git_user_email(ctx->dir);
  if (from_git != NULL)
    return from_git;
  os_error_set(err, OS_EINVAL,
               "no acting member: pass --as NAME, set ORGSECRETS_USER or git config user.email");
  return NULL;
}

int cli_require_role(const spec_member **who, const cli_ctx *ctx, const spec_tree *t,
                     unsigned allowed, const char *action) {
  os_error err = OS_ERROR_INIT;
  *who = NULL;
  const char *name = cli_author(ctx, &err);
  if (name == NULL)
    return cli_fail(action, &err);
  const spec_member *m = spec_org_find_member(t->org, name);
  if (m == NULL)
    return cli_failf("%s: %s is not a member of organization %s", action, name, t->org->id);
  if ((allowed & (1u << m->role)) == 0)
    return cli_failf("%s: permission denied: %s is a %s", action, name, spec_role_name(m->role));
  *who = m;
  return 0;
}

int cli_identity_path(char *out, size_t out_size, const cli_ctx *ctx, os_error *err) {
  int n;
  if (ctx->identity != NULL && ctx->identity[0] != '\0') {
    n = snprintf(out, out_size, "%s", ctx->identity);
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
      return os_error_set(err, OS_EINVAL, "no identity file: pass -i FILE or set HOME");
    n = snprintf(out, out_size, "%s/.config/orgsecrets/identity", home);
  }
  if (n < 0 || (size_t)n >= out_size)
    return os_error_set(err, OS_EINVAL, "identity path too long");
  return 0;
}

int cli_load_identities(age_identity ***ids, size_t *n, const cli_ctx *ctx, os_error *err) {
  char path[PATH_MAX];
  *ids = NULL;
  *n = 0;
  int rc = cli_identity_path(path, sizeof(path), ctx, err);
  if (rc < 0)
    return rc;
  rc = age_identities_load_file(ids, n, path, err);
  if (rc < 0)
    return rc;
  if (*n == 0) {
    age_identities_free(*ids, *n);
    *ids = NULL;
    return os_error_set(err, OS_EINVAL, "%s holds no identity", path);
  }
  return 0;
}

void cli_now(char out[32]) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    out[0] = '\0';
}

static int parse_digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int cli_parse_time(int64_t *out, const char *s) {
  int y, mo, d, h, mi, se;
  if (s == NULL || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
      s[13] != ':' || s[16] != ':' || s[19] != 'Z')
    return -1;
  if (parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &mo) || parse_digits(s + 8, 2, &d) ||
      parse_digits(s + 11, 2, &h) || parse_digits(s + 14, 2, &mi) || parse_digits(s + 17, 2, &se))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return -1;
  /* days from civil (Howard Hinnant's algorithm), proleptic Gregorian */
  int yy = mo <= 2 ? y - 1 : y;
  int era = yy / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  *out = days * 86400 + h * 3600 + mi * 60 + se;
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

int cli_write_file(const spec_tree *t, const char *file, os_error *err) {
  char *path = os_path_join(t->dir ? t->dir : ".", file);
  if (path != NULL)
    sweep_dir_of(path, ".yaml", true);
  free(path);
  return spec_tree_write_file(t, file, err);
}

/* "NAME.yaml" does not fit a 255-byte file name for names of 251 to 253
 * characters: those files are "<first 200>-<16 hex of SHA-256(NAME)>.yaml"
 * (the loader reads any file name). */
static char *secret_file_rel(const char *env, const char *name) {
  size_t n = strlen(name);
  if (n + sizeof(".yaml") - 1 <= NAME_MAX)
    return spec_secret_default_path(env, name);
  unsigned char md[32];
  unsigned int md_len = 0;
  if (EVP_Digest(name, n, md, &md_len, EVP_sha256(), NULL) != 1)
    return NULL;
  char hex[17];
  os_hex_encode(hex, md, 8);
  os_buf b;
  os_buf_init(&b, 4096, false);
  char *out = NULL;
  if (os_buf_printf(&b, "secrets/%s/%.200s-%s.yaml", env, name, hex) < 0 ||
      os_buf_detach(&out, NULL, &b) < 0)
    out = NULL;
  os_buf_free(&b);
  return out;
}

char *cli_new_secret_path(const spec_tree *t, const char *env, const char *name) {
  char *rel = secret_file_rel(env, name);
  if (rel == NULL)
    return NULL;
  /* follow the loader's convention: paths joined with the folder, or relative to it */
  const char *of = t->org != NULL ? t->org->pos.file : NULL;
  size_t dlen = strlen(t->dir);
  if (of == NULL || strncmp(of, t->dir, dlen) != 0 || of[dlen] != '/')
    return rel;
  char *p = os_path_join(t->dir, rel);
  free(rel);
  return p;
}

int cli_secret_cmp(const void *a, const void *b) {
  const spec_secret *x = *(const spec_secret *const *)a;
  const spec_secret *y = *(const spec_secret *const *)b;
  int c = strcmp(x->environment, y->environment);
  return c != 0 ? c : strcmp(x->name, y->name);
}

/* Removes stale temporary files of killed writers in the directory of path,
 * and those of older versions named after a file ending with legacy; with
 * once, a directory already swept by this process is skipped. */
static void sweep_dir_of(const char *path, const char *legacy, bool once) {
  static char *swept[64];
  static size_t n_swept;
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    snprintf(dir, sizeof(dir), ".");
  else if ((size_t)(slash - path) < sizeof(dir))
    snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
  else
    return;
  for (size_t i = 0; once && i < n_swept; i++)
    if (strcmp(swept[i], dir) == 0)
      return;
  size_t n = 0;
  const os_temps_opts o = {.remove = true, .legacy = legacy};
  if (os_temps_sweep(dir, &o, &n, NULL) == 0 && n > 0)
    cli_note("removed %zu stale temporary file(s) of an interrupted write in %s", n, dir);
  if (once && n_swept < sizeof(swept) / sizeof(swept[0]) && (swept[n_swept] = os_strdup(dir)))
    n_swept++;
}

int cli_output_open(os_output *o, const char *path, mode_t mode, os_error *err) {
  int rc = os_output_open(o, path, mode, OS_OUTPUT_STDOUT, err);
  if (rc == 0 && !o->in_place)
    sweep_dir_of(path, o->name, false); /* older versions' leftovers of this very file */
  return rc;
}

int cli_write_output(const char *path, const void *data, size_t len, mode_t mode, os_error *err) {
  os_output o;
  int rc = cli_output_open(&o, path, mode, err);
  if (rc < 0)
    return rc;
  if (cli_write_all(o.fd, data, len) != 0) {
    rc = os_error_set(err, OS_EIO, "write %s: %s", path, strerror(errno));
    os_output_abort(&o);
    return rc;
  }
  return os_output_commit(&o, err);
}

int cli_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

size_t cli_count_stale(const spec_tree *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    if (!seal_recipients_current(t->secrets[i], t->org))
      n++;
  }
  return n;
}

int cli_str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
