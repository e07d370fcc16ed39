/* Names, field shapes, allocation and lookups of the organization model. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "spec/spec_internal.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool spec_secret_name_valid(const char *name) {
  if (name == NULL || !(name[0] >= 'A' && name[0] <= 'Z'))
    return false;
  size_t i = 0;
  for (; name[i] != '\0'; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || is_digit(c) || c == '_'))
      return false;
    if (i >= SPEC_NAME_MAX)
      return false;
  }
  return true;
}

bool spec_dns_label_valid(const char *name) {
  if (name == NULL)
    return false;
  size_t n = strlen(name);
  if (n == 0 || n > 63 || !is_lower_alnum(name[0]) || !is_lower_alnum(name[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_lower_alnum(name[i]) && name[i] != '-')
      return false;
  return true;
}

bool spec_dns_subdomain_valid(const char *s) {
  if (s == NULL)
    return false;
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.') {
      if (!is_lower_alnum(s[i]) && s[i] != '-')
        return false;
      continue;
    }
    if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
      return false;
    start = i + 1;
  }
  return true;
}

const char *spec_role_name(enum spec_role r) {
  switch (r) {
  case SPEC_ROLE_ADMIN: return "admin";
  case SPEC_ROLE_MEMBER: return "member";
  case SPEC_ROLE_VIEWER: return "viewer";
  }
  return "unknown";
}

int spec_role_parse(enum spec_role *out, const char *s) {
  if (s == NULL)
    return OS_EINVAL;
  if (strcmp(s, "admin") == 0)
    *out = SPEC_ROLE_ADMIN;
  else if (strcmp(s, "member") == 0)
    *out = SPEC_ROLE_MEMBER;
  else if (strcmp(s, "viewer") == 0)
    *out = SPEC_ROLE_VIEWER;
  else
    return OS_EINVAL;
  return 0;
}

/* age X25519 recipients: "age1" + 58 bech32 characters (syntax only). */
bool spec_recipient_shaped(const char *s) {
  static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  if (s == NULL || strncmp(s, "age1", 4) != 0 || strlen(s) != 62)
    return false;
  for (const char *p = s + 4; *p; p++)
    if (strchr(charset, *p) == NULL)
      return false;
  return true;
}

bool spec_fingerprint_valid(const char *s) {
  if (s == NULL || strlen(s) != SPEC_FINGERPRINT_LEN)
    return false;
  for (const char *p = s; *p; p++)
    if (!is_digit(*p) && !(*p >= 'a' && *p <= 'f'))
      return false;
  return true;
}

/* RFC 3339 in UTC with second precision: YYYY-MM-DDTHH:MM:SSZ, a real date. */
bool spec_timestamp_valid(const char *s) {
  int64_t t;
  return os_time_parse(&t, NULL, s, OS_TIME_CANONICAL) == 0;
}

bool spec_member_name_valid(const char *s) {
  if (s == NULL || s[0] == '\0' || strlen(s) > 253)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

/* A relative path without "..", empty or hidden-escape components. */
bool spec_env_file_valid(const char *s) {
  if (s == NULL || s[0] == '\0' || s[0] == '/' || strlen(s) > 1024)
    return false;
  const char *p = s;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
        return false;
    if (slash == NULL)
      break;
    p = slash + 1;
    if (*p == '\0')
      return false;
  }
  return true;
}

#define ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----\n"
#define ARMOR_END "-----END AGE ENCRYPTED FILE-----\n"

/* The ASCII-armor form age writes: BEGIN line, base64 lines of at most 64
 * characters, END line, LF endings. Content is not decoded here. */
bool spec_armor_shaped(const char *s, size_t len) {
  size_t lb = sizeof(ARMOR_BEGIN) - 1, le = sizeof(ARMOR_END) - 1;
  if (s == NULL || len > SPEC_ENCRYPTED_MAX || len < lb + le + 2)
    return false;
  /* checksrc: public: armor lines */
  if (memcmp(s, ARMOR_BEGIN, lb) != 0 || memcmp(s + len - le, ARMOR_END, le) != 0)
    return false;
  const unsigned char *p = (const unsigned char *)s + lb, *end = (const unsigned char *)s + len - le;
  size_t lines = 0;
  while (p < end) {
    const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl != NULL ? (size_t)(nl - p) : 0;
    if (n == 0 || n > 64 || os_base64_span((const char *)p, n, 0) != n)
      return false;
    p = nl + 1;
    lines++;
  }
  return lines > 0;
}

