/* lint: every problem of the folder, plus naming, rotation, recipient and
 * plaintext-leak checks. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "envfile/envfile.h"
#include "seal/seal.h"

static const char usage[] =
    "usage: orgsecrets lint [--since REF]\n"
    "\n"
    "Checks the organization folder and prints one line per finding,\n"
    "FILE:LINE: error|warning: MESSAGE, on stdout. Exit status 1 when there is\n"
    "an error, 0 with warnings only.\n"
    "errors: YAML syntax, wrong types, unknown fields, duplicate secrets,\n"
    "  invalid names, unknown environments/applications, missing values or\n"
    "  recipients, names that decide what programs run or load (PATH, LD_*,\n"
    "  IFS, BASH_ENV, PYTHON*, ...; docs/security.md has the list), and anything in any non-hidden file below the folder that\n"
    "  looks like a plaintext secret outside an encryptedValue: AWS access key\n"
    "  ids, PEM private keys, age identities, GitHub/Slack/Stripe tokens,\n"
    "  `password: VALUE`-style assignments, and high-entropy strings (20+\n"
    "  characters of A-Za-z0-9+/=_- at 4.0 bits/character or more), and stale\n"
    "  temporary files of interrupted writes (.orgsecrets-tmp-*, *.tmp.XXXXXX).\n"
    "warnings: vague names (PASSWORD, SECRET, KEY, TOKEN, API_KEY, ..., such a\n"
    "  word followed only by digits like SECRET123, or fewer than 4 characters),\n"
    "  an environment suffix contradicting the environment (API_KEY_DEV in\n"
    "  prod), values older than the organization's rotationDays, and secrets\n"
    "  sealed to an out-of-date recipient set (run `orgsecrets rekey`), and,\n"
    "  in a Git checkout, changes since REF (default HEAD: uncommitted ones)\n"
    "  that let more keys read values: a new admin or member, a viewer made\n"
    "  member or admin, a member's key changed, a new viewer key while secrets\n"
    "  are visible to viewers, a new controller key of an environment, and a\n"
    "  secret whose visibleToViewers was turned on. In CI, pass the base\n"
    "  branch: lint --since origin/main.\n";

typedef struct lint_state {
  size_t errors, warnings;
  const char *dir; /* scanned paths are shown relative to it */
} lint_state;

