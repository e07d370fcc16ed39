#include "inject/ref.h"

#include <string.h>

#include "common/buf.h"

static bool is_name_start(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '_'; }

bool inject_ref_valid_name(const char *name, size_t len) {
  if (len == 0 || len > INJECT_REF_NAME_MAX || !is_name_start(name[0]))
    return false;
  for (size_t i = 1; i < len; i++) {
    if (!is_name_char(name[i]))
      return false;
  }
  return true;
}

/* Recognises a reference at s[i] (which is '$'): returns the length of the
 * reference span and sets *name_off and *name_len, or 0 when it is not one. */
static size_t match_ref(const char *s, size_t len, size_t i, size_t *name_off, size_t *name_len,
                        bool *braced) {
  size_t j = i + 1;
  if (j < len && s[j] == '{') {
    size_t k = j + 1;
    while (k < len && is_name_char(s[k]))
      k++;
    if (k >= len || s[k] != '}' || !inject_ref_valid_name(s + j + 1, k - j - 1))
      return 0;
    *name_off = j + 1;
    *name_len = k - j - 1;
    *braced = true;
    return k + 1 - i;
  }
  if (j >= len || !is_name_start(s[j]))
    return 0;
  size_t k = j + 1;
  while (k < len && is_name_char(s[k]))
    k++;
  if (k - j > INJECT_REF_NAME_MAX)
    return 0; /* too long to be a name: the whole run stays literal */
  *name_off = j;
  *name_len = k - j;
  *braced = false;
  return k - i;
}

static int emit_text(const char *s, size_t from, size_t to, inject_segment_fn fn, void *ctx) {
  if (to == from)
    return 0;
  inject_segment seg = {INJECT_SEG_TEXT, s + from, to - from, NULL, 0, false};
  return fn(ctx, &seg);
}

int inject_ref_scan(const char *s, size_t len, inject_segment_fn fn, void *ctx, os_error *err) {
  if (len > INJECT_REF_INPUT_MAX)
    return os_error_set(err, OS_EINVAL, "reference scan: string of %zu bytes exceeds the limit of %d",
                        len, INJECT_REF_INPUT_MAX);
  size_t text_start = 0;
  size_t i = 0;
  int rc = 0;
  while (i < len) {
    if (s[i] != '$') {
      i++;
      continue;
    }
    if (i + 1 < len && s[i + 1] == '$') {
      if ((rc = emit_text(s, text_start, i, fn, ctx)) < 0)
        return rc;
      inject_segment seg = {INJECT_SEG_DOLLAR, s + i, 2, NULL, 0, false};
      if ((rc = fn(ctx, &seg)) < 0)
        return rc;
      i += 2;
      text_start = i;
      continue;
    }
    size_t name_off = 0, name_len = 0;
    bool braced = false;
    size_t span = match_ref(s, len, i, &name_off, &name_len, &braced);
    if (span == 0) {
      /* a lone '$', or '$' before a too-long run: skip the run too so that
       * its tail is not mistaken for a reference */
      i++;
      while (i < len && s[i] != '$' && is_name_char(s[i]))
        i++;
      continue;
    }
    if ((rc = emit_text(s, text_start, i, fn, ctx)) < 0)
      return rc;
    char name[INJECT_REF_NAME_MAX + 1];
    memcpy(name, s + name_off, name_len);
    name[name_len] = '\0';
    inject_segment seg = {INJECT_SEG_REF, s + i, span, name, name_len, braced};
    if ((rc = fn(ctx, &seg)) < 0)
      return rc;
    i += span;
    text_start = i;
  }
  return emit_text(s, text_start, len, fn, ctx);
}

bool inject_ref_is_whole(const char *s, size_t len, const char **name, size_t *name_len) {
  if (len < 2 || s[0] != '$')
    return false;
  size_t off = 0, nlen = 0;
  bool braced = false;
  if (match_ref(s, len, 0, &off, &nlen, &braced) != len)
    return false;
  if (name != NULL)
    *name = s + off;
  if (name_len != NULL)
    *name_len = nlen;
  return true;
}

typedef struct expand_state {
  os_buf out;
  inject_lookup_fn lookup;
  void *ctx;
  bool found;
} expand_state;

static int expand_segment(void *vctx, const inject_segment *seg) {
  expand_state *st = vctx;
  switch (seg->kind) {
  case INJECT_SEG_TEXT:
    return os_buf_append(&st->out, seg->raw, seg->raw_len);
  case INJECT_SEG_DOLLAR:
    return os_buf_append(&st->out, "$", 1);
  case INJECT_SEG_REF: {
    const uint8_t *value = NULL;
    size_t vlen = 0;
    int rc = st->lookup(st->ctx, seg->name, &value, &vlen);
    if (rc < 0)
      return rc;
    if (rc == 0)
      return os_buf_append(&st->out, seg->raw, seg->raw_len);
    st->found = true;
    return os_buf_append(&st->out, value, vlen);
  }
  }
  return OS_EINVAL;
}

int inject_ref_expand(char **out, size_t *out_len, const char *s, inject_lookup_fn lookup, void *ctx,
                      bool *changed, os_error *err) {
  expand_state st = {.lookup = lookup, .ctx = ctx, .found = false};
  os_buf_init(&st.out, INJECT_REF_OUTPUT_MAX, true);
  *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (changed != NULL)
    *changed = false;
  size_t len = strnlen(s, (size_t)INJECT_REF_INPUT_MAX + 1);
  int rc = inject_ref_scan(s, len, expand_segment, &st, err);
  if (rc == OS_ENOMEM) {
    os_error_set(err, rc, "reference expansion: result exceeds %d bytes or out of memory",
                 INJECT_REF_OUTPUT_MAX);
    goto done;
  }
  if (rc < 0) {
    if (err != NULL && err->code == 0)
      os_error_set(err, rc, "reference expansion: lookup failed");
    goto done;
  }
  if (!st.found) {
    /* nothing to resolve: hand back the input exactly as written */
    os_buf_reset(&st.out);
    if ((rc = os_buf_append(&st.out, s, len)) < 0) {
      os_error_set(err, rc, "reference expansion: out of memory");
      goto done;
    }
  }
  size_t n = 0;
  if ((rc = os_buf_detach(out, &n, &st.out)) < 0) {
    os_error_set(err, rc, "reference expansion: out of memory");
    goto done;
  }
  if (out_len != NULL)
    *out_len = n;
  if (changed != NULL)
    *changed = st.found;
done:
  os_buf_free(&st.out);
  return rc;
}
