/* Canonical fast path: most files were written by the canonical emitter, and
 * libyaml (character-at-a-time, many small allocations) dominates a load.
 * A file whose documents are all OrgSecrets in canonical form is read by a
 * small line parser into the same nodes, decoded by the same strict decoder,
 * and accepted only if re-emitting each decoded secret reproduces the
 * document byte for byte. The emitter is injective and libyaml reads its
 * output back to the same secret (tests), so an accepted file yields exactly
 * what libyaml would have; any other file takes the libyaml path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec_internal.h"

typedef struct lp {
  const char *p, *end;  /* the current document's unread text */
  int line;             /* line number of *p */
  arena *a;
} lp;

#define NOT_CANONICAL 1
#define FAST_DEPTH_MAX 4

static size_t line_len(const lp *x) {
  const char *nl = memchr(x->p, '\n', (size_t)(x->end - x->p));
  return nl ? (size_t)(nl - x->p) : (size_t)-1;
}

static size_t indent_of(const char *p, size_t n) {
  size_t i = 0;
  while (i < n && p[i] == ' ')
    i++;
  return i;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  o[0] = (char)(0xe0 | (cp >> 12));
  o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[2] = (char)(0x80 | (cp & 0x3f));
  return 3;
}

/* A double-quoted scalar occupying s[0..n) exactly, with the emitter's escapes. */
static node *dq_scalar(lp *x, const char *s, size_t n) {
  if (n < 2 || s[0] != '"' || s[n - 1] != '"')
    return NULL;
  char *o = arena_alloc(x->a, n * 2 + 1);
  node *v = node_new(x->a, NODE_SCALAR, x->line);
  if (o == NULL || v == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 1; i + 1 < n; i++) {
    char c = s[i];
    if (c == '"')
      return NULL;
    if (c != '\\') {
      o[k++] = c;
      continue;
    }
    if (i + 2 >= n)
      return NULL;
    c = s[++i];
    switch (c) {
    case '"': o[k++] = '"'; break;
    case '\\': o[k++] = '\\'; break;
    case 'n': o[k++] = '\n'; break;
    case 't': o[k++] = '\t'; break;
    case 'r': o[k++] = '\r'; break;
    case 'L': k += put_utf8(o + k, 0x2028); break;
    case 'P': k += put_utf8(o + k, 0x2029); break;
    case 'x':
    case 'u': {
      size_t digits = c == 'x' ? 2 : 4;
      if (i + digits + 1 >= n)
        return NULL;
      unsigned cp = 0;
      for (size_t d = 1; d <= digits; d++) {
        int h = hexval(s[i + d]);
        if (h < 0)
          return NULL;
        cp = cp * 16 + (unsigned)h;
      }
      if (cp == 0)
        return NULL;
      k += put_utf8(o + k, cp);
      i += digits;
      break;
    }
    default:
      return NULL;
    }
  }
  o[k] = '\0';
  v->str = o;
  v->len = k;
  return v;
}

static node *plain_scalar(lp *x, const char *s, size_t n) {
  node *v = node_new(x->a, NODE_SCALAR, x->line);
  if (v == NULL || n == 0 || node_set_str(x->a, v, s, n) < 0)
    return NULL;
  v->plain = true;
  return v;
}

static node *scalar(lp *x, const char *s, size_t n) {
  return n > 0 && s[0] == '"' ? dq_scalar(x, s, n) : plain_scalar(x, s, n);
}

static void advance(lp *x, size_t n) {
  x->p += n + 1;
  x->line++;
}

/* "|" literal whose content lines are indented by ind. */
static node *literal(lp *x, size_t ind) {
  node *v = node_new(x->a, NODE_SCALAR, x->line - 1);
  if (v == NULL)
    return NULL;
  const char *start = x->p;
  size_t total = 0;
  while (x->p < x->end) {
    size_t n = line_len(x);
    if (n == (size_t)-1)
      return NULL;
    size_t i = indent_of(x->p, n);
    if (i < ind && i < n)
      break;
    if (i != ind || i == n)
      return NULL;
    total += n - ind + 1;
    advance(x, n);
  }
  if (total == 0)
    return NULL;
  char *o = arena_alloc(x->a, total + 1);
  if (o == NULL)
    return NULL;
  size_t k = 0;
  for (const char *q = start; q < x->p;) {
    const char *nl = memchr(q, '\n', (size_t)(x->p - q));
    memcpy(o + k, q + ind, (size_t)(nl - q) - ind + 1);
    k += (size_t)(nl - q) - ind + 1;
    q = nl + 1;
  }
  o[k] = '\0';
  v->str = o;
  v->len = k;
  return v;
}

static node *block(lp *x, size_t ind, int depth);

/* A block sequence of scalars at indentation ind ("- value" lines). */
static node *sequence(lp *x, size_t ind) {
  node *seq = node_new(x->a, NODE_SEQ, x->line);
  if (seq == NULL)
    return NULL;
  while (x->p < x->end) {
    size_t n = line_len(x);
    if (n == (size_t)-1)
      return NULL;
    size_t i = indent_of(x->p, n);
    if (i < ind)
      break;
    if (i != ind || n < ind + 3 || x->p[ind] != '-' || x->p[ind + 1] != ' ')
      return NULL;
    node *v = scalar(x, x->p + ind + 2, n - ind - 2);
    if (v == NULL)
      return NULL;
    node_append(seq, v);
    advance(x, n);
  }
  return seq->n > 0 ? seq : NULL;
}

