/* The plaintext scanner of lint: known token shapes, password-like
 * assignments and high-entropy strings outside encryptedValue blocks, in
 * every non-hidden file below the folder; and stale temporary files. */
#include <ctype.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "org/org_internal.h"

static bool is_tok(unsigned char c) {
  return isalnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

/* Shannon entropy of s[0..n) in bits per character. */
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

/* True when s holds prefix followed by at least min_tail characters ok accepts. */
static bool has_run(const char *s, size_t n, const char *prefix, size_t min_tail,
                    bool (*ok)(unsigned char)) {
  size_t pl = strlen(prefix);
  for (size_t i = 0; i + pl <= n; i++) {
    /* checksrc: public: a token prefix; a match is reported anyway */
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
    /* checksrc: public: a marker of a key or armor block; a match is reported anyway */
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

const char *org_plaintext_kind(const char *s, size_t n) {
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
    if (strncmp(t, "age1", 4) == 0)
      continue; /* a public key */
    if (entropy(t, len) >= 4.0)
      return "a high-entropy string";
  }
  return NULL;
}

/* 2 when the line opens an encryptedValue block scalar, 1 when it holds an
 * encryptedValue on the line, 0 otherwise. */
static int starts_block(const char *s, size_t n, size_t *indent) {
  size_t i = 0;
  while (i < n && s[i] == ' ')
    i++;
  static const char key[] = "encryptedValue:";
  /* checksrc: public: a YAML key */
  if (n - i < sizeof(key) - 1 || memcmp(s + i, key, sizeof(key) - 1) != 0)
    return 0;
  *indent = i;
  size_t k = i + sizeof(key) - 1;
  while (k < n && s[k] == ' ')
    k++;
  if (k < n && (s[k] == '|' || s[k] == '>'))
    return 2;
  return 1;
}

typedef struct scan_ctx {
  org_findings *out;
  const char *dir;
} scan_ctx;

/* Where the scanner is in one text: inside an encryptedValue block (above
 * block_indent) or an age armor block. */
typedef struct scan_state {
  bool in_block, in_armor;
  size_t block_indent;
} scan_state;

/* Feeds one line to a state; returns the kind of plaintext it holds, or
 * NULL (also for the lines of encrypted values). */
static const char *scan_line(scan_state *st, const char *l, size_t n) {
  if (st->in_block) {
    size_t ind = 0;
    while (ind < n && l[ind] == ' ')
      ind++;
    if (ind == n || ind > st->block_indent)
      return NULL;
    st->in_block = false;
  }
  if (st->in_armor) {
    if (mem_contains(l, n, "-----END AGE ENCRYPTED FILE-----"))
      st->in_armor = false;
    return NULL;
  }
  if (mem_contains(l, n, "-----BEGIN AGE ENCRYPTED FILE-----")) {
    st->in_armor = !mem_contains(l, n, "-----END AGE ENCRYPTED FILE-----");
    return NULL;
  }
  size_t ind = 0;
  int b = starts_block(l, n, &ind);
  if (b == 2) {
    st->in_block = true;
    st->block_indent = ind;
    return NULL;
  }
  if (b == 1)
    return NULL;
  return org_plaintext_kind(l, n);
}

/* A file with Git conflict markers is read as its two sides, each with its
 * own state (a side's ciphertext lines are no plaintext because the other
 * side's block ended); the lines both sides share are reported once. */
static int scan_file(org_findings *out, const char *dir, const spec_walk_entry *e) {
  char *data = NULL;
  size_t len = 0;
  os_error rerr = OS_ERROR_INIT;
  if (os_read_file_below(&data, &len, dir, e->rel, SPEC_FILE_MAX, &rerr) < 0)
    return org_finding_add(out, NULL, ORG_WARNING, "not-scanned", NULL, e->rel, 0, NULL,
                           "not scanned for plaintext secrets: %s", rerr.msg);
  int rc = 0;
  if (memchr(data, 0, len < 8192 ? len : 8192) != NULL)
    goto done; /* binary */
  scan_state ours = {0}, theirs = {0}, base = {0};
  int section = 0; /* 0 outside a conflict, else the last SPEC_CONFLICT_* marker */
  int line_no = 0;
  for (size_t pos = 0; rc == 0 && pos < len;) {
    const char *l = data + pos;
    const char *nl = memchr(l, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - l) : len - pos;
    pos += n + 1;
    line_no++;
    int m = spec_conflict_marker(l, n);
    if (m == SPEC_CONFLICT_OURS || (m != 0 && section != 0)) {
      if (m == SPEC_CONFLICT_OURS)
        base = ours; /* diff3's base section starts where ours does */
      section = m == SPEC_CONFLICT_THEIRS ? 0 : m;
      continue;
    }
    const char *kind = NULL;
    if (section == 0) {
      kind = scan_line(&ours, l, n);
      const char *k2 = scan_line(&theirs, l, n);
      if (kind == NULL)
        kind = k2;
    } else if (section == SPEC_CONFLICT_OURS) {
      kind = scan_line(&ours, l, n);
    } else if (section == SPEC_CONFLICT_BASE) {
      kind = scan_line(&base, l, n);
    } else {
      kind = scan_line(&theirs, l, n);
    }
    if (kind != NULL)
      rc = org_finding_add(out, NULL, ORG_ERROR, "plaintext", NULL, e->rel, line_no, NULL,
                           "possible plaintext secret: %s outside an encryptedValue (never "
                           "commit values; use orgsecrets set)", kind);
  }
done:
  OPENSSL_cleanse(data, len);
  free(data);
  return rc;
}

/* Every file the folder walk finds, except older versions' temporary files
 * (NAME.tmp.XXXXXX: reported as stale temporary files instead); a link is
 * reported, as nothing reads below it. */
static int scan_entry(void *vctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  scan_ctx *ctx = vctx;
  if (e->kind == SPEC_WALK_LINK)
    return org_finding_add(ctx->out, NULL, ORG_WARNING, "symlink", NULL, e->rel, 0, NULL,
                           "symbolic link not followed: no orgsecrets command and no controller "
                           "reads below it (copy the files into the folder instead)");
  if (e->kind != SPEC_WALK_FILE || strstr(e->name, ".tmp.") != NULL)
    return 0;
  return scan_file(ctx->out, ctx->dir, e);
}

typedef struct temps_ctx {
  org_findings *out;
  const char *dir;
  int rc;
} temps_ctx;

/* A temporary file of a write that was killed: it may hold the plaintext
 * of render -o or a spec being written. */
static void report_temp(void *vctx, const char *path) {
  temps_ctx *c = vctx;
  if (c->rc == 0)
    c->rc = org_finding_add(c->out, c->dir, ORG_ERROR, "stale-temp", NULL, path, 0, NULL,
                            "stale temporary file of an interrupted write (it may hold "
                            "plaintext values): delete it; the next orgsecrets write in its "
                            "folder does");
}

int org_lint_scan(org_findings *out, const char *dir, os_error *err) {
  os_error werr = OS_ERROR_INIT;
  scan_ctx sc = {out, dir};
  int rc = spec_walk(dir, SPEC_WALK_ALL_FILES | SPEC_WALK_LINKS, scan_entry, &sc, &werr);
  if (rc < 0 && rc != OS_ENOMEM)
    rc = org_finding_add(out, NULL, ORG_WARNING, "not-scanned", NULL, NULL, 0, NULL,
                         "not scanned for plaintext secrets past this point: %s", werr.msg);
  temps_ctx tc = {out, dir, 0};
  const os_temps_opts temps = {.recursive = true, .legacy = "", .fn = report_temp, .ctx = &tc};
  if (rc == 0)
    (void)os_temps_sweep(dir, &temps, NULL, NULL);
  if (rc == 0)
    rc = tc.rc;
  if (rc < 0)
    return os_error_set(err, rc, "lint: out of memory");
  return 0;
}