static bool word_in(const char *s, size_t len, const char *const *words) {
  if (len > 6)
    return false;
  for (size_t i = 0; words[i]; i++)
    /* checksrc: public: YAML words */
    if (words[i][0] == s[0] && strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
      return true;
  return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? without the locale
 * dependence of strtod. */
static bool decimal_number(const char *p) {
  if (*p == '+' || *p == '-')
    p++;
  size_t int_digits = 0, frac_digits = 0;
  while (is_digit(*p))
    p++, int_digits++;
  if (*p == '.') {
    p++;
    while (is_digit(*p))
      p++, frac_digits++;
  }
  if (int_digits == 0 && frac_digits == 0)
    return false;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!is_digit(*p))
      return false;
    while (is_digit(*p))
      p++;
  }
  return *p == '\0';
}

/* Null, booleans (YAML 1.1 and 1.2) and numbers (ints in any base, floats,
 * sexagesimal, .inf/.nan): what a plain scalar may resolve to besides a string. */
bool spec_plain_is_nonstring(const char *s, size_t len) {
  static const char *const words[] = {
      "~",     "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
      "yes",   "Yes",  "YES",  "no",   "No",   "NO",   "on",   "On",    "ON",    "off",
      "Off",   "OFF",  "y",    "Y",    "n",    "N",    ".inf", ".Inf",  ".INF",  "+.inf",
      "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL};
  if (len == 0 || word_in(s, len, words))
    return true;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-')
    i++;
  if (i >= len)
    return false;
  if (len - i > 2 && s[i] == '0' && strchr("xXoObB", s[i + 1]) != NULL) {
    for (size_t k = i + 2; k < len; k++)
      if (!isxdigit((unsigned char)s[k]) && s[k] != '_')
        return false;
    return true;
  }
  if (!is_digit(s[i]) && !(s[i] == '.' && i + 1 < len && is_digit(s[i + 1])))
    return false;
  if (len > 128)
    return false;
  char tmp[130];
  size_t t = 0;
  bool colon = false;
  for (size_t k = 0; k < len; k++) {
    char c = s[k];
    if (c == '_')
      continue;
    if (c == ':') {
      colon = true;
      continue;
    }
    if (!is_digit(c) && !strchr(".eE+-", c))
      return false;
    tmp[t++] = c;
  }
  if (colon)
    return true; /* sexagesimal-looking: quoted to be safe */
  tmp[t] = '\0';
  return decimal_number(tmp);
}

/* Appends src to dst[*n..size) lower-cased with '_' -> '-'; false when full. */
static bool put_lowered(char *dst, size_t size, size_t *n, const char *src) {
  for (; *src; src++) {
    if (*n + 1 >= size)
      return false;
    char c = *src;
    dst[(*n)++] = c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  return true;
}

size_t spec_resource_name_into(char *buf, size_t size, const char *org, const char *env,
                               const char *app, const char *name) {
  size_t n = 0;
  if (size == 0)
    return 0;
  const char *parts[] = {org, env, app, name};
  for (size_t i = 0; i < 4; i++) {
    if (parts[i] == NULL)
      continue;
    if (i > 0) {
      if (n + 1 >= size)
        return 0;
      buf[n++] = '.';
    }
    if (!put_lowered(buf, size, &n, parts[i]))
      return 0;
  }
  buf[n] = '\0';
  return n;
}

char *spec_secret_resource_name(const char *org, const char *env, const char *app,
                                const char *name) {
  if (org == NULL || env == NULL || name == NULL)
    return NULL;
  size_t size = strlen(org) + strlen(env) + (app ? strlen(app) + 1 : 0) + strlen(name) + 3;
  char *out = malloc(size);
  if (out != NULL && spec_resource_name_into(out, size, org, env, app, name) == 0) {
    free(out);
    out = NULL;
  }
  return out;
}

char *spec_secret_ref_resource_name(const spec_secret_ref *r) {
  return spec_secret_resource_name(r->organization, r->environment,
                                   r->legacy_name ? NULL : r->application, r->name);
}

char *spec_secret_default_path(const char *env, const char *app, const char *name) {
  if (env == NULL || name == NULL)
    return NULL;
  os_buf b;
  os_buf_init(&b, 4096, false);
  char *out = NULL;
  size_t n = 0;
  int rc = app != NULL ? os_buf_printf(&b, "secrets/%s/%s/%s.yaml", env, app, name)
                       : os_buf_printf(&b, "secrets/%s/%s.yaml", env, name);
  if (rc < 0 || os_buf_detach(&out, &n, &b) < 0)
    out = NULL;
  os_buf_free(&b);
  return out;
}

void spec_strings_free(char **v, size_t n) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int strings_dup(char ***out, char *const *in, size_t n) {
  *out = NULL;
  if (n == 0)
    return 0;
  char **v = calloc(n, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((v[i] = os_strdup(in[i])) == NULL && in[i] != NULL) {
      spec_strings_free(v, n);
      return OS_ENOMEM;
    }
  }
  *out = v;
  return 0;
}

void spec_kv_free(spec_kv *kv, size_t n) {
  if (kv == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

int spec_kv_dup(spec_kv **out, const spec_kv *in, size_t n) {
  *out = NULL;
  if (n == 0)
    return 0;
  spec_kv *v = calloc(n, sizeof(*v));
  if (v == NULL)
    return OS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    v[i].key = os_strdup(in[i].key);
    v[i].value = os_strdup(in[i].value);
    if (v[i].key == NULL || v[i].value == NULL) {
      spec_kv_free(v, n);
      return OS_ENOMEM;
    }
  }
  *out = v;
  return 0;
}

spec_secret *spec_secret_new(void) {
  spec_secret *s = calloc(1, sizeof(spec_secret));
  if (s != NULL)
    s->rotation_days = SPEC_ROTATION_INHERIT;
  return s;
}
spec_org *spec_org_new(void) { return calloc(1, sizeof(spec_org)); }

void spec_secret_free(spec_secret *s) {
  if (s == NULL)
    return;
  free(s->organization);
  free(s->environment);
  free(s->name);
  free(s->application);
  free(s->description);
  free(s->created_by);
  free(s->created_at);
  free(s->updated_by);
  free(s->updated_at);
  free(s->rotated_at);
  spec_strings_free(s->recipients, s->n_recipients);
  free(s->encrypted_value);
  free(s->pos.file);
  spec_kv_free(s->labels, s->n_labels);
  spec_kv_free(s->annotations, s->n_annotations);
  free(s);
}

#define DUP_FIELD(dst, src, f)                      \
  do {                                              \
    if ((src)->f != NULL && ((dst)->f = os_strdup((src)->f)) == NULL) \
      goto fail;                                    \
  } while (0)

spec_secret *spec_secret_dup(const spec_secret *s) {
  if (s == NULL)
    return NULL;
  spec_secret *d = spec_secret_new();
  if (d == NULL)
    return NULL;
  d->state = s->state;
  d->visible_to_viewers = s->visible_to_viewers;
  d->legacy_name = s->legacy_name;
  d->rotation_days = s->rotation_days;
  d->pos.line = s->pos.line;
  d->generation = s->generation;
  d->lines.organization = s->lines.organization;
  d->lines.environment = s->lines.environment;
  d->lines.name = s->lines.name;
  d->lines.application = s->lines.application;
  DUP_FIELD(d, s, organization);
  DUP_FIELD(d, s, environment);
  DUP_FIELD(d, s, name);
  DUP_FIELD(d, s, application);
  DUP_FIELD(d, s, description);
  DUP_FIELD(d, s, created_by);
  DUP_FIELD(d, s, created_at);
  DUP_FIELD(d, s, updated_by);
  DUP_FIELD(d, s, updated_at);
  DUP_FIELD(d, s, rotated_at);
  DUP_FIELD(d, s, encrypted_value);
  DUP_FIELD(d, s, pos.file);
  if (strings_dup(&d->recipients, s->recipients, s->n_recipients) < 0)
    goto fail;
  d->n_recipients = s->n_recipients;
  if (spec_kv_dup(&d->labels, s->labels, s->n_labels) < 0)
    goto fail;
  d->n_labels = s->n_labels;
  if (spec_kv_dup(&d->annotations, s->annotations, s->n_annotations) < 0)
    goto fail;
  d->n_annotations = s->n_annotations;
  return d;
fail:
  spec_secret_free(d);
  return NULL;
}

static void member_clear(spec_member *m) {
  free(m->name);
  free(m->recipient);
  free(m->pos.file);
}

static void env_clear(spec_environment *e) {
  free(e->name);
  spec_strings_free(e->controllers, e->n_controllers);
  spec_strings_free(e->namespaces, e->n_namespaces);
  free(e->secret_name);
  free(e->env_file);
  free(e->pos.file);
}

static void app_clear(spec_application *a) {
  free(a->name);
  spec_strings_free(a->namespaces, a->n_namespaces);
  free(a->secret_name);
  free(a->pos.file);
}

void spec_org_free(spec_org *o) {
  if (o == NULL)
    return;
  free(o->id);
  for (size_t i = 0; i < o->n_members; i++)
    member_clear(&o->members[i]);
  free(o->members);
  for (size_t i = 0; i < o->n_envs; i++)
    env_clear(&o->envs[i]);
  free(o->envs);
  for (size_t i = 0; i < o->n_apps; i++)
    app_clear(&o->apps[i]);
  free(o->apps);
  free(o->pos.file);
  spec_kv_free(o->labels, o->n_labels);
  spec_kv_free(o->annotations, o->n_annotations);
  free(o);
}

spec_org *spec_org_dup(const spec_org *o) {
  if (o == NULL)
    return NULL;
  spec_org *d = spec_org_new();
  if (d == NULL)
    return NULL;
  d->rotation_days = o->rotation_days;
  d->pos.line = o->pos.line;
  d->generation = o->generation;
  DUP_FIELD(d, o, id);
  DUP_FIELD(d, o, pos.file);
  if (o->n_members > 0 && (d->members = calloc(o->n_members, sizeof(*d->members))) == NULL)
    goto fail;
  for (size_t i = 0; i < o->n_members; i++, d->n_members++) {
    spec_member *dm = &d->members[i];
    const spec_member *sm = &o->members[i];
    dm->role = sm->role;
    dm->pos.line = sm->pos.line;
    DUP_FIELD(dm, sm, name);
    DUP_FIELD(dm, sm, recipient);
    DUP_FIELD(dm, sm, pos.file);
  }
  if (o->n_envs > 0 && (d->envs = calloc(o->n_envs, sizeof(*d->envs))) == NULL)
    goto fail;
  for (size_t i = 0; i < o->n_envs; i++, d->n_envs++) {
    spec_environment *de = &d->envs[i];
    const spec_environment *se = &o->envs[i];
    de->pos.line = se->pos.line;
    DUP_FIELD(de, se, name);
    DUP_FIELD(de, se, secret_name);
    DUP_FIELD(de, se, env_file);
    DUP_FIELD(de, se, pos.file);
    if (strings_dup(&de->controllers, se->controllers, se->n_controllers) < 0)
      goto fail;
    de->n_controllers = se->n_controllers;
    if (strings_dup(&de->namespaces, se->namespaces, se->n_namespaces) < 0)
      goto fail;
    de->n_namespaces = se->n_namespaces;
  }
  if (o->n_apps > 0 && (d->apps = calloc(o->n_apps, sizeof(*d->apps))) == NULL)
    goto fail;
  for (size_t i = 0; i < o->n_apps; i++, d->n_apps++) {
    spec_application *da = &d->apps[i];
    const spec_application *sa = &o->apps[i];
    da->pos.line = sa->pos.line;
    DUP_FIELD(da, sa, name);
    DUP_FIELD(da, sa, secret_name);
    DUP_FIELD(da, sa, pos.file);
    if (strings_dup(&da->namespaces, sa->namespaces, sa->n_namespaces) < 0)
      goto fail;
    da->n_namespaces = sa->n_namespaces;
  }
  if (spec_kv_dup(&d->labels, o->labels, o->n_labels) < 0)
    goto fail;
  d->n_labels = o->n_labels;
  if (spec_kv_dup(&d->annotations, o->annotations, o->n_annotations) < 0)
    goto fail;
  d->n_annotations = o->n_annotations;
  return d;
fail:
  spec_org_free(d);
  return NULL;
}

spec_environment *spec_org_find_env(const spec_org *o, const char *name) {
  if (o == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < o->n_envs; i++)
    if (o->envs[i].name != NULL && strcmp(o->envs[i].name, name) == 0)
      return &o->envs[i];
  return NULL;
}

spec_application *spec_org_find_app(const spec_org *o, const char *name) {
  if (o == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < o->n_apps; i++)
    if (o->apps[i].name != NULL && strcmp(o->apps[i].name, name) == 0)
      return &o->apps[i];
  return NULL;
}

spec_member *spec_org_find_member(const spec_org *o, const char *name) {
  if (o == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < o->n_members; i++)
    if (o->members[i].name != NULL && strcmp(o->members[i].name, name) == 0)
      return &o->members[i];
  return NULL;
}
