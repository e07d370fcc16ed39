#include "envfile/envfile.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool bare_ok(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = v[i];
    if (c == 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || strchr("_./:@%+,=-", c) != NULL))
      return false;
  }
  return n > 0;
}

int envfile_append(os_buf *b, const char *name, const uint8_t *v, size_t len, os_error *err) {
  if (len > 0 && memchr(v, 0, len) != NULL)
    return os_error_set(err, OS_EINVAL,
                        "%s: value contains a NUL byte and cannot be an environment variable", name);
  int rc = os_buf_puts(b, name);
  if (rc == 0)
    rc = os_buf_append(b, "=", 1);
  if (rc == 0 && bare_ok(v, len)) {
    rc = os_buf_append(b, v, len);
  } else if (rc == 0) {
    rc = os_buf_append(b, "\"", 1);
    size_t start = 0;
    for (size_t k = 0; rc == 0 && k < len; k++) {
      uint8_t c = v[k];
      if (c != '\\' && c != '"' && c != '$' && c != '`')
        continue;
      rc = os_buf_append(b, v + start, k - start);
      if (rc == 0)
        rc = os_buf_append(b, "\\", 1);
      start = k;
    }
    if (rc == 0)
      rc = os_buf_append(b, v + start, len - start);
    if (rc == 0)
      rc = os_buf_append(b, "\"", 1);
  }
  if (rc == 0)
    rc = os_buf_append(b, "\n", 1);
  if (rc < 0)
    return os_error_set(err, rc, "env file too large");
  return 0;
}

#define WHY_PATH "decides which program runs"
#define WHY_SHELL "changes what a shell runs"
#define WHY_LOADER "decides which libraries the dynamic loader loads"
#define WHY_INTERP "makes an interpreter load code from elsewhere"
#define WHY_CONFIG "decides which configuration files (and their hooks) programs read"
#define WHY_TOOL "names a command that programs run"

