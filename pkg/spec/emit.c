/* Canonical YAML: fixed key order, optional fields omitted, one quoting
 * rule (plain unless YAML would read the text as something else or
 * mis-parse it; then double quotes with escapes), LF endings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec_internal.h"

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  unsigned min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, min = 0x80, c &= 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, min = 0x800, c &= 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, c &= 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3fu);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

static bool utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  unsigned cp;
  while (n > 0) {
    size_t k = utf8_next(p, n, &cp);
    if (k == 0)
      return false;
    p += k;
    n -= k;
  }
  return true;
}

/* Code points that YAML cannot carry raw (or would treat as line breaks). */
static bool needs_escape(unsigned cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool needs_quote(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || spec_plain_is_nonstring(s, len))
    return true;
  if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) != NULL)
    return true;
  if (s[len - 1] == ' ' || s[len - 1] == ':')
    return true;
  /* Dates and timestamps stay strings for every YAML reader. */
  if (len >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
      s[4] == '-')
    return true;
  const unsigned char *p = (const unsigned char *)s;
  size_t n = len;
  while (n > 0) {
    unsigned cp;
    size_t k = utf8_next(p, n, &cp);
    if (k == 0 || needs_escape(cp))
      return true;
    if ((cp == ':' && n > 1 && p[1] == ' ') || (cp == ' ' && n > 1 && p[1] == '#'))
      return true;
    p += k;
    n -= k;
  }
  return false;
}

static int put_scalar(os_buf *b, const char *s) {
  if (!needs_quote(s))
    return os_buf_puts(b, s);
  int rc = os_buf_append(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (rc == 0 && n > 0) {
    unsigned cp;
    size_t k = utf8_next(p, n, &cp);
    if (k == 0)
      return OS_EINVAL;
    if (cp == '"')
      rc = os_buf_puts(b, "\\\"");
    else if (cp == '\\')
      rc = os_buf_puts(b, "\\\\");
    else if (cp == '\n')
      rc = os_buf_puts(b, "\\n");
    else if (cp == '\t')
      rc = os_buf_puts(b, "\\t");
    else if (cp == '\r')
      rc = os_buf_puts(b, "\\r");
    else if (cp == 0x2028)
      rc = os_buf_puts(b, "\\L");
    else if (cp == 0x2029)
      rc = os_buf_puts(b, "\\P");
    else if (cp <= 0xff && needs_escape(cp))
      rc = os_buf_printf(b, "\\x%02X", cp);
    else if (needs_escape(cp))
      rc = os_buf_printf(b, "\\u%04X", cp);
    else
      rc = os_buf_append(b, p, k);
    p += k;
    n -= k;
  }
  if (rc == 0)
    rc = os_buf_append(b, "\"", 1);
  return rc;
}

typedef struct emitter {
  os_buf b;
  int rc;
  const char *bad;  /* first field that could not be emitted */
} emitter;

static void indent(emitter *e, int level) {
  static const char spaces[] = "                ";
  if (e->rc == 0)
    e->rc = os_buf_append(&e->b, spaces, (size_t)level * 2);
}

static void raw(emitter *e, const char *s) {
  if (e->rc == 0)
    e->rc = os_buf_puts(&e->b, s);
}

static bool plain_ascii(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p >= 0x80)
      return false;
  return true;
}

static void scalar(emitter *e, const char *field, const char *s) {
  if (e->rc != 0)
    return;
  if (!plain_ascii(s) && !utf8_valid(s)) {
    e->rc = OS_EINVAL;
    e->bad = field;
    return;
  }
  e->rc = put_scalar(&e->b, s);
}

/* "key: value\n" at level; skipped when value is NULL. */
static void field(emitter *e, int level, const char *key, const char *value) {
  if (value == NULL)
    return;
  indent(e, level);
  raw(e, key);
  raw(e, ": ");
  scalar(e, key, value);
  raw(e, "\n");
}

static void list(emitter *e, int level, const char *key, char *const *items, size_t n) {
  if (n == 0)
    return;
  indent(e, level);
  raw(e, key);
  raw(e, ":\n");
  for (size_t i = 0; i < n; i++) {
    indent(e, level + 1);
    raw(e, "- ");
    scalar(e, key, items[i]);
    raw(e, "\n");
  }
}

static int cmp_kv(const void *a, const void *b) {
  return strcmp((*(const spec_kv *const *)a)->key, (*(const spec_kv *const *)b)->key);
}

static void kv_map(emitter *e, int level, const char *key, const spec_kv *kv, size_t n) {
  if (n == 0 || e->rc != 0)
    return;
  const spec_kv **sorted = calloc(n, sizeof(*sorted));
  if (sorted == NULL) {
    e->rc = OS_ENOMEM;
    return;
  }
  for (size_t i = 0; i < n; i++)
    sorted[i] = &kv[i];
  qsort(sorted, n, sizeof(*sorted), cmp_kv);
  indent(e, level);
  raw(e, key);
  raw(e, ":\n");
  for (size_t i = 0; i < n; i++) {
    indent(e, level + 1);
    scalar(e, key, sorted[i]->key);
    raw(e, ": ");
    scalar(e, key, sorted[i]->value);
    raw(e, "\n");
  }
  free(sorted);
}

static void header(emitter *e, const char *kind, const char *name, const spec_kv *labels,
                   size_t n_labels, const spec_kv *annotations, size_t n_annotations) {
  raw(e, "apiVersion: " SPEC_API_VERSION "\nkind: ");
  raw(e, kind);
  raw(e, "\nmetadata:\n");
  field(e, 1, "name", name);
  kv_map(e, 1, "labels", labels, n_labels);
  kv_map(e, 1, "annotations", annotations, n_annotations);
}

