/* A small arena-backed node tree built from libyaml events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "spec/spec_internal.h"
#include "spec/yaml_nodes.h"

#define ARENA_BLOCK (64 * 1024)
#define DEPTH_MAX 64

struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  max_align_t data[];
};

struct arena {
  struct arena_block *head;
};

arena *arena_new(void) { return calloc(1, sizeof(arena)); }

void arena_free(arena *a) {
  if (a == NULL)
    return;
  struct arena_block *b = a->head;
  while (b != NULL) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(a);
}

void arena_reset(arena *a) {
  struct arena_block *b = a->head;
  if (b == NULL)
    return;
  while (b->next != NULL) {
    struct arena_block *next = b->next;
    b->next = next->next;
    free(next);
  }
  b->used = 0;
}

void *arena_alloc(arena *a, size_t n) {
  size_t align = sizeof(max_align_t);
  if (n > SIZE_MAX - align)
    return NULL;
  n = (n + align - 1) / align * align;
  struct arena_block *b = a->head;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    b = malloc(sizeof(*b) + cap);
    if (b == NULL)
      return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  return p;
}

node *node_new(arena *a, enum node_kind kind, int line) {
  node *n = arena_alloc(a, sizeof(node));
  if (n == NULL)
    return NULL;
  memset(n, 0, sizeof(*n));
  n->kind = kind;
  n->line = line;
  return n;
}

void node_append(node *parent, node *child) {
  if (parent->last != NULL)
    parent->last->next = child;
  else
    parent->first = child;
  parent->last = child;
  parent->n++;
}

int node_set_str(arena *a, node *n, const char *s, size_t len) {
  if (len == SIZE_MAX)
    return OS_ENOMEM;
  char *p = arena_alloc(a, len + 1);
  if (p == NULL)
    return OS_ENOMEM;
  if (len > 0)
    memcpy(p, s, len);
  p[len] = '\0';
  n->str = p;
  n->len = len;
  return 0;
}

static int yaml_error(const dctx *d, const yaml_parser_t *p) {
  size_t line = p->problem_mark.line + 1;
  if (p->problem_mark.line == 0 && p->context_mark.line > 0)
    line = p->context_mark.line + 1;
  const char *problem = p->problem ? p->problem : "malformed YAML";
  if (p->context != NULL && p->context_mark.line + 1 != line)
    return dfail(d, (int)line, "invalid YAML: %s (%s at line %zu)", problem, p->context,
                 p->context_mark.line + 1);
  if (p->context != NULL)
    return dfail(d, (int)line, "invalid YAML: %s (%s)", problem, p->context);
  return dfail(d, (int)line, "invalid YAML: %s", problem);
}

static int line_of(const yaml_mark_t *m) {
  return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

/* Fast path for block literals (the armored encryptedValue is most of every
 * file, and libyaml scans it a character at a time): the loader hands
 * libyaml the text with all but the first line of each such literal blanked
 * (line numbers unchanged), then puts the content back. A cut is used only
 * when libyaml reports a literal scalar at that line whose value is the
 * first line; otherwise the file is parsed again untouched. */
typedef struct literal_cut {
  size_t line;        /* 0-based line of the "key: |" header */
  const char *first;  /* first content line, without indentation */
  size_t first_len;
  char *text;         /* the whole content, as libyaml would return it */
  size_t text_len;
  bool used;
} literal_cut;

#define CUTS_MAX 100000
#define RETRY_SLOW 1

static bool header_line(const char *p, size_t n, size_t *indent) {
  static const char key[] = "encryptedValue: |";
  size_t i = 0;
  while (i < n && p[i] == ' ')
    i++;
  *indent = i;
  /* checksrc: public: YAML keys */
  return n - i == sizeof(key) - 1 && memcmp(p + i, key, sizeof(key) - 1) == 0;
}