static const struct {
  const char *name;
  bool prefix; /* name is a prefix: LD_ covers LD_PRELOAD, LD_LIBRARY_PATH, ... */
  const char *why;
} hazards[] = {
    {"PATH", false, WHY_PATH},
    {"IFS", false, WHY_SHELL},
    {"ENV", false, WHY_SHELL},
    {"BASH_ENV", false, WHY_SHELL},
    {"BASH_FUNC_", true, WHY_SHELL},
    {"PS4", false, WHY_SHELL},
    {"SHELLOPTS", false, WHY_SHELL},
    {"BASHOPTS", false, WHY_SHELL},
    {"PROMPT_COMMAND", false, WHY_SHELL},
    {"CDPATH", false, WHY_SHELL},
    {"GLOBIGNORE", false, WHY_SHELL},
    {"ZDOTDIR", false, WHY_SHELL},
    {"SHELL", false, WHY_TOOL},
    {"HOME", false, WHY_CONFIG},
    {"XDG_CONFIG_HOME", false, WHY_CONFIG},
    {"LD_", true, WHY_LOADER},
    {"DYLD_", true, WHY_LOADER},
    {"GCONV_PATH", false, WHY_LOADER},
    {"GLIBC_TUNABLES", false, WHY_LOADER},
    {"LOCPATH", false, WHY_LOADER},
    {"OPENSSL_CONF", false, WHY_LOADER},
    {"OPENSSL_ENGINES", false, WHY_LOADER},
    {"OPENSSL_MODULES", false, WHY_LOADER},
    {"PYTHON", true, WHY_INTERP},
    {"PERL5", true, WHY_INTERP},
    {"PERLLIB", false, WHY_INTERP},
    {"RUBYOPT", false, WHY_INTERP},
    {"RUBYLIB", false, WHY_INTERP},
    {"NODE_OPTIONS", false, WHY_INTERP},
    {"NODE_PATH", false, WHY_INTERP},
    {"NPM_CONFIG_", true, WHY_INTERP},
    {"JAVA_TOOL_OPTIONS", false, WHY_INTERP},
    {"JDK_JAVA_OPTIONS", false, WHY_INTERP},
    {"CLASSPATH", false, WHY_INTERP},
    {"DOTNET_STARTUP_HOOKS", false, WHY_INTERP},
    {"CORECLR_", true, WHY_INTERP},
    {"COR_PROFILER", true, WHY_INTERP},
    {"LUA_INIT", true, WHY_INTERP},
    {"LUA_PATH", true, WHY_INTERP},
    {"LUA_CPATH", true, WHY_INTERP},
    {"PHPRC", false, WHY_INTERP},
    {"PHP_INI_SCAN_DIR", false, WHY_INTERP},
    {"TCLLIBPATH", false, WHY_INTERP},
    {"MAKEFILES", false, WHY_INTERP},
    {"MAKEFLAGS", false, WHY_INTERP},
    {"GNUMAKEFLAGS", false, WHY_INTERP},
    {"CC", false, WHY_TOOL},
    {"CXX", false, WHY_TOOL},
    {"CPP", false, WHY_TOOL},
    {"LD", false, WHY_TOOL},
    {"GIT_CONFIG", true, WHY_CONFIG},
    {"GIT_DIR", false, WHY_CONFIG},
    {"GIT_WORK_TREE", false, WHY_CONFIG},
    {"GIT_TEMPLATE_DIR", false, WHY_CONFIG},
    {"GIT_EXEC_PATH", false, WHY_PATH},
    {"GIT_SSH", false, WHY_TOOL},
    {"GIT_SSH_COMMAND", false, WHY_TOOL},
    {"GIT_ASKPASS", false, WHY_TOOL},
    {"GIT_EDITOR", false, WHY_TOOL},
    {"GIT_PAGER", false, WHY_TOOL},
    {"GIT_EXTERNAL_DIFF", false, WHY_TOOL},
    {"GIT_PROXY_COMMAND", false, WHY_TOOL},
    {"EDITOR", false, WHY_TOOL},
    {"VISUAL", false, WHY_TOOL},
    {"PAGER", false, WHY_TOOL},
    {"MANPAGER", false, WHY_TOOL},
    {"BROWSER", false, WHY_TOOL},
    {"SSH_ASKPASS", false, WHY_TOOL},
    {"SUDO_ASKPASS", false, WHY_TOOL},
    {"LESSOPEN", false, WHY_TOOL},
    {"LESSCLOSE", false, WHY_TOOL},
};

const char *envfile_name_hazard(const char *name) {
  for (size_t i = 0; i < sizeof(hazards) / sizeof(hazards[0]); i++) {
    size_t n = strlen(hazards[i].name);
    if (hazards[i].prefix ? strncmp(name, hazards[i].name, n) == 0
                          : strcmp(name, hazards[i].name) == 0)
      return hazards[i].why;
  }
  return NULL;
}

void envfile_entries_free(envfile_entry *v, size_t n) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    os_free_secret(v[i].value, v[i].len);
  }
  free(v);
}

static bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
static bool blank(char c) { return c == ' ' || c == '\t'; }

typedef struct scan {
  const char *d;
  size_t len, i;
  int line;
} scan;

static void skip_blanks(scan *x) {
  while (x->i < x->len && blank(x->d[x->i]))
    x->i++;
}

/* At the end of a line (blanks, an optional # comment, CR LF or LF, or the
 * end of the text): consumes it and returns true. */
static bool end_of_line(scan *x, bool comment_ok) {
  skip_blanks(x);
  if (comment_ok && x->i < x->len && x->d[x->i] == '#')
    while (x->i < x->len && x->d[x->i] != '\n')
      x->i++;
  if (x->i < x->len && x->d[x->i] == '\r' && x->i + 1 < x->len && x->d[x->i + 1] == '\n')
    x->i++;
  if (x->i >= x->len)
    return true;
  if (x->d[x->i] != '\n')
    return false;
  x->i++;
  x->line++;
  return true;
}