static int finish(char **out, size_t *out_len, emitter *e, const char *what, os_error *err) {
  int rc = e->rc;
  if (rc == 0)
    rc = os_buf_detach(out, out_len, &e->b);
  os_buf_free(&e->b);
  if (rc == OS_EINVAL && e->bad != NULL)
    return os_error_set(err, rc, "%s: %s: not valid UTF-8", what, e->bad);
  if (rc < 0)
    return os_error_set(err, rc, "%s: cannot emit YAML: %s", what, os_error_name(rc));
  return 0;
}

int spec_org_emit(char **out, size_t *out_len, const spec_org *o, os_error *err) {
  *out = NULL;
  *out_len = 0;
  if (o->id == NULL)
    return os_error_set(err, OS_EINVAL, "organization without a name");
  emitter e = {.rc = 0};
  os_buf_init(&e.b, SPEC_FILE_MAX, false);
  header(&e, "Organization", o->id, o->labels, o->n_labels, o->annotations, o->n_annotations);
  if (o->rotation_days == 0 && o->n_members == 0 && o->n_envs == 0 && o->n_apps == 0) {
    raw(&e, "spec: {}\n");
    return finish(out, out_len, &e, "Organization", err);
  }
  raw(&e, "spec:\n");
  if (o->rotation_days != 0 && e.rc == 0)
    e.rc = os_buf_printf(&e.b, "  rotationDays: %d\n", o->rotation_days);
  if (o->n_members > 0)
    raw(&e, "  members:\n");
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    raw(&e, "    - name: ");
    scalar(&e, "members.name", m->name ? m->name : "");
    raw(&e, "\n");
    field(&e, 3, "role", spec_role_name(m->role));
    field(&e, 3, "recipient", m->recipient);
  }
  if (o->n_envs > 0)
    raw(&e, "  environments:\n");
  for (size_t i = 0; i < o->n_envs; i++) {
    const spec_environment *v = &o->envs[i];
    raw(&e, "    - name: ");
    scalar(&e, "environments.name", v->name ? v->name : "");
    raw(&e, "\n");
    list(&e, 3, "controllers", v->controllers, v->n_controllers);
    list(&e, 3, "namespaces", v->namespaces, v->n_namespaces);
    field(&e, 3, "secretName", v->secret_name);
    field(&e, 3, "envFile", v->env_file);
  }
  if (o->n_apps > 0)
    raw(&e, "  applications:\n");
  for (size_t i = 0; i < o->n_apps; i++) {
    const spec_application *a = &o->apps[i];
    raw(&e, "    - name: ");
    scalar(&e, "applications.name", a->name ? a->name : "");
    raw(&e, "\n");
    list(&e, 3, "namespaces", a->namespaces, a->n_namespaces);
    field(&e, 3, "secretName", a->secret_name);
  }
  return finish(out, out_len, &e, "Organization", err);
}

int spec_secret_emit(char **out, size_t *out_len, const spec_secret *s, os_error *err) {
  *out = NULL;
  *out_len = 0;
  if (s->organization == NULL || s->environment == NULL || s->name == NULL)
    return os_error_set(err, OS_EINVAL, "secret without organization, environment or name");
  if (s->encrypted_value == NULL ||
      !spec_armor_shaped(s->encrypted_value, strlen(s->encrypted_value)))
    return os_error_set(err, OS_EINVAL, "secret %.253s: encryptedValue is not an ASCII-armored age file",
                        s->name);
  char *rname = spec_secret_resource_name(s->organization, s->environment,
                                          s->legacy_name ? NULL : s->application, s->name);
  if (rname == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  emitter e = {.rc = 0};
  os_buf_init(&e.b, SPEC_FILE_MAX, false);
  header(&e, "OrgSecret", rname, s->labels, s->n_labels, s->annotations, s->n_annotations);
  free(rname);
  raw(&e, "spec:\n");
  field(&e, 1, "organization", s->organization);
  field(&e, 1, "environment", s->environment);
  field(&e, 1, "name", s->name);
  field(&e, 1, "application", s->application);
  field(&e, 1, "description", s->description);
  field(&e, 1, "state", s->state == SPEC_STATE_DISABLED ? "disabled" : "active");
  raw(&e, s->visible_to_viewers ? "  visibleToViewers: true\n" : "  visibleToViewers: false\n");
  field(&e, 1, "createdBy", s->created_by);
  field(&e, 1, "createdAt", s->created_at);
  field(&e, 1, "updatedBy", s->updated_by);
  field(&e, 1, "updatedAt", s->updated_at);
  field(&e, 1, "rotatedAt", s->rotated_at);
  if (s->rotation_days != SPEC_ROTATION_INHERIT && e.rc == 0)
    e.rc = os_buf_printf(&e.b, "  rotationDays: %d\n", s->rotation_days);
  list(&e, 1, "recipients", s->recipients, s->n_recipients);
  raw(&e, "  encryptedValue: |\n");
  for (const char *p = s->encrypted_value; *p && e.rc == 0;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    indent(&e, 2);
    if (e.rc == 0)
      e.rc = os_buf_append(&e.b, p, n);
    raw(&e, "\n");
    p += n + (nl ? 1 : 0);
  }
  char what[300];
  if (snprintf(what, sizeof(what), "secret %.253s", s->name) < 0)
    what[0] = '\0';
  return finish(out, out_len, &e, what, err);
}
