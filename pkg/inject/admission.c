#include "inject/admission.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "inject/ref.h"

#define DENIED 1                           /* internal: stop and refuse the pod */
#define REWRITE_MAX (4 * 1024 * 1024)      /* longest rewritten string */
#define ENV_PREFIX_LEN (sizeof(INJECT_ENV_PREFIX) - 1)
#define DENY_MSG_MAX 1024

typedef struct review_state {
  const inject_options *o;
  const char *ns;
  os_error *err;
  json_t *ops;      /* the JSON Patch being built */
  json_t *names;    /* set (object) of secret names injected by this review */
  json_t *resolved; /* cache: secret name -> Kubernetes Secret name */
  size_t n_refs;    /* references rewritten so far */
  char deny[DENY_MSG_MAX];
} review_state;

/* Per-container state. */
typedef struct container_state {
  review_state *rs;
  const char *label;  /* "container" or "init container" */
  const char *cname;
  const json_t *env;  /* original env array or NULL */
  json_t *new_env;    /* env being rebuilt */
  json_t *pending;    /* injected vars used only by command/args: appended */
  json_t *inserted;   /* set of injected var names already placed */
  json_t *introduced; /* set of ORGSECRETS_ vars this review adds to the container */
  json_t *env_names;  /* original env name -> index of its first entry */
  size_t env_pos;     /* index of the env entry being rewritten, or SIZE_MAX */
  bool env_changed;
} container_state;

int inject_json_pointer_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  for (const char *p = s; *p != '\0'; p++) {
    const char *rep = NULL;
    char one[2] = {*p, '\0'};
    if (*p == '~')
      rep = "~0";
    else if (*p == '/')
      rep = "~1";
    else
      rep = one;
    size_t rlen = strlen(rep);
    if (n + rlen + 1 > cap)
      return OS_ENOMEM;
    memcpy(out + n, rep, rlen);
    n += rlen;
  }
  if (n + 1 > cap)
    return OS_ENOMEM;
  out[n] = '\0';
  return (int)n;
}

static int add_op(review_state *rs, const char *path, json_t *value /* stolen */) {
  json_t *op = json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value", value);
  if (op == NULL || json_array_append_new(rs->ops, op) != 0)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory building the patch");
  return 0;
}

static int add_container_op(review_state *rs, const char *field, size_t idx, const char *member,
                            json_t *value /* stolen */) {
  char path[128];
  int n = snprintf(path, sizeof(path), "/spec/%s/%zu/%s", field, idx, member);
  if (n < 0 || (size_t)n >= sizeof(path)) {
    json_decref(value);
    return os_error_set(rs->err, OS_EINVAL, "admission: patch path too long");
  }
  return add_op(rs, path, value);
}