static void finding(lint_state *st, const char *file, int line, bool is_error, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

static void finding(lint_state *st, const char *file, int line, bool is_error, const char *fmt,
                    ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t dl = strlen(st->dir);
  if (file != NULL && strncmp(file, st->dir, dl) == 0 && file[dl] == '/')
    file += dl + 1;
  printf("%s:%d: %s: ", file ? file : "?", line, is_error ? "error" : "warning");
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
  if (is_error)
    st->errors++;
  else
    st->warnings++;
}

static void report(void *ctx, const spec_pos *pos, bool is_error, const char *msg) {
  lint_state *st = ctx;
  /* messages may already start with "FILE:LINE: " */
  const char *m = msg;
  if (pos->file != NULL) {
    size_t fl = strlen(pos->file);
    if (strncmp(m, pos->file, fl) == 0 && m[fl] == ':') {
      const char *p = m + fl + 1;
      while (isdigit((unsigned char)*p))
        p++;
      if (p[0] == ':' && p[1] == ' ')
        m = p + 2;
    }
  }
  finding(st, pos->file, pos->line, is_error, "%s", m);
}

/* ---- names ---- */

static const char *const vague_words[] = {
    "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "KEY", "KEYS", "TOKEN",
    "API_KEY", "APIKEY", "API_TOKEN", "API_SECRET", "PRIVATE_KEY", "SECRET_KEY", "ACCESS_KEY",
    "AUTH", "CREDENTIAL", "CREDENTIALS", "CREDS", "VALUE", "VAR", "TEST", "TMP", "TEMP", "FOO",
    "BAR", "DATA", "CONFIG", NULL};

static bool vague_word(const char *s, size_t len) {
  for (size_t i = 0; vague_words[i] != NULL; i++) {
    if (strlen(vague_words[i]) == len && memcmp(vague_words[i], s, len) == 0)
      return true;
  }
  return false;
}

static void check_name(lint_state *st, const spec_secret *s) {
  const char *n = s->name;
  size_t len = strlen(n);
  size_t stem = len;
  while (stem > 0 && (isdigit((unsigned char)n[stem - 1]) || n[stem - 1] == '_'))
    stem--;
  if (vague_word(n, stem)) {
    finding(st, s->pos.file, s->pos.line, false,
            "%s/%s: vague name; say what it is for (e.g. BILLING_DB_PASSWORD)", s->environment, n);
  } else if (len < 4) {
    finding(st, s->pos.file, s->pos.line, false, "%s/%s: name shorter than 4 characters",
            s->environment, n);
  } else if (stem < len && stem <= 2) {
    finding(st, s->pos.file, s->pos.line, false, "%s/%s: vague name (letters then only digits)",
            s->environment, n);
  }
}

static const struct {
  const char *word;
  const char *cls;
} env_words[] = {{"DEV", "dev"},         {"DEVELOPMENT", "dev"}, {"STAGING", "staging"},
                 {"STG", "staging"},     {"STAGE", "staging"},   {"PROD", "prod"},
                 {"PRD", "prod"},        {"PRODUCTION", "prod"}, {"TEST", "test"},
                 {"TESTING", "test"},    {"QA", "qa"},           {"UAT", "uat"}};

static const char *env_class(const char *word, size_t len) {
  for (size_t i = 0; i < sizeof(env_words) / sizeof(env_words[0]); i++) {
    if (strlen(env_words[i].word) == len && strncasecmp(env_words[i].word, word, len) == 0)
      return env_words[i].cls;
  }
  return NULL;
}

static void check_env_suffix(lint_state *st, const spec_secret *s) {
  const char *us = strrchr(s->name, '_');
  if (us == NULL)
    return;
  const char *suffix = us + 1;
  const char *scls = env_class(suffix, strlen(suffix));
  if (scls == NULL)
    return;
  const char *ecls = env_class(s->environment, strlen(s->environment));
  bool same = ecls != NULL ? strcmp(ecls, scls) == 0
                           : strcasecmp(suffix, s->environment) == 0;
  if (!same)
    finding(st, s->pos.file, s->pos.line, false,
            "%s/%s: the suffix _%s contradicts environment %s", s->environment, s->name, suffix,
            s->environment);
}

static void check_rotation(lint_state *st, const spec_org *o, const spec_secret *s, int64_t now) {
  if (o->rotation_days <= 0)
    return;
  int64_t at;
  const char *ts = s->rotated_at ? s->rotated_at : s->created_at;
  if (ts == NULL || cli_parse_time(&at, ts) < 0)
    return;
  int64_t age_days = (now - at) / 86400;
  if (age_days > o->rotation_days)
    finding(st, s->pos.file, s->pos.line, false,
            "%s/%s: value last rotated %lld days ago (%s), older than the rotation policy of %d "
            "days",
            s->environment, s->name, (long long)age_days, ts, o->rotation_days);
}

/* ---- plaintext scan ---- */

static bool is_tok(unsigned char c) {
  return isalnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

static double entropy(const char *s, size_t n) {
  unsigned counts[256] = {0};
  for (size_t i = 0; i < n; i++)
    counts[(unsigned char)s[i]]++;
  double h = 0;
  for (size_t i = 0; i < 256; i++) {
    if (counts[i] == 0)
      continue;
    double p = (double)counts[i] / (double)n;
    h -= p * log2(p);
  }
  return h;
}

static bool has_run(const char *s, size_t n, const char *prefix, size_t min_tail,
                    bool (*ok)(unsigned char)) {
  size_t pl = strlen(prefix);
  for (size_t i = 0; i + pl <= n; i++) {
    if (memcmp(s + i, prefix, pl) != 0)
      continue;
    size_t k = i + pl;
    while (k < n && ok((unsigned char)s[k]))
      k++;
    if (k - (i + pl) >= min_tail)
      return true;
  }
  return false;
}

static bool upper_digit(unsigned char c) { return isupper(c) || isdigit(c); }
static bool alnum_c(unsigned char c) { return isalnum(c) != 0; }
static bool alnum_us(unsigned char c) { return isalnum(c) || c == '_'; }
static bool alnum_dash(unsigned char c) { return isalnum(c) || c == '-'; }

static bool mem_contains(const char *s, size_t n, const char *needle) {
  size_t nl = strlen(needle);
  for (size_t i = 0; i + nl <= n; i++) {
    if (memcmp(s + i, needle, nl) == 0)
      return true;
  }
  return false;
}

/* "KEY: VALUE" / "KEY=VALUE" where KEY ends with a secret-ish word. */
static bool password_assignment(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  if (i + 1 < n && s[i] == '-' && s[i + 1] == ' ')
    i += 2;
  if (i + 7 <= n && strncmp(s + i, "export ", 7) == 0)
    i += 7;
  if (i < n && (s[i] == '"' || s[i] == '\''))
    i++;
  size_t ks = i;
  while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
    i++;
  size_t ke = i;
  if (ke == ks)
    return false;
  if (i < n && (s[i] == '"' || s[i] == '\''))
    i++;
  while (i < n && s[i] == ' ')
    i++;
  if (i >= n || (s[i] != ':' && s[i] != '='))
    return false;
  i++;
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  size_t vs = i, ve = n;
  while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t' || s[ve - 1] == '\r'))
    ve--;
  if (ve <= vs)
    return false;
  if ((s[vs] == '"' || s[vs] == '\'') && ve - vs <= 2)
    return false;
  if (s[vs] == '$' || s[vs] == '|' || s[vs] == '>' || s[vs] == '<' || s[vs] == '#' ||
      s[vs] == '{' || s[vs] == '[')
    return false;
  if ((ve - vs == 4 && strncmp(s + vs, "null", 4) == 0) || (ve - vs == 1 && s[vs] == '~'))
    return false;
  static const char *const words[] = {"password", "passwd", "pwd", "secret", "token",
                                      "apikey", "api_key", "api-key", "private_key", NULL};
  size_t klen = ke - ks;
  for (size_t w = 0; words[w] != NULL; w++) {
    size_t wl = strlen(words[w]);
    if (klen >= wl && strncasecmp(s + ke - wl, words[w], wl) == 0)
      return true;
  }
  return false;
}

/* Returns the kind of plaintext secret on the line, or NULL. */
static const char *suspicious(const char *s, size_t n) {
  if (has_run(s, n, "AKIA", 16, upper_digit))
    return "an AWS access key id";
  if (mem_contains(s, n, "-----BEGIN") && mem_contains(s, n, "PRIVATE KEY-----"))
    return "a PEM private key";
  if (mem_contains(s, n, "AGE-SECRET-KEY-1"))
    return "an age identity (AGE-SECRET-KEY-1...)";
  if (has_run(s, n, "ghp_", 30, alnum_c) || has_run(s, n, "github_pat_", 20, alnum_us) ||
      has_run(s, n, "gho_", 30, alnum_c))
    return "a GitHub token";
  if (has_run(s, n, "xoxb-", 10, alnum_dash) || has_run(s, n, "xoxa-", 10, alnum_dash) ||
      has_run(s, n, "xoxp-", 10, alnum_dash) || has_run(s, n, "xoxr-", 10, alnum_dash) ||
      has_run(s, n, "xoxs-", 10, alnum_dash))
    return "a Slack token";
  if (has_run(s, n, "sk_live_", 16, alnum_c) || has_run(s, n, "rk_live_", 16, alnum_c))
    return "a Stripe live key";
  if (password_assignment(s, n))
    return "a password-like assignment with a value";
  for (size_t i = 0; i < n;) {
    if (!is_tok((unsigned char)s[i])) {
      i++;
      continue;
    }
    size_t st = i;
    while (i < n && is_tok((unsigned char)s[i]))
      i++;
    size_t len = i - st;
    if (len < 20)
      continue;
    const char *t = s + st;
    if (len >= 4 && strncmp(t, "age1", 4) == 0)
      continue; /* a public key */
    if (entropy(t, len) >= 4.0)
      return "a high-entropy string";
  }
  return NULL;
}

static int starts_block(const char *s, size_t n, size_t *indent) {
  size_t i = 0;
  while (i < n && s[i] == ' ')
    i++;
  static const char key[] = "encryptedValue:";
  if (n - i < sizeof(key) - 1 || memcmp(s + i, key, sizeof(key) - 1) != 0)
    return 0;
  *indent = i;
  size_t k = i + sizeof(key) - 1;
  while (k < n && s[k] == ' ')
    k++;
  if (k < n && (s[k] == '|' || s[k] == '>'))
    return 2; /* block scalar follows */
  return 1;   /* value on this line */
}

static void scan_file(lint_state *st, const char *path) {
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  if (os_read_file(&data, &len, path, SPEC_FILE_MAX, &err) < 0) {
    finding(st, path, 0, false, "not scanned for plaintext secrets: %s", err.msg);
    return;
  }
  if (memchr(data, 0, len < 8192 ? len : 8192) != NULL) {
    free(data);
    return; /* binary */
  }
  bool in_block = false, in_armor = false;
  size_t block_indent = 0;
  int line_no = 0;
  for (size_t pos = 0; pos < len;) {
    const char *l = data + pos;
    const char *nl = memchr(l, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - l) : len - pos;
    pos += n + 1;
    line_no++;
    if (in_block) {
      size_t ind = 0;
      while (ind < n && l[ind] == ' ')
        ind++;
      if (ind == n || ind > block_indent)
        continue;
      in_block = false;
    }
    if (in_armor) {
      if (mem_contains(l, n, "-----END AGE ENCRYPTED FILE-----"))
        in_armor = false;
      continue;
    }
    if (mem_contains(l, n, "-----BEGIN AGE ENCRYPTED FILE-----")) {
      in_armor = !mem_contains(l, n, "-----END AGE ENCRYPTED FILE-----");
      continue;
    }
    size_t ind = 0;
    int b = starts_block(l, n, &ind);
    if (b == 2) {
      in_block = true;
      block_indent = ind;
      continue;
    }
    if (b == 1)
      continue;
    const char *kind = suspicious(l, n);
    if (kind != NULL)
      finding(st, path, line_no, true,
              "possible plaintext secret: %s outside an encryptedValue (never commit values; "
              "use orgsecrets set)", kind);
  }
  OPENSSL_cleanse(data, len);
  free(data);
}

static void scan_dir(lint_state *st, const char *dir, int depth) {
  if (depth > 32)
    return;
  DIR *d = opendir(dir);
  if (d == NULL) {
    finding(st, dir, 0, false, "not scanned: %s", strerror(errno));
    return;
  }
  size_t cap = 16, n = 0;
  char **names = malloc(cap * sizeof(*names));
  struct dirent *de;
  while (names != NULL && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (n == cap) {
      char **nn = realloc(names, cap * 2 * sizeof(*names));
      if (nn == NULL)
        break;
      names = nn;
      cap *= 2;
    }
    if ((names[n] = os_strdup(de->d_name)) != NULL)
      n++;
  }
  closedir(d);
  if (names == NULL)
    return;
  qsort(names, n, sizeof(*names), cli_str_cmp);
  for (size_t i = 0; i < n; i++) {
    char *p = os_path_join(dir, names[i]);
    struct stat sb;
    if (p != NULL && lstat(p, &sb) == 0) {
      if (S_ISDIR(sb.st_mode))
        scan_dir(st, p, depth + 1);
      else if (S_ISREG(sb.st_mode) && strstr(names[i], ".tmp.") == NULL)
        scan_file(st, p);
    }
    free(p);
    free(names[i]);
  }
  free(names);
}

/* ---- access widened since a commit ---- */

/* `git -C dir ARGS...` stdout, or NULL (no git, not a repository, failed). */
static char *git_out(size_t *len, const char *dir, const char *a1, const char *a2, const char *a3,
                     const char *a4, const char *a5) {
  const char *v[] = {"git", "-C", dir, a1, a2, a3, a4, a5, NULL};
  char *argv[9] = {0};
  char *out = NULL;
  bool ok = true;
  for (size_t i = 0; v[i] != NULL; i++)
    ok = ok && (argv[i] = os_strdup(v[i])) != NULL;
  if (ok && cli_capture(&out, len, argv, SPEC_FILE_MAX) < 0)
    out = NULL;
  for (size_t i = 0; i < 8; i++)
    free(argv[i]);
  return out;
}

/* The documents of file as of commit ref, or NULL when it did not exist or
 * does not parse. Caller frees. */
static spec_tree *tree_at(const char *dir, const char *ref, const char *file) {
  char spec[PATH_MAX + 128];
  snprintf(spec, sizeof(spec), "%s:./%s", ref, file);
  size_t len = 0;
  char *text = git_out(&len, dir, "show", spec, NULL, NULL, NULL);
  if (text == NULL)
    return NULL;
  spec_tree *t = spec_tree_new(dir);
  os_error err = OS_ERROR_INIT;
  if (t != NULL && spec_tree_parse(t, file, text, len, &err) < 0) {
    spec_tree_free(t);
    t = NULL;
  }
  free(text);
  return t;
}

/* Role held by the key fp in o: 2 reads every secret, 1 only those visible
 * to viewers, 0 none. */
static int key_reach(const spec_org *o, const char *fp) {
  int best = 0;
  char f[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; o != NULL && i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient == NULL || seal_fingerprint(f, m->recipient, NULL) < 0 || strcmp(f, fp) != 0)
      continue;
    int r = m->role == SPEC_ROLE_VIEWER ? 1 : 2;
    best = r > best ? r : best;
  }
  return best;
}

static bool env_has_controller(const spec_org *o, const char *env, const char *recipient) {
  const spec_environment *e = o ? spec_org_find_env(o, env) : NULL;
  for (size_t k = 0; e != NULL && k < e->n_controllers; k++)
    if (strcmp(e->controllers[k], recipient) == 0)
      return true;
  return false;
}

static bool has_viewer_key(const spec_org *o) {
  for (size_t i = 0; i < o->n_members; i++)
    if (o->members[i].role == SPEC_ROLE_VIEWER && o->members[i].recipient != NULL)
      return true;
  return false;
}

/* Members, controller keys and visibleToViewers flags that let more keys
 * read values than at commit ref: one warning each. */
static void check_widening(lint_state *st, const spec_tree *t, const char *dir, const char *ref,
                           bool explicit_ref) {
  char rev[256];
  snprintf(rev, sizeof(rev), "%s^{commit}", ref);
  size_t len = 0;
  char *id = git_out(&len, dir, "rev-parse", "--verify", "--quiet", rev, NULL);
  if (id == NULL) {
    if (explicit_ref)
      finding(st, ".", 0, true, "--since %s: not a commit of a Git repository at %s", ref, dir);
    return;
  }
  free(id);
  const spec_org *o = t->org;
  const char *org_file = o->pos.file ? o->pos.file : "organization.yaml";
  spec_tree *old = tree_at(dir, ref, org_file);
  const spec_org *oo = old != NULL ? old->org : NULL;
  if (oo != NULL) {
    char fp[SPEC_FINGERPRINT_LEN + 1];
    size_t visible = 0;
    for (size_t i = 0; i < t->n_secrets; i++)
      visible += t->secrets[i]->visible_to_viewers;
    for (size_t i = 0; i < o->n_members; i++) {
      const spec_member *m = &o->members[i];
      if (m->recipient == NULL || seal_fingerprint(fp, m->recipient, NULL) < 0)
        continue;
      int now = m->role == SPEC_ROLE_VIEWER ? 1 : 2, was = key_reach(oo, fp);
      if (now == 2 && was < 2)
        finding(st, m->pos.file, m->pos.line, false,
                "since %s, %s (%s, key %s) can read every secret: %s; rekey will seal to it", ref,
                m->name, spec_role_name(m->role), fp,
                was == 1 ? "the key was a viewer's" : spec_org_find_member(oo, m->name) != NULL
                                                         ? "the member's key changed"
                                                         : "a new member");
      else if (now == 1 && was == 0 && visible > 0)
        finding(st, m->pos.file, m->pos.line, false,
                "since %s, %s (viewer, key %s) can read the %zu secret(s) visible to viewers", ref,
                m->name, fp, visible);
    }
    for (size_t i = 0; i < o->n_envs; i++) {
      const spec_environment *e = &o->envs[i];
      if (spec_org_find_env(oo, e->name) == NULL)
        continue; /* a new environment: its secrets are new too */
      for (size_t k = 0; k < e->n_controllers; k++)
        if (!env_has_controller(oo, e->name, e->controllers[k]) &&
            seal_fingerprint(fp, e->controllers[k], NULL) == 0)
          finding(st, e->pos.file, e->pos.line, false,
                  "since %s, a new controller key %s of environment %s can read its secrets", ref,
                  fp, e->name);
    }
  }
  spec_tree_free(old);
  /* visibleToViewers turned on: only files whose diff touches it are read again */
  char *diff = o != NULL && has_viewer_key(o)
                   ? git_out(&len, dir, "diff", "-U0", "--relative", ref, "--")
                   : NULL;
  char *file = NULL;
  for (char *line = diff, *next = NULL; line != NULL; line = next) {
    char *nl = strchr(line, '\n');
    next = nl != NULL ? nl + 1 : NULL;
    if (nl != NULL)
      *nl = '\0';
    if (strncmp(line, "+++ b/", 6) == 0) {
      file = line + 6;
      continue;
    }
    if (file == NULL || line[0] != '+' || strstr(line, "visibleToViewers:") == NULL)
      continue;
    spec_tree *before = tree_at(dir, ref, file);
    for (size_t i = 0; before != NULL && i < before->n_secrets; i++) {
      const spec_secret *b = before->secrets[i];
      const spec_secret *s = spec_tree_find_secret(t, b->environment, b->name);
      if (b->visible_to_viewers || s == NULL || !s->visible_to_viewers)
        continue;
      if ((s->application == NULL) != (b->application == NULL) ||
          (s->application != NULL && strcmp(s->application, b->application) != 0))
        continue;
      finding(st, s->pos.file, s->pos.line, false,
              "%s/%s: since %s, visibleToViewers is on: every viewer with a key can read it "
              "once it is re-sealed",
              s->environment, s->name, ref);
    }
    spec_tree_free(before);
    file = NULL; /* one look per file */
  }
  free(diff);
}

/* A temporary file of a write that was killed: it may hold the plaintext
 * of render -o or a spec being written. */
static void report_temp(void *ctx, const char *path) {
  finding(ctx, path, 0, true,
          "stale temporary file of an interrupted write (it may hold plaintext values): delete "
          "it; the next orgsecrets write in its folder does");
}

int cmd_lint(cli_ctx *ctx, int argc, char **argv) {
  const char *since = NULL;
  const cli_opt opts[] = {{"--since", NULL, CLI_VALUE, &since}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 1, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  lint_state st = {0, 0, ctx->dir};
  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  if (spec_tree_load_unvalidated(&t, ctx->dir, &err) < 0) {
    /* the loader stops at the first error; its message starts with FILE:LINE: */
    const char *m = err.msg;
    const char *p = strstr(m, ": ");
    const char *colon = strchr(m, ':');
    if (p != NULL && colon != NULL && colon < p && isdigit((unsigned char)colon[1]))
      printf("%.*s: error: %s\n", (int)(p - m), m, p + 2);
    else
      printf("%s: error: %s\n", ctx->dir, m);
    st.errors++;
  } else {
    spec_tree_validate(t, report, &st, NULL);
    time_t now = time(NULL);
    spec_secret **order = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*order));
    if (order != NULL && t->n_secrets > 0) {
      memcpy(order, t->secrets, t->n_secrets * sizeof(*order));
      qsort(order, t->n_secrets, sizeof(*order), cli_secret_cmp);
    }
    for (size_t i = 0; order != NULL && i < t->n_secrets; i++) {
      const spec_secret *s = order[i];
      if (s->name == NULL || s->environment == NULL)
        continue;
      const char *why = envfile_name_hazard(s->name);
      if (why != NULL)
        finding(&st, s->pos.file, s->lines.name > 0 ? s->lines.name : s->pos.line, true,
                "%s/%s: a variable named %s %s: `orgsecrets run` refuses it (unless "
                "--allow-env %s) and env files would hand it to programs; rename the secret",
                s->environment, s->name, s->name, why, s->name);
      check_name(&st, s);
      check_env_suffix(&st, s);
      check_rotation(&st, t->org, s, (int64_t)now);
      if (spec_org_find_env(t->org, s->environment) != NULL &&
          !seal_recipients_current(s, t->org))
        finding(&st, s->pos.file, s->pos.line, false,
                "%s/%s: sealed to an out-of-date recipient set; run `orgsecrets rekey`",
                s->environment, s->name);
    }
    free(order);
    check_widening(&st, t, ctx->dir, since != NULL ? since : "HEAD", since != NULL);
  }
  scan_dir(&st, ctx->dir, 0);
  const os_temps_opts temps = {.recursive = true, .legacy = "", .fn = report_temp, .ctx = &st};
  os_temps_sweep(ctx->dir, &temps, NULL, NULL);
  fflush(stdout);
  fprintf(stderr, "orgsecrets: lint: %zu error(s), %zu warning(s)\n", st.errors, st.warnings);
  spec_tree_free(t);
  return st.errors > 0 ? CLI_FAIL : CLI_OK;
}
