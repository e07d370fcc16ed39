/* Values of one environment, opened for render and run; the render formats
 * and the environment `run` gives a command. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "envfile/envfile.h"
#include "inject/ref.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

static int value_cmp(const void *a, const void *b) {
  return strcmp(((const org_value *)a)->secret->name, ((const org_value *)b)->secret->name);
}

static bool listed(const char *const *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i], name) == 0)
      return true;
  }
  return false;
}

/* Marks v failed with a message (never the value). */
static void value_fail(org_values *vs, org_value *v, const char *msg) {
  os_free_secret(v->value, v->len);
  v->value = NULL;
  v->len = 0;
  free(v->error);
  v->error = os_strdup(msg != NULL && msg[0] != '\0' ? msg : "failed");
  vs->failed++;
}

int org_values_load(org_values *out, const spec_tree *t, const char *env, const char *app,
                    enum org_scope scope, const char *const *only, size_t n_only,
                    const age_identity *const *ids, size_t n_ids, os_error *err) {
  memset(out, 0, sizeof(*out));
  spec_target tg;
  int rc = spec_target_of(&tg, t->org, env, app, err);
  if (rc < 0)
    return rc;
  size_t cap = t->n_secrets ? t->n_secrets : 1;
  spec_secret_ref *refs = calloc(cap, sizeof(*refs));
  const spec_secret_ref **ptrs = calloc(cap, sizeof(*ptrs));
  const spec_secret **src = calloc(cap, sizeof(*src));
  size_t *pick = calloc(cap, sizeof(*pick));
  out->v = calloc(cap, sizeof(*out->v));
  if (refs == NULL || ptrs == NULL || src == NULL || pick == NULL || out->v == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  size_t k = 0, m = 0;
  for (size_t i = 0; i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    if (s->state != SPEC_STATE_ACTIVE || strcmp(s->environment, env) != 0)
      continue;
    spec_secret_ref_of(&refs[k], s);
    ptrs[k] = &refs[k];
    src[k++] = s;
  }
  /* which secrets: the unit's view (an application's overriding the
   * organization's), or exactly what the unit's Secret holds */
  if (scope == ORG_SCOPE_MERGED) {
    if (spec_target_view(pick, &m, &tg, ptrs, k) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  } else {
    for (size_t i = 0; i < k; i++)
      if (spec_target_holds(&tg, ptrs[i]))
        pick[m++] = i;
  }
  for (size_t i = 0; i < m; i++) {
    const spec_secret *s = src[pick[i]];
    if (n_only == 0 || listed(only, n_only, s->name))
      out->v[out->n++].secret = s;
  }
  for (size_t j = 0; j < n_only; j++) {
    bool found = false;
    for (size_t i = 0; i < out->n && !found; i++)
      found = strcmp(out->v[i].secret->name, only[j]) == 0;
    if (!found) {
      rc = os_error_set(err, OS_ENOTFOUND, "--only %s: no active secret of that name in %s%s%s",
                        only[j], env, app ? " for application " : "", app ? app : "");
      goto done;
    }
  }
  qsort(out->v, out->n, sizeof(*out->v), value_cmp);
  for (size_t i = 0; i < out->n; i++) {
    os_error uerr = OS_ERROR_INIT;
    org_value *v = &out->v[i];
    if (org_unseal(&v->value, &v->len, t->org, v->secret, ids, n_ids, &uerr) < 0)
      value_fail(out, v, uerr.msg);
  }
done:
  free(refs);
  free(ptrs);
  free(src);
  free(pick);
  return rc;
}

void org_values_free(org_values *vs) {
  if (vs == NULL)
    return;
  for (size_t i = 0; i < vs->n; i++) {
    os_free_secret(vs->v[i].value, vs->v[i].len);
    free(vs->v[i].error);
  }
  free(vs->v);
  memset(vs, 0, sizeof(*vs));
}

int org_format_parse(enum org_format *out, const char *s) {
  if (strcmp(s, "env") == 0)
    *out = ORG_FORMAT_ENV;
  else if (strcmp(s, "json") == 0)
    *out = ORG_FORMAT_JSON;
  else if (strcmp(s, "k8s") == 0)
    *out = ORG_FORMAT_K8S;
  else
    return -1;
  return 0;
}

enum org_scope org_format_scope(enum org_format f) {
  return f == ORG_FORMAT_K8S ? ORG_SCOPE_EXACT : ORG_SCOPE_MERGED;
}

static void refuse(org_values *vs, org_value *v, size_t *refused, const char *why) {
  char msg[OS_ERROR_MSG_MAX];
  snprintf(msg, sizeof(msg), "%s/%s: %s", v->secret->environment, v->secret->name, why);
  value_fail(vs, v, msg);
  if (refused != NULL)
    (*refused)++;
}

static int render_env(os_buf *b, org_values *vs, size_t *refused, os_error *err) {
  for (size_t i = 0; i < vs->n; i++) {
    org_value *v = &vs->v[i];
    if (v->value == NULL)
      continue;
    os_error aerr = OS_ERROR_INIT;
    int rc = envfile_append(b, v->secret->name, v->value, v->len, &aerr);
    if (rc == OS_EINVAL) {
      refuse(vs, v, refused, "value contains a NUL byte and cannot be an environment variable");
      continue;
    }
    if (rc < 0)
      return os_error_set(err, rc, "%s", aerr.msg);
  }
  return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static bool utf8_valid(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t l = utf8_seq(p + i, n - i);
    if (l == 0)
      return false;
    i += l;
  }
  return true;
}

static int json_escape(os_buf *b, const uint8_t *p, size_t n) {
  int rc = os_buf_append(b, "\"", 1);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      rc = os_buf_append(b, e, 2);
    } else if (c == '\n') {
      rc = os_buf_append(b, "\\n", 2);
    } else if (c == '\t') {
      rc = os_buf_append(b, "\\t", 2);
    } else if (c == '\r') {
      rc = os_buf_append(b, "\\r", 2);
    } else if (c < 0x20 || c == 0x7f) {
      rc = os_buf_printf(b, "\\u%04x", c);
    } else {
      rc = os_buf_append(b, &c, 1);
    }
  }
  if (rc == 0)
    rc = os_buf_append(b, "\"", 1);
  return rc;
}