static const char *str_member(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static int deny(review_state *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int deny(review_state *rs, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(rs->deny, sizeof(rs->deny), fmt, ap);
  va_end(ap);
  if (n < 0)
    snprintf(rs->deny, sizeof(rs->deny), "orgsecrets: pod refused");
  return DENIED;
}

/* Resolves name to its Kubernetes Secret (cached per review). */
static int resolve_name(container_state *cs, const char *name, const char *raw, size_t raw_len,
                        const char **secret) {
  review_state *rs = cs->rs;
  /* each one adds to the patch: bound what a pod can make us build */
  if (++rs->n_refs > INJECT_REVIEW_MAX_REFERENCES)
    return deny(rs, "orgsecrets: pod has more than %d secret references", INJECT_REVIEW_MAX_REFERENCES);
  json_t *hit = json_object_get(rs->resolved, name);
  if (hit != NULL) {
    *secret = json_string_value(hit);
    return 0;
  }
  char *sname = NULL;
  int rc = rs->o->resolve(rs->o->ctx, rs->ns, name, &sname);
  if (rc == OS_ENOTFOUND) {
    free(sname);
    return deny(rs, "orgsecrets: %s \"%s\": unknown secret reference %.*s in namespace \"%s\"", cs->label,
                cs->cname, (int)raw_len, raw, rs->ns);
  }
  if (rc < 0) {
    free(sname);
    if (rs->err != NULL && rs->err->code == 0)
      os_error_set(rs->err, rc, "admission: resolving %s in namespace \"%s\" failed", name, rs->ns);
    return rc;
  }
  if (sname == NULL || sname[0] == '\0') {
    free(sname);
    return os_error_set(rs->err, OS_EINVAL, "admission: resolver returned no Secret for %s", name);
  }
  json_t *js = json_string(sname);
  free(sname);
  if (js == NULL || json_object_set_new(rs->resolved, name, js) != 0)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  *secret = json_string_value(js);
  if (json_object_set_new(rs->names, name, json_true()) != 0)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  return 0;
}

static json_t *secret_key_ref_entry(const char *env_name, const char *secret, const char *key) {
  return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", env_name, "valueFrom", "secretKeyRef", "name", secret,
                   "key", key);
}

/* Index of the original env entry named var, or -1. */
static long original_env_index(const container_state *cs, const char *var) {
  const json_t *at = json_object_get(cs->env_names, var);
  return at != NULL ? (long)json_integer_value(at) : -1;
}

/* Indexes the original env names (first occurrence) so that lookups stay
 * O(1) however many entries and references a pod has. */
static int index_env(container_state *cs) {
  size_t i;
  json_t *e;
  json_array_foreach(cs->env, i, e) {
    const char *n = str_member(e, "name");
    if (n == NULL || json_object_get(cs->env_names, n) != NULL)
      continue;
    if (json_object_set_new(cs->env_names, n, json_integer((json_int_t)i)) != 0)
      return os_error_set(cs->rs->err, OS_ENOMEM, "admission: out of memory");
  }
  return 0;
}

/* Makes sure ORGSECRETS_<name> is available where it is used: already in
 * the pod (from an earlier injection), or inserted now. */
static int ensure_var(container_state *cs, const char *name, const char *secret, const char *var) {
  review_state *rs = cs->rs;
  if (json_object_get(cs->inserted, var) != NULL)
    return 0;
  long at = original_env_index(cs, var);
  if (at >= 0) {
    const json_t *ref = json_object_get(json_object_get(json_array_get(cs->env, (size_t)at), "valueFrom"),
                                        "secretKeyRef");
    const char *rn = str_member(ref, "name"), *rk = str_member(ref, "key");
    bool ours = rn != NULL && rk != NULL && strcmp(rn, secret) == 0 && strcmp(rk, name) == 0;
    bool before = cs->env_pos == SIZE_MAX || (size_t)at < cs->env_pos;
    if (!ours || !before)
      return deny(rs, "orgsecrets: %s \"%s\": env var %s is reserved for injection and already defined",
                  cs->label, cs->cname, var);
    return 0;
  }
  json_t *entry = secret_key_ref_entry(var, secret, name);
  if (entry == NULL)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  json_t *dest = cs->env_pos == SIZE_MAX ? cs->pending : cs->new_env;
  if (json_array_append_new(dest, entry) != 0 || json_object_set_new(cs->inserted, var, json_true()) != 0)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  cs->env_changed = true;
  return 0;
}

typedef struct rewrite_state {
  container_state *cs;
  os_buf out;
  bool found;
} rewrite_state;

/* True when text[0..len) names a variable this review introduces. */
static bool is_introduced(const container_state *cs, const char *var, size_t len) {
  char buf[INJECT_REF_NAME_MAX + ENV_PREFIX_LEN + 1];
  /* checksrc: public: a variable name */
  if (len < ENV_PREFIX_LEN || len >= sizeof(buf) || memcmp(var, INJECT_ENV_PREFIX, ENV_PREFIX_LEN) != 0)
    return false;
  memcpy(buf, var, len);
  buf[len] = '\0';
  return json_object_get(cs->introduced, buf) != NULL;
}

/* Copies literal text (a segment of a string that holds references),
 * keeping the meaning Kubernetes gives that text on its own: a $(...)
 * closed within the text stays as written (Kubernetes expands it, or keeps
 * it, as before) unless it names a variable this review introduces; an
 * unclosed $( would swallow the $(ORGSECRETS_...) that follows, so it is
 * escaped as $$(. */
static int copy_text(rewrite_state *st, const char *s, size_t len) {
  size_t i = 0, from = 0;
  int rc = 0;
  while (i < len) {
    if (s[i] != '$' || i + 1 >= len || s[i + 1] != '(') {
      i++;
      continue;
    }
    const char *close = memchr(s + i + 2, ')', len - i - 2);
    if (close != NULL && !is_introduced(st->cs, s + i + 2, (size_t)(close - (s + i + 2)))) {
      i = (size_t)(close - s) + 1;
      continue;
    }
    if ((rc = os_buf_append(&st->out, s + from, i - from)) < 0 || (rc = os_buf_append(&st->out, "$$(", 3)) < 0)
      return rc;
    i += 2;
    from = i;
  }
  return os_buf_append(&st->out, s + from, len - from);
}

/* For a string without references: escapes each $(VAR) that Kubernetes
 * would now expand only because this review introduces VAR, following
 * Kubernetes' own tokenizer ($$, $(...) up to the first ')', $x). */
static int escape_introduced(container_state *cs, const char *s, json_t **out) {
  os_buf b;
  os_buf_init(&b, REWRITE_MAX, false);
  size_t len = strlen(s), i = 0, from = 0;
  bool changed = false;
  int rc = 0;
  *out = NULL;
  while (i + 1 < len) {
    if (s[i] != '$') {
      i++;
      continue;
    }
    if (s[i + 1] != '(') {
      i += 2;
      continue;
    }
    const char *close = memchr(s + i + 2, ')', len - i - 2);
    if (close == NULL)
      break;
    size_t end = (size_t)(close - s) + 1;
    if (is_introduced(cs, s + i + 2, end - i - 3)) {
      if ((rc = os_buf_append(&b, s + from, i - from)) < 0 || (rc = os_buf_append(&b, "$", 1)) < 0)
        goto done;
      from = i;
      changed = true;
    }
    i = end;
  }
  if (changed) {
    if ((rc = os_buf_append(&b, s + from, len - from)) < 0)
      goto done;
    if ((*out = json_stringn(b.data, b.len)) == NULL)
      rc = OS_ENOMEM;
  }
done:
  os_buf_free(&b);
  if (rc < 0)
    return os_error_set(cs->rs->err, rc, "admission: %s \"%s\": rewriting a value failed", cs->label, cs->cname);
  return 0;
}

static int rewrite_segment(void *ctx, const inject_segment *seg) {
  rewrite_state *st = ctx;
  switch (seg->kind) {
  case INJECT_SEG_TEXT:
    return copy_text(st, seg->raw, seg->raw_len);
  case INJECT_SEG_DOLLAR:
    return os_buf_append(&st->out, "$$", 2); /* Kubernetes reduces $$ to $ */
  case INJECT_SEG_REF: {
    const char *secret = NULL;
    int rc = resolve_name(st->cs, seg->name, seg->raw, seg->raw_len, &secret);
    if (rc != 0)
      return rc == DENIED ? OS_EPERM : rc;
    char var[INJECT_REF_NAME_MAX + ENV_PREFIX_LEN + 1];
    int n = snprintf(var, sizeof(var), "%s%s", INJECT_ENV_PREFIX, seg->name);
    if (n < 0 || (size_t)n >= sizeof(var))
      return OS_EINVAL;
    if ((rc = ensure_var(st->cs, seg->name, secret, var)) != 0)
      return rc == DENIED ? OS_EPERM : rc;
    st->found = true;
    return os_buf_printf(&st->out, "$(%s)", var);
  }
  }
  return OS_EINVAL;
}

/* Rewrites one string; *out is NULL when it needs no change. */
static int rewrite_string(container_state *cs, const char *s, json_t **out) {
  *out = NULL;
  rewrite_state st = {.cs = cs, .found = false};
  os_buf_init(&st.out, REWRITE_MAX, false);
  os_error scan_err = OS_ERROR_INIT;
  cs->rs->deny[0] = '\0';
  int rc = inject_ref_scan(s, strlen(s), rewrite_segment, &st, &scan_err);
  if (rc == OS_EPERM && cs->rs->deny[0] != '\0') {
    rc = DENIED;
    goto done;
  }
  if (rc < 0) {
    if (cs->rs->err != NULL && cs->rs->err->code == 0)
      os_error_set(cs->rs->err, rc, "admission: %s \"%s\": %s", cs->label, cs->cname,
                   scan_err.code != 0 ? scan_err.msg : "rewriting a value failed");
    goto done;
  }
  if (st.found) {
    *out = json_stringn(st.out.data != NULL ? st.out.data : "", st.out.len);
    if (*out == NULL)
      rc = os_error_set(cs->rs->err, OS_ENOMEM, "admission: out of memory");
  } else if (json_object_size(cs->introduced) > 0) {
    rc = escape_introduced(cs, s, out);
  }
done:
  os_buf_free(&st.out);
  return rc;
}

static int note_introduced(void *ctx, const inject_segment *seg) {
  container_state *cs = ctx;
  if (seg->kind != INJECT_SEG_REF)
    return 0;
  char var[INJECT_REF_NAME_MAX + ENV_PREFIX_LEN + 1];
  int n = snprintf(var, sizeof(var), "%s%s", INJECT_ENV_PREFIX, seg->name);
  if (n < 0 || (size_t)n >= sizeof(var))
    return OS_EINVAL;
  if (original_env_index(cs, var) >= 0)
    return 0;
  return json_object_set_new(cs->introduced, var, json_true()) == 0 ? 0 : OS_ENOMEM;
}

static int note_string(container_state *cs, const json_t *v) {
  const char *s = json_string_value(v);
  if (s == NULL)
    return 0;
  int rc = inject_ref_scan(s, strlen(s), note_introduced, cs, cs->rs->err);
  if (rc < 0 && cs->rs->err != NULL && cs->rs->err->code == 0)
    os_error_set(cs->rs->err, rc, "admission: %s \"%s\": scanning a value failed", cs->label, cs->cname);
  return rc;
}

/* First pass: which ORGSECRETS_ variables will this container gain? Known
 * before rewriting so that literal $(ORGSECRETS_X) text can be escaped in
 * every string, including those without references. */
static int collect_introduced(container_state *cs, const json_t *container) {
  size_t i;
  json_t *e;
  int rc = 0;
  json_array_foreach(cs->env, i, e) {
    const char *v = json_string_value(json_object_get(e, "value"));
    if (v == NULL || inject_ref_is_whole(v, strlen(v), NULL, NULL))
      continue;
    if ((rc = note_string(cs, json_object_get(e, "value"))) < 0)
      return rc;
  }
  static const char *const argv_fields[] = {"command", "args"};
  for (size_t f = 0; f < 2; f++) {
    const json_t *argv = json_object_get(container, argv_fields[f]);
    json_t *a;
    json_array_foreach(argv, i, a) {
      if ((rc = note_string(cs, a)) < 0)
        return rc;
    }
  }
  return 0;
}

static int bad_pod(review_state *rs, const char *what) {
  return os_error_set(rs->err, OS_EINVAL, "admission review: malformed pod: %s", what);
}

static int rewrite_env(container_state *cs) {
  review_state *rs = cs->rs;
  size_t i;
  json_t *e;
  json_array_foreach(cs->env, i, e) {
    if (!json_is_object(e) || str_member(e, "name") == NULL)
      return bad_pod(rs, "env entry without a name");
    json_t *value = json_object_get(e, "value");
    if (value != NULL && !json_is_string(value))
      return bad_pod(rs, "env value is not a string");
    const char *v = json_string_value(value);
    const char *name = NULL;
    size_t name_len = 0;
    json_t *copy = NULL;
    int rc = 0;
    if (v != NULL && inject_ref_is_whole(v, strlen(v), &name, &name_len)) {
      char key[INJECT_REF_NAME_MAX + 1];
      memcpy(key, name, name_len);
      key[name_len] = '\0';
      const char *secret = NULL;
      if ((rc = resolve_name(cs, key, v, strlen(v), &secret)) != 0)
        return rc;
      copy = json_copy(e); /* shallow: members are shared with the request */
      json_t *ref = json_pack("{s:{s:s, s:s}}", "secretKeyRef", "name", secret, "key", key);
      if (copy == NULL || ref == NULL || json_object_del(copy, "value") != 0 ||
          json_object_set_new(copy, "valueFrom", ref) != 0) {
        json_decref(copy);
        return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
      }
      cs->env_changed = true;
    } else {
      json_t *nv = NULL;
      if (v != NULL) {
        cs->env_pos = i;
        rc = rewrite_string(cs, v, &nv);
        cs->env_pos = SIZE_MAX;
        if (rc != 0)
          return rc;
      }
      /* an unchanged entry is shared with the request, not copied */
      copy = nv != NULL ? json_copy(e) : json_incref(e);
      if (copy == NULL || (nv != NULL && json_object_set_new(copy, "value", nv) != 0)) {
        json_decref(copy);
        return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
      }
      if (nv != NULL)
        cs->env_changed = true;
    }
    if (json_array_append_new(cs->new_env, copy) != 0)
      return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  }
  return 0;
}

/* Rewrites command or args; *out is NULL when nothing changed. */
static int rewrite_argv(container_state *cs, const json_t *argv, json_t **out) {
  *out = NULL;
  if (argv == NULL || json_is_null(argv))
    return 0;
  if (!json_is_array(argv))
    return bad_pod(cs->rs, "command or args is not an array");
  json_t *arr = json_array();
  bool changed = false;
  int rc = 0;
  size_t i;
  json_t *a;
  if (arr == NULL)
    return os_error_set(cs->rs->err, OS_ENOMEM, "admission: out of memory");
  json_array_foreach(argv, i, a) {
    const char *s = json_string_value(a);
    if (s == NULL) {
      rc = bad_pod(cs->rs, "command or args element is not a string");
      goto done;
    }
    json_t *nv = NULL;
    if ((rc = rewrite_string(cs, s, &nv)) != 0)
      goto done;
    if (nv != NULL)
      changed = true;
    if (json_array_append_new(arr, nv != NULL ? nv : json_string(s)) != 0) {
      rc = os_error_set(cs->rs->err, OS_ENOMEM, "admission: out of memory");
      goto done;
    }
  }
  if (changed) {
    *out = arr;
    arr = NULL;
  }
done:
  json_decref(arr);
  return rc;
}

static bool env_from_has_secret(const json_t *env_from, const char *secret) {
  size_t i;
  json_t *e;
  json_array_foreach(env_from, i, e) {
    const char *n = str_member(json_object_get(e, "secretRef"), "name");
    if (n != NULL && strcmp(n, secret) == 0)
      return true;
  }
  return false;
}

static int inject_all(review_state *rs, const json_t *container, const char *field, size_t idx,
                      const json_t *secrets) {
  const json_t *env_from = json_object_get(container, "envFrom");
  if (env_from != NULL && !json_is_null(env_from) && !json_is_array(env_from))
    return bad_pod(rs, "envFrom is not an array");
  json_t *arr = json_is_array(env_from) ? json_copy((json_t *)(uintptr_t)env_from) : json_array();
  if (arr == NULL)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  bool changed = false;
  size_t i;
  json_t *s;
  json_array_foreach(secrets, i, s) {
    if (env_from_has_secret(arr, json_string_value(s)))
      continue;
    json_t *entry = json_pack("{s:{s:O}}", "secretRef", "name", s);
    if (entry == NULL || json_array_append_new(arr, entry) != 0) {
      json_decref(arr);
      return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    }
    changed = true;
  }
  if (!changed) {
    json_decref(arr);
    return 0;
  }
  return add_container_op(rs, field, idx, "envFrom", arr);
}

static int process_container(review_state *rs, const json_t *container, const char *field, const char *label,
                             size_t idx, const json_t *all_secrets) {
  if (!json_is_object(container))
    return bad_pod(rs, "container is not an object");
  container_state cs = {.rs = rs, .label = label, .env_pos = SIZE_MAX};
  json_t *new_cmd = NULL, *new_args = NULL;
  int rc = 0;
  cs.cname = str_member(container, "name");
  if (cs.cname == NULL)
    cs.cname = "";
  cs.env = json_object_get(container, "env");
  if (json_is_null(cs.env))
    cs.env = NULL;
  if (cs.env != NULL && !json_is_array(cs.env))
    return bad_pod(rs, "env is not an array");
  cs.new_env = json_array();
  cs.pending = json_array();
  cs.inserted = json_object();
  cs.introduced = json_object();
  cs.env_names = json_object();
  if (cs.new_env == NULL || cs.pending == NULL || cs.inserted == NULL || cs.introduced == NULL ||
      cs.env_names == NULL) {
    rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  if ((rc = index_env(&cs)) != 0)
    goto done;
  if ((rc = collect_introduced(&cs, container)) != 0)
    goto done;
  if ((rc = rewrite_env(&cs)) != 0)
    goto done;
  if ((rc = rewrite_argv(&cs, json_object_get(container, "command"), &new_cmd)) != 0)
    goto done;
  if ((rc = rewrite_argv(&cs, json_object_get(container, "args"), &new_args)) != 0)
    goto done;
  if (json_array_extend(cs.new_env, cs.pending) != 0) {
    rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  if (cs.env_changed) {
    rc = add_container_op(rs, field, idx, "env", cs.new_env);
    cs.new_env = NULL;
    if (rc != 0)
      goto done;
  }
  if (new_cmd != NULL) {
    rc = add_container_op(rs, field, idx, "command", new_cmd);
    new_cmd = NULL;
    if (rc != 0)
      goto done;
  }
  if (new_args != NULL) {
    rc = add_container_op(rs, field, idx, "args", new_args);
    new_args = NULL;
    if (rc != 0)
      goto done;
  }
  if (all_secrets != NULL)
    rc = inject_all(rs, container, field, idx, all_secrets);
done:
  json_decref(new_args);
  json_decref(new_cmd);
  json_decref(cs.env_names);
  json_decref(cs.introduced);
  json_decref(cs.inserted);
  json_decref(cs.pending);
  json_decref(cs.new_env);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the keys of set to out, sorted, comma-separated. */
static int join_sorted(os_buf *out, const json_t *set) {
  size_t total = json_object_size(set), k = 0;
  if (total == 0)
    return 0;
  const char **list = calloc(total, sizeof(*list));
  if (list == NULL)
    return OS_ENOMEM;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)(uintptr_t)set, key, v) { list[k++] = key; }
  qsort(list, total, sizeof(*list), cmp_str);
  int rc = 0;
  for (k = 0; k < total && rc == 0; k++)
    rc = os_buf_printf(out, "%s%s", k > 0 ? "," : "", list[k]);
  free(list);
  return rc;
}

/* Adds the orgsecrets.io/injected annotation when this review injected a
 * name that it does not list yet. */
static int annotate(review_state *rs, const json_t *metadata) {
  const json_t *annotations = json_object_get(metadata, "annotations");
  if (annotations != NULL && !json_is_null(annotations) && !json_is_object(annotations))
    return bad_pod(rs, "metadata.annotations is not an object");
  json_t *set = json_object();
  os_buf joined;
  os_buf_init(&joined, REWRITE_MAX, false);
  int rc = 0;
  if (set == NULL) {
    rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  const char *prev = str_member(annotations, INJECT_ANNOTATION_INJECTED);
  if (prev != NULL) {
    const char *p = prev;
    while (*p != '\0') {
      size_t n = strcspn(p, ",");
      if (n > 0 && n <= INJECT_REF_NAME_MAX) {
        char name[INJECT_REF_NAME_MAX + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        if (json_object_set_new(set, name, json_true()) != 0) {
          rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
          goto done;
        }
      }
      p += n;
      if (*p == ',')
        p++;
    }
  }
  size_t before = json_object_size(set);
  if (json_object_update(set, rs->names) != 0) {
    rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  if (json_object_size(set) == before)
    goto done;
  if ((rc = join_sorted(&joined, set)) != 0) {
    rc = os_error_set(rs->err, rc, "admission: annotation too long");
    goto done;
  }
  json_t *value = json_string(joined.data);
  if (value == NULL) {
    rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  if (annotations == NULL || json_is_null(annotations)) {
    json_t *obj = json_object();
    if (obj == NULL || json_object_set_new(obj, INJECT_ANNOTATION_INJECTED, value) != 0) {
      json_decref(obj);
      rc = os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
      goto done;
    }
    rc = add_op(rs, "/metadata/annotations", obj);
  } else {
    char path[128] = "/metadata/annotations/";
    size_t plen = strlen(path);
    if (inject_json_pointer_escape(path + plen, sizeof(path) - plen, INJECT_ANNOTATION_INJECTED) < 0) {
      json_decref(value);
      rc = os_error_set(rs->err, OS_EINVAL, "admission: patch path too long");
      goto done;
    }
    rc = add_op(rs, path, value);
  }
done:
  os_buf_free(&joined);
  json_decref(set);
  return rc;
}

/* Asks the list callback for inject-all; returns a JSON array of names. */
static int list_secrets(review_state *rs, json_t **out) {
  char **names = NULL;
  size_t n = 0;
  *out = NULL;
  int rc = rs->o->list(rs->o->ctx, rs->ns, &names, &n);
  if (rc < 0) {
    if (rs->err != NULL && rs->err->code == 0)
      os_error_set(rs->err, rc, "admission: listing Secrets of namespace \"%s\" failed", rs->ns);
    return rc;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    if (arr != NULL && names[i] != NULL && names[i][0] != '\0' &&
        json_array_append_new(arr, json_string(names[i])) != 0) {
      json_decref(arr);
      arr = NULL;
    }
    free(names[i]);
  }
  free(names);
  if (arr == NULL)
    return os_error_set(rs->err, OS_ENOMEM, "admission: out of memory");
  *out = arr;
  return 0;
}

static int mutate_pod(review_state *rs, const json_t *pod) {
  const json_t *metadata = json_object_get(pod, "metadata");
  const json_t *spec = json_object_get(pod, "spec");
  json_t *all = NULL;
  int rc = 0;
  if (!json_is_object(metadata) || !json_is_object(spec))
    return bad_pod(rs, "metadata or spec missing");
  const char *opt_in = str_member(json_object_get(metadata, "labels"), INJECT_LABEL_INJECT);
  if (opt_in == NULL || strcmp(opt_in, "true") != 0)
    return 0;
  const char *want_all = str_member(json_object_get(metadata, "annotations"), INJECT_ANNOTATION_INJECT_ALL);
  if (want_all != NULL && strcmp(want_all, "true") == 0) {
    if (rs->o->list == NULL)
      return deny(rs, "orgsecrets: %s is not available in namespace \"%s\"", INJECT_ANNOTATION_INJECT_ALL,
                  rs->ns);
    if ((rc = list_secrets(rs, &all)) != 0)
      return rc;
  }
  static const struct {
    const char *field, *label;
  } kinds[] = {{"initContainers", "init container"}, {"containers", "container"}};
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && rc == 0; k++) {
    const json_t *list = json_object_get(spec, kinds[k].field);
    if (list == NULL || json_is_null(list))
      continue;
    if (!json_is_array(list)) {
      rc = bad_pod(rs, "containers is not an array");
      break;
    }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
      if ((rc = process_container(rs, c, kinds[k].field, kinds[k].label, i, all)) != 0)
        break;
    }
  }
  if (rc == 0 && json_object_size(rs->names) > 0)
    rc = annotate(rs, metadata);
  json_decref(all);
  return rc;
}

/* Compact JSON of v in one allocation of exactly its size (json_dumps()
 * grows a buffer by doubling, then copies it); *len is its length. A small
 * document is written once, into a buffer on the stack; a large one is
 * measured, then written where it belongs. */
static char *dump_exact(const json_t *v, size_t *len) {
  char small[16384];
  size_t n = json_dumpb(v, small, sizeof(small), JSON_COMPACT), cap = 0;
  if (n == 0 || !os_size_add(&cap, n, 1))
    return NULL;
  char *out = malloc(cap);
  if (out == NULL)
    return NULL;
  if (n <= sizeof(small)) {
    memcpy(out, small, n);
  } else if (json_dumpb(v, out, n, JSON_COMPACT) != n) {
    free(out);
    return NULL;
  }
  out[n] = '\0';
  *len = n;
  return out;
}

static int set_patch(json_t *resp, const json_t *ops, os_error *err) {
  size_t n = 0;
  char *text = dump_exact(ops, &n);
  os_buf b64;
  os_buf_init(&b64, INT32_MAX, false);
  int rc = 0;
  if (text == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "admission: out of memory serialising the patch");
    goto done;
  }
  if (os_base64_append(&b64, text, n, 0) < 0) {
    rc = os_error_set(err, OS_ENOMEM, "admission: patch too large");
    goto done;
  }
  free(text); /* before the copy below: the patch is held twice at most */
  text = NULL;
  if (json_object_set_new(resp, "patchType", json_string("JSONPatch")) != 0 ||
      json_object_set_new(resp, "patch", json_stringn(b64.data, b64.len)) != 0)
    rc = os_error_set(err, OS_ENOMEM, "admission: out of memory");
done:
  os_buf_free(&b64);
  free(text);
  return rc;
}

static int bad_review(os_error *err, const char *what) {
  return os_error_set(err, OS_EINVAL, "admission review: %s", what);
}

/* What the audit log and the metrics need of an answered review. */
static int fill_outcome(inject_outcome *oc, const review_state *rs, const json_t *req, bool denied,
                        bool patched, os_error *err) {
  const json_t *meta = json_object_get(json_object_get(req, "object"), "metadata");
  os_buf names;
  os_buf_init(&names, REWRITE_MAX, false);
  oc->result = denied ? INJECT_DENIED : patched ? INJECT_PATCHED : INJECT_ALLOWED;
  int rc = patched ? join_sorted(&names, rs->names) : 0;
  if (rc == 0)
    rc = os_buf_detach(&oc->names, NULL, &names);
  oc->uid = os_strdup(str_member(req, "uid"));
  oc->ns = os_strdup(rs->ns);
  oc->pod = os_strdup(str_member(meta, "name"));
  oc->generate_name = os_strdup(str_member(meta, "generateName"));
  os_buf_free(&names);
  if (rc != 0 || oc->uid == NULL || (rs->ns != NULL && oc->ns == NULL) ||
      (str_member(meta, "name") != NULL && oc->pod == NULL) ||
      (str_member(meta, "generateName") != NULL && oc->generate_name == NULL))
    return os_error_set(err, OS_ENOMEM, "admission: out of memory");
  return 0;
}

void inject_outcome_clear(inject_outcome *oc) {
  if (oc == NULL)
    return;
  free(oc->names);
  free(oc->uid);
  free(oc->ns);
  free(oc->pod);
  free(oc->generate_name);
  memset(oc, 0, sizeof(*oc));
}

/* inject_review_opts(), and what the review did when outcome is set. */
static int answer(json_t **response, inject_outcome *outcome, const json_t *review, const inject_options *opts,
                  os_error *err) {
  review_state rs = {.o = opts, .err = err};
  json_t *out = NULL;
  bool denied = false;
  int rc = 0;
  *response = NULL;
  if (opts == NULL || opts->resolve == NULL)
    return os_error_set(err, OS_EINVAL, "admission: no resolver");
  if (!json_is_object(review))
    return bad_review(err, "not a JSON object");
  const char *api = str_member(review, "apiVersion"), *kind = str_member(review, "kind");
  if (api == NULL || strcmp(api, "admission.k8s.io/v1") != 0 || kind == NULL ||
      strcmp(kind, "AdmissionReview") != 0)
    return bad_review(err, "not an admission.k8s.io/v1 AdmissionReview");
  const json_t *req = json_object_get(review, "request");
  if (!json_is_object(req))
    return bad_review(err, "request missing");
  const char *uid = str_member(req, "uid");
  if (uid == NULL || uid[0] == '\0' || strlen(uid) > 128)
    return bad_review(err, "request.uid missing or invalid");
  const json_t *rkind = json_object_get(req, "kind");
  const char *group = str_member(rkind, "group"), *kname = str_member(rkind, "kind");
  const char *operation = str_member(req, "operation");
  if (!json_is_object(rkind) || kname == NULL || operation == NULL)
    return bad_review(err, "request.kind or request.operation missing");

  out = json_pack("{s:s, s:s, s:{s:s, s:b}}", "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview",
                  "response", "uid", uid, "allowed", 1);
  rs.ops = json_array();
  rs.names = json_object();
  rs.resolved = json_object();
  if (out == NULL || rs.ops == NULL || rs.names == NULL || rs.resolved == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "admission: out of memory");
    goto done;
  }
  bool is_pod = strcmp(kname, "Pod") == 0 && (group == NULL || group[0] == '\0');
  const char *sub = str_member(req, "subResource");
  if (!is_pod || strcmp(operation, "CREATE") != 0 || (sub != NULL && sub[0] != '\0'))
    goto answer;
  const json_t *pod = json_object_get(req, "object");
  if (!json_is_object(pod)) {
    rc = bad_review(err, "request.object is not a pod");
    goto done;
  }
  rs.ns = str_member(req, "namespace");
  if (rs.ns == NULL || rs.ns[0] == '\0')
    rs.ns = str_member(json_object_get(pod, "metadata"), "namespace");
  if (rs.ns == NULL || rs.ns[0] == '\0') {
    rc = bad_review(err, "request.namespace missing");
    goto done;
  }
  rc = mutate_pod(&rs, pod);
  if (rc < 0)
    goto done;
  json_t *resp = json_object_get(out, "response");
  if (rc == DENIED) {
    rc = 0;
    denied = true;
    if (json_object_set_new(resp, "allowed", json_false()) != 0 ||
        json_object_set_new(resp, "status", json_pack("{s:i, s:s}", "code", 403, "message", rs.deny)) != 0) {
      rc = os_error_set(err, OS_ENOMEM, "admission: out of memory");
      goto done;
    }
    goto answer;
  }
  if (json_array_size(rs.ops) > 0 && (rc = set_patch(resp, rs.ops, err)) != 0)
    goto done;
answer:
  if (outcome != NULL &&
      (rc = fill_outcome(outcome, &rs, req, denied, !denied && json_array_size(rs.ops) > 0, err)) != 0)
    goto done;
  *response = out;
  out = NULL;
done:
  json_decref(rs.resolved);
  json_decref(rs.names);
  json_decref(rs.ops);
  json_decref(out);
  return rc;
}

int inject_review_opts(json_t **response, const json_t *review, const inject_options *opts, os_error *err) {
  return answer(response, NULL, review, opts, err);
}

int inject_review(json_t **response, const json_t *review, inject_resolve_fn resolve, void *ctx, os_error *err) {
  inject_options o = {.resolve = resolve, .list = NULL, .ctx = ctx};
  return inject_review_opts(response, review, &o, err);
}

/* What jansson 2.14 allocates per value on 64-bit glibc, malloc's own
 * overhead and the parent's slot or hash bucket included (measured with
 * malloc_usable_size; tests/inject/test_admission.c keeps it honest). */
#define COST_OBJECT 248u
#define COST_ARRAY 152u
#define COST_STRING 96u /* plus its length; keys alike */
#define COST_NUMBER 56u
#define COST_LITERAL 24u /* true, false, null: shared values, only the slot */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Scans body without building anything and refuses it when it nests
 * deeper than INJECT_REVIEW_MAX_DEPTH or when parsing it would allocate
 * more than INJECT_REVIEW_MAX_PARSE_BYTES. Only the structure is looked at
 * (strings, brackets, scalars); whether it is valid JSON is jansson's
 * call, so a malformed body passes when its prefix is within the limits.
 * Stops at the first limit crossed. */
static int prescan(const char *body, size_t len, os_error *err) {
  size_t cost = 0, longest = 0;
  int depth = 0;
  size_t i = 0;
  while (i < len) {
    char c = body[i];
    if (is_ws(c) || c == ',' || c == ':') {
      i++;
      continue;
    }
    if (c == '{' || c == '[') {
      if (++depth > INJECT_REVIEW_MAX_DEPTH)
        return os_error_set(err, OS_EINVAL, "admission review: JSON nested deeper than %d levels",
                            INJECT_REVIEW_MAX_DEPTH);
      cost += c == '{' ? COST_OBJECT : COST_ARRAY;
      i++;
    } else if (c == '}' || c == ']') {
      if (--depth < 0)
        return 0; /* unbalanced: jansson says where */
      i++;
    } else if (c == '"') {
      size_t start = ++i;
      while (i < len && body[i] != '"')
        i += body[i] == '\\' ? 2 : 1;
      if (i >= len)
        return 0; /* unterminated: jansson says where */
      size_t n = i - start;
      longest = n > longest ? n : longest;
      cost += COST_STRING + n;
      i++;
    } else {
      cost += c == 't' || c == 'f' || c == 'n' ? COST_LITERAL : COST_NUMBER;
      while (i < len && !is_ws(body[i]) && strchr(",:]}[{\"", body[i]) == NULL)
        i++;
    }
    /* jansson's lexer keeps a buffer as large as twice the longest string
     * it has read (grown by doubling) until the parse ends */
    if (cost > INJECT_REVIEW_MAX_PARSE_BYTES || 2 * longest > INJECT_REVIEW_MAX_PARSE_BYTES - cost)
      return os_error_set(err, OS_EINVAL,
                          "admission review: too many JSON values (parsing it would take more than %d MiB)",
                          INJECT_REVIEW_MAX_PARSE_BYTES / (1024 * 1024));
  }
  return 0;
}

int inject_review_parse(json_t **review, const char *body, size_t len, os_error *err) {
  *review = NULL;
  if (len > INJECT_REVIEW_MAX_BYTES)
    return os_error_set(err, OS_EINVAL, "admission review: body of %zu bytes exceeds the limit of %d", len,
                        INJECT_REVIEW_MAX_BYTES);
  int rc = prescan(body, len, err);
  if (rc != 0)
    return rc;
  json_error_t jerr;
  json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (v == NULL)
    return os_error_set(err, OS_EINVAL, "admission review: invalid JSON at line %d column %d", jerr.line,
                        jerr.column);
  *review = v;
  return 0;
}

int inject_review_handle(char **response_body, size_t *response_len, inject_outcome *outcome, const char *body,
                         size_t len, const inject_options *opts, os_error *err) {
  json_t *review = NULL, *resp = NULL;
  *response_body = NULL;
  if (response_len != NULL)
    *response_len = 0;
  if (outcome != NULL)
    memset(outcome, 0, sizeof(*outcome));
  int rc = inject_review_parse(&review, body, len, err);
  if (rc != 0)
    goto done;
  if ((rc = answer(&resp, outcome, review, opts, err)) != 0)
    goto done;
  /* the request is no longer needed: free it before serialising */
  json_decref(review);
  review = NULL;
  size_t n = 0;
  *response_body = dump_exact(resp, &n);
  if (*response_body == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "admission: out of memory serialising the response");
    goto done;
  }
  if (response_len != NULL)
    *response_len = n;
done:
  if (rc != 0)
    inject_outcome_clear(outcome);
  json_decref(resp);
  json_decref(review);
  return rc;
}