/* A block mapping at indentation ind: "key: value", "key: |", "key:" + block. */
static node *block(lp *x, size_t ind, int depth) {
  if (depth > FAST_DEPTH_MAX)
    return NULL;
  node *map = node_new(x->a, NODE_MAP, x->line);
  if (map == NULL)
    return NULL;
  while (x->p < x->end) {
    size_t n = line_len(x);
    if (n == (size_t)-1)
      return NULL;
    size_t i = indent_of(x->p, n);
    if (i < ind)
      break;
    if (i != ind || i == n || x->p[i] == '"' || x->p[i] == '-' || x->p[i] == '#')
      return NULL;
    const char *k = x->p + ind;
    size_t rest = n - ind, kl = 0;
    while (kl < rest && !(k[kl] == ':' && (kl + 1 == rest || k[kl + 1] == ' ')))
      kl++;
    if (kl == 0 || kl == rest)
      return NULL;
    node *key = plain_scalar(x, k, kl);
    if (key == NULL)
      return NULL;
    node *val = NULL;
    if (kl + 1 == rest) {
      advance(x, n);
      size_t cn = x->p < x->end ? line_len(x) : (size_t)-1;
      if (cn == (size_t)-1)
        return NULL;
      size_t ci = indent_of(x->p, cn);
      if (ci == ind + 2 && cn > ci + 1 && x->p[ci] == '-' && x->p[ci + 1] == ' ')
        val = sequence(x, ind + 2);
      else if (ci == ind + 2)
        val = block(x, ind + 2, depth + 1);
    } else {
      const char *v = k + kl + 2;
      size_t vl = rest - kl - 2;
      if (vl == 1 && v[0] == '|') {
        advance(x, n);
        val = literal(x, ind + 2);
      } else {
        val = scalar(x, v, vl);
        advance(x, n);
      }
    }
    if (val == NULL)
      return NULL;
    node_append(map, key);
    node_append(map, val);
  }
  return map->n > 0 ? map : NULL;
}

static const char secret_head[] = "apiVersion: " SPEC_API_VERSION "\nkind: OrgSecret\n";

int spec_fast_parse(spec_tree *t, arena *a, const char *file, const char *data, size_t len) {
  spec_secret **found = NULL;
  size_t n_found = 0, cap = 0;
  int rc = NOT_CANONICAL;
  os_error scratch = OS_ERROR_INIT;
  dctx d = {.file = file, .err = &scratch};
  lp x = {.p = data, .end = data + len, .line = 1, .a = a};
  if (len == 0 || data[len - 1] != '\n')
    return NOT_CANONICAL;
  while (x.p < x.end) {
    const char *doc = x.p, *doc_end = memchr(x.p, '\n', (size_t)(x.end - x.p));
    int doc_line = x.line;
    /* The document ends at a "---" line or at the end of the file. */
    for (;;) {
      doc_end = doc_end + 1;
      /* checksrc: public: spec text */
      if (doc_end >= x.end || (x.end - doc_end >= 4 && memcmp(doc_end, "---\n", 4) == 0))
        break;
      doc_end = memchr(doc_end, '\n', (size_t)(x.end - doc_end));
    }
    if ((size_t)(doc_end - doc) < sizeof(secret_head) ||
        memcmp(doc, secret_head, sizeof(secret_head) - 1) != 0) /* checksrc: public: spec text */
      goto done;
    if (os_grow(&found, &cap, n_found + 1, sizeof(*found), SIZE_MAX) < 0)
      goto done;
    lp dx = {.p = doc, .end = doc_end, .line = doc_line, .a = a};
    node *root = block(&dx, 0, 0);
    if (root == NULL || dx.p != doc_end)
      goto done;
    spec_org *o = NULL;
    spec_secret *s = NULL;
    if (spec_decode_document(&o, &s, &d, root) < 0 || s == NULL) {
      spec_org_free(o);
      goto done;
    }
    s->pos.line = doc_line;
    found[n_found++] = s;
    char *out = NULL;
    size_t out_len = 0;
    bool same = spec_secret_emit(&out, &out_len, s, &scratch) == 0 &&
                out_len == (size_t)(doc_end - doc) &&
                memcmp(out, doc, out_len) == 0; /* checksrc: public: spec text */
    free(out);
    if (!same)
      goto done;
    x.p = doc_end;
    x.line = dx.line;
    if (x.p < x.end) {
      x.p += 4; /* "---\n" */
      x.line++;
    }
  }
  if (n_found > 0) {
    if (os_grow(&t->secrets, NULL, t->n_secrets + n_found, sizeof(*t->secrets), SIZE_MAX) < 0)
      goto done;
    memcpy(t->secrets + t->n_secrets, found, n_found * sizeof(*found));
    t->n_secrets += n_found;
    n_found = 0;
  }
  rc = 0;
done:
  for (size_t i = 0; i < n_found; i++)
    spec_secret_free(found[i]);
  free(found);
  return rc;
}