static int render_json(os_buf *b, org_values *vs, size_t *refused) {
  int rc = os_buf_append(b, "{", 1);
  bool first = true;
  for (size_t i = 0; rc == 0 && i < vs->n; i++) {
    org_value *v = &vs->v[i];
    if (v->value == NULL)
      continue;
    if (!utf8_valid(v->value, v->len)) {
      refuse(vs, v, refused, "value is not UTF-8 text; use --format k8s (base64)");
      continue;
    }
    rc = os_buf_printf(b, "%s\n  \"%s\": ", first ? "" : ",", v->secret->name);
    if (rc == 0)
      rc = json_escape(b, v->value, v->len);
    first = false;
  }
  if (rc == 0)
    rc = os_buf_puts(b, first ? "}\n" : "\n}\n");
  return rc;
}

/* One v1 Secret of the unit tg in namespace ns (NULL: none), as the
 * controller writes it: its name and labels come from spec_target_*. */
static int k8s_secret(os_buf *b, const org_values *vs, const spec_target *tg,
                      const char *secret_name, const char *ns) {
  int rc = os_buf_printf(b, "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n",
                         secret_name);
  if (rc == 0 && ns != NULL)
    rc = os_buf_printf(b, "  namespace: %s\n", ns);
  spec_label labels[SPEC_TARGET_LABELS_MAX];
  size_t n_labels = spec_target_labels(labels, tg);
  if (rc == 0)
    rc = os_buf_puts(b, "  labels:\n");
  for (size_t i = 0; rc == 0 && i < n_labels; i++)
    rc = os_buf_printf(b, "    %s: %s\n", labels[i].key, labels[i].value);
  size_t present = 0;
  for (size_t i = 0; i < vs->n; i++)
    present += vs->v[i].value != NULL;
  if (rc == 0)
    rc = os_buf_puts(b, present ? "type: Opaque\ndata:\n" : "type: Opaque\ndata: {}\n");
  for (size_t i = 0; rc == 0 && i < vs->n; i++) {
    const org_value *v = &vs->v[i];
    if (v->value == NULL)
      continue;
    rc = os_buf_printf(b, "  %s: ", v->secret->name);
    if (rc == 0)
      rc = os_base64_append(b, v->value, v->len, 0);
    if (rc == 0)
      rc = os_buf_append(b, "\n", 1);
  }
  return rc;
}

static int render_k8s(os_buf *b, const org_values *vs, const spec_target *tg) {
  char *name = spec_target_secret_name(tg);
  if (name == NULL)
    return OS_ENOMEM;
  const char **nss = NULL;
  size_t n_ns = 0;
  int rc = spec_target_namespaces(&nss, &n_ns, tg);
  if (rc == 0 && n_ns == 0)
    rc = k8s_secret(b, vs, tg, name, NULL);
  for (size_t i = 0; rc == 0 && i < n_ns; i++)
    rc = k8s_secret(b, vs, tg, name, nss[i]);
  free(nss);
  free(name);
  return rc;
}