/* Copies data to *out with literal content lines blanked; fills cuts. */
static int cut_literals(arena *a, const char *data, size_t len, char **out, size_t *out_len,
                        literal_cut *cuts, size_t max_cuts, size_t *n_cuts) {
  *n_cuts = 0;
  char *o = arena_alloc(a, len + 1);
  if (o == NULL)
    return OS_ENOMEM;
  size_t olen = 0, line = 0, pos = 0;
  while (pos < len) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
    memcpy(o + olen, data + pos, n + (nl ? 1 : 0));
    olen += n + (nl ? 1 : 0);
    size_t indent = 0;
    size_t header = line;
    pos += n + (nl ? 1 : 0);
    line++;
    if (nl == NULL || *n_cuts == max_cuts || !header_line(data + pos - n - 1, n, &indent))
      continue;
    /* Content lines: exactly j spaces, a non-space, printable ASCII, LF. */
    size_t j = 0, scan = pos, lines = 0, text_len = 0;
    bool ok = true;
    while (scan < len) {
      const char *lnl = memchr(data + scan, '\n', len - scan);
      size_t ln = lnl ? (size_t)(lnl - (data + scan)) : len - scan;
      size_t sp = 0;
      while (sp < ln && data[scan + sp] == ' ')
        sp++;
      if (lines == 0) {
        j = sp;
        if (j <= indent || sp == ln) {
          ok = false;
          break;
        }
      }
      if (sp < j && sp < ln)
        break; /* a less indented line ends the literal */
      if (sp != j || sp == ln || lnl == NULL) {
        ok = false;
        break;
      }
      for (size_t k = sp; k < ln && ok; k++)
        ok = data[scan + k] >= 0x20 && data[scan + k] <= 0x7e;
      if (!ok)
        break;
      text_len += ln - j + 1;
      lines++;
      scan += ln + 1;
    }
    if (!ok || lines < 2)
      continue;
    literal_cut *c = &cuts[(*n_cuts)++];
    c->line = header;
    c->used = false;
    c->text = arena_alloc(a, text_len + 1);
    if (c->text == NULL)
      return OS_ENOMEM;
    c->text_len = 0;
    for (size_t k = 0; k < lines; k++) {
      const char *lnl = memchr(data + pos, '\n', len - pos);
      size_t ln = (size_t)(lnl - (data + pos));
      memcpy(c->text + c->text_len, data + pos + j, ln - j + 1);
      if (k == 0) {
        c->first = c->text;
        c->first_len = ln - j;
        memcpy(o + olen, data + pos, ln + 1);
        olen += ln + 1;
      } else {
        o[olen++] = '\n';
      }
      c->text_len += ln - j + 1;
      pos += ln + 1;
      line++;
    }
    c->text[c->text_len] = '\0';
  }
  o[olen] = '\0';
  *out = o;
  *out_len = olen;
  return 0;
}