/* A quoted value after its opening quote q; escapes only in "...". */
static int quoted(os_buf *val, scan *x, char q, os_error *err) {
  int start_line = x->line;
  for (;;) {
    if (x->i >= x->len)
      return os_error_set(err, OS_EINVAL, "line %d: unterminated quote", start_line);
    char c = x->d[x->i++];
    if (c == q)
      return 0;
    if (c == '\n')
      x->line++;
    if (c == '\\' && q == '"' && x->i < x->len) {
      char e = x->d[x->i];
      static const char from[] = "nrt\\\"$`", to[] = "\n\r\t\\\"$`";
      const char *k = memchr(from, e, sizeof(from) - 1);
      if (k != NULL) {
        c = to[k - from];
        x->i++;
      }
    }
    if (os_buf_append(val, &c, 1) < 0)
      return os_error_set(err, OS_ENOMEM, "line %d: value too large", start_line);
  }
}

/* An unquoted value: up to the end of the line or a # after a blank, blanks trimmed. */
static int unquoted(os_buf *val, scan *x, os_error *err) {
  size_t vs = x->i, end = x->i;
  while (x->i < x->len && x->d[x->i] != '\n') {
    char c = x->d[x->i];
    if (c == '#' && x->i > 0 && blank(x->d[x->i - 1]))
      break;
    x->i++;
    if (!blank(c) && c != '\r')
      end = x->i;
  }
  if (os_buf_append(val, x->d + vs, end - vs) < 0)
    return os_error_set(err, OS_ENOMEM, "line %d: value too large", x->line);
  return 0;
}

int envfile_parse(envfile_entry **out, size_t *out_n, const char *d, size_t len, os_error *err) {
  *out = NULL;
  *out_n = 0;
  size_t cap = 0, n = 0;
  envfile_entry *v = NULL;
  os_buf val;
  os_buf_init(&val, 1u << 20, true);
  int rc = 0;
  scan x = {d, len, 0, 1};
  if (len >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0) /* checksrc: public: a byte-order mark */
    x.i = 3;
  while (x.i < len) {
    skip_blanks(&x);
    if (end_of_line(&x, true))
      continue; /* a blank line or a comment */
    int line = x.line;
    if (len - x.i > 7 && strncmp(d + x.i, "export", 6) == 0 && blank(d[x.i + 6])) {
      x.i += 7;
      skip_blanks(&x);
    }
    size_t ns = x.i;
    if (x.i < len && name_start(d[x.i]))
      while (x.i < len && name_char(d[x.i]))
        x.i++;
    size_t name_len = x.i - ns;
    skip_blanks(&x);
    if (name_len == 0 || x.i >= len || d[x.i] != '=') {
      rc = os_error_set(err, OS_EINVAL, "line %d: not a NAME=value line", line);
      goto fail;
    }
    x.i++;
    skip_blanks(&x);
    os_buf_reset(&val);
    bool q = x.i < len && (d[x.i] == '"' || d[x.i] == '\'');
    if (q) {
      char quote = d[x.i++];
      rc = quoted(&val, &x, quote, err);
    } else {
      rc = unquoted(&val, &x, err);
    }
    if (rc < 0)
      goto fail;
    if (!end_of_line(&x, true)) {
      rc = os_error_set(err, OS_EINVAL, "line %d: text after the closing quote", x.line);
      goto fail;
    }
    if (os_grow(&v, &cap, n + 1, sizeof(*v), SIZE_MAX) < 0)
      goto oom;
    envfile_entry *e = &v[n];
    e->name = malloc(name_len + 1);
    e->value = malloc(val.len ? val.len : 1);
    if (e->name == NULL || e->value == NULL) {
      free(e->name);
      free(e->value);
      goto oom;
    }
    memcpy(e->name, d + ns, name_len);
    e->name[name_len] = '\0';
    memcpy(e->value, val.data ? val.data : "", val.len);
    e->len = val.len;
    e->line = line;
    n++;
  }
  os_buf_free(&val);
  *out = v;
  *out_n = n;
  return 0;
oom:
  rc = os_error_set(err, OS_ENOMEM, "out of memory");
fail:
  os_buf_free(&val);
  envfile_entries_free(v, n);
  return rc;
}