int org_render(os_buf *out, size_t *refused, org_values *vs, const spec_org *o, const char *env,
               const char *app, enum org_format f, os_error *err) {
  if (refused != NULL)
    *refused = 0;
  spec_target tg;
  int rc = spec_target_of(&tg, o, env, app, err);
  if (rc < 0)
    return rc;
  switch (f) {
  case ORG_FORMAT_ENV:
    return render_env(out, vs, refused, err);
  case ORG_FORMAT_JSON:
    rc = render_json(out, vs, refused);
    break;
  case ORG_FORMAT_K8S:
  default:
    rc = render_k8s(out, vs, &tg);
    break;
  }
  if (rc < 0)
    return os_error_set(err, rc, "output too large or out of memory");
  return 0;
}

int org_values_check_names(const org_values *vs, const char *env, const char *const *allowed,
                           size_t n_allowed, os_error *err) {
  for (size_t i = 0; i < vs->n; i++) {
    const char *name = vs->v[i].secret->name;
    const char *why = envfile_name_hazard(name);
    if (why != NULL && !listed(allowed, n_allowed, name))
      return os_error_set(err, OS_EPERM,
                          "%s/%s: refusing a secret named %s: that variable %s; rename the secret, "
                          "or pass --allow-env %s", env, name, name, why, name);
  }
  return 0;
}

static int lookup(void *ctx, const char *name, const uint8_t **value, size_t *len) {
  const org_values *vs = ctx;
  for (size_t i = 0; i < vs->n; i++) {
    if (strcmp(vs->v[i].secret->name, name) == 0) {
      *value = vs->v[i].value;
      *len = vs->v[i].len;
      return 1;
    }
  }
  return 0;
}

static bool is_secret_name(const org_values *vs, const char *var, size_t len) {
  for (size_t i = 0; i < vs->n; i++) {
    const char *n = vs->v[i].secret->name;
    /* checksrc: public: variable names */
    if (strlen(n) == len && memcmp(n, var, len) == 0)
      return true;
  }
  return false;
}

/* "NAME=value" in a secret buffer; *out is wiped by the caller. */
static int env_line(char **out, const char *name, size_t name_len, const void *value, size_t len) {
  os_buf b;
  os_buf_init(&b, name_len + len + 2, true);
  int rc = os_buf_append(&b, name, name_len);
  if (rc == 0)
    rc = os_buf_append(&b, "=", 1);
  if (rc == 0)
    rc = os_buf_append(&b, value, len);
  if (rc == 0)
    rc = os_buf_detach(out, NULL, &b);
  os_buf_free(&b);
  return rc;
}

void org_environ_free(char **envp) {
  if (envp == NULL)
    return;
  for (size_t i = 0; envp[i] != NULL; i++)
    os_free_secret_str(envp[i]);
  free(envp);
}

int org_environ(char ***out, const org_values *vs, char *const *inherited, os_error *err) {
  *out = NULL;
  for (size_t i = 0; i < vs->n; i++) {
    if (vs->v[i].value == NULL)
      return os_error_set(err, OS_EINVAL, "%s", vs->v[i].error ? vs->v[i].error : "no value");
    if (memchr(vs->v[i].value, 0, vs->v[i].len) != NULL)
      return os_error_set(err, OS_EINVAL,
                          "%s/%s: value contains a NUL byte and cannot be an environment variable",
                          vs->v[i].secret->environment, vs->v[i].secret->name);
  }
  size_t n_inherited = 0;
  while (inherited != NULL && inherited[n_inherited] != NULL)
    n_inherited++;
  size_t cap = 0;
  if (!os_size_add(&cap, n_inherited, vs->n) || !os_size_add(&cap, cap, 1))
    return os_error_set(err, OS_ENOMEM, "out of memory");
  char **envp = calloc(cap, sizeof(*envp));
  if (envp == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n_inherited; i++) {
    const char *kv = inherited[i];
    const char *eq = strchr(kv, '=');
    if (eq == NULL || is_secret_name(vs, kv, (size_t)(eq - kv)))
      continue;
    char *expanded = NULL;
    size_t exp_len = 0;
    os_error xerr = OS_ERROR_INIT;
    if (inject_ref_expand(&expanded, &exp_len, eq + 1, lookup, (void *)(uintptr_t)vs, NULL, &xerr) < 0) {
      rc = os_error_set(err, OS_EINVAL, "variable %.*s: %s", (int)(eq - kv), kv, xerr.msg);
      break;
    }
    if (env_line(&envp[n], kv, (size_t)(eq - kv), expanded, exp_len) < 0)
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
    else
      n++;
    os_free_secret(expanded, exp_len + 1);
  }
  for (size_t i = 0; rc == 0 && i < vs->n; i++) {
    const char *name = vs->v[i].secret->name;
    if (env_line(&envp[n], name, strlen(name), vs->v[i].value, vs->v[i].len) < 0)
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
    else
      n++;
  }
  if (rc < 0) {
    org_environ_free(envp);
    return rc;
  }
  *out = envp;
  return 0;
}