static int parse_events(node **docs, arena *a, const dctx *d, const char *data, size_t len,
                        literal_cut *cuts, size_t n_cuts) {
  *docs = NULL;
  size_t next_cut = 0;
  yaml_parser_t p;
  yaml_event_t ev;
  bool have_ev = false;
  node *stack[DEPTH_MAX];
  size_t depth = 0;
  int rc = 0;
  node *list = node_new(a, NODE_SEQ, 0);
  if (list == NULL)
    return dfail(d, 0, "out of memory");
  if (!yaml_parser_initialize(&p))
    return dfail(d, 0, "out of memory");
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  for (;;) {
    if (!yaml_parser_parse(&p, &ev)) {
      rc = yaml_error(d, &p);
      goto done;
    }
    have_ev = true;
    int line = line_of(&ev.start_mark);
    node *n = NULL;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      goto done;
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_NO_EVENT:
      break;
    case YAML_DOCUMENT_END_EVENT:
      break;
    case YAML_ALIAS_EVENT:
      rc = dfail(d, line, "YAML aliases are not supported");
      goto done;
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor
                                  : ev.type == YAML_SEQUENCE_START_EVENT
                                      ? ev.data.sequence_start.anchor
                                      : ev.data.mapping_start.anchor;
      const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.tag
                               : ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.tag
                                                                      : ev.data.mapping_start.tag;
      if (anchor != NULL) {
        rc = dfail(d, line, "YAML anchors are not supported");
        goto done;
      }
      if (tag != NULL) {
        rc = dfail(d, line, "YAML tags are not supported");
        goto done;
      }
      enum node_kind k = ev.type == YAML_SCALAR_EVENT          ? NODE_SCALAR
                         : ev.type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ
                                                                : NODE_MAP;
      n = node_new(a, k, line);
      if (n == NULL) {
        rc = dfail(d, line, "out of memory");
        goto done;
      }
      if (k == NODE_SCALAR) {
        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        while (next_cut < n_cuts && cuts[next_cut].line < ev.start_mark.line)
          next_cut++;
        if (next_cut < n_cuts && cuts[next_cut].line == ev.start_mark.line &&
            ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE) {
          literal_cut *c = &cuts[next_cut++];
          if (ev.data.scalar.length != c->first_len + 1 ||
              memcmp(ev.data.scalar.value, c->first, c->first_len) != 0) { /* checksrc: public */
            rc = RETRY_SLOW;
            goto done;
          }
          c->used = true;
          n->str = c->text;
          n->len = c->text_len;
        } else if (node_set_str(a, n, (const char *)ev.data.scalar.value, ev.data.scalar.length) < 0) {
          rc = dfail(d, line, "out of memory");
          goto done;
        }
      }
      node_append(depth > 0 ? stack[depth - 1] : list, n);
      if (k != NODE_SCALAR) {
        if (depth == DEPTH_MAX) {
          rc = dfail(d, line, "YAML nested too deeply");
          goto done;
        }
        stack[depth++] = n;
      }
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      if (depth > 0)
        depth--;
      break;
    }
    yaml_event_delete(&ev);
    have_ev = false;
  }
done:
  if (have_ev)
    yaml_event_delete(&ev);
  yaml_parser_delete(&p);
  for (size_t i = 0; rc == 0 && i < n_cuts; i++)
    if (!cuts[i].used)
      rc = RETRY_SLOW;
  if (rc == 0)
    *docs = list;
  return rc;
}

int yaml_nodes_parse(node **docs, arena *a, const dctx *d, const char *data, size_t len,
                     bool fast) {
  if (!fast)
    return parse_events(docs, a, d, data, len, NULL, 0);
  /* One cut per "encryptedValue: |" line at most. */
  static const char key[] = "encryptedValue: |\n";
  size_t max_cuts = 0;
  for (const char *p = data, *end = data + len; p < end; p++) {
    p = memchr(p, 'V', (size_t)(end - p));
    if (p == NULL)
      break;
    if (p - data >= 9 && (size_t)(end - p) >= sizeof(key) - 10 &&
        memcmp(p - 9, key, sizeof(key) - 1) == 0) /* checksrc: public: YAML keys */
      max_cuts++;
  }
  if (max_cuts == 0)
    return parse_events(docs, a, d, data, len, NULL, 0);
  if (max_cuts > CUTS_MAX)
    max_cuts = CUTS_MAX;
  literal_cut *cuts = arena_alloc(a, max_cuts * sizeof(*cuts));
  size_t n_cuts = 0;
  char *cut = NULL;
  size_t cut_len = 0;
  if (cuts == NULL || cut_literals(a, data, len, &cut, &cut_len, cuts, max_cuts, &n_cuts) < 0)
    return dfail(d, 0, "out of memory");
  if (n_cuts > 0) {
    /* Any failure on the cut text is reported from the untouched text. */
    os_error scratch = OS_ERROR_INIT;
    dctx quiet = *d;
    quiet.err = &scratch;
    if (parse_events(docs, a, &quiet, cut, cut_len, cuts, n_cuts) == 0)
      return 0;
  }
  return parse_events(docs, a, d, data, len, NULL, 0);
}