void org_strings_free(char **v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++)
    free(v[i]);
  free(v);
}

/* What a reference scan of one inherited variable collects. */
typedef struct unresolved_ctx {
  const spec_tree *t;
  const char *env, *app;
  const org_values *vs;
  const char *var; /* the variable's name */
  size_t var_len;
  char ***msgs;
  size_t *n;
  int rc;
} unresolved_ctx;

/* Why name, which vs lacks, is no value: a disabled secret, one left out
 * by --only, a file that does not load, or no such secret. */
static const char *why_unresolved(const unresolved_ctx *u, const char *name, char *buf,
                                  size_t size) {
  const spec_secret *s = NULL;
  if (u->app != NULL)
    s = spec_tree_find_secret(u->t, u->env, u->app, name);
  if (s == NULL)
    s = spec_tree_find_secret(u->t, u->env, NULL, name);
  char label[SPEC_NAME_MAX + 160];
  if (s != NULL) {
    org_secret_label(label, sizeof(label), s->environment, s->application, s->name);
    snprintf(buf, size,
             s->state == SPEC_STATE_DISABLED ? "%s is disabled" : "%s is not selected by --only",
             label);
    return buf;
  }
  const spec_bad_file *b = u->app != NULL ? spec_tree_find_bad(u->t, u->env, u->app, name) : NULL;
  if (b == NULL)
    b = spec_tree_find_bad(u->t, u->env, NULL, name);
  if (b != NULL) {
    snprintf(buf, size, "its file %s does not load (%s)", b->file, org_bad_status(b));
    return buf;
  }
  if (u->app != NULL)
    snprintf(buf, size, "no such secret in %s (organization level or application %s)", u->env,
             u->app);
  else
    snprintf(buf, size, "no such secret in %s", u->env);
  return buf;
}

static int on_segment(void *ctx, const inject_segment *seg) {
  unresolved_ctx *u = ctx;
  if (seg->kind != INJECT_SEG_REF || is_secret_name(u->vs, seg->name, seg->name_len))
    return 0;
  char why[OS_ERROR_MSG_MAX];
  why_unresolved(u, seg->name, why, sizeof(why));
  os_buf b;
  os_buf_init(&b, OS_ERROR_MSG_MAX * 2, false);
  char *msg = NULL;
  int rc = os_buf_printf(&b, "variable %.*s refers to %s%s%s: %s", (int)u->var_len, u->var,
                         seg->braced ? "${" : "$", seg->name, seg->braced ? "}" : "", why);
  if (rc == 0)
    rc = os_buf_detach(&msg, NULL, &b);
  os_buf_free(&b);
  if (rc == 0 && os_grow(u->msgs, NULL, *u->n + 1, sizeof(**u->msgs), 1u << 20) < 0)
    rc = OS_ENOMEM;
  if (rc < 0) {
    free(msg);
    return OS_ENOMEM;
  }
  (*u->msgs)[(*u->n)++] = msg;
  return 0;
}

int org_environ_unresolved(char ***msgs, size_t *n, const spec_tree *t, const char *env,
                           const char *app, const org_values *vs, char *const *inherited,
                           os_error *err) {
  *msgs = NULL;
  *n = 0;
  unresolved_ctx u = {t, env, app, vs, NULL, 0, msgs, n, 0};
  for (size_t i = 0; inherited != NULL && inherited[i] != NULL; i++) {
    const char *kv = inherited[i], *eq = strchr(kv, '=');
    if (eq == NULL || is_secret_name(vs, kv, (size_t)(eq - kv)))
      continue; /* a secret replaces it: its references do not matter */
    u.var = kv;
    u.var_len = (size_t)(eq - kv);
    os_error serr = OS_ERROR_INIT;
    int rc = inject_ref_scan(eq + 1, strlen(eq + 1), on_segment, &u, &serr);
    if (rc == OS_ENOMEM) {
      org_strings_free(*msgs, *n);
      *msgs = NULL;
      *n = 0;
      return os_error_set(err, OS_ENOMEM, "out of memory");
    }
    /* a value too long to scan is not expanded either (org_environ fails on it) */
  }
  return 0;
}
